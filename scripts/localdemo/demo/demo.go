// Package demo is the local two-Region story of kinesis-crr: on emulators it
// replicates a CDC stream from us-east-1 to us-east-2 with the replicator's
// own handler behind a local event source mapping, fails over to us-east-2
// and back with the failover handler, and then checks every record: none
// lost, none out of order per key, no loop.
package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/localmapping"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

// Regions of the demo: the first starts active.
var Regions = [2]string{"us-east-1", "us-east-2"}

// Options shape a run. Zero fields take the defaults of DefaultOptions.
type Options struct {
	Stream string
	Shards int
	Keys   int
	// Rate is records per second from the producer.
	Rate int
	// Duration is the total production time, split into three equal
	// phases: us-east-1 active, us-east-2 active, us-east-1 active again.
	Duration time.Duration
	// CacheTTL is the replicators' ACTIVE_REGION_CACHE_TTL; the demo runs
	// with the product's default. After a switch the newly active Region
	// holds its first writes for the TTL plus the global table's
	// replication delay, so the old Region has seen the switch before any
	// replica reaches it: the only echoes are records in flight at a
	// switch, each at most once.
	CacheTTL time.Duration
	// ProgressEvery is the interval of the live progress line.
	ProgressEvery time.Duration
	// DrainTimeout bounds the wait for both mappings to catch up at the end.
	DrainTimeout time.Duration
	// Out receives the story and the progress lines; Log the handlers' logs.
	Out io.Writer
	Log io.Writer
}

// DefaultOptions is the full-length run.
var DefaultOptions = Options{
	Stream:        "orders",
	Shards:        4,
	Keys:          200,
	Rate:          200,
	Duration:      3 * time.Minute,
	CacheTTL:      5 * time.Second,
	ProgressEvery: time.Second,
	DrainTimeout:  time.Minute,
}

