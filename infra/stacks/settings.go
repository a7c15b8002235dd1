// Package stacks builds the kinesis-crr CloudFormation stacks: the global
// tables in the primary Region and one stack per Region with the streams, the
// replicator, the failover function, alarms and a dashboard.
package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/awsregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamarn"
)

// Context keys, as given with `cdk -c key=value` or in cdk.json.
const (
	KeyAccount                    = "account"
	KeyPrimaryRegion              = "primaryRegion"
	KeySecondaryRegion            = "secondaryRegion"
	KeyStreams                    = "streams"
	KeyLagAlarmSeconds            = "lagAlarmSeconds"
	KeyCheckpointAgeAlarmSeconds  = "checkpointAgeAlarmSeconds"
	KeyParkStandby                = "parkStandby"
	KeyAlarmEmail                 = "alarmEmail"
	KeyOrderingMode               = "orderingMode"
	KeyActiveRegionCacheTTL       = "activeRegionCacheTtl"
	KeyMirrorMetrics              = "mirrorMetrics"
	KeyMappingRetryAttempts       = "mappingRetryAttempts"
	KeyMappingMaxRecordAgeSeconds = "mappingMaxRecordAgeSeconds"
)

// Defaults of the optional context keys. The mapping defaults are -1
// (unlimited) because a finite limit lets the event source mapping discard a
// batch that the replicator could still write later: only the stream's
// retention bounds how long a record waits.
const (
	DefaultLagAlarmSeconds            = 60
	DefaultCheckpointAgeAlarmSeconds  = 300
	DefaultOrderingMode               = "key"
	DefaultActiveRegionCacheTTL       = 5 * time.Second
	DefaultMirrorMetrics              = true
	DefaultMappingRetryAttempts       = -1
	DefaultMappingMaxRecordAgeSeconds = -1
)

// Settings is the validated deployment configuration.
type Settings struct {
	// Account comes from context; infra/main.go falls back to
	// CDK_DEFAULT_ACCOUNT. Empty leaves the stacks account-agnostic, which
	// synthesizes because their Regions stay concrete.
	Account                    string
	PrimaryRegion              string
	SecondaryRegion            string
	Streams                    []StreamSpec
	LagAlarmSeconds            int
	CheckpointAgeAlarmSeconds  int
	ParkStandby                bool
	AlarmEmail                 string
	OrderingMode               string
	ActiveRegionCacheTTL       time.Duration
	MirrorMetrics              bool
	MappingRetryAttempts       int
	MappingMaxRecordAgeSeconds int
}

// StreamSpec is one replicated stream; ShardCount 0 means on-demand.
type StreamSpec struct {
	Name       string `json:"name"`
	ShardCount int    `json:"shardCount"`
	// RetentionHours is the stream's retention in both Regions, 24 to 8760;
	// 0 means the Kinesis default of 24 h. For an existing stream it states
	// the retention the stream has (the stacks do not change it), which the
	// failover function's history must cover.
	RetentionHours int `json:"retentionHours"`
	// Existing adopts a stream that already exists in both Regions under
	// this name: no AWS::Kinesis::Stream is created for it; its consumer,
	// mapping and alarms are as for the others.
	Existing bool `json:"existing"`
}

// DefaultStreamRetention is Kinesis' default retention, the one a stream
// without retentionHours has.
const DefaultStreamRetention = 24 * time.Hour

// Retention bounds of retentionHours: Kinesis allows 24 h to 365 days.
const (
	MinRetentionHours = 24
	MaxRetentionHours = 8760
)

// Retention is how long the stream keeps records.
func (s StreamSpec) Retention() time.Duration {
	if s.RetentionHours == 0 {
		return DefaultStreamRetention
	}
	return time.Duration(s.RetentionHours) * time.Hour
}

