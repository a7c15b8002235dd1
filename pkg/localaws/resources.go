package localaws

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// CreateStream creates a provisioned stream with shards shards and waits
// until it is ACTIVE.
func CreateStream(ctx context.Context, client *kinesis.Client, name string, shards int32) error {
	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(shards),
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	waiter := kinesis.NewStreamExistsWaiter(client, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 200 * time.Millisecond
	})
	if err := waiter.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
		return fmt.Errorf("wait for stream %s: %w", name, err)
	}
	return nil
}

// CreateTables creates the checkpoint and active-Region config tables with
// the key schemas of docs/reference.md (Tables) (the CDK app creates the real global tables).
func CreateTables(ctx context.Context, client *dynamodb.Client, checkpointTable, configTable string) error {
	tables := []*dynamodb.CreateTableInput{
		{
			TableName: aws.String(checkpointTable),
			AttributeDefinitions: []ddbtypes.AttributeDefinition{
				{AttributeName: aws.String("streamName"), AttributeType: ddbtypes.ScalarAttributeTypeS},
				{AttributeName: aws.String("shardId"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			},
			KeySchema: []ddbtypes.KeySchemaElement{
				{AttributeName: aws.String("streamName"), KeyType: ddbtypes.KeyTypeHash},
				{AttributeName: aws.String("shardId"), KeyType: ddbtypes.KeyTypeRange},
			},
			BillingMode: ddbtypes.BillingModePayPerRequest,
		},
		{
			TableName: aws.String(configTable),
			AttributeDefinitions: []ddbtypes.AttributeDefinition{
				{AttributeName: aws.String("streamName"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			},
			KeySchema: []ddbtypes.KeySchemaElement{
				{AttributeName: aws.String("streamName"), KeyType: ddbtypes.KeyTypeHash},
			},
			BillingMode: ddbtypes.BillingModePayPerRequest,
		},
	}
	for _, in := range tables {
		if _, err := client.CreateTable(ctx, in); err != nil {
			return fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), err)
		}
		waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 50 * time.Millisecond
			o.MaxDelay = 200 * time.Millisecond
		})
		if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, 30*time.Second); err != nil {
			return fmt.Errorf("wait for table %s: %w", aws.ToString(in.TableName), err)
		}
	}
	return nil
}
