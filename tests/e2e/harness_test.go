package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

// payload is the record body every test record carries; id is unique per
// produced record, so copies are counted by id.
type payload struct {
	ID              string `json:"id"`
	Key             string `json:"key"`
	CommitTimestamp string `json:"CommitTimestamp"`
	Seq             int    `json:"seq"`
}

// produced is what a producer knows of a record it put.
type produced struct {
	payload
	shardID string
	commit  time.Time
}

// region is one simulated Region: its Kinesis, and the replicator that the
// event source mapping of its stream would invoke.
type region struct {
	name    string
	kinesis *kinesis.Client
	// replicate is the replicator Lambda, invoked with the event JSON as
	// Lambda sends it.
	replicate lambda.Handler
	// iterators is the mapping's position per shard.
	iterators map[string]string
}

func newRegion(t *testing.T, name string, client *kinesis.Client, settings map[string]string, c replicator.Clients) *region {
	t.Helper()
	s, err := replicator.SettingsFromEnv(func(k string) string { return settings[k] })
	if err != nil {
		t.Fatalf("replicator settings of %s: %v", name, err)
	}
	h := replicator.NewHandler(s, c,
		replicator.WithOutput(io.Discard),
		replicator.WithLogger(slog.New(slog.DiscardHandler)))
	return &region{name: name, kinesis: client, replicate: lambda.NewHandler(h.Handle), iterators: map[string]string{}}
}

// produce puts n records with ids prefix-0… into stream, 500 per request,
// keys k0…k49, each with a commit timestamp taken just before its request.
func (r *region) produce(ctx context.Context, t *testing.T, stream, prefix string, n int) []produced {
	t.Helper()
	var out []produced
	for start := 0; start < n; start += 500 {
		end := min(start+500, n)
		commit := time.Now().UTC()
		batch := make([]produced, 0, end-start)
		entries := make([]kinesistypes.PutRecordsRequestEntry, 0, end-start)
		for i := start; i < end; i++ {
			p := payload{ID: fmt.Sprintf("%s-%d", prefix, i), Key: fmt.Sprintf("k%d", i%50), CommitTimestamp: commit.Format(time.RFC3339Nano), Seq: i}
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, produced{payload: p, commit: commit})
			entries = append(entries, kinesistypes.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(p.Key)})
		}
		resp, err := r.kinesis.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			t.Fatalf("produce %s in %s: %v", prefix, r.name, err)
		}
		if n := aws.ToInt32(resp.FailedRecordCount); n != 0 {
			t.Fatalf("produce %s in %s: %d records failed", prefix, r.name, n)
		}
		for i, res := range resp.Records {
			batch[i].shardID = aws.ToString(res.ShardId)
		}
		out = append(out, batch...)
	}
	return out
}

