package operator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
)

func runFailover(ctx context.Context, c *cli, args []string) int {
	fs, o := c.flags("--to R [flags]")
	to := fs.String("to", "", "the Region to make active; the failover function is invoked there (required)")
	dryRun := fs.Bool("dry-run", false, "report what would happen; change nothing")
	expected := fs.String("expected-epoch", "", "switch only streams still at this epoch (the one status shows): a fence against a concurrent or repeated failover")
	reason := fs.String("reason", "", "why, recorded in each stream's history (the audit trail)")
	requestedBy := fs.String("requested-by", c.env.Getenv("USER"), "who, recorded in the history")
	streams := fs.String("streams", "", "comma-separated streams (default: every stream of the config table)")
	mode := fs.String("mode", "", "rewind (default: producers resend from resumeFrom) or drain (the old Region replicates its backlog; producers that need per-key order wait for drainComplete)")
	park := fs.Bool("park-previous", false, "also set the previous Region's replicator to reserved concurrency 0")
	ignore := fs.String("ignore-shards", "", "STREAM:SHARD,… shards left out of the resume point (idle or closed shards whose old checkpoint holds it back)")
	force := fs.Bool("force", false, "switch even though the previous switch has not settled (the switch then starts when it has)")
	timeout := fs.Duration("timeout", DefaultInvokeTimeout, "how long to wait for the answer: above the function's timeout (5 minutes)")
	if st := c.parse(fs, args); st != nil {
		return *st
	}
	s, err := c.setup(o)
	if err != nil {
		return c.fail(err)
	}
	req := failover.Request{
		Action: failover.ActionFailover, TargetRegion: *to, Streams: splitList(*streams), DryRun: *dryRun,
		Reason: *reason, RequestedBy: *requestedBy, ParkPrevious: *park, Mode: activeregion.Mode(*mode), Force: *force,
	}
	var errs []error
	switch {
	case *to == "":
		errs = append(errs, fmt.Errorf("--to is required: the Region to make active, one of %s", strings.Join(s.deployment.regions, ", ")))
	default:
		if err := s.deployment.allows("to", *to); err != nil {
			errs = append(errs, err)
		}
	}
	if *expected != "" {
		n, err := strconv.ParseInt(*expected, 10, 64)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("--expected-epoch %q: want an epoch, a whole number from 1 (status shows each stream's)", *expected))
		} else {
			req.ExpectedEpoch = &n
		}
	}
	if *mode != "" {
		if _, err := activeregion.ParseMode(*mode); err != nil {
			errs = append(errs, fmt.Errorf("--mode: %w", err))
		}
	}
	if *ignore != "" {
		m, err := parseIgnoreShards(*ignore)
		if err != nil {
			errs = append(errs, err)
		}
		req.IgnoreShards = m
	}
	if *timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %v: want a positive duration", *timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return c.fail(err)
	}
	// The function checks the same again; checking here first means a
	// request it would refuse is never sent.
	if err := validate(req, s.deployment); err != nil {
		return c.fail(err)
	}

	start := c.env.Now()
	rep, err := c.invoke(ctx, s, *to, req, *timeout)
	if err != nil {
		c.fail(err)
		var fe *FunctionError
		if errors.As(err, &fe) && strings.Contains(fe.Message, "has not settled") {
			fmt.Fprintf(c.env.Stderr, "%s: run it again after the settledAt that status shows, or with --force\n", c.name)
		}
		return ExitError
	}
	took := c.env.Now().Sub(start)
	if st := c.output(s, rep, func(w *tableWriter) { w.failoverReport(*to, rep, took) }); st != ExitOK {
		return st
	}
	for _, st := range rep.Streams {
		switch st.Status {
		case failover.StatusStaleEpoch, failover.StatusConflict, failover.StatusFailed:
			return ExitNotAsked
		}
	}
	return ExitOK
}

// parseIgnoreShards reads STREAM:SHARD,… into the payload's map.
func parseIgnoreShards(s string) (map[string][]string, error) {
	m := map[string][]string{}
	for _, item := range splitList(s) {
		stream, shard, ok := strings.Cut(item, ":")
		stream, shard = strings.TrimSpace(stream), strings.TrimSpace(shard)
		if !ok || stream == "" || shard == "" {
			return nil, fmt.Errorf("--ignore-shards %q: want STREAM:SHARD, such as orders:shardId-000000000001", item)
		}
		m[stream] = append(m[stream], shard)
	}
	return m, nil
}

// validate refuses what the failover function would, before the call.
func validate(req failover.Request, d deployment) error {
	payload, err := jsonMarshal(req)
	if err != nil {
		return err
	}
	if _, err := failover.DecodeRequest(payload, failover.Settings{Regions: d.regions}); err != nil {
		return err
	}
	return nil
}
