// Package checkpointtest holds the shared test double of the checkpoint
// table, an in-memory Store with the semantics of checkpoint.Store, and
// RunStoreContract, the one suite every implementation must pass.
package checkpointtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

// table names the in-memory table in errors, where checkpoint.Store names
// its DynamoDB table.
const table = "the in-memory checkpoint table"

type itemKey struct{ stream, shardKey string }

// Store is an in-memory checkpoint table that keeps the contract of
// checkpoint.Store: Save is conditional on (epoch, sequence number), a drain
// mark only moves forward, and Load reads one Region's items, sorted, and
// refuses a malformed one; the trails of sync points (LoadTrail,
// AppendSyncPoint, LoadTrails) are items of their own, never returned by
// Load and never touched by Save. It is safe for concurrent use.
type Store struct {
	mu     sync.Mutex
	items  map[itemKey]checkpoint.Checkpoint
	trails map[itemKey][]checkpoint.SyncPoint
}

var (
	_ Contract      = (*Store)(nil)
	_ TrailContract = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{items: make(map[itemKey]checkpoint.Checkpoint), trails: make(map[itemKey][]checkpoint.SyncPoint)}
}

// Put stores cps under their own keys, unconditionally and without
// validation: the test's own writes (set-up, a malformed item).
func (s *Store) Put(cps ...checkpoint.Checkpoint) {
	for _, cp := range cps {
		s.PutAt(checkpoint.Key(cp.SourceRegion, cp.ShardID), cp)
	}
}

// PutAt stores cp under the sort key shardKey (attribute shardId) as it is,
// for items Save never writes: keyed before the per-Region key, or under a
// key that disagrees with their attributes.
func (s *Store) PutAt(shardKey string, cp checkpoint.Checkpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[itemKey{cp.StreamName, shardKey}] = utc(cp)
}

