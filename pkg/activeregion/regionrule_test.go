package activeregion

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGetter serves a config that tests can change, and counts reads.
type fakeGetter struct {
	mu    sync.Mutex
	cfg   Config
	err   error
	reads int
	// onRead, if set, runs before each read returns; it may block.
	onRead func(n int)
}

func (g *fakeGetter) Get(ctx context.Context, stream string) (Config, error) {
	g.mu.Lock()
	g.reads++
	n, cfg, err, onRead := g.reads, g.cfg, g.err, g.onRead
	g.mu.Unlock()
	if onRead != nil {
		onRead(n)
	}
	if err != nil {
		return Config{}, err
	}
	if cfg.StreamName != stream {
		return Config{}, fmt.Errorf("stream %s: %w", stream, ErrNotFound)
	}
	return cfg, nil
}

func (g *fakeGetter) set(cfg Config) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cfg = cfg
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// activeFrom returns a config of stream "orders" whose history is the given
// (Region, since) pairs, epochs 1, 2, …
func activeFrom(entries ...any) Config {
	cfg := Config{StreamName: "orders"}
	for i := 0; i < len(entries); i += 2 {
		cfg.History = append(cfg.History, Epoch{Region: entries[i].(string), Since: entries[i+1].(time.Time), Epoch: int64(i/2 + 1)})
	}
	last := cfg.History[len(cfg.History)-1]
	cfg.ActiveRegion, cfg.ActiveSince, cfg.Epoch = last.Region, last.Since, last.Epoch
	return cfg
}

const (
	east1 = "us-east-1"
	east2 = "us-east-2"
)

