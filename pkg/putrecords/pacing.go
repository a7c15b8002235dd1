package putrecords

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// ShardLister is the Kinesis method the writer paces with: it reads the
// target stream's open shards and their hash key ranges, so it knows which
// shard each record lands on.
type ShardLister interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

var _ ShardLister = (*kinesis.Client)(nil)

// The documented write limits of one shard (provisioned and on-demand
// alike); partition keys count towards the bytes.
const (
	shardRecordsPerSecond = 1000
	shardBytesPerSecond   = 1 << 20
)

// The estimate's rule. A shard's budget is what this writer sees it admit:
// other Lambda instances and the target Region's own producers write to it
// too, so the documented limit is where the estimate starts and its
// ceiling, never a promise.
const (
	// rateIncrease is the additive increase per second without a throttle,
	// as a fraction of the limit: after the deepest cut the estimate is back
	// at the limit in 10 s, and a probe past what the shard admits overshoots
	// by 5 % of the limit per second, a few refused entries per probe.
	rateIncrease = 0.05
	// maxRateCut bounds one decrease. A throttle cuts the estimate by the
	// share of this writer's entries the shard refused in that reply (3 of
	// 60 refused: ×0.95), at most by half. A writer alone on the shard sees
	// only small refusals from timing (its bucket and the shard's never tick
	// together), so it keeps ≥ 95 % of the limit instead of halving; a
	// writer that shares the shard sees the shard admit about its share of
	// what it sent, so one cut lands near that share instead of halving down
	// to it step by step.
	maxRateCut = 0.5
	// minRateFraction is the floor: the writer keeps probing at 5 % of the
	// limit even when others take all of the shard, so it notices when they
	// stop.
	minRateFraction = 0.05
	// budgetWindow is how much of its rate a shard's bucket holds: Kinesis
	// accounts its limits per second, so a burst of one second's worth is
	// what an idle shard takes at once.
	budgetWindow = time.Second
	// budgetQuantum is how much budget a round waits for before it sends:
	// 50 ms of the rate (50 records at the limit), so a writer at the limit
	// sends requests of dozens of records rather than one each, and a record
	// waits at most that much longer than the budget alone would make it.
	budgetQuantum = 50 * time.Millisecond
)

// How the shard map is kept: like the record size limit, read once a
// minute per stream.
const (
	shardMapTTL = time.Minute
	// shardMapPrefetchAfter is the age from which Writer.PrefetchShards
	// lists again: half the TTL, so a stream written to steadily has its
	// map renewed ahead of the Writes, which never wait for a listing
	// after the first.
	shardMapPrefetchAfter = shardMapTTL / 2
	// shardMapRecheck is the soonest re-read after a reply named a shard
	// the map did not predict (a reshard), so a stream that keeps changing
	// costs at most one ListShards per Write every few seconds.
	shardMapRecheck = 5 * time.Second
	// listTimeout bounds the listing: a target Region that hangs costs a
	// Write at most this much, once a minute, before it goes on unpaced.
	listTimeout = 2 * time.Second
)

// adjustRate is the estimate's rule for one dimension (records/s or
// bytes/s): a reply in which the shard refused `refused` of this writer's
// `sent` entries cuts rate by the refused share, at most by maxRateCut;
// otherwise rate grows by rateIncrease of limit per second of elapsed, up
// to limit. It never falls below minRateFraction of limit.
func adjustRate(rate, limit float64, elapsed time.Duration, sent, refused int) float64 {
	if refused > 0 && sent > 0 {
		admitted := float64(sent-min(refused, sent)) / float64(sent)
		rate *= max(admitted, 1-maxRateCut)
	} else if elapsed > 0 {
		rate += rateIncrease * limit * elapsed.Seconds()
	}
	return min(max(rate, minRateFraction*limit), limit)
}

// budget is a records and bytes pair: a rate per second, or tokens.
type budget struct{ records, bytes float64 }

