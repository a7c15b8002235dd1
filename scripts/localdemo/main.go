// Command localdemo runs kinesis-crr's two-Region story on one machine, on
// the modelled world of pkg/localworld: replication, failover and failback
// with the real handlers, then a check of every record. scripts/demo.sh
// builds and runs it; docs/local.md explains it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/scripts/localdemo/demo"
)

// Exit statuses.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitFailed      = 3
	exitInterrupted = 130
	// exitHelp answers --check-flags --help: usage printed, nothing to run.
	exitHelp = 10
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the command line asks for.
type config struct {
	opts          demo.Options
	keep          bool
	endpointsFile string
	checkOnly     bool
}

// parse reads the flags over DefaultOptions (QuickOptions with --quick) and
// validates them; every error names the flag at fault.
func parse(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("localdemo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "the run of about a minute: 100 records/s for 30s")
	rate := fs.Int("rate", 0, "records per second from the CDC task (default 200, quick 100)")
	duration := fs.Duration("duration", 0, "total production time, split into three phases; the waits of each switch come on top (default 3m, quick 30s; at least 1s)")
	shards := fs.Int("shards", 0, "shards per stream (default 4)")
	keys := fs.Int("keys", 0, "distinct partition keys (default 200)")
	ttl := fs.Duration("cache-ttl", 0, "the replicators' and failover functions' ACTIVE_REGION_CACHE_TTL, 0s to 30s (default 5s, the product's default)")
	gtDelay := fs.Duration("gt-delay", 0, "the global tables' replication delay between the two DynamoDB replicas (default 1s; 0s for none)")
	rtt := fs.Duration("rtt", 0, "latency added to every cross-Region request (default 20ms)")
	mode := fs.String("mode", "", "switchover mode of both switches: rewind (the CDC task resends from resumeFrom) or drain (producers wait for drainComplete) (default rewind)")
	impair := fs.String("impair", "", "REGION[:DURATION]: REGION hangs from just before the switch that leaves it (us-east-1: the failover; us-east-2: the failback) until DURATION (default 10s) after that call returns")
	keep := fs.Bool("keep", false, "after the check, write both Regions' endpoints (Kinesis, DynamoDB, the failover functions' Lambda Invoke URL: the file kdscrr --endpoints reads) to a file, print its path and keep both Regions running until Ctrl-C")
	endpointsPath := fs.String("endpoints", "", "with --keep: the file to write the endpoints to (default a new file in the temporary directory)")
	check := fs.Bool("check-flags", false, "only validate the flags (scripts/demo.sh does this before installing and starting anything)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: scripts/demo.sh [flags]   (the local two-Region demo; docs/local.md explains it)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q: every option is a flag (see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	o := demo.DefaultOptions
	if *quick {
		o = demo.QuickOptions
	}
	if set["rate"] {
		o.Rate = *rate
	}
	if set["duration"] {
		o.Duration = *duration
	}
	if set["shards"] {
		o.Shards = *shards
	}
	if set["keys"] {
		o.Keys = *keys
	}
	if set["cache-ttl"] {
		o.CacheTTL = *ttl
	}
	if set["gt-delay"] {
		o.GlobalTableDelay = *gtDelay
	}
	if set["rtt"] {
		o.RTT = *rtt
	}
	if set["mode"] {
		o.Mode = *mode
	}
	var errs []error
	if set["impair"] {
		imp, err := demo.ParseImpairment(*impair)
		if err != nil {
			errs = append(errs, err)
		} else {
			o.Impair = &imp
		}
	}
	if set["endpoints"] && !*keep {
		errs = append(errs, errors.New("--endpoints: only with --keep"))
	}
	if set["endpoints"] && *endpointsPath == "" {
		errs = append(errs, errors.New("--endpoints: want a file path"))
	}
	if err := o.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, err
	}
	return config{opts: o, keep: *keep, endpointsFile: *endpointsPath, checkOnly: *check}, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		for _, a := range args {
			if a == "-check-flags" || a == "--check-flags" {
				return exitHelp
			}
		}
		return exitOK
	case err != nil:
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(stderr, "localdemo: %s\n", line)
		}
		return exitUsage
	case cfg.checkOnly:
		return exitOK
	}
	opts := cfg.opts

	logFile, err := os.CreateTemp("", "kinesis-crr-demo-*.log")
	if err != nil {
		fmt.Fprintln(stderr, "localdemo:", err)
		return exitError
	}
	defer logFile.Close()
	opts.Out = stdout
	opts.Log = logFile
	fmt.Fprintf(stdout, "Handler logs go to %s\n", logFile.Name())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	printed := false
	if cfg.keep {
		opts.Hold = func(s demo.Summary, e endpoints.File) error {
			if err := s.Write(stdout); err != nil {
				return err
			}
			printed = true
			return hold(ctx, stdout, e, cfg.endpointsFile)
		}
	}
	summary, err := demo.Run(ctx, opts)
	if err != nil {
		if ctx.Err() != nil && !printed {
			fmt.Fprintln(stderr, "localdemo: interrupted; both Regions stopped")
			return exitInterrupted
		}
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "localdemo:", err)
			return exitError
		}
	}
	if !printed {
		if err := summary.Write(stdout); err != nil {
			fmt.Fprintln(stderr, "localdemo:", err)
			return exitError
		}
	}
	if !summary.OK() {
		return exitFailed
	}
	return exitOK
}

// hold writes the endpoints file (pkg/endpoints, what `kdscrr --endpoints`
// reads) and keeps both Regions running until ctx ends (Ctrl-C).
func hold(ctx context.Context, stdout io.Writer, e endpoints.File, path string) error {
	if path == "" {
		f, err := os.CreateTemp("", "kinesis-crr-endpoints-*.json")
		if err != nil {
			return fmt.Errorf("endpoints file: %w", err)
		}
		path = f.Name()
		if err := f.Close(); err != nil {
			return fmt.Errorf("endpoints file: %w", err)
		}
	}
	if err := endpoints.Write(path, e); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nEndpoints of both Regions written to %s\n", path)
	fmt.Fprintf(stdout, "Both Regions keep running (emulators, mappings, replicators) until Ctrl-C; point an operator CLI at them with --endpoints %s\n", path)
	fmt.Fprintf(stdout, "For example (go build ./cmd/kdscrr builds it): kdscrr status --endpoints %[1]s; kdscrr verify --endpoints %[1]s; kdscrr failover --to us-east-2 --dry-run --endpoints %[1]s\n", path)
	start := time.Now()
	<-ctx.Done()
	fmt.Fprintf(stdout, "Stopping both Regions after %v kept\n", time.Since(start).Round(time.Second))
	return nil
}
