// Package activeregiontest holds the shared test double of the active-Region
// config table, an in-memory Store with the semantics of activeregion.Store,
// and RunStoreContract, the one suite every implementation must pass, so no
// test re-implements the fenced-write semantics by hand.
package activeregiontest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
)

// table names the in-memory table in errors, where activeregion.Store names
// its DynamoDB table.
const table = "the in-memory config table"

// Store is an in-memory config table that keeps the contract of
// activeregion.Store: a conditional write is conditional, epochs never go
// backwards, times are stored in UTC, and a malformed item is refused on
// read, never skipped. It is safe for concurrent use.
type Store struct {
	mu          sync.Mutex
	items       map[string]activeregion.Config
	writes      int
	beforeWrite func(method, stream string)
}

var _ Contract = (*Store)(nil)

// New returns a Store holding cfgs as they are (see Put).
func New(cfgs ...activeregion.Config) *Store {
	s := &Store{items: make(map[string]activeregion.Config)}
	for _, cfg := range cfgs {
		s.Put(cfg)
	}
	return s
}

// Put stores cfg as the item of cfg.StreamName, unconditionally and without
// validation: it is the test's own write (set-up, another Region's write
// replicating in, a malformed item), so it does not count as a write.
func (s *Store) Put(cfg activeregion.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[cfg.StreamName] = clone(cfg)
}

// Delete removes the item of stream, as a deleted item or table would.
func (s *Store) Delete(stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.items, stream)
}

// Item returns the stored item of stream as it is, without validation.
func (s *Store) Item(stream string) (activeregion.Config, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, ok := s.items[stream]
	return clone(cfg), ok
}

// Writes is how many writes the store's methods have made (Put excluded):
// a test of "changes nothing" asserts it stays the same.
func (s *Store) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// BeforeWrite sets a hook that Switch and RecordVisibility run between their
// read and their conditional write, without holding the store's lock: a
// test lets another writer win the race there. method is "Switch" or
// "RecordVisibility". Nil removes it.
func (s *Store) BeforeWrite(hook func(method, stream string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeWrite = hook
}

// Get keeps the contract of activeregion.Store.Get.
func (s *Store) Get(_ context.Context, stream string) (activeregion.Config, error) {
	if stream == "" {
		return activeregion.Config{}, errors.New("get active-Region config: stream name is empty")
	}
	cfg, ok := s.Item(stream)
	if !ok {
		return activeregion.Config{}, fmt.Errorf("get active-Region config of stream %s from %s: %w", stream, table, activeregion.ErrNotFound)
	}
	if err := cfg.Validate(); err != nil {
		return activeregion.Config{}, fmt.Errorf("malformed active-Region config of stream %s in %s: %w", stream, table, err)
	}
	return cfg, nil
}

// List keeps the contract of activeregion.Store.List.
func (s *Store) List(context.Context) ([]activeregion.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cfgs []activeregion.Config
	for _, stream := range slices.Sorted(maps.Keys(s.items)) {
		cfg := clone(s.items[stream])
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("malformed active-Region config of stream %s in %s: %w", stream, table, err)
		}
		cfgs = append(cfgs, cfg)
	}
	return cfgs, nil
}