// shardBudget is one target shard's estimate and token bucket. Its fields
// are guarded by the pacer's mutex.
type shardBudget struct {
	rate   budget    // the estimate, per second
	tokens budget    // what may be sent now; below zero after an oversize record
	at     time.Time // when tokens and rate were last brought up to date
	// cutSeq is the pacer's cut count at this shard's last cut: a reply to
	// a request that started before it says nothing new (the shard was
	// already found full), so it does not cut again.
	cutSeq uint64
}

func newShardBudget(limit budget, now time.Time) *shardBudget {
	// Full: an idle shard takes a second's worth at once.
	return &shardBudget{rate: limit, tokens: scaled(limit, budgetWindow), at: now}
}

func scaled(b budget, d time.Duration) budget {
	return budget{records: b.records * d.Seconds(), bytes: b.bytes * d.Seconds()}
}

// advance refills the bucket and grows the estimate for the time since the
// last update. A clock that went backwards changes nothing.
func (b *shardBudget) advance(now time.Time, limit budget) {
	dt := now.Sub(b.at)
	if dt <= 0 {
		return
	}
	refill := scaled(b.rate, dt)
	b.rate.records = adjustRate(b.rate.records, limit.records, dt, 0, 0)
	b.rate.bytes = adjustRate(b.rate.bytes, limit.bytes, dt, 0, 0)
	capacity := scaled(b.rate, budgetWindow)
	b.tokens.records = min(b.tokens.records+refill.records, capacity.records)
	b.tokens.bytes = min(b.tokens.bytes+refill.bytes, capacity.bytes)
	b.at = now
}

// tokenSlack absorbs float rounding, so that waiting exactly the computed
// time always buys the tokens waited for.
const tokenSlack = 1e-6

// cost is what one entry takes: a record of size bytes. An entry larger
// than a full bucket is let through when the bucket is full, into debt,
// or it could never go.
func (b *shardBudget) cost(size float64) budget {
	capacity := scaled(b.rate, budgetWindow)
	return budget{records: min(1, capacity.records), bytes: min(size, capacity.bytes)}
}

// take spends one entry's tokens if the bucket holds them.
func (b *shardBudget) take(size int) bool {
	need := b.cost(float64(size))
	if b.tokens.records+tokenSlack < need.records || b.tokens.bytes+tokenSlack < need.bytes {
		return false
	}
	b.tokens.records--
	b.tokens.bytes -= float64(size)
	return true
}

// until is how long until the bucket holds need (capped at a full bucket).
func (b *shardBudget) until(need budget) time.Duration {
	capacity := scaled(b.rate, budgetWindow)
	secs := max(
		(min(need.records, capacity.records)-b.tokens.records)/b.rate.records,
		(min(need.bytes, capacity.bytes)-b.tokens.bytes)/b.rate.bytes,
	)
	if secs <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}

// pacer holds the Writer's per-target-shard estimates and the shard maps
// they need, for the life of the Writer (a Lambda instance). Safe for
// concurrent use.
type pacer struct {
	lister ShardLister
	limit  budget
	now    func() time.Time

	mu      sync.Mutex
	streams map[string]*streamShards
	cuts    uint64 // cuts so far, all shards: orders cuts against request starts
}

// streamShards is what the pacer knows of one target stream.
type streamShards struct {
	shards  *shardMap // nil: never listed successfully (a failed listing keeps the last map)
	budgets map[string]*shardBudget
	readAt  time.Time // last listing attempt that counted (zero: none)
	stale   bool      // a reply named a shard the map did not predict
	loading chan struct{}
}

func newPacer(lister ShardLister, limit budget, now func() time.Time) *pacer {
	return &pacer{lister: lister, limit: limit, now: now, streams: make(map[string]*streamShards)}
}

