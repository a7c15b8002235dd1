package failover

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

var update = flag.Bool("update", false, "rewrite testdata/*.response.json from the current output")

// fixtureHandler is the state every fixture runs against: orders and
// payments active in us-east-1 at epoch 1, orders with three shards (one of
// them idle), payments with one.
func fixtureHandler() *fixture {
	s := testSettings()
	s.ReplicatorFunctionName = "kds-crr-replicator"
	f := newFixture(s, configAt("orders", east1), configAt("payments", east1))
	minute := func(m int) time.Time { return t0.Add(9 * time.Hour).Add(time.Duration(m) * time.Minute) }
	f.cps.Put(
		cp("orders", "shardId-000000000000", minute(50), east1, 1),
		cp("orders", "shardId-000000000001", minute(12), east1, 1),
		cp("orders", "shardId-000000000002", minute(49), east1, 1),
	)
	f.cps.Put(cp("payments", "shardId-000000000000", minute(47), east1, 1))
	// Sync points of orders: shard 0 at its checkpoint, shard 1 before it,
	// shard 2 none (its consumers fall back to TRIM_HORIZON); payments none.
	for shard, p := range map[string]checkpoint.SyncPoint{
		"shardId-000000000000": {SequenceNumber: "49590338271490256608559692538361571095921575989136588898", Arrival: minute(50),
			Targets: map[string]string{"shardId-000000000000": "49600000000000000000000000000000000000000000000000000500"}},
		"shardId-000000000001": {SequenceNumber: "49590338271490256608559692538361571095921575989136500000", Arrival: minute(11),
			Targets: map[string]string{"shardId-000000000001": "49600000000000000000000000000000000000000000000000000100"}},
	} {
		if err := f.cps.AppendSyncPoint(context.Background(), "orders", east1, shard, p); err != nil {
			panic(err) // the fixture's points are valid
		}
	}
	zero := int32(0)
	f.lambdas[east2].reserved = &zero
	return f
}

// TestFixturesThroughTheLambdaHandler pushes each testdata payload through
// the aws-lambda-go handler (decode → Handle → encode) and compares the
// response with its golden file (go test -run Fixtures -update rewrites them).
func TestFixturesThroughTheLambdaHandler(t *testing.T) {
	payloads, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var ran int
	for _, path := range payloads {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		if strings.HasSuffix(name, ".response") || strings.HasPrefix(name, "bad-") {
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f := fixtureHandler()
			got, err := lambda.NewHandler(f.h.Handle).Invoke(inLambda("fixture-request"), payload)
			if err != nil {
				t.Fatalf("Invoke: got error %v, want a report", err)
			}
			checkReportShape(t, got)
			var indented bytes.Buffer
			if err := json.Indent(&indented, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			indented.WriteByte('\n')
			golden := filepath.Join("testdata", name+".response.json")
			if *update {
				if err := os.WriteFile(golden, indented.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden response (run with -update to create it): %v", err)
			}
			if !bytes.Equal(indented.Bytes(), want) {
				t.Errorf("got response\n%s\nwant (%s)\n%s", indented.Bytes(), golden, want)
			}
		})
	}
	if ran < 4 {
		t.Fatalf("got %d payload fixtures, want at least 4", ran)
	}
}

// checkReportShape holds the response to the field names of docs/cli.md (Report).
func checkReportShape(t *testing.T, body []byte) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("response is not a JSON object: %v", err)
	}
	wantTop := []string{"activeRegion", "previousRegion", "switchedAt", "dryRun", "streams", "logStreamStart", "actions", "warnings"}
	// Present once a stream has been switched at least once.
	optionalTop := []string{"producersMayStartAt"}
	got := slices.Sorted(mapsKeys(top))
	for _, k := range wantTop {
		if !slices.Contains(got, k) {
			t.Errorf("got top-level fields %v, want %q among them", got, k)
		}
	}
	for _, k := range got {
		if !slices.Contains(wantTop, k) && !slices.Contains(optionalTop, k) {
			t.Errorf("got top-level field %q, want only %v and %v", k, wantTop, optionalTop)
		}
	}
	var streams []map[string]json.RawMessage
	if err := json.Unmarshal(top["streams"], &streams); err != nil {
		t.Fatalf("streams: %v", err)
	}
	for _, s := range streams {
		for _, k := range []string{"streamName", "epoch", "resumeFrom", "shards", "status", "consumerPositions"} {
			if _, ok := s[k]; !ok {
				t.Errorf("stream %s: field %q missing", s["streamName"], k)
			}
		}
		var positions []map[string]json.RawMessage
		if err := json.Unmarshal(s["consumerPositions"], &positions); err != nil || positions == nil {
			t.Fatalf("stream %s: consumerPositions %s, want an array: %v", s["streamName"], s["consumerPositions"], err)
		}
		for _, p := range positions {
			for _, k := range []string{"targetShardId", "startingPosition"} {
				if _, ok := p[k]; !ok {
					t.Errorf("stream %s: consumer position %s: field %q missing", s["streamName"], p["targetShardId"], k)
				}
			}
			for k := range p {
				if !slices.Contains([]string{"targetShardId", "startingPosition", "sequenceNumber", "timestamp"}, k) {
					t.Errorf("stream %s: consumer position %s: field %q, want only those of docs/cli.md", s["streamName"], p["targetShardId"], k)
				}
			}
		}
		var shards []map[string]json.RawMessage
		if err := json.Unmarshal(s["shards"], &shards); err != nil {
			t.Fatalf("shards: %v", err)
		}
		for _, sh := range shards {
			for _, k := range []string{"shardId", "lastReplicatedTimestamp", "lastSequenceNumber", "targetSequenceNumber", "updatedAt"} {
				if _, ok := sh[k]; !ok {
					t.Errorf("shard %s: field %q missing", sh["shardId"], k)
				}
			}
		}
	}
}

func TestBadFixturesAreErrorsThroughTheLambdaHandler(t *testing.T) {
	payloads, err := filepath.Glob("testdata/bad-*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(payloads) < 5 {
		t.Fatalf("got %d bad payload fixtures, want at least 5", len(payloads))
	}
	for _, path := range payloads {
		t.Run(filepath.Base(path), func(t *testing.T) {
			payload, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f := fixtureHandler()
			got, err := lambda.NewHandler(f.h.Handle).Invoke(context.Background(), payload)
			if err == nil {
				t.Fatalf("got response %s, want an error", got)
			}
			// aws-lambda-go decodes the payload into json.RawMessage before
			// Handle runs, so malformed JSON fails there (the Lambda service
			// itself refuses such payloads before invoking); Handle's own
			// message for it is checked in TestBadRequestsAreErrorsAndChangeNothing.
			if filepath.Base(path) != "bad-malformed.json" && !strings.Contains(err.Error(), "bad failover request") {
				t.Errorf("got error %q, want a bad-request error", err)
			}
			if f.configs.writeCount() != 0 || len(f.configs.switches) != 0 {
				t.Errorf("got %d writes, want none", f.configs.writeCount())
			}
		})
	}
}

func mapsKeys(m map[string]json.RawMessage) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
