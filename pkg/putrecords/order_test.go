package putrecords

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
)

func TestWriteStrictCallShapes(t *testing.T) {
	tests := []struct {
		name      string
		keys      []string
		maxRecs   int
		wantCalls [][]string
	}{
		{
			name:      "a hot key pays one request per record",
			keys:      []string{"A", "A", "A", "A"},
			wantCalls: [][]string{{"r0"}, {"r1"}, {"r2"}, {"r3"}},
		},
		{
			name:      "each request carries the first unwritten record of each key",
			keys:      []string{"A", "A", "B", "A", "C", "A", "C", "A"},
			wantCalls: [][]string{{"r0", "r2", "r4"}, {"r1", "r6"}, {"r3"}, {"r5"}, {"r7"}},
		},
		{
			name:      "many keys still split at the record limit",
			keys:      []string{"A", "B", "C", "A", "B"},
			maxRecs:   2,
			wantCalls: [][]string{{"r0", "r1"}, {"r2"}, {"r3", "r4"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			recs := records(tt.keys...)
			res := NewWriter(f, Options{Ordering: OrderingStrict, MaxRequestRecords: tt.maxRecs, Concurrency: 1}).
				Write(context.Background(), Batch{Stream: "s1", Records: recs})
			if got := f.callData(); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Fatalf("got calls %v, want %v", got, tt.wantCalls)
			}
			if prefix(res) != len(recs) || res.Stats.Resent != 0 {
				t.Errorf("got prefix %d resent %d, want %d and 0", prefix(res), res.Stats.Resent, len(recs))
			}
		})
	}
}

func TestWriteRunsChunksWithDisjointKeysConcurrently(t *testing.T) {
	// Eight chunks of five unique keys each. The first four calls wait for
	// one another, so the test only finishes if four run at once.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	var mu sync.Mutex
	arrived := 0
	allIn := make(chan struct{})
	f := newFake()
	f.hook = func(callCtx context.Context, call int, _ *kinesis.PutRecordsInput) (error, bool) {
		if call >= 4 {
			return nil, false
		}
		mu.Lock()
		arrived++
		if arrived == 4 {
			close(allIn)
		}
		mu.Unlock()
		select {
		case <-allIn:
			return nil, false
		case <-callCtx.Done():
			return callCtx.Err(), false
		}
	}
	res := NewWriter(f, Options{MaxRequestRecords: 5, Concurrency: 4, Sleep: noSleep}).
		Write(ctx, Batch{Stream: "s1", Records: records(keys...)})
	if prefix(res) != 40 || res.Stats.Requests != 8 {
		t.Fatalf("got prefix %d after %d requests, want 40 after 8", prefix(res), res.Stats.Requests)
	}
	if f.maxActive != 4 {
		t.Errorf("got at most %d calls in flight, want 4 (the concurrency)", f.maxActive)
	}
}

func TestWriteNeverOverlapsChunksSharingAKey(t *testing.T) {
	tests := []struct {
		name     string
		ordering Ordering
		failRate float64
	}{
		{name: "key ordering, clean", ordering: OrderingKey},
		{name: "key ordering, with throttling", ordering: OrderingKey, failRate: 0.2},
		{name: "strict ordering, with throttling", ordering: OrderingStrict, failRate: 0.2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 11))
			// Blocks of 70 records (ten chunks) draw from their own 12 keys:
			// chunks within a block share keys, chunks of different blocks
			// do not.
			keys := make([]string, 300)
			for i := range keys {
				keys[i] = fmt.Sprintf("k%d", rng.IntN(12)+12*(i/70))
			}
			recs := records(keys...)
			f := newFake()
			f.hold = true
			f.entryCodes = map[string][]string{}
			for _, r := range recs {
				if rng.Float64() < tt.failRate {
					f.entryCodes[string(r.Data)] = []string{throttled}
				}
			}
			res := NewWriter(f, Options{Ordering: tt.ordering, MaxRequestRecords: 7, Concurrency: 4, Sleep: noSleep}).
				Write(context.Background(), Batch{Stream: "s1", Records: recs})
			if len(f.overlaps) > 0 {
				t.Fatalf("got keys %v in two requests in flight at once, want none", f.overlaps)
			}
			if f.maxActive < 2 {
				t.Errorf("got at most %d calls in flight, want some overlap for disjoint keys", f.maxActive)
			}
			if prefix(res) != len(recs) {
				t.Fatalf("got prefix %d, want %d", prefix(res), len(recs))
			}
			checkLastCopiesInOrder(t, f, recs, res)
		})
	}
}

func TestWriteIsSafeForConcurrentUse(t *testing.T) {
	f := newFake()
	w := NewWriter(f, Options{MaxRequestRecords: 10, Sleep: noSleep})
	var wg sync.WaitGroup
	results := make([]Result, 4)
	batches := make([][]Record, 4)
	for g := range batches {
		keys := make([]string, 100)
		for i := range keys {
			keys[i] = fmt.Sprintf("shard%d-k%d", g, i%7)
		}
		batches[g] = records(keys...)
		for i := range batches[g] {
			batches[g][i].Data = fmt.Appendf(nil, "s%d-r%d", g, i)
		}
	}
	for g := range batches {
		wg.Go(func() {
			results[g] = w.Write(context.Background(), Batch{Stream: "s1", Records: batches[g]})
		})
	}
	wg.Wait()
	for g, res := range results {
		if prefix(res) != 100 {
			t.Errorf("writer %d: got prefix %d, want 100", g, prefix(res))
		}
		checkLastCopiesInOrder(t, f, batches[g], res)
	}
}

