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

// Getter reads a stream's config; *Store is one.
type Getter interface {
	Get(ctx context.Context, stream string) (Config, error)
}

var _ Getter = (*Store)(nil)

// Cache applies the active-Region rule (DESIGN.md) with a per-stream cached
// config. It is safe for concurrent use: shard pollers share one Cache.
type Cache struct {
	getter Getter
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]cached
}

type cached struct {
	cfg Config
	// readAt is taken before the read started: the config is known to be at
	// least this new, never newer than it claims.
	readAt time.Time
}

// NewCache returns a Cache that reads through g and trusts a read for ttl;
// now is the clock (time.Now in production).
//
// ttl bounds the switchover echo window: after a switch away from a Region,
// that Region may still replicate, for up to ttl, replicas that arrive there
// from the newly active one. With ttl 0 every decision about a record that
// arrived after the cached read rereads the config, so decisions are exact
// at the cost of about one read per invocation.
func NewCache(g Getter, ttl time.Duration, now func() time.Time) *Cache {
	return &Cache{getter: g, ttl: ttl, now: now, entries: make(map[string]cached)}
}

// Decide returns, for each record arrival time, whether region must replicate
// the record: iff cfg.RegionAt(arrival) == region. cfg is the config the
// decisions were taken on; its At(arrival).Epoch is the epoch a checkpoint
// of that record carries.
//
// A skip is only decided on a read that started at or after the record's
// arrival, so a newly active Region never skips what arrived after its
// switch; otherwise the config is read once more for the whole batch. Any
// read error, ErrNotFound included, fails the whole decision: nothing is
// skipped on a guess.
func (c *Cache) Decide(ctx context.Context, stream, region string, arrivals []time.Time) (replicate []bool, cfg Config, err error) {
	entry, ok := c.lookup(stream)
	if !ok || c.now().Sub(entry.readAt) > c.ttl {
		if entry, err = c.read(ctx, stream); err != nil {
			return nil, Config{}, err
		}
	} else if c.needsNewerRead(entry, region, arrivals) {
		if entry, err = c.read(ctx, stream); err != nil {
			return nil, Config{}, err
		}
	}

	replicate = make([]bool, len(arrivals))
	for i, arrival := range arrivals {
		replicate[i] = entry.cfg.RegionAt(arrival) == region
		if !replicate[i] && arrival.After(entry.readAt) {
			return nil, Config{}, fmt.Errorf("decide for stream %s: record arrived at %s, config read at %s: %w",
				stream, arrival.UTC().Format(time.RFC3339Nano), entry.readAt.UTC().Format(time.RFC3339Nano), ErrArrivalAfterRead)
		}
	}
	return replicate, entry.cfg, nil
}

// needsNewerRead reports whether entry is too old for some record: a skip of
// a record that arrived after the read, or, with ttl 0, any record that did.
func (c *Cache) needsNewerRead(entry cached, region string, arrivals []time.Time) bool {
	for _, arrival := range arrivals {
		if !arrival.After(entry.readAt) {
			continue
		}
		if c.ttl == 0 || entry.cfg.RegionAt(arrival) != region {
			return true
		}
	}
	return false
}

// ReadAt returns when the cached config of stream was read, for metrics.
func (c *Cache) ReadAt(stream string) (time.Time, bool) {
	entry, ok := c.lookup(stream)
	return entry.readAt, ok
}

func (c *Cache) lookup(stream string) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	entry, ok := c.entries[stream]
	return entry, ok
}

// read reads the config without holding the lock, so one slow stream does
// not stall the others, and keeps whichever of the concurrent reads started
// last.
func (c *Cache) read(ctx context.Context, stream string) (cached, error) {
	readAt := c.now()
	cfg, err := c.getter.Get(ctx, stream)
	if err != nil {
		return cached{}, fmt.Errorf("read active-Region config of stream %s: %w", stream, err)
	}
	fresh := cached{cfg: cfg, readAt: readAt}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[stream]; !ok || !old.readAt.After(readAt) {
		c.entries[stream] = fresh
	}
	return fresh, nil
}
