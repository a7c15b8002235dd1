// Package kcl moves a real KCL consumer between Regions: a
// vmware-go-kcl-v2 v1.0.0 application consumes part of a stream in one
// Region of the modelled world (kinesalite and dynalite behind
// pkg/localworld, the replicator behind its mapping), kdscrr translate
// turns its lease table into one for the other Region, and the same
// application started there with that table must see every record it had
// not processed, re-reading no more than the translation promised.
package kcl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/sirupsen/logrus"
	"github.com/vmware/vmware-go-kcl-v2/clientlibrary/config"
	kcl "github.com/vmware/vmware-go-kcl-v2/clientlibrary/interfaces"
	"github.com/vmware/vmware-go-kcl-v2/clientlibrary/worker"
	"github.com/vmware/vmware-go-kcl-v2/logger"

	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/localdeploy"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/operator"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
	"github.com/kinesis-crr/kinesis-crr/pkg/translate"
)

const (
	east1  = "us-east-1"
	east2  = "us-east-2"
	stream = "orders"
	app    = "orders-app"
	// bursts of perBurst records, burstGap apart, so that the replicator
	// takes several sync points per shard (one at most every 5 s).
	bursts, perBurst = 4, 25
	burstGap         = 6 * time.Second
	// processNumerator/processDenominator of each shard's records are
	// processed in A before the consumer stops.
	processNumerator, processDenominator = 3, 5
)

// consumer is one run of the application: it processes records in order
// per shard, checkpointing each one, until limits[shard] records of the
// shard are processed (no limits: no limit), and keeps what it saw.
type consumer struct {
	mu        sync.Mutex
	limits    map[string]int
	perShard  map[string]int
	seen      map[string]int // payload → times processed
	processed int
}

func newConsumer(limits map[string]int) *consumer {
	return &consumer{limits: limits, perShard: map[string]int{}, seen: map[string]int{}}
}

// reached reports whether every shard with a limit reached it.
func (c *consumer) reached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for shard, n := range c.limits {
		if c.perShard[shard] < n {
			return false
		}
	}
	return true
}

func (c *consumer) CreateProcessor() kcl.IRecordProcessor { return &processor{c: c} }

type processor struct {
	c     *consumer
	shard string
}

func (p *processor) Initialize(in *kcl.InitializationInput) { p.shard = in.ShardId }

func (p *processor) ProcessRecords(in *kcl.ProcessRecordsInput) {
	for _, r := range in.Records {
		p.c.mu.Lock()
		limit, limited := p.c.limits[p.shard]
		full := limited && p.c.perShard[p.shard] >= limit
		if !full {
			p.c.seen[string(r.Data)]++
			p.c.perShard[p.shard]++
			p.c.processed++
		}
		p.c.mu.Unlock()
		if full {
			return
		}
		// A checkpoint after every record: the lease holds the last
		// record processed, exactly.
		if err := in.Checkpointer.Checkpoint(r.SequenceNumber); err != nil {
			return
		}
	}
}

func (p *processor) Shutdown(*kcl.ShutdownInput) {}

func (c *consumer) snapshot() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[string]int, len(c.seen))
	for k, v := range c.seen {
		seen[k] = v
	}
	return seen, c.processed
}

