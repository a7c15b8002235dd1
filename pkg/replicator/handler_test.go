package replicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint/checkpointtest"
	"github.com/kinesis-crr/kinesis-crr/pkg/metrics/metricstest"
	"github.com/kinesis-crr/kinesis-crr/pkg/putrecords"
)

const (
	testStream   = "orders"
	testShard    = "shardId-000000000003"
	sourceRegion = "us-east-1"
	targetRegion = "us-east-2"
)

var (
	t0        = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	streamARN = "arn:aws:kinesis:us-east-1:123456789012:stream/" + testStream
)

func testSettings() Settings {
	return Settings{
		OwnRegion:            sourceRegion,
		TargetRegion:         targetRegion,
		CheckpointTable:      DefaultCheckpointTable,
		ActiveRegionTable:    DefaultActiveRegionTable,
		CommitTimestampField: DefaultCommitTimestampField,
		CacheTTL:             DefaultCacheTTL,
		MetricsNamespace:     DefaultMetricsNamespace,
	}
}

// sequenceNumber gives the i-th record a realistic 56-digit sequence number.
func sequenceNumber(i int) string {
	base, _ := new(big.Int).SetString("49590338271490256608559692538361571095921575989136588898", 10)
	return base.Add(base, big.NewInt(int64(i)*1000)).String()
}

// laterRecords is ev with every sequence number moved by by records, as if
// its records came after the first by of the shard.
func laterRecords(ev events.KinesisEvent, by int) events.KinesisEvent {
	for i := range ev.Records {
		r := &ev.Records[i]
		r.Kinesis.SequenceNumber = sequenceNumber(i + by)
		r.EventID = testShard + ":" + r.Kinesis.SequenceNumber
	}
	return ev
}

// kinesisEvent builds a Lambda Kinesis event of n records over keys keys,
// arriving one second apart from start, each with a commit timestamp 100 ms
// before its arrival.
func kinesisEvent(n, keys int, start time.Time) events.KinesisEvent {
	var ev events.KinesisEvent
	for i := range n {
		seq := sequenceNumber(i)
		arrival := start.Add(time.Duration(i) * time.Second)
		payload := fmt.Sprintf(`{"key":"k%d","seq":%d,"CommitTimestamp":%q}`, i%keys, i, arrival.Add(-100*time.Millisecond).Format(time.RFC3339Nano))
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			AwsRegion:      sourceRegion,
			EventID:        testShard + ":" + seq,
			EventName:      "aws:kinesis:record",
			EventSource:    "aws:kinesis",
			EventSourceArn: streamARN,
			EventVersion:   "1.0",
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: arrival},
				Data:                        []byte(payload),
				PartitionKey:                fmt.Sprintf("k%d", i%keys),
				SequenceNumber:              seq,
				KinesisSchemaVersion:        "1.0",
			},
		})
	}
	return ev
}

type harness struct {
	target  *fakeTarget
	ddb     *fakeDynamoDB
	cps     *checkpoints
	emf     *bytes.Buffer
	handler *Handler
	now     time.Time
}

// bareHarness has fakes and doubles and no handler yet.
func bareHarness(now time.Time) *harness {
	return &harness{target: &fakeTarget{}, ddb: newFakeDynamoDB(), cps: &checkpoints{Store: checkpointtest.New()}, emf: &bytes.Buffer{}, now: now}
}

// useDoubles points hd's checkpoint writes at the shared double: NewHandler
// builds the DynamoDB-backed store, whose conditions only the double (or
// the emulator) honours.
func (h *harness) useDoubles(hd *Handler) *Handler {
	hd.checkpoints, hd.trails = h.cps, h.cps
	return hd
}

func newHarness(t *testing.T, s Settings, cfg *activeregion.Config) *harness {
	t.Helper()
	h := bareHarness(t0.Add(time.Hour))
	if cfg != nil {
		h.ddb.put(s.ActiveRegionTable, cfg)
	}
	h.handler = h.newInstance(s, h.emf)
	return h
}

// newInstance is a Handler on h's fakes and doubles, as one Lambda
// execution environment of the function: its own caches, the shared tables
// and target. Its metrics go to out.
func (h *harness) newInstance(s Settings, out io.Writer) *Handler {
	return h.useDoubles(NewHandler(s, Clients{Target: h.target, DynamoDB: h.ddb, Fence: h.ddb},
		WithOutput(out),
		WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
		WithClock(func() time.Time { return h.now }),
		WithWriterOptions(putrecords.Options{
			Sleep:  func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
			Jitter: func(time.Duration) time.Duration { return 0 },
		}),
	))
}

// metricsOf parses the single EMF line the invocation wrote.
func (h *harness) metricsOf(t *testing.T) metricstest.Document {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(h.emf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d EMF lines, want 1:\n%s", len(lines), h.emf.String())
	}
	doc, err := metricstest.Parse([]byte(lines[0]))
	if err != nil {
		t.Fatalf("EMF line does not parse: %v\n%s", err, lines[0])
	}
	return doc
}

