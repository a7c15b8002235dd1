// Package e2e runs the replicators and the failover functions of both
// Regions together in the local world of pkg/localworld: each Region with its
// own Kinesis and its own DynamoDB replica, the replicas joined by delayed,
// last-writer-wins replication, either Region able to hang. Event source
// mappings are pkg/localmapping's pollers; producers are pkg/cdctask's CDC
// tasks, which rewind to the resume point as a real one would.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/cdctask"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localmapping"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

const (
	regionA         = "us-east-1"
	regionB         = "us-east-2"
	stream          = "orders"
	checkpointTable = "kdsReplicationCheckpoint"
	configTable     = "kdsActiveRegionConfig"
	// cacheTTL is the replicators' ACTIVE_REGION_CACHE_TTL: short, so the
	// switchover times derived from it keep the tests short.
	cacheTTL = time.Second
)

// region is one Region's moving parts.
type region struct {
	name    string
	kinesis *kinesis.Client
	mapping *localmapping.Mapping
	// lag holds the replicator's invocations while closed: a Region whose
	// replication falls behind.
	lag *gate
}

// world is the two Regions with their functions.
type world struct {
	lw         *localworld.World
	regions    map[string]*region
	failoverIn map[string]lambda.Handler
	task       *cdctask.Task
	failovers  []promisecheck.Failover
}

type worldOptions struct {
	globalTableDelay time.Duration
}

func newWorld(ctx context.Context, t *testing.T, o worldOptions) *world {
	t.Helper()
	delay := o.globalTableDelay
	if delay == 0 {
		delay = localworld.NoDelay
	}
	lw, err := localworld.Start(ctx, localworld.Options{Regions: [2]string{regionA, regionB}, GlobalTableDelay: delay, CrossRegionLatency: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lw.Close)
	if err := lw.CreateStream(ctx, stream, 2); err != nil {
		t.Fatal(err)
	}
	if err := lw.CreateTables(ctx, checkpointTable, configTable); err != nil {
		t.Fatal(err)
	}
	w := &world{lw: lw, regions: map[string]*region{}, failoverIn: map[string]lambda.Handler{}, task: cdctask.New(stream, 40)}
	logger := slog.New(slog.DiscardHandler)
	for _, own := range []string{regionA, regionB} {
		other := regionB
		if own == regionB {
			other = regionA
		}
		env := map[string]string{
			"AWS_REGION": own, "TARGET_REGION": other, "REGIONS": regionA + "," + regionB,
			"CHECKPOINT_TABLE": checkpointTable, "ACTIVE_REGION_TABLE": configTable,
			"ACTIVE_REGION_CACHE_TTL": cacheTTL.String(), "SWITCH_SETTLE": "1s",
		}
		getenv := func(k string) string { return env[k] }
		rs, err := replicator.SettingsFromEnv(getenv)
		if err != nil {
			t.Fatal(err)
		}
		h := replicator.NewHandler(rs, replicator.Clients{
			Target:   lw.KinesisClient(other, own),
			DynamoDB: lw.DynamoDBClient(own, own),
			Fence:    lw.DynamoDBClient(other, own),
		}, replicator.WithOutput(discard{}), replicator.WithLogger(logger))
		r := &region{name: own, kinesis: lw.KinesisClient(own, own), lag: newGate()}
		r.mapping = localmapping.New(r.kinesis, stream, own, func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
			if err := r.lag.wait(ctx); err != nil {
				return events.KinesisEventResponse{}, err
			}
			return h.Handle(ctx, ev)
		}, localmapping.Options{PollInterval: 50 * time.Millisecond, Logger: logger})
		w.regions[own] = r

		fs, err := failover.SettingsFromEnv(getenv)
		if err != nil {
			t.Fatal(err)
		}
		fh := failover.NewHandler(fs, failover.Clients{
			DynamoDB: lw.DynamoDBClient(own, own),
			Kinesis:  map[string]failover.ListShardsAPI{own: lw.KinesisClient(own, own), other: lw.KinesisClient(other, own)},
		}, failover.WithLogger(logger))
		w.failoverIn[own] = lambda.NewHandler(fh.Handle)
	}
	return w
}

