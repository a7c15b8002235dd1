package checkpoint

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// SyncPoint ties a position in a source shard to positions in the target
// stream, for translating a consumer's checkpoints from one Region to the
// other (pkg/translate).
//
// What makes a point safe: it is recorded only on a checkpoint save, for the
// last record of the acknowledged prefix (every record of the source shard up
// to SequenceNumber is in the target), and only when no record of that shard
// after it was written by the same invocation. Every later record of the
// shard is then written by a later invocation, after the writes this point
// names had returned, so it lands in each target shard t after Targets[t]: a
// consumer that had processed the source shard up to SequenceNumber misses
// nothing starting AFTER_SEQUENCE_NUMBER Targets[t]. A target shard absent
// from Targets received nothing from this source shard up to the point; for it
// only the arrival time bounds the later records (their copies arrive in the
// target after Arrival, less clock skew).
//
// Attribute names are one letter: the trail item (see Trail) is rewritten
// whole on every append and billed per KB of it.
type SyncPoint struct {
	// SequenceNumber is the source record's (the checkpoint's
	// lastSequenceNumber at the save that recorded the point).
	SequenceNumber string `dynamodbav:"s" json:"sequenceNumber"`
	// Arrival is that record's ApproximateArrivalTimestamp in the source.
	Arrival time.Time `dynamodbav:"a" json:"arrival"`
	// Targets maps each target shard this source shard has written to, up
	// to the point, to the highest target sequence number written there
	// (carried forward from earlier points: any position written before the
	// save bounds what comes after from below).
	Targets map[string]string `dynamodbav:"t" json:"targets"`
}

// Validate reports the first field that would make the point unusable.
func (p SyncPoint) Validate() error {
	if err := checkCanonical(p.SequenceNumber); err != nil {
		return fmt.Errorf("sync point sequence number: %w", err)
	}
	if p.Arrival.IsZero() {
		return errors.New("sync point arrival is missing")
	}
	for shard, seq := range p.Targets {
		if shard == "" {
			return errors.New("sync point names an empty target shard")
		}
		if err := checkCanonical(seq); err != nil {
			return fmt.Errorf("sync point target shard %s: %w", shard, err)
		}
	}
	return nil
}

// SyncPointInterval is how often, at most, the replicator adds a point to a
// shard's trail: the finest spacing the trail keeps, and so the least a
// consumer moved during normal replication re-reads (about this long of the
// shard's records).
const SyncPointInterval = 5 * time.Second

// TrailRetention is how far back the trail reaches: the longest retention
// a Kinesis stream can have (365 days), and a day of slack. Points older than
// that describe records the stream no longer holds; one of them is kept as
// the lower bound of the records after it.
const TrailRetention = 366 * 24 * time.Hour

// trailTier is one band of ages and the spacing kept in it.
type trailTier struct {
	upTo, spacing time.Duration
}

// trailTiers space the kept points roughly exponentially with age: a
// consumer moved while it was close to the tip (the usual case: a switchover,
// or an outage that froze the trail where the consumer also stopped)
// re-reads seconds, one days behind re-reads hours. The brief's finer
// schedule (one a minute for an hour, one an hour for a week, one a day for
// a year) keeps about 710 points, some 270 KB with four target shards, and
// every append pays for the whole trail item; this one keeps at most
// MaxTrailPoints.
var trailTiers = []trailTier{
	{time.Minute, SyncPointInterval},      // 12
	{10 * time.Minute, time.Minute},       // 9
	{time.Hour, 10 * time.Minute},         // 5
	{24 * time.Hour, 3 * time.Hour},       // 7
	{7 * 24 * time.Hour, 24 * time.Hour},  // 6
	{TrailRetention, 30 * 24 * time.Hour}, // 12
}

// MaxTrailPoints bounds a thinned trail: one point per spacing bucket each
// tier's band of ages touches (13, 10, 6, 9, 7 and 13: the band over its
// spacing, rounded up, plus one for the partly covered bucket at an edge),
// the newest and the oldest point, and one beyond TrailRetention: 61.
const MaxTrailPoints = 64

// MaxTrailBytes bounds a trail's stored size (DynamoDB's item size rules):
// Thin drops points outside the first minute until it fits. A point takes
// about 100 bytes plus 80 per target shard, so a source shard feeding one
// target shard (equal shard counts) keeps its whole steady-state trail
// (about 52 points after a year at the tip, 8.8 KB); one feeding three is
// thinned to about 33 points, one feeding many further, within the first
// minute too. The trail item stays far below DynamoDB's 400 KB limit: at
// most MaxTrailItemBytes.
const MaxTrailBytes = 16 * 1024

// spacingAt is the spacing kept at age; ok is false beyond TrailRetention.
func spacingAt(age time.Duration) (time.Duration, bool) {
	for _, t := range trailTiers {
		if age < t.upTo {
			return t.spacing, true
		}
	}
	return 0, false
}

