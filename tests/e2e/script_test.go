package e2e

// Tests of scripts/failover.sh, now a wrapper of kdscrr: it must refuse
// what kdscrr cannot do before building or calling anything, hand every
// other flag to `kdscrr failover` or `kdscrr status`, and exit with kdscrr's
// status. They run the script itself, with bash, as an operator would.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/localdeploy"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/operator"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

// kdscrrNote is the line the wrapper prints on stderr before it runs
// kdscrr: its presence says kdscrr was run.
const kdscrrNote = "failover.sh: kdscrr is the operator tool now; running: kdscrr "

// scriptRun is one run of scripts/failover.sh.
type scriptRun struct {
	code           int
	stdout, stderr string
}

// scriptEnv is the environment the script runs in: its own cache directory
// for the kdscrr binary (never the user's), the Go build cache it would
// otherwise find there, no KDSCRR_REGIONS from the caller's shell, and a
// fixed USER (kdscrr's default --requested-by).
type scriptEnv struct {
	root  string
	cache string
	extra []string
}

func newScriptEnv(t *testing.T) scriptEnv {
	t.Helper()
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// GOCACHE defaults to $XDG_CACHE_HOME/go-build: pinned here so that
	// moving XDG_CACHE_HOME does not make every build a cold one.
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	return scriptEnv{root: root, cache: t.TempDir(), extra: []string{"GOCACHE=" + strings.TrimSpace(string(gocache))}}
}

func (e scriptEnv) run(ctx context.Context, t *testing.T, dir string, args ...string) scriptRun {
	t.Helper()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(e.root, "scripts", "failover.sh")}, args...)...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, operator.RegionsEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, append([]string{"XDG_CACHE_HOME=" + e.cache, "USER=tester"}, e.extra...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := scriptRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run failover.sh %q: %v", args, err)
	}
	return r
}

// TestFailoverScriptRefusesWhatKdscrrCannotDoBeforeBuildingIt runs the
// wrapper with a `go` on PATH that only records that it ran: a refused flag
// must stop the script before the build, so before kdscrr could call
// anything.
func TestFailoverScriptRefusesWhatKdscrrCannotDoBeforeBuildingIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newScriptEnv(t)
	bin := t.TempDir()
	marker := filepath.Join(bin, "go-ran")
	fakeGo := "#!/usr/bin/env bash\necho \"$@\" >> '" + marker + "'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	e.extra = append(e.extra, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	tests := []struct {
		name string
		args []string
		want string // a regexp stderr must match
	}{
		{"no action", []string{"--dry-run"}, `--to REGION is required`},
		{"unknown flag", []string{"--to", "us-east-2", "--forcefully"}, `unknown argument '--forcefully'`},
		{"flag without its value", []string{"--to", "--dry-run"}, `--to needs a value`},
		{"init", []string{"--init", "--to", "us-east-1", "--streams", "orders"}, `--init is gone: the deploy seeds every stream's config .*"action":"init"`},
		{"local", []string{"--local", "http://127.0.0.1:9101", "--status"}, `--local is gone: .*--endpoints FILE`},
		{"out", []string{"--to", "us-east-2", "--out", "report.json"}, `--out is gone: use --output json > FILE`},
		{"region with to", []string{"--to", "us-east-2", "--region", "us-east-1"}, `--region does not go with --to: kdscrr invokes the failover function in the Region it activates \(--to us-east-2\)`},
		{"status with to", []string{"--status", "--to", "us-east-2"}, `--status takes no --to`},
		{"status with a failover flag", []string{"--status", "--expected-epoch", "1"}, `--expected-epoch only applies to a failover`},
		{"status dry run", []string{"--status", "--dry-run"}, `--dry-run only applies to a failover`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(ctx, t, t.TempDir(), tt.args...)
			if r.code != 1 {
				t.Errorf("got exit code %d, want 1\nstderr:\n%s", r.code, r.stderr)
			}
			if !regexp.MustCompile(tt.want).MatchString(r.stderr) {
				t.Errorf("got stderr\n%s\nwant it to match %q", r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, kdscrrNote) {
				t.Errorf("got stderr\n%s\nwant no kdscrr run", r.stderr)
			}
			if ran, err := os.ReadFile(marker); err == nil {
				t.Errorf("go ran (%s), want the flags refused before the build", bytes.TrimSpace(ran))
			}
		})
	}

	r := e.run(ctx, t, t.TempDir(), "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "usage: scripts/failover.sh") || !strings.Contains(r.stdout, "--endpoints FILE") {
		t.Errorf("--help: got exit code %d and\n%s\nwant 0 and the usage with --endpoints", r.code, r.stdout)
	}
}