// batchPace is one Write's view of the pacer: the shard of each of the
// batch's keys and those shards' budgets. Only the Write's goroutine uses
// it; the budgets themselves are shared under the pacer's mutex.
type batchPace struct {
	p        *pacer
	stream   string
	shards   *shardMap
	budgets  []*shardBudget // by shard index in shards
	keyShard []int32        // by key id; -1: no shard known, not paced

	deferred []bool // by key id: a record of it is waiting for budget this round

	// One reply's entries by shard index (observe → settle), the shards
	// it touched, and whether it named a shard the map did not predict.
	sent, refused []int
	replyShards   []int32
	stale         bool

	// One pass over the budgets (a request's take, a wait), by shard
	// index: which shards it brought up to date, and for a wait what
	// each shard's next records need.
	now     time.Time
	mark    []bool
	touched []int32
	needs   []budget
	quota   []int
}

// batch returns the pacing for a Write of keys to stream, or nil (write
// unpaced, as without a lister) with, when listing failed on this call,
// why.
func (p *pacer) batch(ctx context.Context, stream string, keys []string) (*batchPace, error) {
	shards, budgets, err := p.shardsOf(ctx, stream)
	if shards == nil {
		return nil, err
	}
	bp := &batchPace{p: p, stream: stream, shards: shards, budgets: budgets, keyShard: make([]int32, len(keys))}
	paced := false
	for k, key := range keys {
		bp.keyShard[k] = int32(shards.shardOf(key))
		paced = paced || bp.keyShard[k] >= 0
	}
	if !paced {
		return nil, err
	}
	n := len(shards.ids)
	bp.deferred = make([]bool, len(keys))
	bp.sent, bp.refused = make([]int, n), make([]int, n)
	bp.needs, bp.quota, bp.mark = make([]budget, n), make([]int, n), make([]bool, n)
	return bp, err
}

// shardsOf returns stream's shard map and the budgets of its shards, listing
// them when the cached map is older than shardMapTTL (or was contradicted,
// and is older than shardMapRecheck). One Write lists at a time per stream;
// the others use the map they have, or wait for the listing (or ctx). A
// failed listing keeps the last map, or none, for shardMapTTL.
func (p *pacer) shardsOf(ctx context.Context, stream string) (*shardMap, []*shardBudget, error) {
	p.mu.Lock()
	ss := p.streamOf(stream)
	for {
		if ss.fresh(p.now(), shardMapTTL) || (ss.loading != nil && ss.shards != nil) {
			shards, budgets := ss.snapshot()
			p.mu.Unlock()
			return shards, budgets, nil
		}
		if ss.loading == nil {
			break
		}
		loading := ss.loading
		p.mu.Unlock()
		select {
		case <-loading:
		case <-ctx.Done():
			return nil, nil, nil
		}
		p.mu.Lock()
	}
	err := p.load(ctx, stream, ss)
	defer p.mu.Unlock()
	shards, budgets := ss.snapshot()
	return shards, budgets, err
}

// prefetch lists stream's shards when the map is missing or older than
// shardMapPrefetchAfter (or contradicted, and older than shardMapRecheck),
// unless a listing is under way, and returns that listing's error.
func (p *pacer) prefetch(ctx context.Context, stream string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ss := p.streamOf(stream)
	if ss.loading != nil || ss.fresh(p.now(), shardMapPrefetchAfter) {
		return nil
	}
	return p.load(ctx, stream, ss)
}

// streamOf is what the pacer knows of stream; callers hold p.mu.
func (p *pacer) streamOf(stream string) *streamShards {
	ss := p.streams[stream]
	if ss == nil {
		ss = &streamShards{budgets: make(map[string]*shardBudget)}
		p.streams[stream] = ss
	}
	return ss
}

// fresh says whether the map may be used without listing again: read less
// than ttl ago and not contradicted since, or contradicted less than
// shardMapRecheck ago. Callers hold the pacer's mutex.
func (ss *streamShards) fresh(now time.Time, ttl time.Duration) bool {
	age := now.Sub(ss.readAt)
	return !ss.readAt.IsZero() && age < ttl && (!ss.stale || age < shardMapRecheck)
}

