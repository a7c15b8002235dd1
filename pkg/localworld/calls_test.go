package localworld

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestCallsNameTheCallerTheRegionsTheOperationAndItsResource makes each kind
// of request an IAM audit must attribute (by stream name and by ARN, a
// GetRecords that names only its iterator, batches over two tables, an
// operation on no resource, a caller without an application id) and checks
// the calls the world noted, one by one.
func TestCallsNameTheCallerTheRegionsTheOperationAndItsResource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := Start(ctx, Options{GlobalTableDelay: NoDelay, RecordCalls: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.CreateStream(ctx, "orders", 1); err != nil {
		t.Fatal(err)
	}
	if err := w.CreateTables(ctx, "checkpoints", "configs"); err != nil {
		t.Fatal(err)
	}

	// The writer runs in us-east-1 and writes us-east-2's stream.
	writer := w.KinesisClient(east2, east1, func(o *kinesis.Options) { o.AppID = "writer" })
	if _, err := writer.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("orders"),
		Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("v")}}}); err != nil {
		t.Fatal(err)
	}
	// Kinesalite refuses a StreamARN, but the request is noted on arrival
	// all the same: the caller needed the permission to make it.
	if _, err := writer.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-2:123456789012:stream/orders")}); err == nil {
		t.Log("kinesalite now takes a StreamARN")
	}
	reader := w.KinesisClient(east2, east2, func(o *kinesis.Options) { o.AppID = "reader" })
	for _, at := range []types.ShardIteratorType{types.ShardIteratorTypeTrimHorizon, types.ShardIteratorTypeAtTimestamp} {
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: at}
		if at == types.ShardIteratorTypeAtTimestamp {
			in.Timestamp = aws.Time(time.Now().Add(-time.Hour))
		}
		it, err := reader.GetShardIterator(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		// The second read presents the first one's next iterator.
		iter := it.ShardIterator
		for range 2 {
			out, err := reader.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			iter = out.NextShardIterator
		}
	}

	store := w.DynamoDBClient(east1, east1, func(o *dynamodb.Options) { o.AppID = "store" })
	if _, err := store.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("configs"), Key: configKey("orders")}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{
		"configs":     {{PutRequest: &ddbtypes.PutRequest{Item: configItem("orders", "a")}}},
		"checkpoints": {{PutRequest: &ddbtypes.PutRequest{Item: map[string]ddbtypes.AttributeValue{"streamName": str("orders"), "shardId": str("s")}}}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.DynamoDBClient(east2, east2).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("configs"), Key: configKey("orders")}); err != nil {
		t.Fatal(err)
	}

	want := []Call{
		{Caller: "", From: east2, Region: east2, Service: DynamoDB, Operation: "GetItem", Resource: "configs", Count: 1},
		{Caller: "reader", From: east2, Region: east2, Service: Kinesis, Operation: "GetRecords", Resource: "orders", Count: 4},
		{Caller: "reader", From: east2, Region: east2, Service: Kinesis, Operation: "GetShardIterator", Resource: "orders", Count: 2},
		{Caller: "store", From: east1, Region: east1, Service: DynamoDB, Operation: "BatchWriteItem", Resource: "checkpoints", Count: 1},
		{Caller: "store", From: east1, Region: east1, Service: DynamoDB, Operation: "BatchWriteItem", Resource: "configs", Count: 1},
		{Caller: "store", From: east1, Region: east1, Service: DynamoDB, Operation: "GetItem", Resource: "configs", Count: 1},
		{Caller: "store", From: east1, Region: east1, Service: DynamoDB, Operation: "ListTables", Resource: "", Count: 1},
		{Caller: "writer", From: east1, Region: east2, Service: Kinesis, Operation: "DescribeStreamSummary", Resource: "orders", Count: 1},
		{Caller: "writer", From: east1, Region: east2, Service: Kinesis, Operation: "PutRecords", Resource: "orders", Count: 1},
	}
	if got := w.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("got calls\n%+v,\nwant\n%+v", got, want)
	}
}

func TestCallsAreNilUnlessRecorded(t *testing.T) {
	w := world(t)
	if _, err := w.DynamoDBClient(east1, east1).ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if got := w.Calls(); got != nil {
		t.Errorf("got %+v, want nil without Options.RecordCalls", got)
	}
}

func TestAppIDIsTheUserAgentsAppField(t *testing.T) {
	tests := []struct {
		userAgent, want string
	}{
		{"aws-sdk-go-v2/1.48.0 ua/2.1 os/linux lang/go#1.26 api/kinesis#1.56.13 app/kds-crr-replicator m/E,g", "kds-crr-replicator"},
		{"aws-sdk-go-v2/1.48.0 ua/2.1 os/linux lang/go#1.26 api/kinesis#1.56.13 m/E,g", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := appID(tt.userAgent); got != tt.want {
			t.Errorf("appID(%q): got %q, want %q", tt.userAgent, got, tt.want)
		}
	}
}