func TestDecide(t *testing.T) {
	type step struct {
		now       time.Duration   // clock at the call, from t0
		config    *Config         // if set, the store's config changes before the call
		arrivals  []time.Duration // from t0
		want      []bool
		wantReads int // total reads after the call
		wantEpoch int64
	}
	east1Always := activeFrom(east1, at(-time.Hour))
	switchedToEast2 := activeFrom(east1, at(-time.Hour), east2, at(1500*time.Millisecond))
	tests := []struct {
		name   string
		region string
		ttl    time.Duration
		start  Config
		steps  []step
	}{
		{
			name: "fresh cache decides replication without reading again", region: east1, ttl: 5 * time.Second, start: east1Always,
			steps: []step{
				{now: 0, arrivals: []time.Duration{-time.Second}, want: []bool{true}, wantReads: 1, wantEpoch: 1},
				{now: 4 * time.Second, arrivals: []time.Duration{time.Second, 3 * time.Second}, want: []bool{true, true}, wantReads: 1, wantEpoch: 1},
			},
		},
		{
			name: "cache older than ttl is read again", region: east1, ttl: 5 * time.Second, start: east1Always,
			steps: []step{
				{now: 0, arrivals: []time.Duration{-time.Second}, want: []bool{true}, wantReads: 1, wantEpoch: 1},
				{now: 5 * time.Second, arrivals: []time.Duration{time.Second}, want: []bool{true}, wantReads: 1, wantEpoch: 1},
				{now: 5*time.Second + 1, arrivals: []time.Duration{time.Second}, want: []bool{true}, wantReads: 2, wantEpoch: 1},
			},
		},
		{
			name: "stale cache sees a switch away and skips", region: east1, ttl: 5 * time.Second, start: east1Always,
			steps: []step{
				{now: 0, arrivals: []time.Duration{-time.Second}, want: []bool{true}, wantReads: 1, wantEpoch: 1},
				{now: 10 * time.Second, config: &switchedToEast2, arrivals: []time.Duration{time.Second, 2 * time.Second}, want: []bool{true, false}, wantReads: 2, wantEpoch: 2},
			},
		},
		{
			name: "a skip of a record that arrived after the cached read forces one reread for the batch", region: east2, ttl: 5 * time.Second, start: east1Always,
			steps: []step{
				{now: 0, arrivals: []time.Duration{-time.Second}, want: []bool{false}, wantReads: 1, wantEpoch: 1},
				// The cache says east-1, but these records arrived after the
				// cached read: east-2 must look again before skipping them, and
				// finds it became active at 1.5s.
				{now: 3 * time.Second, config: &switchedToEast2,
					arrivals:  []time.Duration{-time.Second, time.Second, 2 * time.Second, 2500 * time.Millisecond},
					want:      []bool{false, false, true, true},
					wantReads: 2, wantEpoch: 2},
			},
		},
		{
			name: "a skip of a record that arrived before the cached read needs no reread", region: east2, ttl: 5 * time.Second, start: east1Always,
			steps: []step{
				{now: 0, arrivals: []time.Duration{-time.Second}, want: []bool{false}, wantReads: 1, wantEpoch: 1},
				{now: 3 * time.Second, config: &switchedToEast2, arrivals: []time.Duration{-2 * time.Second, 0}, want: []bool{false, false}, wantReads: 1, wantEpoch: 1},
			},
		},
		{
			name: "a replicate decision on a record after the cached read keeps the cache within ttl", region: east1, ttl: 5 * time.Second, start: east1Always,
			steps: []step{
				{now: 0, arrivals: nil, want: []bool{}, wantReads: 1, wantEpoch: 1},
				// This is the echo window ttl bounds: east-1 does not know yet.
				{now: 3 * time.Second, config: &switchedToEast2, arrivals: []time.Duration{2 * time.Second}, want: []bool{true}, wantReads: 1, wantEpoch: 1},
			},
		},
		{
			name: "decisions across a switch follow the history", region: east2, ttl: time.Minute, start: switchedToEast2,
			steps: []step{
				{now: 10 * time.Second,
					arrivals:  []time.Duration{0, 1499 * time.Millisecond, 1500 * time.Millisecond, 9 * time.Second},
					want:      []bool{false, false, true, true},
					wantReads: 1, wantEpoch: 2},
			},
		},
		{
			name: "ttl 0 rereads for every record that arrived after the cached read", region: east1, ttl: 0, start: east1Always,
			steps: []step{
				{now: 0, arrivals: []time.Duration{-time.Second}, want: []bool{true}, wantReads: 1, wantEpoch: 1},
				{now: 0, arrivals: []time.Duration{-time.Second, 0}, want: []bool{true, true}, wantReads: 1, wantEpoch: 1},
				// Where a 5s ttl would replicate this echo, ttl 0 reads and skips it.
				{now: 3 * time.Second, config: &switchedToEast2, arrivals: []time.Duration{2 * time.Second}, want: []bool{false}, wantReads: 2, wantEpoch: 2},
				{now: 3 * time.Second, arrivals: []time.Duration{time.Second, 3 * time.Second}, want: []bool{true, false}, wantReads: 2, wantEpoch: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getter := &fakeGetter{cfg: tt.start}
			clock := &fakeClock{}
			cache := NewRule(getter, nil, tt.ttl, clock.Now)
			for i, st := range tt.steps {
				clock.set(at(st.now))
				if st.config != nil {
					getter.set(*st.config)
				}
				arrivals := make([]time.Time, len(st.arrivals))
				for j, a := range st.arrivals {
					arrivals[j] = at(a)
				}
				v, err := cache.Decide(context.Background(), "orders", tt.region, arrivals)
				if err != nil {
					t.Fatalf("step %d: got error %v, want none", i, err)
				}
				got, cfg := replicates(v), v.Config
				if !slices.Equal(got, st.want) {
					t.Errorf("step %d: got decisions %v, want %v", i, got, st.want)
				}
				if reads := getter.readCount(); reads != st.wantReads {
					t.Errorf("step %d: got %d reads in total, want %d", i, reads, st.wantReads)
				}
				if cfg.Epoch != st.wantEpoch {
					t.Errorf("step %d: got decisions on epoch %d, want %d", i, cfg.Epoch, st.wantEpoch)
				}
			}
		})
	}
}

func TestDecideFailsClosed(t *testing.T) {
	east1Always := activeFrom(east1, at(-time.Hour))
	throttled := errors.New("ProvisionedThroughputExceededException")
	tests := []struct {
		name       string
		cached     bool // a first Decide succeeded before the failure
		now        time.Duration
		getErr     error
		stream     string
		arrivals   []time.Duration
		wantErr    error
		wantInText string
	}{
		{name: "read error on the first read", getErr: throttled, stream: "orders", arrivals: []time.Duration{-time.Second}, wantErr: throttled, wantInText: "stream orders"},
		{name: "stream without config item", stream: "payments", arrivals: []time.Duration{-time.Second}, wantErr: ErrNotFound, wantInText: "stream payments"},
		{name: "read error on a stale cache does not fall back to it", cached: true, now: time.Minute, getErr: throttled, stream: "orders", arrivals: []time.Duration{-time.Second}, wantErr: throttled, wantInText: "stream orders"},
		{name: "read error on the reread a skip needs", cached: true, now: time.Second, getErr: throttled, stream: "orders", arrivals: []time.Duration{-time.Second, 500 * time.Millisecond}, wantErr: throttled, wantInText: "stream orders"},
		{name: "skip of a record that arrived after the newest read", stream: "orders", arrivals: []time.Duration{-time.Second, time.Second}, wantErr: ErrArrivalAfterRead, wantInText: "stream orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getter := &fakeGetter{cfg: east1Always}
			clock := &fakeClock{now: t0}
			cache := NewRule(getter, nil, 5*time.Second, clock.Now)
			if tt.cached {
				if _, err := cache.Decide(context.Background(), tt.stream, east2, []time.Time{at(-time.Second)}); err != nil {
					t.Fatalf("priming the cache: %v", err)
				}
			}
			clock.set(at(tt.now))
			getter.mu.Lock()
			getter.err = tt.getErr
			getter.mu.Unlock()
			arrivals := make([]time.Time, len(tt.arrivals))
			for j, a := range tt.arrivals {
				arrivals[j] = at(a)
			}
			v, err := cache.Decide(context.Background(), tt.stream, east2, arrivals)
			got, cfg := v.Decisions, v.Config
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantInText) {
				t.Errorf("got error %q, want it to name %q", err, tt.wantInText)
			}
			if got != nil || cfg.StreamName != "" {
				t.Errorf("got decisions %v on config %+v, want none", got, cfg)
			}
		})
	}
}