// TestWriteInvariantsOnRandomBatches runs seeded random batches against
// random scripted failures and checks what must hold whatever happens.
// Seeds from 200 also pace the writes against the fake's per-shard limits
// (random, and lower than the writer believes) on an injected clock.
func TestWriteInvariantsOnRandomBatches(t *testing.T) {
	retryableCodes := []string{throttled, internal, kmsThrot}
	for seed := range uint64(400) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			n := rng.IntN(200)
			keys := make([]string, n)
			for i := range keys {
				keys[i] = fmt.Sprintf("k%d", rng.IntN(1+rng.IntN(20)))
			}
			recs := records(keys...)
			for i := range recs {
				recs[i].Data = append(recs[i].Data, strings.Repeat("x", rng.IntN(50))...)
			}
			f := newFake()
			f.entryCodes = map[string][]string{}
			failRate := rng.Float64() * 0.5
			for _, r := range recs {
				var codes []string
				for rng.Float64() < failRate {
					code := retryableCodes[rng.IntN(len(retryableCodes))]
					if rng.IntN(100) == 0 {
						code = "InvalidArgumentException"
					}
					codes = append(codes, code)
				}
				f.entryCodes[string(r.Data)] = codes
			}
			f.requestErrs = map[int]error{}
			for call := range 40 {
				switch x := rng.IntN(100); {
				case x < 10:
					f.requestErrs[call] = &smithy.GenericAPIError{Code: "InternalFailure"}
				case x < 11:
					f.requestErrs[call] = &smithy.GenericAPIError{Code: "AccessDeniedException"}
				}
			}
			opts := Options{
				Ordering:          Ordering(rng.IntN(2)),
				MaxRequestRecords: 1 + rng.IntN(40),
				MaxRequestBytes:   100 + rng.IntN(2000),
				Concurrency:       1 + rng.IntN(4),
				Sleep:             noSleep,
			}
			if seed >= 200 {
				clock := newFakeClock()
				f.shards = evenShards(1 + rng.IntN(3))
				f.limit = &fakeLimit{records: float64(5 + rng.IntN(50)), bytes: float64(100 + rng.IntN(2000)), now: clock.Now}
				opts.Shards, opts.Sleep, opts.Now = f, clock.Sleep, clock.Now
				opts.ShardRecordsPerSecond, opts.ShardBytesPerSecond = 100, 4000
			}
			res := NewWriter(f, opts).Write(context.Background(), Batch{Stream: "s1", MaxRecordBytes: 100, Records: recs})

			checkLastCopiesInOrder(t, f, recs, res) // Written ⇒ in a successful response, last copies in order
			firstPermanent := n
			written, bytes, rejected := 0, 0, 0
			for i, o := range res.Outcomes {
				if o.Written == (o.Err != nil) {
					t.Errorf("record %d: got Written %v with Err %v, want exactly one", i, o.Written, o.Err)
				}
				if o.Permanent {
					rejected++
				}
				if o.Permanent && firstPermanent == n {
					firstPermanent = i
				}
				if o.Written {
					written++
					bytes += len(recs[i].Data)
				}
			}
			// No deadline: everything before the first permanent failure
			// must be written.
			if prefix(res) != firstPermanent {
				t.Errorf("got prefix %d, want %d (the first permanent failure)", prefix(res), firstPermanent)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			distinct := map[string]bool{}
			for _, w := range f.writes {
				distinct[w.data] = true
			}
			want := Stats{
				Requests:     len(f.calls),
				Written:      written,
				WrittenBytes: bytes,
				Resent:       len(f.writes) - len(distinct),
				Throttled:    f.throttled,
				Failed:       n - written,
				Rejected:     rejected,
				BudgetWait:   res.Stats.BudgetWait, // the fake cannot tell
			}
			if res.Stats != want {
				t.Errorf("got stats %+v, want %+v", res.Stats, want)
			}
			if opts.Ordering == OrderingStrict {
				// Strict: every write of a key follows every earlier
				// record of that key, and nothing is written twice.
				next := map[string]int{}
				index := map[string]int{}
				for i, r := range recs {
					index[string(r.Data)] = i
				}
				for _, w := range f.writes {
					i := index[w.data]
					for j := next[w.key]; j < i; j++ {
						if recs[j].PartitionKey == w.key {
							t.Fatalf("strict: record %d written before earlier record %d of key %s", i, j, w.key)
						}
					}
					next[w.key] = i + 1
				}
				if res.Stats.Resent != 0 {
					t.Errorf("strict: got %d resent, want 0", res.Stats.Resent)
				}
			}
		})
	}
}
