package putrecords

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

func TestAdjustRateIncreasesAdditivelyAndCutsByTheRefusedShare(t *testing.T) {
	const limit = 1000.0
	tests := []struct {
		name          string
		rate          float64
		elapsed       time.Duration
		sent, refused int
		want          float64
	}{
		{name: "no throttle: grows 5 % of the limit per second", rate: 500, elapsed: time.Second, want: 550},
		{name: "growth is proportional to the time elapsed", rate: 500, elapsed: 100 * time.Millisecond, want: 505},
		{name: "growth stops at the limit", rate: 990, elapsed: time.Second, want: limit},
		{name: "at the limit it stays there", rate: limit, elapsed: time.Hour, want: limit},
		{name: "no time, no throttle: unchanged", rate: 700, want: 700},
		{name: "a throttle cuts by the share refused", rate: 1000, sent: 100, refused: 10, want: 900},
		{name: "a throttle does not also grow", rate: 800, elapsed: 2 * time.Second, sent: 10, refused: 1, want: 720},
		{name: "a cut is at most half", rate: 1000, sent: 10, refused: 9, want: 500},
		{name: "everything refused: half", rate: 600, sent: 4, refused: 4, want: 300},
		{name: "more refused than sent counts as everything", rate: 600, sent: 4, refused: 9, want: 300},
		{name: "never below 5 % of the limit", rate: 60, sent: 1, refused: 1, want: 50},
		{name: "a refusal without entries sent changes nothing", rate: 600, refused: 3, want: 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := adjustRate(tt.rate, limit, tt.elapsed, tt.sent, tt.refused)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("adjustRate(%v, %v, %v, %d, %d) = %v, want %v", tt.rate, limit, tt.elapsed, tt.sent, tt.refused, got, tt.want)
			}
		})
	}
}

func TestShardBudgetRefillsTakesAndWaits(t *testing.T) {
	limit := budget{records: 1000, bytes: 1 << 20}
	t0 := time.Unix(0, 0)
	b := newShardBudget(limit, t0)
	for i := range 1000 {
		if !b.take(100) {
			t.Fatalf("entry %d of a full bucket's 1,000: refused, want taken", i)
		}
	}
	if b.take(100) {
		t.Fatal("entry 1,001 of a second's bucket: taken, want refused")
	}
	if got, want := b.until(budget{records: 50, bytes: 5000}), 50*time.Millisecond; got != want {
		t.Errorf("got wait %v for 50 records at 1,000/s, want %v", got, want)
	}
	b.advance(t0.Add(50*time.Millisecond), limit)
	for i := range 50 {
		if !b.take(100) {
			t.Fatalf("entry %d after 50 ms: refused, want taken", i)
		}
	}
	if b.take(100) {
		t.Fatal("entry 51 after 50 ms: taken, want refused")
	}

	// A record larger than a full bucket goes when the bucket is full, into
	// debt, or it would never go.
	big := newShardBudget(limit, t0)
	if !big.take(3 << 20) {
		t.Fatal("a 3 MiB record on a full 1 MiB/s bucket: refused, want taken into debt")
	}
	if got, want := big.until(budget{records: 1, bytes: 10}), 2*time.Second; got < want {
		t.Errorf("got wait %v after 2 MiB of debt, want at least %v", got, want)
	}
}

// drainRun is what a drain through the fake cost.
type drainRun struct {
	records, entries, throttled, requests, resent int
	elapsed, budgetWait                           time.Duration
	efficiency                                    float64 // busiest shard's delivered rate ÷ what the fake admits
}

func (d drainRun) attempts() float64 { return float64(d.entries) / float64(d.records) }

type drainCase struct {
	ordering      Ordering
	shards        int
	keys          int
	records       int
	batch         int // records per Write, as the event source mapping's batch size
	dataBytes     int
	fakeRecords   float64          // what each fake shard admits per second
	writerRecords int              // what the writer is told a shard admits (0: default)
	delay         [2]time.Duration // each request reaches the fake's buckets this much later, uniform in [min, max]
	paced         bool
}

