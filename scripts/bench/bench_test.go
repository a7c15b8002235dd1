package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestTheQuickRunLosesNothingAndKeepsEveryKeyInOrder runs every scenario
// in quick mode, chaos included, and asserts correctness only: figures
// depend on the host and are never asserted.
func TestTheQuickRunLosesNothingAndKeepsEveryKeyInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local world: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, log bytes.Buffer
	code := run(ctx, []string{"--quick", "--json"}, &out, &log)
	if code != 0 {
		t.Fatalf("got exit status %d, want 0; log:\n%s", code, log.String())
	}
	var got struct {
		Results []Result `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("decode the JSON output: %v\n%s", err, out.String())
	}
	if len(got.Results) != len(scenarioNames) {
		t.Fatalf("got %d results, want one per scenario (%d)", len(got.Results), len(scenarioNames))
	}
	for _, r := range got.Results {
		if !r.Complete || r.Lost != 0 || r.OrderViolations != 0 {
			t.Errorf("%s: complete %v, %d lost, %d out of order; want complete, 0 and 0", r.Scenario, r.Complete, r.Lost, r.OrderViolations)
		}
		if r.Records == 0 {
			t.Errorf("%s: no records produced", r.Scenario)
		}
	}
}

func TestFlagsAreCheckedBeforeAnythingStarts(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"an unknown scenario", []string{"--scenarios", "drain,nope"}},
		{"no records", []string{"--records", "0"}},
		{"too many shards", []string{"--shards", "17"}},
		{"a negative round trip", []string{"--rtt", "-1ms"}},
		{"an unknown ordering", []string{"--ordering", "loose"}},
		{"a stray argument", []string{"drain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseFlags(tt.args, &bytes.Buffer{}); err == nil {
				t.Errorf("%q: accepted", tt.args)
			}
		})
	}
	o, err := parseFlags([]string{"--quick", "--records", "500"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.records != 500 || o.duration != 2*time.Second {
		t.Errorf("--quick --records 500: got %d records and %v loads, want the explicit 500 and the quick 2s", o.records, o.duration)
	}
}

func TestAKilledInvocationFailsItsBatchWhateverTheHandlerSays(t *testing.T) {
	tests := []struct {
		name       string
		kill       float64
		wantErr    bool
		wantKilled int64
	}{
		{"never killed: the handler's answer stands", 0, false, 0},
		{"killed mid-batch: an error, so the mapping delivers it again", 1, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv := &invocations{kill: tt.kill, rng: rand.New(rand.NewPCG(1, 1))}
			h := iv.wrap(source, func(ctx context.Context, _ events.KinesisEvent) (events.KinesisEventResponse, error) {
				if tt.kill > 0 {
					<-ctx.Done() // a handler that honours its context
				}
				return events.KinesisEventResponse{}, nil
			})
			_, err := h(context.Background(), events.KinesisEvent{})
			if (err != nil) != tt.wantErr {
				t.Errorf("got error %v, want one: %v", err, tt.wantErr)
			}
			if got := iv.killed.Load(); got != tt.wantKilled {
				t.Errorf("killed: got %d, want %d", got, tt.wantKilled)
			}
			if got := iv.count.Load(); got != 1 {
				t.Errorf("invocations: got %d, want 1", got)
			}
		})
	}
}
