package localworld

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestWriteReachesOtherRegionOnlyAfterTheDelay(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	const delay = 400 * time.Millisecond
	w.SetGlobalTableDelay(delay)

	start := time.Now()
	put(t, w, east1, config, configItem("s", "v1"))
	if got := read(t, w.DynamoDBClient(east1, east1), config, configKey("s")); got["value"] != "v1" {
		t.Fatalf("got %v in us-east-1 right after its write, want value v1", got)
	}
	if got := read(t, w.DynamoDBClient(east2, east2), config, configKey("s")); got != nil {
		t.Fatalf("got %v in us-east-2 right after the write, want nothing before the delay", got)
	}
	var seen time.Duration
	eventually(t, "replicated to us-east-2", func() bool {
		seen = time.Since(start)
		return read(t, w.DynamoDBClient(east2, east2), config, configKey("s"))["value"] == "v1"
	})
	if seen < delay {
		t.Fatalf("got the write in us-east-2 %v after it began, want no earlier than the %v delay", seen, delay)
	}
}

func TestLastWriterWinsInBothReplicas(t *testing.T) {
	for _, tc := range []struct{ first, second string }{
		{east1, east2},
		{east2, east1},
	} {
		t.Run("later in "+tc.second, func(t *testing.T) {
			w := world(t)
			_, config := tables(t, w)
			// Long enough that neither write reaches the other Region before
			// both are made: a real conflict.
			w.SetGlobalTableDelay(300 * time.Millisecond)
			put(t, w, tc.first, config, configItem("s", "from "+tc.first))
			put(t, w, tc.second, config, configItem("s", "from "+tc.second))
			settle(t, w)
			for _, region := range w.Regions() {
				if got := read(t, direct(w, region), config, configKey("s")); got["value"] != "from "+tc.second {
					t.Errorf("%s: got %v, want the later write, from %s", region, got, tc.second)
				}
			}
		})
	}
}

func TestConditionalWritesBothWinFromTheSameStateThenConverge(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	w.SetGlobalTableDelay(300 * time.Millisecond)
	for _, region := range w.Regions() {
		_, err := w.DynamoDBClient(region, region).PutItem(context.Background(), &dynamodb.PutItemInput{
			TableName:           aws.String(config),
			Item:                configItem("s", "claimed by "+region),
			ConditionExpression: aws.String("attribute_not_exists(streamName)"),
		})
		if err != nil {
			t.Fatalf("conditional put in %s: got %v, want success: each replica sees no item yet", region, err)
		}
	}
	settle(t, w)
	want := "claimed by " + w.Regions()[1]
	for _, region := range w.Regions() {
		if got := read(t, direct(w, region), config, configKey("s")); got["value"] != want {
			t.Errorf("%s: got %v, want %q, the later write", region, got, want)
		}
	}

	// Once settled, the condition holds the item in both Regions.
	var failed *ddbtypes.ConditionalCheckFailedException
	_, err := w.DynamoDBClient(east1, east1).PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName:           aws.String(config),
		Item:                configItem("s", "late"),
		ConditionExpression: aws.String("attribute_not_exists(streamName)"),
	})
	if !errors.As(err, &failed) {
		t.Fatalf("got %v after settling, want ConditionalCheckFailedException", err)
	}
	settle(t, w)
	for _, region := range w.Regions() {
		if got := read(t, direct(w, region), config, configKey("s")); got["value"] != want {
			t.Errorf("%s after a failed condition: got %v, want %q still: a failed write does not replicate", region, got, want)
		}
	}
}