// Thin returns the points worth keeping at now, sorted oldest first (by
// sequence number): the newest point, the oldest one within TrailRetention
// (so the trail's reach never shrinks while it is within retention), the
// oldest point of each spacing bucket (buckets aligned on absolute time, so a
// kept point stays kept until it ages into a coarser tier), and the newest
// point beyond TrailRetention; then, if the trail is over MaxTrailBytes,
// every other point outside the first minute goes until it fits, then, if
// it still does not, every other point, down to the oldest and the newest
// (which alone exceed MaxTrailBytes only for a source shard feeding some 90
// target shards or more). Points with an unreadable sequence number are
// dropped. Thin does not modify points; dropping a point never makes a
// translation skip, only re-read more.
func Thin(points []SyncPoint, now time.Time) []SyncPoint {
	sorted := make([]SyncPoint, 0, len(points))
	for _, p := range points {
		if p.Validate() == nil {
			sorted = append(sorted, p)
		}
	}
	slices.SortStableFunc(sorted, compareSyncPoints)
	sorted = slices.CompactFunc(sorted, func(a, b SyncPoint) bool { return a.SequenceNumber == b.SequenceNumber })
	if len(sorted) <= 1 {
		return sorted
	}
	keep := make([]bool, len(sorted))
	keep[len(sorted)-1] = true
	type bucket struct {
		spacing time.Duration
		start   int64
	}
	seen := map[bucket]bool{}
	oldestWithin, newestBeyond := -1, -1
	for i, p := range sorted {
		spacing, ok := spacingAt(now.Sub(p.Arrival))
		if !ok {
			newestBeyond = i
			continue
		}
		if oldestWithin < 0 {
			oldestWithin = i
		}
		b := bucket{spacing, p.Arrival.UnixNano() / int64(spacing)}
		if !seen[b] {
			seen[b] = true
			keep[i] = true
		}
	}
	if oldestWithin >= 0 {
		keep[oldestWithin] = true
	}
	if newestBeyond >= 0 {
		keep[newestBeyond] = true
	}
	var out []SyncPoint
	for i, p := range sorted {
		if keep[i] {
			out = append(out, p)
		}
	}
	// Points older than a minute go first; when the points of the last
	// minute alone are too big (a source shard feeding many target
	// shards), they go too, down to the oldest and the newest.
	for _, recent := range []time.Duration{time.Minute, 0} {
		for TrailBytes(out) > MaxTrailBytes {
			thinner := halve(out, now, recent)
			if len(thinner) == len(out) {
				break
			}
			out = thinner
		}
	}
	return out
}

// halve drops every other point older than recent, keeping the oldest and
// the newest.
func halve(points []SyncPoint, now time.Time, recent time.Duration) []SyncPoint {
	out := make([]SyncPoint, 0, len(points))
	odd := false
	for i, p := range points {
		if i == 0 || i == len(points)-1 || now.Sub(p.Arrival) < recent {
			out = append(out, p)
			continue
		}
		if !odd {
			out = append(out, p)
		}
		odd = !odd
	}
	return out
}

func compareSyncPoints(a, b SyncPoint) int {
	c, err := CompareSequenceNumbers(a.SequenceNumber, b.SequenceNumber)
	if err != nil {
		return 0
	}
	return c
}

// TrailBytes is the trail's stored size by DynamoDB's rules (attribute names
// and string values by their UTF-8 length, 3 bytes a list or map element,
// 3 bytes a list or map), near enough to bound the item.
func TrailBytes(points []SyncPoint) int {
	n := len("syncPoints") + 3
	for _, p := range points {
		n += 3 + 3 + // the element, its map
			1 + len(p.SequenceNumber) +
			1 + len(time.RFC3339Nano) + 1 +
			1 + 3
		for shard, seq := range p.Targets {
			n += 3 + len(shard) + len(seq)
		}
	}
	return n
}

// AppendToTrail returns trail with p added and p's targets completed from
// the newest earlier point (each target shard's highest sequence number so
// far), thinned at now, its times in UTC as a round trip through the table
// gives them back; added says p added something. A point not after the
// newest one adds nothing: the trail only grows forward, as the checkpoint
// does.
func AppendToTrail(trail []SyncPoint, p SyncPoint, now time.Time) (points []SyncPoint, added bool) {
	trail = Thin(trail, now)
	if len(trail) > 0 {
		newest := trail[len(trail)-1]
		if compareSyncPoints(p, newest) <= 0 {
			return utcPoints(trail), false
		}
		targets := maps.Clone(newest.Targets)
		if targets == nil {
			targets = make(map[string]string, len(p.Targets))
		}
		for shard, seq := range p.Targets {
			RaiseTarget(targets, shard, seq)
		}
		p.Targets = targets
	}
	return utcPoints(Thin(append(slices.Clone(trail), p), now)), true
}

// RaiseTarget sets targets[shard] to seq unless it holds a higher sequence
// number already: a point's target is the highest copy so far on that
// target shard. A number that cannot be compared leaves the old one.
func RaiseTarget(targets map[string]string, shard, seq string) {
	if old, ok := targets[shard]; ok {
		if c, err := CompareSequenceNumbers(seq, old); err != nil || c < 0 {
			return
		}
	}
	targets[shard] = seq
}

// utcPoints returns points with their times in UTC.
func utcPoints(points []SyncPoint) []SyncPoint {
	if points == nil {
		return nil
	}
	out := make([]SyncPoint, len(points))
	for i, p := range points {
		p.Arrival = p.Arrival.UTC()
		out[i] = p
	}
	return out
}