// pump runs one round of the region's mapping: one GetRecords per shard and,
// for a non-empty batch, one replicator invocation, honouring the batch item
// failure like Lambda (the shard resumes at the reported record). It returns
// how many records it handed to the replicator.
func (r *region) pump(ctx context.Context, t *testing.T, stream string) int {
	t.Helper()
	shards, err := r.kinesis.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatalf("list shards of %s in %s: %v", stream, r.name, err)
	}
	arn := fmt.Sprintf("arn:aws:kinesis:%s:000000000000:stream/%s", r.name, stream)
	var delivered int
	for _, shard := range shards.Shards {
		id := aws.ToString(shard.ShardId)
		iter, ok := r.iterators[id]
		if !ok {
			iter = r.iterator(ctx, t, stream, id, kinesistypes.ShardIteratorTypeTrimHorizon, "")
		}
		got, err := r.kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iter), Limit: aws.Int32(250)})
		if err != nil {
			t.Fatalf("get records of %s %s in %s: %v", stream, id, r.name, err)
		}
		if len(got.Records) == 0 {
			r.iterators[id] = aws.ToString(got.NextShardIterator)
			continue
		}
		delivered += len(got.Records)
		ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(got.Records))}
		for i, rec := range got.Records {
			ev.Records[i] = events.KinesisEventRecord{
				AwsRegion:         r.name,
				EventID:           id + ":" + aws.ToString(rec.SequenceNumber),
				EventName:         "aws:kinesis:record",
				EventSource:       "aws:kinesis",
				EventSourceArn:    arn,
				EventVersion:      "1.0",
				InvokeIdentityArn: "arn:aws:iam::000000000000:role/replicator",
				Kinesis: events.KinesisRecord{
					ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: aws.ToTime(rec.ApproximateArrivalTimestamp)},
					Data:                        rec.Data,
					PartitionKey:                aws.ToString(rec.PartitionKey),
					SequenceNumber:              aws.ToString(rec.SequenceNumber),
					KinesisSchemaVersion:        "1.0",
				},
			}
		}
		body, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.replicate.Invoke(ctx, body)
		if err != nil {
			// The whole batch is retried from its first record.
			t.Logf("replicator in %s failed a batch of %s %s (retried): %v", r.name, stream, id, err)
			r.iterators[id] = r.iterator(ctx, t, stream, id, kinesistypes.ShardIteratorTypeAtSequenceNumber, ev.Records[0].Kinesis.SequenceNumber)
			continue
		}
		var resp events.KinesisEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("replicator response %s: %v", out, err)
		}
		if len(resp.BatchItemFailures) > 0 {
			first := slices.MinFunc(resp.BatchItemFailures, func(a, b events.KinesisBatchItemFailure) int {
				return compareSeq(a.ItemIdentifier, b.ItemIdentifier)
			})
			r.iterators[id] = r.iterator(ctx, t, stream, id, kinesistypes.ShardIteratorTypeAtSequenceNumber, first.ItemIdentifier)
			continue
		}
		r.iterators[id] = aws.ToString(got.NextShardIterator)
	}
	return delivered
}

func (r *region) iterator(ctx context.Context, t *testing.T, stream, shard string, typ kinesistypes.ShardIteratorType, seq string) string {
	t.Helper()
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: typ}
	if seq != "" {
		in.StartingSequenceNumber = aws.String(seq)
	}
	out, err := r.kinesis.GetShardIterator(ctx, in)
	if err != nil {
		t.Fatalf("shard iterator of %s %s in %s: %v", stream, shard, r.name, err)
	}
	return aws.ToString(out.ShardIterator)
}

// stored is one record as read back from a stream.
type stored struct {
	payload
	shardID string
	seq     string
	arrival time.Time
}

// readAll reads every record of stream in the region, per shard in order.
func (r *region) readAll(ctx context.Context, t *testing.T, stream string) map[string][]stored {
	t.Helper()
	shards, err := r.kinesis.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	all := map[string][]stored{}
	for _, shard := range shards.Shards {
		id := aws.ToString(shard.ShardId)
		iter := r.iterator(ctx, t, stream, id, kinesistypes.ShardIteratorTypeTrimHorizon, "")
		for {
			got, err := r.kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iter), Limit: aws.Int32(1000)})
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range got.Records {
				var p payload
				if err := json.Unmarshal(rec.Data, &p); err != nil {
					t.Fatalf("record %s of %s in %s is not a test payload: %v", aws.ToString(rec.SequenceNumber), id, r.name, err)
				}
				all[id] = append(all[id], stored{payload: p, shardID: id, seq: aws.ToString(rec.SequenceNumber), arrival: aws.ToTime(rec.ApproximateArrivalTimestamp)})
			}
			if len(got.Records) == 0 {
				break
			}
			iter = aws.ToString(got.NextShardIterator)
		}
	}
	return all
}

// copies counts the records of a stream by id.
func copies(all map[string][]stored) map[string]int {
	n := map[string]int{}
	for _, recs := range all {
		for _, r := range recs {
			n[r.ID]++
		}
	}
	return n
}

// compareSeq compares Kinesis sequence numbers (decimal strings) numerically.
func compareSeq(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// waitPast waits until the wall clock is past t plus a margin, so that a
// record put afterwards arrives strictly after t on any clock reading.
func waitPast(ctx context.Context, t time.Time) error {
	d := time.Until(t.Add(50 * time.Millisecond))
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
