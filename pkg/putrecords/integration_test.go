package putrecords

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// kinesalite starts on the first test that needs it and is shared across
// the package's tests; TestMain stops it. Missing emulators fail the test.
var shared = localaws.Shared{Kinesis: 1}

func emulators(t *testing.T) *localaws.Emulators {
	t.Helper()
	return shared.Get(t)
}

var streamCount atomic.Int64

// streamName is unique per call, so repeated runs (-count) can share the
// emulator.
func streamName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, streamCount.Add(1))
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// faultInjector breaks PutRecords calls at the SDK boundary, the way the
// service does, while the real client and the emulator do the rest:
//   - some calls fail whole before anything is sent (InternalFailure);
//   - some calls reach the stream but their reply is lost (the records are
//     in the stream; the caller sees ServiceUnavailable);
//   - in the others, some entries are held back from the emulator and
//     answered ProvisionedThroughputExceededException at their index.
type faultInjector struct {
	mu        sync.Mutex
	rng       *rand.Rand
	calls     int
	failed    int
	lost      int
	throttled int
}

func (fi *faultInjector) register(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("injectFaults", fi.handle), middleware.Before)
}

func (fi *faultInjector) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	params, ok := in.Parameters.(*kinesis.PutRecordsInput)
	if !ok {
		return next.HandleInitialize(ctx, in)
	}
	fi.mu.Lock()
	fi.calls++
	roll := fi.rng.IntN(10)
	var throttle []bool
	if roll >= 2 {
		throttle = make([]bool, len(params.Records))
		for i := range throttle {
			throttle[i] = fi.rng.IntN(10) == 0
		}
	}
	fi.mu.Unlock()

	switch roll {
	case 0:
		fi.count(&fi.failed, 1)
		return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "InternalFailure", Message: "injected", Fault: smithy.FaultServer}
	case 1:
		out, md, err := next.HandleInitialize(ctx, in)
		if err != nil {
			return out, md, err
		}
		fi.count(&fi.lost, 1)
		return middleware.InitializeOutput{}, md, &smithy.GenericAPIError{Code: "ServiceUnavailable", Message: "injected: reply lost", Fault: smithy.FaultServer}
	}

	sent := *params
	sent.Records = nil
	for i, e := range params.Records {
		if !throttle[i] {
			sent.Records = append(sent.Records, e)
		}
	}
	if len(sent.Records) == 0 {
		fi.count(&fi.throttled, len(params.Records))
		return middleware.InitializeOutput{Result: &kinesis.PutRecordsOutput{
			FailedRecordCount: aws.Int32(int32(len(params.Records))),
			Records:           throttledEntries(len(params.Records)),
		}}, middleware.Metadata{}, nil
	}
	in.Parameters = &sent
	out, md, err := next.HandleInitialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	reply := out.Result.(*kinesis.PutRecordsOutput)
	merged := make([]types.PutRecordsResultEntry, 0, len(params.Records))
	k := 0
	for i := range params.Records {
		if throttle[i] {
			merged = append(merged, throttledEntries(1)...)
			continue
		}
		merged = append(merged, reply.Records[k])
		k++
	}
	throttledHere := len(params.Records) - len(sent.Records)
	fi.count(&fi.throttled, throttledHere)
	reply.Records = merged
	reply.FailedRecordCount = aws.Int32(aws.ToInt32(reply.FailedRecordCount) + int32(throttledHere))
	return out, md, nil
}

func (fi *faultInjector) count(n *int, by int) {
	fi.mu.Lock()
	*n += by
	fi.mu.Unlock()
}

func throttledEntries(n int) []types.PutRecordsResultEntry {
	entries := make([]types.PutRecordsResultEntry, n)
	for i := range entries {
		entries[i] = types.PutRecordsResultEntry{
			ErrorCode:    aws.String("ProvisionedThroughputExceededException"),
			ErrorMessage: aws.String("injected"),
		}
	}
	return entries
}

// streamCopy is one record as GetRecords shows it.
type streamCopy struct {
	shard, seq, key string
	index           int // source index, from the data
}

func readStream(ctx context.Context, t *testing.T, client *kinesis.Client, stream string) []streamCopy {
	t.Helper()
	shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatalf("list shards of %s: %v", stream, err)
	}
	var copies []streamCopy
	for _, sh := range shards.Shards {
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName:        aws.String(stream),
			ShardId:           sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("get shard iterator of %s: %v", aws.ToString(sh.ShardId), err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("get records of %s: %v", aws.ToString(sh.ShardId), err)
			}
			for _, r := range out.Records {
				idx, err := strconv.Atoi(strings.SplitN(string(r.Data), "|", 2)[0])
				if err != nil {
					t.Fatalf("record data %q: %v", r.Data, err)
				}
				copies = append(copies, streamCopy{shard: aws.ToString(sh.ShardId), seq: aws.ToString(r.SequenceNumber), key: aws.ToString(r.PartitionKey), index: idx})
			}
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return copies
}

