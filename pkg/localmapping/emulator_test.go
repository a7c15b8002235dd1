package localmapping

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// kinesisEndpoint is the kinesalite every test of the package shares; each
// test makes its own streams.
var kinesisEndpoint string

func TestMain(m *testing.M) {
	emu, err := localaws.Start(context.Background(), 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localmapping tests need the emulators:", err)
		os.Exit(1)
	}
	kinesisEndpoint = emu.Kinesis[0]
	code := m.Run()
	emu.Close()
	os.Exit(code)
}

func newStream(t *testing.T, name string, shards int32) *kinesis.Client {
	t.Helper()
	client := localaws.KinesisClient("us-east-1", kinesisEndpoint)
	if err := localaws.CreateStream(context.Background(), client, name, shards); err != nil {
		t.Fatal(err)
	}
	return client
}

type putRecord struct {
	sequence string
	data     string
}

// putRecords writes n records over keys partition keys one at a time, so
// each shard's order is the order written, and returns them by shard.
func putRecords(t *testing.T, client *kinesis.Client, stream string, n, keys int) map[string][]putRecord {
	t.Helper()
	put := map[string][]putRecord{}
	for i := range n {
		data := fmt.Sprintf(`{"key":"k%d","seq":%d}`, i%keys, i)
		out, err := client.PutRecord(context.Background(), &kinesis.PutRecordInput{
			StreamName:   aws.String(stream),
			PartitionKey: aws.String(fmt.Sprintf("k%d", i%keys)),
			Data:         []byte(data),
		})
		if err != nil {
			t.Fatal(err)
		}
		shard := aws.ToString(out.ShardId)
		put[shard] = append(put[shard], putRecord{sequence: aws.ToString(out.SequenceNumber), data: data})
	}
	return put
}

func countRecords(put map[string][]putRecord) int {
	n := 0
	for _, records := range put {
		n += len(records)
	}
	return n
}

func onlyShard(put map[string][]putRecord) []putRecord {
	for _, records := range put {
		return records
	}
	return nil
}

// runMapping runs m until the returned stop is called; stop returns once
// Run has returned and fails the test if Run failed.
func runMapping(t *testing.T, m *Mapping) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// testLogger sends a mapping's logs to the test's output, shown only for
// failed tests or with -v.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// waitFor polls cond until it holds; the limit only guards against a hang.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	limit := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(limit) {
			t.Fatal("condition not reached after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
