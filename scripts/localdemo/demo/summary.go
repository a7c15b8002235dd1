package demo

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Write prints the summary as the demo's closing table.
func (s Summary) Write(w io.Writer) error {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Summary (every record read back from both streams)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "produced in\tproduced\treplicated\tduplicates\tout of order\tlost\tlag p50\tlag p99\tlag max\techoes\tof which outside a switchover\t")
	for _, r := range s.Regions {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t\n",
			r.Region, r.Produced, r.Replicated, r.Duplicates, r.OrderViolations, r.Lost,
			ms(r.LagP50), ms(r.LagP99), ms(r.LagMax), r.Echoes, r.EchoesOutsideWindows+r.MultipleEchoes)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	fmt.Fprintln(w)
	for _, f := range s.Failovers {
		fmt.Fprintf(w, "Failover %s → %s at %s, epoch %d: resume point %s (min over %d shard checkpoints; the CDC task restarts there); records behind it not yet replicated: %d\n",
			f.From, f.To, stamp(f.SwitchedAt), f.Epoch, stampOrNone(f.ResumeFrom), f.Shards, f.BehindResumePoint)
		for _, warning := range f.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warning)
		}
	}
	for _, m := range s.Mappings {
		fmt.Fprintf(w, "Mapping in %s: %d batches, %d records acknowledged, %d skipped by the active-Region rule, %d retries, %d read errors\n",
			m.Region, m.Batches, m.Records, m.Skipped, m.Retries(), m.ReadErrors)
	}
	fmt.Fprintf(w, "Wall time %.1fs\n", s.Wall.Seconds())
	if s.OK() {
		fmt.Fprintln(w, "RESULT: OK: nothing lost, every key in order, no loop, every resume point safe")
	} else {
		fmt.Fprintf(w, "RESULT: FAILED: %d lost, %d out of order, %d looped, %d behind a resume point\n",
			s.Lost(), s.Reordered(), s.Looped(), s.UnsafeResumes())
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }
