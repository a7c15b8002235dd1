// Package translate turns a consumer's positions in one Region's stream into
// starting positions in the other Region's copy of it, from the sync points
// the replicator keeps beside its checkpoints (checkpoint.Trail): per target
// shard, the latest position from which the consumer misses nothing it had
// not processed, and how much it re-reads at most. It never skips: a
// position it cannot translate exactly falls back to an earlier one and says
// so.
package translate

import (
	"context"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

// Starting positions (GetShardIterator's ShardIteratorType) Translate
// gives: a start after a known copy, never at one.
const (
	AfterSequenceNumber = "AFTER_SEQUENCE_NUMBER"
	AtTimestamp         = "AT_TIMESTAMP"
	TrimHorizon         = "TRIM_HORIZON"
)

// Sentinels a KCL lease's checkpoint may hold instead of a sequence number.
const (
	SentinelTrimHorizon = "TRIM_HORIZON"
	SentinelLatest      = "LATEST"
	SentinelShardEnd    = "SHARD_END"
	SentinelAtTimestamp = "AT_TIMESTAMP"
)

// DefaultClockSkew is subtracted from a source arrival time used as a target
// AT_TIMESTAMP: the two Regions' arrival times come from two clocks.
const DefaultClockSkew = 5 * time.Second

// Position is a consumer's position in one source shard.
type Position struct {
	ShardID string
	// SequenceNumber is the last record the consumer processed; empty when
	// Sentinel is set.
	SequenceNumber string
	// SubSequenceNumber > 0 (KPL aggregation) says the record at
	// SequenceNumber was processed only in part: it counts as not processed.
	SubSequenceNumber int64
	// Sentinel is one of the Sentinel constants, or empty.
	Sentinel string
}

// ParsePosition reads a checkpoint as a KCL lease holds it: a sentinel or a
// decimal sequence number.
func ParsePosition(shard, value string, sub int64) (Position, error) {
	p := Position{ShardID: shard, SubSequenceNumber: sub}
	switch value {
	case SentinelTrimHorizon, SentinelLatest, SentinelShardEnd, SentinelAtTimestamp:
		p.Sentinel = value
		return p, nil
	}
	if _, err := checkpoint.CompareSequenceNumbers(value, "0"); err != nil || value == "" {
		return Position{}, fmt.Errorf("shard %s: checkpoint %q is neither a sequence number nor one of %s, %s, %s, %s", shard, value, SentinelTrimHorizon, SentinelLatest, SentinelShardEnd, SentinelAtTimestamp)
	}
	if sub < 0 {
		return Position{}, fmt.Errorf("shard %s: sub-sequence number %d is negative", shard, sub)
	}
	p.SequenceNumber = value
	return p, nil
}

// Shard is one shard of a stream as ListShards gives it. A shard without a
// hash range (known only by its id) is matched by id, with a warning.
type Shard struct {
	ID           string
	Parents      []string
	StartingHash *big.Int
	EndingHash   *big.Int
	Closed       bool
}

// ShardsOf converts ListShards' shards, sorted by ID. A hash key range
// that does not parse is left out (the shard then matches by ID only).
func ShardsOf(shards []kinesistypes.Shard) []Shard {
	out := make([]Shard, 0, len(shards))
	for _, sh := range shards {
		t := Shard{ID: aws.ToString(sh.ShardId)}
		for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if aws.ToString(p) != "" {
				t.Parents = append(t.Parents, *p)
			}
		}
		if r := sh.HashKeyRange; r != nil {
			start, ok1 := new(big.Int).SetString(aws.ToString(r.StartingHashKey), 10)
			end, ok2 := new(big.Int).SetString(aws.ToString(r.EndingHashKey), 10)
			if ok1 && ok2 {
				t.StartingHash, t.EndingHash = start, end
			}
		}
		if r := sh.SequenceNumberRange; r != nil {
			t.Closed = r.EndingSequenceNumber != nil
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Shard) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s Shard) hasRange() bool { return s.StartingHash != nil && s.EndingHash != nil }

func (s Shard) overlaps(o Shard) bool {
	if !s.hasRange() || !o.hasRange() {
		return s.ID == o.ID
	}
	return s.StartingHash.Cmp(o.EndingHash) <= 0 && o.StartingHash.Cmp(s.EndingHash) <= 0
}

// Counter counts the records of a source shard after `after` up to and
// including `through` (through empty: to the shard's end), reading the source
// stream; it errs when the stream cannot be read.
type Counter func(ctx context.Context, shard, after, through string) (int64, error)

// Input is what a translation needs.
type Input struct {
	// Positions are the consumer's, per source shard; a source shard without
	// one was not started, or was finished and its lease removed (a child
	// with a position says so).
	Positions []Position
	// Source and Target are the two streams' shards.
	Source, Target []Shard
	// Checkpoints are the source Region's own checkpoints of the stream.
	Checkpoints []checkpoint.Checkpoint
	// Trails are the source Region's trails of sync points of the stream
	// (checkpoint.Store.LoadTrails), at most one per source shard.
	Trails []checkpoint.Trail
	// Count, when set, counts re-read records in the source stream;
	// without it maxReread is unknown.
	Count Counter
}

// SourceByID is the source shards of in known by id alone, from its
// positions, checkpoints and trails, sorted: the source shards to use when
// the source stream cannot be listed (they match target shards by id).
func (in Input) SourceByID() []Shard {
	seen := map[string]bool{}
	for _, p := range in.Positions {
		seen[p.ShardID] = true
	}
	for _, cp := range in.Checkpoints {
		seen[cp.ShardID] = true
	}
	for _, tr := range in.Trails {
		seen[tr.ShardID] = true
	}
	out := make([]Shard, 0, len(seen))
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, Shard{ID: id})
	}
	return out
}