func TestWriteReplicatesIntoKinesaliteInOrderDespiteFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emu := emulators(t)

	tests := []struct {
		name     string
		ordering Ordering
		paced    bool // the real client lists the emulator's shards
		maxRecs  int  // records per request (0: the default 500)
	}{
		{name: "key", ordering: OrderingKey},
		{name: "strict", ordering: OrderingStrict},
		// Small requests: enough calls that every injected fault shows up
		// whatever order the concurrent calls take.
		{name: "key-paced", ordering: OrderingKey, paced: true, maxRecs: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := streamName("replication-" + tt.name)
			admin := localaws.KinesisClient("us-east-2", emu.Kinesis[0])
			if err := localaws.CreateStream(ctx, admin, stream, 4); err != nil {
				t.Fatal(err)
			}
			faults := &faultInjector{rng: rand.New(rand.NewPCG(42, uint64(tt.ordering)))}
			client := localaws.KinesisClient("us-east-2", emu.Kinesis[0], func(o *kinesis.Options) {
				o.APIOptions = append(o.APIOptions, faults.register)
			})

			recs := make([]Record, 2000)
			for i := range recs {
				recs[i] = Record{
					SequenceNumber: strconv.Itoa(i),
					PartitionKey:   fmt.Sprintf("key-%02d", i%50),
					Data:           fmt.Appendf(nil, "%d|payload-%d", i, i),
				}
			}
			opts := Options{Ordering: tt.ordering, MaxRequestRecords: tt.maxRecs, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
			if tt.paced {
				// The emulator has no limits; the injected throttles cut
				// the estimate as real ones would, so start it high.
				opts.Shards, opts.ShardRecordsPerSecond = client, 100_000
			}
			w := NewWriter(client, opts)
			res := w.Write(ctx, Batch{Stream: stream, Records: recs})
			if res.PacingErr != nil {
				t.Fatalf("got pacing error %v, want none", res.PacingErr)
			}

			if prefix(res) != len(recs) {
				t.Fatalf("got prefix %d, want %d; first unwritten: %v", prefix(res), len(recs), res.Outcomes[prefix(res)].Err)
			}
			if faults.failed == 0 || faults.lost == 0 || faults.throttled == 0 {
				t.Fatalf("got %d failed, %d lost, %d throttled injections, want each at least once", faults.failed, faults.lost, faults.throttled)
			}
			if res.Stats.Throttled != faults.throttled {
				t.Errorf("got %d throttled, want %d (as injected)", res.Stats.Throttled, faults.throttled)
			}

			copies := readStream(ctx, t, admin, stream)
			last := map[int]int{} // source index → position of its last copy
			for pos, c := range copies {
				last[c.index] = pos
			}
			if len(last) != len(recs) {
				t.Fatalf("got %d distinct records in the stream, want %d", len(last), len(recs))
			}
			prevPos := map[string]int{}
			for i, rec := range recs {
				c := copies[last[i]]
				if c.key != rec.PartitionKey {
					t.Fatalf("record %d: got key %s in the stream, want %s", i, c.key, rec.PartitionKey)
				}
				if o := res.Outcomes[i]; o.TargetShardID != c.shard || o.TargetSequenceNumber != c.seq {
					t.Errorf("record %d: got outcome %s/%s, want the last copy %s/%s", i, o.TargetShardID, o.TargetSequenceNumber, c.shard, c.seq)
				}
				if tt.paced {
					// The writer's MD5 → hash key range placement is the
					// emulator's.
					if got := w.predictedShard(stream, rec.PartitionKey); got != c.shard {
						t.Fatalf("record %d: writer placed key %s on %q, the emulator on %s", i, rec.PartitionKey, got, c.shard)
					}
				}
				// Copies of one key share a shard, read in sequence order.
				if p, ok := prevPos[rec.PartitionKey]; ok && last[i] < p {
					t.Errorf("key %s: last copy of record %d precedes the last copy of an earlier record", rec.PartitionKey, i)
				}
				prevPos[rec.PartitionKey] = last[i]
			}
			if tt.ordering == OrderingStrict {
				// No copy of a record before a copy of every earlier
				// record of its key.
				seen := map[int]bool{}
				for _, c := range copies {
					for j := c.index - 50; j >= 0; j -= 50 {
						if !seen[j] {
							t.Fatalf("strict: record %d in the stream before earlier record %d of key %s", c.index, j, c.key)
						}
					}
					seen[c.index] = true
				}
			}
			t.Logf("%d requests, %d resent, %d throttled, %d copies in the stream", res.Stats.Requests, res.Stats.Resent, res.Stats.Throttled, len(copies))
		})
	}
}

func TestWriteReportsAMissingTargetStreamAsPermanent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	emu := emulators(t)
	client := localaws.KinesisClient("us-east-2", emu.Kinesis[0])
	res := NewWriter(client, Options{}).Write(ctx, Batch{Stream: "no-such-stream", Records: records("A", "B")})
	var notFound *types.ResourceNotFoundException
	if o := res.Outcomes[0]; o.Written || !o.Permanent || !errors.As(o.Err, &notFound) {
		t.Fatalf("got %+v, want Permanent wrapping ResourceNotFoundException", o)
	}
	if prefix(res) != 0 || res.Stats.Requests != 1 {
		t.Fatalf("got prefix %d after %d requests, want 0 after 1", prefix(res), res.Stats.Requests)
	}
}

func TestWriteSendsEmptyRecordsThroughTheRealClient(t *testing.T) {
	// The SDK refuses a nil Data field for the whole request; a source
	// record with no data must still be replicated.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	emu := emulators(t)
	client := localaws.KinesisClient("us-east-2", emu.Kinesis[0])
	stream := streamName("empty-records")
	if err := localaws.CreateStream(ctx, client, stream, 1); err != nil {
		t.Fatal(err)
	}
	recs := []Record{{SequenceNumber: "1", PartitionKey: "A", Data: nil}, {SequenceNumber: "2", PartitionKey: "A", Data: []byte{}}}
	res := NewWriter(client, Options{}).Write(ctx, Batch{Stream: stream, Records: recs})
	if prefix(res) != 2 {
		t.Fatalf("got prefix %d, want 2; errors %v, %v", prefix(res), res.Outcomes[0].Err, res.Outcomes[1].Err)
	}
}
