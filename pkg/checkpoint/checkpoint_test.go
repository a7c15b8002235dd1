package checkpoint

import (
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

// fixture returns the valid checkpoint of testdata/checkpoint.json.
func fixture(t testing.TB) Checkpoint {
	t.Helper()
	data, err := os.ReadFile("testdata/checkpoint.json")
	if err != nil {
		t.Fatal(err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		t.Fatalf("testdata/checkpoint.json: %v", err)
	}
	return cp
}

func TestCompareSequenceNumbers(t *testing.T) {
	const seq56 = "49656740235234939186548513462361393532838414234960543746"
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "42", "42", 0},
		{"shorter is smaller even when bytewise larger", "9", "10", -1},
		{"longer is larger even when bytewise smaller", "10", "9", 1},
		{"same length", "123", "124", -1},
		{"zero", "0", "0", 0},
		{"leading zeros compare numerically", "0009", "10", -1},
		{"leading zeros on both sides", "007", "7", 0},
		{"56-digit equal", seq56, seq56, 0},
		{"56-digit last digit differs", seq56, "49656740235234939186548513462361393532838414234960543747", -1},
		{"56-digit first digit differs", "59656740235234939186548513462361393532838414234960543746", seq56, 1},
		{"56 digits against 55", seq56, "9965674023523493918654851346236139353283841423496054374", 1},
		{"beyond 128 bits", "340282366920938463463374607431768211456", "340282366920938463463374607431768211455", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CompareSequenceNumbers(tt.a, tt.b)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got != tt.want {
				t.Errorf("CompareSequenceNumbers(%q, %q): got %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestCompareSequenceNumbersRefusesNonNumbers(t *testing.T) {
	tests := []struct {
		name    string
		a, b    string
		wantErr string
	}{
		{"empty first", "", "1", "first: empty"},
		{"empty second", "1", "", "second: empty"},
		{"letters", "12a4", "1", `"12a4" is not a decimal sequence number`},
		{"sign", "-1", "1", `"-1" is not a decimal`},
		{"space", "1", " 1", `" 1" is not a decimal`},
		{"decimal point", "1.5", "1", `"1.5" is not a decimal`},
		{"non-ASCII digit", "١٢", "1", "is not a decimal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CompareSequenceNumbers(tt.a, tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got (%d, %v), want an error containing %q", got, err, tt.wantErr)
			}
		})
	}
}

func FuzzCompareSequenceNumbers(f *testing.F) {
	for _, seed := range [][2]string{
		{"9", "10"}, {"0", "00"}, {"", "1"}, {"1a", "1"},
		{"49656740235234939186548513462361393532838414234960543746", "49656740235234939186548513462361393532838414234960543747"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := CompareSequenceNumbers(a, b)
		x, okA := parseDecimal(a)
		y, okB := parseDecimal(b)
		if !okA || !okB {
			if err == nil {
				t.Fatalf("CompareSequenceNumbers(%q, %q): got %d, want an error", a, b, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("CompareSequenceNumbers(%q, %q): got error %v, want none", a, b, err)
		}
		if want := x.Cmp(y); got != want {
			t.Fatalf("CompareSequenceNumbers(%q, %q): got %d, want %d as math/big says", a, b, got, want)
		}
	})
}

// parseDecimal is the reference: digits only, as big.Int reads them.
func parseDecimal(s string) (*big.Int, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return nil, false
	}
	return new(big.Int).SetString(s, 10)
}

func TestResumePoint(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name   string
		times  []string
		want   string
		wantOK bool
	}{
		{"no shards", nil, "", false},
		{"one shard", []string{"2026-11-29T12:00:00Z"}, "2026-11-29T12:00:00Z", true},
		{"minimum over shards", []string{"2026-11-29T12:00:05Z", "2026-11-29T11:59:00Z", "2026-11-29T12:10:00Z"}, "2026-11-29T11:59:00Z", true},
		{"minimum last", []string{"2026-11-29T12:00:05Z", "2026-11-29T12:00:01Z"}, "2026-11-29T12:00:01Z", true},
		{"instants, not zones", []string{"2026-11-29T12:00:00Z", "2026-11-29T13:30:00+02:00"}, "2026-11-29T13:30:00+02:00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cps []Checkpoint
			for _, s := range tt.times {
				cps = append(cps, Checkpoint{LastReplicatedTimestamp: ts(s)})
			}
			got, ok := ResumePoint(cps)
			if ok != tt.wantOK {
				t.Fatalf("got ok %t, want %t", ok, tt.wantOK)
			}
			if tt.wantOK && !got.Equal(ts(tt.want)) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Checkpoint)
		wantErr string
	}{
		{"the fixture is valid", func(*Checkpoint) {}, ""},
		{"arrival as timestamp source", func(c *Checkpoint) { c.TimestampSource = SourceArrival }, ""},
		{"sequence number zero", func(c *Checkpoint) { c.LastSequenceNumber = "0" }, ""},
		{"no target sequence number", func(c *Checkpoint) { c.TargetSequenceNumber = "" }, ""},
		{"empty stream", func(c *Checkpoint) { c.StreamName = "" }, "streamName is empty"},
		{"empty shard", func(c *Checkpoint) { c.ShardID = "" }, "shardId is empty"},
		{"no source Region, which the key needs", func(c *Checkpoint) { c.SourceRegion = "" }, "sourceRegion is empty"},
		{"a shard id with the key separator", func(c *Checkpoint) { c.ShardID = "us-east-1#shardId-0" }, "key separator"},
		{"unknown timestamp source", func(c *Checkpoint) { c.TimestampSource = "producer" }, `timestampSource is "producer"`},
		{"empty timestamp source", func(c *Checkpoint) { c.TimestampSource = "" }, `timestampSource is ""`},
		{"zero replicated timestamp", func(c *Checkpoint) { c.LastReplicatedTimestamp = time.Time{} }, "lastReplicatedTimestamp is missing"},
		{"zero arrival timestamp", func(c *Checkpoint) { c.LastArrivalTimestamp = time.Time{} }, "lastArrivalTimestamp is missing"},
		{"zero updatedAt", func(c *Checkpoint) { c.UpdatedAt = time.Time{} }, "updatedAt is missing"},
		{"epoch zero", func(c *Checkpoint) { c.Epoch = 0 }, "epoch is 0"},
		{"empty sequence number", func(c *Checkpoint) { c.LastSequenceNumber = "" }, "lastSequenceNumber: empty"},
		{"sequence number with letters", func(c *Checkpoint) { c.LastSequenceNumber = "4965x" }, `lastSequenceNumber: "4965x" is not a decimal`},
		{"sequence number with a leading zero", func(c *Checkpoint) { c.LastSequenceNumber = "0123" }, `lastSequenceNumber: "0123" has a leading zero`},
		{"target sequence number with letters", func(c *Checkpoint) { c.TargetSequenceNumber = "abc" }, `targetSequenceNumber: "abc" is not a decimal`},
		{"commit time past year 9999", func(c *Checkpoint) {
			c.LastReplicatedTimestamp = time.Date(10000, 1, 1, 4, 30, 0, 0, time.UTC)
		}, "lastReplicatedTimestamp 10000-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := fixture(t)
			tt.mutate(&cp)
			err := cp.Validate()
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
