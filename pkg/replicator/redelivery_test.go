package replicator

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/putrecords"
)

// slowShard is a target whose every PutRecords takes perCall on the
// handler's clock and answers each entry as refuse says (an error code, or
// "" for written), and whose call number killOn is where the invocation
// dies: that call's records reach the stream, its answer never comes back,
// and the invocation's context is cancelled, as when Lambda's sandbox
// crashes mid-batch, once beforeKill returns.
type slowShard struct {
	*fakeTarget
	perCall time.Duration
	// refuse answers the n-th entry (from 1) of call number call (from 1)
	// carrying data.
	refuse     func(call, n int, data string) string
	killOn     int
	beforeKill func()
	kill       context.CancelFunc

	mu    sync.Mutex
	now   time.Time
	calls int
}

func (s *slowShard) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *slowShard) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	s.mu.Lock()
	s.now = s.now.Add(s.perCall)
	s.calls++
	call := s.calls
	s.mu.Unlock()
	n := 0
	s.fakeTarget.mu.Lock()
	s.fakeTarget.fail = func(e kintypes.PutRecordsRequestEntry) string {
		n++
		return s.refuse(call, n, string(e.Data))
	}
	s.fakeTarget.mu.Unlock()
	out, err := s.fakeTarget.PutRecords(ctx, in, opts...)
	if call == s.killOn {
		s.beforeKill()
		s.kill()
		return nil, context.Canceled
	}
	return out, err
}

// copies counts the target's copies of each record by data.
func (s *slowShard) copies() map[string]int {
	s.fakeTarget.mu.Lock()
	defer s.fakeTarget.mu.Unlock()
	out := map[string]int{}
	for _, w := range s.fakeTarget.written {
		out[string(w.Data)]++
	}
	return out
}

// An invocation killed mid-batch leaves its redelivery only what it wrote
// in the round it died in: 12 records over 12 keys, calls of 300 ms, the
// invocation killed in call killOn, whose records are written but whose
// answer is lost. Without the progress checkpoints the redelivery writes
// all 12 again; without leaving out what the checkpoint covers, too.
func TestARedeliveryAfterAKilledInvocationWritesOnlyWhatWasNotCheckpointed(t *testing.T) {
	ev := kinesisEvent(12, 12, t0)
	data := func(i int) string { return string(ev.Records[i].Kinesis.Data) }
	tests := []struct {
		name   string
		refuse func(call, n int, data string) string
		killOn int
		// wantCheckpoint is the record the checkpoint names after the kill;
		// twice the records written by the killed call and again.
		wantCheckpoint   int
		twice            []int
		wantRedelivered  float64
		wantBeyondPlaces int
	}{
		{
			name: "four admitted per call: the prefix grows call by call",
			refuse: func(_, n int, _ string) string {
				if n > 4 {
					return "ProvisionedThroughputExceededException"
				}
				return ""
			},
			killOn: 3, wantCheckpoint: 7, twice: []int{8, 9, 10, 11}, wantRedelivered: 8,
		},
		{
			name: "record 2 failed in the first call: what followed it is named beyond the prefix",
			refuse: func(call, _ int, d string) string {
				if call == 1 && d == data(2) {
					return "InternalFailure"
				}
				return ""
			},
			killOn: 2, wantCheckpoint: 1, twice: []int{2}, wantRedelivered: 11, wantBeyondPlaces: 9,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bareHarness(t0.Add(time.Hour))
			s := testSettings()
			h.ddb.put(s.ActiveRegionTable, usEast1Active())
			target := &slowShard{fakeTarget: h.target, perCall: 300 * time.Millisecond, refuse: tt.refuse, killOn: tt.killOn, now: h.now}
			h.handler = h.useDoubles(NewHandler(s, Clients{Target: target, DynamoDB: h.ddb, Fence: h.ddb},
				WithOutput(h.emf),
				WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
				WithClock(target.clock),
				WithWriterOptions(putrecords.Options{
					Sleep:       func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
					Jitter:      func(time.Duration) time.Duration { return 0 },
					Concurrency: 1,
				}),
			))

			ctx, kill := context.WithCancel(context.Background())
			target.kill = kill
			// Progress is saved off the writer's goroutine: the kill
			// comes once the save of the last round before it landed.
			target.beforeKill = func() {
				want := ev.Records[tt.wantCheckpoint].Kinesis.SequenceNumber
				for range 5000 {
					cp, ok, _ := h.cps.Store.Get(context.Background(), testStream, sourceRegion, testShard)
					if ok && cp.LastSequenceNumber == want && cp.WrittenBeyond.Named() == tt.wantBeyondPlaces {
						return
					}
					time.Sleep(time.Millisecond)
				}
				t.Error("the progress checkpoint before the kill was never saved")
			}
			_, _ = h.handler.Handle(ctx, ev) // dead: the mapping never sees its answer
			cp := h.cps.byShard(t)[testShard]
			if got, want := cp.LastSequenceNumber, ev.Records[tt.wantCheckpoint].Kinesis.SequenceNumber; got != want {
				t.Fatalf("after the kill: got checkpoint %s, want record %d's %s", got, tt.wantCheckpoint, want)
			}
			if got := cp.WrittenBeyond.Named(); got != tt.wantBeyondPlaces {
				t.Fatalf("after the kill: the checkpoint names %d records beyond its prefix, want %d", got, tt.wantBeyondPlaces)
			}

			h.emf.Reset()
			resp, err := h.handler.Handle(context.Background(), ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("redelivery: got failures %v, error %v, want none", failedIDs(resp), err)
			}
			copies := target.copies()
			for i := range ev.Records {
				want := 1
				if slices.Contains(tt.twice, i) {
					want = 2
				}
				if got := copies[data(i)]; got != want {
					t.Errorf("record %d: got %d copies, want %d", i, got, want)
				}
			}
			if got := h.metricsOf(t).Values["RedeliveredRecords"]; got != tt.wantRedelivered {
				t.Errorf("got RedeliveredRecords %v, want %v", got, tt.wantRedelivered)
			}
			cp = h.cps.byShard(t)[testShard]
			if got, want := cp.LastSequenceNumber, ev.Records[11].Kinesis.SequenceNumber; got != want || cp.WrittenBeyond != nil {
				t.Errorf("got checkpoint %s naming %+v beyond, want the batch's last record %s and nothing beyond", got, cp.WrittenBeyond, want)
			}
		})
	}
}