func TestUpdatesDeletesAndBatchesReplicateTheResultingItem(t *testing.T) {
	ctx := context.Background()
	checkpointKey := func(shard string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"streamName": str("s"), "shardId": str(shard)}
	}
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, c *dynamodb.Client, table string)
		want  map[string]map[string]any // by shardId; nil: absent
	}{
		{
			name: "UpdateItem replicates the whole item it leaves",
			write: func(t *testing.T, c *dynamodb.Client, table string) {
				_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName:                 aws.String(table),
					Key:                       checkpointKey("shard-1"),
					UpdateExpression:          aws.String("SET seq = :s REMOVE note"),
					ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":s": str("200")},
				})
				if err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]map[string]any{
				"shard-1": {"streamName": "s", "shardId": "shard-1", "seq": "200", "kept": "yes"},
				"shard-2": {"streamName": "s", "shardId": "shard-2", "seq": "100", "note": "old", "kept": "yes"},
			},
		},
		{
			name: "DeleteItem replicates the deletion",
			write: func(t *testing.T, c *dynamodb.Client, table string) {
				if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: checkpointKey("shard-1")}); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]map[string]any{
				"shard-1": nil,
				"shard-2": {"streamName": "s", "shardId": "shard-2", "seq": "100", "note": "old", "kept": "yes"},
			},
		},
		{
			name: "BatchWriteItem replicates each put and delete",
			write: func(t *testing.T, c *dynamodb.Client, table string) {
				_, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{
					table: {
						{DeleteRequest: &ddbtypes.DeleteRequest{Key: checkpointKey("shard-1")}},
						{PutRequest: &ddbtypes.PutRequest{Item: map[string]ddbtypes.AttributeValue{
							"streamName": str("s"), "shardId": str("shard-2"), "seq": str("300"),
						}}},
					},
				}})
				if err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]map[string]any{
				"shard-1": nil,
				"shard-2": {"streamName": "s", "shardId": "shard-2", "seq": "300"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := world(t)
			checkpoint, _ := tables(t, w)
			for _, shard := range []string{"shard-1", "shard-2"} {
				put(t, w, east1, checkpoint, map[string]ddbtypes.AttributeValue{
					"streamName": str("s"), "shardId": str(shard), "seq": str("100"), "note": str("old"), "kept": str("yes"),
				})
			}
			settle(t, w)
			tc.write(t, w.DynamoDBClient(east2, east2), checkpoint)
			settle(t, w)
			for _, region := range w.Regions() {
				for shard, want := range tc.want {
					if got := read(t, direct(w, region), checkpoint, checkpointKey(shard)); !reflect.DeepEqual(got, want) {
						t.Errorf("%s %s: got %v, want %v", region, shard, got, want)
					}
				}
			}
		})
	}
}

func TestPausedReplicationQueuesWritesUntilResume(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	w.PauseReplication(east1, east2)
	put(t, w, east1, config, configItem("s", "while paused"))
	put(t, w, east2, config, configItem("other way", "flows"))
	eventually(t, "replicated us-east-2 to us-east-1 (not paused)", func() bool {
		return read(t, direct(w, east1), config, configKey("other way")) != nil
	})
	// Six times the delay: long past when an unpaused link would deliver.
	time.Sleep(300 * time.Millisecond)
	if got := read(t, direct(w, east2), config, configKey("s")); got != nil {
		t.Fatalf("got %v in us-east-2 while paused, want nothing", got)
	}
	w.ResumeReplication(east1, east2)
	settle(t, w)
	if got := read(t, direct(w, east2), config, configKey("s")); got["value"] != "while paused" {
		t.Fatalf("got %v in us-east-2 after resume, want the queued write", got)
	}
}

func TestReplicationKeepsWriteOrderAcrossPauseAndDelayChange(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	w.PauseReplication(east1, east2)
	// The first write is due well after the second: delivering by due time
	// instead of write order would show the second alone.
	w.SetGlobalTableDelay(500 * time.Millisecond)
	put(t, w, east1, config, configItem("first", "1"))
	w.SetGlobalTableDelay(0)
	put(t, w, east1, config, configItem("second", "2"))
	w.ResumeReplication(east1, east2)
	eventually(t, "replicated the second write", func() bool {
		if read(t, direct(w, east2), config, configKey("second")) == nil {
			return false
		}
		if read(t, direct(w, east2), config, configKey("first")) == nil {
			t.Fatal("got the second write in us-east-2 before the first, want write order")
		}
		return true
	})
}

