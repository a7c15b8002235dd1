package replicator

import (
	"context"
	"errors"
	"io"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

// sub is a batch of ev's records lo..hi-1, as the mapping would deliver it.
func sub(ev events.KinesisEvent, lo, hi int) events.KinesisEvent {
	return events.KinesisEvent{Records: append([]events.KinesisEventRecord(nil), ev.Records[lo:hi]...)}
}

// failData fails, with codes[i], the entry whose payload carries "seq":i.
func failData(codes map[int]string) func(kintypes.PutRecordsRequestEntry) string {
	fs := map[int]func(kintypes.PutRecordsRequestEntry) string{}
	for i, c := range codes {
		fs[i] = failSeq(i, c)
	}
	return func(e kintypes.PutRecordsRequestEntry) string {
		for _, f := range fs {
			if c := f(e); c != "" {
				return c
			}
		}
		return ""
	}
}

// checkLastCopiesInKeyOrder fails t unless, for each partition key, the last
// copy of each of ev's records in the target is in source order (promise 2).
func checkLastCopiesInKeyOrder(t *testing.T, target *fakeTarget, ev events.KinesisEvent) {
	t.Helper()
	target.mu.Lock()
	last := map[string]int{}
	for j, w := range target.written {
		last[string(w.Data)] = j
	}
	target.mu.Unlock()
	prev := map[string]int{} // key → index of the previous record's last copy
	prevRec := map[string]int{}
	for i, r := range ev.Records {
		pos, ok := last[string(r.Kinesis.Data)]
		if !ok {
			t.Errorf("record %d never reached the target", i)
			continue
		}
		key := r.Kinesis.PartitionKey
		if p, seen := prev[key]; seen && pos < p {
			t.Errorf("key %s: the last copy of record %d (target position %d) is before the last copy of record %d (position %d): last copies out of source order",
				key, i, pos, prevRec[key], p)
		}
		prev[key], prevRec[key] = pos, i
	}
}

// A retry that wrote without reading the checkpoint (an instance that had
// seen the shard before and skipped the read, as the replicator once did)
// would write again some of the records the stored writtenBeyond names, and
// save nothing (its prefix does not move); the next retry, reading the
// checkpoint, would leave the others out behind the new copies: a key's
// last copies out of order. Every instance reads it now.
func TestARetryOnAnotherInstanceKeepsTheLastCopiesInKeyOrder(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	x := h.handler                                 // instance X
	y := h.newInstance(testSettings(), io.Discard) // instance Y
	ev := kinesisEvent(5, 5, t0)
	for i, k := range []string{"A", "K", "J", "K", "K"} {
		ev.Records[i].Kinesis.PartitionKey = k
	}
	ctx := context.Background()

	// X sees the shard first (record 0).
	if _, err := x.Handle(ctx, sub(ev, 0, 1)); err != nil {
		t.Fatal(err)
	}
	// Y gets records 1-4; record 2 (key J) is refused (a KMS key the
	// operator then fixes): 1, 3 and 4 are written; checkpoint at 1, with
	// 3 and 4 named beyond it.
	h.target.fail = failData(map[int]string{2: "KMSAccessDeniedException"})
	resp, err := y.Handle(ctx, sub(ev, 1, 5))
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("inv1: %v %v", failedIDs(resp), err)
	}
	cp := h.cps.byShard(t)[testShard]
	if cp.LastSequenceNumber != ev.Records[1].Kinesis.SequenceNumber || cp.WrittenBeyond.Named() != 2 {
		t.Fatalf("inv1: checkpoint %s naming %d beyond, want record 1 naming 2", cp.LastSequenceNumber, cp.WrittenBeyond.Named())
	}
	// The retry from record 2 lands on X, which last saw record 0. It reads
	// the checkpoint and sends 2 only, refused again.
	h.target.fail = failData(map[int]string{2: "KMSAccessDeniedException", 4: "ProvisionedThroughputExceededException"})
	if _, err := x.Handle(ctx, sub(ev, 2, 5)); err != nil {
		t.Fatal(err)
	}
	// The next retry, with the key fixed: 3 and 4 are covered and left
	// out, 2 is written.
	h.target.fail = nil
	resp, err = x.Handle(ctx, sub(ev, 2, 5))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("inv3: %v %v", failedIDs(resp), err)
	}
	checkLastCopiesInKeyOrder(t, h.target, ev)
}

// flakyGets fails the first fail checkpoint reads, as a throttled or
// timed-out GetItem does.
type flakyGets struct {
	*checkpoints
	fail int
}

func (f *flakyGets) Get(ctx context.Context, stream, region, shard string) (checkpoint.Checkpoint, bool, error) {
	if f.fail > 0 {
		f.fail--
		return checkpoint.Checkpoint{}, false, errors.New("ProvisionedThroughputExceededException: scripted")
	}
	return f.checkpoints.Get(ctx, stream, region, shard)
}

