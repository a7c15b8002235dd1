package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/localdeploy"
	"github.com/kinesis-crr/kinesis-crr/pkg/localmapping"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

// The Regions: records arrive in source, which is active, and are
// replicated into target, whose shards throttle.
const (
	source = "us-east-1"
	target = "us-east-2"
)

// scenario is one load on the replicator.
type scenario struct {
	name string
	// backlog records are in the source before the replicator starts.
	backlog int
	// load is the produced rate, a fraction of the loaded shards' limit,
	// for the run's duration, once the replicator runs.
	load float64
	// hotKey puts the whole load on one partition key, so on one shard.
	hotKey bool
	// chaos injects the target's faults and kills invocations.
	chaos bool
	// floor replaces the replicator with a handler that only forwards
	// each batch in one PutRecords: what the mapping and the round trip
	// cost alone, the floor the replicator's lag is measured against.
	floor bool
}

func scenarioOf(name string, o options) scenario {
	switch name {
	case "drain":
		return scenario{name: name, backlog: o.records}
	case "steady50":
		return scenario{name: name, load: 0.50}
	case "steady80":
		return scenario{name: name, load: 0.80}
	case "steady95":
		return scenario{name: name, load: 0.95}
	case "hotkey":
		return scenario{name: name, load: 0.95, hotKey: true}
	case "floor":
		return scenario{name: name, load: 0.80, floor: true}
	default: // chaos
		return scenario{name: name, backlog: o.records, chaos: true}
	}
}

// chaosFaults are the target's faults in the chaos scenario: those of the
// issue's outside measurement (2 % 5xx, 10 % of entries failed, resets,
// stalls).
func chaosFaults(o options) localworld.Faults {
	stall := 2 * time.Second
	if o.quick {
		stall = 300 * time.Millisecond
	}
	return localworld.Faults{Seed: o.seed, RequestErrorRate: 0.02, EntryErrorRate: 0.10, ResetRate: 0.01, StallRate: 0.01, Stall: stall}
}

// killRate is the fraction of invocations killed in the chaos scenario,
// each at a uniformly drawn point of its first killWindow.
const (
	killRate   = 0.10
	killWindow = time.Second
)

// Result is one scenario's figures.
type Result struct {
	Scenario string `json:"scenario"`
	Records  int    `json:"records"`
	// LimitPerSecond is the record limit of the shards the scenario loads.
	LimitPerSecond int `json:"limitPerSecond"`
	// Efficiency is the delivered records per second over LimitPerSecond.
	Efficiency float64 `json:"efficiency"`
	// AttemptsPerRecord is the entries the target received (every
	// PutRecords entry, admitted or not) per record delivered.
	AttemptsPerRecord float64 `json:"attemptsPerRecord"`
	Throttled         int64   `json:"throttledEntries"`
	Faulted           int64   `json:"faultedEntries"`
	// DuplicatesPerRecord is the copies in the target beyond one per
	// source record, per source record.
	DuplicatesPerRecord float64 `json:"duplicatesPerRecord"`
	Duplicates          int     `json:"duplicates"`
	// ResentRecords is what the replicator itself counted (its metric).
	ResentRecords int64 `json:"resentRecords"`
	// RedeliveredRecords are records delivered again that the replicator
	// left out because the shard's checkpoint covered them (its metric).
	RedeliveredRecords int64 `json:"redeliveredRecords"`
	// LagP50 and LagP99 are target arrival minus source arrival of each
	// record's first copy, in seconds.
	LagP50 float64 `json:"lagP50Seconds"`
	LagP99 float64 `json:"lagP99Seconds"`
	// BilledMsPer1000 is the handler time billed (each invocation rounded
	// up to 1 ms) per 1,000 records.
	BilledMsPer1000 float64 `json:"billedMsPer1000"`
	// TableWritesPer1000 is the DynamoDB item writes the source Region's
	// replicator made (checkpoints, progress checkpoints, sync points,
	// drain marks) per 1,000 records, before global-table replication.
	TableWritesPer1000 float64 `json:"tableWritesPer1000"`
	Invocations        int64   `json:"invocations"`
	Killed             int64   `json:"killedInvocations"`
	Lost               int     `json:"lost"`
	OrderViolations    int     `json:"orderViolations"`
	// Complete is false when the replicator did not acknowledge every
	// record before the scenario's deadline.
	Complete bool    `json:"complete"`
	Seconds  float64 `json:"seconds"`
}