// drain writes c.records in batches of c.batch back to back, as a backlog
// drains, against the fake's per-shard limits on an injected clock, and
// checks every batch is written with per-key order kept.
func drain(t *testing.T, c drainCase) drainRun {
	t.Helper()
	clock := newFakeClock()
	f := newFake()
	f.shards = evenShards(c.shards)
	f.limit = &fakeLimit{records: c.fakeRecords, bytes: 1 << 20, now: clock.Now}
	if c.delay[1] > 0 {
		// Called under the fake's lock, once per entry: draw per call.
		netRng := rand.New(rand.NewPCG(9, 7))
		calls, delay := -1, time.Duration(0)
		f.limit.now = func() time.Time {
			if n := len(f.calls); n != calls {
				calls = n
				delay = c.delay[0] + time.Duration(netRng.Int64N(int64(c.delay[1]-c.delay[0])+1))
			}
			return clock.Now().Add(delay)
		}
	}
	rng := rand.New(rand.NewPCG(3, 5))
	opts := Options{
		Ordering:              c.ordering,
		Sleep:                 clock.Sleep,
		Now:                   clock.Now,
		Jitter:                func(d time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(d) + 1)) },
		ShardRecordsPerSecond: c.writerRecords,
	}
	if c.paced {
		opts.Shards = f
	}
	w := NewWriter(f, opts)
	var run drainRun
	perShard := map[string]int{}
	start := clock.Now()
	for lo := 0; lo < c.records; lo += c.batch {
		recs := make([]Record, min(c.batch, c.records-lo))
		for i := range recs {
			n := lo + i
			key := fmt.Sprintf("key-%d", n%c.keys)
			data := fmt.Appendf(nil, "r%d-", n)
			data = append(data, strings.Repeat("x", max(0, c.dataBytes-len(data)))...)
			recs[i] = Record{SequenceNumber: fmt.Sprint(n), PartitionKey: key, Data: data}
			f.mu.Lock()
			perShard[f.shardOf(key)]++
			f.mu.Unlock()
		}
		res := w.Write(context.Background(), Batch{Stream: "s1", Records: recs})
		if prefix(res) != len(recs) {
			t.Fatalf("batch at %d: got prefix %d of %d (first failure %v)", lo, prefix(res), len(recs), res.Outcomes[prefix(res)].Err)
		}
		if res.PacingErr != nil {
			t.Fatalf("batch at %d: got pacing error %v, want none", lo, res.PacingErr)
		}
		checkLastCopiesInOrder(t, f, recs, res)
		run.requests += res.Stats.Requests
		run.resent += res.Stats.Resent
		run.budgetWait += res.Stats.BudgetWait
		if res.Stats.Throttled > 0 && run.throttled == 0 && f.throttled == 0 {
			t.Fatalf("batch at %d: got %d throttled in stats, none from the fake", lo, res.Stats.Throttled)
		}
	}
	run.elapsed = clock.Now().Sub(start)
	run.records = c.records
	f.mu.Lock()
	run.entries, run.throttled = f.entries, f.throttled
	f.mu.Unlock()
	busiest := 0
	for _, n := range perShard {
		busiest = max(busiest, n)
	}
	admits := min(c.fakeRecords, float64(1<<20)/float64(c.dataBytes+len("key-0000")))
	run.efficiency = float64(busiest) / run.elapsed.Seconds() / admits
	return run
}

