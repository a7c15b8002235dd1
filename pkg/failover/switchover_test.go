package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
)

// movingClock is a clock that tests move forward from inside fakes.
type movingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movingClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *movingClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// A record that arrives in the new Region at or after since must be decided
// on a read that shows the switch, so since may not precede the moment the
// switch write was acknowledged, however long the old Region takes to list
// its shards.
func TestSinceIsNeverBeforeTheSwitchIsVisibleWhenTheOldRegionIsSlow(t *testing.T) {
	for _, mode := range []activeregion.Mode{activeregion.ModeRewind, activeregion.ModeDrain} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(testSettings(), configAt("s1", east1))
			f.cps.Put(cp("s1", "shardId-000000000000", t0.Add(time.Hour), east1, 1))
			clock := &movingClock{t: now}
			// Listing the old Region's shards takes 30 s of the call.
			f.kinesis[east1].onCall = func() { clock.advance(30 * time.Second) }
			h := NewHandler(testSettings(), Clients{Kinesis: map[string]ListShardsAPI{east1: f.kinesis[east1], east2: f.kinesis[east2]}},
				WithStores(f.configs, f.cps), WithClock(clock.now), WithLogger(discardLogger()), noSettle)
			if _, err := h.Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-2","mode":"`+string(mode)+`"}`)); err != nil {
				t.Fatal(err)
			}
			e := f.configs.item("s1").Current()
			if e.VisibleBy == nil || e.Since.Before(*e.VisibleBy) {
				t.Fatalf("got since %s, visible by %v: since must not precede the switch's visibility", e.Since, e.VisibleBy)
			}
			if f.kinesis[east1].calls == 0 {
				t.Fatal("the old Region's shards were not listed: the test did not slow the call")
			}
		})
	}
}

// The failover function's timeout is minutes, its cross-Region work bounded
// by one deadline: 20 streams whose old Region hangs all switch, and the
// report comes back complete long before an invocation deadline that
// stream-by-stream calls of the cross-Region timeout each would overrun.
func TestTwentyStreamsSwitchWithTheOldRegionHanging(t *testing.T) {
	var cfgs []activeregion.Config
	for i := range 20 {
		cfgs = append(cfgs, configAt(fmt.Sprintf("s%02d", i), east1))
	}
	s := testSettings()
	s.ReplicatorFunctionName = "kds-crr-replicator"
	f := newFixture(s, cfgs...)
	for _, c := range cfgs {
		f.cps.Put(cp(c.StreamName, "shardId-000000000000", t0.Add(time.Hour), east1, 1))
	}
	f.kinesis[east1].hang = true
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	r, err := f.in[east2].Handle(ctx, json.RawMessage(`{"targetRegion":"us-east-2","parkPrevious":true}`))
	if err != nil {
		t.Fatalf("got error %v, want a full report", err)
	}
	if len(r.Streams) != 20 {
		t.Fatalf("got %d streams in the report, want 20", len(r.Streams))
	}
	for _, sr := range r.Streams {
		if sr.Status != StatusSwitched || sr.ProducersMayStartAt == nil {
			t.Errorf("%s: got status %s, producersMayStartAt %v; want switched with a start time", sr.StreamName, sr.Status, sr.ProducersMayStartAt)
		}
		if !hasLine(r.Warnings, sr.StreamName+":", "could not be listed in us-east-1") {
			t.Errorf("%s: got no warning about the hanging Region's listing", sr.StreamName)
		}
	}
	if !hasLine(r.Actions, "parked replicator", "us-east-1") {
		t.Errorf("got actions %q, want the park in the other Region done within the deadline", r.Actions)
	}
}

