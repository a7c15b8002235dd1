package activeregion

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrArrivalAfterRead: a record seems to have arrived after the newest config
// read started (clock skew between the stream and the caller), so the rule
// cannot take a skip decision for it yet. Failing the batch is safe: Lambda
// retries it, and by then the clock has passed the arrival.
var ErrArrivalAfterRead = errors.New("record arrived after the newest config read")

// ErrUndecidable: a record is older than the oldest kept history entry, so
// no Region can be named responsible for it without a guess.
var ErrUndecidable = errors.New("record older than the config's kept history")

// Getter reads a stream's config from one replica of the table; *Store is
// one, and Get keeps the contract of Store.Get (ErrNotFound, a malformed
// item an error, never a guess). It must read consistently: a read that
// starts after a write to the same replica was acknowledged returns that
// write or a later one.
type Getter interface {
	Get(ctx context.Context, stream string) (Config, error)
}

var _ Getter = (*Store)(nil)

// Rule is the active-Region rule (Config.Decide; docs/reference.md, How a
// batch is replicated) as one Region applies it, on cached reads of two
// replicas of the config table:
//
//   - its own Region's, where a failover into this Region is written first:
//     a record is skipped only on a read of it that started at or after the
//     record's arrival, so no record of a switch into this Region is skipped;
//   - the target Region's (the fence), where a failover away from this
//     Region is written first: a record is written only while a fence read
//     is at most half a TTL old, and its writes stop at Verdict.WriteUntil,
//     so the old Region stops writing within a bounded time of a switch,
//     whatever the global table's replication delay.
//
// It is safe for concurrent use: shard pollers share one Rule.
type Rule struct {
	own, fence Getter
	timing     Timing
	now        func() time.Time

	mu    sync.Mutex
	reads map[readKey]cached
	// refreshing marks the reads renewed in the background (see
	// prefetchFence); prefetch turns the renewals on.
	refreshing map[readKey]bool
	prefetch   bool
}

// RuleOption tunes NewRule.
type RuleOption func(*Rule)

// WithFencePrefetch turns on the background renewal of fence reads
// (prefetchFence). It is off by default: it reads the clock and the fence
// from another goroutine, which a test's clock and its count of reads
// cannot follow; the replicator turns it on.
func WithFencePrefetch() RuleOption { return func(c *Rule) { c.prefetch = true } }

type replica uint8

const (
	ownReplica replica = iota
	fenceReplica
)

type readKey struct {
	replica replica
	stream  string
}

type cached struct {
	cfg Config
	// readAt is taken before the read started: the config is known to be at
	// least this new, never newer than it claims.
	readAt time.Time
	// readEnd is taken after it returned: what it shows was visible then.
	readEnd time.Time
}