// logicalIDKey is what a construct id built from name keeps in a
// CloudFormation logical id: its letters and digits. Two names with the same
// key would give two resources the same logical id.
func logicalIDKey(name string) string {
	var b strings.Builder
	for _, c := range name {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// HistoryRetention is the failover function's HISTORY_RETENTION: the longest
// retention of the configured streams and at least 24 h, so that no record
// still in a stream falls before the oldest kept history entry.
func (s Settings) HistoryRetention() time.Duration {
	longest := 24 * time.Hour
	for _, st := range s.Streams {
		longest = max(longest, st.Retention())
	}
	return longest
}

// Regions returns the primary and the secondary Region, in that order.
func (s Settings) Regions() []string { return []string{s.PrimaryRegion, s.SecondaryRegion} }

// OtherRegion returns the Region of the pair that is not region.
func (s Settings) OtherRegion(region string) string {
	if region == s.PrimaryRegion {
		return s.SecondaryRegion
	}
	return s.PrimaryRegion
}

// StreamNames returns the configured stream names in order.
func (s Settings) StreamNames() []string {
	names := make([]string, len(s.Streams))
	for i, st := range s.Streams {
		names[i] = st.Name
	}
	return names
}

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	emailPattern   = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// ParseSettings reads and validates the context through get, which returns
// nil for an absent key. Values may be typed (cdk.json) or strings (-c).
// Every error names the offending key.
func ParseSettings(get func(key string) any) (Settings, error) {
	s := Settings{}
	var errs []error
	add := func(key string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("context %q: %w", key, err))
		}
	}

	var err error
	s.Account, err = optionalString(get(KeyAccount))
	if err == nil && s.Account != "" && !accountPattern.MatchString(s.Account) {
		err = fmt.Errorf("%q is not a 12-digit AWS account id", s.Account)
	}
	add(KeyAccount, err)

	s.PrimaryRegion, err = requiredRegion(get(KeyPrimaryRegion))
	add(KeyPrimaryRegion, err)
	s.SecondaryRegion, err = requiredRegion(get(KeySecondaryRegion))
	add(KeySecondaryRegion, err)
	if s.PrimaryRegion != "" && s.PrimaryRegion == s.SecondaryRegion {
		add(KeySecondaryRegion, fmt.Errorf("must differ from %s (both are %s)", KeyPrimaryRegion, s.PrimaryRegion))
	}

	s.Streams, err = parseStreams(get(KeyStreams))
	add(KeyStreams, err)

	s.LagAlarmSeconds, err = intInRange(get(KeyLagAlarmSeconds), DefaultLagAlarmSeconds, 1, 86400)
	add(KeyLagAlarmSeconds, err)
	s.CheckpointAgeAlarmSeconds, err = intInRange(get(KeyCheckpointAgeAlarmSeconds), DefaultCheckpointAgeAlarmSeconds, 1, 86400*7)
	add(KeyCheckpointAgeAlarmSeconds, err)

	s.ParkStandby, err = boolValue(get(KeyParkStandby), false)
	add(KeyParkStandby, err)
	s.MirrorMetrics, err = boolValue(get(KeyMirrorMetrics), DefaultMirrorMetrics)
	add(KeyMirrorMetrics, err)

	s.AlarmEmail, err = optionalString(get(KeyAlarmEmail))
	if err == nil && s.AlarmEmail != "" && !emailPattern.MatchString(s.AlarmEmail) {
		err = fmt.Errorf("%q is not an email address", s.AlarmEmail)
	}
	add(KeyAlarmEmail, err)

	s.OrderingMode, err = optionalString(get(KeyOrderingMode))
	if s.OrderingMode == "" {
		s.OrderingMode = DefaultOrderingMode
	}
	if err == nil && s.OrderingMode != "key" && s.OrderingMode != "strict" {
		err = fmt.Errorf("%q is neither key nor strict", s.OrderingMode)
	}
	add(KeyOrderingMode, err)

	s.ActiveRegionCacheTTL, err = nonNegativeDuration(get(KeyActiveRegionCacheTTL), DefaultActiveRegionCacheTTL)
	if err == nil && s.ActiveRegionCacheTTL > replicator.MaxCacheTTL {
		err = fmt.Errorf("%s is over %s: the replicator refuses it, since its switchover hold must fit one invocation", s.ActiveRegionCacheTTL, replicator.MaxCacheTTL)
	}
	add(KeyActiveRegionCacheTTL, err)

	s.MappingRetryAttempts, err = intInRange(get(KeyMappingRetryAttempts), DefaultMappingRetryAttempts, -1, 10000)
	add(KeyMappingRetryAttempts, err)
	s.MappingMaxRecordAgeSeconds, err = intInRange(get(KeyMappingMaxRecordAgeSeconds), DefaultMappingMaxRecordAgeSeconds, -1, 604800)
	if err == nil && s.MappingMaxRecordAgeSeconds >= 0 && s.MappingMaxRecordAgeSeconds < 60 {
		err = fmt.Errorf("%d: must be -1 (unlimited) or from 60 to 604800 seconds", s.MappingMaxRecordAgeSeconds)
	}
	add(KeyMappingMaxRecordAgeSeconds, err)

	if len(errs) > 0 {
		return Settings{}, errors.Join(errs...)
	}
	return s, nil
}

