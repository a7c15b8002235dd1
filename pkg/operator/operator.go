// Package operator is kdscrr, the operator's command line: status,
// failover, lag and verify against a deployment in AWS (the standard
// credential chain) or a local one (--endpoints FILE). cmd/kdscrr only
// calls Main. Every flag is checked, and a Region outside the deployment is
// refused, before anything is called.
package operator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

// Exit statuses (the README documents them).
const (
	// ExitOK: done; every stream is where it was asked to be.
	ExitOK = 0
	// ExitError: bad input (flags, Regions) or a failed call; for a
	// failover, nothing was asked of the function or it refused the call.
	ExitError = 1
	// ExitNotAsked: the call ran but a stream is not where it was asked to
	// be (failover: staleEpoch, conflict, failed), or verify found records
	// missing or out of order.
	ExitNotAsked = 3
)

// Defaults of the deployment (infra/stacks/names.go, the CDK app).
const (
	DefaultFailoverFunction   = "kds-crr-failover"
	DefaultReplicatorFunction = "kds-crr-replicator"
	// DefaultInvokeTimeout is above the failover function's 5-minute
	// timeout, so a call that runs long is answered, never cut.
	DefaultInvokeTimeout = 330 * time.Second
	// DefaultStatusTimeout bounds a status call: it writes nothing, and
	// the function bounds its own cross-Region reads to 10 s, so a Region
	// that takes longer is one that hangs.
	DefaultStatusTimeout = time.Minute
)

// Env is what a run of kdscrr reads and writes besides its arguments.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Dir is where cdk.json is looked for (the working directory).
	Dir string
	Now func() time.Time
	// Connect gives the clients: AWS, or Local for --endpoints. Tests
	// replace it to see what would be called.
	Connect func(file endpoints.File, profile string) Connector
	// ReplicaTimeout bounds each read of one Region's table replica and
	// each listing of a stream's shards; 0 is 15 s. Tests shorten it.
	ReplicaTimeout time.Duration
}

// DefaultConnect is Local with an endpoints file, AWS without.
func DefaultConnect(file endpoints.File, profile string) Connector {
	if file != nil {
		return Local{File: file}
	}
	return &AWS{Profile: profile}
}

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, c *cli, args []string) int
}

var commands = []command{
	{"status", "[--region R] [--streams a,b]", "each stream's active Region, epoch, resume point and checkpoints, as the failover function reports them", runStatus},
	{"failover", "--to R [--dry-run] [--expected-epoch N] [--mode rewind|drain] [--streams a,b] [...]", "make R the active Region (failback is the same command); invokes the failover function in R", runFailover},
	{"lag", "[--stream S]", "per stream and shard of the active Region: RPO if one failed over now, replication lag, iterator age", runLag},
	{"verify", "[--stream S] [--since T] [--until T]", "check both ways that every record a Region was responsible for is in the other Region's stream, in per-key order", runVerify},
	{"translate", "--stream S --from A --to B (--positions … | --kcl-lease-table T) [--write-lease-table T2]", "where a consumer moved from A resumes in B, per shard of B, from the replicator's sync points; optionally as a KCL lease table", runTranslate},
}

// cli is one run's state.
type cli struct {
	env  Env
	name string // "kdscrr <command>", for messages
}

