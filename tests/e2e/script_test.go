package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// rie answers like the Lambda Runtime Interface Emulator's invoke endpoint:
// the function's response, or its error as errorMessage/errorType, with 200.
type rie struct {
	mu       sync.Mutex
	payloads []string
}

func (w *world) serveRIE(t *testing.T) (*rie, string) {
	t.Helper()
	r := &rie{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/function/invocations", func(rw http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.payloads = append(r.payloads, string(body))
		r.mu.Unlock()
		// Like failover.sh against AWS (--region defaults to --to), a
		// failover is served by the function of the Region it activates.
		in := regionB
		var target struct {
			Action       string `json:"action"`
			TargetRegion string `json:"targetRegion"`
		}
		if json.Unmarshal(body, &target) == nil && target.Action == "" && target.TargetRegion == regionA {
			in = regionA
		}
		out, err := w.failoverIn[in].Invoke(req.Context(), body)
		if err != nil {
			out, _ = json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "errorString"})
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(out)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *rie) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.payloads...)
}

func TestFailoverScriptAgainstALocalRuntimeEmulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(ctx, t, worldOptions{})
	server, url := w.serveRIE(t)
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "failover.sh")

	tests := []struct {
		name        string
		args        []string
		wantCode    int
		wantOut     []string
		wantPayload string
		// badFlag: the script refuses the flags without invoking.
		badFlag bool
	}{
		{
			name:        "init creates the config item",
			args:        []string{"--init", "--to", "us-east-1", "--streams", "orders"},
			wantOut:     []string{`"status":\s*"created"`},
			wantPayload: `{"action":"init","targetRegion":"us-east-1","streams":["orders"],"requestedBy":"tester"}`,
		},
		{
			name:        "status reads",
			args:        []string{"--status"},
			wantOut:     []string{`"status":\s*"active"`, `"activeRegion":\s*"us-east-1"`},
			wantPayload: `{"action":"status"}`,
		},
		{
			name:        "dry run",
			args:        []string{"--to", "us-east-2", "--dry-run", "--ignore-shards", "orders:shardId-000000000001,orders:shardId-000000000002"},
			wantOut:     []string{`"status":\s*"dryRun"`, `"dryRun":\s*true`},
			wantPayload: `{"targetRegion":"us-east-2","dryRun":true,"requestedBy":"tester","ignoreShards":{"orders":["shardId-000000000001","shardId-000000000002"]}}`,
		},
		{
			name:        "failover with a quoted reason",
			args:        []string{"--to", "us-east-2", "--reason", `us-east-1 "impaired"\now`, "--expected-epoch", "1", "--park-previous"},
			wantOut:     []string{`"status":\s*"switched"`, `"epoch":\s*2`},
			wantPayload: `{"targetRegion":"us-east-2","reason":"us-east-1 \"impaired\"\\now","requestedBy":"tester","expectedEpoch":1,"parkPrevious":true}`,
		},
		{
			name:     "stale fence exits 3",
			args:     []string{"--to", "us-east-1", "--expected-epoch", "1"},
			wantCode: 3,
			wantOut:  []string{`"status":\s*"staleEpoch"`, `not switched`},
		},
		{
			name:     "unknown stream is a function error",
			args:     []string{"--to", "us-east-1", "--streams", "nosuch"},
			wantCode: 1,
			wantOut:  []string{`failover function error`, `no config item .* nosuch`},
		},
		{name: "missing target", args: []string{"--dry-run"}, wantCode: 1, wantOut: []string{`--to REGION is required`}, badFlag: true},
		{name: "bad Region", args: []string{"--to", "mars-1"}, wantCode: 1, wantOut: []string{`not an AWS Region name`}, badFlag: true},
		{name: "bad epoch", args: []string{"--to", "us-east-2", "--expected-epoch", "x"}, wantCode: 1, wantOut: []string{`--expected-epoch 'x'`}, badFlag: true},
		{name: "unknown flag", args: []string{"--to", "us-east-2", "--forcefully"}, wantCode: 1, wantOut: []string{`unknown argument '--forcefully'`}, badFlag: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(server.calls())
			cmd := exec.CommandContext(ctx, "bash", append([]string{script, "--local", url}, tt.args...)...)
			cmd.Env = append(cmd.Environ(), "USER=tester")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("got exit code %d, want %d\n%s", code, tt.wantCode, out.String())
			}
			for _, pattern := range tt.wantOut {
				if !regexp.MustCompile(pattern).Match(out.Bytes()) {
					t.Errorf("got output\n%s\nwant it to match %q", out.String(), pattern)
				}
			}
			calls := server.calls()[before:]
			if wantCalls := map[bool]int{true: 0, false: 1}[tt.badFlag]; len(calls) != wantCalls {
				t.Errorf("got %d invocations, want %d", len(calls), wantCalls)
			}
			if tt.wantPayload != "" && len(calls) == 1 && calls[0] != tt.wantPayload {
				t.Errorf("got payloads %q, want exactly %q", calls, tt.wantPayload)
			}
		})
	}
	cfg, err := activeregion.NewStore(w.ddb(regionB), configTable).Get(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	last := cfg.History[len(cfg.History)-1]
	if cfg.ActiveRegion != regionB || cfg.Epoch != 2 || last.Reason != `us-east-1 "impaired"\now` || last.RequestedBy != "tester" {
		t.Fatalf("got config %+v, want the script's failover recorded with its reason and requester", cfg)
	}
}

// TestFailoverScriptAsksTheAWSCLIForJSON runs the script against a stand-in
// aws CLI on PATH that, like a profile with output = text, answers in text
// unless --output json is passed: the script must still see the function
// error in the invocation's metadata.
func TestFailoverScriptAsksTheAWSCLIForJSON(t *testing.T) {
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	fakeAWS := `#!/usr/bin/env bash
printf '%s\n' "$@" > "` + argsFile + `"
out=${@: -1}
printf '%s' '{"errorMessage":"bad failover request: no config item","errorType":"errorString"}' > "$out"
json=false
prev=""
for a in "$@"; do
  [[ $prev == --output && $a == json ]] && json=true
  prev=$a
done
if $json; then
  printf '{\n    "StatusCode": 200,\n    "FunctionError": "Unhandled",\n    "ExecutedVersion": "$LATEST"\n}\n'
else
  printf '$LATEST\tUnhandled\t200\n'
fi
`
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(fakeAWS), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "failover.sh"), "--to", "us-east-2", "--streams", "nosuch")
	cmd.Env = append(cmd.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "USER=tester")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("got %v, want exit code 1\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("failover function error (Unhandled)")) {
		t.Errorf("got output\n%s\nwant the function error reported", out)
	}
	args, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(args, []byte("--output\njson\n")) || !bytes.Contains(args, []byte("--region\nus-east-2\n")) {
		t.Errorf("got aws arguments\n%s\nwant --output json and --region us-east-2", args)
	}
}