// The same with one instance, the trigger being a failed checkpoint read: a
// batch written then without it could write again some of the records the
// checkpoint names; it is handed back instead.
func TestAFailedCheckpointReadKeepsTheLastCopiesInKeyOrder(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	flaky := &flakyGets{checkpoints: h.cps}
	h.handler.checkpoints = flaky
	ev := kinesisEvent(4, 4, t0)
	for i, k := range []string{"K", "J", "K", "K"} {
		ev.Records[i].Kinesis.PartitionKey = k
	}
	ctx := context.Background()
	h.target.fail = failData(map[int]string{1: "KMSAccessDeniedException"})
	if _, err := h.handler.Handle(ctx, ev); err != nil { // 0, 2, 3 written; cp at 0, 2 and 3 beyond
		t.Fatal(err)
	}
	flaky.fail = 1
	h.target.fail = failData(map[int]string{1: "KMSAccessDeniedException", 3: "ProvisionedThroughputExceededException"})
	resp, err := h.handler.Handle(ctx, sub(ev, 1, 4)) // read fails: nothing written
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("got failures %v, error %v, want the whole batch handed back", failedIDs(resp), err)
	}
	h.target.fail = nil
	if _, err := h.handler.Handle(ctx, sub(ev, 1, 4)); err != nil { // read works: 2, 3 left out
		t.Fatal(err)
	}
	checkLastCopiesInKeyOrder(t, h.target, ev)
}

// A sync point promises that every record of the source shard after its
// SequenceNumber lands in each target shard after Targets[t]. A record after
// the point that a stored writtenBeyond covers was written by an earlier
// invocation, BEFORE this invocation's writes that set Targets[t], and is
// never written again: a consumer translated through the point misses it.
func TestASyncPointIsNeverBeforeACoveredRecordAfterIt(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	ev := kinesisEvent(5, 5, t0) // five keys
	ctx := context.Background()
	// inv1: 1 and 3 refused; 0, 2, 4 written. Checkpoint at 0, 2 and 4
	// beyond. No sync point (records after the prefix were written).
	h.target.fail = failData(map[int]string{1: "KMSAccessDeniedException", 3: "KMSAccessDeniedException"})
	if _, err := h.handler.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if n := len(h.trail(t)); n != 0 {
		t.Fatalf("inv1 left %d sync points, want none", n)
	}
	// inv2 (the retry from 1), 10 s later: 2 and 4 covered, 1 written, 3
	// refused again. Prefix 1, 2: checkpoint at 2 (covered); sync point at
	// 2 with Targets = where 1 landed, which is after 4's only copy.
	h.now = h.now.Add(10 * time.Second)
	h.target.fail = failData(map[int]string{3: "KMSAccessDeniedException"})
	if _, err := h.handler.Handle(ctx, sub(ev, 1, 5)); err != nil {
		t.Fatal(err)
	}
	// inv3 (the retry from 3), key fixed: 4 is covered, left out again.
	h.now = h.now.Add(10 * time.Second)
	h.target.fail = nil
	if _, err := h.handler.Handle(ctx, sub(ev, 3, 5)); err != nil {
		t.Fatal(err)
	}

	h.target.mu.Lock()
	var copies4 []*big.Int
	for j, w := range h.target.written {
		if string(w.Data) == string(ev.Records[4].Kinesis.Data) {
			copies4 = append(copies4, big.NewInt(int64(1000000+j+1))) // fakeTarget's sequence numbers
		}
	}
	h.target.mu.Unlock()
	for _, p := range h.trail(t) {
		after, _ := checkpoint.CompareSequenceNumbers(ev.Records[4].Kinesis.SequenceNumber, p.SequenceNumber)
		ts, ok := p.Targets["shardId-000000000001"]
		if after <= 0 || !ok {
			continue
		}
		bound, _ := new(big.Int).SetString(ts, 10)
		missed := true
		for _, c := range copies4 {
			if c.Cmp(bound) > 0 {
				missed = false
			}
		}
		if missed {
			t.Errorf("sync point at source %s says records after it land after target %s, but record 4 (source %s, after the point) has copies only at %v: a consumer translated through it misses record 4",
				p.SequenceNumber, ts, ev.Records[4].Kinesis.SequenceNumber, copies4)
		}
	}
}

// The mapping never mixes shards in a batch, but parseEvent admits it (the
// acknowledgment is per shard): each shard's records are judged against
// that shard's checkpoint alone.
func TestAMultiShardBatchIsJudgedAgainstEachShardsCheckpoint(t *testing.T) {
	h := newHarness(t, testSettings(), usEast1Active())
	ctx := context.Background()
	first := laterRecords(kinesisEvent(3, 3, t0), 100)
	if _, err := h.handler.Handle(ctx, first); err != nil {
		t.Fatal(err)
	}
	mixed := laterRecords(kinesisEvent(3, 3, t0), 101) // a retry from record 101 of shard 3
	other := "shardId-000000000004"
	for i := 1; i < 3; i++ {
		r := &mixed.Records[i]
		r.Kinesis.SequenceNumber = sequenceNumber(i) // shard 4's own, lower numbers
		r.EventID = other + ":" + r.Kinesis.SequenceNumber
		r.Kinesis.Data = []byte(`{"shard":4,"n":` + strconv.Itoa(i) + `}`)
	}
	before := len(h.target.written)
	if _, err := h.handler.Handle(ctx, mixed); err != nil {
		t.Fatal(err)
	}
	if got := len(h.target.written) - before; got < 2 {
		t.Errorf("shard 4's 2 records, never written before, got %d writes: left out by shard 3's checkpoint", got)
	}
}