// A slow read that started earlier must not replace a newer one that
// finished first, or the cache would claim an old config is newer than it is.
func TestDecideKeepsTheReadThatStartedLast(t *testing.T) {
	clock := &fakeClock{now: t0}
	older := activeFrom(east1, at(-time.Hour))
	newer := activeFrom(east1, at(-time.Hour), east2, at(time.Second))
	release := make(chan struct{})
	firstStarted := make(chan struct{})
	getter := &fakeGetter{cfg: older}
	getter.onRead = func(n int) {
		if n == 1 {
			close(firstStarted)
			<-release
		}
	}
	cache := NewRule(getter, nil, time.Minute, clock.Now)

	slow := make(chan error, 1)
	go func() {
		_, err := cache.Decide(context.Background(), "orders", east1, []time.Time{at(-time.Second)})
		slow <- err
	}()
	<-firstStarted
	clock.set(at(2 * time.Second))
	getter.set(newer)
	if _, err := cache.Decide(context.Background(), "orders", east1, []time.Time{at(-time.Second)}); err != nil {
		t.Fatalf("fast decide: %v", err)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("slow decide: %v", err)
	}

	readAt, ok := cachedReadAt(cache, "orders")
	if !ok || !readAt.Equal(at(2*time.Second)) {
		t.Errorf("got cached read at %s (present %t), want %s", readAt, ok, at(2*time.Second))
	}
	v, err := cache.Decide(context.Background(), "orders", east1, []time.Time{at(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg := v.Config; cfg.Epoch != 2 {
		t.Errorf("got cached epoch %d, want 2 from the read that started last", cfg.Epoch)
	}
	if reads := getter.readCount(); reads != 2 {
		t.Errorf("got %d reads, want 2", reads)
	}
}

// cachedReadAt is when the cached own-replica read of stream started: the
// time the rule's skip decisions and the TTL are measured from.
func cachedReadAt(c *Rule, stream string) (time.Time, bool) {
	entry, ok := c.lookup(ownReplica, stream)
	return entry.readAt, ok
}

func TestDecideCachesTheReadWithTheTimeItStarted(t *testing.T) {
	clock := &fakeClock{now: t0}
	cache := NewRule(&fakeGetter{cfg: activeFrom(east1, at(-time.Hour))}, nil, time.Minute, clock.Now)
	if _, ok := cachedReadAt(cache, "orders"); ok {
		t.Fatal("got a cached read before any Decide, want none")
	}
	if _, err := cache.Decide(context.Background(), "orders", east1, nil); err != nil {
		t.Fatal(err)
	}
	clock.set(at(time.Second))
	got, ok := cachedReadAt(cache, "orders")
	if !ok || !got.Equal(t0) {
		t.Errorf("got read at %s (present %t), want %s", got, ok, t0)
	}
}

// Shard pollers share one Rule; run with -race.
func TestDecideConcurrently(t *testing.T) {
	streams := []string{"orders", "payments", "audit"}
	switchTime := func(i int) time.Time { return at(-time.Duration(i+1) * time.Second) }
	getter := &multiGetter{cfgs: map[string]Config{}}
	for i, name := range streams {
		cfg := activeFrom(east1, at(-time.Hour), east2, switchTime(i))
		cfg.StreamName = name
		getter.cfgs[name] = cfg
	}
	clock := &fakeClock{now: t0}
	cache := NewRule(getter, nil, 50*time.Millisecond, clock.Now)

	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				if w == 0 {
					clock.set(at(time.Duration(r) * 10 * time.Millisecond))
				}
				stream := streams[(w+r)%len(streams)]
				switchAt := switchTime(slices.Index(streams, stream))
				arrivals := []time.Time{switchAt.Add(-time.Hour), switchAt.Add(-time.Millisecond), switchAt}
				v, err := cache.Decide(context.Background(), stream, east2, arrivals)
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
					return
				}
				got, cfg := replicates(v), v.Config
				if want := []bool{false, false, true}; !slices.Equal(got, want) || cfg.StreamName != stream {
					errs <- fmt.Errorf("worker %d round %d: got %v on %s, want %v on %s", w, r, got, cfg.StreamName, want, stream)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every round moves the clock by 10ms against a 50ms ttl, so reads stay
	// far below one per decision.
	if reads, decisions := getter.readCount(), workers*rounds; reads >= decisions/2 {
		t.Errorf("got %d reads for %d decisions, want the cache to absorb most", reads, decisions)
	}
}

// replicates reduces a verdict to "written or not", the shape of the tests
// of the own-replica rule.
func replicates(v Verdict) []bool {
	out := make([]bool, len(v.Decisions))
	for i, d := range v.Decisions {
		out[i] = d == Replicate
	}
	return out
}

type multiGetter struct {
	mu    sync.Mutex
	cfgs  map[string]Config
	reads int
}

func (g *multiGetter) Get(_ context.Context, stream string) (Config, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reads++
	cfg, ok := g.cfgs[stream]
	if !ok {
		return Config{}, ErrNotFound
	}
	return cfg, nil
}

func (g *multiGetter) readCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads
}

func TestDecideWritesOnlyUnderAFreshFence(t *testing.T) {
	east1Always := activeFrom(east1, at(-time.Hour))
	away := func(mode Mode) *Config {
		cfg := activeFrom(east1, at(-time.Hour), east2, at(time.Second))
		cfg.History[1].Mode = mode
		return &cfg
	}
	type step struct {
		now            time.Duration
		fenceConfig    *Config // the target's replica changes before the call
		arrivals       []time.Duration
		want           []Decision
		wantOwnReads   int
		wantFenceReads int
		wantWriteUntil time.Duration // from t0; -1: no writes
	}
	tests := []struct {
		name   string
		region string
		ttl    time.Duration
		steps  []step
	}{
		{
			name: "a switch away written in the target's replica stops writes at the next fence read", region: east1, ttl: 4 * time.Second,
			steps: []step{
				{now: 0, arrivals: []time.Duration{-time.Second}, want: []Decision{Replicate}, wantOwnReads: 1, wantFenceReads: 1, wantWriteUntil: 6 * time.Second},
				// Half a TTL: the fence is still trusted, this is the bounded window.
				{now: 2 * time.Second, fenceConfig: away(ModeRewind), arrivals: []time.Duration{1500 * time.Millisecond}, want: []Decision{Replicate}, wantOwnReads: 1, wantFenceReads: 1, wantWriteUntil: 6 * time.Second},
				{now: 2500 * time.Millisecond, arrivals: []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond}, want: []Decision{Supersede, Skip},
					// The skip of a record newer than the own read needs a newer own read.
					wantOwnReads: 2, wantFenceReads: 2, wantWriteUntil: -1},
			},
		},
		{
			name: "drain mode keeps writing the closed epoch under a fresh fence", region: east1, ttl: 4 * time.Second,
			steps: []step{
				{now: 3 * time.Second, fenceConfig: away(ModeDrain), arrivals: []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond}, want: []Decision{Replicate, Skip}, wantOwnReads: 1, wantFenceReads: 1, wantWriteUntil: 9 * time.Second},
			},
		},
		{
			name: "a standby that only skips never reads the fence", region: east2, ttl: 4 * time.Second,
			steps: []step{
				{now: 0, arrivals: []time.Duration{-2 * time.Second, -time.Second}, want: []Decision{Skip, Skip}, wantOwnReads: 1, wantWriteUntil: -1},
				{now: 10 * time.Second, arrivals: []time.Duration{5 * time.Second}, want: []Decision{Skip}, wantOwnReads: 2, wantWriteUntil: -1},
			},
		},
		{
			name: "ttl 0 reads the fence for every batch that writes", region: east1, ttl: 0,
			steps: []step{
				{now: 0, arrivals: []time.Duration{-time.Second}, want: []Decision{Replicate}, wantOwnReads: 1, wantFenceReads: 1, wantWriteUntil: WriteGrace},
				{now: time.Millisecond, arrivals: []time.Duration{-time.Second}, want: []Decision{Replicate}, wantOwnReads: 2, wantFenceReads: 2, wantWriteUntil: time.Millisecond + WriteGrace},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			own, fence := &fakeGetter{cfg: east1Always}, &fakeGetter{cfg: east1Always}
			clock := &fakeClock{}
			cache := NewRule(own, fence, tt.ttl, clock.Now)
			for i, st := range tt.steps {
				clock.set(at(st.now))
				if st.fenceConfig != nil {
					fence.set(*st.fenceConfig)
				}
				arrivals := make([]time.Time, len(st.arrivals))
				for j, a := range st.arrivals {
					arrivals[j] = at(a)
				}
				v, err := cache.Decide(context.Background(), "orders", tt.region, arrivals)
				if err != nil {
					t.Fatalf("step %d: got error %v, want none", i, err)
				}
				if !slices.Equal(v.Decisions, st.want) {
					t.Errorf("step %d: got decisions %v, want %v", i, v.Decisions, st.want)
				}
				if got := own.readCount(); got != st.wantOwnReads {
					t.Errorf("step %d: got %d own reads, want %d", i, got, st.wantOwnReads)
				}
				if got := fence.readCount(); got != st.wantFenceReads {
					t.Errorf("step %d: got %d fence reads, want %d", i, got, st.wantFenceReads)
				}
				wantUntil := time.Time{}
				if st.wantWriteUntil >= 0 {
					wantUntil = at(st.wantWriteUntil)
				}
				if !v.WriteUntil.Equal(wantUntil) {
					t.Errorf("step %d: got writes until %s, want %s", i, v.WriteUntil, wantUntil)
				}
			}
		})
	}
}

