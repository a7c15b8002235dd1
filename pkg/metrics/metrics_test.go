package metrics

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/metrics/metricstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var fixedNow = time.Date(2022, 7, 18, 20, 0, 0, 123_000_000, time.UTC)

func fixedClock() time.Time { return fixedNow }

// full measures everything, with distinct values so that a value written
// under the wrong name shows.
func full() Invocation {
	return Invocation{
		Stream:                   "orders",
		ReplicatedRecords:        500,
		ReplicatedBytes:          1048576,
		SkippedRecords:           3,
		SupersededRecords:        5,
		FailedRecords:            2,
		RejectedRecords:          1,
		ResentRecords:            7,
		ThrottledRecords:         11,
		RedeliveredRecords:       17,
		CommitTimestampFallbacks: 13,
		ReplicationLagSeconds:    Seconds(0.25),
		MaxRecordAgeSeconds:      Seconds(1.5),
		CheckpointAgeSeconds:     Seconds(42),
	}
}

func TestEmitWritesTheGoldenEMFDocument(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		opts   []Option
	}{
		{"StreamName only", "emit_full.golden.json", nil},
		{"with SourceRegion", "emit_full_source_region.golden.json", []Option{WithSourceRegion("us-east-1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			e := NewEmitter(&out, "", append([]Option{WithClock(fixedClock)}, tt.opts...)...)
			if err := e.Emit(t.Context(), full()); err != nil {
				t.Fatalf("Emit: got error %v, want nil", err)
			}
			golden := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (go test -update writes it): %v", err)
			}
			if got := out.String(); got != string(want) {
				t.Errorf("Emit wrote\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestEmitWithSourceRegionDeclaresBothDimensionSets: every series is
// published under [StreamName] and [StreamName, SourceRegion], the latter
// being what keeps the two Regions' series apart (docs/reference.md, Metrics).
func TestEmitWithSourceRegionDeclaresBothDimensionSets(t *testing.T) {
	var out bytes.Buffer
	e := NewEmitter(&out, "", WithClock(fixedClock), WithSourceRegion("eu-west-1"))
	if err := e.Emit(t.Context(), full()); err != nil {
		t.Fatal(err)
	}
	doc, err := metricstest.Parse(out.Bytes())
	if err != nil {
		t.Fatalf("Parse: got error %v on %s", err, out.Bytes())
	}
	want := [][]string{{StreamNameDimension}, {StreamNameDimension, SourceRegionDimension}}
	if !slices.EqualFunc(doc.Dimensions, want, slices.Equal[[]string]) {
		t.Errorf("dimensions: got %v, want %v", doc.Dimensions, want)
	}
	if doc.Stream != "orders" || doc.SourceRegion != "eu-west-1" {
		t.Errorf("dimension values: got StreamName %q, SourceRegion %q, want orders, eu-west-1", doc.Stream, doc.SourceRegion)
	}
	if len(doc.Values) != 13 {
		t.Errorf("got %d values, want all 13 metrics", len(doc.Values))
	}
}

// TestMirrorSendsOnlyUnderStreamNameAndSourceRegion: a mirrored datum
// carries both dimensions, so it never lands in the other Region's own
// StreamName series.
func TestMirrorSendsOnlyUnderStreamNameAndSourceRegion(t *testing.T) {
	mirror := &metricstest.Mirror{}
	var out bytes.Buffer
	e := NewEmitter(&out, "", WithClock(fixedClock), WithSourceRegion("us-east-1"), WithMirror(mirror, "us-east-2"))
	if err := e.Emit(t.Context(), full()); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: got %v, want nil", err)
	}
	calls := mirror.Calls()
	if len(calls) != 1 {
		t.Fatalf("got %d PutMetricData calls, want 1", len(calls))
	}
	if got := len(calls[0].MetricData); got != 13 {
		t.Errorf("got %d metric data, want 13", got)
	}
	for _, d := range calls[0].MetricData {
		got := dimensionStrings(d.Dimensions)
		if want := []string{"StreamName=orders", "SourceRegion=us-east-1"}; !slices.Equal(got, want) {
			t.Errorf("%s: got dimensions %v, want %v", aws.ToString(d.MetricName), got, want)
		}
	}
}

func TestEmitDocumentDeclaresEveryMetricWithItsUnit(t *testing.T) {
	var out bytes.Buffer
	if err := NewEmitter(&out, "Custom/NS", WithClock(fixedClock)).Emit(t.Context(), full()); err != nil {
		t.Fatal(err)
	}
	doc, err := metricstest.Parse(out.Bytes())
	if err != nil {
		t.Fatalf("Parse: got error %v on %s", err, out.Bytes())
	}
	if doc.Namespace != "Custom/NS" {
		t.Errorf("namespace: got %q, want %q", doc.Namespace, "Custom/NS")
	}
	if doc.Stream != "orders" {
		t.Errorf("stream: got %q, want %q", doc.Stream, "orders")
	}
	if len(doc.Dimensions) != 1 || len(doc.Dimensions[0]) != 1 || doc.Dimensions[0][0] != StreamNameDimension {
		t.Errorf("dimensions: got %v, want [[%s]]", doc.Dimensions, StreamNameDimension)
	}
	if !doc.Timestamp.Equal(fixedNow.Truncate(time.Millisecond)) {
		t.Errorf("timestamp: got %v, want %v", doc.Timestamp, fixedNow)
	}
	want := map[string]struct {
		value float64
		unit  string
	}{
		ReplicatedRecords:        {500, "Count"},
		ReplicatedBytes:          {1048576, "Bytes"},
		ReplicationLagSeconds:    {0.25, "Seconds"},
		MaxRecordAgeSeconds:      {1.5, "Seconds"},
		SkippedRecords:           {3, "Count"},
		SupersededRecords:        {5, "Count"},
		FailedRecords:            {2, "Count"},
		RejectedRecords:          {1, "Count"},
		ResentRecords:            {7, "Count"},
		ThrottledRecords:         {11, "Count"},
		RedeliveredRecords:       {17, "Count"},
		CommitTimestampFallbacks: {13, "Count"},
		CheckpointAgeSeconds:     {42, "Seconds"},
	}
	if len(doc.Values) != len(want) {
		t.Errorf("got %d metrics %v, want %d", len(doc.Values), doc.Values, len(want))
	}
	for name, w := range want {
		if got := doc.Values[name]; got != w.value {
			t.Errorf("%s: got value %v, want %v", name, got, w.value)
		}
		if got := doc.Units[name]; got != w.unit {
			t.Errorf("%s: got unit %q, want %q", name, got, w.unit)
		}
	}
}

func TestEmitLeavesOutUnmeasuredGauges(t *testing.T) {
	gauges := []string{ReplicationLagSeconds, MaxRecordAgeSeconds, CheckpointAgeSeconds}
	tests := []struct {
		name    string
		modify  func(*Invocation)
		present []string
	}{
		{"all measured", func(*Invocation) {}, gauges},
		{"no lag", func(inv *Invocation) { inv.ReplicationLagSeconds = nil }, []string{MaxRecordAgeSeconds, CheckpointAgeSeconds}},
		{"no record age", func(inv *Invocation) { inv.MaxRecordAgeSeconds = nil }, []string{ReplicationLagSeconds, CheckpointAgeSeconds}},
		{"no checkpoint age", func(inv *Invocation) { inv.CheckpointAgeSeconds = nil }, []string{ReplicationLagSeconds, MaxRecordAgeSeconds}},
		{"none measured", func(inv *Invocation) {
			inv.ReplicationLagSeconds, inv.MaxRecordAgeSeconds, inv.CheckpointAgeSeconds = nil, nil, nil
		}, nil},
		{"zero is measured", func(inv *Invocation) { inv.ReplicationLagSeconds = Seconds(0) }, gauges},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := full()
			tt.modify(&inv)
			var out bytes.Buffer
			if err := NewEmitter(&out, "", WithClock(fixedClock)).Emit(t.Context(), inv); err != nil {
				t.Fatal(err)
			}
			doc, err := metricstest.Parse(out.Bytes())
			if err != nil {
				t.Fatalf("Parse: got error %v on %s", err, out.Bytes())
			}
			for _, g := range gauges {
				_, got := doc.Values[g]
				want := slices.Contains(tt.present, g)
				if got != want {
					t.Errorf("%s declared: got %v, want %v", g, got, want)
				}
				if !want && strings.Contains(out.String(), `"`+g+`"`) {
					t.Errorf("%s: got it in the line %s, want it absent", g, out.Bytes())
				}
			}
			if got := doc.Values[ReplicatedRecords]; got != 500 {
				t.Errorf("%s: got %v, want 500 (counts always present)", ReplicatedRecords, got)
			}
		})
	}
}

func TestEmitPublishesZeroCounts(t *testing.T) {
	var out bytes.Buffer
	if err := NewEmitter(&out, "").Emit(t.Context(), Invocation{Stream: "s1"}); err != nil {
		t.Fatal(err)
	}
	doc, err := metricstest.Parse(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ReplicatedRecords, ReplicatedBytes, SkippedRecords, SupersededRecords, FailedRecords, RejectedRecords, ResentRecords, ThrottledRecords, CommitTimestampFallbacks} {
		v, ok := doc.Values[name]
		if !ok || v != 0 {
			t.Errorf("%s: got %v (present %v), want 0 present", name, v, ok)
		}
	}
	if doc.Namespace != DefaultNamespace {
		t.Errorf("namespace: got %q, want %q", doc.Namespace, DefaultNamespace)
	}
}

func TestEmitRejectsBadInvocations(t *testing.T) {
	tests := []struct {
		name       string
		inv        Invocation
		wantErr    string
		wantLine   bool
		wantAbsent string
	}{
		{"empty stream name", Invocation{ReplicatedRecords: 1}, "empty stream name", false, ""},
		{"NaN lag", Invocation{Stream: "s1", ReplicatedRecords: 1, ReplicationLagSeconds: Seconds(math.NaN())}, "ReplicationLagSeconds", true, ReplicationLagSeconds},
		{"infinite checkpoint age", Invocation{Stream: "s1", ReplicatedRecords: 1, CheckpointAgeSeconds: Seconds(math.Inf(1))}, "CheckpointAgeSeconds", true, CheckpointAgeSeconds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := NewEmitter(&out, "").Emit(t.Context(), tt.inv)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Emit: got error %v, want one mentioning %q", err, tt.wantErr)
			}
			if !tt.wantLine {
				if out.Len() != 0 {
					t.Errorf("Emit wrote %q, want nothing", out.String())
				}
				return
			}
			doc, err := metricstest.Parse(out.Bytes())
			if err != nil {
				t.Fatalf("Parse: got error %v on %s, want the other metrics still written", err, out.Bytes())
			}
			if _, ok := doc.Values[tt.wantAbsent]; ok {
				t.Errorf("%s: got it declared, want it left out", tt.wantAbsent)
			}
			if got := doc.Values[ReplicatedRecords]; got != 1 {
				t.Errorf("%s: got %v, want 1", ReplicatedRecords, got)
			}
		})
	}
}