// OK reports a scenario that lost nothing and kept per-key order.
func (r Result) OK() bool { return r.Complete && r.Lost == 0 && r.OrderViolations == 0 }

// benchmark starts one world and runs the scenarios in it, each on a
// stream of its own with a deployment of its own.
func benchmark(ctx context.Context, o options, log io.Writer) ([]Result, error) {
	fmt.Fprintf(log, "bench: starting the local world (round trip %v, target shards limited to %d records/s and %d bytes/s)\n",
		o.rtt, localworld.DefaultShardRecordsPerSecond, localworld.DefaultShardBytesPerSecond)
	w, err := localworld.Start(ctx, localworld.Options{Regions: [2]string{source, target}, CrossRegionLatency: o.rtt})
	if err != nil {
		return nil, err
	}
	defer w.Close()
	// The producers are not under test: the source takes whatever they
	// write, so a backlog can be preloaded at once.
	w.SetShardWriteLimit(source, localworld.Unlimited)
	if err := w.CreateTables(ctx, replicator.DefaultCheckpointTable, replicator.DefaultActiveRegionTable); err != nil {
		return nil, err
	}
	var results []Result
	for _, name := range o.scenarios {
		sc := scenarioOf(name, o)
		fmt.Fprintf(log, "bench: scenario %s\n", name)
		r, err := runScenario(ctx, w, o, sc)
		if err != nil {
			return results, fmt.Errorf("scenario %s: %w", name, err)
		}
		fmt.Fprintf(log, "bench: %s done in %.1fs: %d records, efficiency %.2f, %d lost, %d out of order\n",
			name, r.Seconds, r.Records, r.Efficiency, r.Lost, r.OrderViolations)
		results = append(results, r)
	}
	return results, nil
}

// invocations measures and, in chaos, kills the source replicator's
// invocations.
type invocations struct {
	kill     float64
	mu       sync.Mutex
	rng      *rand.Rand
	count    atomic.Int64
	killed   atomic.Int64
	billedMs atomic.Int64
}

func (iv *invocations) wrap(region string, h localmapping.HandlerFunc) localmapping.HandlerFunc {
	if region != source {
		return h // the standby's replicator skips everything; not billed here
	}
	return func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		var killAt time.Duration
		if iv.kill > 0 {
			iv.mu.Lock()
			if iv.rng.Float64() < iv.kill {
				killAt = time.Duration(iv.rng.Int64N(int64(killWindow)))
			}
			iv.mu.Unlock()
		}
		var timer *time.Timer
		if killAt > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			timer = time.AfterFunc(killAt, cancel)
		}
		start := time.Now()
		resp, err := h(ctx, ev)
		elapsed := time.Since(start)
		iv.count.Add(1)
		iv.billedMs.Add(int64(math.Ceil(float64(elapsed) / float64(time.Millisecond))))
		if timer != nil && !timer.Stop() {
			// Killed mid-batch: whatever it wrote stays written, and the
			// mapping delivers the whole batch again, as after a crash.
			iv.killed.Add(1)
			return events.KinesisEventResponse{}, errors.New("bench: invocation killed")
		}
		return resp, err
	}
}

// emfTally adds up the replicator's ResentRecords and RedeliveredRecords
// from its EMF lines.
type emfTally struct {
	mu          sync.Mutex
	partial     []byte
	resent      int64
	redelivered int64
}