func TestPacedDrainAtTheLimitCostsFewAttemptsPerRecord(t *testing.T) {
	tests := []struct {
		name string
		c    drainCase
	}{
		{
			name: "one shard, 200 keys, 100-byte records",
			c:    drainCase{shards: 1, keys: 200, records: 20000, batch: 2000, dataBytes: 100, fakeRecords: 1000},
		},
		{
			name: "one shard, 1,100-byte records: bytes bind first",
			c:    drainCase{shards: 1, keys: 200, records: 20000, batch: 2000, dataBytes: 1100, fakeRecords: 1000},
		},
		{
			name: "four shards, 400 keys, batches of 10,000",
			c:    drainCase{shards: 4, keys: 400, records: 40000, batch: 10000, dataBytes: 100, fakeRecords: 1000},
		},
		{
			// Each request reaches the shard 20 to 40 ms after it was
			// paced, so the shard's bucket and the writer's do not tick
			// together.
			name: "one shard behind a network that delays each request 20-40 ms",
			c:    drainCase{shards: 1, keys: 200, records: 20000, batch: 2000, dataBytes: 100, fakeRecords: 1000, delay: [2]time.Duration{20 * time.Millisecond, 40 * time.Millisecond}},
		},
		{
			name: "one hot key",
			c:    drainCase{shards: 2, keys: 1, records: 10000, batch: 1000, dataBytes: 100, fakeRecords: 1000},
		},
		{
			name: "strict ordering, 200 keys",
			c:    drainCase{ordering: OrderingStrict, shards: 1, keys: 200, records: 10000, batch: 2000, dataBytes: 100, fakeRecords: 1000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unpaced := drain(t, tt.c)
			tt.c.paced = true
			paced := drain(t, tt.c)
			t.Logf("attempts/record unpaced %.2f → paced %.3f; efficiency %.3f → %.3f; throttled %d → %d; resent %d → %d; requests %d → %d; waited for budget %v",
				unpaced.attempts(), paced.attempts(), unpaced.efficiency, paced.efficiency,
				unpaced.throttled, paced.throttled, unpaced.resent, paced.resent, unpaced.requests, paced.requests, paced.budgetWait)
			if got := paced.attempts(); got > 1.10 {
				t.Errorf("got %.3f attempts per record, want at most 1.10", got)
			}
			// The injected clock, not the wall: deterministic.
			if paced.efficiency < 0.98 {
				t.Errorf("got efficiency %.3f of the shard's limit, want at least 0.98", paced.efficiency)
			}
			if paced.budgetWait == 0 {
				t.Error("got no time waiting for budget, want the backlog paced")
			}
		})
	}
}

func TestPacedDrainOnAShardSharedWithOtherWritersConverges(t *testing.T) {
	// The shard admits 600 records/s to this writer (others take the rest);
	// the writer starts believing the documented 1,000.
	c := drainCase{shards: 1, keys: 200, records: 20000, batch: 2000, dataBytes: 100, fakeRecords: 600, paced: true}
	paced := drain(t, c)
	c.paced = false
	unpaced := drain(t, c)
	t.Logf("attempts/record unpaced %.2f → paced %.3f; efficiency %.3f → %.3f; throttled %d → %d; resent %d → %d",
		unpaced.attempts(), paced.attempts(), unpaced.efficiency, paced.efficiency, unpaced.throttled, paced.throttled, unpaced.resent, paced.resent)
	if got := paced.attempts(); got > 1.10 {
		t.Errorf("got %.3f attempts per record, want at most 1.10", got)
	}
	if paced.efficiency < 0.90 {
		t.Errorf("got efficiency %.3f of what the shard admits this writer, want at least 0.90", paced.efficiency)
	}
}

func TestPacedSteadyLoadBelowTheLimitIsNeverThrottled(t *testing.T) {
	// Batches arrive every 4 s (a batching window), each load × 4 s of the
	// limit: bursts larger than a shard's one-second bucket, which an
	// unpaced writer overruns.
	for _, load := range []float64{0.5, 0.8, 0.94} {
		t.Run(fmt.Sprintf("%.0f%%", load*100), func(t *testing.T) {
			run := func(paced bool) (throttled int, waited time.Duration) {
				clock := newFakeClock()
				f := newFake()
				f.shards = evenShards(1)
				f.limit = &fakeLimit{records: 1000, bytes: 1 << 20, now: clock.Now}
				opts := Options{Sleep: clock.Sleep, Now: clock.Now, Jitter: identityJitter}
				if paced {
					opts.Shards = f
				}
				w := NewWriter(f, opts)
				per := int(load * 4000)
				start := clock.Now()
				for j := range 10 {
					if d := start.Add(time.Duration(j) * 4 * time.Second).Sub(clock.Now()); d > 0 {
						clock.advance(d)
					}
					keys := make([]string, per)
					for i := range keys {
						keys[i] = fmt.Sprintf("key-%d", i%50)
					}
					recs := records(keys...)
					for i := range recs {
						recs[i].Data = fmt.Appendf(nil, "b%d-r%d", j, i)
					}
					res := w.Write(context.Background(), Batch{Stream: "s1", Records: recs})
					if prefix(res) != per {
						t.Fatalf("batch %d: got prefix %d, want %d", j, prefix(res), per)
					}
					checkLastCopiesInOrder(t, f, recs, res)
					throttled += res.Stats.Throttled
					waited += res.Stats.BudgetWait
				}
				return throttled, waited
			}
			if unpaced, _ := run(false); unpaced == 0 {
				t.Fatal("precondition: got no throttling unpaced, want bursts over the shard's bucket")
			}
			throttled, waited := run(true)
			if throttled != 0 {
				t.Errorf("got %d throttled entries paced, want 0", throttled)
			}
			if waited == 0 {
				t.Error("got no budget wait, want the bursts spread")
			}
		})
	}
}