// QuickOptions is the run under two minutes (--quick).
var QuickOptions = Options{
	Stream:        "orders",
	Shards:        4,
	Keys:          200,
	Rate:          100,
	Duration:      45 * time.Second,
	CacheTTL:      5 * time.Second,
	ProgressEvery: time.Second,
	DrainTimeout:  30 * time.Second,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	o.Stream = cmp.Or(o.Stream, d.Stream)
	o.Shards = cmp.Or(o.Shards, d.Shards)
	o.Keys = cmp.Or(o.Keys, d.Keys)
	o.Rate = cmp.Or(o.Rate, d.Rate)
	o.Duration = cmp.Or(o.Duration, d.Duration)
	o.ProgressEvery = cmp.Or(o.ProgressEvery, d.ProgressEvery)
	o.DrainTimeout = cmp.Or(o.DrainTimeout, d.DrainTimeout)
	o.CacheTTL = max(o.CacheTTL, 0)
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Failover is one switch of the run as the failover function reported it.
type Failover struct {
	To         string     `json:"to"`
	From       string     `json:"from"`
	SwitchedAt time.Time  `json:"switchedAt"`
	Epoch      int64      `json:"epoch"`
	ResumeFrom *time.Time `json:"resumeFrom"`
	Shards     int        `json:"shards"`
	Warnings   []string   `json:"warnings"`
	// ReportedAt is when the failover call returned its report.
	ReportedAt time.Time `json:"reportedAt"`
	// BehindResumePoint counts records committed at or before ResumeFrom
	// that were not yet in the target at ReportedAt: must be 0.
	BehindResumePoint int `json:"behindResumePoint"`
}

// MappingStats is what one Region's event source mapping did.
type MappingStats struct {
	Region string `json:"region"`
	localmapping.Stats
	Skipped int64 `json:"skipped"`
}

// Summary is the outcome of a run.
type Summary struct {
	Options   Options          `json:"-"`
	Regions   [2]RegionSummary `json:"regions"`
	Failovers []Failover       `json:"failovers"`
	Mappings  [2]MappingStats  `json:"mappings"`
	Wall      time.Duration    `json:"wall"`
}

// Lost, Reordered and Looped are what make a run fail.
func (s Summary) Lost() int      { return s.Regions[0].Lost + s.Regions[1].Lost }
func (s Summary) Reordered() int { return s.Regions[0].OrderViolations + s.Regions[1].OrderViolations }
func (s Summary) Looped() int {
	n := 0
	for _, r := range s.Regions {
		n += r.EchoesOutsideWindows + r.MultipleEchoes
	}
	return n
}

// UnsafeResumes counts records behind a failover's resume point that were
// not yet replicated when it was reported.
func (s Summary) UnsafeResumes() int {
	n := 0
	for _, f := range s.Failovers {
		n += f.BehindResumePoint
	}
	return n
}

// OK reports a run with nothing lost, reordered or looped, and every
// resume point safe.
func (s Summary) OK() bool {
	return s.Lost() == 0 && s.Reordered() == 0 && s.Looped() == 0 && s.UnsafeResumes() == 0
}

// region is one simulated Region's moving parts.
type region struct {
	name     string
	kinesis  *kinesis.Client
	failover *failover.Handler
	mapping  *localmapping.Mapping
	metrics  *tally
}

// Run tells the story and returns its summary. It stops everything it
// started before returning, also when ctx is cancelled.
func Run(ctx context.Context, o Options) (Summary, error) {
	o = o.withDefaults()
	started := time.Now()
	sum := Summary{Options: o}
	// The progress goroutine and the story write to Out together.
	out := &lockedWriter{w: o.Out}
	logger := slog.New(slog.NewTextHandler(o.Log, nil))

	fmt.Fprintf(out, "Starting the emulators: Kinesis for %s and %s, DynamoDB for the global tables\n", Regions[0], Regions[1])
	emu, err := localaws.Start(ctx, 2)
	if err != nil {
		return sum, err
	}
	defer emu.Close()

	ddb := localaws.DynamoDBClient(Regions[0], emu.DynamoDB)
	if err := localaws.CreateTables(ctx, ddb, replicator.DefaultCheckpointTable, replicator.DefaultActiveRegionTable); err != nil {
		return sum, err
	}
	var regions [2]*region
	for i, name := range Regions {
		r := &region{name: name, kinesis: localaws.KinesisClient(name, emu.Kinesis[i]), metrics: &tally{}}
		if err := localaws.CreateStream(ctx, r.kinesis, o.Stream, int32(o.Shards)); err != nil {
			return sum, fmt.Errorf("%s: %w", name, err)
		}
		regions[i] = r
	}
	fmt.Fprintf(out, "Created stream %q (%d shards) in both Regions and the tables %s, %s\n",
		o.Stream, o.Shards, replicator.DefaultActiveRegionTable, replicator.DefaultCheckpointTable)

	for i, r := range regions {
		other := regions[1-i]
		// Both functions are configured through their environment contract,
		// as Lambda would configure them.
		fs, err := failover.SettingsFromEnv(env{
			"AWS_REGION": r.name,
			"REGIONS":    Regions[0] + "," + Regions[1],
		}.get)
		if err != nil {
			return sum, err
		}
		r.failover = failover.NewHandler(fs, failover.Clients{
			DynamoDB: localaws.DynamoDBClient(r.name, emu.DynamoDB),
			Kinesis:  map[string]failover.ListShardsAPI{r.name: r.kinesis, other.name: other.kinesis},
		},
			failover.WithLogger(logger.With("function", "failover", "region", r.name)))

		rs, err := replicator.SettingsFromEnv(env{
			"AWS_REGION":              r.name,
			"TARGET_REGION":           other.name,
			"ACTIVE_REGION_CACHE_TTL": o.CacheTTL.String(),
		}.get)
		if err != nil {
			return sum, err
		}
		h := replicator.NewHandler(rs, replicator.Clients{
			Target:   localaws.KinesisClient(other.name, emu.Kinesis[1-i]),
			DynamoDB: localaws.DynamoDBClient(r.name, emu.DynamoDB),
		}, replicator.WithOutput(r.metrics), replicator.WithLogger(logger.With("function", "replicator", "region", r.name)))
		r.mapping = localmapping.New(r.kinesis, o.Stream, r.name, h.Handle, localmapping.Options{
			PollInterval: 100 * time.Millisecond,
			Logger:       logger.With("mapping", r.name),
		})
	}

	if _, err := invokeFailover(ctx, regions[0].failover, map[string]any{
		"action": "init", "targetRegion": Regions[0], "streams": []string{o.Stream},
	}); err != nil {
		return sum, fmt.Errorf("seed the active-Region config: %w", err)
	}
	fmt.Fprintf(out, "Seeded the config through the failover function's init: %s active\n", Regions[0])
	fmt.Fprintf(out, "Replicators cache the active-Region config for %v (ACTIVE_REGION_CACHE_TTL); after a switch the newly active Region holds its first writes for that long plus the global table's delay, so the old Region never replicates a replica back\n",
		o.CacheTTL)

	mappingCtx, stopMappings := context.WithCancel(ctx)
	var wg sync.WaitGroup
	mappingErrs := make([]error, len(regions))
	for i, r := range regions {
		wg.Go(func() { mappingErrs[i] = r.mapping.Run(mappingCtx) })
	}
	defer func() {
		stopMappings()
		wg.Wait()
	}()

	prod := newProducer(o.Stream, o.Keys, o.Rate)
	progress := newProgress(out, prod, regions, started)
	progressCtx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		progress.run(progressCtx, o.ProgressEvery)
	}()
	defer func() {
		stopProgress()
		<-progressDone
	}()

	phase := o.Duration / 3
	steps := []struct {
		active, from *region
	}{{regions[0], nil}, {regions[1], regions[0]}, {regions[0], regions[1]}}
	for _, step := range steps {
		if step.from != nil {
			f, err := failOver(ctx, step.active, step.from, o.Stream)
			if err != nil {
				return sum, err
			}
			sum.Failovers = append(sum.Failovers, f)
			fmt.Fprintf(out, "Failed over %s → %s at %s (epoch %d); resume point %s (where a CDC task restarts); the producer moves to %s\n",
				f.From, f.To, stamp(f.SwitchedAt), f.Epoch, stampOrNone(f.ResumeFrom), f.To)
		}
		progress.setActive(step.active.name)
		fmt.Fprintf(out, "Producing %d records/s over %d keys into %s for %v\n", o.Rate, o.Keys, step.active.name, phase)
		if err := prod.produce(ctx, step.active.kinesis, step.active.name, phase); err != nil {
			return sum, err
		}
	}

	fmt.Fprintln(out, "Producer stopped; draining both mappings")
	if err := drain(ctx, regions, o.Stream, o.DrainTimeout); err != nil {
		return sum, err
	}
	stopProgress()
	<-progressDone
	progress.line()
	stopMappings()
	wg.Wait()
	if err := errors.Join(mappingErrs...); err != nil {
		return sum, err
	}

	streams := map[string][]streamRecord{}
	for _, r := range regions {
		recs, err := readStream(ctx, r.kinesis, o.Stream)
		if err != nil {
			return sum, err
		}
		streams[r.name] = recs
	}
	var switches []time.Time
	for _, f := range sum.Failovers {
		switches = append(switches, f.SwitchedAt)
	}
	all := prod.all()
	if sum.Regions, err = verify(Regions, all, streams, switches, 5*time.Millisecond); err != nil {
		return sum, err
	}
	for i := range sum.Failovers {
		f := &sum.Failovers[i]
		f.BehindResumePoint = behindResumePoint(*f, all, streams[f.To])
	}
	for i, r := range regions {
		c, _ := r.metrics.take()
		sum.Mappings[i] = MappingStats{Region: r.name, Stats: r.mapping.Stats(), Skipped: c.Skipped}
	}
	sum.Wall = time.Since(started)
	return sum, nil
}

