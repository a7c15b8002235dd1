package putrecords

import (
	"context"
	"crypto/md5"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fakeKinesis is a PutRecordsAPI that records every call and answers from a
// script. Records are identified by their data, which tests make unique.
type fakeKinesis struct {
	// entryCodes scripts per-entry answers by record data: the n-th attempt
	// to write that record gets entryCodes[data][n] ("" = success); attempts
	// past the list succeed.
	entryCodes map[string][]string
	// requestErrs fails whole calls by call number (0-based).
	requestErrs map[int]error
	// hook, when set, runs at the start of each call and may replace its
	// answer: a non-nil error fails the call; written reports whether the
	// records still reach the stream (a reply lost after the write).
	hook func(ctx context.Context, call int, in *kinesis.PutRecordsInput) (err error, written bool)
	// shortReplies answers these calls (0-based) with one entry too few,
	// after writing every record.
	shortReplies map[int]bool
	// hold keeps each call in flight until another call arrives or a short
	// while passes, so calls that may overlap do.
	hold bool
	// shards, when set, are the stream's shards for ListShards and for
	// placing entries (MD5 of the partition key against the open shards'
	// ranges, computed here with math/big, apart from the writer's code).
	// Unset: one shard, shardId-000000000000, takes every key.
	shards []fakeShard
	// limit, when set, enforces each open shard's write limit with a token
	// bucket of one second on limit.now: an entry over it is answered
	// ProvisionedThroughputExceededException in its slot, naming its shard.
	limit *fakeLimit
	// listErr fails every ListShards; listPage, when positive, is the
	// most shards one ListShards page returns.
	listErr  error
	listPage int

	mu        sync.Mutex
	calls     []fakeCall
	attempts  map[string]int
	seq       int
	writes    []fakeWrite       // every successful write, in stream order
	lastSeq   map[string]string // data → sequence number of its last write
	inFlight  map[string]int    // partition key → calls in flight carrying it
	overlaps  []string          // keys seen in two calls in flight at once
	active    int               // calls in flight
	maxActive int               // most calls in flight at once
	arrived   chan struct{}     // signalled when a call arrives, for hold
	throttled int               // ProvisionedThroughputExceededException entries returned
	ctxs      []context.Context // the context of each call
	inputs    []*kinesis.PutRecordsInput
	entries   int // entries received, every attempt of every record
	lists     []*kinesis.ListShardsInput
	buckets   map[string]*fakeBucket // by shard ID
	hashKeys  map[string]*big.Int    // parsed range bounds
}

type fakeShard struct {
	id         string
	start, end string // decimal hash keys, inclusive
	closed     bool
}

type fakeLimit struct {
	records, bytes float64 // per second
	now            func() time.Time
}

type fakeBucket struct {
	records, bytes float64
	at             time.Time
}

type fakeCall struct {
	keys []string
	data []string
}

type fakeWrite struct {
	key, data, seq string
}

func newFake() *fakeKinesis {
	return &fakeKinesis{
		attempts: map[string]int{},
		lastSeq:  map[string]string{},
		inFlight: map[string]int{},
		arrived:  make(chan struct{}),
	}
}

var _ PutRecordsAPI = (*fakeKinesis)(nil)

func (f *fakeKinesis) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	call := len(f.calls)
	fc := fakeCall{}
	keysHere := map[string]bool{}
	for _, e := range in.Records {
		k := aws.ToString(e.PartitionKey)
		fc.keys = append(fc.keys, k)
		fc.data = append(fc.data, string(e.Data))
		if !keysHere[k] {
			keysHere[k] = true
			if f.inFlight[k] > 0 {
				f.overlaps = append(f.overlaps, k)
			}
			f.inFlight[k]++
		}
	}
	f.calls = append(f.calls, fc)
	f.entries += len(in.Records)
	f.ctxs = append(f.ctxs, ctx)
	f.inputs = append(f.inputs, in)
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	f.mu.Unlock()

	defer func() {
		f.mu.Lock()
		for k := range keysHere {
			f.inFlight[k]--
		}
		f.active--
		f.mu.Unlock()
	}()

	if f.hold {
		// Hand off to a call already waiting, or wait for the next one.
		select {
		case f.arrived <- struct{}{}:
		default:
			t := time.NewTimer(20 * time.Millisecond)
			select {
			case <-f.arrived:
			case <-t.C:
			}
			t.Stop()
		}
	}

	var hookErr error
	hookWritten := false
	if f.hook != nil {
		hookErr, hookWritten = f.hook(ctx, call, in)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requestErrs[call]; err != nil {
		return nil, err
	}
	if hookErr != nil {
		if hookWritten {
			for _, e := range in.Records {
				f.write(aws.ToString(e.PartitionKey), string(e.Data))
			}
		}
		return nil, hookErr
	}
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	for i, e := range in.Records {
		d := string(e.Data)
		n := f.attempts[d]
		f.attempts[d]++
		if codes := f.entryCodes[d]; n < len(codes) && codes[n] != "" {
			out.Records[i] = types.PutRecordsResultEntry{ErrorCode: aws.String(codes[n]), ErrorMessage: aws.String("scripted")}
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			if codes[n] == "ProvisionedThroughputExceededException" {
				f.throttled++
			}
			continue
		}
		shard := f.shardOf(aws.ToString(e.PartitionKey))
		if !f.admit(shard, len(d)+len(aws.ToString(e.PartitionKey))) {
			msg := fmt.Sprintf("Rate exceeded for shard %s in stream %s under account 123456789012.", shard, aws.ToString(in.StreamName))
			out.Records[i] = types.PutRecordsResultEntry{ErrorCode: aws.String("ProvisionedThroughputExceededException"), ErrorMessage: aws.String(msg)}
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			f.throttled++
			continue
		}
		seq := f.write(aws.ToString(e.PartitionKey), d)
		out.Records[i] = types.PutRecordsResultEntry{ShardId: aws.String(shard), SequenceNumber: aws.String(seq)}
	}
	if f.shortReplies[call] {
		out.Records = out.Records[:len(out.Records)-1]
	}
	return out, nil
}

// shardOf is the open shard holding the key's hash; callers hold mu.
func (f *fakeKinesis) shardOf(key string) string {
	if len(f.shards) == 0 {
		return "shardId-000000000000"
	}
	sum := md5.Sum([]byte(key))
	h := new(big.Int).SetBytes(sum[:])
	if f.hashKeys == nil {
		f.hashKeys = map[string]*big.Int{}
	}
	parse := func(s string) *big.Int {
		n, ok := f.hashKeys[s]
		if !ok {
			n, _ = new(big.Int).SetString(s, 10)
			f.hashKeys[s] = n
		}
		return n
	}
	for _, s := range f.shards {
		if !s.closed && h.Cmp(parse(s.start)) >= 0 && h.Cmp(parse(s.end)) <= 0 {
			return s.id
		}
	}
	return "no-shard"
}

// admit takes an entry of size bytes from shard's bucket, or says it is
// over the limit; callers hold mu.
func (f *fakeKinesis) admit(shard string, size int) bool {
	if f.limit == nil {
		return true
	}
	if f.buckets == nil {
		f.buckets = map[string]*fakeBucket{}
	}
	now := f.limit.now()
	b := f.buckets[shard]
	if b == nil {
		b = &fakeBucket{records: f.limit.records, bytes: f.limit.bytes, at: now}
		f.buckets[shard] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.records = min(b.records+dt*f.limit.records, f.limit.records)
		b.bytes = min(b.bytes+dt*f.limit.bytes, f.limit.bytes)
		b.at = now
	}
	if b.records < 1 || b.bytes < float64(size) {
		return false
	}
	b.records--
	b.bytes -= float64(size)
	return true
}

var _ ShardLister = (*fakeKinesis)(nil)

// ListShards answers from shards (one shard over the whole range when
// unset), listPage shards a page.
func (f *fakeKinesis) ListShards(_ context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, in)
	if f.listErr != nil {
		return nil, f.listErr
	}
	shards := f.shards
	if len(shards) == 0 {
		shards = []fakeShard{{id: "shardId-000000000000", start: "0", end: maxHashKey}}
	}
	from := 0
	if in.NextToken != nil {
		from, _ = strconv.Atoi(*in.NextToken)
	}
	to := len(shards)
	if f.listPage > 0 {
		to = min(to, from+f.listPage)
	}
	out := &kinesis.ListShardsOutput{}
	for _, s := range shards[from:to] {
		sh := types.Shard{
			ShardId:             aws.String(s.id),
			HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String(s.start), EndingHashKey: aws.String(s.end)},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("1")},
		}
		if s.closed {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String("2")
		}
		out.Shards = append(out.Shards, sh)
	}
	if to < len(shards) {
		out.NextToken = aws.String(strconv.Itoa(to))
	}
	return out, nil
}

