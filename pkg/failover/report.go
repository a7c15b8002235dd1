package failover

import (
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
)

// Per-stream outcomes of an invocation (StreamReport.Status).
const (
	// StatusSwitched: this call moved the stream to the target Region.
	StatusSwitched = "switched"
	// StatusAlreadyActive: the target Region was already active; nothing changed.
	StatusAlreadyActive = "alreadyActive"
	// StatusStaleEpoch: the stream is not at the payload's expectedEpoch; nothing changed.
	StatusStaleEpoch = "staleEpoch"
	// StatusConflict: another failover switched the stream between this
	// call's read and its write; that one won, this one changed nothing.
	StatusConflict = "conflict"
	// StatusDryRun: the stream would be switched; nothing was written.
	StatusDryRun = "dryRun"
	// StatusFailed: the switch could not be written (the error is in
	// warnings); nothing changed for this stream.
	StatusFailed = "failed"
	// StatusActive: read-only report of the stream's current state (status).
	StatusActive = "active"
	// StatusCreated / StatusExists: init created the config item, or found
	// one and left it as it is.
	StatusCreated = "created"
	StatusExists  = "exists"
)

// Report is the invocation's response, its log line and its audit record.
// The field names are the contract of docs/cli.md (Report); status, activeRegion,
// previousRegion and activeSince per stream, ignored per shard, actions and
// warnings are additions.
type Report struct {
	ActiveRegion   string         `json:"activeRegion"`
	PreviousRegion string         `json:"previousRegion"`
	SwitchedAt     *time.Time     `json:"switchedAt"`
	DryRun         bool           `json:"dryRun"`
	Streams        []StreamReport `json:"streams"`
	// LogStreamStart is the minimum resumeFrom over the streams: where the
	// CDC log-stream task starts.
	LogStreamStart *time.Time `json:"logStreamStart"`
	// ProducersMayStartAt is the latest producersMayStartAt of the streams:
	// from then on every stream's producers may write in its new Region.
	ProducersMayStartAt *time.Time `json:"producersMayStartAt,omitempty"`
	Actions             []string   `json:"actions"`
	Warnings            []string   `json:"warnings"`
	// PhysicalResourceID is set only in answer to a CloudFormation
	// custom-resource event (the deploy-time seed): it is the one field of
	// the answer the CDK provider framework reads, besides Data.
	PhysicalResourceID string `json:"PhysicalResourceId,omitempty"`
}

// StreamReport is one stream's part of the report.
type StreamReport struct {
	StreamName     string    `json:"streamName"`
	Status         string    `json:"status"`
	ActiveRegion   string    `json:"activeRegion"`
	PreviousRegion string    `json:"previousRegion,omitempty"`
	ActiveSince    time.Time `json:"activeSince"`
	// Epoch is the stream's epoch after the call (for a dry run, the epoch
	// the switch would give it).
	Epoch int64 `json:"epoch"`
	// ResumeFrom is the minimum commit timestamp over the stream's shards
	// that are not ignored; absent when there is no checkpoint to go by.
	ResumeFrom *time.Time `json:"resumeFrom"`
	// ResumeFromUnverified: the stream's shards could not be listed in
	// either Region, so a shard without a checkpoint (which would hold
	// resumeFrom back) may have gone unnoticed.
	ResumeFromUnverified bool `json:"resumeFromUnverified,omitempty"`
	// Mode is what the switch into the current epoch did with the previous
	// Region's backlog: rewind or drain (empty for a first epoch).
	Mode activeregion.Mode `json:"mode,omitempty"`
	// ProducersMayStartAt is when producers may write in the stream's
	// active Region: in rewind mode once no record of the old Region can
	// land after theirs, in drain mode from activeSince (a producer that
	// needs per-key order waits for drainComplete too).
	ProducersMayStartAt *time.Time `json:"producersMayStartAt,omitempty"`
	// SettledAt is when the switch into the current epoch settles; a
	// failover before then is refused unless forced.
	SettledAt *time.Time `json:"settledAt,omitempty"`
	// DrainComplete, in drain mode, says whether the previous Region has
	// acknowledged every record of its closed epoch on every shard.
	DrainComplete *bool         `json:"drainComplete,omitempty"`
	Shards        []ShardReport `json:"shards"`
	// ConsumerPositions are, per shard of the stream in its active Region,
	// where a consumer that had caught up with the previous Region's
	// checkpoints starts (translated with that Region's sync points, as
	// kdscrr translate does); empty when they could not be computed (a
	// warning says why) or there is no previous Region.
	ConsumerPositions []ConsumerPosition `json:"consumerPositions"`
	// ConsumerPositionWarnings say which positions fall back to an earlier
	// point (AT_TIMESTAMP, TRIM_HORIZON) than the checkpoints, and why.
	ConsumerPositionWarnings []string `json:"consumerPositionWarnings,omitempty"`
}

// ShardReport is one shard's checkpoint as the report lists it.
type ShardReport struct {
	ShardID                 string    `json:"shardId"`
	LastReplicatedTimestamp time.Time `json:"lastReplicatedTimestamp"`
	LastSequenceNumber      string    `json:"lastSequenceNumber"`
	TargetSequenceNumber    string    `json:"targetSequenceNumber"`
	UpdatedAt               time.Time `json:"updatedAt"`
	SourceRegion            string    `json:"sourceRegion,omitempty"`
	CheckpointEpoch         int64     `json:"checkpointEpoch,omitempty"`
	// DrainedEpoch is the latest closed epoch of SourceRegion fully
	// acknowledged on this shard (see checkpoint.Checkpoint).
	DrainedEpoch int64 `json:"drainedEpoch,omitempty"`
	// Ignored: named in ignoreShards, so left out of resumeFrom.
	Ignored bool `json:"ignored,omitempty"`
	// DrainComplete, in drain mode: this shard's records of the closed
	// epoch are all acknowledged by the previous Region.
	DrainComplete *bool `json:"drainComplete,omitempty"`
}
