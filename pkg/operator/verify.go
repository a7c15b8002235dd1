package operator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/verify"
)

// VerifyOutput is verify's JSON form.
type VerifyOutput struct {
	Streams  []verify.Report `json:"streams"`
	Warnings []string        `json:"warnings"`
}

// DefaultVerifyWindow is how far back verify looks without --since.
const DefaultVerifyWindow = time.Hour

func runVerify(ctx context.Context, c *cli, args []string) int {
	fs, o := c.flags("[--stream S] [--since T] [--until T] [flags]")
	stream := fs.String("stream", "", "the stream (default: every stream of the config table)")
	since := fs.String("since", "", "check records that arrived from T: RFC 3339 (2026-12-01T10:00:00Z) or a duration ago (90m) (default 1h)")
	until := fs.String("until", "", "check records that arrived until T, same forms (default: now)")
	maxRecords := fs.Int("max-records", verify.DefaultMaxRecords, "at most this many records read of each Region's stream")
	timeout := fs.Duration("timeout", 0, "give up after this long (default: no bound but Ctrl-C)")
	if st := c.parse(fs, args); st != nil {
		return *st
	}
	s, err := c.setup(o)
	if err != nil {
		return c.fail(err)
	}
	now := c.env.Now()
	from, err := parseWhen("since", *since, now, now.Add(-DefaultVerifyWindow))
	if err != nil {
		return c.fail(err)
	}
	to, err := parseWhen("until", *until, now, time.Time{})
	if err != nil {
		return c.fail(err)
	}
	switch {
	case from.After(now):
		return c.fail(fmt.Errorf("--since %s is in the future", stamp(from)))
	case !to.IsZero() && to.Before(from):
		return c.fail(fmt.Errorf("--until %s is before --since %s", stamp(to), stamp(from)))
	case *maxRecords < 1:
		return c.fail(fmt.Errorf("--max-records %d: want at least 1", *maxRecords))
	case *timeout < 0:
		return c.fail(fmt.Errorf("--timeout %v: want a positive duration", *timeout))
	}
	ctx, cancel := boundedBy(ctx, *timeout)
	defer cancel()
	// The checkpoints are read before the streams: whatever they
	// acknowledge was written to the other Region before they were saved.
	cfgs, warnings, err := c.configs(ctx, s, oneOrAll(*stream))
	if err != nil {
		return c.fail(err)
	}
	out := VerifyOutput{Streams: []verify.Report{}, Warnings: append([]string{}, warnings...)}
	progress := c.progress()
	for _, name := range slices.Sorted(maps.Keys(cfgs)) {
		var regions [2]verify.Region
		for i, r := range s.deployment.regions {
			cps, w, err := c.checkpoints(ctx, s, name, r)
			if err != nil {
				return c.fail(fmt.Errorf("verify %s: %w", name, err))
			}
			out.Warnings = append(out.Warnings, w...)
			kin, err := s.connector.Region(r).Kinesis(ctx)
			if err != nil {
				return c.fail(err)
			}
			regions[i] = verify.Region{Name: r, Kinesis: kin, Checkpoints: cps}
		}
		rep, err := verify.Stream(ctx, name, cfgs[name], regions, verify.Options{
			Since: from, Until: to, MaxRecords: *maxRecords,
			Progress: func(region string, n int) { progress(name, region, n) },
		})
		if err != nil {
			return c.fail(err)
		}
		out.Streams = append(out.Streams, rep)
	}
	st := ExitOK
	for _, r := range out.Streams {
		if !r.OK() {
			st = ExitNotAsked
		}
	}
	if w := c.output(s, out, func(w *tableWriter) {
		w.verifyReport(out.Streams)
		w.warnings(out.Warnings)
	}); w != ExitOK {
		return w
	}
	return st
}

// progress returns a reporter that tells stderr how far reading has got,
// at most every few seconds, so a long window shows it is moving.
func (c *cli) progress() func(stream, region string, n int) {
	var mu sync.Mutex
	last := c.env.Now()
	return func(stream, region string, n int) {
		mu.Lock()
		defer mu.Unlock()
		if now := c.env.Now(); now.Sub(last) >= 3*time.Second {
			last = now
			fmt.Fprintf(c.env.Stderr, "%s: %s: read %d records of %s so far\n", c.name, stream, n, region)
		}
	}
}

// parseWhen reads an RFC 3339 time or a duration ago; empty is def.
func parseWhen(flagName, s string, now, def time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time (2026-12-01T10:00:00Z) or a duration ago (90m)", flagName, s)
}