func TestWriteWithoutUsableShardListingBehavesAsUnpaced(t *testing.T) {
	two := evenShards(2)
	tests := []struct {
		name    string
		lister  bool
		listErr error
		shards  []fakeShard
		wantErr bool
	}{
		{name: "no lister"},
		{name: "listing denied", lister: true, listErr: &smithy.GenericAPIError{Code: "AccessDeniedException"}, wantErr: true},
		{name: "listing times out", lister: true, listErr: context.DeadlineExceeded, wantErr: true},
		{name: "no open shard listed", lister: true, shards: []fakeShard{{id: "old", start: "0", end: maxHashKey, closed: true}}, wantErr: true},
		{name: "overlapping shards listed", lister: true, shards: []fakeShard{{id: "x", start: "0", end: two[1].start}, two[1]}, wantErr: true},
		{name: "no key's hash in a listed range", lister: true, shards: []fakeShard{{id: "x", start: "1", end: "2"}}},
	}
	// Keys A B A B A C; r0 throttled: the unpaced call shapes of
	// TestWritePartialFailures, with the backoff it waits.
	wantCalls := [][]string{{"r0", "r1", "r2", "r3", "r4", "r5"}, {"r0", "r2", "r4"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			f := newFake()
			f.entryCodes = map[string][]string{"r0": {throttled}}
			f.listErr, f.shards = tt.listErr, tt.shards
			opts := Options{Sleep: clock.Sleep, Now: clock.Now, Jitter: identityJitter}
			if tt.lister {
				opts.Shards = f
			}
			w := NewWriter(f, opts)
			res := w.Write(context.Background(), Batch{Stream: "s1", Records: records("A", "B", "A", "B", "A", "C")})
			if got := f.callData(); !reflect.DeepEqual(got, wantCalls) {
				t.Fatalf("got calls %v, want %v", got, wantCalls)
			}
			want := Stats{Requests: 2, Written: 6, WrittenBytes: 12, Resent: 2, Throttled: 1}
			if res.Stats != want || prefix(res) != 6 {
				t.Errorf("got prefix %d stats %+v, want 6 and %+v", prefix(res), res.Stats, want)
			}
			if clock.slept != 50*time.Millisecond {
				t.Errorf("got %v slept, want the 50ms first backoff", clock.slept)
			}
			if (res.PacingErr != nil) != tt.wantErr {
				t.Errorf("got pacing error %v, want error %v", res.PacingErr, tt.wantErr)
			}
			// The listing is not retried on every batch.
			lists := len(f.lists)
			clock.advance(30 * time.Second)
			f.entryCodes = nil
			res = w.Write(context.Background(), Batch{Stream: "s1", Records: withData(records("A", "B"), 3)})
			if prefix(res) != 2 || res.PacingErr != nil {
				t.Errorf("second batch: got prefix %d pacing error %v, want 2 and none", prefix(res), res.PacingErr)
			}
			if len(f.lists) != lists {
				t.Errorf("got %d listings after a second batch 30 s later, want %d", len(f.lists), lists)
			}
		})
	}
}

