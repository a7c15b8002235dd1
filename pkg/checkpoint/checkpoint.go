// Package checkpoint stores, per stream and shard, the last source record
// known to be in the target stream, never moving backwards, and derives the
// resume points that failover reports.
package checkpoint

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Timestamp sources of a checkpoint.
const (
	SourceCommit  = "commit"
	SourceArrival = "arrival"
)

// Checkpoint is one kdsReplicationCheckpoint item (schema in docs/reference.md, Tables).
// Times are stored as RFC 3339 strings in UTC.
//
// The item's key is (streamName, shardId) with shardId stored as
// "<sourceRegion>#<shard id>" (see Key): each Region's replicator writes
// only its own items, so the two streams' shard sets may differ
// (on-demand, resharded) and a checkpoint of one Region never stands for a
// shard of the other. The shard id itself is in sourceShardId.
type Checkpoint struct {
	StreamName              string    `dynamodbav:"streamName" json:"streamName"`
	ShardID                 string    `dynamodbav:"sourceShardId" json:"shardId"`
	LastReplicatedTimestamp time.Time `dynamodbav:"lastReplicatedTimestamp" json:"lastReplicatedTimestamp"`
	TimestampSource         string    `dynamodbav:"timestampSource" json:"timestampSource"`
	LastSequenceNumber      string    `dynamodbav:"lastSequenceNumber" json:"lastSequenceNumber"`
	LastArrivalTimestamp    time.Time `dynamodbav:"lastArrivalTimestamp" json:"lastArrivalTimestamp"`
	TargetShardID           string    `dynamodbav:"targetShardId" json:"targetShardId"`
	TargetSequenceNumber    string    `dynamodbav:"targetSequenceNumber" json:"targetSequenceNumber"`
	SourceRegion            string    `dynamodbav:"sourceRegion" json:"sourceRegion"`
	TargetRegion            string    `dynamodbav:"targetRegion" json:"targetRegion"`
	Epoch                   int64     `dynamodbav:"epoch" json:"epoch"`
	UpdatedAt               time.Time `dynamodbav:"updatedAt" json:"updatedAt"`
	// DrainedEpoch is the latest closed epoch of SourceRegion whose every
	// record on this shard the replicator has acknowledged (written or
	// skipped): a drain-mode switch away from it is complete here.
	DrainedEpoch int64      `dynamodbav:"drainedEpoch,omitempty" json:"drainedEpoch,omitempty"`
	DrainedAt    *time.Time `dynamodbav:"drainedAt,omitempty" json:"drainedAt,omitempty"`
	// WrittenBeyond, when set, names records after the prefix that were
	// written too (see WrittenBeyond); it says nothing of the resume point,
	// which the prefix alone gives.
	WrittenBeyond *WrittenBeyond `dynamodbav:"writtenBeyond,omitempty" json:"writtenBeyond,omitempty"`
}

// keySeparator joins the Region and the shard id in the sort key; neither a
// Region name nor a shard id contains it.
const keySeparator = "#"

// Key is the stored sort key (attribute shardId) of region's checkpoint of
// shard.
func Key(region, shard string) string { return region + keySeparator + shard }

