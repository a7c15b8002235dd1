package activeregion

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return ts
}

// threeEpochs is east-1 from 10:00, east-2 from 11:00, east-1 again from 12:00.
func threeEpochs(t *testing.T) Config {
	return Config{
		StreamName:   "orders",
		ActiveRegion: "us-east-1",
		ActiveSince:  mustTime(t, "2026-11-29T12:00:00Z"),
		Epoch:        3,
		History: []Epoch{
			{Region: "us-east-1", Since: mustTime(t, "2026-11-29T10:00:00Z"), Epoch: 1},
			{Region: "us-east-2", Since: mustTime(t, "2026-11-29T11:00:00Z"), Epoch: 2},
			{Region: "us-east-1", Since: mustTime(t, "2026-11-29T12:00:00Z"), Epoch: 3},
		},
	}
}

func TestAtPicksTheEpochActiveAtEachTime(t *testing.T) {
	cfg := threeEpochs(t)
	tests := []struct {
		name       string
		at         string
		wantRegion string
		wantEpoch  int64
	}{
		{"before the first entry falls back to the first", "2026-11-29T09:00:00Z", "us-east-1", 1},
		{"exactly at the first entry", "2026-11-29T10:00:00Z", "us-east-1", 1},
		{"within the first epoch", "2026-11-29T10:59:59.999999999Z", "us-east-1", 1},
		{"exactly at a switch belongs to the new epoch", "2026-11-29T11:00:00Z", "us-east-2", 2},
		{"between switches", "2026-11-29T11:30:00Z", "us-east-2", 2},
		{"exactly at the last switch", "2026-11-29T12:00:00Z", "us-east-1", 3},
		{"after the last switch", "2027-01-01T00:00:00Z", "us-east-1", 3},
		{"a non-UTC time is compared as an instant", "2026-11-29T06:30:00-05:00", "us-east-2", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := mustTime(t, tt.at)
			got := cfg.At(at)
			if got.Region != tt.wantRegion || got.Epoch != tt.wantEpoch {
				t.Errorf("At(%s): got %s epoch %d, want %s epoch %d", tt.at, got.Region, got.Epoch, tt.wantRegion, tt.wantEpoch)
			}
			if got := cfg.RegionAt(at); got != tt.wantRegion {
				t.Errorf("RegionAt(%s): got %s, want %s", tt.at, got, tt.wantRegion)
			}
		})
	}
}

func TestAtWithoutHistoryUsesTheCurrentEpoch(t *testing.T) {
	since := mustTime(t, "2026-11-29T10:00:00Z")
	cfg := Config{StreamName: "orders", ActiveRegion: "us-west-2", ActiveSince: since, Epoch: 4}
	for _, at := range []time.Time{since.Add(-time.Hour), since, since.Add(time.Hour)} {
		got := cfg.At(at)
		want := Epoch{Region: "us-west-2", Since: since, Epoch: 4}
		if got != want {
			t.Errorf("At(%s): got %+v, want %+v", at, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // empty: valid
	}{
		{"a consistent config is valid", func(*Config) {}, ""},
		{"a single epoch is valid", func(c *Config) {
			c.History = c.History[2:]
		}, ""},
		{"equal since times are allowed", func(c *Config) {
			c.History[1].Since = c.History[0].Since
		}, ""},
		{"empty stream name", func(c *Config) { c.StreamName = "" }, "streamName is empty"},
		{"empty active Region", func(c *Config) { c.ActiveRegion = "" }, "activeRegion is empty"},
		{"zero active since", func(c *Config) { c.ActiveSince = time.Time{} }, "activeSince is missing"},
		{"epoch zero", func(c *Config) { c.Epoch = 0 }, "epoch is 0"},
		{"negative epoch", func(c *Config) { c.Epoch = -1 }, "epoch is -1"},
		{"empty history", func(c *Config) { c.History = nil }, "history is empty"},
		{"history entry without Region", func(c *Config) { c.History[1].Region = "" }, "history[1].region is empty"},
		{"history entry without since", func(c *Config) { c.History[0].Since = time.Time{} }, "history[0].since is missing"},
		{"history entry with epoch zero", func(c *Config) { c.History[0].Epoch = 0 }, "history[0].epoch is 0"},
		{"history out of time order", func(c *Config) {
			c.History[1].Since = c.History[0].Since.Add(-time.Second)
		}, "history must be sorted by since"},
		{"history epochs not growing", func(c *Config) { c.History[1].Epoch = 1 }, "history[1].epoch 1 is not after history[0].epoch 1"},
		{"history ending in another epoch", func(c *Config) { c.Epoch = 4 }, "want the current epoch 4 in us-east-1"},
		{"history ending in another Region", func(c *Config) { c.ActiveRegion = "us-east-2" }, "history ends with epoch 3 in us-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := threeEpochs(t)
			tt.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %q, want none", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("got no error, want one containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("got error %q, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestTakeoverAtIsTheSwitchIntoTheRegionActiveThen(t *testing.T) {
	base := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	cfg := Config{History: []Epoch{
		{Region: "us-east-1", Since: base, Epoch: 1},
		{Region: "us-east-2", Since: base.Add(time.Hour), Epoch: 2},
		{Region: "us-east-2", Since: base.Add(2 * time.Hour), Epoch: 3},
		{Region: "us-east-1", Since: base.Add(3 * time.Hour), Epoch: 4},
	}}
	tests := []struct {
		name   string
		at     time.Time
		want   time.Time
		wantOK bool
	}{
		{"before the first epoch", base.Add(-time.Minute), time.Time{}, false},
		{"in the first epoch", base.Add(time.Minute), time.Time{}, false},
		{"at a switch", base.Add(time.Hour), base.Add(time.Hour), true},
		{"after a switch", base.Add(90 * time.Minute), base.Add(time.Hour), true},
		{"epoch that repeats the previous Region", base.Add(150 * time.Minute), time.Time{}, false},
		{"after the failback", base.Add(4 * time.Hour), base.Add(3 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cfg.TakeoverAt(tt.at)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Fatalf("got %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
