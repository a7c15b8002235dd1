package replicator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/metrics/metricstest"
)

var emu *localaws.Emulators

func TestMain(m *testing.M) {
	var err error
	emu, err = localaws.Start(context.Background(), 2)
	if err != nil {
		fmt.Fprintf(os.Stderr, "replicator integration tests need the local emulators: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	emu.Close()
	os.Exit(code)
}

// cdcRecord is the payload the integration tests produce.
type cdcRecord struct {
	ID              string `json:"id"`
	Key             string `json:"key"`
	Seq             int    `json:"seq"` // per key, from 0
	CommitTimestamp string `json:"CommitTimestamp"`
}

type regionPair struct {
	source, target *kinesis.Client
	ddb            DynamoDBAPI
	configs        *activeregion.Store
	checkpoints    *checkpoint.Store
}

func newRegionPair(t *testing.T, stream string) regionPair {
	t.Helper()
	ctx := context.Background()
	p := regionPair{
		source: localaws.KinesisClient(sourceRegion, emu.Kinesis[0]),
		target: localaws.KinesisClient(targetRegion, emu.Kinesis[1]),
	}
	ddb := localaws.DynamoDBClient(sourceRegion, emu.DynamoDB)
	p.ddb = ddb
	cpTable, cfgTable := "cp-"+stream, "cfg-"+stream
	for _, c := range []*kinesis.Client{p.source, p.target} {
		if err := localaws.CreateStream(ctx, c, stream, 4); err != nil {
			t.Fatal(err)
		}
	}
	if err := localaws.CreateTables(ctx, ddb, cpTable, cfgTable); err != nil {
		t.Fatal(err)
	}
	p.configs = activeregion.NewStore(ddb, cfgTable)
	p.checkpoints = checkpoint.NewStore(ddb, cpTable)
	return p
}

func (p regionPair) handler(stream string, emf io.Writer) *Handler {
	s := testSettings()
	s.CheckpointTable, s.ActiveRegionTable = "cp-"+stream, "cfg-"+stream
	return NewHandler(s, Clients{Target: p.target, DynamoDB: p.ddb, Fence: p.ddb},
		WithOutput(emf), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
}

// produce puts n records over keys keys and returns them by id.
func produce(t *testing.T, c *kinesis.Client, stream string, n, keys int, tag string) map[string]cdcRecord {
	t.Helper()
	sent := make(map[string]cdcRecord, n)
	perKey := make(map[string]int)
	var entries []kintypes.PutRecordsRequestEntry
	flush := func() {
		for len(entries) > 0 {
			out, err := c.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
			if err != nil {
				t.Fatal(err)
			}
			var retry []kintypes.PutRecordsRequestEntry
			for i, r := range out.Records {
				if r.ErrorCode != nil {
					retry = append(retry, entries[i])
				}
			}
			if len(retry) > 0 {
				t.Fatalf("producer: %d entries failed on the emulator", len(retry))
			}
			entries = nil
		}
	}
	for i := range n {
		key := fmt.Sprintf("k%03d", i%keys)
		r := cdcRecord{ID: fmt.Sprintf("%s-%05d", tag, i), Key: key, Seq: perKey[key], CommitTimestamp: time.Now().UTC().Format(time.RFC3339Nano)}
		perKey[key]++
		data, _ := json.Marshal(r)
		sent[r.ID] = r
		entries = append(entries, kintypes.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: data})
		if len(entries) == 500 {
			flush()
		}
	}
	flush()
	return sent
}

// readAll reads every record of every shard from the start.
func readAll(t *testing.T, c *kinesis.Client, stream string) map[string][]kintypes.Record {
	t.Helper()
	ctx := context.Background()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]kintypes.Record)
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			got, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				t.Fatal(err)
			}
			out[aws.ToString(sh.ShardId)] = append(out[aws.ToString(sh.ShardId)], got.Records...)
			if len(got.Records) == 0 {
				break
			}
			iter = got.NextShardIterator
		}
	}
	return out
}

// lambdaEvent shapes records as the event source mapping delivers them.
func lambdaEvent(stream, shard string, recs []kintypes.Record) events.KinesisEvent {
	arn := "arn:aws:kinesis:" + sourceRegion + ":000000000000:stream/" + stream
	var ev events.KinesisEvent
	for _, r := range recs {
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			AwsRegion: sourceRegion, EventSource: "aws:kinesis", EventSourceArn: arn, EventVersion: "1.0",
			EventName: "aws:kinesis:record", EventID: shard + ":" + aws.ToString(r.SequenceNumber),
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: aws.ToTime(r.ApproximateArrivalTimestamp)},
				Data:                        r.Data, PartitionKey: aws.ToString(r.PartitionKey),
				SequenceNumber: aws.ToString(r.SequenceNumber), KinesisSchemaVersion: "1.0",
			},
		})
	}
	return ev
}

// drive feeds each shard to the handler in batches of batchSize, retrying
// from the reported sequence number as Lambda does, and returns the EMF lines.
func drive(t *testing.T, h *Handler, stream string, shards map[string][]kintypes.Record, batchSize int) {
	t.Helper()
	for shard, recs := range shards {
		for pos, attempts := 0, 0; pos < len(recs); attempts++ {
			if attempts > 10*len(recs)/batchSize+10 {
				t.Fatalf("shard %s: no progress at record %d", shard, pos)
			}
			end := min(pos+batchSize, len(recs))
			resp, err := h.Handle(context.Background(), lambdaEvent(stream, shard, recs[pos:end]))
			if err != nil {
				t.Fatalf("shard %s batch at %d: %v", shard, pos, err)
			}
			if len(resp.BatchItemFailures) == 0 {
				pos = end
				continue
			}
			id := resp.BatchItemFailures[0].ItemIdentifier
			for i := pos; i < end; i++ {
				if aws.ToString(recs[i].SequenceNumber) == id {
					pos = i
					break
				}
			}
		}
	}
}