func TestEmitReportsWriteFailure(t *testing.T) {
	e := NewEmitter(failingWriter{}, "")
	err := e.Emit(t.Context(), Invocation{Stream: "s1"})
	if !errors.Is(err, errDiskFull) {
		t.Errorf("Emit: got %v, want it to wrap %v", err, errDiskFull)
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// countingWriter records each Write separately, to see that a line is
// never split across calls.
type countingWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestConcurrentEmitsWriteWholeLines(t *testing.T) {
	const goroutines, perGoroutine = 8, 50
	var shared bytes.Buffer // not safe for concurrent use: the Emitter must serialise
	e := NewEmitter(&shared, "")
	counting := &countingWriter{}
	other := NewEmitter(counting, "")

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				inv := Invocation{Stream: fmt.Sprintf("stream-%d", g), ReplicatedRecords: i, ReplicationLagSeconds: Seconds(float64(i))}
				if err := e.Emit(context.Background(), inv); err != nil {
					t.Errorf("Emit: %v", err)
				}
				if err := other.Emit(context.Background(), inv); err != nil {
					t.Errorf("Emit: %v", err)
				}
			}
		})
	}
	wg.Wait()

	docs, err := metricstest.ParseLines(shared.Bytes())
	if err != nil {
		t.Fatalf("ParseLines: got error %v, want only whole EMF lines", err)
	}
	if got, want := len(docs), goroutines*perGoroutine; got != want {
		t.Fatalf("got %d EMF lines, want %d", got, want)
	}
	seen := map[string]int{}
	for _, d := range docs {
		if d.Values[ReplicatedRecords] != d.Values[ReplicationLagSeconds] {
			t.Errorf("line of %s mixes invocations: records %v, lag %v", d.Stream, d.Values[ReplicatedRecords], d.Values[ReplicationLagSeconds])
		}
		seen[d.Stream]++
	}
	for g := range goroutines {
		if got := seen[fmt.Sprintf("stream-%d", g)]; got != perGoroutine {
			t.Errorf("stream-%d: got %d lines, want %d", g, got, perGoroutine)
		}
	}
	if got, want := len(counting.writes), goroutines*perGoroutine; got != want {
		t.Fatalf("got %d Write calls, want %d (one per line)", got, want)
	}
	for _, w := range counting.writes {
		if bytes.Count(w, []byte("\n")) != 1 || w[len(w)-1] != '\n' {
			t.Fatalf("got Write of %q, want exactly one newline-terminated line", w)
		}
	}
}