// load lists stream's shards into ss. Callers hold p.mu, with no listing of
// ss under way; it is released while the listing runs (Writes meanwhile use
// the map there is, or wait for this one) and held again on return.
func (p *pacer) load(ctx context.Context, stream string, ss *streamShards) error {
	loading := make(chan struct{})
	ss.loading = loading
	p.mu.Unlock()

	shards, err := p.list(ctx, stream)

	p.mu.Lock()
	ss.loading = nil
	close(loading)
	now := p.now()
	switch {
	case err == nil:
		ss.shards, ss.readAt, ss.stale = shards, now, false
		// Keep the estimates of shards still open; new shards (after a
		// reshard) start at the limit; closed ones are forgotten.
		budgets := make(map[string]*shardBudget, len(shards.ids))
		for _, id := range shards.ids {
			if b := ss.budgets[id]; b != nil {
				budgets[id] = b
			} else {
				budgets[id] = newShardBudget(p.limit, now)
			}
		}
		ss.budgets = budgets
	case ctx.Err() == nil:
		// The target's answer (or the listing's own timeout), not the
		// caller's: do not ask again for a while.
		ss.readAt, ss.stale = now, false
	}
	return err
}

// snapshot is the map and its budgets by shard index; callers hold p.mu.
func (ss *streamShards) snapshot() (*shardMap, []*shardBudget) {
	if ss.shards == nil {
		return nil, nil
	}
	budgets := make([]*shardBudget, len(ss.shards.ids))
	for i, id := range ss.shards.ids {
		budgets[i] = ss.budgets[id]
	}
	return ss.shards, budgets
}

// list reads stream's open shards.
func (p *pacer) list(ctx context.Context, stream string) (*shardMap, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	shards, err := streamread.OpenShards(ctx, p.lister, stream)
	if err != nil {
		return nil, fmt.Errorf("pace writes: %w", err)
	}
	m, err := newShardMap(shards)
	if err != nil {
		return nil, fmt.Errorf("pace writes to %s: %w", stream, err)
	}
	return m, nil
}

// markStale says a reply contradicted the map of stream: the next Write
// re-reads it (no sooner than shardMapRecheck after the last read).
func (p *pacer) markStale(stream string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ss := p.streams[stream]; ss != nil {
		ss.stale = true
	}
}

// throttledShard matches the shard a ProvisionedThroughputExceededException
// entry names ("Rate exceeded for shard shardId-000000000001 in stream …").
var throttledShard = regexp.MustCompile(`shardId-[0-9A-Za-z_.-]+`)

// touch brings shard s's budget up to date once per pass (beginTake…endTake,
// a wait, a settle) and lists it for the pass's end; callers hold p.mu.
func (bp *batchPace) touch(s int32, now time.Time) *shardBudget {
	b := bp.budgets[s]
	if !bp.mark[s] {
		bp.mark[s] = true
		bp.touched = append(bp.touched, s)
		b.advance(now, bp.p.limit)
	}
	return b
}

// untouch ends a pass; callers hold p.mu.
func (bp *batchPace) untouch() {
	for _, s := range bp.touched {
		bp.mark[s] = false
		bp.needs[s], bp.quota[s] = budget{}, 0
	}
	bp.touched = bp.touched[:0]
}

// beginTake starts building one request: the pacer stays locked until
// endTake, so the request's entries see one consistent budget. It returns
// the pacer's cut count, which the reply is judged against.
func (bp *batchPace) beginTake(now time.Time) uint64 {
	bp.p.mu.Lock()
	bp.now = now
	return bp.p.cuts
}

// take says whether the next entry, of key k and size bytes (partition key
// and data), may go in the request being built, and spends its budget if
// so. Once a key's entry is refused budget, the key's later entries are too
// for the rest of the round.
func (bp *batchPace) take(k int32, size int) bool {
	if bp.deferred[k] {
		return false
	}
	s := bp.keyShard[k]
	if s < 0 {
		return true
	}
	if !bp.touch(s, bp.now).take(size) {
		bp.deferred[k] = true
		return false
	}
	return true
}