// Start is where a consumer starts one target shard.
type Start struct {
	// SourceShardID is the source shard whose position decided the start
	// (the earliest of those feeding the target shard); SourceShardIDs all
	// that feed it, by hash range.
	SourceShardID    string    `json:"sourceShardId"`
	SourceShardIDs   []string  `json:"sourceShardIds"`
	TargetShardID    string    `json:"targetShardId"`
	TargetParents    []string  `json:"targetParentShardIds,omitempty"`
	StartingPosition string    `json:"startingPosition"`
	SequenceNumber   string    `json:"sequenceNumber,omitempty"`
	Timestamp        time.Time `json:"timestamp,omitzero"`
	// SafeTimestamp is an AT_TIMESTAMP as safe as the start (earlier, so
	// it re-reads more): what a consumer that takes one position for the
	// whole stream (a Lambda mapping) starts at, the earliest over shards.
	// Zero for TRIM_HORIZON.
	SafeTimestamp time.Time `json:"safeTimestamp,omitzero"`
	// MaxReread bounds the records the consumer sees again (nil: unknown).
	MaxReread *int64 `json:"maxReread"`
}

// Result is a translation.
type Result struct {
	Positions []Start  `json:"positions"`
	Warnings  []string `json:"warnings"`
}

// constraint is what one source shard demands of one target shard.
type constraint struct {
	source string
	kind   string // AfterSequenceNumber, AtTimestamp or TrimHorizon; "" none
	seq    string
	at     time.Time // for AfterSequenceNumber: a timestamp as safe, to mix
	reread *int64
}

// Translate returns, per target shard (sorted by id), the starting position
// from which a consumer at in.Positions misses no record of the source
// stream it had not processed: for each source shard feeding the target
// shard (hash ranges overlap), the latest sync point at or before the
// consumer's position gives the target sequence number after which every
// later record of that source shard lands; the target shard starts after the
// earliest of them. A source shard position older than its trail, a source
// shard without a trail or the target shard, and the consumer's own
// sentinels fall back to AT_TIMESTAMP (the point's arrival, less
// DefaultClockSkew)
// or TRIM_HORIZON, with a warning; never later.
func Translate(ctx context.Context, in Input) (Result, error) {
	skew := DefaultClockSkew
	res := Result{Positions: []Start{}, Warnings: []string{}}
	warn := func(format string, args ...any) { res.Warnings = append(res.Warnings, fmt.Sprintf(format, args...)) }
	positions := map[string]Position{}
	for _, p := range in.Positions {
		positions[p.ShardID] = p
	}
	checkpoints := map[string]checkpoint.Checkpoint{}
	for _, cp := range in.Checkpoints {
		checkpoints[cp.ShardID] = cp
	}
	trails := map[string][]checkpoint.SyncPoint{}
	for _, tr := range in.Trails {
		trails[tr.ShardID] = tr.Points
	}
	children := map[string][]string{}
	for _, s := range in.Source {
		for _, p := range s.Parents {
			children[p] = append(children[p], s.ID)
		}
	}
	byID := map[string]bool{}
	for _, s := range in.Source {
		byID[s.ID] = true
		if !s.hasRange() {
			warn("source shard %s has no hash range: matched to the target shard of the same id", s.ID)
		}
	}
	for _, p := range in.Positions {
		if !byID[p.ShardID] {
			warn("the consumer has a position on %s, which the source stream does not list (expired?): ignored", p.ShardID)
		}
	}

	// One constraint per source shard and target shard it feeds, computed
	// once per source shard.
	perSource := map[string]constraintFor{}
	for _, s := range in.Source {
		c, err := sourceConstraint(ctx, in, s, positions, checkpoints[s.ID], trails[s.ID], children, warn)
		if err != nil {
			return Result{}, err
		}
		perSource[s.ID] = c
	}

	targets := slices.Clone(in.Target)
	slices.SortFunc(targets, func(a, b Shard) int { return strings.Compare(a.ID, b.ID) })
	for _, b := range targets {
		st := Start{TargetShardID: b.ID, TargetParents: b.Parents, SourceShardIDs: []string{}}
		var cs []constraint
		for _, a := range in.Source {
			if !a.overlaps(b) {
				continue
			}
			st.SourceShardIDs = append(st.SourceShardIDs, a.ID)
			cs = append(cs, perSource[a.ID].forTarget(b.ID, skew))
		}
		combine(&st, cs, warn)
		res.Positions = append(res.Positions, st)
	}
	return res, nil
}

