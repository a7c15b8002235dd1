package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/lag"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
	"github.com/kinesis-crr/kinesis-crr/pkg/translate"
	"github.com/kinesis-crr/kinesis-crr/pkg/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var fixedNow = time.Date(2026, 12, 1, 12, 0, 30, 0, time.UTC)

// recorder is a Connector that records every client asked for and every
// invocation, answering invocations with answer.
type recorder struct {
	mu     sync.Mutex
	calls  []string
	answer func(region string, payload []byte) (*lambda.InvokeOutput, error)
}

func (r *recorder) record(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *recorder) Region(name string) Region { return recordedRegion{r: r, name: name} }

type recordedRegion struct {
	r    *recorder
	name string
}

func (g recordedRegion) Lambda(context.Context, time.Duration, int) (InvokeAPI, error) {
	return recordedLambda(g), nil
}

func (g recordedRegion) Kinesis(context.Context) (streamread.API, error) {
	g.r.record("kinesis " + g.name)
	return nil, errors.New("no Kinesis in this test")
}

func (g recordedRegion) DynamoDB(context.Context) (DynamoDBAPI, error) {
	g.r.record("dynamodb " + g.name)
	return nil, errors.New("no DynamoDB in this test")
}

func (g recordedRegion) CloudWatch(context.Context) (lag.MetricsAPI, error) {
	g.r.record("cloudwatch " + g.name)
	return nil, nil
}

type recordedLambda recordedRegion

func (l recordedLambda) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	l.r.record("invoke " + aws.ToString(in.FunctionName) + " in " + l.name + " " + string(in.Payload))
	if l.r.answer == nil {
		return nil, errors.New("no invocation expected in this test")
	}
	return l.r.answer(l.name, in.Payload)
}

// run runs kdscrr with args against rec, in dir, and returns its exit
// status, stdout and stderr.
func run(t *testing.T, rec *recorder, dir string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	st := Main(context.Background(), args, Env{
		Stdout: &stdout, Stderr: &stderr, Dir: dir,
		Getenv:  func(k string) string { return map[string]string{"USER": "tester"}[k] },
		Now:     func() time.Time { return fixedNow },
		Connect: func(endpoints.File, string) Connector { return rec },
	})
	return st, stdout.String(), stderr.String()
}