func (t *emfTally) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		var line struct {
			ResentRecords      float64 `json:"ResentRecords"`
			RedeliveredRecords float64 `json:"RedeliveredRecords"`
		}
		if json.Unmarshal(t.partial[:i], &line) == nil {
			t.resent += int64(line.ResentRecords)
			t.redelivered += int64(line.RedeliveredRecords)
		}
		t.partial = t.partial[i+1:]
	}
}

func (t *emfTally) totals() (resent, redelivered int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.resent, t.redelivered
}

func runScenario(ctx context.Context, w *localworld.World, o options, sc scenario) (Result, error) {
	began := time.Now()
	stream := localaws.UniqueName("bench-" + sc.name)
	if err := w.CreateStream(ctx, stream, int32(o.shards)); err != nil {
		return Result{}, err
	}
	src := w.KinesisClient(source, source)
	prod, err := newProducer(ctx, src, stream, o.shards, sc.hotKey)
	if err != nil {
		return Result{}, err
	}
	loaded := o.shards
	if sc.hotKey {
		loaded = 1
	}
	limit := loaded * localworld.DefaultShardRecordsPerSecond

	if sc.backlog > 0 {
		if err := prod.produce(ctx, sc.backlog); err != nil {
			return Result{}, fmt.Errorf("preload: %w", err)
		}
	}
	if sc.chaos {
		if err := w.SetKinesisFaults(target, chaosFaults(o)); err != nil {
			return Result{}, err
		}
		defer func() { _ = w.SetKinesisFaults(target, localworld.Faults{}) }()
	}
	// The draws depend on the seed and the scenario alone, so a scenario
	// run alone kills the invocations it kills among the others.
	name := fnv.New64a()
	name.Write([]byte(sc.name))
	iv := &invocations{rng: rand.New(rand.NewPCG(o.seed, name.Sum64()))}
	if sc.chaos {
		iv.kill = killRate
	}
	tally := &emfTally{}
	before := w.KinesisStats(target)
	d, err := localdeploy.Start(ctx, w, localdeploy.Options{
		Streams:   []string{stream},
		CacheTTL:  activeregion.DefaultCacheTTL,
		Ordering:  o.ordering,
		BatchSize: 500, // the CDK app's
		WrapReplicator: func(region string, h localmapping.HandlerFunc) localmapping.HandlerFunc {
			if sc.floor && region == source {
				h = forwarder(w.KinesisClient(target, source), stream)
			}
			return iv.wrap(region, h)
		},
		ReplicatorOutput: func(region string) io.Writer {
			if region == source {
				return tally
			}
			return io.Discard
		},
	})
	if err != nil {
		return Result{}, err
	}
	defer d.Close()
	if _, err := d.Init(ctx, source); err != nil {
		return Result{}, err
	}
	writesBefore := w.DynamoDBWrites(source)
	if sc.load > 0 {
		if err := prod.paced(ctx, sc.load*float64(limit), o.duration); err != nil {
			return Result{}, fmt.Errorf("produce: %w", err)
		}
	}

	// Wait until the replicator has acknowledged every record: each
	// acknowledged record is in the target.
	total := len(prod.written)
	budget := time.Duration(float64(total)/float64(limit)*float64(time.Second))*4 + 2*time.Minute
	deadline := time.Now().Add(budget)
	mapping := d.Mapping(source, stream)
	complete := false
	for time.Now().Before(deadline) {
		if mapping.Stats().Records >= int64(total) {
			complete = true
			break
		}
		if err := d.Err(); err != nil {
			return Result{}, err
		}
		if err := pause.For(ctx, 100*time.Millisecond); err != nil {
			return Result{}, err
		}
	}
	d.Close()
	after := w.KinesisStats(target)
	tableWrites := w.DynamoDBWrites(source) - writesBefore

	r, err := measure(ctx, w, stream, prod, sc.backlog > 0)
	if err != nil {
		return Result{}, err
	}
	r.Scenario, r.LimitPerSecond, r.Complete = sc.name, limit, complete
	r.Efficiency /= float64(limit)
	delivered := float64(max(r.Records-r.Lost, 1))
	r.AttemptsPerRecord = float64(after.Entries-before.Entries) / delivered
	r.Throttled = after.Throttled - before.Throttled
	r.Faulted = after.Faulted - before.Faulted
	r.ResentRecords, r.RedeliveredRecords = tally.totals()
	r.Invocations, r.Killed = iv.count.Load(), iv.killed.Load()
	r.BilledMsPer1000 = float64(iv.billedMs.Load()) / delivered * 1000
	r.TableWritesPer1000 = float64(tableWrites) / delivered * 1000
	r.Seconds = time.Since(began).Seconds()
	return r, nil
}

