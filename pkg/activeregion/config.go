// Package activeregion holds the per-stream active-Region config item, the
// rule that decides which Region replicates a record, a cache of the item for
// the replicator, and the fenced switch used by failover.
package activeregion

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Errors a caller tells apart with errors.Is.
var (
	// ErrNotFound: the stream has no config item.
	ErrNotFound = errors.New("no active-Region config item")
	// ErrStaleEpoch: the caller's expected epoch is not the item's epoch.
	ErrStaleEpoch = errors.New("expected epoch does not match")
	// ErrConflict: another writer changed the item between read and write.
	ErrConflict = errors.New("concurrent update of the active-Region config")
)

// Epoch is one entry of a config item's history: from Since on, Region was
// active, until the next entry's Since.
type Epoch struct {
	Region      string    `dynamodbav:"region" json:"region"`
	Since       time.Time `dynamodbav:"since" json:"since"`
	Epoch       int64     `dynamodbav:"epoch" json:"epoch"`
	Reason      string    `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
	RequestID   string    `dynamodbav:"requestId,omitempty" json:"requestId,omitempty"`
	RequestedBy string    `dynamodbav:"requestedBy,omitempty" json:"requestedBy,omitempty"`
	// ResumeFrom is where producers had to resume in Region when the
	// failover into this epoch ran, computed from the previous Region's
	// checkpoints at that moment. It is stored because the shared
	// checkpoint items are overwritten by Region's own replicator soon
	// after, so a later call could not compute it again. Absent for epochs
	// not started by a failover (init, seed) and for items written before
	// the attribute existed.
	ResumeFrom *time.Time `dynamodbav:"resumeFrom,omitempty" json:"resumeFrom,omitempty"`
	// Mode is what the switch into this epoch did with the previous
	// epoch's backlog. Empty for first epochs and for entries written
	// before modes existed, which drained.
	Mode Mode `dynamodbav:"mode,omitempty" json:"mode,omitempty"`
	// VisibleBy is when the failover saw its switch write acknowledged:
	// from then on every read of this Region's replica shows the switch.
	// The switchover hold and the settle time are measured from it.
	VisibleBy *time.Time `dynamodbav:"visibleBy,omitempty" json:"visibleBy,omitempty"`
	// SettledAt is when the previous Region's writes of its closed epoch
	// have all landed (Timing.OldWritesLandBy); a switch away from this
	// epoch before then is refused unless forced.
	SettledAt *time.Time `dynamodbav:"settledAt,omitempty" json:"settledAt,omitempty"`
}

// Config is the kdsActiveRegionConfig item of one stream (schema in docs/reference.md, Tables).
// History is oldest first and its last entry is the current epoch.
type Config struct {
	StreamName   string    `dynamodbav:"streamName" json:"streamName"`
	ActiveRegion string    `dynamodbav:"activeRegion" json:"activeRegion"`
	ActiveSince  time.Time `dynamodbav:"activeSince" json:"activeSince"`
	Epoch        int64     `dynamodbav:"epoch" json:"epoch"`
	History      []Epoch   `dynamodbav:"history" json:"history"`
	UpdatedBy    string    `dynamodbav:"updatedBy,omitempty" json:"updatedBy,omitempty"`
	Reason       string    `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
}

// History bounds. A record is decided by the epoch it arrived in, so an
// epoch is kept for as long as a stream may still hold records of it: the
// longest retention (365 days). The count cap keeps the item far below
// DynamoDB's 400 KB (an entry is about 300 bytes).
const (
	DefaultHistoryRetention = 365 * 24 * time.Hour
	DefaultHistoryLimit     = 1000
)

// At returns the history entry active at t: the last entry whose Since is not
// after t. A t before the first entry gets the first entry, because trimmed
// history leaves no better answer for records that old. A config without
// history answers with its current epoch.
func (c Config) At(t time.Time) Epoch {
	if len(c.History) == 0 {
		return Epoch{Region: c.ActiveRegion, Since: c.ActiveSince, Epoch: c.Epoch}
	}
	i := sort.Search(len(c.History), func(i int) bool { return c.History[i].Since.After(t) })
	if i == 0 {
		return c.History[0]
	}
	return c.History[i-1]
}

// RegionAt returns the Region active at t.
func (c Config) RegionAt(t time.Time) string {
	return c.At(t).Region
}

// TakeoverAt returns when the Region active at t took over from another
// Region: the Since of the epoch active at t, when the epoch before it was
// another Region's. ok is false for the first epoch known and for epochs that
// only repeat the previous Region.
func (c Config) TakeoverAt(t time.Time) (since time.Time, ok bool) {
	i := sort.Search(len(c.History), func(i int) bool { return c.History[i].Since.After(t) })
	if i < 2 || c.History[i-2].Region == c.History[i-1].Region {
		return time.Time{}, false
	}
	return c.History[i-1].Since, true
}

// Validate reports the first inconsistency that would make the active-Region
// rule answer wrongly: the rule reads History, failover and status read the
// current fields, so both must exist and agree.
func (c Config) Validate() error {
	switch {
	case c.StreamName == "":
		return errors.New("streamName is empty")
	case c.ActiveRegion == "":
		return errors.New("activeRegion is empty")
	case c.ActiveSince.IsZero():
		return errors.New("activeSince is missing")
	case c.Epoch < 1:
		return fmt.Errorf("epoch is %d, want 1 or more", c.Epoch)
	case len(c.History) == 0:
		return errors.New("history is empty")
	}
	for i, e := range c.History {
		switch {
		case e.Region == "":
			return fmt.Errorf("history[%d].region is empty", i)
		case e.Since.IsZero():
			return fmt.Errorf("history[%d].since is missing", i)
		case e.Epoch < 1:
			return fmt.Errorf("history[%d].epoch is %d, want 1 or more", i, e.Epoch)
		case e.Mode != "" && e.Mode != ModeRewind && e.Mode != ModeDrain:
			return fmt.Errorf("history[%d].mode is %q, want %q or %q", i, e.Mode, ModeRewind, ModeDrain)
		}
		if i == 0 {
			continue
		}
		prev := c.History[i-1]
		if e.Since.Before(prev.Since) {
			return fmt.Errorf("history[%d].since %s is before history[%d].since %s: history must be sorted by since",
				i, e.Since.Format(time.RFC3339Nano), i-1, prev.Since.Format(time.RFC3339Nano))
		}
		// Checkpoints are ordered by epoch, so epochs must only grow.
		if e.Epoch <= prev.Epoch {
			return fmt.Errorf("history[%d].epoch %d is not after history[%d].epoch %d", i, e.Epoch, i-1, prev.Epoch)
		}
	}
	last := c.History[len(c.History)-1]
	if last.Epoch != c.Epoch || last.Region != c.ActiveRegion {
		return fmt.Errorf("history ends with epoch %d in %s, want the current epoch %d in %s",
			last.Epoch, last.Region, c.Epoch, c.ActiveRegion)
	}
	return nil
}
