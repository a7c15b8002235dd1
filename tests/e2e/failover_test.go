package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
)

// scenario is one switchover story of the list, run in both modes.
type scenario struct {
	name             string
	globalTableDelay time.Duration
	// hangOldRegion: the Region failed away from hangs during the failover
	// call (and for a while after), while the producers move at once.
	hangOldRegion bool
	// backlog: the old Region's replicator falls this far behind before
	// the switch and heals only after it.
	backlog time.Duration
	// quickFailback: fail back 2 s after the failover: refused as not
	// settled, then forced.
	quickFailback bool
}

func TestSwitchoverKeepsEveryPromise(t *testing.T) {
	scenarios := []scenario{
		{name: "global table delay 200ms", globalTableDelay: 200 * time.Millisecond},
		{name: "global table delay 3s", globalTableDelay: 3 * time.Second},
		{name: "failback 2s after a failover", globalTableDelay: time.Second, quickFailback: true},
		{name: "old Region hangs during the failover", globalTableDelay: time.Second, hangOldRegion: true},
		{name: "old Region with a 10s backlog heals after the switch", globalTableDelay: time.Second, backlog: 10 * time.Second},
	}
	for _, sc := range scenarios {
		for _, mode := range []string{"rewind", "drain"} {
			t.Run(sc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				runScenario(t, sc, mode)
			})
		}
	}
}