// endTake ends building a request.
func (bp *batchPace) endTake() {
	bp.untouch()
	bp.p.mu.Unlock()
}

// observe counts one reply entry of key k for settle (throttled: its code
// is of the throttling class of the error-code table), and reports whether
// it is a throttle the pacing accounts for (its shard is paced), which
// needs no backoff: the cut budget spaces its retry.
func (bp *batchPace) observe(k int32, e *types.PutRecordsResultEntry, throttled bool) bool {
	s := bp.keyShard[k]
	if s < 0 {
		return false
	}
	if e.ErrorCode == nil {
		if id := aws.ToString(e.ShardId); id != "" && id != bp.shards.ids[s] {
			bp.stale = true
		}
		bp.count(s, false)
		return false
	}
	if !throttled {
		bp.count(s, false)
		return false
	}
	if named := throttledShard.FindString(aws.ToString(e.ErrorMessage)); named != "" && named != bp.shards.ids[s] {
		// The map is out of date (a reshard): charge the shard the
		// service named, if the map knows it, and re-read the map.
		bp.stale = true
		if j, ok := bp.shards.index[named]; ok {
			s = int32(j)
		}
	}
	bp.count(s, true)
	return true
}

// count adds an entry of shard s to the reply being observed. It needs no
// lock: the counters are the Write's own until settle.
func (bp *batchPace) count(s int32, refused bool) {
	if !bp.counted(s) {
		bp.replyShards = append(bp.replyShards, s)
	}
	bp.sent[s]++
	if refused {
		bp.refused[s]++
	}
}

func (bp *batchPace) counted(s int32) bool { return bp.sent[s] > 0 }

// settle feeds one reply's counts to the estimates: a shard that refused
// some of this writer's entries is cut by the refused share, unless it was
// already cut after the request started (cutSeq), and its bucket is
// emptied, because the shard is full now.
func (bp *batchPace) settle(cutSeq uint64, now time.Time) {
	p := bp.p
	p.mu.Lock()
	for _, s := range bp.replyShards {
		sent, refused := bp.sent[s], bp.refused[s]
		bp.sent[s], bp.refused[s] = 0, 0
		if refused == 0 {
			continue
		}
		b := bp.budgets[s]
		b.advance(now, p.limit)
		if cutSeq < b.cutSeq {
			continue
		}
		b.rate.records = adjustRate(b.rate.records, p.limit.records, 0, sent, refused)
		b.rate.bytes = adjustRate(b.rate.bytes, p.limit.bytes, 0, sent, refused)
		b.tokens.records = min(b.tokens.records, 0)
		b.tokens.bytes = min(b.tokens.bytes, 0)
		p.cuts++
		b.cutSeq = p.cuts
	}
	p.mu.Unlock()
	bp.replyShards = bp.replyShards[:0]
	if bp.stale {
		bp.stale = false
		p.markStale(bp.stream)
	}
}

// wait is how long until some shard of the candidates has budget for its
// next records, up to budgetQuantum of its rate; 0 if one has it now or a
// candidate's shard is not paced.
func (bp *batchPace) wait(now time.Time, cands []int, keyID []int32, records []Record) time.Duration {
	p := bp.p
	p.mu.Lock()
	defer p.mu.Unlock()
	defer bp.untouch()
	for _, i := range cands {
		s := bp.keyShard[keyID[i]]
		if s < 0 {
			return 0
		}
		first := !bp.mark[s]
		b := bp.touch(s, now)
		if first {
			bp.quota[s] = max(1, int(b.rate.records*budgetQuantum.Seconds()))
		}
		if n := &bp.needs[s]; n.records < float64(bp.quota[s]) {
			n.records++
			n.bytes += float64(len(records[i].PartitionKey) + len(records[i].Data))
		}
	}
	wait := time.Duration(math.MaxInt64)
	for _, s := range bp.touched {
		wait = min(wait, bp.budgets[s].until(bp.needs[s]))
	}
	if len(bp.touched) == 0 {
		return 0
	}
	return wait
}
