package putrecords

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
)

func TestWriteStopsBeforeABackoffThatWouldCrossTheDeadline(t *testing.T) {
	// Deadline in 10 minutes, margin 1 minute: backoffs of 2 and 4 minutes
	// fit, the third (8 minutes, by then 6 minutes in) would not.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var slept []time.Duration
	now := time.Now()
	f := newFake()
	f.entryCodes = map[string][]string{"r2": {throttled, throttled, throttled, throttled}}
	w := NewWriter(f, Options{
		BaseBackoff:    2 * time.Minute,
		MaxBackoff:     time.Hour,
		DeadlineMargin: time.Minute,
		Jitter:         identityJitter,
		Sleep: func(ctx context.Context, d time.Duration) error {
			slept = append(slept, d)
			now = now.Add(d)
			return ctx.Err()
		},
		Now: func() time.Time { return now },
	})
	recs := records("A", "B", "C", "C", "D")
	res := w.Write(ctx, Batch{Stream: "s1", Records: recs})

	if want := []time.Duration{2 * time.Minute, 4 * time.Minute}; !reflect.DeepEqual(slept, want) {
		t.Fatalf("got backoffs %v, want %v", slept, want)
	}
	if got, want := f.callData(), [][]string{{"r0", "r1", "r2", "r3", "r4"}, {"r2", "r3"}, {"r2", "r3"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got calls %v, want %v", got, want)
	}
	if prefix(res) != 2 {
		t.Errorf("got prefix %d, want 2", prefix(res))
	}
	for _, i := range []int{2, 3} {
		o := res.Outcomes[i]
		if o.Written || o.Permanent || !errors.Is(o.Err, ErrDeadline) {
			t.Errorf("record %d: got %+v, want not written with ErrDeadline", i, o)
		}
	}
	if !res.Outcomes[4].Written {
		t.Errorf("record 4 (other key): got not written, want written")
	}
	if res.Stats.Failed != 2 || res.Stats.Throttled != 3 || res.Stats.Resent != 2 {
		t.Errorf("got stats %+v, want 2 failed, 3 throttled, 2 resent", res.Stats)
	}
}

func TestWriteCutsARequestAtTheDeadlineMinusMargin(t *testing.T) {
	// Deadline 2.5s away, margin 2s: the second request is still in flight
	// when the writer's own deadline passes; the first has half a second. The fake lets the
	// records reach the stream but the reply is lost; they must not count
	// as written.
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	parentDone := make(chan bool, 1)
	f := newFake()
	f.hook = func(callCtx context.Context, call int, _ *kinesis.PutRecordsInput) (error, bool) {
		if call != 1 {
			return nil, false
		}
		<-callCtx.Done()
		parentDone <- ctx.Err() != nil
		return callCtx.Err(), true
	}
	recs := records("A", "B", "C", "D", "E", "F")
	res := NewWriter(f, Options{MaxRequestRecords: 2, Concurrency: 1, DeadlineMargin: 2 * time.Second, Sleep: noSleep}).
		Write(ctx, Batch{Stream: "s1", Records: recs})

	if <-parentDone {
		t.Fatal("the in-flight request was cut by the invocation deadline, want it cut by the margin before it")
	}
	if got, want := f.callSizes(), []int{2, 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got call sizes %v, want %v (nothing started after the cut)", got, want)
	}
	if prefix(res) != 2 {
		t.Errorf("got prefix %d, want 2", prefix(res))
	}
	for i := 2; i < 6; i++ {
		o := res.Outcomes[i]
		if o.Written || o.Permanent || !errors.Is(o.Err, ErrDeadline) {
			t.Errorf("record %d: got %+v, want not written with ErrDeadline", i, o)
		}
	}
	if res.Stats.Written != 2 || res.Stats.Failed != 4 {
		t.Errorf("got stats %+v, want 2 written, 4 failed", res.Stats)
	}
	if dl, ok := f.ctxs[1].Deadline(); !ok {
		t.Error("got a request context without a deadline, want the invocation deadline minus the margin")
	} else if parent, _ := ctx.Deadline(); !dl.Equal(parent.Add(-2 * time.Second)) {
		t.Errorf("got request deadline %v, want %v", dl, parent.Add(-2*time.Second))
	}
}

func TestWriteSendsNothingWhenTheDeadlineIsInsideTheMargin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f := newFake()
	res := NewWriter(f, Options{DeadlineMargin: 2 * time.Second}).
		Write(ctx, Batch{Stream: "s1", Records: records("A", "B")})
	if n := len(f.callSizes()); n != 0 {
		t.Fatalf("got %d calls, want 0", n)
	}
	if prefix(res) != 0 || !errors.Is(res.Outcomes[0].Err, ErrDeadline) {
		t.Fatalf("got prefix %d, first error %v, want 0 and ErrDeadline", prefix(res), res.Outcomes[0].Err)
	}
}