// Validate reports the first field that would make the checkpoint useless or
// unorderable.
func (cp Checkpoint) Validate() error {
	switch {
	case cp.StreamName == "":
		return errors.New("streamName is empty")
	case cp.ShardID == "":
		return errors.New("shardId is empty")
	case cp.SourceRegion == "":
		return errors.New("sourceRegion is empty: it is part of the key")
	case strings.Contains(cp.SourceRegion, keySeparator) || strings.Contains(cp.ShardID, keySeparator):
		return fmt.Errorf("sourceRegion %q or shardId %q contains %q, the key separator", cp.SourceRegion, cp.ShardID, keySeparator)
	case cp.TimestampSource != SourceCommit && cp.TimestampSource != SourceArrival:
		return fmt.Errorf("timestampSource is %q, want %q or %q", cp.TimestampSource, SourceCommit, SourceArrival)
	case cp.LastReplicatedTimestamp.IsZero():
		return errors.New("lastReplicatedTimestamp is missing")
	case cp.LastArrivalTimestamp.IsZero():
		return errors.New("lastArrivalTimestamp is missing")
	case cp.UpdatedAt.IsZero():
		return errors.New("updatedAt is missing")
	case cp.Epoch < 1:
		return fmt.Errorf("epoch is %d, want 1 or more", cp.Epoch)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{
		{"lastReplicatedTimestamp", cp.LastReplicatedTimestamp},
		{"lastArrivalTimestamp", cp.LastArrivalTimestamp},
		{"updatedAt", cp.UpdatedAt},
	} {
		// RFC 3339 has four-digit years: anything else would be written but
		// make the whole stream's checkpoints unreadable.
		if y := f.t.UTC().Year(); y < 1 || y > 9999 {
			return fmt.Errorf("%s %s is outside the years 1 to 9999", f.name, f.t.UTC())
		}
	}
	if err := checkCanonical(cp.LastSequenceNumber); err != nil {
		return fmt.Errorf("lastSequenceNumber: %w", err)
	}
	if cp.TargetSequenceNumber != "" {
		if err := checkDigits(cp.TargetSequenceNumber); err != nil {
			return fmt.Errorf("targetSequenceNumber: %w", err)
		}
	}
	if cp.WrittenBeyond != nil {
		if err := cp.WrittenBeyond.validate(cp.LastSequenceNumber); err != nil {
			return fmt.Errorf("writtenBeyond: %w", err)
		}
	}
	return nil
}

// checkCanonical accepts the decimal form Kinesis uses: digits without
// leading zeros. Save relies on it, since it compares by length first.
func checkCanonical(seq string) error {
	if err := checkDigits(seq); err != nil {
		return err
	}
	if len(seq) > 1 && seq[0] == '0' {
		return fmt.Errorf("%q has a leading zero", seq)
	}
	return nil
}

func checkDigits(seq string) error {
	if seq == "" {
		return errors.New("empty, want a decimal sequence number")
	}
	for i := 0; i < len(seq); i++ {
		if seq[i] < '0' || seq[i] > '9' {
			return fmt.Errorf("%q is not a decimal sequence number (byte %d is %q)", seq, i, seq[i])
		}
	}
	return nil
}

// CompareSequenceNumbers compares two decimal sequence numbers numerically,
// returning -1, 0 or +1. Kinesis sequence numbers run to 56 digits and more,
// beyond any integer type, and a string compare would put "9" after "10".
// Leading zeros are allowed; anything but digits is an error.
func CompareSequenceNumbers(a, b string) (int, error) {
	if err := checkDigits(a); err != nil {
		return 0, fmt.Errorf("compare sequence numbers: first: %w", err)
	}
	if err := checkDigits(b); err != nil {
		return 0, fmt.Errorf("compare sequence numbers: second: %w", err)
	}
	a, b = trimLeadingZeros(a), trimLeadingZeros(b)
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c, nil
	}
	return strings.Compare(a, b), nil
}

func trimLeadingZeros(s string) string {
	trimmed := strings.TrimLeft(s, "0")
	if trimmed == "" {
		return "0"
	}
	return trimmed
}

// ResumePoint returns the earliest LastReplicatedTimestamp of the shards:
// everything before it is in the target for every shard, so producers resume
// there after a failover. It is false when there are no checkpoints.
func ResumePoint(cps []Checkpoint) (time.Time, bool) {
	if len(cps) == 0 {
		return time.Time{}, false
	}
	earliest := cps[0].LastReplicatedTimestamp
	for _, cp := range cps[1:] {
		if cp.LastReplicatedTimestamp.Before(earliest) {
			earliest = cp.LastReplicatedTimestamp
		}
	}
	return earliest, true
}
