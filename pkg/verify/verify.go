// Package verify checks that a standby stream is really complete: over a
// window, every record a Region was responsible for is in the other
// Region's stream, and the last copies of each key are in order. A Region
// is responsible for a record when the active-Region rule says it
// replicates it (it arrived there while the Region was active, in an epoch
// not superseded by a rewind). `kdscrr verify` and the local demo's final
// check use it.
package verify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// MaxListed bounds the sequence numbers a Direction lists as missing; the
// count is always complete.
const MaxListed = 100

// Direction is the check of what From was responsible for against To's
// stream.
type Direction struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Checked counts the records From was responsible for whose
	// replication its checkpoints acknowledge: each must be in To.
	Checked int `json:"checked"`
	// Missing counts those of Checked that To's stream does not hold:
	// acknowledged, never written. MissingRecords lists the first
	// MaxListed as shard:sequence number in From's stream.
	Missing        int      `json:"missing"`
	MissingRecords []string `json:"missingRecords"`
	// OutOfOrder counts records of Checked whose last copy in To comes
	// before the last copy of an earlier record of the same key.
	OutOfOrder int `json:"outOfOrder"`
	// Duplicates counts records of Checked that To holds more than once
	// (a rewind's resend and the copy it overlaps are the usual cause).
	Duplicates int `json:"duplicates"`
	// Pending counts records From is responsible for that its checkpoints
	// do not acknowledge yet and To does not hold: in flight, not lost.
	Pending int `json:"pending"`
	// Superseded counts records of From's epochs closed by a rewind that
	// To does not hold and that arrived after the rewind's resume point:
	// the producers sent them again in To. (Those before the resume point
	// are checked: the producers did not resend them.)
	Superseded int `json:"superseded"`
	// Undecided counts records older than the kept history.
	Undecided int `json:"undecided"`
}

// OK reports a direction with nothing missing and nothing out of order.
func (d Direction) OK() bool { return d.Missing == 0 && d.OutOfOrder == 0 }

// Report is one stream's check, both ways.
type Report struct {
	Stream       string       `json:"stream"`
	Since        time.Time    `json:"since"`
	Until        time.Time    `json:"until"`
	ActiveRegion string       `json:"activeRegion"`
	Epoch        int64        `json:"epoch"`
	Read         []RegionRead `json:"read"`
	Directions   []Direction  `json:"directions"`
}

// RegionRead is what was read of one Region's stream.
type RegionRead struct {
	Region  string `json:"region"`
	Shards  int    `json:"shards"`
	Records int    `json:"records"`
}

// OK reports a stream whose both directions are OK.
func (r Report) OK() bool {
	for _, d := range r.Directions {
		if !d.OK() {
			return false
		}
	}
	return true
}

// Region is one Region's side of the check.
type Region struct {
	Name    string
	Kinesis streamread.API
	// Checkpoints are the Region's own checkpoints of the stream, read
	// before the streams are: what they acknowledge was written before.
	Checkpoints []checkpoint.Checkpoint
}

// Options bound a check.
type Options struct {
	// Since and Until bound the arrival of the records checked in their
	// source Region. Copies are looked for from Since to the tip.
	Since, Until time.Time
	// MaxRecords bounds what is read of each Region's stream; more is
	// ErrTooManyRecords. Zero means DefaultMaxRecords.
	MaxRecords int
	// Progress, when set, is told how far reading has got, every page.
	Progress func(region string, records int)
}

// DefaultMaxRecords keeps a check within a few hundred megabytes.
const DefaultMaxRecords = 2_000_000

// ErrTooManyRecords: the window holds more than Options.MaxRecords.
var ErrTooManyRecords = errors.New("the window holds more records than the bound")

// Stream checks stream both ways over the window, with cfg the newest
// active-Region config the caller could read.
func Stream(ctx context.Context, stream string, cfg activeregion.Config, regions [2]Region, o Options) (Report, error) {
	if o.MaxRecords == 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if !o.Until.IsZero() && o.Until.Before(o.Since) {
		return Report{}, fmt.Errorf("verify %s: until %s is before since %s", stream, o.Until.Format(time.RFC3339), o.Since.Format(time.RFC3339))
	}
	rep := Report{Stream: stream, Since: o.Since, Until: o.Until, ActiveRegion: cfg.ActiveRegion, Epoch: cfg.Epoch}
	var held [2][]streamread.Record
	for i, r := range regions {
		recs, shards, err := readRegion(ctx, stream, r, o)
		if err != nil {
			return rep, err
		}
		held[i] = recs
		rep.Read = append(rep.Read, RegionRead{Region: r.Name, Shards: shards, Records: len(recs)})
	}
	for i, from := range regions {
		to := regions[1-i]
		var source []streamread.Record
		for _, r := range held[i] {
			if o.Until.IsZero() || !r.Arrival.After(o.Until) {
				source = append(source, r)
			}
		}
		rep.Directions = append(rep.Directions, Compare(cfg, from.Name, to.Name, source, held[1-i], from.Checkpoints))
	}
	return rep, nil
}