func failedIDs(resp events.KinesisEventResponse) []string {
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func usEast1Active() *activeregion.Config {
	cfg := activeConfig(testStream, activeregion.Epoch{Region: sourceRegion, Since: t0.Add(-24 * time.Hour)})
	return &cfg
}

func TestHandleReplicatesAndCheckpointsTheLastRecord(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	ev := kinesisEvent(10, 3, t0)

	resp, err := h.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 0 {
		t.Fatalf("got batch item failures %v, want none", got)
	}
	if len(h.target.written) != 10 {
		t.Fatalf("got %d records written, want 10", len(h.target.written))
	}
	for i, w := range h.target.written {
		src := ev.Records[i].Kinesis
		if aws.ToString(w.PartitionKey) != src.PartitionKey || !bytes.Equal(w.Data, src.Data) || w.ExplicitHashKey != nil {
			t.Fatalf("record %d written as key %q data %q hash key %v, want key %q data %q and no hash key",
				i, aws.ToString(w.PartitionKey), w.Data, w.ExplicitHashKey, src.PartitionKey, src.Data)
		}
	}

	cps := h.cps.byShard(t)
	cp, ok := cps[testShard]
	if !ok || len(cps) != 1 {
		t.Fatalf("got checkpoints %v, want one for %s", cps, testShard)
	}
	last := ev.Records[9].Kinesis
	want := checkpoint.Checkpoint{
		StreamName:              testStream,
		ShardID:                 testShard,
		LastReplicatedTimestamp: last.ApproximateArrivalTimestamp.Add(-100 * time.Millisecond),
		TimestampSource:         checkpoint.SourceCommit,
		LastSequenceNumber:      last.SequenceNumber,
		LastArrivalTimestamp:    last.ApproximateArrivalTimestamp.Time,
		TargetShardID:           "shardId-000000000001",
		TargetSequenceNumber:    "1000010",
		SourceRegion:            sourceRegion,
		TargetRegion:            targetRegion,
		Epoch:                   1,
		UpdatedAt:               h.now,
	}
	if !cp.LastReplicatedTimestamp.Equal(want.LastReplicatedTimestamp) || !cp.LastArrivalTimestamp.Equal(want.LastArrivalTimestamp) || !cp.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("got checkpoint times %v / %v / %v, want %v / %v / %v", cp.LastReplicatedTimestamp, cp.LastArrivalTimestamp, cp.UpdatedAt,
			want.LastReplicatedTimestamp, want.LastArrivalTimestamp, want.UpdatedAt)
	}
	cp.LastReplicatedTimestamp, cp.LastArrivalTimestamp, cp.UpdatedAt = want.LastReplicatedTimestamp, want.LastArrivalTimestamp, want.UpdatedAt
	if cp != want {
		t.Fatalf("got checkpoint\n%+v\nwant\n%+v", cp, want)
	}

	doc := h.metricsOf(t)
	wantMetrics := map[string]float64{
		"ReplicatedRecords": 10, "SkippedRecords": 0, "FailedRecords": 0, "ResentRecords": 0,
		"ThrottledRecords": 0, "CommitTimestampFallbacks": 0,
		"ReplicationLagSeconds": h.now.Sub(last.ApproximateArrivalTimestamp.Time).Seconds(),
		"MaxRecordAgeSeconds":   h.now.Sub(t0).Seconds(),
		"CheckpointAgeSeconds":  h.now.Sub(want.LastReplicatedTimestamp).Seconds(),
		"ReplicatedBytes":       float64(totalBytes(ev)),
	}
	if doc.Stream != testStream || doc.SourceRegion != sourceRegion {
		t.Fatalf("got EMF StreamName %q, SourceRegion %q; want %q, %q", doc.Stream, doc.SourceRegion, testStream, sourceRegion)
	}
	for name, v := range wantMetrics {
		if got, ok := doc.Values[name]; !ok || got != v {
			t.Errorf("metric %s: got %v (present %v), want %v", name, got, ok, v)
		}
	}
}

func totalBytes(ev events.KinesisEvent) int {
	n := 0
	for _, r := range ev.Records {
		n += len(r.Kinesis.Data)
	}
	return n
}

