package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
)

// Failover is one switch of the run: what the operator did and what the
// failover function reported.
type Failover struct {
	From string `json:"from"`
	To   string `json:"to"`
	Mode string `json:"mode"`
	// CalledAt is when the accepted call was made (in To, the Region it
	// activates); Took how long it took; Calls how many calls it needed
	// (a failback is called again while the previous switch has not
	// replicated or settled in To's replica).
	CalledAt time.Time     `json:"calledAt"`
	Took     time.Duration `json:"took"`
	Calls    int           `json:"calls"`
	// SettleWait is how long the operator waited for the previous switch's
	// settledAt before calling.
	SettleWait time.Duration `json:"settleWait"`
	// Impaired names the Region that hung during the call, if any.
	Impaired    string     `json:"impaired,omitempty"`
	Epoch       int64      `json:"epoch"`
	ActiveSince time.Time  `json:"activeSince"`
	ResumeFrom  *time.Time `json:"resumeFrom"`
	SettledAt   *time.Time `json:"settledAt"`
	// ProducersMayStartAt and the wait for it after the report came back.
	ProducersMayStartAt time.Time     `json:"producersMayStartAt"`
	ProducersWait       time.Duration `json:"producersWait"`
	// Resent is how many changes the CDC task sent again from ResumeFrom
	// (rewind mode).
	Resent int `json:"resent"`
	// DrainWait and DrainPolls: in drain mode, the wait for status in To to
	// report drainComplete, and the status calls it took.
	DrainWait  time.Duration `json:"drainWait"`
	DrainPolls int           `json:"drainPolls"`
	Warnings   []string      `json:"warnings"`
}

// switchOver moves the stream from from to to as the runbook says: wait for
// the previous switch to settle, call the failover function in to (again
// while its replica is behind), wait for producersMayStartAt, then resend
// from resumeFrom (rewind) or wait for the drain (drain).
func (s *story) switchOver(ctx context.Context, from, to *region, expectedEpoch int64, previous []Failover) (Failover, error) {
	f := Failover{From: from.name, To: to.name, Mode: s.o.Mode}
	if n := len(previous); n > 0 && previous[n-1].SettledAt != nil {
		settled := *previous[n-1].SettledAt
		if wait := time.Until(settled); wait > 0 {
			f.SettleWait = wait
			fmt.Fprintf(s.out, "The switch back to %s waits %v for the previous switch's settledAt %s (a switch back before it is refused)\n",
				to.name, wait.Round(time.Millisecond), stamp(settled))
			if err := sleepUntil(ctx, settled); err != nil {
				return f, err
			}
		}
	}
	if s.hang != nil && s.hang.Region == to.name {
		if err := s.hang.waitHealed(ctx, s.out, "the switch to "+to.name); err != nil {
			return f, err
		}
	}
	if s.hang != nil && s.hang.Region == from.name {
		s.hang.start(s.world, s.out)
		f.Impaired = from.name
	}

	payload := map[string]any{
		"targetRegion":  to.name,
		"streams":       []string{s.o.Stream},
		"mode":          s.o.Mode,
		"expectedEpoch": expectedEpoch,
		"reason":        fmt.Sprintf("local demo: fail over from %s to %s", from.name, to.name),
		"requestedBy":   "scripts/demo.sh",
	}
	fmt.Fprintf(s.out, "Failing over %s → %s (%s mode): invoking the failover function in %s\n", from.name, to.name, s.o.Mode, to.name)
	rep, err := s.callUntilAccepted(ctx, to, payload, &f)
	if s.hang != nil && s.hang.Region == from.name {
		s.hang.healAfter(s.world, s.out, s.hang.For)
	}
	if err != nil {
		return f, err
	}
	st := rep.Streams[0]
	f.Epoch, f.ActiveSince, f.ResumeFrom, f.SettledAt, f.Warnings = st.Epoch, st.ActiveSince, st.ResumeFrom, st.SettledAt, rep.Warnings
	if st.ProducersMayStartAt == nil {
		return f, fmt.Errorf("fail over to %s: the report has no producersMayStartAt: %+v", to.name, st)
	}
	f.ProducersMayStartAt = *st.ProducersMayStartAt
	s.progress.setActive(to.name + " (producers wait)")
	fmt.Fprintf(s.out, "Switched %s → %s in %v (%d call(s)): epoch %d, active from %s, resumeFrom %s, settledAt %s\n",
		from.name, to.name, f.Took.Round(time.Millisecond), f.Calls, f.Epoch, stamp(f.ActiveSince),
		stampOr(f.ResumeFrom, "none (from the earliest)"), stampOr(f.SettledAt, "-"))
	for _, w := range f.Warnings {
		fmt.Fprintf(s.out, "  warning: %s\n", w)
	}

	if wait := time.Until(f.ProducersMayStartAt); wait > 0 {
		f.ProducersWait = wait
		fmt.Fprintf(s.out, "Producers wait %v for producersMayStartAt %s\n", wait.Round(time.Millisecond), stamp(f.ProducersMayStartAt))
		if err := sleepUntil(ctx, f.ProducersMayStartAt); err != nil {
			return f, err
		}
	}
	s.checks = append(s.checks, promisecheck.Failover{From: from.name, To: to.name, ResumeFrom: f.ResumeFrom})
	if s.o.Mode == ModeRewind {
		n, err := s.task.Resend(ctx, to.name, to.kinesis, f.ResumeFrom)
		f.Resent = n
		if err != nil {
			return f, fmt.Errorf("resend from resumeFrom into %s: %w", to.name, err)
		}
		fmt.Fprintf(s.out, "The CDC task restarts in %s from resumeFrom %s: sent %d changes again\n", to.name, stampOr(f.ResumeFrom, "(none: the earliest)"), n)
		return f, nil
	}
	return f, s.waitDrained(ctx, from, to, &f)
}

