package operator

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kinesis-crr/kinesis-crr/pkg/lag"
)

// LagOutput is lag's JSON form.
type LagOutput struct {
	Streams  []lag.Stream `json:"streams"`
	Warnings []string     `json:"warnings"`
}

func runLag(ctx context.Context, c *cli, args []string) int {
	fs, o := c.flags("[--stream S] [flags]")
	stream := fs.String("stream", "", "the stream (default: every stream of the config table)")
	maxScan := fs.Int("max-scan", lag.DefaultMaxScan, "at most this many records read behind each shard's checkpoint")
	replicator := fs.String("replicator-function", DefaultReplicatorFunction, "the replicator function, whose mapping's IteratorAge CloudWatch has")
	timeout := fs.Duration("timeout", 0, "give up after this long (default: no bound but Ctrl-C)")
	if st := c.parse(fs, args); st != nil {
		return *st
	}
	s, err := c.setup(o)
	if err != nil {
		return c.fail(err)
	}
	if *maxScan < 1 {
		return c.fail(fmt.Errorf("--max-scan %d: want at least 1", *maxScan))
	}
	if *timeout < 0 {
		return c.fail(fmt.Errorf("--timeout %v: want a positive duration", *timeout))
	}
	ctx, cancel := boundedBy(ctx, *timeout)
	defer cancel()
	cfgs, warnings, err := c.configs(ctx, s, oneOrAll(*stream))
	if err != nil {
		return c.fail(err)
	}
	out := LagOutput{Streams: []lag.Stream{}, Warnings: append([]string{}, warnings...)}
	for _, name := range slices.Sorted(maps.Keys(cfgs)) {
		cfg := cfgs[name]
		source := cfg.ActiveRegion
		cps, w, err := c.checkpoints(ctx, s, name, source)
		if err != nil {
			return c.fail(fmt.Errorf("lag of %s: %w", name, err))
		}
		kin, err := s.connector.Region(source).Kinesis(ctx)
		if err != nil {
			return c.fail(err)
		}
		st, err := lag.Measure(ctx, name, cfg, source, kin, cps, c.env.Now(), *maxScan)
		if err != nil {
			return c.fail(err)
		}
		st.Warnings = append(st.Warnings, w...)
		st.CloudWatch, w = c.cloudWatch(ctx, s, name, source, *replicator)
		st.Warnings = append(st.Warnings, w...)
		out.Streams = append(out.Streams, st)
	}
	return c.output(s, out, func(w *tableWriter) {
		w.lagReport(out.Streams)
		w.warnings(out.Warnings)
	})
}

// cloudWatch reads the source Region's metrics where there are some; a
// CloudWatch that does not answer is a warning, the other figures stand.
func (c *cli) cloudWatch(ctx context.Context, s setup, stream, source, function string) (*lag.CloudWatch, []string) {
	api, err := s.connector.Region(source).CloudWatch(ctx)
	if err != nil {
		return nil, []string{fmt.Sprintf("CloudWatch in %s: %v", source, err)}
	}
	if api == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.env.ReplicaTimeout)
	defer cancel()
	cw, err := lag.FromCloudWatch(ctx, api, stream, function, c.env.Now())
	if err != nil {
		return nil, []string{fmt.Sprintf("CloudWatch in %s did not answer (the figures above come from the checkpoints and the stream): %v", source, err)}
	}
	return cw, nil
}
