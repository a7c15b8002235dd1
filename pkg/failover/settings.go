package failover

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/awsregion"
)

// Settings is the failover function's environment contract (docs/reference.md),
// parsed once at cold start.
type Settings struct {
	// Regions are the Regions a stream may be active in (REGIONS).
	Regions []string
	// OwnRegion is AWS_REGION: the Region the function runs in. Failing over
	// to another Region from here works, but is worth a warning: the usual
	// reason to fail over is that the other Region is impaired.
	OwnRegion              string
	CheckpointTable        string
	ActiveRegionTable      string
	ReplicatorFunctionName string
	// IdleShardThreshold: a shard whose checkpoint is older than the stream's
	// newest by more than this holds the resume point back and is named in
	// the report's warnings.
	IdleShardThreshold time.Duration
	// HistoryRetention is how long an ended epoch stays in a config item's
	// history (HISTORY_RETENTION): at least the longest retention of the
	// streams, so that no record still in a stream is attributed by guess.
	HistoryRetention time.Duration
	// HistoryLimit caps the entries kept, to stay within DynamoDB's item size.
	HistoryLimit int
	// CacheTTL is the replicators' ACTIVE_REGION_CACHE_TTL: the switchover
	// times (since, settle, hold) are derived from it, so both functions
	// must be given the same value.
	CacheTTL time.Duration
	// CrossRegionTimeout is the one deadline for all the work a call does
	// in other Regions (listing their shards, parking their replicators):
	// the previous Region may hang, and the report must still come back
	// complete, well within the function's timeout.
	CrossRegionTimeout time.Duration
	// SwitchSettle is how long a failover waits after its switches before
	// reading them back: the config table is a global table, last writer
	// wins across Regions, so a failover invoked at the same time in the
	// other Region may overwrite a switch this one's conditional write
	// reported as won. The wait lets such a write replicate in first.
	SwitchSettle time.Duration
}

// Defaults (docs/reference.md, Failover environment).
const (
	DefaultCheckpointTable    = "kdsReplicationCheckpoint"
	DefaultActiveRegionTable  = "kdsActiveRegionConfig"
	DefaultIdleShardThreshold = 5 * time.Minute
	DefaultCrossRegionTimeout = 10 * time.Second
	DefaultSwitchSettle       = 2 * time.Second
)

// SettingsFromEnv reads REGIONS, CHECKPOINT_TABLE, ACTIVE_REGION_TABLE,
// REPLICATOR_FUNCTION_NAME, AWS_REGION and the optional IDLE_SHARD_THRESHOLD,
// SWITCH_SETTLE, ACTIVE_REGION_CACHE_TTL and HISTORY_RETENTION (Go
// durations) through getenv. Every error names the variable at fault.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{
		OwnRegion:              strings.TrimSpace(getenv("AWS_REGION")),
		CheckpointTable:        orDefault(getenv("CHECKPOINT_TABLE"), DefaultCheckpointTable),
		ActiveRegionTable:      orDefault(getenv("ACTIVE_REGION_TABLE"), DefaultActiveRegionTable),
		ReplicatorFunctionName: strings.TrimSpace(getenv("REPLICATOR_FUNCTION_NAME")),
		IdleShardThreshold:     DefaultIdleShardThreshold,
		HistoryLimit:           activeregion.DefaultHistoryLimit,
		HistoryRetention:       activeregion.DefaultHistoryRetention,
		CrossRegionTimeout:     DefaultCrossRegionTimeout,
		SwitchSettle:           DefaultSwitchSettle,
	}
	regions, err := parseRegions(getenv("REGIONS"))
	if err != nil {
		return Settings{}, fmt.Errorf("REGIONS: %w", err)
	}
	s.Regions = regions
	if s.OwnRegion == "" {
		return Settings{}, fmt.Errorf("AWS_REGION is required (Lambda sets it)")
	}
	if v := strings.TrimSpace(getenv("IDLE_SHARD_THRESHOLD")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Settings{}, fmt.Errorf("IDLE_SHARD_THRESHOLD %q is not a positive Go duration such as 5m", v)
		}
		s.IdleShardThreshold = d
	}
	if s.CacheTTL, err = activeregion.ParseCacheTTL(getenv("ACTIVE_REGION_CACHE_TTL")); err != nil {
		return Settings{}, err
	}
	if v := strings.TrimSpace(getenv("HISTORY_RETENTION")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 24*time.Hour {
			return Settings{}, fmt.Errorf("HISTORY_RETENTION %q is not a Go duration of at least 24h, such as 8760h (it must cover the longest stream retention)", v)
		}
		s.HistoryRetention = d
	}
	if v := strings.TrimSpace(getenv("SWITCH_SETTLE")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Settings{}, fmt.Errorf("SWITCH_SETTLE %q is not a positive Go duration such as 2s (the read-back after a switch needs a wait to catch the other Region's write)", v)
		}
		s.SwitchSettle = d
	}
	return s, nil
}

func parseRegions(v string) ([]string, error) {
	var regions []string
	for r := range strings.SplitSeq(v, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !awsregion.Valid(r) {
			return nil, fmt.Errorf("%q is not an AWS Region name", r)
		}
		if slices.Contains(regions, r) {
			return nil, fmt.Errorf("%s is listed twice", r)
		}
		regions = append(regions, r)
	}
	if len(regions) < 2 {
		return nil, fmt.Errorf("got %q, want a comma list of at least two Regions, e.g. us-east-1,us-east-2", v)
	}
	return regions, nil
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}