func TestASwitchBackBeforeTheSwitchSettledIsRefusedUnlessForced(t *testing.T) {
	tm := activeregion.Timing{CacheTTL: testSettings().CacheTTL}
	recent := func() activeregion.Config {
		cfg := configAt("s1", east1)
		visible := now.Add(-time.Second)
		settled := tm.OldWritesLandBy(visible)
		cfg = switched(cfg, east2, now.Add(-500*time.Millisecond))
		cfg.History[1].Mode, cfg.History[1].VisibleBy, cfg.History[1].SettledAt = activeregion.ModeDrain, &visible, &settled
		return cfg
	}
	settledAt := tm.OldWritesLandBy(now.Add(-time.Second))

	f := newFixture(testSettings(), recent())
	_, err := f.in[east1].Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-1"}`))
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "has not settled yet") || !strings.Contains(err.Error(), `"force":true`) {
		t.Fatalf("got %v, want a refusal naming force", err)
	}
	if f.configs.writeCount() != 0 {
		t.Fatalf("got %d writes, want none on a refusal", f.configs.writeCount())
	}

	tests := []struct {
		mode      activeregion.Mode
		wantSince time.Time
	}{
		{activeregion.ModeDrain, settledAt},
		{activeregion.ModeRewind, tm.Since(now, activeregion.ModeRewind, settledAt)},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			f := newFixture(testSettings(), recent())
			r, err := f.in[east1].Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-1","force":true,"mode":"`+string(tt.mode)+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Streams[0]; got.Status != StatusSwitched || !got.ActiveSince.Equal(tt.wantSince) {
				t.Fatalf("got %s from %s, want switched from %s, not before the previous switch settles", got.Status, got.ActiveSince, tt.wantSince)
			}
			if !hasLine(r.Warnings, "forced", "has not settled") {
				t.Errorf("got warnings %q, want the forced switch said", r.Warnings)
			}
		})
	}
}

func TestStatusReportsADrainShardByShard(t *testing.T) {
	cfg := switched(configAt("s1", east1), east2, now.Add(-time.Hour))
	visible := cfg.ActiveSince.Add(-time.Second)
	cfg.History[1].Mode, cfg.History[1].VisibleBy = activeregion.ModeDrain, &visible
	f := newFixture(testSettings(), cfg)
	drained := cp("s1", "shardId-000000000000", now.Add(-2*time.Hour), east1, 1)
	drained.DrainedEpoch = 1
	f.cps.Put(drained, cp("s1", "shardId-000000000001", now.Add(-2*time.Hour), east1, 1))
	r := f.handle(t, context.Background(), `{"action":"status"}`)
	sr := r.Streams[0]
	if sr.DrainComplete == nil || *sr.DrainComplete {
		t.Fatalf("got drainComplete %v, want false while shard 1 drains", sr.DrainComplete)
	}
	want := map[string]bool{"shardId-000000000000": true, "shardId-000000000001": false}
	for _, sh := range sr.Shards {
		if sh.DrainComplete == nil || *sh.DrainComplete != want[sh.ShardID] {
			t.Errorf("%s: got drainComplete %v, want %t", sh.ShardID, sh.DrainComplete, want[sh.ShardID])
		}
	}
	if marked, err := f.cps.MarkDrained(context.Background(), "s1", east1, "shardId-000000000001", 1, now); err != nil || !marked {
		t.Fatalf("mark shard 1 drained: got (%t, %v), want (true, nil)", marked, err)
	}
	if r := f.handle(t, context.Background(), `{"action":"status"}`); r.Streams[0].DrainComplete == nil || !*r.Streams[0].DrainComplete {
		t.Errorf("got drainComplete %v (shards %+v), want true once every shard has drained", r.Streams[0].DrainComplete, r.Streams[0].Shards)
	}
	if sr.ProducersMayStartAt == nil || !sr.ProducersMayStartAt.Equal(cfg.ActiveSince) {
		t.Errorf("got producersMayStartAt %v, want since (%s) in drain mode, the switch being readable a second before", sr.ProducersMayStartAt, cfg.ActiveSince)
	}
}

// A failback invoked where the failover has not replicated yet reads the
// item before it: with the epoch the operator expects, the call says the
// replica is behind instead of "already active".
func TestAReplicaBehindTheExpectedEpochChangesNothingAndSaysSo(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	r, err := f.in[east1].Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-1","expectedEpoch":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Streams[0].Status; got != StatusStaleEpoch {
		t.Errorf("got status %s, want %s", got, StatusStaleEpoch)
	}
	if !hasLine(r.Warnings, "behind the expected epoch 2", "not replicated here yet") {
		t.Errorf("got warnings %q, want the replica called behind", r.Warnings)
	}
	if f.configs.writeCount() != 0 {
		t.Errorf("got %d writes, want none", f.configs.writeCount())
	}
}

// In drain mode producers start at producersMayStartAt; a switch write
// slower than its lead must move that time to when the switch became
// readable, or a record written then is decided on a read from before the
// switch and skipped by the new Region.
func TestDrainProducersNeverStartBeforeTheSwitchIsVisible(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	f.cps.Put(cp("s1", "shardId-000000000000", t0.Add(time.Hour), east1, 1))
	clock := &movingClock{t: now}
	f.configs.BeforeWrite(func(method, _ string) {
		if method == "Switch" {
			clock.advance(3 * time.Second) // the switch write takes 3 s
		}
	})
	h := NewHandler(testSettings(), Clients{Kinesis: map[string]ListShardsAPI{east1: f.kinesis[east1], east2: f.kinesis[east2]}},
		WithStores(f.configs, f.cps), WithClock(clock.now), WithLogger(discardLogger()), noSettle)
	rep, err := h.Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-2","mode":"drain"}`))
	if err != nil {
		t.Fatal(err)
	}
	e := f.configs.item("s1").Current()
	if start := rep.Streams[0].ProducersMayStartAt; start == nil || e.VisibleBy == nil || start.Before(*e.VisibleBy) {
		t.Errorf("got producersMayStartAt %v, visible by %v: producers must not start before the switch is readable", start, e.VisibleBy)
	}
}