func TestWriterListsShardsOnceAMinuteAndAfterAReshard(t *testing.T) {
	clock := newFakeClock()
	f := newFake()
	f.shards = evenShards(2)
	f.listPage = 1 // two pages per listing
	w := NewWriter(f, Options{Shards: f, Sleep: clock.Sleep, Now: clock.Now})
	n := 0
	write := func(after time.Duration) {
		t.Helper()
		clock.advance(after)
		recs := records("a", "b", "key-0", "key-1")
		for i := range recs {
			n++
			recs[i].Data = fmt.Appendf(nil, "w%d", n)
		}
		if res := w.Write(context.Background(), Batch{Stream: "s1", Records: recs}); prefix(res) != len(recs) || res.PacingErr != nil {
			t.Fatalf("got prefix %d pacing error %v, want %d and none", prefix(res), res.PacingErr, len(recs))
		}
	}
	steps := []struct {
		name      string
		after     time.Duration
		reshard   bool
		wantLists int
	}{
		{name: "first batch lists (two pages)", wantLists: 2},
		{name: "30 s later: cached", after: 30 * time.Second, wantLists: 2},
		{name: "a minute after the listing: listed again", after: 31 * time.Second, wantLists: 4},
		{name: "after a reshard the replies name other shards", after: time.Second, reshard: true, wantLists: 4},
		{name: "re-read no sooner than 5 s after the last listing", after: time.Second, wantLists: 4},
		{name: "then re-read (four shards now, a page each)", after: 4 * time.Second, wantLists: 8},
		{name: "and cached again", after: time.Second, wantLists: 8},
	}
	for _, s := range steps {
		if s.reshard {
			// Shard 1 splits: closed, two children over its range.
			mid := "255211775190703847597530955573826158592" // 3 × 2^126
			f.mu.Lock()
			f.shards = []fakeShard{
				f.shards[0],
				{id: f.shards[1].id, start: f.shards[1].start, end: f.shards[1].end, closed: true},
				{id: "shardId-000000000002", start: f.shards[1].start, end: mid},
				{id: "shardId-000000000003", start: "255211775190703847597530955573826158593", end: maxHashKey},
			}
			f.mu.Unlock()
		}
		write(s.after)
		if got := len(f.lists); got != s.wantLists {
			t.Fatalf("%s: got %d ListShards calls, want %d", s.name, got, s.wantLists)
		}
	}
	first, next := f.lists[0], f.lists[1]
	if aws.ToString(first.StreamName) != "s1" || first.ShardFilter == nil || first.ShardFilter.Type != "AT_LATEST" || first.NextToken != nil {
		t.Errorf("got first page input %+v, want stream s1, filter AT_LATEST, no token", first)
	}
	if next.StreamName != nil || next.ShardFilter != nil || next.NextToken == nil {
		t.Errorf("got next page input %+v, want only the next token", next)
	}
	w.pacer.mu.Lock()
	defer w.pacer.mu.Unlock()
	var ids []string
	for id := range w.pacer.streams["s1"].budgets {
		ids = append(ids, id)
	}
	if len(ids) != 3 {
		t.Errorf("got budgets for shards %v, want the three open ones", ids)
	}
}

func TestPacedWriteRespectsTheDeadlineWhileWaitingForBudget(t *testing.T) {
	tests := []struct {
		name      string
		lease     time.Duration
		cancelAt  time.Duration // cancel ctx once the clock reaches this (0: never)
		wantErr   error
		wantFirst int // records written before the stop, at 1,000/s from a full bucket
	}{
		{name: "a budget wait past the lease's end stops the write", lease: 1500 * time.Millisecond, wantErr: ErrDeadline, wantFirst: 2500},
		{name: "cancellation while waiting stops the write", cancelAt: 500 * time.Millisecond, wantErr: context.Canceled, wantFirst: 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := newFake()
			f.limit = &fakeLimit{records: 1000, bytes: 1 << 20, now: clock.Now}
			start := clock.Now()
			sleep := func(ctx context.Context, d time.Duration) error {
				if tt.cancelAt > 0 && !clock.Now().Add(d).Before(start.Add(tt.cancelAt)) {
					cancel()
				}
				return clock.Sleep(ctx, d)
			}
			w := NewWriter(f, Options{Shards: f, Sleep: sleep, Now: clock.Now})
			recs := records(manyKeys(5000, 10)...)
			res := w.Write(ctx, Batch{Stream: "s1", Records: recs, WriteWithin: tt.lease})

			if tt.lease > 0 && clock.slept > tt.lease {
				t.Errorf("got %v slept, want no more than the %v lease", clock.slept, tt.lease)
			}
			if res.Stats.BudgetWait != clock.slept || res.Stats.BudgetWait == 0 {
				t.Errorf("got budget wait %v, slept %v, want them equal and positive", res.Stats.BudgetWait, clock.slept)
			}
			if res.Stats.Throttled != 0 || f.throttled != 0 {
				t.Errorf("got %d throttled (%d by the fake), want 0", res.Stats.Throttled, f.throttled)
			}
			if prefix(res) < tt.wantFirst-50 || prefix(res) > tt.wantFirst {
				t.Errorf("got prefix %d, want about %d", prefix(res), tt.wantFirst)
			}
			for i := prefix(res); i < len(recs); i++ {
				if o := res.Outcomes[i]; o.Written || !errors.Is(o.Err, tt.wantErr) {
					t.Fatalf("record %d: got %+v, want not written with %v", i, o, tt.wantErr)
				}
			}
			if res.Stats.Written != prefix(res) {
				t.Errorf("got %d written beyond a prefix of %d, want a clean prefix", res.Stats.Written, prefix(res))
			}
			checkLastCopiesInOrder(t, f, recs, res)
		})
	}
}

