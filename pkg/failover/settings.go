package failover

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/awsregion"
)

// Settings is the failover function's environment contract (DESIGN.md),
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
	// HistoryLimit is how many epochs a config item keeps.
	HistoryLimit int
	// CrossRegionTimeout bounds each concurrency call: the previous Region may
	// be down, and the SDK's retries must not hold the failover report back.
	CrossRegionTimeout time.Duration
	// SwitchSettle is how long a failover waits after its switches before
	// reading them back: the config table is a global table, last writer
	// wins across Regions, so a failover invoked at the same time in the
	// other Region may overwrite a switch this one's conditional write
	// reported as won. The wait lets such a write replicate in first.
	SwitchSettle time.Duration
}

// Defaults of DESIGN.md and of the issue.
const (
	DefaultCheckpointTable    = "kdsReplicationCheckpoint"
	DefaultActiveRegionTable  = "kdsActiveRegionConfig"
	DefaultIdleShardThreshold = 5 * time.Minute
	DefaultCrossRegionTimeout = 10 * time.Second
	DefaultSwitchSettle       = 2 * time.Second
)

// SettingsFromEnv reads REGIONS, CHECKPOINT_TABLE, ACTIVE_REGION_TABLE,
// REPLICATOR_FUNCTION_NAME, AWS_REGION and the optional IDLE_SHARD_THRESHOLD
// and SWITCH_SETTLE (Go durations) through getenv. Every error names the variable at fault.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{
		OwnRegion:              strings.TrimSpace(getenv("AWS_REGION")),
		CheckpointTable:        orDefault(getenv("CHECKPOINT_TABLE"), DefaultCheckpointTable),
		ActiveRegionTable:      orDefault(getenv("ACTIVE_REGION_TABLE"), DefaultActiveRegionTable),
		ReplicatorFunctionName: strings.TrimSpace(getenv("REPLICATOR_FUNCTION_NAME")),
		IdleShardThreshold:     DefaultIdleShardThreshold,
		HistoryLimit:           activeregion.DefaultHistoryLimit,
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
