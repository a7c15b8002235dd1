package activeregion

import "time"

// The clock arithmetic of a switchover. Replicators and the failover
// function must agree on it, so it lives here once.
//
// A replicator writes into the other Region only on a fence: a read of the
// *target* Region's replica of the config, where a failover into that
// Region is written first (it is invoked there). A fence read is trusted for
// a write lease; once a switch is visible in the new Region's replica at V,
// the old Region's writes of its closed epoch start before V+TTL+WriteGrace
// and are cut by then, so they have all landed by Timing.OldWritesLandBy(V).
// None of this depends on the global table's replication delay or on the old
// Region answering.
const (
	// SwitchLead is how far ahead of its write a failover stamps `since`,
	// so that the switch is readable in the new Region's replica by then.
	SwitchLead = time.Second
	// WriteGrace is how long past a fence read's TTL a write may still
	// start: a batch decided at the end of the TTL gets time to write.
	WriteGrace = 2 * time.Second
	// LandingMargin covers a write cut at the end of its lease that the
	// target still takes in, and clock skew between hosts.
	LandingMargin = time.Second
	// HoldMargin covers clock skew between the two Regions' hosts in the
	// switchover hold.
	HoldMargin = time.Second
	// SwitchWriteTimeout bounds a failover's switch write; a switch whose
	// visibility was not recorded counts as visible by since plus this.
	SwitchWriteTimeout = 10 * time.Second
)

// Timing derives the switchover times from the replicators' config cache
// TTL (ACTIVE_REGION_CACHE_TTL, which the failover function is told too).
type Timing struct {
	CacheTTL time.Duration
}

// FenceRefreshAfter is the age at which a fence read is renewed before a
// batch is decided: half the TTL, so every decided batch keeps at least
// half a TTL plus WriteGrace to write.
func (t Timing) FenceRefreshAfter() time.Duration { return t.CacheTTL / 2 }

// WriteUntil is when writes decided on a fence read that started at
// readAt must stop starting.
func (t Timing) WriteUntil(readAt time.Time) time.Time {
	return readAt.Add(t.CacheTTL + WriteGrace)
}

// OldWritesLandBy is when every write of the closed epoch by the old Region
// has landed in the new Region, for a switch visible there by visibleBy.
func (t Timing) OldWritesLandBy(visibleBy time.Time) time.Time {
	return t.WriteUntil(visibleBy).Add(LandingMargin)
}

// HoldUntil is when a newly active Region may write into the old Region:
// by then every decision the old Region took on a fence read from before
// the switch was visible has expired, so it cannot replicate back what
// arrives from the new Region.
func (t Timing) HoldUntil(visibleBy time.Time) time.Time {
	return visibleBy.Add(t.CacheTTL + HoldMargin)
}

// Since is the start a failover stamps on a switch whose write begins at
// writeStart: readable by then, and not before notBefore (a forced switch
// waits for the previous one to settle). In rewind mode it is also after
// every old-epoch write has landed, so none of them arrives in the new
// epoch and echoes back.
func (t Timing) Since(writeStart time.Time, mode Mode, notBefore time.Time) time.Time {
	since := writeStart.Add(SwitchLead)
	if mode == ModeRewind {
		since = t.OldWritesLandBy(since)
	}
	if notBefore.After(since) {
		since = notBefore
	}
	return since
}

// VisibleByOr is the latest time at which the switch into e was readable
// in its Region's replica: the time its failover recorded, or, before that is
// recorded (or if recording failed), the end of a read that showed it,
// bounded by since plus SwitchWriteTimeout.
func (e Epoch) VisibleByOr(observedAt time.Time) time.Time {
	if e.VisibleBy != nil {
		return *e.VisibleBy
	}
	bound := e.Since.Add(SwitchWriteTimeout)
	if observedAt.Before(bound) {
		return observedAt
	}
	return bound
}

// SettledAt is when the switch into e has settled: the old Region's writes
// of the closed epoch have landed and the new Region's hold has ended.
func (t Timing) SettledAt(e Epoch) time.Time {
	if e.SettledAt != nil {
		return *e.SettledAt
	}
	settled := t.OldWritesLandBy(e.VisibleByOr(e.Since.Add(SwitchWriteTimeout)))
	if e.Since.After(settled) {
		return e.Since
	}
	return settled
}

// ProducersMayStartAt is when producers may write in the Region the switch
// into e activated. In rewind mode, once the switch has settled: no record
// of the old epoch can land after theirs. In drain mode, once the switch is
// readable there for certain (its visibility plus the skew margin, never
// before since): a record written earlier could be decided on a read from
// before the switch, and skipped.
func (t Timing) ProducersMayStartAt(e Epoch) time.Time {
	if e.Mode != ModeDrain {
		return t.SettledAt(e)
	}
	start := e.VisibleByOr(e.Since.Add(SwitchWriteTimeout)).Add(HoldMargin)
	if e.Since.After(start) {
		return e.Since
	}
	return start
}