func runScenario(t *testing.T, sc scenario, mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newWorld(ctx, t, worldOptions{globalTableDelay: sc.globalTableDelay})
	if _, _, err := w.invokeFailover(ctx, regionA, `{"action":"init","targetRegion":"us-east-1","streams":["orders"]}`); err != nil {
		t.Fatal(err)
	}
	if err := w.lw.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	w.start(t)
	a := w.regions[regionA]

	// us-east-1 is active and replicating.
	for range 3 {
		w.produce(ctx, t, regionA, 100)
	}
	w.settle(ctx, t)

	// Its replicator falls behind; records keep arriving until the switch.
	if sc.backlog > 0 {
		a.lag.close()
		deadline := time.Now().Add(sc.backlog)
		for time.Now().Before(deadline) {
			w.produce(ctx, t, regionA, 20)
			if err := sleepUntil(ctx, time.Now().Add(500*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.produce(ctx, t, regionA, 100)
	if sc.hangOldRegion {
		w.lw.Hang(regionA)
	}

	rep, took, err := w.invokeFailover(ctx, regionB, fmt.Sprintf(`{"targetRegion":"us-east-2","mode":%q,"reason":"e2e"}`, mode))
	if err != nil {
		t.Fatalf("failover: %v", err)
	}
	if s := rep.Streams[0]; s.Status != failover.StatusSwitched || s.Epoch != 2 {
		t.Fatalf("failover: got %+v, want switched to epoch 2 (warnings %q)", s, rep.Warnings)
	}
	t.Logf("failover call took %v; producers may start %v after it; warnings %q", took.Round(time.Millisecond),
		time.Until(*rep.Streams[0].ProducersMayStartAt).Round(time.Millisecond), rep.Warnings)
	if sc.hangOldRegion {
		go func() {
			_ = sleepUntil(ctx, time.Now().Add(5*time.Second))
			w.lw.Heal(regionA)
		}()
	}
	if sc.backlog > 0 {
		go func() {
			_ = sleepUntil(ctx, time.Now().Add(3*time.Second))
			a.lag.open()
		}()
	}

	reportedAt := time.Now()
	payload := fmt.Sprintf(`{"targetRegion":"us-east-1","mode":%q,"expectedEpoch":2,"reason":"e2e failback"}`, mode)
	if sc.quickFailback {
		// The operator switches back before the producers have moved.
		w.failovers = append(w.failovers, promisecheck.Failover{From: regionA, To: regionB, ResumeFrom: rep.Streams[0].ResumeFrom})
		if err := sleepUntil(ctx, reportedAt.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.invokeFailover(ctx, regionA, payload); err == nil || !strings.Contains(err.Error(), "has not settled yet") {
			t.Fatalf("quick failback: got %v, want it refused as not settled", err)
		}
		payload = strings.Replace(payload, `"expectedEpoch":2`, `"expectedEpoch":2,"force":true`, 1)
	} else {
		// The producers move to us-east-2.
		w.resume(ctx, t, regionA, regionB, rep, mode)
		for range 3 {
			w.produce(ctx, t, regionB, 100)
		}
		if err := sleepUntil(ctx, *rep.Streams[0].SettledAt); err != nil {
			t.Fatal(err)
		}
	}
	back, took := w.failBack(ctx, t, payload)
	if s := back.Streams[0]; s.Status != failover.StatusSwitched || s.Epoch != 3 {
		t.Fatalf("failback: got %+v, want switched to epoch 3 (warnings %q)", s, back.Warnings)
	}
	t.Logf("failback call took %v", took.Round(time.Millisecond))
	w.resume(ctx, t, regionB, regionA, back, mode)
	for range 2 {
		w.produce(ctx, t, regionA, 100)
	}
	w.settle(ctx, t)
	res := w.check(ctx, t)
	if mode == "rewind" && res.Echoes != 0 {
		t.Errorf("got %d echoes, want none in rewind mode: every write of the old Region lands before the new epoch starts", res.Echoes)
	}
	t.Logf("%s/%s: %s; copies %v", sc.name, mode, res, res.Copies)
}

// waitDrained waits until the status in region reports the drain of the
// previous Region complete, as a drain-mode operator does before a switch
// back.
func (w *world) waitDrained(ctx context.Context, t *testing.T, region string) {
	t.Helper()
	for {
		rep, _, err := w.invokeFailover(ctx, region, `{"action":"status","streams":["orders"]}`)
		if err != nil {
			t.Fatal(err)
		}
		if d := rep.Streams[0].DrainComplete; d != nil && *d {
			return
		}
		if err := sleepUntil(ctx, time.Now().Add(500*time.Millisecond)); err != nil {
			t.Fatalf("drain did not complete: %v (last status %+v)", err, rep.Streams[0])
		}
	}
}

// failBack switches back to us-east-1, calling again while its replica of
// the config has not received the failover yet, or not yet the record of
// when it settles (right after us-east-1 heals), as the runbook tells an
// operator to.
func (w *world) failBack(ctx context.Context, t *testing.T, payload string) (failover.Report, time.Duration) {
	t.Helper()
	for {
		back, took, err := w.invokeFailover(ctx, regionA, payload)
		if err != nil && strings.Contains(err.Error(), "has not settled yet") {
			t.Logf("failback: %v; calling again", err)
			if err := sleepUntil(ctx, time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("failback: %v", err)
		}
		if back.Streams[0].Status != failover.StatusStaleEpoch {
			return back, took
		}
		t.Logf("failback: %q; calling again", back.Warnings)
		if err := sleepUntil(ctx, time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}

// A failback forced while the failover it follows is still working in the
// old Region (which answers slowly): the failover's own second write must not
// land later than the failback and, last writer wins, erase it.
func TestAForcedFailbackIsNotErasedByTheFailoverItFollows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(ctx, t, worldOptions{globalTableDelay: 3 * time.Second})
	if _, _, err := w.invokeFailover(ctx, regionA, `{"action":"init","targetRegion":"us-east-1","streams":["orders"]}`); err != nil {
		t.Fatal(err)
	}
	if err := w.lw.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	w.start(t)
	w.produce(ctx, t, regionA, 50)
	w.settle(ctx, t)
	if err := w.lw.WaitReplicated(ctx); err != nil { // A's checkpoints reach B's replica
		t.Fatal(err)
	}

	w.lw.SetCrossRegionLatency(5 * time.Second) // the old Region answers slowly
	type result struct {
		rep failover.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, _, err := w.invokeFailover(ctx, regionB, `{"targetRegion":"us-east-2","mode":"rewind","reason":"review"}`)
		done <- result{rep, err}
	}()
	storeA := activeregion.NewStore(w.ddb(regionA), configTable)
	storeB := activeregion.NewStore(w.ddb(regionB), configTable)
	for {
		cfg, err := storeA.Get(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Epoch == 2 {
			break
		}
		if err := sleepUntil(ctx, time.Now().Add(50*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	back, _, err := w.invokeFailover(ctx, regionA, `{"targetRegion":"us-east-1","expectedEpoch":2,"force":true,"reason":"review failback"}`)
	if err != nil {
		t.Fatal(err)
	}
	if s := back.Streams[0]; s.Status != failover.StatusSwitched || s.Epoch != 3 {
		t.Fatalf("forced failback: got %+v (warnings %q)", s, back.Warnings)
	}
	t.Logf("forced failback reported switched to epoch 3, since %s", back.Streams[0].ActiveSince.Format(time.RFC3339Nano))
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("failover into B: status %s epoch %d, warnings %q", r.rep.Streams[0].Status, r.rep.Streams[0].Epoch, r.rep.Warnings)
	w.lw.SetCrossRegionLatency(0)
	if err := w.lw.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*activeregion.Store{regionA: storeA, regionB: storeB} {
		cfg, err := s.Get(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Epoch != 3 || cfg.ActiveRegion != regionA {
			t.Errorf("%s's replica after replication: epoch %d, active in %s; want epoch 3 in %s, which the forced failback reported as switched",
				name, cfg.Epoch, cfg.ActiveRegion, regionA)
		}
	}
	// The producers moved to us-east-1 as the failback's report allowed.
	if err := sleepUntil(ctx, *back.Streams[0].ProducersMayStartAt); err != nil {
		t.Fatal(err)
	}
	w.produce(ctx, t, regionA, 50)
	w.settle(ctx, t)
	res := w.check(ctx, t)
	t.Logf("after the producers moved back: %s; copies %v", res, res.Copies)
}