// Every batch with records to replicate reads its shard's checkpoint, so a
// retry on any instance leaves out what an earlier one wrote; a batch this
// Region only skips reads nothing.
func TestHandleReadsTheCheckpointOfEveryBatchItReplicates(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	for i, tc := range []struct {
		first     int
		wantReads int
	}{
		{0, 1},
		{4, 2},
		{8, 3},
		{10, 4}, // a retry from inside the last batch, 2 records past it
		{14, 5},
	} {
		ev := laterRecords(kinesisEvent(4, 2, t0), tc.first)
		if _, err := h.handler.Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		h.cps.mu.Lock()
		got := h.cps.gets
		h.cps.mu.Unlock()
		if got != tc.wantReads {
			t.Fatalf("batch %d (from record %d): got %d checkpoint reads in all, want %d", i, tc.first, got, tc.wantReads)
		}
	}
	if got := len(h.target.written); got != 4+4+4+2+4 {
		t.Errorf("got %d records written, want 18: the retry writes only its 2 records after the checkpoint", got)
	}

	standby := activeConfig(testStream,
		activeregion.Epoch{Region: sourceRegion, Since: t0.Add(-48 * time.Hour)},
		activeregion.Epoch{Region: targetRegion, Since: t0.Add(-24 * time.Hour)},
	)
	h = newHarness(t, testSettings(), &standby)
	if _, err := h.handler.Handle(context.Background(), kinesisEvent(4, 2, t0)); err != nil {
		t.Fatal(err)
	}
	if h.cps.gets != 0 {
		t.Errorf("a standby batch read the checkpoint %d times, want none", h.cps.gets)
	}
}

// A batch whose checkpoint cannot be read writes nothing: written without
// it, records the checkpoint names beyond its prefix could be written again
// and the rest left out by a later reader behind the new copies.
func TestHandleHandsBackABatchWhoseCheckpointCannotBeRead(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	h.handler.checkpoints = &flakyGets{checkpoints: h.cps, fail: 1}
	ev := kinesisEvent(4, 2, t0)
	resp, err := h.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 1 || got[0] != ev.Records[0].Kinesis.SequenceNumber {
		t.Fatalf("got batch item failures %v, want the first record: the whole batch again", got)
	}
	if n := h.target.requests(); n != 0 {
		t.Errorf("got %d PutRecords calls, want none", n)
	}
	if got := h.metricsOf(t).Values["FailedRecords"]; got != 4 {
		t.Errorf("got FailedRecords %v, want 4", got)
	}
}
