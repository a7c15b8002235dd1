package demo

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/cdctask"
)

// progress prints one line per interval: per Region the changes the CDC
// task wrote there, and what its replicator replicated, skipped (not
// active) and superseded (a rewound epoch's backlog) by its own metrics;
// and the replication lag the replicators reported in that interval.
type progress struct {
	out     io.Writer
	task    *cdctask.Task
	regions [2]*region
	started time.Time

	mu     sync.Mutex
	active string
}

func newProgress(out io.Writer, task *cdctask.Task, regions [2]*region, started time.Time) *progress {
	return &progress{out: out, task: task, regions: regions, started: started}
}

func (p *progress) setActive(region string) {
	p.mu.Lock()
	p.active = region
	p.mu.Unlock()
}

func (p *progress) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			p.line()
		case <-ctx.Done():
			return
		}
	}
}

func (p *progress) line() {
	p.mu.Lock()
	active := p.active
	p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "[%5.1fs] active %s |", time.Since(p.started).Seconds(), active)
	var lags []float64
	for _, r := range p.regions {
		c, l := r.metrics.take()
		lags = append(lags, l...)
		st := r.mapping.Stats()
		fmt.Fprintf(&b, " %s: produced %d, replicated %d, skipped %d, superseded %d, retries %d |",
			r.name, p.task.Count(r.name), c.Replicated, c.Skipped, c.Superseded, st.Retries())
	}
	slices.Sort(lags)
	if len(lags) == 0 {
		b.WriteString(" lag p50 -, p99 -")
	} else {
		fmt.Fprintf(&b, " lag p50 %.2fs, p99 %.2fs", pick(lags, 0.5), pick(lags, 0.99))
	}
	fmt.Fprintln(p.out, b.String())
}

func pick(sorted []float64, p float64) float64 {
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