func TestHandleReportsTheFirstUnwrittenRecord(t *testing.T) {
	tests := []struct {
		name        string
		fail        func(e kintypes.PutRecordsRequestEntry) string
		requestErr  error
		oversize    int // index of a record made too large, or -1
		wantFailure int // index of the record reported, or -1
		wantCheckpt int // index of the checkpointed record, or -1
		wantFailed  float64
		// wantRejected: of those, the ones the target refuses for good,
		// which need a person (RejectedRecords).
		wantRejected float64
	}{
		{
			name:     "non-retryable entry error in the middle",
			fail:     failSeq(5, "KMSAccessDeniedException"),
			oversize: -1,
			// 6-9 went out in the same request and are written, not acknowledged.
			wantFailure: 5, wantCheckpt: 4, wantFailed: 1, wantRejected: 1,
		},
		{
			name:        "non-retryable entry error on the first record",
			fail:        failSeq(0, "KMSNotFoundException"),
			oversize:    -1,
			wantFailure: 0, wantCheckpt: -1, wantFailed: 1, wantRejected: 1,
		},
		{
			name:        "oversize record is never sent",
			oversize:    7,
			wantFailure: 7, wantCheckpt: 6, wantFailed: 3, wantRejected: 1,
		},
		{
			name:        "stream missing in the target Region",
			requestErr:  &kintypes.ResourceNotFoundException{Message: aws.String("Stream orders not found")},
			oversize:    -1,
			wantFailure: 0, wantCheckpt: -1, wantFailed: 10, wantRejected: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testSettings(), usEast1Active())
			h.target.fail, h.target.requestErr = tt.fail, tt.requestErr
			ev := kinesisEvent(10, 10, t0)
			if tt.oversize >= 0 {
				ev.Records[tt.oversize].Kinesis.Data = bytes.Repeat([]byte("x"), 1<<20)
			}
			resp, err := h.handler.Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{ev.Records[tt.wantFailure].Kinesis.SequenceNumber}
			if got := failedIDs(resp); len(got) != 1 || got[0] != want[0] {
				t.Fatalf("got batch item failures %v, want %v", got, want)
			}
			cps := h.cps.byShard(t)
			if tt.wantCheckpt < 0 {
				if len(cps) != 0 {
					t.Fatalf("got checkpoints %v, want none", cps)
				}
			} else if got, want := cps[testShard].LastSequenceNumber, ev.Records[tt.wantCheckpt].Kinesis.SequenceNumber; got != want {
				t.Fatalf("got checkpoint at %s, want %s", got, want)
			}
			doc := h.metricsOf(t)
			if got := doc.Values["FailedRecords"]; got != tt.wantFailed {
				t.Fatalf("got FailedRecords %v, want %v", got, tt.wantFailed)
			}
			if got := doc.Values["RejectedRecords"]; got != tt.wantRejected {
				t.Fatalf("got RejectedRecords %v, want %v", got, tt.wantRejected)
			}
		})
	}
}

// failSeq fails, with code, the entry whose payload carries "seq":n.
func failSeq(n int, code string) func(kintypes.PutRecordsRequestEntry) string {
	marker := fmt.Sprintf(`"seq":%d,`, n)
	return func(e kintypes.PutRecordsRequestEntry) string {
		if bytes.Contains(e.Data, []byte(marker)) {
			return code
		}
		return ""
	}
}

func TestHandleRetriesThrottledRecordsWithinTheInvocation(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	throttled := map[string]bool{}
	h.target.fail = func(e kintypes.PutRecordsRequestEntry) string {
		if k := string(e.Data); !throttled[k] {
			throttled[k] = true
			if bytes.Contains(e.Data, []byte(`"seq":2,`)) || bytes.Contains(e.Data, []byte(`"seq":3,`)) {
				return "ProvisionedThroughputExceededException"
			}
		}
		return ""
	}
	ev := kinesisEvent(6, 6, t0)
	resp, err := h.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 0 {
		t.Fatalf("got batch item failures %v, want none", got)
	}
	doc := h.metricsOf(t)
	if doc.Values["ThrottledRecords"] != 2 || doc.Values["ReplicatedRecords"] != 6 {
		t.Fatalf("got ThrottledRecords %v ReplicatedRecords %v, want 2 and 6", doc.Values["ThrottledRecords"], doc.Values["ReplicatedRecords"])
	}
}

func TestHandleInInactiveRegionSkipsEverything(t *testing.T) {
	cfg := activeConfig(testStream,
		activeregion.Epoch{Region: sourceRegion, Since: t0.Add(-48 * time.Hour)},
		activeregion.Epoch{Region: targetRegion, Since: t0.Add(-24 * time.Hour)},
	)
	h := newHarness(t, testSettings(), &cfg)
	resp, err := h.handler.Handle(context.Background(), kinesisEvent(8, 2, t0))
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 0 {
		t.Fatalf("got batch item failures %v, want none: skipped records are done", got)
	}
	if n := h.target.requests(); n != 0 {
		t.Fatalf("got %d PutRecords calls, want none", n)
	}
	if cps := h.cps.byShard(t); len(cps) != 0 {
		t.Fatalf("got checkpoints %v, want the checkpoint untouched", cps)
	}
	doc := h.metricsOf(t)
	if doc.Values["SkippedRecords"] != 8 || doc.Values["ReplicatedRecords"] != 0 {
		t.Fatalf("got SkippedRecords %v ReplicatedRecords %v, want 8 and 0", doc.Values["SkippedRecords"], doc.Values["ReplicatedRecords"])
	}
	if _, ok := doc.Values["ReplicationLagSeconds"]; ok {
		t.Fatal("ReplicationLagSeconds emitted for an invocation that replicated nothing")
	}
}

func TestHandleDecidesByArrivalAcrossASwitch(t *testing.T) {
	// us-east-1 was active until t0+5s, when us-east-2 took over: records
	// 0-4 arrived while us-east-1 was active and are drained; 5-9 are not
	// this Region's to replicate.
	cfg := activeConfig(testStream,
		activeregion.Epoch{Region: sourceRegion, Since: t0.Add(-time.Hour)},
		activeregion.Epoch{Region: targetRegion, Since: t0.Add(5 * time.Second)},
	)
	h := newHarness(t, testSettings(), &cfg)
	ev := kinesisEvent(10, 4, t0)
	resp, err := h.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 0 {
		t.Fatalf("got batch item failures %v, want none", got)
	}
	if len(h.target.written) != 5 {
		t.Fatalf("got %d records written, want the 5 that arrived before the switch", len(h.target.written))
	}
	cp := h.cps.byShard(t)[testShard]
	if cp.LastSequenceNumber != ev.Records[4].Kinesis.SequenceNumber || cp.Epoch != 1 {
		t.Fatalf("got checkpoint at %s epoch %d, want record 4 (%s) under epoch 1", cp.LastSequenceNumber, cp.Epoch, ev.Records[4].Kinesis.SequenceNumber)
	}
}