// TestFailoverScriptLeavesValueChecksToKdscrr: values the wrapper passes on
// unchecked are refused by kdscrr, with its message and exit code 1, and
// nothing is called: every URL of the endpoints file is a server that counts
// requests. The deployment's Regions come from the endpoints file, the
// working directory's cdk.json or, without either, the checkout's.
func TestFailoverScriptLeavesValueChecksToKdscrr(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newScriptEnv(t)
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.Error(w, "no call expected", http.StatusInternalServerError)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "endpoints.json")
	all := endpoints.Region{Kinesis: srv.URL, DynamoDB: srv.URL, Lambda: srv.URL}
	if err := endpoints.Write(file, endpoints.File{regionA: all, regionB: all}); err != nil {
		t.Fatal(err)
	}
	withCDK := t.TempDir()
	cdk := `{"context":{"primaryRegion":"eu-west-1","secondaryRegion":"eu-central-1"}}`
	if err := os.WriteFile(filepath.Join(withCDK, "cdk.json"), []byte(cdk), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		dir  string // "" is an empty directory
		args []string
		want string
	}{
		{"Region outside the deployment", "", []string{"--to", "us-west-2", "--endpoints", file},
			`kdscrr failover: --to us-west-2: not a Region of the deployment`},
		{"bad epoch", "", []string{"--to", regionB, "--expected-epoch", "0", "--endpoints", file},
			`kdscrr failover: --expected-epoch "0"`},
		{"bad mode", "", []string{"--to", regionB, "--mode", "sideways", "--endpoints", file},
			`kdscrr failover: --mode`},
		{"bad ignore-shards", "", []string{"--to", regionB, "--ignore-shards", "orders", "--endpoints", file},
			`kdscrr failover: --ignore-shards "orders": want STREAM:SHARD`},
		{"status in a Region outside the deployment", "", []string{"--status", "--region", "eu-west-1", "--endpoints", file},
			`kdscrr status: --region eu-west-1: not a Region of the deployment`},
		{"bad output", "", []string{"--status", "--output", "yaml", "--endpoints", file},
			`kdscrr status: --output "yaml": want table or json`},
		{"Regions given", "", []string{"--to", regionB, "--regions", "eu-west-1,eu-central-1"},
			`--to us-east-2: not a Region of the deployment, which is eu-west-1, eu-central-1 \(from --regions\)`},
		{"the working directory's cdk.json", withCDK, []string{"--to", regionB},
			`--to us-east-2: not a Region of the deployment, which is eu-west-1, eu-central-1 \(from ` + regexp.QuoteMeta(filepath.Join(withCDK, "cdk.json"))},
		{"the checkout's cdk.json", "", []string{"--to", "us-west-2"},
			`--to us-west-2: not a Region of the deployment, .*\(from ` + regexp.QuoteMeta(filepath.Join(e.root, "cdk.json"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			if dir == "" {
				dir = t.TempDir()
			}
			before := requests.Load()
			r := e.run(ctx, t, dir, tt.args...)
			if r.code != operator.ExitError {
				t.Errorf("got exit code %d, want %d\nstderr:\n%s", r.code, operator.ExitError, r.stderr)
			}
			if !strings.Contains(r.stderr, kdscrrNote) {
				t.Errorf("got stderr\n%s\nwant the note that kdscrr runs", r.stderr)
			}
			if !regexp.MustCompile(tt.want).MatchString(r.stderr) {
				t.Errorf("got stderr\n%s\nwant it to match %q", r.stderr, tt.want)
			}
			if n := requests.Load() - before; n != 0 {
				t.Errorf("got %d requests to the endpoints, want none", n)
			}
		})
	}
	// The binary is built under a name of the run's own and renamed: what
	// stays in the cache is kdscrr alone.
	entries, err := os.ReadDir(filepath.Join(e.cache, "kinesis-crr"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if len(names) != 1 || names[0] != "kdscrr" {
		t.Errorf("got %q in the cache directory, want [kdscrr]", names)
	}
}

// TestFailoverScriptAgainstALocalDeployment runs the wrapper against the
// deployment pkg/localdeploy serves, through the endpoints file the demo
// writes: status of both Regions and of one, a dry run, a fence that
// exits 3, a flag the function refuses, and a failover whose reason and
// requester land in the stream's history.
func TestFailoverScriptAgainstALocalDeployment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newScriptEnv(t)
	lw, err := localworld.Start(ctx, localworld.Options{Regions: [2]string{regionA, regionB}, GlobalTableDelay: localworld.NoDelay})
	if err != nil {
		t.Fatal(err)
	}
	defer lw.Close()
	if err := lw.CreateStream(ctx, stream, 2); err != nil {
		t.Fatal(err)
	}
	if err := lw.CreateTables(ctx, replicator.DefaultCheckpointTable, replicator.DefaultActiveRegionTable); err != nil {
		t.Fatal(err)
	}
	d, err := localdeploy.Start(ctx, lw, localdeploy.Options{Streams: []string{stream}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Init(ctx, regionA); err != nil {
		t.Fatal(err)
	}
	// Run in the file's directory and name it relatively: the wrapper must
	// not change directory when it is given the deployment.
	dir := t.TempDir()
	if err := endpoints.Write(filepath.Join(dir, "endpoints.json"), d.Endpoints()); err != nil {
		t.Fatal(err)
	}
	local := []string{"--endpoints", "endpoints.json", "--output", "json"}
	run := func(t *testing.T, wantCode int, args ...string) scriptRun {
		t.Helper()
		r := e.run(ctx, t, dir, append(args, local...)...)
		if r.code != wantCode {
			t.Fatalf("failover.sh %q: got exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, wantCode, r.stdout, r.stderr)
		}
		if n := strings.Count(r.stderr, kdscrrNote); n != 1 {
			t.Errorf("got stderr\n%s\nwant the kdscrr note once, got it %d times", r.stderr, n)
		}
		return r
	}
	decode := func(t *testing.T, r scriptRun, v any) {
		t.Helper()
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("got stdout\n%s\nwant JSON of %T: %v", r.stdout, v, err)
		}
	}
	wantStream := func(t *testing.T, what string, rep failover.Report, status, active string, epoch int64) {
		t.Helper()
		if len(rep.Streams) != 1 {
			t.Fatalf("%s: got %d streams %+v, want %s alone", what, len(rep.Streams), rep.Streams, stream)
		}
		if s := rep.Streams[0]; s.StreamName != stream || s.Status != status || s.ActiveRegion != active || s.Epoch != epoch {
			t.Errorf("%s: got %s %s active in %s at epoch %d, want %s %s active in %s at epoch %d",
				what, s.StreamName, s.Status, s.ActiveRegion, s.Epoch, stream, status, active, epoch)
		}
	}
	config := func(t *testing.T) activeregion.Config {
		t.Helper()
		cfg, err := activeregion.NewStore(lw.DynamoDBClient(regionB, regionB), replicator.DefaultActiveRegionTable).Get(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	t.Run("status of both Regions", func(t *testing.T) {
		var out operator.StatusOutput
		decode(t, run(t, operator.ExitOK, "--status"), &out)
		if len(out.Unreachable) != 0 {
			t.Errorf("got unreachable Regions %v, want none", out.Unreachable)
		}
		if len(out.Reports) != 2 {
			t.Fatalf("got reports of %d Regions, want both", len(out.Reports))
		}
		for _, r := range []string{regionA, regionB} {
			wantStream(t, "status in "+r, out.Reports[r], failover.StatusActive, regionA, 1)
		}
	})
	t.Run("status of one Region", func(t *testing.T) {
		var rep failover.Report
		decode(t, run(t, operator.ExitOK, "--status", "--region", regionB, "--streams", stream), &rep)
		wantStream(t, "status in "+regionB, rep, failover.StatusActive, regionA, 1)
	})
	t.Run("dry run", func(t *testing.T) {
		var rep failover.Report
		decode(t, run(t, operator.ExitOK, "--to", regionB, "--dry-run", "--mode", "drain", "--ignore-shards", stream+":shardId-000000000001"), &rep)
		if !rep.DryRun {
			t.Errorf("got dryRun false, want a dry run's report")
		}
		// A dry run reports the stream as the switch would leave it.
		wantStream(t, "dry run", rep, failover.StatusDryRun, regionB, 2)
		if got := rep.Streams[0].Mode; got != activeregion.ModeDrain {
			t.Errorf("dry run: got mode %q, want %q (passed on from --mode)", got, activeregion.ModeDrain)
		}
		if cfg := config(t); cfg.ActiveRegion != regionA || cfg.Epoch != 1 {
			t.Errorf("after the dry run: got %s at epoch %d, want %s at epoch 1 unchanged", cfg.ActiveRegion, cfg.Epoch, regionA)
		}
	})
	t.Run("stale fence exits 3", func(t *testing.T) {
		var rep failover.Report
		decode(t, run(t, operator.ExitNotAsked, "--to", regionB, "--expected-epoch", "7"), &rep)
		wantStream(t, "stale fence", rep, failover.StatusStaleEpoch, regionA, 1)
	})
	t.Run("the function refuses an unknown stream", func(t *testing.T) {
		r := run(t, operator.ExitError, "--to", regionB, "--dry-run", "--ignore-shards", "nosuch:shardId-000000000001")
		if !strings.Contains(r.stderr, `"nosuch"`) || r.stdout != "" {
			t.Errorf("got stdout %q and stderr\n%s\nwant no report and the function's refusal naming nosuch", r.stdout, r.stderr)
		}
	})
	t.Run("failover", func(t *testing.T) {
		reason := `us-east-1 "impaired"` + "\n" + `now`
		var rep failover.Report
		decode(t, run(t, operator.ExitOK, "--to", regionB, "--expected-epoch", "1", "--reason", reason, "--requested-by", "oncall"), &rep)
		wantStream(t, "failover", rep, failover.StatusSwitched, regionB, 2)
		cfg := config(t)
		last := cfg.History[len(cfg.History)-1]
		if cfg.ActiveRegion != regionB || cfg.Epoch != 2 || last.Reason != reason || last.RequestedBy != "oncall" {
			t.Errorf("got config %s at epoch %d, last entry %+v, want %s at epoch 2 with reason %q by oncall",
				cfg.ActiveRegion, cfg.Epoch, last, regionB, reason)
		}
	})
	if err := d.Err(); err != nil {
		t.Errorf("got mapping errors of the local deployment %v, want none", err)
	}
}