// measure reads both streams and judges the run: lost and reordered
// records (promisecheck, the project's own judge), duplicates, lag, and the
// delivered rate (Efficiency in records/s, divided by the limit later). The
// rate's window starts at the first copy's arrival for a backlog (the
// replicator's start-up is not throughput) and at the first record's
// arrival in the source for a produced load.
func measure(ctx context.Context, w *localworld.World, stream string, prod *producer, backlog bool) (Result, error) {
	srcCopies, err := promisecheck.ReadStream(ctx, w.KinesisClient(source, source), stream)
	if err != nil {
		return Result{}, err
	}
	dstCopies, err := promisecheck.ReadStream(ctx, w.KinesisClient(target, target), stream)
	if err != nil {
		return Result{}, err
	}
	arrived := make(map[string]time.Time, len(srcCopies))
	var firstSource time.Time
	for _, c := range srcCopies {
		if _, dup := arrived[c.ID]; dup {
			return Result{}, fmt.Errorf("the source holds %s twice: the producer wrote it twice", c.ID)
		}
		arrived[c.ID] = c.Arrival
		if firstSource.IsZero() || c.Arrival.Before(firstSource) {
			firstSource = c.Arrival
		}
	}
	first := map[string]time.Time{}
	for _, c := range dstCopies {
		if t, ok := first[c.ID]; !ok || c.Arrival.Before(t) {
			first[c.ID] = c.Arrival
		}
	}
	res := promisecheck.Check(prod.written, map[string][]promisecheck.Copy{target: dstCopies}, nil)
	r := Result{Records: len(prod.written), Lost: len(res.Lost), OrderViolations: res.OutOfOrder[target], Duplicates: len(dstCopies) - len(first)}
	r.DuplicatesPerRecord = float64(r.Duplicates) / float64(max(r.Records, 1))
	var lags []float64
	var firstCopy, lastCopy time.Time
	for id, t := range first {
		if a, ok := arrived[id]; ok {
			lags = append(lags, t.Sub(a).Seconds())
		}
		if firstCopy.IsZero() || t.Before(firstCopy) {
			firstCopy = t
		}
		if t.After(lastCopy) {
			lastCopy = t
		}
	}
	slices.Sort(lags)
	r.LagP50, r.LagP99 = quantile(lags, 0.50), quantile(lags, 0.99)
	from := firstSource
	if backlog {
		from = firstCopy
	}
	if window := lastCopy.Sub(from).Seconds(); window > 0 {
		r.Efficiency = float64(len(first)) / window
	}
	return r, nil
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(math.Ceil(q*float64(len(sorted))))-1, len(sorted)-1)]
}

// producer writes CDC-shaped records (promisecheck.Payload) into the
// source, in order per key, spreading them evenly over the shards (or all
// on one key), and remembers what it wrote.
type producer struct {
	client  *kinesis.Client
	stream  string
	keys    []string // cycled over; consecutive keys on different shards
	seq     map[string]int
	n       int
	written []promisecheck.Written
}

// keysPerShard spread the load of a shard over many keys, as a CDC task's
// tables do.
const keysPerShard = 100