func TestDecideWithAFenceFailsClosed(t *testing.T) {
	east1Always := activeFrom(east1, at(-time.Hour))
	unreachable := errors.New("dial tcp: i/o timeout")
	own := &fakeGetter{cfg: east1Always}
	fence := &fakeGetter{cfg: east1Always, err: unreachable}
	cache := NewRule(own, fence, 5*time.Second, (&fakeClock{now: t0}).Now)
	if _, err := cache.Decide(context.Background(), "orders", east1, []time.Time{at(-time.Second)}); !errors.Is(err, unreachable) || !strings.Contains(err.Error(), "fence") {
		t.Errorf("a batch to write with the target's replica unreachable: got %v, want the fence error", err)
	}
	v, err := cache.Decide(context.Background(), "orders", east2, []time.Time{at(-time.Second)})
	if err != nil || !slices.Equal(v.Decisions, []Decision{Skip}) {
		t.Errorf("a standby's skip with the target's replica unreachable: got %v, %v; want [skip] and no error", v.Decisions, err)
	}
}

func TestDecideRefusesRecordsOlderThanTheKeptHistory(t *testing.T) {
	cfg := activeFrom(east1, at(-2*time.Hour), east2, at(-time.Hour))
	cfg.History = cfg.History[1:]
	getter := &fakeGetter{cfg: cfg}
	cache := NewRule(getter, getter, 5*time.Second, (&fakeClock{now: t0}).Now)
	_, err := cache.Decide(context.Background(), "orders", east2, []time.Time{at(-90 * time.Minute)})
	if !errors.Is(err, ErrUndecidable) || !strings.Contains(err.Error(), "HISTORY_RETENTION") {
		t.Errorf("got %v, want ErrUndecidable naming HISTORY_RETENTION", err)
	}
}

