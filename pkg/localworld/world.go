package localworld

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// The services Endpoint knows.
const (
	Kinesis  = "kinesis"
	DynamoDB = "dynamodb"
)

// DefaultGlobalTableDelay is about what DynamoDB global tables take to
// replicate a write between Regions of one continent.
const DefaultGlobalTableDelay = time.Second

// NoDelay, as Options.GlobalTableDelay, replicates each write as soon as the
// replication loop gets to it: still after the write's response, never inside
// it. (The zero value means DefaultGlobalTableDelay.)
const NoDelay time.Duration = -1

// Options configure Start. The zero value is a usable world.
type Options struct {
	// Regions names the two Regions; default {"us-east-1", "us-east-2"}.
	Regions [2]string
	// GlobalTableDelay is how long after its write each write reaches the
	// other Region's replica: zero means DefaultGlobalTableDelay, NoDelay (or
	// any negative value) none.
	GlobalTableDelay time.Duration
	// CrossRegionLatency is added to every request a client of one Region
	// makes to an endpoint of the other; default none.
	CrossRegionLatency time.Duration
	// ShardWriteLimit is the write limit of every open shard of both
	// Regions' streams: the zero value is Kinesis's (1,000 records/s and
	// 1 MiB/s), Unlimited none. SetShardWriteLimit changes it per Region.
	ShardWriteLimit ShardLimit
	// RecordCalls makes the proxies note every request they receive, for
	// Calls: what an audit of the functions' IAM policies needs. Off by
	// default, since it decodes every request body, a PutRecords' too.
	RecordCalls bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Regions == [2]string{} {
		o.Regions = [2]string{"us-east-1", "us-east-2"}
	}
	if o.Regions[0] == "" || o.Regions[1] == "" || o.Regions[0] == o.Regions[1] {
		return o, fmt.Errorf("localworld: got Regions %q, want two distinct names", o.Regions)
	}
	switch {
	case o.GlobalTableDelay == 0:
		o.GlobalTableDelay = DefaultGlobalTableDelay
	case o.GlobalTableDelay < 0:
		o.GlobalTableDelay = 0
	}
	if o.CrossRegionLatency < 0 {
		return o, fmt.Errorf("localworld: got CrossRegionLatency %v, want zero or more", o.CrossRegionLatency)
	}
	return o, nil
}

// World is two Regions on loopback, each with its own Kinesis and its own
// DynamoDB replica, every endpoint behind a proxy that can hang or slow it.
// Its methods are safe for concurrent use.
type World struct {
	regions  [2]string
	emu      *localaws.Emulators
	replicas [2]*replica
	// links[i] replicates replica i's writes into replica 1-i.
	links [2]*link
	// gates[i] is closed while Region i answers; Hang replaces it.
	gates [2]*gate
	// limiters and faulters shape each Region's Kinesis writes.
	limiters  [2]*writeLimiter
	faulters  [2]*faulter
	keys      keySchemas
	transport *http.Transport
	servers   []*http.Server
	urls      map[endpointKey]string
	// calls is nil unless Options.RecordCalls.
	calls *callRecorder

	mu           sync.Mutex
	delay        time.Duration
	crossLatency time.Duration
	errs         []error // replication failures, reported by WaitReplicated

	// ctx ends at Close, releasing every held request, sleep and replication.
	ctx    context.Context
	cancel context.CancelFunc
	// loops counts the goroutines Start starts (servers, replication);
	// handlers counts requests inside the proxies. Close waits for both.
	loops    sync.WaitGroup
	handlers tracker
	// labels mark every goroutine this world starts (and, as goroutines
	// inherit labels, those net/http starts for it), so a test can check
	// that none outlives Close.
	labels    context.Context
	closeOnce sync.Once
}

type endpointKey struct {
	service      string
	region, from int
}

var worldIDs atomic.Int64