func TestBadInputIsRefusedBeforeAnyCallNamingTheFlag(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cdk.json"), `{"context":{"primaryRegion":"us-east-1","secondaryRegion":"us-east-2"}}`)
	empty := t.TempDir()
	badEndpoints := filepath.Join(dir, "bad-endpoints.json")
	writeFile(t, badEndpoints, `{"us-east-1":{"kinesis":"not a url","dynamodb":"http://127.0.0.1:1"}}`)
	tests := []struct {
		name string
		dir  string
		args []string
		want string
	}{
		{"no command", dir, nil, "Usage: kdscrr <command>"},
		{"an unknown command", dir, []string{"promote"}, `unknown command "promote"; the commands are status, failover, lag, verify`},
		{"an unknown flag", dir, []string{"failover", "--to", "us-east-2", "--bogus"}, "flag provided but not defined: -bogus"},
		{"--to missing", dir, []string{"failover"}, "--to is required: the Region to make active, one of us-east-1, us-east-2"},
		{"a Region outside the deployment", dir, []string{"failover", "--to", "eu-west-1"}, "--to eu-west-1: not a Region of the deployment, which is us-east-1, us-east-2 (from " + filepath.Join(dir, "cdk.json")},
		{"a Region name that is none", dir, []string{"failover", "--to", "useast2"}, `--to "useast2": not a Region name`},
		{"an epoch that is not a number", dir, []string{"failover", "--to", "us-east-2", "--expected-epoch", "seven"}, `--expected-epoch "seven": want an epoch, a whole number from 1`},
		{"an epoch below 1", dir, []string{"failover", "--to", "us-east-2", "--expected-epoch", "0"}, `--expected-epoch "0"`},
		{"an unknown mode", dir, []string{"failover", "--to", "us-east-2", "--mode", "fast"}, `--mode: mode "fast": want "rewind" or "drain"`},
		{"ignore-shards without a stream", dir, []string{"failover", "--to", "us-east-2", "--ignore-shards", "shardId-000000000001"}, "--ignore-shards \"shardId-000000000001\": want STREAM:SHARD"},
		{"ignore-shards of a stream not requested", dir, []string{"failover", "--to", "us-east-2", "--streams", "a", "--ignore-shards", "b:shardId-000000000001"}, `ignoreShards names stream "b", which is not among the streams requested`},
		{"a bad output form", dir, []string{"status", "--output", "yaml"}, `--output "yaml": want table or json`},
		{"a positional argument", dir, []string{"failover", "us-east-2"}, `unexpected argument "us-east-2"`},
		{"a zero timeout", dir, []string{"failover", "--to", "us-east-2", "--timeout", "0s"}, "--timeout 0s: want a positive duration"},
		{"status in a Region outside the deployment", dir, []string{"status", "--region", "eu-west-1"}, "--region eu-west-1: not a Region of the deployment"},
		{"no deployment Regions known", empty, []string{"status"}, "the deployment's Regions are unknown: pass --regions"},
		{"a malformed --regions", dir, []string{"status", "--regions", "us-east-1"}, `--regions "us-east-1": want the deployment's two Regions`},
		{"an endpoints file that does not exist", dir, []string{"status", "--endpoints", filepath.Join(dir, "nope.json")}, "--endpoints: endpoints file: open"},
		{"an endpoints file with a bad URL", dir, []string{"status", "--endpoints", badEndpoints}, `us-east-1.kinesis: "not a url" is not an http(s) URL`},
		{"an endpoints file without a deployment Region", dir, []string{"status", "--regions", "us-east-1,us-west-2", "--endpoints", writeEndpoints(t, dir)}, "has no Region us-west-2 of the deployment"},
		{"verify since not a time", dir, []string{"verify", "--since", "yesterday"}, `--since "yesterday": want an RFC 3339 time`},
		{"verify until before since", dir, []string{"verify", "--since", "1h", "--until", "2h"}, "--until 2026-12-01T10:00:30.000Z is before --since 2026-12-01T11:00:30.000Z"},
		{"verify since in the future", dir, []string{"verify", "--since", "2027-01-01T00:00:00Z"}, "--since 2027-01-01T00:00:00.000Z is in the future"},
		{"lag max-scan below 1", dir, []string{"lag", "--max-scan", "0"}, "--max-scan 0: want at least 1"},
		{"an empty function name", dir, []string{"status", "--function", " "}, "--function: want a name"},
		{"translate without a stream", dir, []string{"translate", "--from", "us-east-1", "--to", "us-east-2", "--positions", "shardId-000000000000=1"}, "--stream is required"},
		{"translate without --from", dir, []string{"translate", "--stream", "s", "--to", "us-east-2", "--positions", "shardId-000000000000=1"}, "--from is required"},
		{"translate to a Region outside the deployment", dir, []string{"translate", "--stream", "s", "--from", "us-east-1", "--to", "eu-west-1", "--positions", "shardId-000000000000=1"}, "--to eu-west-1: not a Region of the deployment"},
		{"translate within one Region", dir, []string{"translate", "--stream", "s", "--from", "us-east-1", "--to", "us-east-1", "--positions", "shardId-000000000000=1"}, "--to us-east-1: the same Region as --from"},
		{"translate with both position sources", dir, []string{"translate", "--stream", "s", "--from", "us-east-1", "--to", "us-east-2", "--positions", "shardId-000000000000=1", "--kcl-lease-table", "app"}, "--positions or --kcl-lease-table: give exactly one"},
		{"translate with neither position source", dir, []string{"translate", "--stream", "s", "--from", "us-east-1", "--to", "us-east-2"}, "--positions or --kcl-lease-table: give exactly one"},
		{"translate a position without a sequence number", dir, []string{"translate", "--stream", "s", "--from", "us-east-1", "--to", "us-east-2", "--positions", "shardId-000000000000"}, `--positions "shardId-000000000000": want shardId=sequenceNumber`},
		{"translate a position that is no number", dir, []string{"translate", "--stream", "s", "--from", "us-east-1", "--to", "us-east-2", "--positions", "shardId-000000000000=latest"}, `checkpoint "latest" is neither a sequence number`},
		{"translate a bad sub-sequence number", dir, []string{"translate", "--stream", "s", "--from", "us-east-1", "--to", "us-east-2", "--positions", "shardId-000000000000=5:x"}, `sub-sequence number "x" is not a whole number`},
		{"translate an unknown schema", dir, []string{"translate", "--stream", "s", "--from", "us-east-1", "--to", "us-east-2", "--kcl-lease-table", "app", "--kcl-schema", "python"}, `--kcl-schema "python": want java or vmware`},
		{"translate writing leases of no schema", dir, []string{"translate", "--stream", "s", "--from", "us-east-1", "--to", "us-east-2", "--positions", "shardId-000000000000=1", "--write-lease-table", "app2"}, "--write-lease-table with --positions needs --kcl-schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			st, stdout, stderr := run(t, rec, tt.dir, tt.args...)
			if st != ExitError {
				t.Errorf("exit status %d, want %d", st, ExitError)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout not empty:\n%s", stdout)
			}
			if len(rec.calls) > 0 {
				t.Errorf("calls made: %q", rec.calls)
			}
		})
	}
}