func TestWriteStopsAtOnceWhenCancelledDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake()
	f.entryCodes = map[string][]string{"r1": {throttled, throttled}}
	sleeps := 0
	w := NewWriter(f, Options{
		BaseBackoff: time.Hour, // a real wait would hang the test
		MaxBackoff:  time.Hour,
		Jitter:      identityJitter,
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps++
			cancel() // cancelled while backing off
			return pause.For(ctx, d)
		},
	})
	res := w.Write(ctx, Batch{Stream: "s1", Records: records("A", "B", "C")})
	if sleeps != 1 || len(f.callSizes()) != 1 {
		t.Fatalf("got %d sleeps and %d calls, want 1 and 1", sleeps, len(f.callSizes()))
	}
	if prefix(res) != 1 || !res.Outcomes[2].Written {
		t.Errorf("got prefix %d, record 2 written %v, want 1 and true", prefix(res), res.Outcomes[2].Written)
	}
	if o := res.Outcomes[1]; o.Written || !errors.Is(o.Err, context.Canceled) {
		t.Errorf("record 1: got %+v, want not written with context.Canceled", o)
	}
}

func TestWriteWithCancelledContextSendsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := newFake()
	res := NewWriter(f, Options{}).Write(ctx, Batch{Stream: "s1", Records: records("A")})
	if n := len(f.callSizes()); n != 0 || prefix(res) != 0 || !errors.Is(res.Outcomes[0].Err, context.Canceled) {
		t.Fatalf("got %d calls, prefix %d, error %v, want 0, 0, context.Canceled", n, prefix(res), res.Outcomes[0].Err)
	}
}

func TestBackoffIsCappedExponential(t *testing.T) {
	w := NewWriter(nil, Options{BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Jitter: identityJitter})
	want := []time.Duration{50, 100, 200, 400, 800, 1000, 1000}
	for attempt, ms := range want {
		if got := w.backoff(attempt); got != ms*time.Millisecond {
			t.Errorf("attempt %d: got %v, want %v", attempt, got, ms*time.Millisecond)
		}
	}
	if got := w.backoff(200); got != time.Second {
		t.Errorf("attempt 200: got %v, want the 1s cap", got)
	}
}

func TestFullJitterStaysInRange(t *testing.T) {
	for range 1000 {
		if d := fullJitter(10 * time.Millisecond); d < 0 || d > 10*time.Millisecond {
			t.Fatalf("got %v, want within [0, 10ms]", d)
		}
	}
	if d := fullJitter(0); d != 0 {
		t.Fatalf("got %v for a zero cap, want 0", d)
	}
}

// A switchover ends a batch's write lease: nothing may be sent after it even
// with the invocation's deadline far away.
func TestWriteStopsAtTheEndOfTheWriteLease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	now := time.Now()
	f := newFake()
	f.entryCodes = map[string][]string{"r1": {throttled, throttled, throttled}}
	w := NewWriter(f, Options{
		BaseBackoff: 2 * time.Second,
		MaxBackoff:  time.Minute,
		Jitter:      identityJitter,
		Sleep: func(ctx context.Context, d time.Duration) error {
			now = now.Add(d)
			return ctx.Err()
		},
		Now: func() time.Time { return now },
	})
	// Backoffs of 2s then 4s: the second would end after the lease's 5s.
	res := w.Write(ctx, Batch{Stream: "s1", Records: records("A", "B"), WriteWithin: 5 * time.Second})
	if got, want := f.callData(), [][]string{{"r0", "r1"}, {"r1"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got calls %v, want %v", got, want)
	}
	if o := res.Outcomes[1]; o.Written || !errors.Is(o.Err, ErrDeadline) {
		t.Errorf("record 1: got %+v, want not written with ErrDeadline", o)
	}
	if !res.Outcomes[0].Written {
		t.Error("record 0: got not written, want written before the lease ended")
	}
}