func newProducer(ctx context.Context, client *kinesis.Client, stream string, shards int, hotKey bool) (*producer, error) {
	p := &producer{client: client, stream: stream, seq: map[string]int{}}
	if hotKey {
		p.keys = []string{"hot"}
		return p, nil
	}
	out, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, fmt.Errorf("list shards of %s: %w", stream, err)
	}
	if len(out.Shards) != shards {
		return nil, fmt.Errorf("stream %s has %d shards, want %d", stream, len(out.Shards), shards)
	}
	perShard := make([][]string, shards)
	for i := 0; slices.ContainsFunc(perShard, func(k []string) bool { return len(k) < keysPerShard }); i++ {
		key := fmt.Sprintf("key-%05d", i)
		h, err := localworld.HashKey(key, "")
		if err != nil {
			return nil, err
		}
		for s, sh := range out.Shards {
			lo, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.StartingHashKey), 10)
			hi, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.EndingHashKey), 10)
			if lo != nil && hi != nil && h.Cmp(lo) >= 0 && h.Cmp(hi) <= 0 && len(perShard[s]) < keysPerShard {
				perShard[s] = append(perShard[s], key)
			}
		}
	}
	for k := range keysPerShard {
		for s := range perShard {
			p.keys = append(p.keys, perShard[s][k])
		}
	}
	return p, nil
}

// produce writes n new records, 500 per PutRecords. The source takes
// everything (its limits are off), so a refusal is an error.
func (p *producer) produce(ctx context.Context, n int) error {
	for n > 0 {
		chunk := min(n, 500)
		entries := make([]types.PutRecordsRequestEntry, chunk)
		batch := make([]promisecheck.Written, chunk)
		now := time.Now().UTC()
		for i := range entries {
			key := p.keys[p.n%len(p.keys)]
			p.n++
			p.seq[key]++
			pl := promisecheck.Payload{ID: fmt.Sprintf("%s#%d", key, p.seq[key]), Key: key, KeySeq: p.seq[key], CommitTimestamp: now.Format(time.RFC3339Nano)}
			data, err := json.Marshal(pl)
			if err != nil {
				return fmt.Errorf("encode %s: %w", pl.ID, err)
			}
			entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: data}
			batch[i] = promisecheck.Written{Payload: pl, Region: source, Commit: now}
		}
		out, err := p.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(p.stream), Records: entries})
		if err != nil {
			return fmt.Errorf("write %d records into %s: %w", chunk, p.stream, err)
		}
		if f := aws.ToInt32(out.FailedRecordCount); f > 0 {
			return fmt.Errorf("write %d records into %s: %d refused by an unlimited source", chunk, p.stream, f)
		}
		p.written = append(p.written, batch...)
		n -= chunk
	}
	return nil
}

// produceTick is how often the paced load sends what is due.
const produceTick = 20 * time.Millisecond

// paced produces at rate records per second for d.
func (p *producer) paced(ctx context.Context, rate float64, d time.Duration) error {
	start := time.Now()
	sent, total := 0, int(rate*d.Seconds())
	for sent < total {
		due := min(int(rate*time.Since(start).Seconds()), total) - sent
		if due > 0 {
			if err := p.produce(ctx, due); err != nil {
				return err
			}
			sent += due
		}
		if err := pause.For(ctx, produceTick); err != nil {
			return err
		}
	}
	return nil
}

// forwarder is the floor scenario's handler: each batch in one PutRecords
// to the target, nothing else (no rule, no checkpoint, no pacing); a batch
// not wholly written fails, and the mapping delivers it again.
func forwarder(client *kinesis.Client, stream string) localmapping.HandlerFunc {
	return func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		entries := make([]types.PutRecordsRequestEntry, len(ev.Records))
		for i, r := range ev.Records {
			entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(r.Kinesis.PartitionKey), Data: r.Kinesis.Data}
		}
		out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			return events.KinesisEventResponse{}, fmt.Errorf("forward: %w", err)
		}
		if n := aws.ToInt32(out.FailedRecordCount); n > 0 {
			return events.KinesisEventResponse{}, fmt.Errorf("forward: %d of %d records refused", n, len(entries))
		}
		return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}, nil
	}
}