// Create keeps the contract of activeregion.Store.Create.
func (s *Store) Create(_ context.Context, cfg activeregion.Config) (bool, error) {
	if cfg.Epoch == 0 {
		cfg.Epoch = 1
	}
	if len(cfg.History) == 0 {
		cfg.History = []activeregion.Epoch{{Region: cfg.ActiveRegion, Since: cfg.ActiveSince, Epoch: cfg.Epoch, Reason: cfg.Reason}}
	}
	if err := cfg.Validate(); err != nil {
		return false, fmt.Errorf("create active-Region config of stream %s: %w", cfg.StreamName, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.items[cfg.StreamName]; exists {
		return false, nil
	}
	s.items[cfg.StreamName] = clone(cfg)
	s.writes++
	return true, nil
}

// Switch keeps the contract of activeregion.Store.Switch, with the same
// checks in the same order, so a caller sees the same error either way.
func (s *Store) Switch(ctx context.Context, stream string, sw activeregion.Switch) (activeregion.Config, error) {
	if sw.To == "" {
		return activeregion.Config{}, fmt.Errorf("switch stream %s: target Region is empty", stream)
	}
	if sw.At.IsZero() {
		return activeregion.Config{}, fmt.Errorf("switch stream %s to %s: switch time is missing", stream, sw.To)
	}
	if sw.HistoryLimit < 0 || sw.HistoryRetention < 0 {
		return activeregion.Config{}, fmt.Errorf("switch stream %s to %s: history limit %d or retention %v is negative", stream, sw.To, sw.HistoryLimit, sw.HistoryRetention)
	}
	mode, err := activeregion.ParseMode(string(sw.Mode))
	if err != nil {
		return activeregion.Config{}, fmt.Errorf("switch stream %s to %s: %w", stream, sw.To, err)
	}

	cur, err := s.Get(ctx, stream)
	if err != nil {
		return activeregion.Config{}, fmt.Errorf("switch stream %s to %s: %w", stream, sw.To, err)
	}
	if sw.ExpectedEpoch != nil && *sw.ExpectedEpoch != cur.Epoch {
		return activeregion.Config{}, fmt.Errorf("switch stream %s to %s: item is at epoch %d, caller expected %d: %w",
			stream, sw.To, cur.Epoch, *sw.ExpectedEpoch, activeregion.ErrStaleEpoch)
	}
	if cur.ActiveRegion == sw.To {
		return cur, nil
	}
	at := sw.At.UTC()
	if at.Before(cur.ActiveSince) {
		return activeregion.Config{}, fmt.Errorf("switch stream %s to %s: switch time %s is before the current epoch's start %s",
			stream, sw.To, at.Format(time.RFC3339Nano), cur.ActiveSince.Format(time.RFC3339Nano))
	}

	next := cur
	next.ActiveRegion, next.ActiveSince, next.Epoch = sw.To, at, cur.Epoch+1
	next.UpdatedBy, next.Reason = sw.UpdatedBy, sw.Reason
	history := append(slices.Clone(cur.History), activeregion.Epoch{
		Region: sw.To, Since: at, Epoch: next.Epoch,
		Reason: sw.Reason, RequestID: sw.RequestID, RequestedBy: sw.RequestedBy,
		ResumeFrom: utcOrNil(sw.ResumeFrom), Mode: mode,
	})
	next.History = activeregion.PruneHistory(history, at,
		cmp.Or(sw.HistoryRetention, activeregion.DefaultHistoryRetention), cmp.Or(sw.HistoryLimit, activeregion.DefaultHistoryLimit))
	if err := s.putAtEpoch("Switch", next, cur.Epoch); err != nil {
		return activeregion.Config{}, fmt.Errorf("switch stream %s to %s from epoch %d: %w", stream, sw.To, cur.Epoch, err)
	}
	return next, nil
}

// RecordVisibility keeps the contract of activeregion.Store.RecordVisibility.
func (s *Store) RecordVisibility(ctx context.Context, stream string, v activeregion.Visibility) (bool, error) {
	cur, err := s.Get(ctx, stream)
	if err != nil {
		return false, fmt.Errorf("record visibility of stream %s epoch %d: %w", stream, v.Epoch, err)
	}
	last := &cur.History[len(cur.History)-1]
	if cur.Epoch != v.Epoch || last.RequestID != v.RequestID {
		return false, nil
	}
	visible, settled := v.VisibleBy.UTC(), v.SettledAt.UTC()
	last.VisibleBy, last.SettledAt, last.ResumeFrom = &visible, &settled, utcOrNil(v.ResumeFrom)
	if err := s.putAtEpoch("RecordVisibility", cur, cur.Epoch); errors.Is(err, activeregion.ErrConflict) {
		return false, nil
	}
	return true, nil
}

// putAtEpoch runs the race hook, then writes cfg on condition that the
// stored item is at epoch read, as the real store's conditional PutItem.
func (s *Store) putAtEpoch(method string, cfg activeregion.Config, read int64) error {
	s.mu.Lock()
	hook := s.beforeWrite
	s.mu.Unlock()
	if hook != nil {
		hook(method, cfg.StreamName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if stored, ok := s.items[cfg.StreamName]; !ok || stored.Epoch != read {
		return activeregion.ErrConflict
	}
	s.items[cfg.StreamName] = clone(cfg)
	s.writes++
	return nil
}

// clone copies cfg deeply with every time in UTC, as a round trip through
// the table's RFC 3339 strings does, so neither the caller nor the store
// sees the other's later changes.
func clone(cfg activeregion.Config) activeregion.Config {
	cfg.ActiveSince = cfg.ActiveSince.UTC()
	if cfg.History != nil {
		cfg.History = slices.Clone(cfg.History)
	}
	for i := range cfg.History {
		e := &cfg.History[i]
		e.Since = e.Since.UTC()
		e.ResumeFrom, e.VisibleBy, e.SettledAt = utcOrNil(e.ResumeFrom), utcOrNil(e.VisibleBy), utcOrNil(e.SettledAt)
	}
	return cfg
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