func TestAThrottleResendsOnlyRecordsWrittenAfterTheirKeysFailure(t *testing.T) {
	tests := []struct {
		name       string
		recs       []Record
		limit      fakeLimit
		paced      bool
		wantResent int
	}{
		{
			// A shard out of tokens refuses everything after the first
			// refusal: nothing of A was written out of order.
			name:  "the shard refused the rest of the key: nothing resent",
			recs:  records("A", "A", "A", "A", "B", "B"),
			limit: fakeLimit{records: 3, bytes: 1 << 20},
		},
		{
			name:  "paced, on a shard that admits less than the writer thinks: nothing resent",
			recs:  records(manyKeys(60, 3)...),
			limit: fakeLimit{records: 20, bytes: 1 << 20},
			paced: true,
		},
		{
			// A big record over the byte budget, a small one after it
			// admitted: that one sits before the big one's copy, so it
			// is written again after it.
			name:       "a later record of the key written after the refusal: it alone is resent",
			recs:       []Record{{PartitionKey: "A", Data: []byte("r0" + strings.Repeat("x", 58))}, {PartitionKey: "A", Data: []byte("r1" + strings.Repeat("x", 98))}, {PartitionKey: "A", Data: []byte("r2")}, {PartitionKey: "B", Data: []byte("r3")}},
			limit:      fakeLimit{records: 10, bytes: 150},
			wantResent: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			f := newFake()
			tt.limit.now = clock.Now
			f.limit = &tt.limit
			// Backoffs of a second: the shard's bucket is full again for
			// each retry.
			opts := Options{BaseBackoff: time.Second, Sleep: clock.Sleep, Now: clock.Now, Jitter: identityJitter}
			if tt.paced {
				opts.Shards = f
			}
			res := NewWriter(f, opts).Write(context.Background(), Batch{Stream: "s1", Records: tt.recs})
			if prefix(res) != len(tt.recs) {
				t.Fatalf("got prefix %d, want %d", prefix(res), len(tt.recs))
			}
			if f.throttled == 0 {
				t.Fatal("precondition: got no throttling, want the shard to refuse some entries")
			}
			if res.Stats.Resent != tt.wantResent {
				t.Errorf("got %d resent, want %d", res.Stats.Resent, tt.wantResent)
			}
			checkLastCopiesInOrder(t, f, tt.recs, res)
		})
	}
}

func TestAPacedThrottleIsRetriedOnBudgetNotAfterABackoff(t *testing.T) {
	// The shard admits 20 records/s to this writer, which believes 1,000: its
	// first request is mostly refused. The retry waits for the cut budget;
	// a backoff (an hour here) would show in the time slept.
	clock := newFakeClock()
	f := newFake()
	f.limit = &fakeLimit{records: 20, bytes: 1 << 20, now: clock.Now}
	w := NewWriter(f, Options{Shards: f, BaseBackoff: time.Hour, MaxBackoff: time.Hour, Jitter: identityJitter, Sleep: clock.Sleep, Now: clock.Now})
	recs := records(manyKeys(100, 10)...)
	res := w.Write(context.Background(), Batch{Stream: "s1", Records: recs})
	if prefix(res) != len(recs) {
		t.Fatalf("got prefix %d, want %d", prefix(res), len(recs))
	}
	if res.Stats.Throttled == 0 {
		t.Fatal("precondition: got no throttling, want the first request refused in part")
	}
	if clock.slept >= time.Hour || res.Stats.BudgetWait != clock.slept {
		t.Errorf("got %v slept, %v of it for budget, want every wait a budget wait, well under the hour's backoff", clock.slept, res.Stats.BudgetWait)
	}
	checkLastCopiesInOrder(t, f, recs, res)
}

