// Package checkpoint stores, per stream and shard, the last source record
// known to be in the target stream, never moving backwards, and derives the
// resume points that failover reports.
package checkpoint

import "time"

// Timestamp sources of a checkpoint.
const (
	SourceCommit  = "commit"
	SourceArrival = "arrival"
)

// Checkpoint is one kdsReplicationCheckpoint item (schema in DESIGN.md).
// Times are stored as RFC 3339 strings in UTC.
type Checkpoint struct {
	StreamName              string    `dynamodbav:"streamName" json:"streamName"`
	ShardID                 string    `dynamodbav:"shardId" json:"shardId"`
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
}