// Save keeps the contract of checkpoint.Store.Save.
func (s *Store) Save(_ context.Context, cp checkpoint.Checkpoint) (bool, error) {
	if err := cp.Validate(); err != nil {
		return false, fmt.Errorf("save checkpoint of stream %s shard %s: %w", cp.StreamName, cp.ShardID, err)
	}
	key := itemKey{cp.StreamName, checkpoint.Key(cp.SourceRegion, cp.ShardID)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if stored, ok := s.items[key]; ok && !ahead(cp, stored) {
		return false, nil
	}
	// Replaced whole, as PutItem does: a drain mark is not carried over.
	s.items[key] = utc(cp)
	return true, nil
}

// ahead is the Store's save condition: a higher epoch, or the same epoch
// and a sequence number that is longer, or as long and bytewise larger
// (numeric order for the canonical numbers Validate admits), or the same
// prefix naming more records written beyond it.
func ahead(cp, stored checkpoint.Checkpoint) bool {
	if cp.Epoch == stored.Epoch && cp.LastSequenceNumber == stored.LastSequenceNumber && cp.WrittenBeyond != nil {
		return stored.WrittenBeyond == nil || stored.WrittenBeyond.Count < cp.WrittenBeyond.Count
	}
	if cp.Epoch != stored.Epoch {
		return stored.Epoch < cp.Epoch
	}
	if len(stored.LastSequenceNumber) != len(cp.LastSequenceNumber) {
		return len(stored.LastSequenceNumber) < len(cp.LastSequenceNumber)
	}
	return stored.LastSequenceNumber < cp.LastSequenceNumber
}

// MarkDrained keeps the contract of checkpoint.Store.MarkDrained.
func (s *Store) MarkDrained(_ context.Context, stream, region, shard string, epoch int64, at time.Time) (bool, error) {
	key := itemKey{stream, checkpoint.Key(region, shard)}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.items[key]
	if !ok || cp.DrainedEpoch >= epoch {
		return false, nil
	}
	at = at.UTC()
	cp.DrainedEpoch, cp.DrainedAt = epoch, &at
	s.items[key] = cp
	return true, nil
}

// Load keeps the contract of checkpoint.Store.Load.
func (s *Store) Load(_ context.Context, stream, region string) ([]checkpoint.Checkpoint, error) {
	if region == "" || strings.Contains(region, "#") {
		return nil, fmt.Errorf("load checkpoints of stream %s: Region %q is not a Region name", stream, region)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cps := []checkpoint.Checkpoint{}
	for key, cp := range s.items {
		if key.stream != stream || !strings.HasPrefix(key.shardKey, region+"#") {
			continue
		}
		if err := cp.Validate(); err != nil {
			return nil, fmt.Errorf("load checkpoints of stream %s from %s: shard %s: %w", stream, table, key.shardKey, err)
		}
		if key.shardKey != checkpoint.Key(cp.SourceRegion, cp.ShardID) {
			return nil, fmt.Errorf("load checkpoints of stream %s from %s: shard %s: sourceRegion %q and sourceShardId %q do not match the key", stream, table, key.shardKey, cp.SourceRegion, cp.ShardID)
		}
		cps = append(cps, cp)
	}
	slices.SortFunc(cps, func(a, b checkpoint.Checkpoint) int { return strings.Compare(a.ShardID, b.ShardID) })
	return cps, nil
}

// Get keeps the contract of checkpoint.Store.Get.
func (s *Store) Get(_ context.Context, stream, region, shard string) (checkpoint.Checkpoint, bool, error) {
	if region == "" || strings.Contains(region, "#") {
		return checkpoint.Checkpoint{}, false, fmt.Errorf("get checkpoint of stream %s shard %s: Region %q is not a Region name", stream, shard, region)
	}
	key := checkpoint.Key(region, shard)
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.items[itemKey{stream, key}]
	if !ok {
		return checkpoint.Checkpoint{}, false, nil
	}
	if err := cp.Validate(); err != nil {
		return checkpoint.Checkpoint{}, false, fmt.Errorf("get checkpoint of stream %s from %s: shard %s: %w", stream, table, key, err)
	}
	return cp, true, nil
}

// utc is cp with every time in UTC, as a round trip through the table's
// RFC 3339 strings gives it back.
func utc(cp checkpoint.Checkpoint) checkpoint.Checkpoint {
	cp.LastReplicatedTimestamp = cp.LastReplicatedTimestamp.UTC()
	cp.LastArrivalTimestamp = cp.LastArrivalTimestamp.UTC()
	cp.UpdatedAt = cp.UpdatedAt.UTC()
	if cp.DrainedAt != nil {
		d := cp.DrainedAt.UTC()
		cp.DrainedAt = &d
	}
	return cp
}

// checkTrailKey is checkpoint.Store's check of a trail's key.
func checkTrailKey(region, shard string) error {
	switch {
	case region == "" || strings.Contains(region, "#"):
		return fmt.Errorf("Region %q is not a Region name", region)
	case shard == "" || strings.Contains(shard, "#"):
		return fmt.Errorf("shard id %q is empty or contains %q, the key separator", shard, "#")
	}
	return nil
}

// LoadTrail keeps the contract of checkpoint.Store.LoadTrail.
func (s *Store) LoadTrail(_ context.Context, stream, region, shard string) ([]checkpoint.SyncPoint, error) {
	if err := checkTrailKey(region, shard); err != nil {
		return nil, fmt.Errorf("load the trail of stream %s shard %s: %w", stream, shard, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]checkpoint.SyncPoint{}, s.trails[itemKey{stream, checkpoint.TrailKey(region, shard)}]...), nil
}

// AppendSyncPoint keeps the contract of checkpoint.Store.AppendSyncPoint;
// one lock makes every append see the one before.
func (s *Store) AppendSyncPoint(_ context.Context, stream, region, shard string, p checkpoint.SyncPoint) error {
	if err := checkTrailKey(region, shard); err != nil {
		return fmt.Errorf("append a sync point to stream %s shard %s: %w", stream, shard, err)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("append a sync point to stream %s shard %s: %w", stream, shard, err)
	}
	key := itemKey{stream, checkpoint.TrailKey(region, shard)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if points, added := checkpoint.AppendToTrail(s.trails[key], p, p.Arrival); added {
		s.trails[key] = points
	}
	return nil
}

// LoadTrails keeps the contract of checkpoint.Store.LoadTrails.
func (s *Store) LoadTrails(_ context.Context, stream, region string) ([]checkpoint.Trail, error) {
	if region == "" || strings.Contains(region, "#") {
		return nil, fmt.Errorf("load the trails of stream %s: Region %q is not a Region name", stream, region)
	}
	prefix := checkpoint.TrailKey(region, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []checkpoint.Trail{}
	for key, points := range s.trails {
		if key.stream != stream || !strings.HasPrefix(key.shardKey, prefix) {
			continue
		}
		out = append(out, checkpoint.Trail{StreamName: stream, SourceRegion: region, ShardID: strings.TrimPrefix(key.shardKey, prefix),
			Points: slices.Clone(points), UpdatedAt: points[len(points)-1].Arrival})
	}
	slices.SortFunc(out, func(a, b checkpoint.Trail) int { return strings.Compare(a.ShardID, b.ShardID) })
	return out, nil
}