func TestReplicationIntoAHungRegionWaitsForHeal(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	w.SetGlobalTableDelay(0)
	w.Hang(east2)
	put(t, w, east1, config, configItem("s", "v"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := w.WaitReplicated(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v while us-east-2 hangs, want the context's deadline", err)
	}
	if got := read(t, direct(w, east2), config, configKey("s")); got != nil {
		t.Fatalf("got %v in hung us-east-2, want nothing", got)
	}
	w.Heal(east2)
	settle(t, w)
	if got := read(t, direct(w, east2), config, configKey("s")); got["value"] != "v" {
		t.Fatalf("got %v in us-east-2 after heal, want value v", got)
	}
}

func TestReplicatedWriteIsNotReplicatedBack(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	queued := func(l *link) uint64 {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.enqueued
	}
	back := w.links[1] // us-east-2 to us-east-1
	before := queued(back)
	writesBefore := [2]int64{w.DynamoDBWrites(east1), w.DynamoDBWrites(east2)}
	put(t, w, east1, config, configItem("s", "v"))
	settle(t, w)
	if got := read(t, direct(w, east2), config, configKey("s")); got["value"] != "v" {
		t.Fatalf("got %v in us-east-2, want the replicated write", got)
	}
	if n := queued(back) - before; n != 0 {
		t.Fatalf("got %d writes queued from us-east-2 after one replicated into it, want none", n)
	}
	if got := [2]int64{w.DynamoDBWrites(east1) - writesBefore[0], w.DynamoDBWrites(east2) - writesBefore[1]}; got != [2]int64{1, 0} {
		t.Errorf("got item writes counted %v in (us-east-1, us-east-2), want [1 0]: the replicated copy is not a client's write", got)
	}
}

func TestTablesCreatedThroughOneRegionExistInBoth(t *testing.T) {
	w := world(t)
	ctx := context.Background()
	name := t.Name() + "-table"
	_, err := w.DynamoDBClient(east2, east2).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, region := range w.Regions() {
		if _, err := direct(w, region).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("%s: got %v, want the table", region, err)
		}
	}
	if _, err := w.DynamoDBClient(east1, east1).DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	var notFound *ddbtypes.ResourceNotFoundException
	for _, region := range w.Regions() {
		eventually(t, "deleted in "+region, func() bool {
			_, err := direct(w, region).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
			return errors.As(err, &notFound)
		})
	}
}

func TestTransactionsAreRefusedWithAClearMessage(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	ctx := context.Background()
	c := w.DynamoDBClient(east1, east1)
	for name, call := range map[string]func() error{
		"TransactWriteItems": func() error {
			_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
				{Put: &ddbtypes.Put{TableName: aws.String(config), Item: configItem("s", "v")}},
			}})
			return err
		},
		"TransactGetItems": func() error {
			_, err := c.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []ddbtypes.TransactGetItem{
				{Get: &ddbtypes.Get{TableName: aws.String(config), Key: configKey("s")}},
			}})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			var api interface {
				ErrorCode() string
				ErrorMessage() string
			}
			if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" || !strings.Contains(api.ErrorMessage(), "does not model DynamoDB transactions") {
				t.Fatalf("got %v, want a ValidationException saying transactions are not modelled", err)
			}
		})
	}
	if got := read(t, direct(w, east1), config, configKey("s")); got != nil {
		t.Fatalf("got %v after a refused transaction, want nothing written", got)
	}
}

func TestConcurrentConflictingWritesConvergeInBothReplicas(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	w.SetGlobalTableDelay(20 * time.Millisecond)
	keys := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	for g := range 8 {
		region := w.Regions()[g%2]
		wg.Go(func() {
			c := w.DynamoDBClient(region, region)
			for i := range 15 {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if i%5 == 4 {
					// Some callers give up at once: their writes happen or
					// not, and the replicas must agree either way.
					ctx, cancel = context.WithTimeout(ctx, time.Millisecond)
				}
				_, _ = c.PutItem(ctx, &dynamodb.PutItemInput{
					TableName: aws.String(config),
					Item:      configItem(keys[i%len(keys)], fmt.Sprintf("%s writer %d #%d", region, g, i)),
				})
				cancel()
			}
		})
	}
	wg.Wait()
	settle(t, w)
	for _, k := range keys {
		a := read(t, direct(w, east1), config, configKey(k))
		b := read(t, direct(w, east2), config, configKey(k))
		if a == nil || !reflect.DeepEqual(a, b) {
			t.Errorf("key %s: got %v in us-east-1 and %v in us-east-2, want one item in both", k, a, b)
		}
	}
}