// failOver activates to through its own Region's failover function, as an
// operator would, and reports the stream's switch.
func failOver(ctx context.Context, to, from *region, stream string) (Failover, error) {
	rep, err := invokeFailover(ctx, to.failover, map[string]any{
		"targetRegion": to.name, "streams": []string{stream}, "reason": "local demo: fail over to " + to.name,
		"requestedBy": "scripts/demo.sh",
	})
	if err != nil {
		return Failover{}, fmt.Errorf("fail over to %s: %w", to.name, err)
	}
	if rep.ActiveRegion != to.name || len(rep.Streams) != 1 || rep.SwitchedAt == nil {
		return Failover{}, fmt.Errorf("fail over to %s: unexpected report: active %q, %d streams, switchedAt %v",
			to.name, rep.ActiveRegion, len(rep.Streams), rep.SwitchedAt)
	}
	s := rep.Streams[0]
	return Failover{
		To: to.name, From: from.name, SwitchedAt: *rep.SwitchedAt, Epoch: s.Epoch,
		ResumeFrom: s.ResumeFrom, Shards: len(s.Shards), Warnings: rep.Warnings, ReportedAt: time.Now(),
	}, nil
}

// invokeFailover sends payload as JSON, the way Lambda delivers it.
func invokeFailover(ctx context.Context, h *failover.Handler, payload map[string]any) (failover.Report, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return failover.Report{}, fmt.Errorf("encode failover payload: %w", err)
	}
	return h.Handle(ctx, raw)
}

// drain waits until each mapping has acknowledged every record its stream
// holds; replicas keep arriving while the other side drains, so both are
// checked together until neither moves.
func drain(ctx context.Context, regions [2]*region, stream string, timeout time.Duration) error {
	limit := time.NewTimer(timeout)
	defer limit.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		caughtUp := true
		var state []string
		for _, r := range regions {
			recs, err := readStream(ctx, r.kinesis, stream)
			if err != nil {
				return fmt.Errorf("drain: %w", err)
			}
			acked := r.mapping.Stats().Records
			if acked < int64(len(recs)) {
				caughtUp = false
			}
			state = append(state, fmt.Sprintf("%s %d of %d", r.name, acked, len(recs)))
		}
		if caughtUp {
			return nil
		}
		select {
		case <-tick.C:
		case <-limit.C:
			return fmt.Errorf("drain: mappings did not catch up within %v (%v)", timeout, state)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// env is a fixed environment for SettingsFromEnv.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func stampOrNone(t *time.Time) string {
	if t == nil {
		return "(no checkpoint yet)"
	}
	return stamp(*t)
}

// lockedWriter serialises writes to a writer that may not be safe for
// concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