// NewRule returns a Rule that reads the own replica through own and the
// target Region's through fence, trusting an own read for ttl and a fence
// read for half of it; now is the clock (time.Now in production). A nil
// fence leaves writes unfenced: only for tests of the own-replica rule.
//
// With ttl 0 every batch that holds a record newer than the cached read
// reads the config again, and every batch with something to write reads the
// fence: exact decisions at the cost of two reads per invocation.
func NewRule(own, fence Getter, ttl time.Duration, now func() time.Time, opts ...RuleOption) *Rule {
	c := &Rule{own: own, fence: fence, timing: Timing{CacheTTL: ttl}, now: now,
		reads: make(map[readKey]cached), refreshing: make(map[readKey]bool)}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Verdict is the rule's answer for one batch.
type Verdict struct {
	// Decisions has one entry per arrival, same index.
	Decisions []Decision
	// Config is the newest config the decisions were taken on; its
	// At(arrival).Epoch is the epoch a checkpoint of that record carries.
	Config Config
	// ObservedAt is when the read that returned Config ended: the
	// switches it shows were visible by then.
	ObservedAt time.Time
	// WriteUntil is when writes of this batch must stop starting (zero
	// without a fence).
	WriteUntil time.Time
}

// Decide applies the rule to every arrival of a batch of stream that arrived
// in region. Any read error, ErrNotFound included, fails the whole decision:
// nothing is skipped on a guess.
func (c *Rule) Decide(ctx context.Context, stream, region string, arrivals []time.Time) (Verdict, error) {
	own, err := c.cachedOrRead(ctx, ownReplica, stream, c.timing.CacheTTL)
	if err != nil {
		return Verdict{}, err
	}
	fence, hasFence := c.lookup(fenceReplica, stream)
	ownReread, fenceRead := false, false
	for {
		v := c.verdict(own, fence, hasFence, region, arrivals)
		stale := c.staleSkip(v, own, arrivals, ownReread)
		needFence := c.fence != nil && v.writes() && !fenceRead &&
			(!hasFence || c.now().Sub(fence.readAt) > c.timing.FenceRefreshAfter())
		switch {
		case stale >= 0 && ownReread:
			return Verdict{}, fmt.Errorf("decide for stream %s: record arrived at %s, config read at %s: %w",
				stream, stamp(arrivals[stale]), stamp(own.readAt), ErrArrivalAfterRead)
		case stale >= 0:
			if own, err = c.read(ctx, ownReplica, stream); err != nil {
				return Verdict{}, err
			}
			ownReread = true
		case needFence:
			if fence, err = c.read(ctx, fenceReplica, stream); err != nil {
				return Verdict{}, fmt.Errorf("fence: %w", err)
			}
			hasFence, fenceRead = true, true
		default:
			if i := v.first(Undecided); i >= 0 {
				oldest := v.Config.History[0]
				return Verdict{}, fmt.Errorf("decide for stream %s: record arrived at %s, before the oldest kept history entry (epoch %d since %s): %w; keep history at least as long as the stream's retention (HISTORY_RETENTION of the failover function)",
					stream, stamp(arrivals[i]), oldest.Epoch, stamp(oldest.Since), ErrUndecidable)
			}
			if c.fence != nil && v.writes() {
				v.WriteUntil = c.timing.WriteUntil(fence.readAt)
				c.prefetchFence(stream, fence)
			}
			return v, nil
		}
	}
}

// verdict takes the decisions on the newer of the two reads.
func (c *Rule) verdict(own, fence cached, hasFence bool, region string, arrivals []time.Time) Verdict {
	src := own
	if hasFence && fence.cfg.Epoch > own.cfg.Epoch {
		src = fence
	}
	v := Verdict{Decisions: make([]Decision, len(arrivals)), Config: src.cfg, ObservedAt: src.readEnd}
	for i, arrival := range arrivals {
		v.Decisions[i] = src.cfg.Decide(region, arrival)
	}
	return v
}

// staleSkip returns the first record that must not be decided on the
// current own read, or -1: a record not replicated that arrived after the
// read started (a switch into this Region since then would be missed), or,
// with ttl 0, any record that arrived after it, unless the own replica was
// just read for this batch.
func (c *Rule) staleSkip(v Verdict, own cached, arrivals []time.Time, justRead bool) int {
	for i, arrival := range arrivals {
		if !arrival.After(own.readAt) {
			continue
		}
		if v.Decisions[i] != Replicate || (c.timing.CacheTTL == 0 && !justRead) {
			return i
		}
	}
	return -1
}

func (v Verdict) writes() bool { return v.first(Replicate) >= 0 }

func (v Verdict) first(d Decision) int {
	for i, got := range v.Decisions {
		if got == d {
			return i
		}
	}
	return -1
}

// prefetchTimeout bounds a fence read renewed in the background, which no
// invocation's context covers.
const prefetchTimeout = SwitchWriteTimeout

// prefetchFence renews, in the background, a fence read past half its
// refresh age, so that a steady stream of batches finds a fresh one and
// never waits for a cross-Region read (the target Region's round trip would
// otherwise sit in the lag of every batch that refreshes). It changes no
// decision: a read counts from when it started, and the batch that needs a
// fresh read and finds none still reads in its own turn.
func (c *Rule) prefetchFence(stream string, fence cached) {
	if !c.prefetch || c.now().Sub(fence.readAt) <= c.timing.FenceRefreshAfter()/2 {
		return
	}
	key := readKey{fenceReplica, stream}
	c.mu.Lock()
	if c.refreshing[key] {
		c.mu.Unlock()
		return
	}
	c.refreshing[key] = true
	c.mu.Unlock()
	go func() {
		defer func() {
			c.mu.Lock()
			delete(c.refreshing, key)
			c.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), prefetchTimeout)
		defer cancel()
		// A failed renewal is no decision: the next batch that needs the
		// fence reads it and fails there if the Region does not answer.
		_, _ = c.read(ctx, fenceReplica, stream)
	}()
}

func (c *Rule) cachedOrRead(ctx context.Context, r replica, stream string, ttl time.Duration) (cached, error) {
	if entry, ok := c.lookup(r, stream); ok && c.now().Sub(entry.readAt) <= ttl {
		return entry, nil
	}
	return c.read(ctx, r, stream)
}

func (c *Rule) lookup(r replica, stream string) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	entry, ok := c.reads[readKey{r, stream}]
	return entry, ok
}

// read reads the config without holding the lock, so one slow stream does
// not stall the others, and keeps whichever of the concurrent reads started
// last.
func (c *Rule) read(ctx context.Context, r replica, stream string) (cached, error) {
	getter := c.own
	if r == fenceReplica {
		getter = c.fence
	}
	readAt := c.now()
	cfg, err := getter.Get(ctx, stream)
	if err != nil {
		return cached{}, fmt.Errorf("read active-Region config of stream %s: %w", stream, err)
	}
	fresh := cached{cfg: cfg, readAt: readAt, readEnd: c.now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := readKey{r, stream}
	if old, ok := c.reads[key]; !ok || !old.readAt.After(readAt) {
		c.reads[key] = fresh
	}
	return fresh, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