// start runs both Regions' mappings until the test ends.
func (w *world) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range w.regions {
		wg.Go(func() {
			if err := r.mapping.Run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("mapping of %s: %v", r.name, err)
			}
		})
	}
	t.Cleanup(func() {
		for _, r := range w.regions {
			r.lag.open()
		}
		cancel()
		wg.Wait()
	})
}

// ddb is the DynamoDB replica of region.
func (w *world) ddb(region string) *dynamodb.Client { return w.lw.DynamoDBClient(region, region) }

// invokeFailover calls the failover function of Region in, as Lambda would.
func (w *world) invokeFailover(ctx context.Context, in, payload string) (failover.Report, time.Duration, error) {
	start := time.Now()
	out, err := w.failoverIn[in].Invoke(ctx, []byte(payload))
	took := time.Since(start)
	if err != nil {
		return failover.Report{}, took, err
	}
	var r failover.Report
	if err := json.Unmarshal(out, &r); err != nil {
		return failover.Report{}, took, fmt.Errorf("failover report %s: %w", out, err)
	}
	return r, took, nil
}

// produce writes n changes into region.
func (w *world) produce(ctx context.Context, t *testing.T, region string, n int) {
	t.Helper()
	if err := w.task.Produce(ctx, region, w.regions[region].kinesis, n); err != nil {
		t.Fatal(err)
	}
}

// resume is what the CDC task does after a switch: wait until producers may
// start, then, in rewind mode, send again from the resume point.
func (w *world) resume(ctx context.Context, t *testing.T, from, to string, rep failover.Report, mode string) {
	t.Helper()
	s := rep.Streams[0]
	if s.ProducersMayStartAt == nil {
		t.Fatalf("%s → %s: got no producersMayStartAt in %+v", from, to, s)
	}
	if err := sleepUntil(ctx, *s.ProducersMayStartAt); err != nil {
		t.Fatal(err)
	}
	w.failovers = append(w.failovers, promisecheck.Failover{From: from, To: to, ResumeFrom: s.ResumeFrom})
	if mode != "rewind" {
		// Producers that cannot rewind but need per-key order wait for
		// the old Region's drain, as the runbook says.
		w.waitDrained(ctx, t, to)
		return
	}
	if _, err := w.task.Resend(ctx, to, w.regions[to].kinesis, s.ResumeFrom); err != nil {
		t.Fatal(err)
	}
}

// settle waits until both mappings have acknowledged every record their
// streams hold and neither moves any more.
func (w *world) settle(ctx context.Context, t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for stable := 0; stable < 3; {
		caughtUp := true
		for _, r := range w.regions {
			recs, err := promisecheck.ReadStream(ctx, r.kinesis, stream)
			if err != nil {
				t.Fatal(err)
			}
			if r.mapping.Stats().Records < int64(len(recs)) {
				caughtUp = false
			}
		}
		if caughtUp {
			stable++
		} else {
			stable = 0
		}
		if time.Now().After(deadline) {
			t.Fatal("replication did not settle within 2 minutes")
		}
		if err := sleepUntil(ctx, time.Now().Add(300*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
}

// check reads both streams and holds them to the promises.
func (w *world) check(ctx context.Context, t *testing.T) promisecheck.Result {
	t.Helper()
	streams := map[string][]promisecheck.Copy{}
	for name, r := range w.regions {
		recs, err := promisecheck.ReadStream(ctx, r.kinesis, stream)
		if err != nil {
			t.Fatal(err)
		}
		streams[name] = recs
	}
	res := promisecheck.Check(w.task.Written(), streams, w.failovers)
	if !res.OK() {
		t.Errorf("promises broken: %s", res)
		for _, list := range [][]string{res.Lost, res.Looped, res.UnsafeResumes} {
			for _, l := range list[:min(5, len(list))] {
				t.Errorf("  %s", l)
			}
		}
	}
	return res
}

func sleepUntil(ctx context.Context, t time.Time) error { return pause.For(ctx, time.Until(t)) }

// gate holds callers while closed.
type gate struct {
	mu   sync.Mutex
	ch   chan struct{}
	shut bool
}

func newGate() *gate {
	g := &gate{ch: make(chan struct{})}
	close(g.ch)
	return g
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.shut {
		g.ch, g.shut = make(chan struct{}), true
	}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut {
		close(g.ch)
		g.shut = false
	}
}

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
