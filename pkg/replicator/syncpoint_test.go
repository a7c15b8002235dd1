package replicator

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

func (h *harness) trail(t *testing.T) []checkpoint.SyncPoint {
	t.Helper()
	points, err := h.cps.LoadTrail(context.Background(), testStream, sourceRegion, testShard)
	if err != nil {
		t.Fatal(err)
	}
	return points
}

// countingTrails counts the appends that reach the trail store, and fails
// them all when err is set.
type countingTrails struct {
	trailStore
	appends int
	err     error
}

func (c *countingTrails) AppendSyncPoint(ctx context.Context, stream, region, shard string, p checkpoint.SyncPoint) error {
	c.appends++
	if c.err != nil {
		return c.err
	}
	return c.trailStore.AppendSyncPoint(ctx, stream, region, shard, p)
}

// The trail grows after the checkpoint saves the replicator makes anyway, at
// most once per checkpoint.SyncPointInterval per shard: one trail write per
// 5 s, never one per invocation.
func TestSyncPointsAreAppendedAfterCheckpointSavesAtMostEveryInterval(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	counted := &countingTrails{trailStore: h.cps}
	h.handler.trails = counted
	start := h.now
	steps := []struct {
		after       time.Duration
		wantPoints  int
		wantAppends int
	}{{0, 1, 1}, {2 * time.Second, 1, 1}, {4 * time.Second, 1, 1}, {6 * time.Second, 2, 2}, {7 * time.Second, 2, 2}, {11 * time.Second, 3, 3}}
	for i, st := range steps {
		h.now = start.Add(st.after)
		ev := kinesisEvent(3*(i+1), 3, t0)
		ev.Records = ev.Records[3*i:]
		if _, err := h.handler.Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if got := len(h.trail(t)); got != st.wantPoints || counted.appends != st.wantAppends {
			t.Fatalf("batch %d at +%v: got %d sync points from %d appends, want %d from %d", i, st.after, got, counted.appends, st.wantPoints, st.wantAppends)
		}
		if got, want := h.cps.byShard(t)[testShard].LastSequenceNumber, ev.Records[len(ev.Records)-1].Kinesis.SequenceNumber; got != want {
			t.Fatalf("batch %d: got checkpoint %s, want %s", i, got, want)
		}
	}
	if newest := h.trail(t)[2]; newest.SequenceNumber != sequenceNumber(17) || newest.Targets["shardId-000000000001"] == "" {
		t.Errorf("got newest point %+v, want record 17 with its target position", newest)
	}
}

// A record after the acknowledged prefix that was written may have landed
// before the prefix's records in a target shard: no point may claim the
// prefix's end then.
func TestNoSyncPointWhenALaterRecordOfTheShardWasWritten(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	h.target.fail = failSeq(3, "KMSAccessDeniedException")
	if _, err := h.handler.Handle(context.Background(), kinesisEvent(6, 6, t0)); err != nil {
		t.Fatal(err)
	}
	cp, ok := h.cps.byShard(t)[testShard]
	if !ok {
		t.Fatal("got no checkpoint, want one at record 2")
	}
	if got := h.trail(t); cp.LastSequenceNumber != sequenceNumber(2) || len(got) != 0 {
		t.Errorf("got checkpoint at %s with %d sync points, want %s with none", cp.LastSequenceNumber, len(got), sequenceNumber(2))
	}
}

// A save that did not advance (a retried batch) appends nothing.
func TestNoSyncPointWhenTheCheckpointDidNotAdvance(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	counted := &countingTrails{trailStore: h.cps}
	h.handler.trails = counted
	ev := kinesisEvent(3, 3, t0)
	if _, err := h.handler.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	h.now = h.now.Add(time.Minute)
	if _, err := h.handler.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if counted.appends != 1 {
		t.Errorf("got %d appends, want 1: the retried batch's save did not advance", counted.appends)
	}
}

// The trail is a side record: its failure is logged, and the batch is
// acknowledged and checkpointed all the same.
func TestAFailedSyncPointAppendIsLoggedAndFailsNothing(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	var logs bytes.Buffer
	h.handler.log = slog.New(slog.NewJSONHandler(&logs, nil))
	h.handler.trails = &countingTrails{trailStore: h.cps, err: errors.New("ProvisionedThroughputExceededException")}
	ev := kinesisEvent(3, 3, t0)
	resp, err := h.handler.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %+v, %v, want every record acknowledged", resp, err)
	}
	if got, want := h.cps.byShard(t)[testShard].LastSequenceNumber, ev.Records[2].Kinesis.SequenceNumber; got != want {
		t.Fatalf("got checkpoint %s, want %s", got, want)
	}
	if !strings.Contains(logs.String(), `"msg":"append sync point: the shard's trail misses this one; a later one comes"`) ||
		!strings.Contains(logs.String(), "ProvisionedThroughputExceededException") {
		t.Errorf("the logs do not tell of the failed append:\n%s", logs.String())
	}
}