func TestMirrorSendsTheSameValues(t *testing.T) {
	mirror := &metricstest.Mirror{}
	var out bytes.Buffer
	e := NewEmitter(&out, "KinesisReplication", WithClock(fixedClock), WithMirror(mirror, "us-east-2"))
	inv := full()
	inv.MaxRecordAgeSeconds = nil
	if err := e.Emit(t.Context(), inv); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: got %v, want nil", err)
	}
	calls := mirror.Calls()
	if len(calls) != 1 {
		t.Fatalf("got %d PutMetricData calls, want 1", len(calls))
	}
	in := calls[0]
	if got := aws.ToString(in.Namespace); got != "KinesisReplication" {
		t.Errorf("namespace: got %q, want KinesisReplication", got)
	}
	doc, err := metricstest.Parse(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(in.MetricData) != len(doc.Values) {
		t.Errorf("got %d metric data, want %d as in the EMF line", len(in.MetricData), len(doc.Values))
	}
	for _, d := range in.MetricData {
		name := aws.ToString(d.MetricName)
		want, ok := doc.Values[name]
		if !ok {
			t.Errorf("%s: mirrored but not in the EMF line", name)
			continue
		}
		if got := aws.ToFloat64(d.Value); got != want {
			t.Errorf("%s: got value %v, want %v", name, got, want)
		}
		if got := string(d.Unit); got != doc.Units[name] {
			t.Errorf("%s: got unit %q, want %q", name, got, doc.Units[name])
		}
		if len(d.Dimensions) != 1 || aws.ToString(d.Dimensions[0].Name) != StreamNameDimension || aws.ToString(d.Dimensions[0].Value) != "orders" {
			t.Errorf("%s: got dimensions %v, want StreamName=orders", name, dimensionStrings(d.Dimensions))
		}
		if d.Timestamp == nil || !d.Timestamp.Equal(fixedNow) {
			t.Errorf("%s: got timestamp %v, want %v", name, d.Timestamp, fixedNow)
		}
	}
	if _, ok := doc.Values[MaxRecordAgeSeconds]; ok {
		t.Errorf("%s: got it in the EMF line, want it left out", MaxRecordAgeSeconds)
	}
}

