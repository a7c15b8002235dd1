package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/localdeploy"
	"github.com/kinesis-crr/kinesis-crr/scripts/localdemo/demo"
)

// TestCtrlCStopsWhatKeepKeptRunning runs the demo with --keep as a user
// does, checks that the endpoints file it writes serves both Regions (the
// failover functions answer over the Lambda Invoke API), then interrupts it
// and checks that it exits 0 leaving nothing behind: no port of the file
// accepts connections and no emulator process is left.
// consumerLine is the summary's line of the consumer's move; the promise
// covers every re-read when no shard is left without a bound (" on N of M
// shards; no bound on …").
var consumerLine = regexp.MustCompile(`Consumer: moved us-east-1 → us-east-2 at the failover, (\d+) missed, (\d+) re-read \(promised at most (\d+)(\)| on )`)

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCtrlCStopsWhatKeepKeptRunning(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the demo's child processes in /proc")
	}
	bin := filepath.Join(t.TempDir(), "localdemo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the demo: %v\n%s", err, out)
	}
	cases := []struct {
		name string
		cmd  func(args []string) *exec.Cmd
		// group sends the interrupt to the whole process group, as a
		// terminal's Ctrl-C does (the emulators get it too); otherwise only
		// the demo gets it (kill -INT), and must stop the emulators itself.
		group bool
	}{
		{"scripts/demo.sh, Ctrl-C to its process group", func(args []string) *exec.Cmd {
			return exec.Command("bash", append([]string{filepath.Join("..", "demo.sh")}, args...)...)
		}, true},
		{"the demo, Ctrl-C to its process group", func(args []string) *exec.Cmd { return exec.Command(bin, args...) }, true},
		{"the demo, SIGINT to the demo alone", func(args []string) *exec.Cmd { return exec.Command(bin, args...) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			file := filepath.Join(t.TempDir(), "endpoints.json")
			cmd := tc.cmd([]string{"--quick", "--duration", "3s", "--cache-ttl", "1s", "--keep", "--endpoints", file})
			// Its own process group, so that the interrupt reaches it and its
			// children and not this test.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			// Files, not pipes: the test reads them while the demo writes, and
			// the demo's exit does not depend on anyone reading.
			dir := t.TempDir()
			stdout, err := os.Create(filepath.Join(dir, "stdout"))
			if err != nil {
				t.Fatal(err)
			}
			defer stdout.Close()
			stderr, err := os.Create(filepath.Join(dir, "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer stderr.Close()
			cmd.Stdout, cmd.Stderr = stdout, stderr
			output := func() string {
				out, _ := os.ReadFile(stdout.Name())
				errs, _ := os.ReadFile(stderr.Name())
				return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", out, errs)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				// On a failed check, nothing of the demo outlives the test.
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}()
			for written := "Endpoints of both Regions written to " + file + "\n"; !strings.Contains(output(), written); {
				select {
				case err := <-exited:
					t.Fatalf("the demo exited (%v) before writing the endpoints file\n%s", err, output())
				case <-ctx.Done():
					t.Fatalf("no endpoints file within the test's bound\n%s", output())
				case <-time.After(100 * time.Millisecond):
				}
			}

			// The summary printed before it: the consumer moved, missed
			// nothing and re-read no more than the translation promised.
			m := consumerLine.FindStringSubmatch(output())
			if m == nil {
				t.Fatalf("got no consumer line in the summary\n%s", output())
			}
			if reread, promised, bounded := atoi(t, m[2]), atoi(t, m[3]), m[4] == ")"; m[1] != "0" || (bounded && reread > promised) {
				t.Errorf("got the consumer line %q, want 0 missed and at most the promised re-read", m[0])
			}

			f, err := endpoints.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Regions(); len(got) != 2 || got[0] != demo.Regions[0] || got[1] != demo.Regions[1] {
				t.Fatalf("got Regions %q in the endpoints file, want %q", got, demo.Regions)
			}
			for _, r := range f.Regions() {
				status(ctx, t, r, f[r].Lambda)
			}
			emulators := descendants(t, cmd.Process.Pid)
			if len(emulators) == 0 {
				t.Fatalf("found no child process of the demo (pid %d), want its emulators", cmd.Process.Pid)
			}

			target := cmd.Process.Pid
			if tc.group {
				target = -target
			}
			if err := syscall.Kill(target, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("got %v after the interrupt, want exit 0\n%s", err, output())
				}
			case <-time.After(time.Minute):
				t.Fatalf("still running a minute after the interrupt\n%s", output())
			}
			if !strings.Contains(output(), "Stopping both Regions after") {
				t.Errorf("got no stopping line\n%s", output())
			}
			for _, u := range urls(f) {
				if accepts(u) {
					t.Errorf("%s still accepts connections after the demo exited", u)
				}
			}
			for _, p := range emulators {
				if p.alive() {
					t.Errorf("process %d (%s) of the demo still runs after it exited", p.pid, p.comm)
				}
			}
		})
	}
}

// status calls the failover function of region over the Invoke API at
// endpoint, as `kdscrr --endpoints` does, and wants the demo's stream
// active where the story ends it: the first Region.
func status(ctx context.Context, t *testing.T, region, endpoint string) {
	t.Helper()
	c := lambda.NewFromConfig(localaws.Config(region), func(o *lambda.Options) { o.BaseEndpoint = aws.String(endpoint) })
	out, err := c.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(localdeploy.FailoverFunction),
		Payload:      []byte(`{"action":"status","streams":["` + demo.QuickOptions.Stream + `"]}`),
	})
	if err != nil {
		t.Fatalf("status in %s at %s: %v", region, endpoint, err)
	}
	var rep failover.Report
	if err := json.Unmarshal(out.Payload, &rep); err != nil || out.FunctionError != nil {
		t.Fatalf("status in %s: got %s (function error %q), want a report", region, out.Payload, aws.ToString(out.FunctionError))
	}
	if len(rep.Streams) != 1 || rep.Streams[0].Status != failover.StatusActive || rep.Streams[0].ActiveRegion != demo.Regions[0] {
		t.Errorf("status in %s: got %+v, want %s %s in %s", region, rep.Streams, demo.QuickOptions.Stream, failover.StatusActive, demo.Regions[0])
	}
}

// urls are every URL of the file: each Region's own, its Lambda and those
// for callers in the other Region.
func urls(f endpoints.File) []string {
	var out []string
	for _, r := range f {
		out = append(out, r.Kinesis, r.DynamoDB, r.Lambda)
		for _, s := range r.From {
			out = append(out, s.Kinesis, s.DynamoDB)
		}
	}
	return out
}

func accepts(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// proc is a process as /proc names it; its start time tells it apart from a
// later process given the same pid.
type proc struct {
	pid, ppid int
	comm      string
	start     string
}

func readProc(pid int) (proc, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, err
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return proc{}, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	fields := strings.Fields(s[end+1:])
	if len(fields) < 20 {
		return proc{}, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return proc{}, errors.New("exited")
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return proc{}, fmt.Errorf("/proc/%d/stat: ppid %q", pid, fields[1])
	}
	return proc{pid: pid, ppid: ppid, comm: s[open+1 : end], start: fields[19]}, nil
}

// alive reports whether the process still runs (not only a pid reused).
func (p proc) alive() bool {
	now, err := readProc(p.pid)
	return err == nil && now.start == p.start
}

// descendants lists the processes below root.
func descendants(t *testing.T, root int) []proc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := readProc(pid); err == nil {
			children[p.ppid] = append(children[p.ppid], p)
		}
	}
	var out []proc
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}