// Start starts the four emulators (a kinesalite and a dynalite per Region)
// and the proxies in front of them, all on free loopback ports. ctx bounds
// the start only; the world runs until Close.
func Start(ctx context.Context, o Options) (*World, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	emu, err := localaws.StartN(ctx, 2, 2)
	if err != nil {
		return nil, fmt.Errorf("localworld: %w", err)
	}
	w := &World{
		regions:      o.Regions,
		emu:          emu,
		delay:        o.GlobalTableDelay,
		crossLatency: o.CrossRegionLatency,
		urls:         make(map[endpointKey]string),
		labels:       pprof.WithLabels(context.Background(), pprof.Labels("localworld", strconv.FormatInt(worldIDs.Add(1), 10))),
		transport: &http.Transport{
			Proxy:               nil, // loopback only, whatever HTTP_PROXY says
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true, // bodies pass through byte for byte
		},
	}
	if o.RecordCalls {
		w.calls = newCallRecorder()
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	for i := range 2 {
		w.replicas[i] = &replica{index: i, url: emu.DynamoDBs[i], lastWrite: make(map[string]map[string]stamp)}
		w.gates[i] = newGate()
		w.limiters[i] = newWriteLimiter(o.Regions[i], emu.Kinesis[i], o.ShardWriteLimit)
		w.faulters[i] = &faulter{}
	}
	for i := range 2 {
		w.links[i] = newLink(w.replicas[i], w.replicas[1-i])
	}

	type listening struct {
		srv *http.Server
		ln  net.Listener
	}
	var started []listening
	for region := range 2 {
		for _, service := range []string{Kinesis, DynamoDB} {
			upstream := emu.Kinesis[region]
			if service == DynamoDB {
				upstream = emu.DynamoDBs[region]
			}
			for from := range 2 {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					for _, s := range started {
						_ = s.ln.Close()
					}
					w.cancel()
					emu.Close()
					return nil, fmt.Errorf("localworld: listen for %s of %s: %w", service, o.Regions[region], err)
				}
				w.urls[endpointKey{service, region, from}] = "http://" + ln.Addr().String()
				srv := &http.Server{
					Handler:           &endpoint{w: w, service: service, region: region, cross: from != region, upstream: upstream},
					ReadHeaderTimeout: 10 * time.Second,
					ErrorLog:          log.New(io.Discard, "", 0),
				}
				started = append(started, listening{srv, ln})
			}
		}
	}
	for _, s := range started {
		w.servers = append(w.servers, s.srv)
		w.goLabelled(func() { _ = s.srv.Serve(s.ln) })
	}
	for _, l := range w.links {
		w.goLabelled(func() { w.replicate(l) })
	}
	return w, nil
}

func (w *World) goLabelled(f func()) {
	w.loops.Add(1)
	go func() {
		defer w.loops.Done()
		pprof.SetGoroutineLabels(w.labels)
		f()
	}()
}

// Close stops the proxies (held requests fail), the replication (what is
// still queued is lost) and the emulators, and returns once none of the
// world's goroutines is left. Calling it again does nothing.
func (w *World) Close() {
	w.closeOnce.Do(func() {
		w.cancel()
		for _, srv := range w.servers {
			_ = srv.Close()
		}
		w.handlers.closeAndWait()
		w.loops.Wait()
		w.transport.CloseIdleConnections()
		w.emu.Close()
	})
}

// Regions returns the two Regions' names.
func (w *World) Regions() [2]string { return w.regions }

func (w *World) index(region string) (int, bool) {
	for i, r := range w.regions {
		if r == region {
			return i, true
		}
	}
	return 0, false
}

// Endpoint returns the URL a client running in Region from uses to reach
// service (Kinesis or DynamoDB) of Region region, or "" when a name is
// unknown. Every URL of a Region goes through that Region's proxy, so Hang
// holds them all; only those with from != region add CrossRegionLatency.
func (w *World) Endpoint(service, region, from string) string {
	r, ok1 := w.index(region)
	f, ok2 := w.index(from)
	if !ok1 || !ok2 {
		return ""
	}
	return w.urls[endpointKey{service, r, f}]
}

// KinesisClient returns a Kinesis client of Region region as a caller in
// Region from reaches it.
func (w *World) KinesisClient(region, from string, optFns ...func(*kinesis.Options)) *kinesis.Client {
	return localaws.KinesisClient(region, w.Endpoint(Kinesis, region, from), optFns...)
}

// DynamoDBClient returns a client of Region region's DynamoDB replica as a
// caller in Region from reaches it.
func (w *World) DynamoDBClient(region, from string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return localaws.DynamoDBClient(region, w.Endpoint(DynamoDB, region, from), optFns...)
}

// CreateTables creates the checkpoint and config tables (the key schemas of
// localaws.CreateTables) in both replicas, as the CDK app's global tables
// have. It talks to the emulators directly, so it works while a Region hangs.
func (w *World) CreateTables(ctx context.Context, checkpointTable, configTable string) error {
	for i, rep := range w.replicas {
		if err := localaws.CreateTables(ctx, localaws.DynamoDBClient(w.regions[i], rep.url), checkpointTable, configTable); err != nil {
			return fmt.Errorf("localworld: tables in %s: %w", w.regions[i], err)
		}
	}
	return nil
}

// CreateStream creates the stream, with shards shards, in both Regions'
// Kinesis and waits until both are ACTIVE. Like CreateTables it bypasses the
// proxies.
func (w *World) CreateStream(ctx context.Context, stream string, shards int32) error {
	for i, url := range w.emu.Kinesis {
		if err := localaws.CreateStream(ctx, localaws.KinesisClient(w.regions[i], url), stream, shards); err != nil {
			return fmt.Errorf("localworld: stream in %s: %w", w.regions[i], err)
		}
	}
	return nil
}