// maxHashKey is 2^128 - 1, the end of the hash key space.
const maxHashKey = "340282366920938463463374607431768211455"

// evenShards splits the hash key space into n open shards, as CreateStream
// does.
func evenShards(n int) []fakeShard {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	shards := make([]fakeShard, n)
	for i := range shards {
		start := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i))), big.NewInt(int64(n)))
		end := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i+1))), big.NewInt(int64(n)))
		end.Sub(end, big.NewInt(1))
		shards[i] = fakeShard{id: fmt.Sprintf("shardId-%012d", i), start: start.String(), end: end.String()}
	}
	return shards
}

// fakeClock is a clock that moves only when Sleep is called, safe for the
// writer's request goroutines to read.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.advance(d)
	c.mu.Lock()
	c.slept += max(d, 0)
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
	}
}

// write appends a record to the fake stream; callers hold mu.
func (f *fakeKinesis) write(key, data string) string {
	f.seq++
	seq := fmt.Sprintf("%020d", f.seq)
	f.writes = append(f.writes, fakeWrite{key: key, data: data, seq: seq})
	f.lastSeq[data] = seq
	return seq
}

// callSizes is the number of records of each call, in call order.
func (f *fakeKinesis) callSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	sizes := make([]int, len(f.calls))
	for i, c := range f.calls {
		sizes[i] = len(c.keys)
	}
	return sizes
}

