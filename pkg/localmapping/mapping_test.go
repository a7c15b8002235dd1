package localmapping

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestRetryIndexFollowsLambdaRules(t *testing.T) {
	batch := []types.Record{
		{SequenceNumber: aws.String("49590000000000000000000000000000000000000000000000000001")},
		{SequenceNumber: aws.String("49590000000000000000000000000000000000000000000000000002")},
		{SequenceNumber: aws.String("49590000000000000000000000000000000000000000000000000003")},
	}
	tests := []struct {
		name     string
		response string
		want     int
	}{
		{"no response body is success", `null`, -1},
		{"empty list is success", `{"batchItemFailures":[]}`, -1},
		{"missing list is success", `{}`, -1},
		{"one failure retries from it", `{"batchItemFailures":[{"itemIdentifier":"49590000000000000000000000000000000000000000000000000002"}]}`, 1},
		{"lowest of several failures wins", `{"batchItemFailures":[{"itemIdentifier":"49590000000000000000000000000000000000000000000000000003"},{"itemIdentifier":"49590000000000000000000000000000000000000000000000000002"}]}`, 1},
		{"empty identifier fails the whole batch", `{"batchItemFailures":[{"itemIdentifier":""}]}`, 0},
		{"missing identifier fails the whole batch", `{"batchItemFailures":[{}]}`, 0},
		{"unknown identifier fails the whole batch", `{"batchItemFailures":[{"itemIdentifier":"42"}]}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RetryIndex(batch, []byte(tt.response))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got retry index %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRetryIndexRejectsMalformedResponse(t *testing.T) {
	if _, err := RetryIndex(nil, []byte(`{"batchItemFailures":`)); err == nil {
		t.Fatal("got no error for a truncated response, want one")
	}
}

// TestEventMatchesLambdaPayload pins the JSON a handler receives to a
// golden copy of the shape Lambda documents for Kinesis events.
func TestEventMatchesLambdaPayload(t *testing.T) {
	m := New(nil, "orders", "us-east-2", nil, Options{FunctionName: "kdsReplicator"})
	arrival := time.Date(2026, 11, 29, 17, 30, 0, 123_456_789, time.UTC)
	payload, err := m.event("shardId-000000000003", []types.Record{
		{
			PartitionKey:                aws.String("k17"),
			SequenceNumber:              aws.String("49656776812838938329327858306617013564003939532316213298"),
			Data:                        []byte(`{"id":"1","key":"k17"}`),
			ApproximateArrivalTimestamp: aws.Time(arrival),
		},
		{
			PartitionKey:                aws.String("k18"),
			SequenceNumber:              aws.String("49656776812838938329327858306617013564003939532316213299"),
			Data:                        []byte{0, 0xff, '\n'},
			ApproximateArrivalTimestamp: aws.Time(arrival.Add(time.Second)),
			EncryptionType:              types.EncryptionTypeKms,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, payload, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "event.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := pretty.String(); got != string(want) {
		t.Errorf("got event\n%s\nwant\n%s", got, want)
	}

	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	if got, want := ev.Records[1].Kinesis.Data, []byte{0, 0xff, '\n'}; !bytes.Equal(got, want) {
		t.Errorf("got data %q after the JSON round trip, want %q", got, want)
	}
	if got, want := ev.Records[0].Kinesis.ApproximateArrivalTimestamp.UTC().Round(time.Millisecond), arrival.Truncate(time.Millisecond); !got.Equal(want) {
		t.Errorf("got arrival %v, want %v (millisecond precision, as Lambda sends)", got, want)
	}
}

// recorder is a handler that keeps every batch it is given.
type recorder struct {
	mu      sync.Mutex
	batches [][]events.KinesisEventRecord
	// respond decides the answer to the n-th invocation (0-based).
	respond func(n int, ev events.KinesisEvent) (events.KinesisEventResponse, error)
}

func (r *recorder) handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	r.mu.Lock()
	n := len(r.batches)
	r.batches = append(r.batches, ev.Records)
	r.mu.Unlock()
	if r.respond != nil {
		return r.respond(n, ev)
	}
	return events.KinesisEventResponse{}, nil
}

func (r *recorder) snapshot() [][]events.KinesisEventRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func TestDeliversEveryRecordInOrderPerShard(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"batch of one", Options{BatchSize: 1}},
		{"batch of seven", Options{BatchSize: 7}},
		{"default batch", Options{}},
		{"batching window", Options{BatchSize: 50, BatchingWindow: 50 * time.Millisecond}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := fmt.Sprintf("order-%d", i)
			client := newStream(t, stream, 3)
			put := putRecords(t, client, stream, 240, 20)

			rec := &recorder{}
			opts := tt.opts
			opts.Logger = testLogger(t)
			m := New(client, stream, "us-east-1", rec.handle, opts)
			stop := runMapping(t, m)
			waitFor(t, func() bool { return m.Stats().Records >= int64(countRecords(put)) })
			stop()

			delivered := map[string][]events.KinesisEventRecord{}
			for _, batch := range rec.snapshot() {
				if max := tt.opts.BatchSize; max > 0 && len(batch) > max {
					t.Errorf("got batch of %d records, want at most %d", len(batch), max)
				}
				for _, r := range batch {
					shard, _, _ := strings.Cut(r.EventID, ":")
					delivered[shard] = append(delivered[shard], r)
				}
			}
			for shard, want := range put {
				got := delivered[shard]
				if len(got) != len(want) {
					t.Fatalf("shard %s: got %d records, want %d (stats %+v, %d batches)", shard, len(got), len(want), m.Stats(), len(rec.snapshot()))
				}
				for j := range want {
					if got[j].Kinesis.SequenceNumber != want[j].sequence || string(got[j].Kinesis.Data) != want[j].data {
						t.Fatalf("shard %s record %d: got %s %q, want %s %q", shard, j,
							got[j].Kinesis.SequenceNumber, got[j].Kinesis.Data, want[j].sequence, want[j].data)
					}
					if got[j].EventSourceArn != StreamARN("us-east-1", stream) || got[j].AwsRegion != "us-east-1" {
						t.Fatalf("got source %s in %s, want %s", got[j].EventSourceArn, got[j].AwsRegion, StreamARN("us-east-1", stream))
					}
				}
			}
			if got := m.Stats(); got.Retries() != 0 || got.Records != int64(countRecords(put)) {
				t.Errorf("got stats %+v, want %d records and no retries", got, countRecords(put))
			}
		})
	}
}

func TestBatchItemFailureRetriesFromLowestReportedRecord(t *testing.T) {
	tests := []struct {
		name   string
		report func(ev events.KinesisEvent) []events.KinesisBatchItemFailure
		// wantFrom is the index, in the first batch, of the first record of
		// the second batch.
		wantFrom int
	}{
		{"fourth record fails", func(ev events.KinesisEvent) []events.KinesisBatchItemFailure {
			return failures(ev, 3)
		}, 3},
		{"first record fails", func(ev events.KinesisEvent) []events.KinesisBatchItemFailure {
			return failures(ev, 0)
		}, 0},
		{"last record fails", func(ev events.KinesisEvent) []events.KinesisBatchItemFailure {
			return failures(ev, 9)
		}, 9},
		{"lowest of unordered failures", func(ev events.KinesisEvent) []events.KinesisBatchItemFailure {
			return failures(ev, 8, 5, 6)
		}, 5},
		{"unknown identifier retries everything", func(events.KinesisEvent) []events.KinesisBatchItemFailure {
			return []events.KinesisBatchItemFailure{{ItemIdentifier: "1"}}
		}, 0},
		{"empty identifier retries everything", func(events.KinesisEvent) []events.KinesisBatchItemFailure {
			return []events.KinesisBatchItemFailure{{}}
		}, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := fmt.Sprintf("partial-%d", i)
			client := newStream(t, stream, 1)
			put := putRecords(t, client, stream, 10, 4)

			var waits []time.Duration
			rec := &recorder{respond: func(n int, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
				if n == 0 {
					return events.KinesisEventResponse{BatchItemFailures: tt.report(ev)}, nil
				}
				return events.KinesisEventResponse{}, nil
			}}
			m := New(client, stream, "us-east-1", rec.handle, Options{
				Logger:         testLogger(t),
				BatchSize:      10,
				RetryBaseDelay: 7 * time.Millisecond,
				RetryWait: func(ctx context.Context, d time.Duration) error {
					waits = append(waits, d)
					return ctx.Err()
				},
			})
			stop := runMapping(t, m)
			waitFor(t, func() bool { return m.Stats().Batches >= 1 })
			stop()

			batches := rec.snapshot()
			if len(batches) != 2 {
				t.Fatalf("got %d invocations, want 2", len(batches))
			}
			var want, got []string
			for _, r := range onlyShard(put) {
				want = append(want, r.sequence)
			}
			want = want[tt.wantFrom:]
			for _, r := range batches[1] {
				got = append(got, r.Kinesis.SequenceNumber)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got retry batch %v, want %v", got, want)
			}
			stats := m.Stats()
			if stats.PartialFailures != 1 || stats.Records != 10 {
				t.Errorf("got stats %+v, want 1 partial failure and 10 records acknowledged", stats)
			}
			if !slices.Equal(waits, []time.Duration{7 * time.Millisecond}) {
				t.Errorf("got waits %v, want one base delay", waits)
			}
		})
	}
}

func failures(ev events.KinesisEvent, indexes ...int) []events.KinesisBatchItemFailure {
	var out []events.KinesisBatchItemFailure
	for _, i := range indexes {
		out = append(out, events.KinesisBatchItemFailure{ItemIdentifier: ev.Records[i].Kinesis.SequenceNumber})
	}
	return out
}

func TestHandlerErrorRetriesWholeBatchWithBackoff(t *testing.T) {
	tests := []struct {
		name      string
		errors    int
		wantWaits []time.Duration
	}{
		{"one error", 1, []time.Duration{10 * time.Millisecond}},
		{"errors double the delay up to the cap", 5, []time.Duration{
			10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond,
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := fmt.Sprintf("errors-%d", i)
			client := newStream(t, stream, 1)
			putRecords(t, client, stream, 6, 3)

			var waits []time.Duration
			rec := &recorder{respond: func(n int, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
				if n < tt.errors {
					return events.KinesisEventResponse{}, errors.New("target unavailable")
				}
				return events.KinesisEventResponse{}, nil
			}}
			m := New(client, stream, "us-east-1", rec.handle, Options{
				Logger:         testLogger(t),
				RetryBaseDelay: 10 * time.Millisecond,
				RetryMaxDelay:  50 * time.Millisecond,
				RetryWait: func(ctx context.Context, d time.Duration) error {
					waits = append(waits, d)
					return ctx.Err()
				},
			})
			stop := runMapping(t, m)
			waitFor(t, func() bool { return m.Stats().Batches >= 1 })
			stop()

			batches := rec.snapshot()
			if len(batches) != tt.errors+1 {
				t.Fatalf("got %d invocations, want %d", len(batches), tt.errors+1)
			}
			first := sequences(batches[0])
			for n, b := range batches[1:] {
				if got := sequences(b); !slices.Equal(got, first) {
					t.Errorf("invocation %d: got %v, want the whole first batch %v again", n+1, got, first)
				}
			}
			if !slices.Equal(waits, tt.wantWaits) {
				t.Errorf("got waits %v, want %v", waits, tt.wantWaits)
			}
			if got := m.Stats(); got.HandlerErrors != int64(tt.errors) || got.Records != 6 {
				t.Errorf("got stats %+v, want %d handler errors and 6 records", got, tt.errors)
			}
		})
	}
}

func TestRunStopsWhenContextIsCancelled(t *testing.T) {
	tests := []struct {
		name    string
		handler HandlerFunc
	}{
		{"while polling an idle stream", func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
			return events.KinesisEventResponse{}, nil
		}},
		{"while the handler runs", func(ctx context.Context, _ events.KinesisEvent) (events.KinesisEventResponse, error) {
			<-ctx.Done()
			return events.KinesisEventResponse{}, ctx.Err()
		}},
		{"while backing off after errors", func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
			return events.KinesisEventResponse{}, errors.New("always failing")
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := fmt.Sprintf("stop-%d", i)
			client := newStream(t, stream, 4)
			putRecords(t, client, stream, 8, 8)

			invoked := make(chan struct{}, 100)
			m := New(client, stream, "us-east-1", func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
				select {
				case invoked <- struct{}{}:
				default:
				}
				return tt.handler(ctx, ev)
			}, Options{RetryBaseDelay: time.Hour, RetryMaxDelay: time.Hour, Logger: testLogger(t)})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			<-invoked
			cancel()
			if err := <-done; err != nil {
				t.Errorf("got Run error %v after cancel, want nil", err)
			}
		})
	}
}

func TestLatestStartsAfterWhatIsAlreadyInTheStream(t *testing.T) {
	client := newStream(t, "latest", 2)
	old := putRecords(t, client, "latest", 20, 5)

	rec := &recorder{}
	m := New(client, "latest", "us-east-1", rec.handle, Options{
		StartingPosition: types.ShardIteratorTypeLatest,
		PollInterval:     20 * time.Millisecond,
		Logger:           testLogger(t),
	})
	stop := runMapping(t, m)
	// The pollers take their iterators at some point after Run starts: keep
	// writing until something arrives.
	waitFor(t, func() bool {
		putRecords(t, client, "latest", 1, 1)
		return m.Stats().Records > 0
	})
	stop()

	before := map[string]bool{}
	for _, records := range old {
		for _, r := range records {
			before[r.sequence] = true
		}
	}
	for _, batch := range rec.snapshot() {
		for _, r := range batch {
			if before[r.Kinesis.SequenceNumber] {
				t.Errorf("got record %s written before Run, want only later ones with LATEST", r.Kinesis.SequenceNumber)
			}
		}
	}
}

func TestRunReportsMissingStream(t *testing.T) {
	client := newStream(t, "present", 1)
	m := New(client, "absent", "us-east-1", (&recorder{}).handle, Options{Logger: testLogger(t)})
	if err := m.Run(context.Background()); err == nil {
		t.Fatal("got no error for a stream that does not exist, want one")
	}
}

func sequences(records []events.KinesisEventRecord) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = r.Kinesis.SequenceNumber
	}
	return out
}

// BenchmarkEventRoundTrip measures what the mapping adds per invocation of
// 100 records of 1 KiB: the Lambda-shaped JSON and its decoding.
func BenchmarkEventRoundTrip(b *testing.B) {
	m := New(nil, "orders", "us-east-1", nil, Options{})
	batch := make([]types.Record, 100)
	for i := range batch {
		batch[i] = types.Record{
			PartitionKey:                aws.String(fmt.Sprintf("k%d", i)),
			SequenceNumber:              aws.String(fmt.Sprintf("4965677681283893832932785830661701356400393953231621%04d", i)),
			Data:                        bytes.Repeat([]byte{'x'}, 1024),
			ApproximateArrivalTimestamp: aws.Time(time.Now()),
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		payload, err := m.event("shardId-000000000000", batch)
		if err != nil {
			b.Fatal(err)
		}
		var ev events.KinesisEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