// The view of the newest config is the newest of either replica: a failback
// written in the own replica wins over a fence that has not seen it yet.
func TestDecideTakesTheNewerOfTheTwoReplicas(t *testing.T) {
	failedBack := activeFrom(east1, at(-3*time.Hour), east2, at(-2*time.Hour), east1, at(-time.Hour))
	beforeFailback := activeFrom(east1, at(-3*time.Hour), east2, at(-2*time.Hour))
	own, fence := &fakeGetter{cfg: failedBack}, &fakeGetter{cfg: beforeFailback}
	cache := NewRule(own, fence, 5*time.Second, (&fakeClock{now: t0}).Now)
	v, err := cache.Decide(context.Background(), "orders", east1, []time.Time{at(-time.Minute)})
	if err != nil || v.Config.Epoch != 3 || !slices.Equal(v.Decisions, []Decision{Replicate}) {
		t.Errorf("got %v on epoch %d, %v; want [replicate] on epoch 3", v.Decisions, v.Config.Epoch, err)
	}
}

// TestAFenceReadIsRenewedInTheBackgroundBeforeABatchWouldWaitForIt: past a
// quarter of the TTL a batch still writes on its fence read and renews it
// behind itself, so the batch after, past half the TTL from the first
// read, finds the renewed one and reads nothing itself.
func TestAFenceReadIsRenewedInTheBackgroundBeforeABatchWouldWaitForIt(t *testing.T) {
	east1Always := activeFrom(east1, at(-time.Hour))
	renewed := make(chan struct{}, 1)
	fence := &fakeGetter{cfg: east1Always, onRead: func(n int) {
		if n == 2 {
			renewed <- struct{}{}
		}
	}}
	clock := &fakeClock{now: t0}
	rule := NewRule(&fakeGetter{cfg: east1Always}, fence, 4*time.Second, clock.Now, WithFencePrefetch())
	decide := func() {
		t.Helper()
		v, err := rule.Decide(context.Background(), "orders", east1, []time.Time{at(-time.Second)})
		if err != nil || !slices.Equal(v.Decisions, []Decision{Replicate}) {
			t.Fatalf("got %v, %v; want [replicate]", v.Decisions, err)
		}
	}
	decide() // reads the fence: read 1
	clock.set(t0.Add(1500 * time.Millisecond))
	decide() // 1.5 s old, past a quarter of the TTL: renewed behind it
	select {
	case <-renewed:
	case <-time.After(10 * time.Second):
		t.Fatal("the fence read was not renewed in the background")
	}
	waitFor(t, func() bool { _, ok := rule.lookup(fenceReplica, "orders"); return ok && !rule.isRefreshing("orders") })
	clock.set(t0.Add(2500 * time.Millisecond))
	decide() // 2.5 s after read 1, past the 2 s refresh age; 1 s after read 2
	if got := fence.readCount(); got != 2 {
		t.Errorf("got %d fence reads, want 2: the batch past half the TTL should have found the renewed read", got)
	}
}

func (g *fakeGetter) readCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads
}

func (c *Rule) isRefreshing(stream string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshing[readKey{fenceReplica, stream}]
}

// waitFor polls cond, for what a background goroutine finishes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}
