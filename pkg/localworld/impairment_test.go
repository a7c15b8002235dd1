package localworld

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// call is one cheap request to a service of region, as a caller in from
// makes it.
type call func(ctx context.Context, w *World, region, from string) error

var calls = map[string]call{
	Kinesis: func(ctx context.Context, w *World, region, from string) error {
		_, err := w.KinesisClient(region, from).ListStreams(ctx, &kinesis.ListStreamsInput{})
		return err
	},
	DynamoDB: func(ctx context.Context, w *World, region, from string) error {
		_, err := w.DynamoDBClient(region, from).ListTables(ctx, &dynamodb.ListTablesInput{})
		return err
	},
}

func TestHungRegionTimesOutEveryEndpointUntilHeal(t *testing.T) {
	for _, service := range []string{Kinesis, DynamoDB} {
		for _, from := range []string{east2, east1} {
			t.Run(service+" from "+from, func(t *testing.T) {
				w := world(t)
				w.Hang(east2)
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				if err := calls[service](ctx, w, east2, from); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %v while us-east-2 hangs, want a timeout", err)
				}
				if err := calls[service](context.Background(), w, east1, from); err != nil {
					t.Fatalf("us-east-1 while us-east-2 hangs: got %v, want an answer", err)
				}
				w.Heal(east2)
				if err := calls[service](context.Background(), w, east2, from); err != nil {
					t.Fatalf("got %v after heal, want an answer", err)
				}
			})
		}
	}
}

func TestHealForwardsARequestStillWaiting(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	w.Hang(east1)
	done := make(chan error, 1)
	go func() {
		_, err := w.DynamoDBClient(east1, east1).PutItem(context.Background(), &dynamodb.PutItemInput{
			TableName: aws.String(config), Item: configItem("s", "held"),
		})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("got an answer (%v) while hung, want none", err)
	case <-time.After(200 * time.Millisecond):
	}
	w.Heal(east1)
	if err := <-done; err != nil {
		t.Fatalf("got %v after heal, want the held write to succeed", err)
	}
	settle(t, w)
	for _, region := range w.Regions() {
		if got := read(t, direct(w, region), config, configKey("s")); got["value"] != "held" {
			t.Errorf("%s: got %v, want the held write", region, got)
		}
	}
}

func TestWriteAbandonedWhileHungIsNeverApplied(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	w.Hang(east1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := w.DynamoDBClient(east1, east1).PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(config), Item: configItem("s", "abandoned"),
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v while hung, want a timeout", err)
	}
	// Let the proxy notice the closed connection, then heal: a dropped
	// request must stay dropped.
	time.Sleep(100 * time.Millisecond)
	w.Heal(east1)
	put(t, w, east1, config, configItem("marker", "after heal"))
	settle(t, w)
	for _, region := range w.Regions() {
		if got := read(t, direct(w, region), config, configKey("s")); got != nil {
			t.Errorf("%s: got %v, want the abandoned write never applied", region, got)
		}
	}
}

func TestCrossRegionLatencyOnlyForCallersInTheOtherRegion(t *testing.T) {
	w := world(t)
	for _, service := range []string{Kinesis, DynamoDB} {
		t.Run(service, func(t *testing.T) {
			const latency = 150 * time.Millisecond
			w.SetCrossRegionLatency(latency)
			start := time.Now()
			if err := calls[service](context.Background(), w, east2, east1); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took < latency {
				t.Fatalf("got a cross-Region call in %v, want at least the %v latency", took, latency)
			}

			// The own-Region endpoint adds nothing: with a latency far
			// beyond a generous timeout, only the cross-Region call misses it.
			w.SetCrossRegionLatency(time.Minute)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := calls[service](ctx, w, east2, east2); err != nil {
				t.Fatalf("own-Region call: got %v, want no added latency", err)
			}
			if err := calls[service](ctx, w, east2, east1); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cross-Region call with a minute's latency: got %v, want a timeout", err)
			}
		})
	}
}

func TestKinesisRegionsAreSeparateStreams(t *testing.T) {
	w := world(t)
	ctx := context.Background()
	stream := localaws.UniqueName(t.Name())
	if err := w.CreateStream(ctx, stream, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.KinesisClient(east1, east1).PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte("only in us-east-1"),
	}); err != nil {
		t.Fatal(err)
	}
	count := func(region, from string) int {
		c := w.KinesisClient(region, from)
		shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
		if err != nil {
			t.Fatal(err)
		}
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: shards.Shards[0].ShardId, ShardIteratorType: "TRIM_HORIZON",
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Records)
	}
	if got := count(east1, east2); got != 1 {
		t.Errorf("us-east-1 read from us-east-2: got %d records, want 1", got)
	}
	if got := count(east2, east2); got != 0 {
		t.Errorf("us-east-2: got %d records, want 0: Kinesis does not replicate", got)
	}
}

// TestCloseStopsEverything starts a world of its own: it is closed here.
func TestCloseStopsEverything(t *testing.T) {
	ctx := context.Background()
	w, err := Start(ctx, Options{GlobalTableDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.CreateTables(ctx, "checkpoint", "config"); err != nil {
		t.Fatal(err)
	}
	// A write queued for an hour, and a request held by a hung Region.
	put(t, w, east1, "config", configItem("s", "v"))
	w.Hang(east2)
	held := make(chan error, 1)
	go func() { held <- calls[DynamoDB](ctx, w, east2, east1) }()
	time.Sleep(100 * time.Millisecond)

	closed := make(chan struct{})
	go func() {
		w.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close still running after 20s, want it to stop held requests and queued replication")
	}
	if err := <-held; err == nil {
		t.Fatal("got an answer to the held request, want an error once closed")
	}
	w.Close() // idempotent

	urls := []string{}
	for _, r := range w.Endpoints() {
		urls = append(urls, r.Kinesis, r.DynamoDB)
		for _, f := range r.From {
			urls = append(urls, f.Kinesis, f.DynamoDB)
		}
	}
	urls = append(urls, w.emu.Kinesis...)
	urls = append(urls, w.emu.DynamoDBs...)
	client := &http.Client{Timeout: 2 * time.Second}
	for _, u := range urls {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Close", u)
		}
	}
	if err := w.WaitReplicated(ctx); err == nil {
		t.Error("WaitReplicated on a closed world with a queued write: got nil, want an error")
	}

	id, _ := pprof.Label(w.labels, "localworld")
	label := `"localworld":"` + id + `"`
	eventually(t, "rid of the world's goroutines", func() bool {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		return !strings.Contains(buf.String(), label)
	})
}