func optionalString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(v), nil
	default:
		return "", fmt.Errorf("got %T %v, want a string", v, v)
	}
}

func requiredRegion(v any) (string, error) {
	r, err := optionalString(v)
	if err != nil {
		return "", err
	}
	if r == "" {
		return "", errors.New("missing: give a Region name such as us-east-1")
	}
	if !awsregion.Valid(r) {
		return "", fmt.Errorf("%q is not a Region name such as us-east-1", r)
	}
	return r, nil
}

// parseStreams accepts the JSON text given with -c and the list cdk.json
// gives.
func parseStreams(v any) ([]StreamSpec, error) {
	var raw []byte
	switch v := v.(type) {
	case nil:
		return nil, errors.New(`missing: give a JSON list such as [{"name":"s1","shardCount":2}]`)
	case string:
		raw = []byte(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %T: %w", v, err)
		}
		raw = b
	}
	var streams []StreamSpec
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&streams); err != nil {
		return nil, fmt.Errorf(`malformed %s: %w (want a JSON list such as [{"name":"s1","shardCount":2}])`, raw, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("malformed %s: trailing data after the list", raw)
	}
	if len(streams) == 0 {
		return nil, errors.New("empty: list at least one stream")
	}
	seen := make(map[string]bool, len(streams))
	byKey := make(map[string]string, len(streams))
	for i, st := range streams {
		if streamarn.ValidateStreamName(st.Name) != nil {
			return nil, fmt.Errorf("stream %d: name %q is not a Kinesis stream name (1-128 of a-z A-Z 0-9 _ . -)", i, st.Name)
		}
		if seen[st.Name] {
			return nil, fmt.Errorf("stream %d: name %q appears twice", i, st.Name)
		}
		seen[st.Name] = true
		// The logical ids of existing mappings must never change (a new id
		// re-creates the mapping at TRIM_HORIZON), so names that would
		// share one are refused rather than renamed.
		if other, ok := byKey[logicalIDKey(st.Name)]; ok {
			return nil, fmt.Errorf("streams %q and %q would share the CloudFormation logical id %q (only letters and digits are kept): rename one of them",
				other, st.Name, "Mapping"+logicalIDKey(st.Name))
		}
		byKey[logicalIDKey(st.Name)] = st.Name
		if st.ShardCount < 0 {
			return nil, fmt.Errorf("stream %q: shardCount %d is negative (0 means on-demand)", st.Name, st.ShardCount)
		}
		if st.RetentionHours != 0 && (st.RetentionHours < MinRetentionHours || st.RetentionHours > MaxRetentionHours) {
			return nil, fmt.Errorf("stream %q: retentionHours %d is out of range [%d, %d] (leave it out for the default 24)",
				st.Name, st.RetentionHours, MinRetentionHours, MaxRetentionHours)
		}
		if st.Existing && st.ShardCount != 0 {
			return nil, fmt.Errorf("stream %q: existing streams take no shardCount (%d): the stream is adopted as it is, not created",
				st.Name, st.ShardCount)
		}
	}
	return streams, nil
}

func intInRange(v any, def, lo, hi int) (int, error) {
	var n float64
	switch v := v.(type) {
	case nil:
		return def, nil
	case float64:
		n = v
	case int:
		n = float64(v)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", v)
		}
		n = f
	default:
		return 0, fmt.Errorf("got %T %v, want a number", v, v)
	}
	if n != math.Trunc(n) {
		return 0, fmt.Errorf("%v is not a whole number", n)
	}
	if n < float64(lo) || n > float64(hi) {
		return 0, fmt.Errorf("%v is out of range [%d, %d]", n, lo, hi)
	}
	return int(n), nil
}

func boolValue(v any, def bool) (bool, error) {
	switch v := v.(type) {
	case nil:
		return def, nil
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, fmt.Errorf("%q is neither true nor false", v)
		}
		return b, nil
	default:
		return false, fmt.Errorf("got %T %v, want true or false", v, v)
	}
}

// nonNegativeDuration accepts 0, which for the cache TTL means "read the
// config for every batch", as the README offers.
func nonNegativeDuration(v any, def time.Duration) (time.Duration, error) {
	s, err := optionalString(v)
	if err != nil {
		return 0, err
	}
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a Go duration such as 5s", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s must not be negative", d)
	}
	return d, nil
}
