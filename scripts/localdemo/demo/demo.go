// Package demo is the local two-Region story of kinesis-crr, told on the
// modelled world of pkg/localworld: each Region with its own Kinesis and its
// own DynamoDB replica of the tables, the replicas joined by delayed
// last-writer-wins replication, cross-Region calls slowed by a round trip,
// either Region able to hang. A CDC task (pkg/cdctask) writes into the
// active Region; the replicators' own handlers run behind local event source
// mappings; the failover functions move the stream to us-east-2 and back as
// the runbook says (wait for producersMayStartAt, resend from resumeFrom or
// wait for the drain, switch back after settledAt); a consumer application
// of the stream moves with the failover as the runbook says (stopped in the
// old Region, its positions translated by kdscrr translate, started in the
// new one); then pkg/promisecheck judges both streams: nothing lost, every
// key in order, no loop, every resume point safe; and the consumer missed
// nothing and re-read no more than the translation promised.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/cdctask"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localdeploy"
	"github.com/kinesis-crr/kinesis-crr/pkg/localmapping"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
	"github.com/kinesis-crr/kinesis-crr/pkg/verify"
)

// region is one simulated Region's moving parts.
type region struct {
	name string
	// kinesis is the Region's own stream, as producers and its mapping in
	// the Region reach it.
	kinesis  *kinesis.Client
	failover *failover.Handler
	mapping  *localmapping.Mapping
	metrics  *tally
}

// story is one run in progress.
type story struct {
	o        Options
	out      io.Writer
	world    *localworld.World
	regions  [2]*region
	task     *cdctask.Task
	started  time.Time
	progress *progress
	hang     *hang
	checks   []promisecheck.Failover
	// consumer is the stream's consumer application; endpoints are the
	// deployment's, which kdscrr translate reads through.
	consumer  *consumer
	endpoints endpoints.File
	// tallies add up each Region's replicator metrics, by Region.
	tallies map[string]*tally
}