func dimensionStrings(dims []types.Dimension) []string {
	var s []string
	for _, d := range dims {
		s = append(s, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
	}
	return s
}

func TestMirrorFailureIsReportedByFlushNotEmit(t *testing.T) {
	errThrottled := errors.New("throttled")
	mirror := &metricstest.Mirror{Err: errThrottled}
	var logs bytes.Buffer
	e := NewEmitter(&bytes.Buffer{}, "", WithMirror(mirror, "us-east-2"),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err := e.Emit(t.Context(), Invocation{Stream: "s1"}); err != nil {
		t.Fatalf("Emit: got %v, want nil despite the mirror failing", err)
	}
	err := e.Flush(t.Context())
	if !errors.Is(err, errThrottled) {
		t.Fatalf("Flush: got %v, want it to wrap %v", err, errThrottled)
	}
	if !strings.Contains(err.Error(), "us-east-2") || !strings.Contains(err.Error(), `"s1"`) {
		t.Errorf("Flush: got %q, want it to name the Region and the stream", err)
	}
	if !strings.Contains(logs.String(), "metrics mirror failed") {
		t.Errorf("log: got %q, want the failure logged", logs.String())
	}
	if err := e.Flush(t.Context()); err != nil {
		t.Errorf("second Flush: got %v, want nil (failures are reported once)", err)
	}
}

func TestFlushHonoursContext(t *testing.T) {
	block := make(chan struct{})
	mirror := &metricstest.Mirror{Block: block}
	e := NewEmitter(&bytes.Buffer{}, "", WithMirror(mirror, "us-east-2"))
	if err := e.Emit(t.Context(), Invocation{Stream: "s1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := e.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Flush with a cancelled context: got %v, want context.Canceled", err)
	}
	close(block)
	if err := e.Flush(t.Context()); err != nil {
		t.Errorf("Flush after the send ended: got %v, want nil", err)
	}
	if got := len(mirror.Calls()); got != 1 {
		t.Errorf("got %d PutMetricData calls, want 1", got)
	}
}

func TestMirrorOutlivesTheInvocationContext(t *testing.T) {
	block := make(chan struct{})
	mirror := &metricstest.Mirror{Block: block}
	e := NewEmitter(&bytes.Buffer{}, "", WithMirror(mirror, "us-east-2"))
	ctx, cancel := context.WithCancel(t.Context())
	if err := e.Emit(ctx, Invocation{Stream: "s1"}); err != nil {
		t.Fatal(err)
	}
	cancel() // the invocation returns; its mirror send must go on
	close(block)
	if err := e.Flush(t.Context()); err != nil {
		t.Errorf("Flush: got %v, want nil: the send must not see the invocation's cancellation", err)
	}
}

func TestMirrorTimeoutEndsAHungSend(t *testing.T) {
	mirror := &metricstest.Mirror{Block: make(chan struct{})} // never released
	e := NewEmitter(&bytes.Buffer{}, "", WithMirror(mirror, "us-east-2"), WithMirrorTimeout(time.Millisecond))
	if err := e.Emit(t.Context(), Invocation{Stream: "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(t.Context()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush: got %v, want the send's context.DeadlineExceeded", err)
	}
}

func TestFlushWithoutMirrorReturnsAtOnce(t *testing.T) {
	e := NewEmitter(&bytes.Buffer{}, "")
	if err := e.Emit(t.Context(), Invocation{Stream: "s1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := e.Flush(ctx); err != nil {
		t.Errorf("Flush: got %v, want nil with nothing in flight", err)
	}
}

func TestNumbersAreWrittenAsJSONNumbers(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{500, "500"},
		{1048576, "1048576"},
		{123456789012, "123456789012"},
		{0.25, "0.25"},
		{-3.5, "-3.5"},
		{1e-9, "1e-09"},
		{1e21, "1e+21"},
	}
	for _, tt := range tests {
		if got := string(appendNumber(nil, tt.in)); got != tt.want {
			t.Errorf("appendNumber(%v): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNamespaceAndStreamAreEscapedInJSON(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
	}{
		{"plain", "KinesisReplication"},
		{"slash", "Team/Replication"},
		{"quote and backslash", `odd"name\x`},
		{"non-ASCII", "Réplication"},
		{"HTML characters", "a<b>&c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := NewEmitter(&out, tt.namespace).Emit(t.Context(), Invocation{Stream: "s1"}); err != nil {
				t.Fatal(err)
			}
			doc, err := metricstest.Parse(out.Bytes())
			if err != nil {
				t.Fatalf("Parse: got error %v on %s", err, out.Bytes())
			}
			if doc.Namespace != tt.namespace {
				t.Errorf("namespace: got %q, want %q", doc.Namespace, tt.namespace)
			}
		})
	}
}

// Sending each invocation's values made every invocation wait a round trip
// to the other Region: the mirror gathers them for the interval and sends
// them in one request, losing none and never more than a request takes.
func TestMirrorGathersInvocationsForTheInterval(t *testing.T) {
	tests := []struct {
		name string
		// emits are the times of the invocations, from fixedNow.
		emits     []time.Duration
		streams   int // invocations cycle over this many streams
		wantSends []int
	}{
		{"the first values go at once", []time.Duration{0}, 1, []int{13}},
		{"values within the interval wait for the next send", []time.Duration{0, time.Second, 5 * time.Second}, 1, []int{13}},
		{"a send once the interval has passed takes everything gathered", []time.Duration{0, time.Second, 5 * time.Second, 10 * time.Second}, 2, []int{13, 39}},
		{"no request over 1,000 values", burst(100), 3, []int{13, 1000, 287}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mirror := &metricstest.Mirror{}
			var now time.Time
			e := NewEmitter(io.Discard, "", WithClock(func() time.Time { return now }), WithMirror(mirror, "us-east-2"), WithMirrorInterval(10*time.Second))
			for i, at := range tt.emits {
				now = fixedNow.Add(at)
				inv := full()
				inv.Stream = fmt.Sprintf("s%d", i%tt.streams)
				if err := e.Emit(t.Context(), inv); err != nil {
					t.Fatal(err)
				}
				if err := e.Flush(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			var sends []int
			for _, c := range mirror.Calls() {
				sends = append(sends, len(c.MetricData))
			}
			if !slices.Equal(sends, tt.wantSends) {
				t.Errorf("got sends of %v values, want %v", sends, tt.wantSends)
			}
		})
	}
}

// burst is n invocation times 100 ms apart, the last one an interval after
// the send their values fill before it.
func burst(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i) * 100 * time.Millisecond
	}
	out[n-1] = 20 * time.Second
	return out
}
