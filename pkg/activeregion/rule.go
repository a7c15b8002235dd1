package activeregion

import (
	"fmt"
	"sort"
	"time"
)

// Mode is what a switch does with the not-yet-replicated backlog of the
// epoch it closes (docs/operations.md, What a failover does).
type Mode string

const (
	// ModeRewind supersedes the closed epoch's backlog: the old Region
	// never writes it into the new Region, because the producers send it
	// again from the resume point. The default.
	ModeRewind Mode = "rewind"
	// ModeDrain lets the old Region keep replicating its closed epoch's
	// backlog, for producers that cannot rewind.
	ModeDrain Mode = "drain"
)

// ParseMode reads a failover payload's mode; empty is ModeRewind.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeRewind:
		return ModeRewind, nil
	case ModeDrain:
		return ModeDrain, nil
	default:
		return "", fmt.Errorf("mode %q: want %q or %q", s, ModeRewind, ModeDrain)
	}
}

// Decision is what the Region holding a record does with it.
type Decision uint8

const (
	// Replicate: the Region was active when the record arrived, and its
	// epoch is open or was closed in drain mode.
	Replicate Decision = iota + 1
	// Skip: another Region was active when the record arrived (a replica,
	// or a record produced into a standby); someone else is responsible.
	Skip
	// Supersede: the Region was active when the record arrived, but that
	// epoch was closed in rewind mode, so the producers send the record
	// again in the new Region; writing it now could land it after theirs.
	Supersede
	// Undecided: the record is older than the oldest kept history entry
	// and that entry is not the stream's first epoch, so who was active
	// then is unknown. Deciding by guess could loop or lose it.
	Undecided
)

func (d Decision) String() string {
	switch d {
	case Replicate:
		return "replicate"
	case Skip:
		return "skip"
	case Supersede:
		return "supersede"
	case Undecided:
		return "undecided"
	default:
		return fmt.Sprintf("Decision(%d)", uint8(d))
	}
}

// Decide is the active-Region rule for one record that arrived in region
// at arrival. It reads only the history, so it answers the same in every
// Region for the same config.
func (c Config) Decide(region string, arrival time.Time) Decision {
	if len(c.History) == 0 {
		if c.ActiveRegion == region {
			return Replicate
		}
		return Skip
	}
	i, known := c.entryOf(arrival)
	if !known {
		return Undecided
	}
	if c.History[i].Region != region {
		return Skip
	}
	if closer, ok := c.closerOf(i); ok && closer.Mode != ModeDrain && closer.Mode != "" {
		return Supersede
	}
	// Entries written before modes existed have no mode: the old Region
	// drained then, so they keep doing so.
	return Replicate
}

// closerOf returns the entry that ended the Region of entry i: the first
// later entry of another Region.
func (c Config) closerOf(i int) (Epoch, bool) {
	for _, e := range c.History[i+1:] {
		if e.Region != c.History[i].Region {
			return e, true
		}
	}
	return Epoch{}, false
}

// Current returns the history entry of the current epoch.
func (c Config) Current() Epoch {
	if len(c.History) == 0 {
		return Epoch{Region: c.ActiveRegion, Since: c.ActiveSince, Epoch: c.Epoch}
	}
	return c.History[len(c.History)-1]
}

// Newer returns whichever of a and b is at the later epoch, a on a tie.
// Epochs only grow and each switch keeps the history before it, so the
// item at the later epoch knows everything the other one does.
func Newer(a, b Config) Config {
	if b.Epoch > a.Epoch {
		return b
	}
	return a
}

// DrainedThrough is the latest epoch of region that had ended by t, the
// arrival of a record the replicator has acknowledged: every record of that
// epoch on the record's shard is acknowledged too, since a shard is read in
// order. false when no epoch of region ended by t.
func (c Config) DrainedThrough(region string, t time.Time) (int64, bool) {
	for i := len(c.History) - 1; i >= 0; i-- {
		if c.History[i].Region != region {
			continue
		}
		if closer, ok := c.closerOf(i); ok && !closer.Since.After(t) {
			return c.History[i].Epoch, true
		}
	}
	return 0, false
}

// ClosedBy returns the switch that ended the epoch a record arriving at
// arrival belongs to: the first later history entry of another Region.
// false while that epoch's Region is still active, and for records older
// than the history. Its ResumeFrom is where that switch told producers to
// resume, so records committed before it had to be replicated by then.
func (c Config) ClosedBy(arrival time.Time) (Epoch, bool) {
	i, known := c.entryOf(arrival)
	if !known || len(c.History) == 0 {
		return Epoch{}, false
	}
	return c.closerOf(i)
}

// entryOf returns the index of the history entry a record arriving at
// arrival belongs to. Before the first entry, a stream's first epoch (init,
// seed) also owns the records the stream held before replication started;
// a trimmed history owns nothing older than itself (known is false).
func (c Config) entryOf(arrival time.Time) (i int, known bool) {
	i = sort.Search(len(c.History), func(i int) bool { return c.History[i].Since.After(arrival) }) - 1
	if i >= 0 {
		return i, true
	}
	if len(c.History) > 0 && c.History[0].Epoch > 1 {
		return 0, false
	}
	return 0, true
}
