// Command bench measures the replicator at the target's limits: the real
// handler behind a local event source mapping (pkg/localdeploy), writing
// across a round trip into a target whose shards throttle as Kinesis's do
// (pkg/localworld), scenario after scenario. It prints, per scenario, the
// delivered rate against the target's limit, the write attempts and
// duplicates it cost, the lag, the Lambda time billed, and what was lost or
// reordered, which must be nothing: the exit status is 1 when anything was.
//
//	go run ./scripts/bench [--scenarios drain,steady50,...] [--quick] [--json]
//
// scripts/bench.sh runs it; --help lists the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	scenarios []string
	records   int
	shards    int
	rtt       time.Duration
	duration  time.Duration
	seed      uint64
	quick     bool
	ordering  string
	json      bool
}

// scenarioNames are the scenarios, in the order they run.
var scenarioNames = []string{"drain", "steady50", "steady80", "steady95", "hotkey", "chaos", "floor"}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var scenarios string
	fs.StringVar(&scenarios, "scenarios", strings.Join(scenarioNames, ","), "comma-separated scenarios to run: "+strings.Join(scenarioNames, ", "))
	fs.IntVar(&o.records, "records", 30000, "records preloaded for the backlog scenarios (drain, chaos)")
	fs.IntVar(&o.shards, "shards", 1, "shards of the stream in both Regions")
	fs.DurationVar(&o.rtt, "rtt", 72*time.Millisecond, "round trip added to every call into the target Region")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long the steady and hot-key loads produce")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the injected faults and killed invocations (chaos)")
	fs.BoolVar(&o.quick, "quick", false, "correctness only: 1,000 records, 2s loads, short stalls")
	fs.StringVar(&o.ordering, "ordering", "key", "the replicator's ORDERING: key or strict")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(scenarios, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(scenarioNames, s) {
			return o, fmt.Errorf("--scenarios: unknown scenario %q, want some of %s", s, strings.Join(scenarioNames, ", "))
		}
		if !slices.Contains(o.scenarios, s) {
			o.scenarios = append(o.scenarios, s)
		}
	}
	if o.quick {
		// Only flags left at their defaults shrink: an explicit one stands.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["records"] {
			o.records = 1000
		}
		if !set["duration"] {
			o.duration = 2 * time.Second
		}
	}
	switch {
	case o.records < 1:
		return o, fmt.Errorf("--records %d: want at least 1", o.records)
	case o.shards < 1 || o.shards > 16:
		return o, fmt.Errorf("--shards %d: want 1 to 16", o.shards)
	case o.rtt < 0:
		return o, fmt.Errorf("--rtt %v: want zero or more", o.rtt)
	case o.duration <= 0:
		return o, fmt.Errorf("--duration %v: want more than zero", o.duration)
	case o.ordering != "key" && o.ordering != "strict":
		return o, fmt.Errorf("--ordering %q: want key or strict", o.ordering)
	}
	return o, nil
}

// run is the command: 0 when every scenario kept every promise, 1 when one
// lost or reordered a record, 2 when the benchmark could not run.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	results, err := benchmark(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if o.json {
		err = writeJSON(stdout, o, results)
	} else {
		err = writeTable(stdout, o, results)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	for _, r := range results {
		if !r.OK() {
			fmt.Fprintf(stderr, "bench: %s broke a promise: %d lost, %d out of order, complete %v\n", r.Scenario, r.Lost, r.OrderViolations, r.Complete)
			return 1
		}
	}
	return 0
}