// run starts the application against region's stream with lease table
// table, until done says so or the context ends.
func run(ctx context.Context, t *testing.T, w *localworld.World, region, table string, c *consumer, done func() bool) {
	t.Helper()
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	cfg := config.NewKinesisClientLibConfigWithCredential(app, stream, region, "worker-"+region,
		credentials.NewStaticCredentialsProvider("local", "local", "")).
		WithKinesisEndpoint(w.Endpoint(localworld.Kinesis, region, region)).
		WithDynamoDBEndpoint(w.Endpoint(localworld.DynamoDB, region, region)).
		WithTableName(table).
		WithInitialPositionInStream(config.TRIM_HORIZON).
		WithShardSyncIntervalMillis(1000).
		WithIdleTimeBetweenReadsInMillis(100).
		WithFailoverTimeMillis(3000).
		WithLeaseRefreshPeriodMillis(1000).
		WithMaxRecords(10).
		WithLogger(logger.NewLogrusLogger(quiet))
	wk := worker.NewWorker(c, cfg)
	if err := wk.Start(); err != nil {
		t.Fatalf("start the consumer in %s: %v", region, err)
	}
	defer wk.Shutdown()
	for !done() {
		select {
		case <-ctx.Done():
			seen, n := c.snapshot()
			t.Fatalf("the consumer in %s: %v after %d records (%d distinct)", region, ctx.Err(), n, len(seen))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestAVMwareKCLConsumerMovedByItsLeaseTableMissesNothingAndRereadsAtMostThePromise(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the emulators and a KCL application for about a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w, err := localworld.Start(ctx, localworld.Options{GlobalTableDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.CreateStream(ctx, stream, 2); err != nil {
		t.Fatal(err)
	}
	if err := w.CreateTables(ctx, replicator.DefaultCheckpointTable, replicator.DefaultActiveRegionTable); err != nil {
		t.Fatal(err)
	}
	d, err := localdeploy.Start(ctx, w, localdeploy.Options{Streams: []string{stream}, CacheTTL: time.Second, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Init(ctx, east1); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "endpoints.json")
	if err := endpoints.Write(file, d.Endpoints()); err != nil {
		t.Fatal(err)
	}

	// Produce in A, in bursts; the replicator copies to B.
	ka := w.KinesisClient(east1, east1)
	var all []string
	perShard := map[string]int{}
	for b := range bursts {
		for i := range perBurst {
			payload := fmt.Sprintf("order-%d-%02d", b, i)
			out, err := ka.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte(payload), PartitionKey: aws.String(fmt.Sprint("customer-", i%7))})
			if err != nil {
				t.Fatal(err)
			}
			perShard[aws.ToString(out.ShardId)]++
			all = append(all, payload)
		}
		if b < bursts-1 {
			time.Sleep(burstGap)
		}
	}
	waitFor(ctx, t, "the replicator to copy every record to B", func() bool {
		return d.Mapping(east1, stream).Stats().Records >= int64(len(all)) && count(ctx, t, w.KinesisClient(east2, east2)) >= len(all)
	})

	// The consumer in A processes part of the stream, then stops.
	limits := map[string]int{}
	for shard, n := range perShard {
		limits[shard] = n * processNumerator / processDenominator
	}
	if len(limits) != 2 {
		t.Fatalf("got records on shards %v, want both", perShard)
	}
	inA := newConsumer(limits)
	run(ctx, t, w, east1, app, inA, inA.reached)
	processed, _ := inA.snapshot()

	// Translate its lease table to B.
	var stdout, stderr bytes.Buffer
	st := operator.Main(ctx, []string{"translate", "--stream", stream, "--from", east1, "--to", east2,
		"--kcl-lease-table", app, "--write-lease-table", app + "-in-b", "--output", "json", "--endpoints", file}, operator.Env{
		Stdout: &stdout, Stderr: &stderr, Dir: t.TempDir(), Now: time.Now,
		Getenv: func(string) string { return "" },
	})
	if st != operator.ExitOK {
		t.Fatalf("translate: exit %d\n%s\n%s", st, stdout.String(), stderr.String())
	}
	var res translate.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	var promised int64
	for _, p := range res.Positions {
		if p.StartingPosition != translate.AfterSequenceNumber || p.MaxReread == nil {
			t.Fatalf("target shard %s: got %s, maxReread %v, want AFTER_SEQUENCE_NUMBER with a known re-read: %+v (warnings %q)",
				p.TargetShardID, p.StartingPosition, p.MaxReread, p, res.Warnings)
		}
		promised += *p.MaxReread
	}

	// The same application in B, on the written table.
	var unprocessed []string
	for _, p := range all {
		if processed[p] == 0 {
			unprocessed = append(unprocessed, p)
		}
	}
	inB := newConsumer(nil)
	// A minute is ample for 100 records; a start past a record the consumer
	// had not processed never sees it, and fails here.
	ctxB, cancelB := context.WithTimeout(ctx, time.Minute)
	defer cancelB()
	run(ctxB, t, w, east2, app+"-in-b", inB, func() bool {
		seen, _ := inB.snapshot()
		for _, p := range unprocessed {
			if seen[p] == 0 {
				return false
			}
		}
		return true
	})
	seenB, _ := inB.snapshot()
	var reread int64
	for p := range seenB {
		if processed[p] > 0 {
			reread++
		}
	}
	if reread > promised {
		t.Errorf("re-read %d records processed in A, want at most the %d the translation promised", reread, promised)
	}
	var starts []string
	for _, p := range res.Positions {
		starts = append(starts, fmt.Sprintf("%s %s …%s maxReread %d", p.TargetShardID, p.StartingPosition, p.SequenceNumber[len(p.SequenceNumber)-6:], *p.MaxReread))
	}
	t.Logf("processed %d of %d records in A; in B missed 0, re-read %d (promised at most %d); starts %q", len(processed), len(all), reread, promised, starts)
}

func waitFor(ctx context.Context, t *testing.T, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// count reads every record of the stream.
func count(ctx context.Context, t *testing.T, kin *kinesis.Client) int {
	t.Helper()
	shards, err := streamread.Shards(ctx, kin, stream)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sh := range shards {
		if _, err := streamread.Shard(ctx, kin, stream, aws.ToString(sh.ShardId), streamread.Window{}, func(streamread.Record) error {
			n++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