// The shards of the Region left could not be listed, so the resume point
// was checked only against the own Region's shards: it is reported
// unverified, and a later status, with the Region answering, withholds it.
func TestAResumePointCheckedOnlyAgainstTheOwnRegionsShardsIsUnverified(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	f.cps.Put(cp("s1", "shardId-000000000001", t0.Add(time.Hour), east1, 1))
	// us-east-1 was resharded: its child shard has no checkpoint yet.
	f.kinesis[east1].shards = map[string][]kinesistypes.Shard{"s1": {
		closedShard("shardId-000000000001"), childShard("shardId-000000000002", "shardId-000000000001"),
	}}
	f.kinesis[east1].hang = true
	rep, err := f.in[east2].Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Streams[0]; s.ResumeFrom != nil && !s.ResumeFromUnverified {
		t.Errorf("got resumeFrom %s as verified, checked only against us-east-2's shards", stamp(*s.ResumeFrom))
	}
	f.kinesis[east1].mu.Lock()
	f.kinesis[east1].hang = false
	f.kinesis[east1].mu.Unlock()
	rep, err = f.in[east2].Handle(context.Background(), json.RawMessage(`{"action":"status","streams":["s1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Streams[0]; s.ResumeFrom != nil {
		t.Errorf("status with us-east-1 answering: got resumeFrom %s, want it withheld: shardId-000000000002 has no checkpoint (warnings %q)", stamp(*s.ResumeFrom), rep.Warnings)
	}
}

// The point stored with a switch is what retries and status report: it must
// be the one the switch reported, earlier-epoch checkpoints capped at where
// that epoch's producers resumed, never the checkpoints' plain minimum.
func TestTheStoredResumePointIsTheOneTheSwitchReported(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1, east2, east1))
	f.cps.Put(
		cp("s1", "shardId-000000000000", t0.Add(3*time.Hour), east1, 3),
		cp("s1", "shardId-000000000001", t0.Add(150*time.Minute), east1, 1),
	)
	rep := f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
	want := t0.Add(2 * time.Hour)
	if got := rep.Streams[0].ResumeFrom; got == nil || !got.Equal(want) {
		t.Fatalf("switch: got resumeFrom %v, want %s", deref(got), stamp(want))
	}
	st := f.handle(t, context.Background(), `{"action":"status"}`)
	if got := st.Streams[0].ResumeFrom; got == nil || !got.Equal(want) {
		t.Errorf("status: got resumeFrom %v, want the switch's %s", deref(got), stamp(want))
	}
}