// readRegion reads the Region's stream from Since to its tip.
func readRegion(ctx context.Context, stream string, r Region, o Options) ([]streamread.Record, int, error) {
	shards, err := streamread.Shards(ctx, r.Kinesis, stream)
	if err != nil {
		return nil, 0, fmt.Errorf("verify %s in %s: %w", stream, r.Name, err)
	}
	var recs []streamread.Record
	for _, s := range shards {
		_, err := streamread.Shard(ctx, r.Kinesis, stream, *s.ShardId, streamread.Window{From: o.Since}, func(rec streamread.Record) error {
			if len(recs) >= o.MaxRecords {
				return fmt.Errorf("%w (%d in %s): narrow --since/--until or raise --max-records", ErrTooManyRecords, o.MaxRecords, r.Name)
			}
			recs = append(recs, rec)
			if o.Progress != nil && len(recs)%10000 == 0 {
				o.Progress(r.Name, len(recs))
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("verify %s in %s: %w", stream, r.Name, err)
		}
	}
	if o.Progress != nil {
		o.Progress(r.Name, len(recs))
	}
	return recs, len(shards), nil
}

// fingerprint identifies a record's content: its partition key and data.
// The replicator copies both unchanged.
type fingerprint [16]byte

func fingerprintOf(r streamread.Record) fingerprint {
	h := sha256.New()
	h.Write([]byte(r.PartitionKey))
	h.Write([]byte{0})
	h.Write(r.Data)
	var f fingerprint
	copy(f[:], h.Sum(nil))
	return f
}

// Compare is the check of one direction: source is what from's stream
// holds in the window, target all of to's stream from the window's start,
// each in order per shard; cps are from's checkpoints. The rule decides
// what from was responsible for; its checkpoints decide what it has
// acknowledged (a record at or before its shard's checkpoint).
func Compare(cfg activeregion.Config, from, to string, source, target []streamread.Record, cps []checkpoint.Checkpoint) Direction {
	d := Direction{From: from, To: to, MissingRecords: []string{}}
	acked := map[string]string{}
	for _, cp := range cps {
		if cp.SourceRegion == from || cp.SourceRegion == "" {
			acked[cp.ShardID] = cp.LastSequenceNumber
		}
	}
	// Each content's count in the target and the rank of its last copy
	// in its key's order.
	type seen struct{ count, lastRank int }
	copies := map[fingerprint]*seen{}
	for _, recs := range byKey(target) {
		for rank, r := range recs {
			f := fingerprintOf(r)
			if s, ok := copies[f]; ok {
				s.count++
				s.lastRank = rank
			} else {
				copies[f] = &seen{count: 1, lastRank: rank}
			}
		}
	}
	sourceKeys := byKey(source)
	for _, key := range slices.Sorted(maps.Keys(sourceKeys)) {
		highest := -1
		for _, r := range sourceKeys[key] {
			decision := cfg.Decide(from, r.Arrival)
			switch decision {
			case activeregion.Skip:
				continue
			case activeregion.Undecided:
				d.Undecided++
				continue
			}
			// Hashed only for the records the target should hold.
			c, held := copies[fingerprintOf(r)]
			switch decision {
			case activeregion.Supersede:
				if !held && !beforeResumePoint(cfg, r) {
					d.Superseded++
					continue
				}
			case activeregion.Replicate:
				if !held && !acknowledged(acked, r) {
					d.Pending++
					continue
				}
			}
			d.Checked++
			if !held {
				d.Missing++
				if len(d.MissingRecords) < MaxListed {
					d.MissingRecords = append(d.MissingRecords, r.Shard+":"+r.SequenceNumber)
				}
				continue
			}
			if c.count > 1 {
				d.Duplicates++
			}
			if c.lastRank < highest {
				d.OutOfOrder++
				continue
			}
			highest = c.lastRank
		}
	}
	return d
}

// beforeResumePoint says whether r arrived before the resume point of the
// rewind that closed its epoch: committed before it, so the producers did
// not send it again and the old Region had to have replicated it. A record
// is committed before it arrives.
func beforeResumePoint(cfg activeregion.Config, r streamread.Record) bool {
	closer, ok := cfg.ClosedBy(r.Arrival)
	return ok && closer.ResumeFrom != nil && r.Arrival.Before(*closer.ResumeFrom)
}

// acknowledged says whether from's checkpoint of r's shard is at or after r.
func acknowledged(acked map[string]string, r streamread.Record) bool {
	seq, ok := acked[r.Shard]
	if !ok {
		return false
	}
	c, err := checkpoint.CompareSequenceNumbers(r.SequenceNumber, seq)
	return err == nil && c <= 0
}

// byKey groups recs by partition key, each key's records in stream order.
// recs are in order per shard; a key lives in one shard at a time and
// moves to a child shard only after its parent's records, which arrived
// earlier, so a key found in several shards is ordered by arrival, keeping
// each shard's own order among equal times.
func byKey(recs []streamread.Record) map[string][]streamread.Record {
	keys := map[string][]streamread.Record{}
	for _, r := range recs {
		keys[r.PartitionKey] = append(keys[r.PartitionKey], r)
	}
	for k, rs := range keys {
		if slices.ContainsFunc(rs, func(r streamread.Record) bool { return r.Shard != rs[0].Shard }) {
			slices.SortStableFunc(rs, func(a, b streamread.Record) int { return a.Arrival.Compare(b.Arrival) })
			keys[k] = rs
		}
	}
	return keys
}
