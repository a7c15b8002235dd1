package failover

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint/checkpointtest"
)

func TestSettingsFromEnv(t *testing.T) {
	base := map[string]string{"REGIONS": "us-east-1,us-east-2", "AWS_REGION": "us-east-2"}
	tests := []struct {
		name    string
		env     map[string]string
		want    func(Settings) bool
		wantErr string
	}{
		{
			name: "defaults",
			env:  base,
			want: func(s Settings) bool {
				return slices.Equal(s.Regions, []string{"us-east-1", "us-east-2"}) && s.OwnRegion == "us-east-2" &&
					s.CheckpointTable == DefaultCheckpointTable && s.ActiveRegionTable == DefaultActiveRegionTable &&
					s.ReplicatorFunctionName == "" && s.IdleShardThreshold == DefaultIdleShardThreshold &&
					s.HistoryLimit == 1000 && s.HistoryRetention == 365*24*time.Hour && s.CrossRegionTimeout == DefaultCrossRegionTimeout &&
					s.SwitchSettle == DefaultSwitchSettle && s.CacheTTL == 5*time.Second
			},
		},
		{
			name: "everything set",
			env: map[string]string{
				"REGIONS": " eu-west-1 , eu-central-1 ", "AWS_REGION": "eu-west-1",
				"CHECKPOINT_TABLE": "cp", "ACTIVE_REGION_TABLE": "cfg",
				"REPLICATOR_FUNCTION_NAME": "kds-crr-replicator", "IDLE_SHARD_THRESHOLD": "90s",
				"SWITCH_SETTLE": "500ms", "ACTIVE_REGION_CACHE_TTL": "0s", "HISTORY_RETENTION": "48h",
			},
			want: func(s Settings) bool {
				return slices.Equal(s.Regions, []string{"eu-west-1", "eu-central-1"}) && s.CheckpointTable == "cp" &&
					s.ActiveRegionTable == "cfg" && s.ReplicatorFunctionName == "kds-crr-replicator" &&
					s.IdleShardThreshold == 90*time.Second && s.SwitchSettle == 500*time.Millisecond &&
					s.CacheTTL == 0 && s.HistoryRetention == 48*time.Hour
			},
		},
		{name: "REGIONS missing", env: map[string]string{"AWS_REGION": "us-east-1"}, wantErr: "REGIONS"},
		{name: "one Region", env: map[string]string{"REGIONS": "us-east-1", "AWS_REGION": "us-east-1"}, wantErr: "at least two Regions"},
		{name: "Region twice", env: map[string]string{"REGIONS": "us-east-1,us-east-1", "AWS_REGION": "us-east-1"}, wantErr: "listed twice"},
		{name: "not a Region", env: map[string]string{"REGIONS": "us-east-1,useast2", "AWS_REGION": "us-east-1"}, wantErr: `"useast2" is not an AWS Region`},
		{name: "AWS_REGION missing", env: map[string]string{"REGIONS": "us-east-1,us-east-2"}, wantErr: "AWS_REGION"},
		{name: "bad threshold", env: map[string]string{"REGIONS": "us-east-1,us-east-2", "AWS_REGION": "us-east-1", "IDLE_SHARD_THRESHOLD": "5"}, wantErr: "IDLE_SHARD_THRESHOLD"},
		{name: "settle not a duration", env: map[string]string{"REGIONS": "us-east-1,us-east-2", "AWS_REGION": "us-east-1", "SWITCH_SETTLE": "2"}, wantErr: "SWITCH_SETTLE"},
		{name: "settle zero", env: map[string]string{"REGIONS": "us-east-1,us-east-2", "AWS_REGION": "us-east-1", "SWITCH_SETTLE": "0s"}, wantErr: "SWITCH_SETTLE"},
		{name: "cache TTL above the bound the replicators accept", env: map[string]string{"REGIONS": "us-east-1,us-east-2", "AWS_REGION": "us-east-1", "ACTIVE_REGION_CACHE_TTL": "31s"}, wantErr: "ACTIVE_REGION_CACHE_TTL"},
		{name: "history retention shorter than a day", env: map[string]string{"REGIONS": "us-east-1,us-east-2", "AWS_REGION": "us-east-1", "HISTORY_RETENTION": "1h"}, wantErr: "HISTORY_RETENTION"},
		{name: "negative threshold", env: map[string]string{"REGIONS": "us-east-1,us-east-2", "AWS_REGION": "us-east-1", "IDLE_SHARD_THRESHOLD": "-1m"}, wantErr: "IDLE_SHARD_THRESHOLD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := SettingsFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !tt.want(s) {
				t.Fatalf("got settings %+v", s)
			}
		})
	}
}

func TestNewHandlerFillsZeroSettingsWithDefaults(t *testing.T) {
	h := NewHandler(Settings{Regions: []string{east1, east2}}, Clients{}, WithStores(newFakeConfigs(), checkpointtest.New()))
	if got := h.settings; got.IdleShardThreshold != DefaultIdleShardThreshold || got.CrossRegionTimeout != DefaultCrossRegionTimeout || got.HistoryLimit != 1000 || got.HistoryRetention != 365*24*time.Hour || got.SwitchSettle != DefaultSwitchSettle {
		t.Fatalf("got threshold %v, timeout %v, history limit %d, settle %v; want the defaults", got.IdleShardThreshold, got.CrossRegionTimeout, got.HistoryLimit, got.SwitchSettle)
	}
}
