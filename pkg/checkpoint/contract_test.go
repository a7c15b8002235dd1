package checkpoint_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint/checkpointtest"
	"github.com/kinesis-crr/kinesis-crr/pkg/itemtime"
)

// The same contract the in-memory double passes, on dynalite: the suite is
// what keeps the double honest.
func TestStoreOnDynaliteKeepsTheContract(t *testing.T) {
	checkpointtest.RunStoreContract(t, func(t *testing.T) checkpointtest.Backend {
		client, table := checkpoint.NewCheckpointTable(t)
		s := checkpoint.NewStore(client, table)
		return checkpointtest.Backend{
			Store:       s,
			Trails:      s,
			OtherTrails: checkpoint.NewStore(client, table),
			PutMalformed: func(t *testing.T, stream, region, shard string) {
				t.Helper()
				cp := checkpointtest.Fixture()
				cp.StreamName, cp.SourceRegion, cp.ShardID = stream, region, shard
				item, err := attributevalue.MarshalMapWithOptions(cp, itemtime.Encode)
				if err != nil {
					t.Fatal(err)
				}
				item["shardId"] = &ddbtypes.AttributeValueMemberS{Value: checkpoint.Key(region, shard)}
				delete(item, "lastSequenceNumber")
				if _, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