func TestHandleFailsTheBatchWhenItCannotDecide(t *testing.T) {
	tests := []struct {
		name    string
		cfg     *activeregion.Config
		getErr  error
		wantErr string
	}{
		{name: "no config item for the stream", wantErr: "orders"},
		{name: "config table unreadable", cfg: usEast1Active(), getErr: errors.New("connection refused"), wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testSettings(), tt.cfg)
			h.ddb.getErr = tt.getErr
			_, err := h.handler.Handle(context.Background(), kinesisEvent(3, 1, t0))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one mentioning %q", err, tt.wantErr)
			}
			if n := h.target.requests(); n != 0 {
				t.Fatalf("got %d PutRecords calls, want none: nothing is written or skipped on a guess", n)
			}
			if got := h.metricsOf(t).Values["FailedRecords"]; got != 3 {
				t.Fatalf("got FailedRecords %v, want 3: the failure must show per stream", got)
			}
		})
	}
}

func TestHandleRejectsMalformedEventsWithoutWriting(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(ev *events.KinesisEvent)
		wantErr string
	}{
		{"two streams in one batch", func(ev *events.KinesisEvent) {
			ev.Records[1].EventSourceArn = "arn:aws:kinesis:us-east-1:123456789012:stream/payments"
		}, "one batch must come from one stream"},
		{"not a Kinesis ARN", func(ev *events.KinesisEvent) {
			for i := range ev.Records {
				ev.Records[i].EventSourceArn = "arn:aws:sqs:us-east-1:123456789012:orders"
			}
		}, "eventSourceARN"},
		{"missing sequence number", func(ev *events.KinesisEvent) { ev.Records[2].Kinesis.SequenceNumber = "" }, "sequenceNumber"},
		{"missing arrival timestamp", func(ev *events.KinesisEvent) {
			ev.Records[1].Kinesis.ApproximateArrivalTimestamp = events.SecondsEpochTime{}
		}, "approximateArrivalTimestamp"},
		{"eventID without a shard", func(ev *events.KinesisEvent) { ev.Records[0].EventID = "nonsense" }, "eventID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testSettings(), usEast1Active())
			ev := kinesisEvent(4, 2, t0)
			tt.mutate(&ev)
			_, err := h.handler.Handle(context.Background(), ev)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one mentioning %q", err, tt.wantErr)
			}
			if n := h.target.requests(); n != 0 {
				t.Fatalf("got %d PutRecords calls, want none", n)
			}
		})
	}
}

func TestHandleEmptyBatchDoesNothing(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	resp, err := h.handler.Handle(context.Background(), events.KinesisEvent{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %#v, want an empty (not null) batchItemFailures list", resp.BatchItemFailures)
	}
	if h.target.requests() != 0 || h.ddb.gets != 0 || h.emf.Len() != 0 {
		t.Fatalf("got %d PutRecords, %d GetItem, %d EMF bytes; want nothing", h.target.requests(), h.ddb.gets, h.emf.Len())
	}
}

func TestHandleCheckpointsACommitTimeNeverLaterThanTheLastRecords(t *testing.T) {
	notJSON := []byte("\x00\x01 not json")
	tests := []struct {
		name          string
		withoutCommit []int // records whose payload carries no commit timestamp
		wantFrom      string
		wantAt        func(ev events.KinesisEvent) time.Time
		wantFallbacks float64
	}{
		{
			name:          "last record without one: the latest earlier commit time",
			withoutCommit: []int{2},
			wantFrom:      checkpoint.SourceCommit,
			wantAt: func(ev events.KinesisEvent) time.Time {
				return ev.Records[1].Kinesis.ApproximateArrivalTimestamp.Add(-100 * time.Millisecond)
			},
		},
		{
			name:          "no record with one: the last arrival time, counted",
			withoutCommit: []int{0, 1, 2},
			wantFrom:      checkpoint.SourceArrival,
			wantAt: func(ev events.KinesisEvent) time.Time {
				return ev.Records[2].Kinesis.ApproximateArrivalTimestamp.Time
			},
			wantFallbacks: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testSettings(), usEast1Active())
			ev := kinesisEvent(3, 1, t0)
			for _, i := range tt.withoutCommit {
				ev.Records[i].Kinesis.Data = notJSON
			}
			if _, err := h.handler.Handle(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			cp := h.cps.byShard(t)[testShard]
			if cp.TimestampSource != tt.wantFrom || !cp.LastReplicatedTimestamp.Equal(tt.wantAt(ev)) {
				t.Fatalf("got checkpoint %s from %s, want %s from %s", cp.LastReplicatedTimestamp, cp.TimestampSource, tt.wantAt(ev), tt.wantFrom)
			}
			if cp.LastSequenceNumber != ev.Records[2].Kinesis.SequenceNumber {
				t.Fatalf("got checkpoint at %s, want the last record %s", cp.LastSequenceNumber, ev.Records[2].Kinesis.SequenceNumber)
			}
			if !bytes.Equal(h.target.written[2].Data, ev.Records[2].Kinesis.Data) {
				t.Fatal("payload altered on the way")
			}
			if got := h.metricsOf(t).Values["CommitTimestampFallbacks"]; got != tt.wantFallbacks {
				t.Fatalf("got CommitTimestampFallbacks %v, want %v", got, tt.wantFallbacks)
			}
		})
	}
}