// predictedShard is the shard w's cached map places key on ("" unknown).
func (w *Writer) predictedShard(stream, key string) string {
	w.pacer.mu.Lock()
	defer w.pacer.mu.Unlock()
	ss := w.pacer.streams[stream]
	if ss == nil || ss.shards == nil {
		return ""
	}
	if i := ss.shards.shardOf(key); i >= 0 {
		return ss.shards.ids[i]
	}
	return ""
}

func TestPacedWriteWithAClockThatDoesNotMoveFinishesUnpaced(t *testing.T) {
	// A test double's Sleep that leaves Now alone must not hang the write.
	clock := newFakeClock()
	f := newFake()
	w := NewWriter(f, Options{Shards: f, Sleep: noSleep, Now: clock.Now})
	recs := records(manyKeys(3000, 20)...)
	res := w.Write(context.Background(), Batch{Stream: "s1", Records: recs})
	if prefix(res) != len(recs) {
		t.Fatalf("got prefix %d, want %d", prefix(res), len(recs))
	}
	// A full bucket's 1,000 records, one wait for more that bought none,
	// then the rest unpaced.
	if got, want := f.callSizes(), []int{500, 500, 500, 500, 500, 500}; !reflect.DeepEqual(got, want) {
		t.Errorf("got call sizes %v, want %v", got, want)
	}
	if res.Stats.BudgetWait != budgetQuantum {
		t.Errorf("got budget wait %v, want one wait of %v", res.Stats.BudgetWait, budgetQuantum)
	}
}

func TestPrefetchShardsRenewsTheMapAheadOfTheWrites(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException"}
	type step struct {
		name      string
		after     time.Duration
		write     bool  // a Write instead of a PrefetchShards
		listErr   error // the target's answer to ListShards from this step on
		wantErr   bool
		wantLists int
	}
	tests := []struct {
		name  string
		paced bool
		busy  bool // a listing is under way when the steps start
		steps []step
	}{
		{name: "a cold writer lists, and its Write finds the map", paced: true, steps: []step{
			{name: "prefetch lists", wantLists: 1},
			{name: "the Write uses the map", write: true, wantLists: 1},
		}},
		{name: "the map is renewed after half a minute, ahead of the Writes", paced: true, steps: []step{
			{name: "prefetch lists", wantLists: 1},
			{name: "29 s later: cached", after: 29 * time.Second, wantLists: 1},
			{name: "31 s after the listing: listed again", after: 2 * time.Second, wantLists: 2},
			{name: "a Write 61 s after the first listing lists nothing", after: 30 * time.Second, write: true, wantLists: 2},
		}},
		{name: "a failed listing is returned and not retried at once", paced: true, steps: []step{
			{name: "denied", listErr: denied, wantErr: true, wantLists: 1},
			{name: "a second later: not asked again", after: time.Second, wantLists: 1},
			{name: "half a minute later: asked again", after: 30 * time.Second, listErr: nil, wantLists: 2},
		}},
		{name: "nothing while a listing is under way", paced: true, busy: true, steps: []step{
			{name: "prefetch leaves it to the listing under way", wantLists: 0},
		}},
		{name: "an unpaced writer lists nothing", steps: []step{
			{name: "prefetch", wantLists: 0},
			{name: "write", write: true, wantLists: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			f := newFake()
			f.shards = evenShards(2)
			opts := Options{Sleep: clock.Sleep, Now: clock.Now}
			if tt.paced {
				opts.Shards = f
			}
			w := NewWriter(f, opts)
			if tt.busy {
				w.pacer.mu.Lock()
				w.pacer.streamOf("s1").loading = make(chan struct{})
				w.pacer.mu.Unlock()
			}
			for _, s := range tt.steps {
				clock.advance(s.after)
				f.mu.Lock()
				f.listErr = s.listErr
				f.mu.Unlock()
				if s.write {
					if res := w.Write(context.Background(), Batch{Stream: "s1", Records: records("a", "b")}); prefix(res) != 2 || res.PacingErr != nil {
						t.Fatalf("%s: got prefix %d pacing error %v, want 2 and none", s.name, prefix(res), res.PacingErr)
					}
				} else if err := w.PrefetchShards(context.Background(), "s1"); (err != nil) != s.wantErr {
					t.Fatalf("%s: got error %v, want error %v", s.name, err, s.wantErr)
				}
				if got := len(f.lists); got != s.wantLists {
					t.Fatalf("%s: got %d ListShards calls, want %d", s.name, got, s.wantLists)
				}
			}
		})
	}
}
