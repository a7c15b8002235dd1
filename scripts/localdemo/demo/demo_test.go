package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunKeepsEveryPromiseAcrossFailoverAndFailback runs the whole story,
// shortened, on the emulators with the real handlers.
func TestRunKeepsEveryPromiseAcrossFailoverAndFailback(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{
		Shards: 2,
		Keys:   20,
		Rate:   100,
		// Each phase outlasts the newly active Region's switchover hold
		// (ACTIVE_REGION_CACHE_TTL 0 plus the global table's 2s), as any
		// real switch does: switching back before a switch has settled
		// lets a drained record echo twice.
		Duration:      9 * time.Second,
		ProgressEvery: 500 * time.Millisecond,
		DrainTimeout:  30 * time.Second,
		Out:           &out,
		Log:           &testWriter{t},
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if err := sum.Write(&out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())

	if !sum.OK() {
		t.Errorf("got %d lost, %d out of order, %d looped, want none", sum.Lost(), sum.Reordered(), sum.Looped())
	}
	for _, r := range sum.Regions {
		if r.Produced == 0 || r.Replicated != r.Produced {
			t.Errorf("%s: got %d replicated of %d produced, want all of at least one", r.Region, r.Replicated, r.Produced)
		}
	}
	if got := len(sum.Failovers); got != 2 {
		t.Fatalf("got %d failovers, want 2", got)
	}
	for i, want := range []struct {
		to    string
		epoch int64
	}{{Regions[1], 2}, {Regions[0], 3}} {
		f := sum.Failovers[i]
		if f.To != want.to || f.Epoch != want.epoch {
			t.Errorf("failover %d: got to %s epoch %d, want to %s epoch %d", i, f.To, f.Epoch, want.to, want.epoch)
		}
		if f.ResumeFrom == nil || f.ResumeFrom.After(f.SwitchedAt) {
			t.Errorf("failover %d: got resume point %v, want one at or before the switch %v", i, f.ResumeFrom, f.SwitchedAt)
		}
	}
	if !strings.Contains(out.String(), "RESULT: OK") {
		t.Errorf("got output without the OK result line:\n%s", out.String())
	}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	if testing.Verbose() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func TestTallyAddsLinesSplitAcrossWrites(t *testing.T) {
	tl := &tally{}
	lines := `{"StreamName":"s","ReplicatedRecords":3,"SkippedRecords":1,"ReplicationLagSeconds":0.5}
{"StreamName":"s","ReplicatedRecords":0,"SkippedRecords":4,"ReplicationLagSeconds":9}
not json
{"StreamName":"s","ReplicatedRecords":2,"ResentRecords":1,"FailedRecords":1,"ReplicationLagSeconds":0.25}
`
	for chunk := range strings.SplitSeq(lines, "R") {
		if _, err := tl.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
		_, _ = tl.Write([]byte("R"))
	}
	// The split put an R after the last newline: an unfinished line.
	got, lags := tl.take()
	want := counts{Replicated: 5, Skipped: 5, Failed: 1, Resent: 1, BadLines: 1}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if len(lags) != 2 || lags[0] != 0.5 || lags[1] != 0.25 {
		t.Errorf("got lags %v, want [0.5 0.25] (none from a batch that replicated nothing)", lags)
	}
	if _, again := tl.take(); len(again) != 0 {
		t.Errorf("got lags %v on the second take, want none", again)
	}
}
