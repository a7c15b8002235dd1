package localaws

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

func TestStartServesTwoKinesisRegionsAndDynamoDB(t *testing.T) {
	ctx := context.Background()
	emu, err := Start(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	if len(emu.Kinesis) != 2 || emu.Kinesis[0] == emu.Kinesis[1] {
		t.Fatalf("got kinesis endpoints %v, want two distinct", emu.Kinesis)
	}

	east1 := KinesisClient("us-east-1", emu.Kinesis[0])
	east2 := KinesisClient("us-east-2", emu.Kinesis[1])
	if err := CreateStream(ctx, east1, "only-in-east-1", 2); err != nil {
		t.Fatal(err)
	}
	out, err := east2.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamNames) != 0 {
		t.Fatalf("got streams %v in the second Region, want none: the Regions must be separate", out.StreamNames)
	}

	ddb := DynamoDBClient("us-east-1", emu.DynamoDB)
	if err := CreateTables(ctx, ddb, "kdsReplicationCheckpoint", "kdsActiveRegionConfig"); err != nil {
		t.Fatal(err)
	}
	tables, err := ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tables.TableNames); got != 2 {
		t.Fatalf("got %d tables, want 2", got)
	}

	emu.Close()
	if _, err := east1.ListStreams(ctx, &kinesis.ListStreamsInput{}, func(o *kinesis.Options) {
		o.RetryMaxAttempts = 1
		o.BaseEndpoint = aws.String(emu.Kinesis[0])
	}); err == nil {
		t.Fatal("emulator still answers after Close")
	}
}

func TestUniqueNameIsValidBoundedAndUnique(t *testing.T) {
	long := strings.Repeat("TestSomething/with spaces and ünïcode", 10)
	a, b := UniqueName(long), UniqueName(long)
	if a == b {
		t.Fatalf("got %q twice, want unique names", a)
	}
	for _, name := range []string{a, b} {
		if len(name) > 120 || !regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`).MatchString(name) {
			t.Fatalf("got %q, want at most 120 characters of [a-zA-Z0-9_.-]", name)
		}
	}
}

func TestStartNServesSeparateDynamoDBReplicas(t *testing.T) {
	ctx := context.Background()
	emu, err := StartN(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	if len(emu.DynamoDBs) != 2 || emu.DynamoDBs[0] == emu.DynamoDBs[1] || emu.DynamoDB != emu.DynamoDBs[0] {
		t.Fatalf("got dynamodb %q and dynamodbs %v, want two distinct with the first as dynamodb", emu.DynamoDB, emu.DynamoDBs)
	}
	first := DynamoDBClient("us-east-1", emu.DynamoDBs[0])
	if err := CreateTables(ctx, first, "only-in-first.checkpoint", "only-in-first.config"); err != nil {
		t.Fatal(err)
	}
	tables, err := DynamoDBClient("us-east-2", emu.DynamoDBs[1]).ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables.TableNames) != 0 {
		t.Fatalf("got tables %v in the second emulator, want none: the replicas must be separate", tables.TableNames)
	}
}

func TestStartNRejectsBadDynamoDBCount(t *testing.T) {
	for _, n := range []int{0, 9} {
		if emu, err := StartN(context.Background(), 0, n); err == nil {
			emu.Close()
			t.Errorf("StartN(0, %d): got no error, want one", n)
		}
	}
}