// SetGlobalTableDelay sets the replication delay of the writes made from now
// on (a negative d means none); writes already queued keep theirs.
func (w *World) SetGlobalTableDelay(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.delay = max(d, 0)
}

// SetCrossRegionLatency sets the latency added to cross-Region requests that
// arrive from now on (a negative d means none).
func (w *World) SetCrossRegionLatency(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.crossLatency = max(d, 0)
}

func (w *World) globalTableDelay() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.delay
}

func (w *World) crossRegionLatency() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.crossLatency
}

// PauseReplication stops writes made in Region from from reaching Region to,
// as a broken link between the replicas would: they queue, in order, and
// Resume delivers them. It returns once no replicated write is being applied
// on that link. Unknown or equal names do nothing.
func (w *World) PauseReplication(from, to string) {
	if l := w.link(from, to); l != nil {
		l.setPaused(true)
	}
}

// ResumeReplication lets queued writes from Region from flow into Region to
// again, each still no earlier than its own delay after its write.
func (w *World) ResumeReplication(from, to string) {
	if l := w.link(from, to); l != nil {
		l.setPaused(false)
	}
}

func (w *World) link(from, to string) *link {
	f, ok1 := w.index(from)
	t, ok2 := w.index(to)
	if !ok1 || !ok2 || f == t {
		return nil
	}
	return w.links[f]
}

// Hang makes every endpoint of region behave as an impaired Region does:
// connections are accepted and requests read, but nothing is answered until
// Heal; a client that gives up meanwhile has its request dropped, never
// applied. Replication into the Region waits too. It returns once no
// replicated write is being applied into the Region.
func (w *World) Hang(region string) {
	i, ok := w.index(region)
	if !ok {
		return
	}
	w.gates[i].hang()
	w.links[1-i].waitIdle()
}

// Heal lets region answer again: held requests whose clients still wait are
// forwarded, and replication into it resumes.
func (w *World) Heal(region string) {
	if i, ok := w.index(region); ok {
		w.gates[i].heal()
	}
}

// Endpoints describes the world for a process that cannot share its memory
// (a CLI's --endpoints file, pkg/endpoints): each Region's URLs as callers
// in the Region reach them, and under From those for callers in the other
// Region. The world serves no Lambda: Lambda is left empty for whoever runs
// the functions (pkg/localdeploy) to fill in.
func (w *World) Endpoints() endpoints.File {
	f := make(endpoints.File, 2)
	for i, region := range w.regions {
		other := w.regions[1-i]
		f[region] = endpoints.Region{
			Kinesis:  w.Endpoint(Kinesis, region, region),
			DynamoDB: w.Endpoint(DynamoDB, region, region),
			From: map[string]endpoints.Service{other: {
				Kinesis:  w.Endpoint(Kinesis, region, other),
				DynamoDB: w.Endpoint(DynamoDB, region, other),
			}},
		}
	}
	return f
}

// errClosed is what calls waiting on a closed world get.
var errClosed = errors.New("localworld: closed")

func (w *World) recordFailure(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 10 {
		w.errs = append(w.errs, err)
	}
}

func (w *World) failures() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.errs...)
}

// SetShardWriteLimit sets the write limit of every open shard of region's
// streams (the zero ShardLimit is Kinesis's, Unlimited none) and refills
// every bucket, so a backlog written unthrottled leaves no debt. Unknown
// names do nothing.
func (w *World) SetShardWriteLimit(region string, l ShardLimit) {
	if i, ok := w.index(region); ok {
		w.limiters[i].setLimit(l)
	}
}

// SetKinesisFaults sets the faults region's Kinesis injects into PutRecords
// and PutRecord requests from now on, restarting the generator at f.Seed;
// the zero Faults turns them off.
func (w *World) SetKinesisFaults(region string, f Faults) error {
	i, ok := w.index(region)
	if !ok {
		return fmt.Errorf("localworld: faults: %q is not a Region of the world %q", region, w.regions)
	}
	if err := f.validate(); err != nil {
		return err
	}
	w.faulters[i].set(f)
	return nil
}

// DynamoDBWrites returns how many item writes (PutItem, UpdateItem,
// DeleteItem, BatchWriteItem requests) region's clients made so far that
// succeeded: what that Region's table writes bill, before the replicated
// copies; 0 for an unknown name.
func (w *World) DynamoDBWrites(region string) int64 {
	i, ok := w.index(region)
	if !ok {
		return 0
	}
	rep := w.replicas[i]
	rep.mu.Lock()
	defer rep.mu.Unlock()
	return rep.writes
}

// KinesisStats returns what region's Kinesis proxy did with writes so far;
// the zero value for an unknown name.
func (w *World) KinesisStats(region string) KinesisStats {
	if i, ok := w.index(region); ok {
		return w.limiters[i].snapshot()
	}
	return KinesisStats{}
}