// Main runs kdscrr with args (without the program name) and returns the
// exit status.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Connect == nil {
		env.Connect = DefaultConnect
	}
	if env.ReplicaTimeout <= 0 {
		env.ReplicaTimeout = defaultReplicaTimeout
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			return Main(ctx, []string{args[1], "--help"}, env)
		}
		usage(env.Stderr)
		if len(args) == 0 {
			return ExitError
		}
		return ExitOK
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == args[0] })
	if i < 0 {
		fmt.Fprintf(env.Stderr, "kdscrr: unknown command %q; the commands are %s (kdscrr --help)\n", args[0], commandNames())
		return ExitError
	}
	c := &cli{env: env, name: "kdscrr " + commands[i].name}
	return commands[i].run(ctx, c, args[1:])
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "kdscrr: operate kinesis-crr, cross-Region replication for Kinesis Data Streams")
	fmt.Fprintln(w, "\nUsage: kdscrr <command> [flags]    (kdscrr <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n            %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, `
AWS credentials and settings come from the standard chain (environment,
~/.aws/config and credentials, SSO; --profile picks a profile). The
deployment's Regions come from --regions, %s, the --endpoints file or
./cdk.json. Exit status: %d done, %d bad input or a failed call, %d a stream
not where asked (staleEpoch, conflict, failed) or verify found a record
missing or out of order.
`, RegionsEnv, ExitOK, ExitError, ExitNotAsked)
}

// common are the flags every command takes.
type common struct {
	output          string
	endpointsFile   string
	regions         string
	profile         string
	function        string
	configTable     string
	checkpointTable string
}

func (c *cli) flags(args string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	o := &common{}
	fs.StringVar(&o.output, "output", "table", "table (for a terminal) or json (for scripts)")
	fs.StringVar(&o.endpointsFile, "endpoints", "", "a local deployment's endpoints file (scripts/demo.sh --keep writes one) instead of AWS")
	fs.StringVar(&o.regions, "regions", "", "the deployment's two Regions, such as us-east-1,us-east-2 (default "+RegionsEnv+", the endpoints file, or ./cdk.json)")
	fs.StringVar(&o.profile, "profile", "", "the AWS profile to use (default the standard chain: AWS_PROFILE, environment, SSO)")
	fs.StringVar(&o.function, "function", DefaultFailoverFunction, "the failover function's name")
	fs.StringVar(&o.configTable, "config-table", replicator.DefaultActiveRegionTable, "the active-Region config table")
	fs.StringVar(&o.checkpointTable, "checkpoint-table", replicator.DefaultCheckpointTable, "the checkpoint table")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s %s\n\nFlags:\n", c.name, args)
		fs.PrintDefaults()
	}
	return fs, o
}

// parse parses args; a non-nil status means stop with it (help or a bad
// flag, already reported).
func (c *cli) parse(fs *flag.FlagSet, args []string) *int {
	// The flag package would print the whole usage after an error; one
	// line naming the flag says more.
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(c.env.Stdout)
		fs.Usage()
		return new(ExitOK)
	case err != nil:
		return new(c.fail(fmt.Errorf("%w (%s --help lists the flags)", err, c.name)))
	case fs.NArg() > 0:
		return new(c.fail(fmt.Errorf("unexpected argument %q: every option is a flag (%s --help)", fs.Arg(0), c.name)))
	}
	return nil
}

// fail reports err and returns ExitError.
func (c *cli) fail(err error) int {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(c.env.Stderr, "%s: %s\n", c.name, line)
	}
	return ExitError
}

// setup is what every command resolves from the common flags before any
// call: the output form, the endpoints, the deployment and the connector.
type setup struct {
	json       bool
	deployment deployment
	connector  Connector
	common     *common
}

func (c *cli) setup(o *common) (setup, error) {
	s := setup{common: o}
	switch o.output {
	case "table":
	case "json":
		s.json = true
	default:
		return s, fmt.Errorf("--output %q: want table or json", o.output)
	}
	var file endpoints.File
	if o.endpointsFile != "" {
		f, err := endpoints.Load(o.endpointsFile)
		if err != nil {
			return s, fmt.Errorf("--endpoints: %w", err)
		}
		file = f
	}
	for _, f := range []struct{ name, value string }{{"function", o.function}, {"config-table", o.configTable}, {"checkpoint-table", o.checkpointTable}} {
		if strings.TrimSpace(f.value) == "" {
			return s, fmt.Errorf("--%s: want a name", f.name)
		}
	}
	d, err := c.deploymentOf(o, file)
	if err != nil {
		return s, err
	}
	if file != nil {
		for _, r := range d.regions {
			if !file.Has(r) {
				return s, fmt.Errorf("--endpoints %s has no Region %s of the deployment (it has %s)", o.endpointsFile, r, strings.Join(file.Regions(), ", "))
			}
		}
	}
	s.deployment = d
	s.connector = c.env.Connect(file, o.profile)
	return s, nil
}

func (c *cli) deploymentOf(o *common, file endpoints.File) (deployment, error) {
	switch {
	case o.regions != "":
		return parseRegions(o.regions, "--regions")
	case c.env.Getenv(RegionsEnv) != "":
		return parseRegions(c.env.Getenv(RegionsEnv), RegionsEnv)
	case file != nil:
		return parseRegions(strings.Join(file.Regions(), ","), "--endpoints "+o.endpointsFile)
	}
	d, found, err := cdkRegions(filepath.Join(c.env.Dir, "cdk.json"))
	switch {
	case err != nil:
		return d, err
	case !found:
		return d, errNoDeployment
	}
	return d, nil
}

// splitList reads a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