// constraintFor is a source shard's demand, before a target shard is named.
type constraintFor struct {
	source string
	trim   bool
	point  *checkpoint.SyncPoint
	at     time.Time // when no point: AT_TIMESTAMP bound, if known
	reread *int64
}

func (c constraintFor) forTarget(target string, skew time.Duration) constraint {
	switch {
	case c.trim:
		return constraint{source: c.source, kind: TrimHorizon, reread: c.reread}
	case c.point == nil:
		return constraint{source: c.source, kind: AtTimestamp, at: c.at, reread: c.reread}
	}
	at := c.point.Arrival.Add(-skew)
	if seq, ok := c.point.Targets[target]; ok {
		return constraint{source: c.source, kind: AfterSequenceNumber, seq: seq, at: at, reread: c.reread}
	}
	// The source shard wrote nothing to this target shard up to the point:
	// what it writes later arrives there after the point's arrival.
	return constraint{source: c.source, kind: AtTimestamp, at: at, reread: c.reread}
}

func sourceConstraint(ctx context.Context, in Input, s Shard, positions map[string]Position, cp checkpoint.Checkpoint, trail []checkpoint.SyncPoint,
	children map[string][]string, warn func(string, ...any)) (constraintFor, error) {
	c := constraintFor{source: s.ID}
	var points []checkpoint.SyncPoint
	for _, p := range trail {
		if p.Validate() == nil {
			points = append(points, p)
		}
	}
	slices.SortFunc(points, func(a, b checkpoint.SyncPoint) int {
		r, _ := checkpoint.CompareSequenceNumbers(a.SequenceNumber, b.SequenceNumber)
		return r
	})
	p, ok := positions[s.ID]
	throughEnd := false
	switch {
	case !ok && descendantStarted(s.ID, positions, children):
		// KCL starts a child only after its parents end, and may remove a
		// finished parent's lease.
		throughEnd = true
	case !ok || p.Sentinel == SentinelTrimHorizon || p.Sentinel == SentinelAtTimestamp || p.Sentinel == SentinelLatest:
		what := "no position"
		if ok {
			what = "position " + p.Sentinel
		}
		if ok && p.Sentinel == SentinelLatest {
			warn("source shard %s: the consumer's position is LATEST (it processed nothing yet, and where it started is not recorded): the target shards it feeds start at TRIM_HORIZON", s.ID)
		} else {
			warn("source shard %s: %s (nothing processed yet): the target shards it feeds start at TRIM_HORIZON", s.ID, what)
		}
		c.trim = true
		return c, nil
	case p.Sentinel == SentinelShardEnd:
		throughEnd = true
	}
	if throughEnd {
		if len(points) == 0 {
			// A finished shard without a trail: nothing bounds where its
			// records landed.
			warn("source shard %s: processed to its end, but has no sync points: the target shards it feeds start at TRIM_HORIZON", s.ID)
			c.trim = true
			return c, nil
		}
		newest := points[len(points)-1]
		c.point = &newest
		if s.Closed && cp.LastSequenceNumber == newest.SequenceNumber {
			c.reread = new(int64)
		} else {
			c.reread = count(ctx, in.Count, s.ID, newest.SequenceNumber, "", warn)
		}
		return c, nil
	}
	// A sequence number: the latest point at or before it (strictly
	// before, when only part of the record was processed).
	var used *checkpoint.SyncPoint
	for i := range points {
		r, _ := checkpoint.CompareSequenceNumbers(points[i].SequenceNumber, p.SequenceNumber)
		if r < 0 || (r == 0 && p.SubSequenceNumber == 0) {
			used = &points[i]
		}
	}
	if cp.LastSequenceNumber != "" {
		if r, err := checkpoint.CompareSequenceNumbers(p.SequenceNumber, cp.LastSequenceNumber); err == nil && r > 0 {
			warn("source shard %s: the consumer processed records up to %s, after the replicator's checkpoint %s: those records may not be in the target stream", s.ID, p.SequenceNumber, cp.LastSequenceNumber)
		}
	}
	if used == nil {
		if len(points) == 0 {
			warn("source shard %s: no sync points (not replicated since sync points exist, or not by this Region): the target shards it feeds start at TRIM_HORIZON", s.ID)
		} else {
			warn("source shard %s: position %s is older than its oldest sync point %s: the target shards it feeds start at TRIM_HORIZON", s.ID, p.SequenceNumber, points[0].SequenceNumber)
		}
		c.trim = true
		return c, nil
	}
	c.point = used
	if used.SequenceNumber == p.SequenceNumber {
		c.reread = new(int64)
	} else {
		c.reread = count(ctx, in.Count, s.ID, used.SequenceNumber, p.SequenceNumber, warn)
	}
	if p.SubSequenceNumber > 0 {
		warn("source shard %s: record %s was processed only up to sub-sequence number %d: it is read again whole", s.ID, p.SequenceNumber, p.SubSequenceNumber)
	}
	return c, nil
}

