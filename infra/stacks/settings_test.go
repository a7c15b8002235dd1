package stacks_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
)

func getter(ctx map[string]any) func(string) any {
	return func(key string) any { return ctx[key] }
}

func TestParseSettingsAppliesSafeDefaults(t *testing.T) {
	got, err := stacks.ParseSettings(getter(map[string]any{
		"primaryRegion":   "us-east-1",
		"secondaryRegion": "us-east-2",
		"streams":         `[{"name":"s1","shardCount":2}]`,
	}))
	if err != nil {
		t.Fatalf("ParseSettings: %v", err)
	}
	want := stacks.Settings{
		PrimaryRegion:              "us-east-1",
		SecondaryRegion:            "us-east-2",
		Streams:                    []stacks.StreamSpec{{Name: "s1", ShardCount: 2}},
		LagAlarmSeconds:            60,
		CheckpointAgeAlarmSeconds:  300,
		OrderingMode:               "key",
		ActiveRegionCacheTTL:       5 * time.Second,
		MirrorMetrics:              true,
		MappingRetryAttempts:       -1,
		MappingMaxRecordAgeSeconds: -1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseSettingsAcceptsTypedAndCommandLineForms(t *testing.T) {
	want := stacks.Settings{
		Account:                    "123456789012",
		PrimaryRegion:              "eu-west-1",
		SecondaryRegion:            "eu-central-1",
		Streams:                    []stacks.StreamSpec{{Name: "orders", ShardCount: 0}, {Name: "clicks", ShardCount: 4}},
		LagAlarmSeconds:            120,
		CheckpointAgeAlarmSeconds:  600,
		ParkStandby:                true,
		AlarmEmail:                 "ops@example.com",
		OrderingMode:               "strict",
		ActiveRegionCacheTTL:       2 * time.Second,
		MirrorMetrics:              false,
		MappingRetryAttempts:       100,
		MappingMaxRecordAgeSeconds: 3600,
	}
	tests := []struct {
		name string
		ctx  map[string]any
	}{
		{"cdk.json types", map[string]any{
			"account": "123456789012", "primaryRegion": "eu-west-1", "secondaryRegion": "eu-central-1",
			"streams":         []any{map[string]any{"name": "orders", "shardCount": 0.0}, map[string]any{"name": "clicks", "shardCount": 4.0}},
			"lagAlarmSeconds": 120.0, "checkpointAgeAlarmSeconds": 600.0, "parkStandby": true, "alarmEmail": "ops@example.com",
			"orderingMode": "strict", "activeRegionCacheTtl": "2s", "mirrorMetrics": false,
			"mappingRetryAttempts": 100.0, "mappingMaxRecordAgeSeconds": 3600.0,
		}},
		{"-c strings", map[string]any{
			"account": "123456789012", "primaryRegion": "eu-west-1", "secondaryRegion": "eu-central-1",
			"streams":         `[{"name":"orders","shardCount":0},{"name":"clicks","shardCount":4}]`,
			"lagAlarmSeconds": "120", "checkpointAgeAlarmSeconds": "600", "parkStandby": "true", "alarmEmail": "ops@example.com",
			"orderingMode": "strict", "activeRegionCacheTtl": "2s", "mirrorMetrics": "false",
			"mappingRetryAttempts": "100", "mappingMaxRecordAgeSeconds": "3600",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stacks.ParseSettings(getter(tt.ctx))
			if err != nil {
				t.Fatalf("ParseSettings: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestParseSettingsAcceptsACacheTTLOfZero(t *testing.T) {
	for _, v := range []string{"0s", "0"} {
		t.Run(v, func(t *testing.T) {
			got, err := stacks.ParseSettings(getter(map[string]any{
				"primaryRegion": "us-east-1", "secondaryRegion": "us-east-2",
				"streams": `[{"name":"s1","shardCount":2}]`, "activeRegionCacheTtl": v,
			}))
			if err != nil {
				t.Fatalf("ParseSettings: got error %v, want 0 accepted (read the config for every batch)", err)
			}
			if got.ActiveRegionCacheTTL != 0 {
				t.Errorf("got activeRegionCacheTtl %s, want 0s", got.ActiveRegionCacheTTL)
			}
		})
	}
}

func TestParseSettingsRejectsBadContextNamingTheKey(t *testing.T) {
	valid := func() map[string]any {
		return map[string]any{
			"primaryRegion":   "us-east-1",
			"secondaryRegion": "us-east-2",
			"streams":         `[{"name":"s1","shardCount":2}]`,
		}
	}
	tests := []struct {
		name    string
		key     string
		value   any // nil removes the key
		wantKey string
		wantMsg string
	}{
		{"missing primary Region", "primaryRegion", nil, "primaryRegion", "missing"},
		{"missing secondary Region", "secondaryRegion", nil, "secondaryRegion", "missing"},
		{"same Region twice", "secondaryRegion", "us-east-1", "secondaryRegion", "must differ"},
		{"Region name malformed", "primaryRegion", "US East 1", "primaryRegion", "not a Region name"},
		{"Region name without number", "secondaryRegion", "us-east", "secondaryRegion", "not a Region name"},
		{"Region not a string", "primaryRegion", 1.0, "primaryRegion", "want a string"},
		{"missing streams", "streams", nil, "streams", "missing"},
		{"streams not JSON", "streams", `[{"name":"s1"`, "streams", "malformed"},
		{"streams an object", "streams", `{"name":"s1"}`, "streams", "malformed"},
		{"streams unknown field", "streams", `[{"name":"s1","shards":2}]`, "streams", "malformed"},
		{"streams empty", "streams", `[]`, "streams", "empty"},
		{"stream name empty", "streams", `[{"shardCount":1}]`, "streams", "not a Kinesis stream name"},
		{"stream name with slash", "streams", `[{"name":"a/b","shardCount":1}]`, "streams", "not a Kinesis stream name"},
		{"stream twice", "streams", `[{"name":"s1","shardCount":1},{"name":"s1","shardCount":2}]`, "streams", "appears twice"},
		{"negative shard count", "streams", `[{"name":"s1","shardCount":-1}]`, "streams", "negative"},
		{"fractional shard count", "streams", `[{"name":"s1","shardCount":1.5}]`, "streams", "malformed"},
		{"shard count a string", "streams", `[{"name":"s1","shardCount":"2"}]`, "streams", "malformed"},
		{"logical ids collide", "streams", `[{"name":"orders.v1","shardCount":1},{"name":"orders-v1","shardCount":1}]`, "streams", "would share the CloudFormation logical id"},
		{"retention below a day", "streams", `[{"name":"s1","retentionHours":23}]`, "streams", "retentionHours 23 is out of range [24, 8760]"},
		{"retention above a year", "streams", `[{"name":"s1","retentionHours":8761}]`, "streams", "out of range"},
		{"retention negative", "streams", `[{"name":"s1","retentionHours":-1}]`, "streams", "out of range"},
		{"retention fractional", "streams", `[{"name":"s1","retentionHours":36.5}]`, "streams", "malformed"},
		{"existing with a shard count", "streams", `[{"name":"s1","existing":true,"shardCount":2}]`, "streams", "existing streams take no shardCount"},
		{"existing not a bool", "streams", `[{"name":"s1","existing":"yes"}]`, "streams", "malformed"},
		{"lag not a number", "lagAlarmSeconds", "soon", "lagAlarmSeconds", "not a number"},
		{"lag zero", "lagAlarmSeconds", 0.0, "lagAlarmSeconds", "out of range"},
		{"lag negative", "lagAlarmSeconds", "-5", "lagAlarmSeconds", "out of range"},
		{"lag fractional", "lagAlarmSeconds", 1.5, "lagAlarmSeconds", "whole number"},
		{"checkpoint age zero", "checkpointAgeAlarmSeconds", "0", "checkpointAgeAlarmSeconds", "out of range"},
		{"park not a bool", "parkStandby", "maybe", "parkStandby", "neither true nor false"},
		{"email malformed", "alarmEmail", "ops", "alarmEmail", "not an email"},
		{"account malformed", "account", "12345", "account", "12-digit"},
		{"ordering unknown", "orderingMode", "total", "orderingMode", "neither key nor strict"},
		{"cache TTL malformed", "activeRegionCacheTtl", "5", "activeRegionCacheTtl", "Go duration"},
		{"cache TTL negative", "activeRegionCacheTtl", "-1s", "activeRegionCacheTtl", "must not be negative"},
		{"cache TTL over the replicator's limit", "activeRegionCacheTtl", "31s", "activeRegionCacheTtl", "is over 30s"},
		{"retry attempts below -1", "mappingRetryAttempts", "-2", "mappingRetryAttempts", "out of range"},
		{"retry attempts above limit", "mappingRetryAttempts", 10001.0, "mappingRetryAttempts", "out of range"},
		{"record age below 60", "mappingMaxRecordAgeSeconds", "30", "mappingMaxRecordAgeSeconds", "-1 (unlimited) or from 60"},
		{"record age above a week", "mappingMaxRecordAgeSeconds", "604801", "mappingMaxRecordAgeSeconds", "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := valid()
			if tt.value == nil {
				delete(ctx, tt.key)
			} else {
				ctx[tt.key] = tt.value
			}
			got, err := stacks.ParseSettings(getter(ctx))
			if err == nil {
				t.Fatalf("got settings %+v and no error, want an error naming %q", got, tt.wantKey)
			}
			if msg := err.Error(); !strings.Contains(msg, `"`+tt.wantKey+`"`) || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("got error %q, want one naming %q and saying %q", msg, tt.wantKey, tt.wantMsg)
			}
		})
	}
}

func TestParseSettingsReportsEveryBadKeyAtOnce(t *testing.T) {
	_, err := stacks.ParseSettings(getter(map[string]any{"lagAlarmSeconds": "x"}))
	if err == nil {
		t.Fatal("got no error, want one per bad key")
	}
	for _, key := range []string{"primaryRegion", "secondaryRegion", "streams", "lagAlarmSeconds"} {
		if !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("got error %q, want it to name %q", err, key)
		}
	}
}

func TestParseSettingsRefusesStreamNamesWhoseLogicalIDsCollideNamingBoth(t *testing.T) {
	tests := []struct{ streams, first, second, id string }{
		{`[{"name":"orders.v1","shardCount":1},{"name":"orders-v1","shardCount":1}]`, "orders.v1", "orders-v1", "Mappingordersv1"},
		{`[{"name":"a_b"},{"name":"x"},{"name":"ab"}]`, "a_b", "ab", "Mappingab"},
	}
	for _, tt := range tests {
		_, err := stacks.ParseSettings(getter(map[string]any{
			"primaryRegion": "us-east-1", "secondaryRegion": "us-east-2", "streams": tt.streams,
		}))
		if err == nil {
			t.Errorf("%s: got no error, want the collision refused", tt.streams)
			continue
		}
		for _, want := range []string{`"` + tt.first + `"`, `"` + tt.second + `"`, tt.id} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: got error %q, want it to name %s", tt.streams, err, want)
			}
		}
	}
}

func TestParseSettingsReadsRetentionHoursAndExisting(t *testing.T) {
	got, err := stacks.ParseSettings(getter(map[string]any{
		"primaryRegion": "us-east-1", "secondaryRegion": "us-east-2",
		"streams": `[{"name":"a","retentionHours":24},{"name":"b","retentionHours":8760,"shardCount":3},{"name":"c","existing":true}]`,
	}))
	if err != nil {
		t.Fatalf("ParseSettings: %v", err)
	}
	want := []stacks.StreamSpec{
		{Name: "a", RetentionHours: 24},
		{Name: "b", RetentionHours: 8760, ShardCount: 3},
		{Name: "c", Existing: true},
	}
	if !reflect.DeepEqual(got.Streams, want) {
		t.Errorf("got streams %+v, want %+v", got.Streams, want)
	}
	if got, want := got.HistoryRetention(), 8760*time.Hour; got != want {
		t.Errorf("HistoryRetention: got %s, want %s", got, want)
	}
	if got := want[2].Retention(); got != 24*time.Hour {
		t.Errorf("default retention: got %s, want 24h", got)
	}
}