func decode(t *testing.T, data []byte) cdcRecord {
	t.Helper()
	var r cdcRecord
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("target record %q: %v", data, err)
	}
	return r
}

func TestReplicatesEveryRecordInKeyOrderOnTheEmulators(t *testing.T) {
	for _, batchSize := range []int{100, 1000} {
		t.Run(fmt.Sprintf("batch size %d", batchSize), func(t *testing.T) {
			ctx := context.Background()
			stream := fmt.Sprintf("orders-%d", batchSize)
			p := newRegionPair(t, stream)
			if _, err := p.configs.Create(ctx, activeregion.Config{
				StreamName: stream, ActiveRegion: sourceRegion, ActiveSince: time.Now().Add(-time.Hour).UTC(), Epoch: 1,
				History: []activeregion.Epoch{{Region: sourceRegion, Since: time.Now().Add(-time.Hour).UTC(), Epoch: 1}},
			}); err != nil {
				t.Fatal(err)
			}
			sent := produce(t, p.source, stream, 5000, 200, "a")
			source := readAll(t, p.source, stream)

			var emf bytes.Buffer
			drive(t, p.handler(stream, &emf), stream, source, batchSize)

			// Every record is in the target, and per key the last copies are in source order.
			lastSeq := make(map[string]int)
			seen := make(map[string]bool)
			for _, recs := range readAll(t, p.target, stream) {
				for _, r := range recs {
					c := decode(t, r.Data)
					seen[c.ID] = true
					if aws.ToString(r.PartitionKey) != c.Key {
						t.Fatalf("record %s: partition key %q, want %q", c.ID, aws.ToString(r.PartitionKey), c.Key)
					}
					if prev, ok := lastSeq[c.Key]; ok && c.Seq < prev {
						t.Fatalf("key %s: seq %d after %d in the target", c.Key, c.Seq, prev)
					}
					lastSeq[c.Key] = c.Seq
				}
			}
			var lost []string
			for id := range sent {
				if !seen[id] {
					lost = append(lost, id)
				}
			}
			if len(lost) > 0 {
				sort.Strings(lost)
				t.Fatalf("%d records lost, first %v", len(lost), lost[:min(5, len(lost))])
			}

			// Each shard's checkpoint is its last record.
			cps, err := p.checkpoints.Load(ctx, stream, sourceRegion)
			if err != nil {
				t.Fatal(err)
			}
			if len(cps) != len(source) {
				t.Fatalf("got %d checkpoints, want one per shard (%d)", len(cps), len(source))
			}
			for _, cp := range cps {
				recs := source[cp.ShardID]
				last := recs[len(recs)-1]
				want, _ := time.Parse(time.RFC3339Nano, decode(t, last.Data).CommitTimestamp)
				if cp.LastSequenceNumber != aws.ToString(last.SequenceNumber) || !cp.LastReplicatedTimestamp.Equal(want) ||
					cp.TimestampSource != checkpoint.SourceCommit || cp.Epoch != 1 || cp.SourceRegion != sourceRegion || cp.TargetRegion != targetRegion {
					t.Fatalf("shard %s: got checkpoint %+v, want sequence %s at %s", cp.ShardID, cp, aws.ToString(last.SequenceNumber), want)
				}
				if cp.TargetShardID == "" || cp.TargetSequenceNumber == "" {
					t.Fatalf("shard %s: checkpoint does not say where the record landed: %+v", cp.ShardID, cp)
				}
			}

			// EMF lines parse and add up.
			replicated := 0.0
			for _, line := range strings.Split(strings.TrimSpace(emf.String()), "\n") {
				doc, err := metricstest.Parse([]byte(line))
				if err != nil {
					t.Fatalf("EMF line %q: %v", line, err)
				}
				replicated += doc.Values["ReplicatedRecords"]
			}
			if replicated != 5000 {
				t.Fatalf("EMF ReplicatedRecords add up to %v, want 5000", replicated)
			}
		})
	}
}

func TestInactiveRegionWritesNothingOnTheEmulators(t *testing.T) {
	ctx := context.Background()
	stream := "orders-inactive"
	p := newRegionPair(t, stream)
	since := time.Now().Add(-time.Hour).UTC()
	if _, err := p.configs.Create(ctx, activeregion.Config{
		StreamName: stream, ActiveRegion: sourceRegion, ActiveSince: since, Epoch: 1,
		History: []activeregion.Epoch{{Region: sourceRegion, Since: since, Epoch: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.configs.Switch(ctx, stream, activeregion.Switch{To: targetRegion, At: time.Now().UTC(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	produce(t, p.source, stream, 1000, 50, "late")

	var emf bytes.Buffer
	drive(t, p.handler(stream, &emf), stream, readAll(t, p.source, stream), 250)

	for shard, recs := range readAll(t, p.target, stream) {
		if len(recs) != 0 {
			t.Fatalf("target shard %s has %d records, want none", shard, len(recs))
		}
	}
	if cps, err := p.checkpoints.Load(ctx, stream, sourceRegion); err != nil || len(cps) != 0 {
		t.Fatalf("got checkpoints %v (%v), want none", cps, err)
	}
	skipped := 0.0
	for _, line := range strings.Split(strings.TrimSpace(emf.String()), "\n") {
		doc, err := metricstest.Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		skipped += doc.Values["SkippedRecords"]
	}
	if skipped != 1000 {
		t.Fatalf("SkippedRecords add up to %v, want 1000", skipped)
	}
}
