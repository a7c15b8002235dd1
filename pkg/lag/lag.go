// Package lag measures how far a stream's replication is behind, per shard
// of its active Region, from what every deployment has: the replicator's
// checkpoints and the stream itself (so it works on the local emulators
// too), and from CloudWatch where it answers.
package lag

import (
	"context"
	"fmt"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// DefaultMaxScan bounds the records read behind each shard's checkpoint.
const DefaultMaxScan = 100_000

// MaxDeliverableRecordBytes is the largest record (data and partition key)
// an event source mapping can hand the replicator: records travel base64
// inside the Lambda event, whose payload is capped at 6 MB, so about
// 4.4 MiB. Kinesis accepts records up to 10 MiB; one above this stops its
// shard's mapping without the replicator ever seeing it.
const MaxDeliverableRecordBytes = 4_613_734

// deliverable says whether the mapping can deliver r to the replicator.
func deliverable(r streamread.Record) bool {
	return len(r.Data)+len(r.PartitionKey) <= MaxDeliverableRecordBytes
}

// Shard is one source shard's lag.
type Shard struct {
	ShardID string `json:"shardId"`
	// LastReplicatedTimestamp and UpdatedAt are the shard's checkpoint
	// (absent when the shard has none: nothing replicated yet).
	LastReplicatedTimestamp *time.Time `json:"lastReplicatedTimestamp"`
	UpdatedAt               *time.Time `json:"updatedAt"`
	// CheckpointAgeSeconds is now minus LastReplicatedTimestamp: how far
	// back producers would resume on this shard if one failed over now.
	CheckpointAgeSeconds *float64 `json:"checkpointAgeSeconds"`
	// Unreplicated counts the records behind the checkpoint the source
	// Region still has to replicate (the rule's Replicate); at least that
	// many when UnreplicatedAtLeast (the scan stopped at its bound).
	Unreplicated        int  `json:"unreplicated"`
	UnreplicatedAtLeast bool `json:"unreplicatedAtLeast,omitempty"`
	// OldestUnreplicated is the arrival of the first of them, and
	// ReplicationLagSeconds now minus it (0 when nothing is behind): the
	// records that exist only in the source Region.
	OldestUnreplicated    *time.Time `json:"oldestUnreplicated"`
	ReplicationLagSeconds float64    `json:"replicationLagSeconds"`
	// Undeliverable lists, as sequence numbers, records behind the
	// checkpoint too large for a Lambda event (MaxDeliverableRecordBytes):
	// the mapping cannot deliver them, so the shard waits on the first
	// until it expires from the stream. Each is a warning too.
	Undeliverable []string `json:"undeliverable,omitempty"`
	// RPOSeconds is what a failover now would cost on this shard: with
	// records behind the checkpoint, the checkpoint's age (producers resume
	// from there), else 0.
	RPOSeconds float64 `json:"rpoSeconds"`
	// IteratorAgeSeconds is how far the checkpoint is behind the shard's
	// newest record (GetRecords' MillisBehindLatest at the checkpoint),
	// skipped records included.
	IteratorAgeSeconds float64 `json:"iteratorAgeSeconds"`
}

// Stream is one stream's lag in its source (active) Region.
type Stream struct {
	Stream       string `json:"stream"`
	SourceRegion string `json:"sourceRegion"`
	Epoch        int64  `json:"epoch"`
	// RPOSeconds is the largest of the shards': how far back producers
	// would resume, and how much would exist only in the source Region,
	// if one failed over now.
	RPOSeconds float64 `json:"rpoSeconds"`
	// CheckpointAgeSeconds is the largest of the shards': how far back the
	// resume point of a failover now would be (idle shards included; the
	// failover's ignoreShards leaves them out).
	CheckpointAgeSeconds *float64 `json:"checkpointAgeSeconds"`
	Unreplicated         int      `json:"unreplicated"`
	// ReplicationLagSeconds is the largest of the shards': the age of the
	// oldest record still to replicate.
	ReplicationLagSeconds float64     `json:"replicationLagSeconds"`
	IteratorAgeSeconds    float64     `json:"iteratorAgeSeconds"`
	CloudWatch            *CloudWatch `json:"cloudWatch"`
	Shards                []Shard     `json:"shards"`
	Warnings              []string    `json:"warnings"`
}

// Measure reads, for every open shard of stream in source (and every
// closed one with records left behind its checkpoint), what follows the
// shard's checkpoint in cps, at most maxScan records a shard (0:
// DefaultMaxScan).
func Measure(ctx context.Context, stream string, cfg activeregion.Config, source string, client streamread.API, cps []checkpoint.Checkpoint, now time.Time, maxScan int) (Stream, error) {
	if maxScan <= 0 {
		maxScan = DefaultMaxScan
	}
	st := Stream{Stream: stream, SourceRegion: source, Epoch: cfg.Epoch, Shards: []Shard{}, Warnings: []string{}}
	byShard := map[string]checkpoint.Checkpoint{}
	for _, cp := range cps {
		if cp.SourceRegion == source || cp.SourceRegion == "" {
			byShard[cp.ShardID] = cp
		}
	}
	shards, err := streamread.Shards(ctx, client, stream)
	if err != nil {
		return st, fmt.Errorf("lag of %s in %s: %w", stream, source, err)
	}
	for _, s := range shards {
		id := *s.ShardId
		sh := Shard{ShardID: id}
		w := streamread.Window{}
		if cp, ok := byShard[id]; ok {
			sh.LastReplicatedTimestamp, sh.UpdatedAt = new(cp.LastReplicatedTimestamp), new(cp.UpdatedAt)
			sh.CheckpointAgeSeconds = new(now.Sub(cp.LastReplicatedTimestamp).Seconds())
			w.After = cp.LastSequenceNumber
		}
		scanned := 0
		tip, err := streamread.Shard(ctx, client, stream, id, w, func(r streamread.Record) error {
			if scanned++; scanned > maxScan {
				sh.UnreplicatedAtLeast = true
				return errScanBound
			}
			if cfg.Decide(source, r.Arrival) != activeregion.Replicate {
				return nil
			}
			if !deliverable(r) {
				sh.Undeliverable = append(sh.Undeliverable, r.SequenceNumber)
				st.Warnings = append(st.Warnings, fmt.Sprintf("shard %s: record %s is %d bytes, above the %d a Lambda event can carry: the mapping cannot deliver it and the shard waits (see Limits in the README)",
					id, r.SequenceNumber, len(r.Data)+len(r.PartitionKey), MaxDeliverableRecordBytes))
			}
			if sh.Unreplicated++; sh.OldestUnreplicated == nil {
				sh.OldestUnreplicated = new(r.Arrival)
				sh.ReplicationLagSeconds = max(0, now.Sub(r.Arrival).Seconds())
			}
			return nil
		})
		if err != nil && err != errScanBound {
			return st, fmt.Errorf("lag of %s in %s: %w", stream, source, err)
		}
		sh.IteratorAgeSeconds = float64(tip.MillisBehindLatest) / 1000
		sh.RPOSeconds = rpo(sh)
		closed := s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
		if closed && sh.Unreplicated == 0 {
			continue
		}
		if sh.UnreplicatedAtLeast {
			st.Warnings = append(st.Warnings, fmt.Sprintf("shard %s: more than %d records behind its checkpoint; unreplicated is a lower bound", id, maxScan))
		}
		st.add(sh)
	}
	return st, nil
}

// rpo is a shard's cost of failing over now: nothing when nothing is
// behind its checkpoint; else back to the checkpoint's commit time, where
// the producers resume, or, without a checkpoint, to the oldest record.
func rpo(sh Shard) float64 {
	switch {
	case sh.Unreplicated == 0:
		return 0
	case sh.CheckpointAgeSeconds != nil:
		return max(*sh.CheckpointAgeSeconds, sh.ReplicationLagSeconds)
	default:
		return sh.ReplicationLagSeconds
	}
}

// errScanBound stops a shard's scan at its bound.
var errScanBound = fmt.Errorf("scan bound reached")

// add folds a shard into the stream's figures.
func (st *Stream) add(sh Shard) {
	st.Shards = append(st.Shards, sh)
	st.Unreplicated += sh.Unreplicated
	st.RPOSeconds = max(st.RPOSeconds, sh.RPOSeconds)
	st.ReplicationLagSeconds = max(st.ReplicationLagSeconds, sh.ReplicationLagSeconds)
	st.IteratorAgeSeconds = max(st.IteratorAgeSeconds, sh.IteratorAgeSeconds)
	if sh.CheckpointAgeSeconds != nil && (st.CheckpointAgeSeconds == nil || *sh.CheckpointAgeSeconds > *st.CheckpointAgeSeconds) {
		st.CheckpointAgeSeconds = new(*sh.CheckpointAgeSeconds)
	}
}