func TestHelpIsPrintedForEveryCommandAndExitsZero(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			st, stdout, _ := run(t, &recorder{}, t.TempDir(), c.name, "--help")
			if st != ExitOK || !strings.Contains(stdout, "Usage: kdscrr "+c.name) || !strings.Contains(stdout, "-output") {
				t.Errorf("exit %d, stdout:\n%s", st, stdout)
			}
		})
	}
}

func TestTheDeploymentRegionsComeFromTheFlagTheEnvironmentTheEndpointsOrCdkJSON(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cdk.json"), `{"context":{"primaryRegion":"eu-west-1","secondaryRegion":"eu-central-1"}}`)
	file := writeEndpoints(t, dir)
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"the flag first", "ap-south-1,ap-south-2", []string{"--regions", "us-west-1,us-west-2"}, "us-west-1, us-west-2 (from --regions)"},
		{"then the environment", "ap-south-1,ap-south-2", nil, "ap-south-1, ap-south-2 (from " + RegionsEnv + ")"},
		{"then the endpoints file", "", []string{"--endpoints", file}, "us-east-1, us-east-2 (from --endpoints " + file + ")"},
		{"then cdk.json", "", nil, "eu-west-1, eu-central-1 (from " + filepath.Join(dir, "cdk.json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"failover", "--to", "sa-east-1"}, tt.args...)
			st := Main(context.Background(), args, Env{
				Stdout: &bytes.Buffer{}, Stderr: &stderr, Dir: dir,
				Getenv:  func(k string) string { return map[string]string{RegionsEnv: tt.env}[k] },
				Connect: func(endpoints.File, string) Connector { return &recorder{} },
			})
			if st != ExitError || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr does not say %q:\n%s", st, tt.want, stderr.String())
			}
		})
	}
}

// reportAnswer answers every invocation with the report in testdata/name.
func reportAnswer(t *testing.T, name string) func(string, []byte) (*lambda.InvokeOutput, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return func(string, []byte) (*lambda.InvokeOutput, error) {
		return &lambda.InvokeOutput{StatusCode: 200, Payload: data}, nil
	}
}

func TestFailoverExitStatusSaysWhetherEveryStreamIsWhereAsked(t *testing.T) {
	refused := func(string, []byte) (*lambda.InvokeOutput, error) {
		return &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled"),
			Payload: []byte(`{"errorMessage":"bad failover request: refused: the previous switch of s1 (settles at 2026-12-01T12:00:09Z) has not settled yet; wait until then, or pass \"force\":true","errorType":"wrapError"}`)}, nil
	}
	tests := []struct {
		name   string
		answer func(string, []byte) (*lambda.InvokeOutput, error)
		want   int
		says   string
	}{
		{"switched", reportAnswer(t, "report-switched.json"), ExitOK, "switched:"},
		{"stale epoch", reportAnswer(t, "report-stale.json"), ExitNotAsked, "staleEpoch:"},
		{"a refusal of the function", refused, ExitError, "run it again after the settledAt that status shows, or with --force"},
		{"an invocation that fails", func(string, []byte) (*lambda.InvokeOutput, error) { return nil, errors.New("connection refused") }, ExitError, "invoke kds-crr-failover in us-east-2: connection refused"},
		{"an answer that is not a report", func(string, []byte) (*lambda.InvokeOutput, error) {
			return &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(`"hello"`)}, nil
		}, ExitError, "answered with something that is not a report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{answer: tt.answer}
			st, stdout, stderr := run(t, rec, "", "failover", "--regions", "us-east-1,us-east-2", "--to", "us-east-2", "--expected-epoch", "1", "--reason", "drill")
			if st != tt.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", st, tt.want, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, tt.says) {
				t.Errorf("output does not say %q:\n%s%s", tt.says, stdout, stderr)
			}
			if len(rec.calls) != 1 || !strings.HasPrefix(rec.calls[0], "invoke kds-crr-failover in us-east-2 ") {
				t.Fatalf("calls %q, want one invocation in us-east-2", rec.calls)
			}
			var req failover.Request
			if err := json.Unmarshal([]byte(strings.SplitN(rec.calls[0], " ", 5)[4]), &req); err != nil {
				t.Fatal(err)
			}
			if req.TargetRegion != "us-east-2" || req.ExpectedEpoch == nil || *req.ExpectedEpoch != 1 || req.Reason != "drill" || req.RequestedBy != "tester" {
				t.Errorf("payload %+v", req)
			}
		})
	}
}