// Run tells the story and returns its summary. It refuses options Validate
// refuses before starting anything, and stops everything it started before
// returning, also when ctx is cancelled.
func Run(ctx context.Context, o Options) (Summary, error) {
	if err := o.Validate(); err != nil {
		return Summary{}, err
	}
	o = o.withDefaults()
	s := &story{o: o, out: &lockedWriter{w: o.Out}, started: time.Now(), task: cdctask.New(o.Stream, o.Keys),
		tallies: map[string]*tally{Regions[0]: {}, Regions[1]: {}}}
	sum := Summary{Options: o}

	d, tearDown, err := s.setUp(ctx)
	defer tearDown()
	if err != nil {
		return sum, err
	}
	s.endpoints = d.Endpoints()
	s.consumer = newConsumer(o.Stream, o.consumerLag())
	// Before tearDown: the consumer reads the world's streams.
	defer s.consumer.close()
	if err := s.startConsumer(ctx); err != nil {
		return sum, err
	}
	stopLines := s.startProgress(ctx)
	defer stopLines()
	if err := s.tell(ctx, &sum); err != nil {
		return sum, err
	}
	if err := s.catchUp(ctx, d); err != nil {
		return sum, err
	}
	stopLines()
	s.progress.line()
	if err := s.judge(ctx, &sum); err != nil {
		return sum, err
	}
	if o.Hold != nil {
		if err := o.Hold(sum, d.Endpoints()); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// setUp starts both Regions, creates the stream and the tables, deploys
// kinesis-crr in both and seeds the config. tearDown stops what it started,
// also when it fails.
func (s *story) setUp(ctx context.Context) (d *localdeploy.Deployment, tearDown func(), err error) {
	o := s.o
	var closers []func()
	tearDown = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fmt.Fprintf(s.out, "Starting two Regions, %s and %s: each its own Kinesis (kinesalite) and its own DynamoDB replica (dynalite)\n", Regions[0], Regions[1])
	w, err := localworld.Start(ctx, localworld.Options{Regions: Regions, GlobalTableDelay: o.worldDelay(), CrossRegionLatency: o.RTT})
	if err != nil {
		return nil, tearDown, err
	}
	s.world = w
	closers = append(closers, w.Close)
	fmt.Fprintf(s.out, "Global tables replicate between the replicas %v after each write, last writer wins; every cross-Region call takes %v more\n", o.GlobalTableDelay, o.RTT)
	if err := w.CreateStream(ctx, o.Stream, int32(o.Shards)); err != nil {
		return nil, tearDown, err
	}
	if err := w.CreateTables(ctx, replicator.DefaultCheckpointTable, replicator.DefaultActiveRegionTable); err != nil {
		return nil, tearDown, err
	}
	fmt.Fprintf(s.out, "Created stream %q (%d shards) in both Regions and the tables %s, %s in both replicas\n",
		o.Stream, o.Shards, replicator.DefaultActiveRegionTable, replicator.DefaultCheckpointTable)

	d, err = localdeploy.Start(ctx, w, localdeploy.Options{
		Streams:          []string{o.Stream},
		CacheTTL:         o.CacheTTL,
		SwitchSettle:     o.SwitchSettle,
		Logger:           slog.New(slog.NewTextHandler(o.Log, nil)),
		ReplicatorOutput: func(region string) io.Writer { return s.tallies[region] },
	})
	if err != nil {
		return nil, tearDown, err
	}
	// Closed before the world: the mappings and invoke endpoints use it.
	closers = append(closers, d.Close)
	for i, name := range Regions {
		s.regions[i] = &region{name: name, kinesis: w.KinesisClient(name, name), failover: d.Failover(name), mapping: d.Mapping(name, o.Stream), metrics: s.tallies[name]}
	}
	if _, err := d.Init(ctx, Regions[0]); err != nil {
		return nil, tearDown, fmt.Errorf("seed the active-Region config: %w", err)
	}
	fmt.Fprintf(s.out, "Seeded the config through %s's failover function (init): %s active, epoch 1; replicated to %s\n", Regions[0], Regions[0], Regions[1])
	fmt.Fprintf(s.out, "Replicators and failover functions run with ACTIVE_REGION_CACHE_TTL %v; switchovers in %s mode\n", o.CacheTTL, o.Mode)
	if o.Impair != nil {
		s.hang = &hang{Impairment: *o.Impair, healed: make(chan struct{})}
		closers = append(closers, s.hang.stop)
		fmt.Fprintf(s.out, "%s will hang from just before the switch that leaves it until %v after that call returns\n", o.Impair.Region, o.Impair.For)
	}
	return d, tearDown, nil
}

// startProgress prints a progress line every ProgressEvery until the
// returned stop, which may be called more than once.
func (s *story) startProgress(ctx context.Context) (stop func()) {
	s.progress = newProgress(s.out, s.task, s.regions, s.started)
	progressCtx, stopProgress := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.progress.run(progressCtx, s.o.ProgressEvery)
	}()
	return sync.OnceFunc(func() {
		stopProgress()
		<-done
	})
}

// startConsumer starts the consumer application in the first Region, on
// every shard from TRIM_HORIZON.
func (s *story) startConsumer(ctx context.Context) error {
	r := s.regions[0]
	shards, err := streamread.Shards(ctx, r.kinesis, s.o.Stream)
	if err != nil {
		return fmt.Errorf("start the consumer in %s: %w", r.name, err)
	}
	from := map[string]streamread.Window{}
	for _, sh := range shards {
		from[aws.ToString(sh.ShardId)] = streamread.Window{}
	}
	s.consumer.start(ctx, r.name, r.kinesis, from)
	fmt.Fprintf(s.out, "A consumer application reads %q in %s (%d shards from TRIM_HORIZON), processing each record %v after its arrival and keeping its position per shard\n",
		s.o.Stream, r.name, len(from), s.consumer.lag.Round(time.Millisecond))
	return nil
}

// tell is the story's three phases: the CDC task produces in the first
// Region, the operator fails over to the second and producing goes on
// there, then fails back and producing goes on in the first. The consumer
// moves at the failover and stays in the second Region.
func (s *story) tell(ctx context.Context, sum *Summary) error {
	phase := s.o.phase()
	steps := []struct {
		active, from  *region
		consumerMoves bool
	}{{s.regions[0], nil, false}, {s.regions[1], s.regions[0], true}, {s.regions[0], s.regions[1], false}}
	for i, step := range steps {
		var kept map[string]string
		if step.consumerMoves {
			// The runbook: stop it in the old Region (with the producers,
			// before that Region may hang), then translate.
			kept = s.consumer.stop()
			fmt.Fprintf(s.out, "Consumer stopped in %s with the producers; the positions it kept: %s\n", step.from.name, positionsLine(kept))
		}
		if step.from != nil {
			f, err := s.switchOver(ctx, step.from, step.active, int64(i), sum.Failovers)
			sum.Failovers = append(sum.Failovers, f)
			if err != nil {
				return err
			}
		}
		if step.consumerMoves {
			fmt.Fprintf(s.out, "The consumer moves to %s: kdscrr translate --stream %s --from %s --to %s --positions …, then it starts there (beside the producers)\n",
				step.active.name, s.o.Stream, step.from.name, step.active.name)
			s.consumer.moveTo(ctx, s.out, step.active.name, step.active.kinesis, kept, kdscrrTranslate(s.endpoints, s.o.Stream, step.from.name, step.active.name))
		}
		s.progress.setActive(step.active.name)
		fmt.Fprintf(s.out, "Producing %d records/s over %d keys into %s for %v\n", s.o.Rate, s.o.Keys, step.active.name, phase.Round(time.Millisecond))
		if _, err := producePaced(ctx, s.task, step.active.name, step.active.kinesis, s.o.Rate, phase); err != nil {
			return err
		}
	}
	return nil
}

// catchUp waits, once the CDC task has stopped, until both mappings have
// acknowledged everything (after a hung Region answers again).
func (s *story) catchUp(ctx context.Context, d *localdeploy.Deployment) error {
	fmt.Fprintln(s.out, "CDC task stopped; waiting until both mappings have caught up")
	if s.hang != nil {
		if err := s.hang.waitHealed(ctx, s.out, "the final check"); err != nil {
			return err
		}
	}
	if err := s.settle(ctx); err != nil {
		return err
	}
	// The streams hold all they will: the consumer has caught up once a
	// read of every shard that began now reached the tip.
	settled := time.Now()
	fmt.Fprintf(s.out, "Waiting until the consumer in %s has caught up\n", Regions[1])
	if err := s.consumer.finish(ctx, settled, s.o.WaitTimeout); err != nil {
		return err
	}
	return d.Err()
}

// judge reads both streams back and fills in the verdicts: promisecheck's
// against everything the CDC task wrote, and verify's, which knows only
// what a deployment knows.
func (s *story) judge(ctx context.Context, sum *Summary) error {
	streams := map[string][]promisecheck.Copy{}
	for _, r := range s.regions {
		recs, err := promisecheck.ReadStream(ctx, r.kinesis, s.o.Stream)
		if err != nil {
			return err
		}
		streams[r.name] = recs
	}
	written := s.task.Written()
	sum.Result = promisecheck.Check(written, streams, s.checks)
	sum.Consumer = s.consumer.judge(Regions[0], Regions[1], streams[Regions[1]])
	v, err := s.verify(ctx)
	if err != nil {
		return err
	}
	sum.Verify = v
	sum.Regions = summarise(written, streams, sum.Result)
	for i, r := range s.regions {
		c, _ := r.metrics.take()
		sum.Mappings[i] = MappingStats{Region: r.name, Stats: r.mapping.Stats(), Skipped: c.Skipped, Superseded: c.Superseded, Resent: c.Resent, Failed: c.Failed}
	}
	sum.Wall = time.Since(s.started)
	return nil
}

// settle waits until each mapping has acknowledged every record its stream
// holds, three reads in a row: replicas keep arriving while the other side
// catches up, so both are checked together.
func (s *story) settle(ctx context.Context) error {
	deadline := time.Now().Add(s.o.WaitTimeout)
	var state []string
	for stable := 0; stable < 3; {
		caughtUp := true
		state = state[:0]
		for _, r := range s.regions {
			recs, err := promisecheck.ReadStream(ctx, r.kinesis, s.o.Stream)
			if err != nil {
				return fmt.Errorf("wait for the mappings: %w", err)
			}
			acked := r.mapping.Stats().Records
			if acked < int64(len(recs)) {
				caughtUp = false
			}
			state = append(state, fmt.Sprintf("%s acknowledged %d of %d", r.name, acked, len(recs)))
		}
		if caughtUp {
			stable++
		} else {
			stable = 0
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the mappings did not catch up within %v (%v)", s.o.WaitTimeout, state)
		}
		if err := sleepUntil(ctx, time.Now().Add(300*time.Millisecond)); err != nil {
			return err
		}
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error { return pause.For(ctx, time.Until(t)) }

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func stampOr(t *time.Time, none string) string {
	if t == nil {
		return none
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

// verify checks both streams as `kdscrr verify` does, from what any
// deployment has: the newest config of the two replicas, each Region's
// checkpoints in its own replica (read before the streams), and the
// streams since the story started.
func (s *story) verify(ctx context.Context) (verify.Report, error) {
	var cfg activeregion.Config
	var regions [2]verify.Region
	for i, r := range s.regions {
		ddb := s.world.DynamoDBClient(r.name, r.name)
		c, err := activeregion.NewStore(ddb, replicator.DefaultActiveRegionTable).Get(ctx, s.o.Stream)
		if err != nil {
			return verify.Report{}, fmt.Errorf("verify: %w", err)
		}
		cfg = activeregion.Newer(cfg, c)
		cps, err := checkpoint.NewStore(ddb, replicator.DefaultCheckpointTable).Load(ctx, s.o.Stream, r.name)
		if err != nil {
			return verify.Report{}, fmt.Errorf("verify: %w", err)
		}
		regions[i] = verify.Region{Name: r.name, Kinesis: r.kinesis, Checkpoints: cps}
	}
	return verify.Stream(ctx, s.o.Stream, cfg, regions, verify.Options{Since: s.started.Add(-time.Second)})
}