func descendantStarted(shard string, positions map[string]Position, children map[string][]string) bool {
	for _, c := range children[shard] {
		if _, ok := positions[c]; ok {
			return true
		}
		if descendantStarted(c, positions, children) {
			return true
		}
	}
	return false
}

func count(ctx context.Context, counter Counter, shard, after, through string, warn func(string, ...any)) *int64 {
	if counter == nil {
		return nil
	}
	n, err := counter(ctx, shard, after, through)
	if err != nil {
		warn("source shard %s: could not count the records re-read (%v): maxReread is unknown", shard, err)
		return nil
	}
	return &n
}

// combine sets st from the constraints of the source shards feeding it: the
// earliest wins. Sequence numbers of one target shard compare among
// themselves; a sequence number and a timestamp do not, so a mix is
// resolved by the timestamp each AFTER_SEQUENCE_NUMBER point is as safe as.
func combine(st *Start, cs []constraint, warn func(string, ...any)) {
	if len(cs) == 0 {
		st.StartingPosition = TrimHorizon
		warn("target shard %s: no source shard feeds it by hash range: starts at TRIM_HORIZON", st.TargetShardID)
		return
	}
	var sum int64
	known := true
	for _, c := range cs {
		if c.reread == nil {
			known = false
		} else {
			sum += *c.reread
		}
	}
	if known {
		st.MaxReread = &sum
	}
	kinds := map[string]bool{}
	for _, c := range cs {
		kinds[c.kind] = true
		if c.kind != TrimHorizon && (st.SafeTimestamp.IsZero() || c.at.Before(st.SafeTimestamp)) {
			st.SafeTimestamp = c.at.UTC()
		}
	}
	switch {
	case kinds[TrimHorizon]:
		st.StartingPosition = TrimHorizon
		st.SourceShardID = cs[slices.IndexFunc(cs, func(c constraint) bool { return c.kind == TrimHorizon })].source
		st.MaxReread, st.SafeTimestamp = nil, time.Time{}
	case kinds[AtTimestamp]:
		st.StartingPosition = AtTimestamp
		first := cs[0]
		for _, c := range cs[1:] {
			if c.at.Before(first.at) {
				first = c
			}
		}
		st.SourceShardID, st.Timestamp = first.source, first.at.UTC()
		// The records of the target shard from there on that came from
		// other source shards are not counted.
		st.MaxReread = nil
		warn("target shard %s: starts AT_TIMESTAMP %s (from source shard %s): it re-reads the records that arrived there since, count unknown", st.TargetShardID, st.Timestamp.Format(time.RFC3339Nano), first.source)
	default:
		first := cs[0]
		differ := false
		for _, c := range cs[1:] {
			r, _ := checkpoint.CompareSequenceNumbers(c.seq, first.seq)
			if r != 0 {
				differ = true
			}
			if r < 0 {
				first = c
			}
		}
		st.StartingPosition, st.SequenceNumber, st.SourceShardID = AfterSequenceNumber, first.seq, first.source
		if differ {
			// Records of the other source shards between the earliest
			// and their own points are re-read too; they are not counted.
			st.MaxReread = nil
		}
	}
}