// TestTableFormsMatchTheirGoldenFiles renders fixed reports; go test
// -update rewrites the golden files after a deliberate change.
func TestTableFormsMatchTheirGoldenFiles(t *testing.T) {
	tests := []struct {
		name, report, golden string
		args                 []string
	}{
		{"a failover", "report-switched.json", "failover-switched.golden", []string{"failover", "--to", "us-east-2"}},
		{"a dry run in drain mode", "report-drain-dryrun.json", "failover-drain-dryrun.golden", []string{"failover", "--to", "us-east-2", "--dry-run", "--mode", "drain"}},
		{"status of one Region", "report-status.json", "status-region.golden", []string{"status", "--region", "us-east-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{answer: reportAnswer(t, tt.report)}
			st, stdout, stderr := run(t, rec, "", append(tt.args, "--regions", "us-east-1,us-east-2")...)
			if st != ExitOK {
				t.Fatalf("exit %d: %s", st, stderr)
			}
			golden(t, tt.golden, stdout)
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		writeFile(t, path, got)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it after a deliberate change):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeEndpoints writes an endpoints file of us-east-1 and us-east-2 on
// ports nothing listens on.
func writeEndpoints(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "endpoints.json")
	f := endpoints.File{}
	for _, r := range []string{"us-east-1", "us-east-2"} {
		f[r] = endpoints.Region{Kinesis: "http://127.0.0.1:1", DynamoDB: "http://127.0.0.1:1", Lambda: "http://127.0.0.1:1"}
	}
	if err := endpoints.Write(path, f); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLagAndVerifyTablesMatchTheirGoldenFiles(t *testing.T) {
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	f := func(v float64) *float64 { return &v }
	streams := []lag.Stream{{
		Stream: "orders", SourceRegion: "us-east-1", Epoch: 3, RPOSeconds: 12.5, CheckpointAgeSeconds: f(12.5), Unreplicated: 40,
		ReplicationLagSeconds: 2.25, IteratorAgeSeconds: 2.2, CloudWatch: &lag.CloudWatch{Window: "5m0s", ReplicationLagSeconds: f(1.5)},
		Shards: []lag.Shard{
			{ShardID: "shardId-000000000000", LastReplicatedTimestamp: at("2026-12-01T12:00:18Z"), CheckpointAgeSeconds: f(12.5), Unreplicated: 40,
				OldestUnreplicated: at("2026-12-01T12:00:28.25Z"), ReplicationLagSeconds: 2.25, RPOSeconds: 12.5, IteratorAgeSeconds: 2.2},
			{ShardID: "shardId-000000000001", Unreplicated: 100000, UnreplicatedAtLeast: true, RPOSeconds: 1},
		},
		Warnings: []string{"shard shardId-000000000001: more than 100000 records behind its checkpoint; unreplicated is a lower bound"},
	}}
	var out bytes.Buffer
	w := newTableWriter(&out)
	w.lagReport(streams)
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	golden(t, "lag.golden", out.String())

	reports := []verify.Report{{
		Stream: "orders", Since: *at("2026-12-01T11:00:30Z"), ActiveRegion: "us-east-1", Epoch: 3,
		Read: []verify.RegionRead{{Region: "us-east-1", Shards: 2, Records: 3232}, {Region: "us-east-2", Shards: 2, Records: 3233}},
		Directions: []verify.Direction{
			{From: "us-east-1", To: "us-east-2", Checked: 2121, Duplicates: 3, MissingRecords: []string{}},
			{From: "us-east-2", To: "us-east-1", Checked: 1111, Missing: 2, MissingRecords: []string{"shardId-000000000001:4965", "shardId-000000000001:4966"}, Superseded: 1, Pending: 4},
		},
	}}
	out.Reset()
	w = newTableWriter(&out)
	w.verifyReport(reports)
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	golden(t, "verify.golden", out.String())

	out.Reset()
	w = newTableWriter(&out)
	w.translateReport("orders", "us-east-1", "us-east-2", translate.Result{Positions: []translate.Start{
		{SourceShardID: "shardId-000000000000", SourceShardIDs: []string{"shardId-000000000000"}, TargetShardID: "shardId-000000000000",
			StartingPosition: translate.AfterSequenceNumber, SequenceNumber: "49656740235257239931747043991183432195521366788423352370", MaxReread: new(int64(12))},
		{SourceShardID: "shardId-000000000001", SourceShardIDs: []string{"shardId-000000000001", "shardId-000000000002"}, TargetShardID: "shardId-000000000001",
			StartingPosition: translate.AtTimestamp, Timestamp: *at("2026-12-01T11:59:55.250Z")},
	}})
	w.warnings([]string{"target shard shardId-000000000001: starts AT_TIMESTAMP 2026-12-01T11:59:55.25Z (from source shard shardId-000000000001): it re-reads the records that arrived there since, count unknown"})
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	golden(t, "translate.golden", out.String())
}