func TestHandleWritesToTheMappedStream(t *testing.T) {
	s, err := SettingsFromEnv(envOf(map[string]string{"TARGET_REGION": targetRegion, "STREAM_NAME_MAP": "orders=orders-replica"}))
	if err != nil {
		t.Fatal(err)
	}
	var gotStreams []string
	h := newHarness(t, s, usEast1Active())
	h.handler.target = streamRecorder{h.target, &gotStreams}
	h.handler.writer = putrecords.NewWriter(h.handler.target, putrecords.Options{})
	if _, err := h.handler.Handle(context.Background(), kinesisEvent(2, 1, t0)); err != nil {
		t.Fatal(err)
	}
	if len(gotStreams) == 0 || gotStreams[0] != "orders-replica" {
		t.Fatalf("got target streams %v, want orders-replica", gotStreams)
	}
}

// Lambda may deliver an earlier batch again after a later one was
// checkpointed (a retry racing a new poll): the checkpoint covers its
// records, so none is written again, the checkpoint stays where it is, and
// nothing is said of its age.
func TestHandleARedeliveredEarlierBatchIsLeftOutAndKeepsTheCheckpoint(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	later := kinesisEvent(10, 3, t0)
	if _, err := h.handler.Handle(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	h.emf.Reset()

	resp, err := h.handler.Handle(context.Background(), kinesisEvent(4, 3, t0))
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 0 {
		t.Fatalf("got batch item failures %v, want none: the records are in the target", got)
	}
	if got, want := h.cps.byShard(t)[testShard].LastSequenceNumber, later.Records[9].Kinesis.SequenceNumber; got != want {
		t.Fatalf("got checkpoint at %s, want it kept at the later batch's last record %s", got, want)
	}
	doc := h.metricsOf(t)
	if _, ok := doc.Values["CheckpointAgeSeconds"]; ok {
		t.Error("CheckpointAgeSeconds emitted although the checkpoint did not advance")
	}
	if got := doc.Values["ReplicatedRecords"]; got != 0 {
		t.Errorf("got ReplicatedRecords %v, want none written again", got)
	}
	if got := doc.Values["RedeliveredRecords"]; got != 4 {
		t.Errorf("got RedeliveredRecords %v, want the 4 records the checkpoint covers", got)
	}
	if got := len(h.target.written); got != 10 {
		t.Errorf("got %d records in the target, want the later batch's 10 and no copy", got)
	}
}

func TestHandleSurvivesACheckpointWriteFailure(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	h.cps.saveErrs = 1
	resp, err := h.handler.Handle(context.Background(), kinesisEvent(3, 1, t0))
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 0 {
		t.Fatalf("got batch item failures %v, want none: the records are in the target", got)
	}
	if _, ok := h.metricsOf(t).Values["CheckpointAgeSeconds"]; ok {
		t.Fatal("CheckpointAgeSeconds emitted although no checkpoint was saved")
	}
}

func TestHandleOutputIsLambdaJSON(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	h.target.fail = failSeq(1, "InternalFailure")
	h.handler.writer = putrecords.NewWriter(h.target, putrecords.Options{
		Sleep: func(ctx context.Context, _ time.Duration) error { return errors.New("no time left") },
	})
	ev := kinesisEvent(3, 3, t0)
	resp, err := h.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"batchItemFailures":[{"itemIdentifier":"` + ev.Records[1].Kinesis.SequenceNumber + `"}]}`
	if string(out) != want {
		t.Fatalf("got %s, want %s", out, want)
	}
}

func TestHandleStopsBeforeTheDeadlineAndAcknowledgesOnlyThePrefix(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	// Record 3 is throttled once; the backoff before its retry would end
	// after the Lambda deadline, so the invocation stops with it unwritten.
	h.target.fail = failSeq(3, "ProvisionedThroughputExceededException")
	h.handler.writer = putrecords.NewWriter(h.target, putrecords.Options{
		BaseBackoff: time.Hour, MaxBackoff: time.Hour, DeadlineMargin: time.Second,
		Jitter: func(max time.Duration) time.Duration { return max },
	})
	var logs bytes.Buffer
	h.handler.log = slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev := kinesisEvent(8, 8, t0)
	resp, err := h.handler.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	// The record handed back is named in the logs, with why.
	if !strings.Contains(logs.String(), `"msg":"records not written this time: handed back to the mapping, which delivers them again"`) ||
		!strings.Contains(logs.String(), `"sequenceNumbers":["`+ev.Records[3].Kinesis.SequenceNumber+`"`) ||
		!strings.Contains(logs.String(), "ProvisionedThroughputExceededException") {
		t.Errorf("the logs do not name record 3 and its error:\n%s", logs.String())
	}
	if got, want := failedIDs(resp), ev.Records[3].Kinesis.SequenceNumber; len(got) != 1 || got[0] != want {
		t.Fatalf("got batch item failures %v, want [%s]", got, want)
	}
	if got, want := h.cps.byShard(t)[testShard].LastSequenceNumber, ev.Records[2].Kinesis.SequenceNumber; got != want {
		t.Fatalf("got checkpoint at %s, want record 2 (%s)", got, want)
	}
	doc := h.metricsOf(t)
	if doc.Values["ThrottledRecords"] != 1 || doc.Values["FailedRecords"] != 1 || doc.Values["ReplicatedRecords"] != 7 || doc.Values["RejectedRecords"] != 0 {
		t.Fatalf("got throttled %v failed %v replicated %v, want 1, 1, 7",
			doc.Values["ThrottledRecords"], doc.Values["FailedRecords"], doc.Values["ReplicatedRecords"])
	}
}

func TestHandleHoldsTheFirstWritesAfterASwitchover(t *testing.T) {
	tests := []struct {
		name      string
		ago       time.Duration  // since us-east-1 took over from us-east-2
		visibleBy *time.Duration // recorded visibility of the switch, before now
		wantWait  time.Duration
	}{
		{"recorded visibility: the old Region's fence reads expire a TTL and a margin later", time.Second, durationPtr(1500 * time.Millisecond), 5*time.Second + activeregion.HoldMargin - 1500*time.Millisecond},
		{"visibility not recorded yet: measured from the read that showed the switch", time.Second, nil, 5*time.Second + activeregion.HoldMargin},
		{"a slow failover call stamped since early: the hold still runs from visibility", 30 * time.Second, durationPtr(time.Second), 5*time.Second + activeregion.HoldMargin - time.Second},
		{"switched long ago: no wait", time.Minute, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bareHarness(t0.Add(time.Hour))
			takeover := activeregion.Epoch{Region: sourceRegion, Since: h.now.Add(-tt.ago), Mode: activeregion.ModeDrain}
			if tt.visibleBy != nil {
				v := h.now.Add(-*tt.visibleBy)
				takeover.VisibleBy = &v
			}
			cfg := activeConfig(testStream, activeregion.Epoch{Region: targetRegion, Since: t0}, takeover)
			h.ddb.put(DefaultActiveRegionTable, cfg)
			var waited time.Duration
			h.handler = h.useDoubles(NewHandler(testSettings(), Clients{Target: h.target, DynamoDB: h.ddb, Fence: h.ddb},
				WithOutput(h.emf), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
				WithClock(func() time.Time { return h.now }),
				WithSleep(func(_ context.Context, d time.Duration) error { waited += d; h.now = h.now.Add(d); return nil }),
			))
			resp, err := h.handler.Handle(context.Background(), kinesisEvent(4, 2, h.now.Add(-tt.ago/2)))
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.BatchItemFailures) != 0 || len(h.target.written) != 4 {
				t.Fatalf("got failures %v and %d written, want none and 4", failedIDs(resp), len(h.target.written))
			}
			if waited != tt.wantWait {
				t.Fatalf("waited %v, want %v", waited, tt.wantWait)
			}
		})
	}
}

func durationPtr(d time.Duration) *time.Duration { return &d }

func TestHandleRetriesTheBatchWhenTheSwitchoverHoldOutlastsTheDeadline(t *testing.T) {
	now := time.Now()
	h := bareHarness(now)
	cfg := activeConfig(testStream,
		activeregion.Epoch{Region: targetRegion, Since: now.Add(-time.Hour)},
		activeregion.Epoch{Region: sourceRegion, Since: now.Add(-time.Second)},
	)
	h.ddb.put(DefaultActiveRegionTable, cfg)
	h.handler = h.useDoubles(NewHandler(testSettings(), Clients{Target: h.target, DynamoDB: h.ddb, Fence: h.ddb},
		WithOutput(h.emf), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
		WithClock(func() time.Time { return h.now }),
		WithSleep(func(context.Context, time.Duration) error { t.Fatal("slept although the hold cannot fit"); return nil }),
	))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ev := kinesisEvent(3, 1, now.Add(-500*time.Millisecond))
	resp, err := h.handler.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 1 || got[0] != ev.Records[0].Kinesis.SequenceNumber {
		t.Fatalf("got batch item failures %v, want the first record", got)
	}
	if h.target.requests() != 0 {
		t.Fatal("wrote during the switchover hold")
	}
	if got := h.metricsOf(t).Values["FailedRecords"]; got != 3 {
		t.Fatalf("got FailedRecords %v, want 3 handed back", got)
	}
}

func TestHandleDoesNotWaitForAHungMetricsMirror(t *testing.T) {
	s := testSettings()
	s.MetricsMirrorRegion = targetRegion
	h := bareHarness(t0.Add(time.Hour))
	h.ddb.put(DefaultActiveRegionTable, usEast1Active())
	hung := &metricstest.Mirror{Block: make(chan struct{})}
	defer close(hung.Block)
	h.handler = h.useDoubles(NewHandler(s, Clients{Target: h.target, DynamoDB: h.ddb, Mirror: hung},
		WithOutput(h.emf), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
		WithClock(func() time.Time { return h.now })))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := h.handler.Handle(ctx, kinesisEvent(5, 5, t0))
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Handle waited for the mirror until the deadline")
	}
	if len(resp.BatchItemFailures) != 0 || len(h.target.written) != 5 {
		t.Fatalf("got failures %v and %d written, want none and 5", failedIDs(resp), len(h.target.written))
	}
}

func TestHandleValidatesAgainstTheTargetStreamsRecordLimit(t *testing.T) {
	tests := []struct {
		name        string
		maxKiB      *int32
		wantWritten int
	}{
		{"default 1 MiB rejects a 1.5 MiB record", nil, 1},
		{"a stream raised to 2 MiB takes it", aws.Int32(2048), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testSettings(), usEast1Active())
			h.target.maxKiB = tt.maxKiB
			// Each invocation gets records of its own: the checkpoint
			// covers those an earlier one wrote.
			next := 0
			event := func() events.KinesisEvent {
				ev := laterRecords(kinesisEvent(3, 3, t0), next)
				ev.Records[1].Kinesis.Data = bytes.Repeat([]byte("x"), 3<<19)
				next += 3
				return ev
			}
			for range 2 {
				h.target.written = nil
				if _, err := h.handler.Handle(context.Background(), event()); err != nil {
					t.Fatal(err)
				}
			}
			if len(h.target.written) != tt.wantWritten {
				t.Fatalf("got %d records written, want %d", len(h.target.written), tt.wantWritten)
			}
			if h.target.describes != 1 {
				t.Fatalf("got %d DescribeStreamSummary calls over two invocations, want 1: the limit is read once", h.target.describes)
			}
			h.now = h.now.Add(recordLimitTTL)
			if _, err := h.handler.Handle(context.Background(), event()); err != nil {
				t.Fatal(err)
			}
			if h.target.describes != 2 {
				t.Fatalf("got %d DescribeStreamSummary calls, want 2: the limit is read again after %v", h.target.describes, recordLimitTTL)
			}
		})
	}
}

func TestHandleInInactiveRegionDoesNotReachTheTarget(t *testing.T) {
	cfg := activeConfig(testStream,
		activeregion.Epoch{Region: sourceRegion, Since: t0.Add(-48 * time.Hour)},
		activeregion.Epoch{Region: targetRegion, Since: t0.Add(-24 * time.Hour)},
	)
	h := newHarness(t, testSettings(), &cfg)
	if _, err := h.handler.Handle(context.Background(), kinesisEvent(4, 2, t0)); err != nil {
		t.Fatal(err)
	}
	if h.target.describes != 0 || h.target.requests() != 0 {
		t.Fatalf("got %d DescribeStreamSummary and %d PutRecords calls, want none", h.target.describes, h.target.requests())
	}
}

func TestHandleSupersedesTheBacklogOfAnEpochClosedInRewindMode(t *testing.T) {
	for _, tt := range []struct {
		mode        activeregion.Mode
		wantWritten int
	}{{activeregion.ModeRewind, 0}, {activeregion.ModeDrain, 3}} {
		t.Run(string(tt.mode), func(t *testing.T) {
			// us-east-1 was failed away from an hour after t0; the batch
			// arrived before that and was not replicated yet.
			cfg := activeConfig(testStream,
				activeregion.Epoch{Region: sourceRegion, Since: t0.Add(-time.Hour)},
				activeregion.Epoch{Region: targetRegion, Since: t0.Add(time.Hour), Mode: tt.mode},
			)
			h := newHarness(t, testSettings(), &cfg)
			h.now = t0.Add(2 * time.Hour)
			resp, err := h.handler.Handle(context.Background(), kinesisEvent(3, 2, t0))
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("got batch item failures %v, want the batch acknowledged", failedIDs(resp))
			}
			if got := len(h.target.written); got != tt.wantWritten {
				t.Fatalf("got %d records written, want %d", got, tt.wantWritten)
			}
			doc := h.metricsOf(t)
			if want := float64(3 - tt.wantWritten); doc.Values["SupersededRecords"] != want {
				t.Errorf("got SupersededRecords %v, want %v", doc.Values["SupersededRecords"], want)
			}
			if cps := h.cps.byShard(t); tt.wantWritten == 0 && len(cps) != 0 {
				t.Errorf("got checkpoints %v, want none: nothing superseded is in the target", cps)
			}
		})
	}
}

// A write lease ends TTL+grace after the fence read: a record still
// unwritten then is handed back, not sent, so a switchover bounds when the
// old Region's writes stop.
func TestHandleStopsWritingWhenTheWriteLeaseEnds(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	h.target.fail = failSeq(1, "ProvisionedThroughputExceededException")
	h.handler.writer = putrecords.NewWriter(h.target, putrecords.Options{
		BaseBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second,
		Jitter: func(max time.Duration) time.Duration { return max },
		Sleep:  func(ctx context.Context, d time.Duration) error { h.now = h.now.Add(d); return ctx.Err() },
		Now:    func() time.Time { return h.now },
	})
	ev := kinesisEvent(3, 3, t0)
	resp, err := h.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failedIDs(resp), ev.Records[1].Kinesis.SequenceNumber; len(got) != 1 || got[0] != want {
		t.Fatalf("got batch item failures %v, want [%s]", got, want)
	}
	if got := h.target.requests(); got != 1 {
		t.Errorf("got %d requests, want 1: the retry would start after the lease", got)
	}
}

// slowFence is the target Region's replica answering a fence read only after
// the read used up most of its lease, as when that Region heals from a hang.
type slowFence struct {
	*fakeDynamoDB
	h    *harness
	took time.Duration
}

func (f slowFence) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := f.fakeDynamoDB.GetItem(ctx, in, opts...)
	f.h.now = f.h.now.Add(f.took)
	return out, err
}

func TestHandleWritesNothingUnderALeaseThatIsAlmostOver(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	// TTL 5s + grace 2s = a 7s lease; the read took 6.5s of it.
	h.handler = h.useDoubles(NewHandler(testSettings(), Clients{Target: h.target, DynamoDB: h.ddb, Fence: slowFence{h.ddb, h, 6500 * time.Millisecond}},
		WithOutput(h.emf), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
		WithClock(func() time.Time { return h.now })))
	ev := kinesisEvent(3, 3, t0)
	resp, err := h.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 1 || got[0] != ev.Records[0].Kinesis.SequenceNumber {
		t.Fatalf("got batch item failures %v, want the first record: retried on a fresh fence", got)
	}
	if h.target.requests() != 0 {
		t.Errorf("got %d requests, want none with under a second of lease left", h.target.requests())
	}
}

// slowDescribeTarget is a target Region whose DescribeStreamSummary (read
// for the record size limit) answers 20 s late, as a slow or healing Region
// does.
type slowDescribeTarget struct {
	*fakeTarget
	h *harness
}

func (f slowDescribeTarget) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, o ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	f.h.now = f.h.now.Add(20 * time.Second)
	return f.fakeTarget.DescribeStreamSummary(ctx, in, o...)
}

// A slow call between the decision and the writes must not carry the writes
// past the lease: what is left of it is taken after that call.
func TestHandleStartsNoWriteAfterTheLeaseWhenTheRecordLimitReadIsSlow(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	h.handler = h.useDoubles(NewHandler(testSettings(), Clients{Target: slowDescribeTarget{h.target, h}, DynamoDB: h.ddb, Fence: h.ddb},
		WithOutput(h.emf), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
		WithClock(func() time.Time { return h.now })))
	ev := kinesisEvent(3, 3, t0)
	resp, err := h.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if h.target.requests() != 0 {
		t.Errorf("got %d PutRecords after a 20s record-limit read, want none: the 7s lease had ended", h.target.requests())
	}
	if got := failedIDs(resp); len(got) != 1 || got[0] != ev.Records[0].Kinesis.SequenceNumber {
		t.Errorf("got batch item failures %v, want the batch handed back", got)
	}
}

// The target's record size limit and shard map are read beside the fence
// read, in the background, and only a batch that depends on the limit (a
// record over 1 MiB) waits for it.
func TestHandleReadsTheTargetsLimitsBesideTheFence(t *testing.T) {
	standby := activeConfig(testStream,
		activeregion.Epoch{Region: sourceRegion, Since: t0.Add(-48 * time.Hour)},
		activeregion.Epoch{Region: targetRegion, Since: t0.Add(-24 * time.Hour)},
	)
	tests := []struct {
		name          string
		cfg           *activeregion.Config
		bigRecord     bool
		wantWritten   int
		wantDescribes int // during the invocation
		// wantQueued is the reads left to the background: the fence read
		// starts the record limit's and the shard listing's.
		wantQueued int
	}{
		{name: "records up to 1 MiB do not wait for the limit", cfg: usEast1Active(), wantWritten: 3, wantQueued: 2},
		{name: "a record over 1 MiB waits for it", cfg: usEast1Active(), bigRecord: true, wantWritten: 3, wantDescribes: 1, wantQueued: 2},
		{name: "a standby reads nothing in the target", cfg: &standby},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testSettings(), tt.cfg)
			h.target.maxKiB = aws.Int32(2048)
			var queued []func()
			h.handler.async = func(f func()) { queued = append(queued, f) }
			ev := kinesisEvent(3, 3, t0)
			if tt.bigRecord {
				ev.Records[1].Kinesis.Data = bytes.Repeat([]byte("x"), 3<<19)
			}
			if _, err := h.handler.Handle(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			if got := len(h.target.written); got != tt.wantWritten {
				t.Fatalf("got %d records written, want %d", got, tt.wantWritten)
			}
			if h.target.describes != tt.wantDescribes {
				t.Fatalf("got %d DescribeStreamSummary calls during the invocation, want %d", h.target.describes, tt.wantDescribes)
			}
			if len(queued) != tt.wantQueued {
				t.Fatalf("got %d reads left to the background, want %d", len(queued), tt.wantQueued)
			}
			if tt.wantQueued == 0 {
				return
			}
			for _, f := range queued {
				f()
			}
			// The read started beside the fence read, the one the batch
			// did not wait for (or did not need).
			if want := tt.wantDescribes + 1; h.target.describes != want {
				t.Fatalf("got %d DescribeStreamSummary calls once the background ran, want %d", h.target.describes, want)
			}
			h.handler.limitsMu.Lock()
			got := h.handler.limits[testStream].bytes
			h.handler.limitsMu.Unlock()
			if got != 2048<<10 {
				t.Fatalf("got a cached limit of %d bytes, want the stream's %d", got, 2048<<10)
			}
		})
	}
}