// callUntilAccepted invokes the failover in to until it switches: a call
// that finds to's replica behind the expected epoch ("staleEpoch"), or the
// previous switch not settled there, is made again a second later, as the
// runbook says, within the wait bound.
func (s *story) callUntilAccepted(ctx context.Context, to *region, payload map[string]any, f *Failover) (failover.Report, error) {
	deadline := time.Now().Add(s.o.WaitTimeout)
	said := map[string]bool{}
	for {
		f.Calls++
		f.CalledAt = time.Now()
		rep, err := invokeFailover(ctx, to.failover, payload)
		f.Took = time.Since(f.CalledAt)
		retry := ""
		switch {
		case err != nil && strings.Contains(err.Error(), "has not settled yet"):
			retry = "the previous switch has not settled yet in " + to.name
			if !said[retry] {
				fmt.Fprintf(s.out, "  refused: %v\n", err)
			}
		case err != nil:
			return rep, fmt.Errorf("fail over to %s: %w", to.name, err)
		case len(rep.Streams) != 1:
			return rep, fmt.Errorf("fail over to %s: got %d streams in the report, want 1 (warnings %q)", to.name, len(rep.Streams), rep.Warnings)
		case rep.Streams[0].Status == failover.StatusStaleEpoch:
			retry = to.name + "'s replica is behind the expected epoch"
			if !said[retry] {
				for _, w := range rep.Warnings {
					fmt.Fprintf(s.out, "  %s: %s\n", rep.Streams[0].Status, w)
				}
			}
		case rep.Streams[0].Status != failover.StatusSwitched:
			return rep, fmt.Errorf("fail over to %s: got status %q at epoch %d, want %q (warnings %q)",
				to.name, rep.Streams[0].Status, rep.Streams[0].Epoch, failover.StatusSwitched, rep.Warnings)
		default:
			return rep, nil
		}
		if !said[retry] {
			fmt.Fprintf(s.out, "  %s: calling again every second\n", retry)
			said[retry] = true
		}
		if time.Now().After(deadline) {
			return rep, fmt.Errorf("fail over to %s: not accepted within %v: %s", to.name, s.o.WaitTimeout, retry)
		}
		if err := sleepUntil(ctx, time.Now().Add(time.Second)); err != nil {
			return rep, err
		}
	}
}

// waitDrained polls status in to until it reports the drain of from's
// closed epoch complete: producers that need per-key order start after it.
func (s *story) waitDrained(ctx context.Context, from, to *region, f *Failover) error {
	bound := s.o.WaitTimeout
	if s.hang != nil && s.hang.Region == from.name {
		bound += s.hang.For
	}
	fmt.Fprintf(s.out, "Producers wait for drainComplete in %s's status: %s replicates what it still holds of epoch %d (at most %v)\n",
		to.name, from.name, f.Epoch-1, bound)
	start := time.Now()
	deadline := start.Add(bound)
	for {
		f.DrainPolls++
		rep, err := invokeFailover(ctx, to.failover, map[string]any{"action": "status", "streams": []string{s.o.Stream}})
		if err != nil {
			return fmt.Errorf("status in %s: %w", to.name, err)
		}
		if len(rep.Streams) == 1 {
			if d := rep.Streams[0].DrainComplete; d != nil && *d {
				f.DrainWait = time.Since(start)
				fmt.Fprintf(s.out, "Drain of %s complete after %v (%d status calls); producers start in %s\n",
					from.name, f.DrainWait.Round(time.Millisecond), f.DrainPolls, to.name)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drain of %s not complete within %v (last status warnings %q)", from.name, bound, rep.Warnings)
		}
		if err := sleepUntil(ctx, time.Now().Add(500*time.Millisecond)); err != nil {
			return err
		}
	}
}

// invokeFailover sends payload as JSON, the way Lambda delivers it.
func invokeFailover(ctx context.Context, h *failover.Handler, payload map[string]any) (failover.Report, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return failover.Report{}, fmt.Errorf("encode failover payload: %w", err)
	}
	return h.Handle(ctx, raw)
}

// hang is the run's impairment: a Region that hangs around the switch that
// leaves it.
type hang struct {
	Impairment
	mu      sync.Mutex
	started bool
	healAt  time.Time
	timer   *time.Timer
	healed  chan struct{}
}

// start makes the Region hang, once.
func (h *hang) start(w *localworld.World, out io.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return
	}
	h.started = true
	w.Hang(h.Region)
	fmt.Fprintf(out, "Impairing %s: its endpoints accept requests and never answer, until %v after the failover call returns\n", h.Region, h.For)
}

// healAfter lets the Region answer again d from now.
func (h *hang) healAfter(w *localworld.World, out io.Writer, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started || h.timer != nil {
		return
	}
	h.healAt = time.Now().Add(d)
	h.timer = time.AfterFunc(d, func() {
		w.Heal(h.Region)
		fmt.Fprintf(out, "%s answers again\n", h.Region)
		close(h.healed)
	})
}

// waitHealed waits, if the Region hangs, until it answers again.
func (h *hang) waitHealed(ctx context.Context, out io.Writer, what string) error {
	h.mu.Lock()
	started, healAt := h.started, h.healAt
	h.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-h.healed:
		return nil
	default:
	}
	fmt.Fprintf(out, "%s waits for %s to answer again (at %s)\n", capitalise(what), h.Region, stamp(healAt))
	select {
	case <-h.healed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop cancels a heal still pending (the world's Close releases what the
// Region holds) or waits for one under way.
func (h *hang) stop() {
	h.mu.Lock()
	t := h.timer
	h.mu.Unlock()
	if t != nil && !t.Stop() {
		<-h.healed
	}
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