// callData is the data of each call's records, in call order.
func (f *fakeKinesis) callData() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.data
	}
	return out
}

// records builds a batch of records with the given keys and data "r<i>".
func records(keys ...string) []Record {
	recs := make([]Record, len(keys))
	for i, k := range keys {
		recs[i] = Record{SequenceNumber: strconv.Itoa(1000 + i), PartitionKey: k, Data: []byte("r" + strconv.Itoa(i))}
	}
	return recs
}

// noSleep is a Sleep that returns at once but still honours ctx.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func identityJitter(d time.Duration) time.Duration { return d }

// checkLastCopiesInOrder fails t unless, for each key, the last copies in
// the fake stream of the batch's written records appear in source order,
// and each Outcome names its record's last copy.
func checkLastCopiesInOrder(t *testing.T, f *fakeKinesis, recs []Record, res Result) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	lastPos := map[string]int{}
	for pos, w := range f.writes {
		if w.seq == f.lastSeq[w.data] {
			lastPos[w.data] = pos
		}
	}
	prev := map[string]int{}
	for i, rec := range recs {
		o := res.Outcomes[i]
		if !o.Written {
			continue
		}
		d := string(rec.Data)
		pos, ok := lastPos[d]
		if !ok {
			t.Fatalf("record %d: Written but never in a successful response", i)
		}
		if got, want := o.TargetSequenceNumber, f.lastSeq[d]; got != want {
			t.Errorf("record %d: got target sequence number %s, want %s (its last write)", i, got, want)
		}
		if p, seen := prev[rec.PartitionKey]; seen && pos < p {
			t.Errorf("key %s: last copy of record %d is before the last copy of an earlier record", rec.PartitionKey, i)
		}
		prev[rec.PartitionKey] = pos
	}
}
