package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
)

// StatusOutput is status's JSON form without --region: each Region's
// report as its failover function gave it, and the Regions that did not
// answer with why. With --region it is that Region's report alone.
type StatusOutput struct {
	Reports     map[string]failover.Report `json:"reports"`
	Unreachable map[string]string          `json:"unreachable"`
}

func runStatus(ctx context.Context, c *cli, args []string) int {
	fs, o := c.flags("[--region R] [--streams a,b] [flags]")
	region := fs.String("region", "", "the Region whose failover function answers (default: each Region of the deployment)")
	streams := fs.String("streams", "", "comma-separated streams (default: every stream of the config table)")
	timeout := fs.Duration("timeout", DefaultStatusTimeout, "how long to wait for each Region's answer (a Region that hangs costs this long)")
	if st := c.parse(fs, args); st != nil {
		return *st
	}
	s, err := c.setup(o)
	if err != nil {
		return c.fail(err)
	}
	regions := s.deployment.regions
	if *region != "" {
		if err := s.deployment.allows("region", *region); err != nil {
			return c.fail(err)
		}
		regions = []string{*region}
	}
	if *timeout <= 0 {
		return c.fail(fmt.Errorf("--timeout %v: want a positive duration", *timeout))
	}
	req := failover.Request{Action: failover.ActionStatus, Streams: splitList(*streams)}

	out := StatusOutput{Reports: map[string]failover.Report{}, Unreachable: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range regions {
		wg.Go(func() {
			rep, err := c.invoke(ctx, s, r, req, *timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.Unreachable[r] = err.Error()
				return
			}
			out.Reports[r] = rep
		})
	}
	wg.Wait()

	if *region != "" {
		if msg, failed := out.Unreachable[*region]; failed {
			return c.fail(fmt.Errorf("status in %s: %s", *region, msg))
		}
		return c.output(s, out.Reports[*region], func(w *tableWriter) { w.statusReport(*region, out.Reports[*region]) })
	}
	if st := c.output(s, out, func(w *tableWriter) {
		for _, r := range regions {
			if rep, ok := out.Reports[r]; ok {
				w.statusReport(r, rep)
			}
		}
	}); st != ExitOK {
		return st
	}
	for _, r := range regions {
		if msg, failed := out.Unreachable[r]; failed {
			fmt.Fprintf(c.env.Stderr, "%s: %s did not answer: %s\n", c.name, r, msg)
		}
	}
	if len(out.Reports) == 0 {
		return c.fail(fmt.Errorf("no Region answered (%s)", strings.Join(regions, ", ")))
	}
	return ExitOK
}

// output prints v as JSON with --output json, else the table fill
// renders.
func (c *cli) output(s setup, v any, fill func(*tableWriter)) int {
	if s.json {
		return c.writeJSON(v)
	}
	return c.writeTable(fill)
}

// writeJSON prints v indented, as scripts read it.
func (c *cli) writeJSON(v any) int {
	enc := json.NewEncoder(c.env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail(fmt.Errorf("write the output: %w", err))
	}
	return ExitOK
}

// writeTable renders with fill and prints it.
func (c *cli) writeTable(fill func(*tableWriter)) int {
	w := newTableWriter(c.env.Stdout)
	fill(w)
	if err := w.flush(); err != nil {
		return c.fail(fmt.Errorf("write the output: %w", err))
	}
	return ExitOK
}
