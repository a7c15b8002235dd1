package replicator

import (
	"fmt"
	"strings"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/awsregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/putrecords"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamarn"
)

// Settings is the replicator's environment contract (docs/reference.md), parsed and
// validated once at cold start.
type Settings struct {
	// OwnRegion is AWS_REGION, set by Lambda; used only to refuse a target
	// that is the function's own Region (that would be a loop).
	OwnRegion            string
	TargetRegion         string
	NameMap              streamarn.NameMap
	CheckpointTable      string
	ActiveRegionTable    string
	CommitTimestampField string
	Ordering             putrecords.Ordering
	CacheTTL             time.Duration
	MetricsNamespace     string
	MetricsMirrorRegion  string
	TargetEndpointURL    string
	// TargetDynamoDBEndpointURL names the target Region's DynamoDB endpoint
	// for the fence read (local runs only; empty in AWS).
	TargetDynamoDBEndpointURL string
}

// Defaults (docs/reference.md, Replicator environment).
const (
	DefaultCheckpointTable      = "kdsReplicationCheckpoint"
	DefaultActiveRegionTable    = "kdsActiveRegionConfig"
	DefaultCommitTimestampField = "CommitTimestamp"
	DefaultCacheTTL             = activeregion.DefaultCacheTTL
	MaxCacheTTL                 = activeregion.MaxCacheTTL
	DefaultMetricsNamespace     = "KinesisReplication"
)

// SettingsFromEnv reads the environment through getenv (os.Getenv in main).
// Every error names the variable and the value at fault.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{
		OwnRegion:                 strings.TrimSpace(getenv("AWS_REGION")),
		TargetRegion:              strings.TrimSpace(getenv("TARGET_REGION")),
		CheckpointTable:           orDefault(getenv("CHECKPOINT_TABLE"), DefaultCheckpointTable),
		ActiveRegionTable:         orDefault(getenv("ACTIVE_REGION_TABLE"), DefaultActiveRegionTable),
		CommitTimestampField:      orDefault(getenv("COMMIT_TIMESTAMP_FIELD"), DefaultCommitTimestampField),
		MetricsNamespace:          orDefault(getenv("METRICS_NAMESPACE"), DefaultMetricsNamespace),
		MetricsMirrorRegion:       strings.TrimSpace(getenv("METRICS_MIRROR_REGION")),
		TargetEndpointURL:         strings.TrimSpace(getenv("TARGET_ENDPOINT_URL")),
		TargetDynamoDBEndpointURL: strings.TrimSpace(getenv("TARGET_DYNAMODB_ENDPOINT_URL")),
		CacheTTL:                  DefaultCacheTTL,
	}
	switch {
	case s.TargetRegion == "":
		return Settings{}, fmt.Errorf("TARGET_REGION is required: the Region to replicate to, e.g. us-east-2")
	case !awsregion.Valid(s.TargetRegion):
		return Settings{}, fmt.Errorf("TARGET_REGION %q is not an AWS Region name", s.TargetRegion)
	case s.OwnRegion != "" && s.OwnRegion == s.TargetRegion:
		return Settings{}, fmt.Errorf("TARGET_REGION %q is the function's own Region (AWS_REGION): records would replicate onto themselves", s.TargetRegion)
	case s.MetricsMirrorRegion != "" && !awsregion.Valid(s.MetricsMirrorRegion):
		return Settings{}, fmt.Errorf("METRICS_MIRROR_REGION %q is not an AWS Region name", s.MetricsMirrorRegion)
	}

	nameMap, err := streamarn.ParseNameMap(getenv("STREAM_NAME_MAP"))
	if err != nil {
		return Settings{}, fmt.Errorf("STREAM_NAME_MAP: %w", err)
	}
	s.NameMap = nameMap

	if s.Ordering, err = putrecords.ParseOrdering(orDefault(getenv("ORDERING"), "key")); err != nil {
		return Settings{}, fmt.Errorf("ORDERING: %w", err)
	}

	if s.CacheTTL, err = activeregion.ParseCacheTTL(getenv("ACTIVE_REGION_CACHE_TTL")); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}
