package checkpointtest

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

// Contract is the method set of the checkpoint table whose contract is
// written on checkpoint.Store, method by method; the replicator's store and
// failover.CheckpointLoader are subsets of it.
type Contract interface {
	Save(ctx context.Context, cp checkpoint.Checkpoint) (advanced bool, err error)
	MarkDrained(ctx context.Context, stream, region, shard string, epoch int64, at time.Time) (bool, error)
	Load(ctx context.Context, stream, region string) ([]checkpoint.Checkpoint, error)
	Get(ctx context.Context, stream, region, shard string) (checkpoint.Checkpoint, bool, error)
}

// TrailContract is the method set of the trail items of the checkpoint
// table (checkpoint.Trail), whose contract is written on checkpoint.Store,
// method by method: the replicator appends, translate loads.
type TrailContract interface {
	LoadTrail(ctx context.Context, stream, region, shard string) ([]checkpoint.SyncPoint, error)
	AppendSyncPoint(ctx context.Context, stream, region, shard string, p checkpoint.SyncPoint) error
	LoadTrails(ctx context.Context, stream, region string) ([]checkpoint.Trail, error)
}

var (
	_ Contract      = (*checkpoint.Store)(nil)
	_ TrailContract = (*checkpoint.Store)(nil)
)

// Backend is one empty checkpoint table under test.
type Backend struct {
	Store Contract
	// Trails is the same table's trail methods (the same Store).
	Trails TrailContract
	// PutMalformed stores region's item of shard of stream without a
	// lastSequenceNumber, bypassing the store's checks.
	PutMalformed func(t *testing.T, stream, region, shard string)
	// OtherTrails is a second writer of the same table's trails (a second
	// Store on it, as another Lambda instance has; the double itself for
	// the double).
	OtherTrails TrailContract
}

// InMemory is the Backend of a new in-memory Store, for RunStoreContract.
func InMemory(*testing.T) Backend {
	s := New()
	return Backend{Store: s, Trails: s, OtherTrails: s, PutMalformed: func(_ *testing.T, stream, region, shard string) {
		cp := Fixture()
		cp.StreamName, cp.SourceRegion, cp.ShardID, cp.LastSequenceNumber = stream, region, shard, ""
		s.Put(cp)
	}}
}

// Fixture is a valid checkpoint of shard shardId-000000000000 of stream
// orders, written by us-east-1 in epoch 1.
func Fixture() checkpoint.Checkpoint {
	return checkpoint.Checkpoint{
		StreamName:              "orders",
		ShardID:                 "shardId-000000000000",
		LastReplicatedTimestamp: time.Date(2026, 11, 29, 12, 0, 0, 250000000, time.UTC),
		TimestampSource:         checkpoint.SourceCommit,
		LastSequenceNumber:      "49656740235234939186548513462361393532838414234960543746",
		LastArrivalTimestamp:    time.Date(2026, 11, 29, 12, 0, 0, 300000000, time.UTC),
		TargetShardID:           "shardId-000000000003",
		TargetSequenceNumber:    "49656740235257239931747043991183432195521366788423352370",
		SourceRegion:            "us-east-1",
		TargetRegion:            "us-east-2",
		Epoch:                   1,
		UpdatedAt:               time.Date(2026, 11, 29, 12, 0, 1, 0, time.UTC),
	}
}

// RunStoreContract runs the contract of the checkpoint table against the
// Backends newBackend returns, a new empty one per subtest.
func RunStoreContract(t *testing.T, newBackend func(t *testing.T) Backend) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"SaveOnlyMovesForward", testSaveOnlyMovesForward},
		{"SaveRefusesInvalidCheckpointAndWritesNothing", testSaveRefusesInvalid},
		{"ConcurrentSavesEndAtTheMaximum", testConcurrentSaves},
		{"SaveReplacesTheItemWholeDroppingTheDrainMark", testSaveDropsDrainMark},
		{"LoadReturnsEveryShardSortedInUTC", testLoadSorted},
		{"EachRegionHasItsOwnCheckpoints", testEachRegion},
		{"LoadRefusesAMalformedItemNamingTheShard", testLoadMalformed},
		{"MarkDrainedRecordsTheLatestDrainedEpochOnce", testMarkDrained},
		{"TheSamePrefixKnowingMoreBeyondReplacesOneKnowingLess", testSaveWrittenBeyond},
		{"GetReadsOneShardOfOneRegion", testGet},
		{"TheTrailHoldsWhatAppendToTrailKeeps", testTrailFold},
		{"APointNotAfterTheNewestAddsNothing", testTrailNotAhead},
		{"TwoWritersTakingTurnsLoseNoPoint", testTrailTwoWriters},
		{"AppendSyncPointRefusesAnInvalidPointAndWritesNothing", testTrailRefusesInvalid},
		{"TrailsAreNeitherCheckpointsNorTouchedBySave", testTrailApart},
		{"LoadTrailsReturnsOneRegionsTrailsSorted", testLoadTrails},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newBackend(t)) })
	}
}

func with(cp checkpoint.Checkpoint, epoch int64, seq string) checkpoint.Checkpoint {
	cp.Epoch = epoch
	cp.LastSequenceNumber = seq
	return cp
}

func stored(t *testing.T, s Contract, stream, shard string) (checkpoint.Checkpoint, bool) {
	t.Helper()
	cps, err := s.Load(context.Background(), stream, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cps {
		if cp.ShardID == shard {
			return cp, true
		}
	}
	return checkpoint.Checkpoint{}, false
}

func mustSave(t *testing.T, s Contract, cp checkpoint.Checkpoint) {
	t.Helper()
	if advanced, err := s.Save(context.Background(), cp); err != nil || !advanced {
		t.Fatalf("save %s %s: got (%t, %v), want (true, nil)", cp.SourceRegion, cp.ShardID, advanced, err)
	}
}

func testSaveOnlyMovesForward(t *testing.T, b Backend) {
	type save struct {
		epoch        int64
		seq          string
		wantAdvanced bool
	}
	const seq56 = "49656740235234939186548513462361393532838414234960543746"
	tests := []struct {
		name      string
		saves     []save
		wantEpoch int64
		wantSeq   string
	}{
		{"the first save creates the checkpoint", []save{{1, "100", true}}, 1, "100"},
		{"a larger sequence number advances", []save{{1, "100", true}, {1, "101", true}, {1, "5000", true}}, 1, "5000"},
		{"a smaller sequence number is refused", []save{{1, "200", true}, {1, "199", false}}, 1, "200"},
		{"the same sequence number again is refused", []save{{1, "200", true}, {1, "200", false}}, 1, "200"},
		{"a shorter number that is bytewise larger is refused", []save{{1, "10", true}, {1, "9", false}}, 1, "10"},
		{"a longer number that is bytewise smaller advances", []save{{1, "9", true}, {1, "10", true}}, 1, "10"},
		{"56-digit numbers compare numerically", []save{{1, seq56, true}, {1, "49656740235234939186548513462361393532838414234960543745", false}, {1, "49656740235234939186548513462361393532838414234960543747", true}}, 1, "49656740235234939186548513462361393532838414234960543747"},
		{"a higher epoch wins over a larger sequence number", []save{{1, seq56, true}, {2, "5", true}}, 2, "5"},
		{"a lower epoch never overwrites", []save{{2, "5", true}, {1, seq56, false}, {1, "6", false}}, 2, "5"},
		{"within the new epoch sequence numbers order again", []save{{1, "900", true}, {2, "5", true}, {2, "4", false}, {2, "6", true}}, 2, "6"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := Fixture()
			base.ShardID = fmt.Sprintf("shardId-%012d", i)
			for j, s := range tt.saves {
				advanced, err := b.Store.Save(context.Background(), with(base, s.epoch, s.seq))
				if err != nil {
					t.Fatalf("save %d (epoch %d, %s): %v", j, s.epoch, s.seq, err)
				}
				if advanced != s.wantAdvanced {
					t.Errorf("save %d (epoch %d, %s): got advanced %t, want %t", j, s.epoch, s.seq, advanced, s.wantAdvanced)
				}
			}
			got, ok := stored(t, b.Store, base.StreamName, base.ShardID)
			if !ok {
				t.Fatal("got no stored checkpoint, want one")
			}
			if got.Epoch != tt.wantEpoch || got.LastSequenceNumber != tt.wantSeq {
				t.Errorf("got epoch %d seq %s, want epoch %d seq %s", got.Epoch, got.LastSequenceNumber, tt.wantEpoch, tt.wantSeq)
			}
		})
	}
}

func testSaveRefusesInvalid(t *testing.T, b Backend) {
	tests := []struct {
		name    string
		mutate  func(*checkpoint.Checkpoint)
		wantErr string
	}{
		{"leading zero", func(c *checkpoint.Checkpoint) { c.LastSequenceNumber = "0999" }, "has a leading zero"},
		{"not a number", func(c *checkpoint.Checkpoint) { c.LastSequenceNumber = "latest" }, "is not a decimal sequence number"},
		{"unknown timestamp source", func(c *checkpoint.Checkpoint) { c.TimestampSource = "guess" }, "timestampSource"},
		{"no epoch", func(c *checkpoint.Checkpoint) { c.Epoch = 0 }, "epoch is 0"},
		{"zero time", func(c *checkpoint.Checkpoint) { c.LastReplicatedTimestamp = time.Time{} }, "lastReplicatedTimestamp is missing"},
		{"written beyond from before the prefix", func(c *checkpoint.Checkpoint) {
			c.WrittenBeyond = checkpoint.NewWrittenBeyond("100", []bool{false, true})
		}, "writtenBeyond: from 100 is not after lastSequenceNumber"},
		{"written beyond with a wrong count", func(c *checkpoint.Checkpoint) {
			c.WrittenBeyond = &checkpoint.WrittenBeyond{From: after(c.LastSequenceNumber), Written: []byte{0b110}, Count: 1}
		}, "count is 1, written names 2 places"},
		{"written beyond naming the first record not written", func(c *checkpoint.Checkpoint) {
			c.WrittenBeyond = &checkpoint.WrittenBeyond{From: after(c.LastSequenceNumber), Written: []byte{0b11}, Count: 2}
		}, "names place 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := Fixture()
			tt.mutate(&cp)
			advanced, err := b.Store.Save(context.Background(), cp)
			if err == nil || advanced || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "stream orders shard shardId-000000000000") {
				t.Fatalf("got (%t, %v), want (false, error naming the shard and containing %q)", advanced, err, tt.wantErr)
			}
			if cps, err := b.Store.Load(context.Background(), "orders", "us-east-1"); err != nil || len(cps) != 0 {
				t.Errorf("got (%v, %v) stored, want nothing", cps, err)
			}
		})
	}
}

func testConcurrentSaves(t *testing.T, b Backend) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		base := Fixture()
		base.ShardID = fmt.Sprintf("shardId-%012d", round)
		// Random lengths too, so that bytewise and numeric order disagree.
		seqs := make([]string, 40)
		maxSeq := new(big.Int)
		for i := range seqs {
			seqs[i] = randomSequenceNumber(rng, 1+rng.IntN(56))
			n, _ := new(big.Int).SetString(seqs[i], 10)
			if n.Cmp(maxSeq) > 0 {
				maxSeq = n
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(seqs))
		for _, seq := range seqs {
			wg.Go(func() {
				if _, err := b.Store.Save(context.Background(), with(base, 1, seq)); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, _ := stored(t, b.Store, base.StreamName, base.ShardID)
		if got.LastSequenceNumber != maxSeq.String() {
			t.Errorf("round %d: got %s, want the maximum %s", round, got.LastSequenceNumber, maxSeq)
		}
	}
}

func randomSequenceNumber(rng *rand.Rand, digits int) string {
	var sb strings.Builder
	sb.WriteByte(byte('1' + rng.IntN(9)))
	for range digits - 1 {
		sb.WriteByte(byte('0' + rng.IntN(10)))
	}
	return sb.String()
}

// A drain mark is about the records the marked checkpoint covered; a later
// Save is a new item, marked again by MarkDrained's next call.
func testSaveDropsDrainMark(t *testing.T, b Backend) {
	cp := Fixture()
	mustSave(t, b.Store, cp)
	if marked, err := b.Store.MarkDrained(context.Background(), cp.StreamName, cp.SourceRegion, cp.ShardID, 1, cp.UpdatedAt); err != nil || !marked {
		t.Fatalf("mark: got (%t, %v), want (true, nil)", marked, err)
	}
	mustSave(t, b.Store, with(cp, 2, "5"))
	if got, _ := stored(t, b.Store, cp.StreamName, cp.ShardID); got.DrainedEpoch != 0 || got.DrainedAt != nil {
		t.Errorf("got drained epoch %d at %v, want no drain mark after a new save", got.DrainedEpoch, got.DrainedAt)
	}
}

func testLoadSorted(t *testing.T, b Backend) {
	ctx := context.Background()
	if cps, err := b.Store.Load(ctx, "orders", "us-east-1"); err != nil || cps == nil || len(cps) != 0 {
		t.Fatalf("no checkpoints: got (%#v, %v), want an empty slice and no error", cps, err)
	}

	base := Fixture()
	cest := time.FixedZone("CEST", 2*3600)
	var want []checkpoint.Checkpoint
	for _, shard := range []int{3, 0, 12, 1} {
		cp := base
		cp.ShardID = fmt.Sprintf("shardId-%012d", shard)
		cp.LastReplicatedTimestamp = base.LastReplicatedTimestamp.Add(time.Duration(shard) * time.Second)
		mustSave(t, b.Store, cp)
		want = append(want, cp)
	}
	other := base
	other.StreamName = "payments"
	mustSave(t, b.Store, other)
	inCEST := base
	inCEST.StreamName, inCEST.LastReplicatedTimestamp = "audit", base.LastReplicatedTimestamp.In(cest)
	mustSave(t, b.Store, inCEST)

	got, err := b.Store.Load(ctx, "orders", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var gotShards []string
	for _, cp := range got {
		gotShards = append(gotShards, cp.ShardID)
	}
	wantShards := []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000003", "shardId-000000000012"}
	if !reflect.DeepEqual(gotShards, wantShards) {
		t.Fatalf("got shards %v, want %v", gotShards, wantShards)
	}
	for _, w := range want {
		for _, g := range got {
			if g.ShardID == w.ShardID && !reflect.DeepEqual(g, w) {
				t.Errorf("shard %s: got %+v, want %+v", w.ShardID, g, w)
			}
		}
	}
	if resume, ok := checkpoint.ResumePoint(got); !ok || !resume.Equal(base.LastReplicatedTimestamp) {
		t.Errorf("resume point: got %s (%t), want %s", resume, ok, base.LastReplicatedTimestamp)
	}
	audit, err := b.Store.Load(ctx, "audit", "us-east-1")
	if err != nil || len(audit) != 1 || !reflect.DeepEqual(audit[0].LastReplicatedTimestamp, base.LastReplicatedTimestamp) {
		t.Errorf("a checkpoint saved in CEST: got (%+v, %v), want it back in UTC", audit, err)
	}
}

// Both Regions' streams may have different shards, and every Region writes
// its own items, so neither Region's checkpoint can stand for a shard of the
// other.
func testEachRegion(t *testing.T, b Backend) {
	ctx := context.Background()
	east1 := Fixture()
	east2 := Fixture()
	east2.SourceRegion, east2.TargetRegion, east2.Epoch = "us-east-2", "us-east-1", 2
	east2.LastSequenceNumber = "5"
	for _, cp := range []checkpoint.Checkpoint{east1, east2} {
		mustSave(t, b.Store, cp)
	}
	for _, want := range []checkpoint.Checkpoint{east1, east2} {
		got, err := b.Store.Load(ctx, "orders", want.SourceRegion)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("Load(%s): got %+v, want only %+v", want.SourceRegion, got, want)
		}
	}
	for _, region := range []string{"", "us-east-1#shardId-000000000000"} {
		if _, err := b.Store.Load(ctx, "orders", region); err == nil || !strings.Contains(err.Error(), "is not a Region name") {
			t.Errorf("Load(%q): got %v, want an error saying it is not a Region name", region, err)
		}
	}
}

// after is the sequence number one after seq.
func after(seq string) string {
	n, _ := new(big.Int).SetString(seq, 10)
	return n.Add(n, big.NewInt(1)).String()
}

// A redelivery leaves out what the stored checkpoint names beyond its
// prefix, so a save that knows more of it must replace one that knows less,
// and never the other way round; a save that moves the prefix on replaces
// it whatever it names.
func testSaveWrittenBeyond(t *testing.T, b Backend) {
	ctx := context.Background()
	cp := Fixture()
	from := after(cp.LastSequenceNumber)
	beyond := func(places ...int) *checkpoint.WrittenBeyond {
		written := make([]bool, 20)
		for _, k := range places {
			written[k] = true
		}
		return checkpoint.NewWrittenBeyond(from, written)
	}
	for i, step := range []struct {
		beyond       *checkpoint.WrittenBeyond
		seq          string
		wantAdvanced bool
		wantCount    int
	}{
		{nil, cp.LastSequenceNumber, true, 0},
		{beyond(2, 5), cp.LastSequenceNumber, true, 2},
		{beyond(3), cp.LastSequenceNumber, false, 2},
		{nil, cp.LastSequenceNumber, false, 2},
		{beyond(2, 5), cp.LastSequenceNumber, false, 2},
		{beyond(2, 5, 17), cp.LastSequenceNumber, true, 3},
		{nil, after(from), true, 0},
	} {
		next := cp
		next.LastSequenceNumber, next.WrittenBeyond = step.seq, step.beyond
		advanced, err := b.Store.Save(ctx, next)
		if err != nil || advanced != step.wantAdvanced {
			t.Fatalf("save %d: got (%t, %v), want (%t, nil)", i, advanced, err, step.wantAdvanced)
		}
		got, ok := stored(t, b.Store, cp.StreamName, cp.ShardID)
		if !ok {
			t.Fatalf("save %d: nothing stored", i)
		}
		if count := got.WrittenBeyond.Named(); count != step.wantCount {
			t.Errorf("save %d: stored checkpoint names %d records beyond, want %d", i, got.WrittenBeyond.Named(), step.wantCount)
		}
	}
	got, _ := stored(t, b.Store, cp.StreamName, cp.ShardID)
	if got.WrittenBeyond != nil {
		t.Fatalf("the prefix moved on and the stored checkpoint still names %+v", got.WrittenBeyond)
	}
	last := beyond(2, 5, 17)
	next := cp
	next.WrittenBeyond = last
	// A read gives back the very places saved.
	if _, err := b.Store.Save(ctx, with(next, 2, cp.LastSequenceNumber)); err != nil {
		t.Fatal(err)
	}
	got, _ = stored(t, b.Store, cp.StreamName, cp.ShardID)
	for k := range 20 {
		if got.WrittenBeyond.Has(k) != last.Has(k) {
			t.Errorf("place %d: stored %t, saved %t", k, got.WrittenBeyond.Has(k), last.Has(k))
		}
	}
}

// The replicator skips what a redelivered batch's stored checkpoint covers,
// so Get must return that Region's latest save of that shard and nothing
// else.
func testGet(t *testing.T, b Backend) {
	ctx := context.Background()
	cp := Fixture()
	if got, ok, err := b.Store.Get(ctx, "orders", "us-east-1", cp.ShardID); err != nil || ok {
		t.Fatalf("before any save: got (%+v, %t, %v), want (zero, false, nil)", got, ok, err)
	}
	mustSave(t, b.Store, cp)
	later := with(cp, 1, "49656740235234939186548513462361393532838414234960543999")
	mustSave(t, b.Store, later)
	if _, err := b.Store.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	got, ok, err := b.Store.Get(ctx, "orders", "us-east-1", cp.ShardID)
	if err != nil || !ok || !reflect.DeepEqual(got, later) {
		t.Fatalf("got (%+v, %t, %v), want (%+v, true, nil): the maximum saved", got, ok, err, later)
	}
	for _, miss := range []struct{ stream, region, shard string }{
		{"orders", "us-east-2", cp.ShardID},
		{"orders", "us-east-1", "shardId-000000000001"},
		{"payments", "us-east-1", cp.ShardID},
	} {
		if got, ok, err := b.Store.Get(ctx, miss.stream, miss.region, miss.shard); err != nil || ok {
			t.Errorf("Get(%s, %s, %s): got (%+v, %t, %v), want (zero, false, nil)", miss.stream, miss.region, miss.shard, got, ok, err)
		}
	}
	b.PutMalformed(t, "orders", "us-east-1", "shardId-000000000007")
	if _, _, err := b.Store.Get(ctx, "orders", "us-east-1", "shardId-000000000007"); err == nil || !strings.Contains(err.Error(), "shard us-east-1#shardId-000000000007: lastSequenceNumber: empty") {
		t.Errorf("malformed item: got %v, want an error naming the shard's key", err)
	}
	if _, _, err := b.Store.Get(ctx, "orders", "", cp.ShardID); err == nil || !strings.Contains(err.Error(), "is not a Region name") {
		t.Errorf("empty Region: got %v, want an error saying it is not a Region name", err)
	}
}

// A resume point computed without one shard's checkpoint would be wrong, so
// one malformed item fails the whole load.
func testLoadMalformed(t *testing.T, b Backend) {
	mustSave(t, b.Store, Fixture())
	b.PutMalformed(t, "orders", "us-east-1", "shardId-000000000007")
	cps, err := b.Store.Load(context.Background(), "orders", "us-east-1")
	if err == nil || !strings.Contains(err.Error(), "stream orders") || !strings.Contains(err.Error(), "shard us-east-1#shardId-000000000007: lastSequenceNumber: empty") {
		t.Fatalf("got (%v, %v), want an error naming the stream and the shard's key", cps, err)
	}
	if cps, err := b.Store.Load(context.Background(), "orders", "us-east-2"); err != nil || len(cps) != 0 {
		t.Errorf("the other Region: got (%v, %v), want no checkpoints and no error", cps, err)
	}
}

func testMarkDrained(t *testing.T, b Backend) {
	ctx := context.Background()
	cp := Fixture()
	when := time.Date(2026, 11, 29, 13, 0, 0, 0, time.UTC)
	if marked, err := b.Store.MarkDrained(ctx, "orders", "us-east-1", cp.ShardID, 1, when); err != nil || marked {
		t.Fatalf("mark without a checkpoint: got (%t, %v), want (false, nil)", marked, err)
	}
	mustSave(t, b.Store, cp)
	if marked, err := b.Store.MarkDrained(ctx, "orders", "us-east-2", cp.ShardID, 1, when); err != nil || marked {
		t.Fatalf("mark the other Region's shard: got (%t, %v), want (false, nil)", marked, err)
	}
	steps := []struct {
		epoch      int64
		wantMarked bool
		wantEpoch  int64
	}{{1, true, 1}, {1, false, 1}, {3, true, 3}, {2, false, 3}}
	for _, st := range steps {
		marked, err := b.Store.MarkDrained(ctx, "orders", "us-east-1", cp.ShardID, st.epoch, when.In(time.FixedZone("CET", 3600)))
		if err != nil || marked != st.wantMarked {
			t.Fatalf("mark epoch %d: got (%t, %v), want (%t, nil)", st.epoch, marked, err, st.wantMarked)
		}
		got, _ := stored(t, b.Store, "orders", cp.ShardID)
		if got.DrainedEpoch != st.wantEpoch || got.DrainedAt == nil || !got.DrainedAt.Equal(when) || got.DrainedAt.Location() != time.UTC {
			t.Errorf("after marking epoch %d: got drained epoch %d at %v, want %d at %s", st.epoch, got.DrainedEpoch, got.DrainedAt, st.wantEpoch, when)
		}
	}
}

// point is a sync point of seq arriving at, written to target shard 3 at
// target.
func point(seq string, at time.Time, target string) checkpoint.SyncPoint {
	return checkpoint.SyncPoint{SequenceNumber: seq, Arrival: at, Targets: map[string]string{"shardId-000000000003": target}}
}

func mustAppend(t *testing.T, s TrailContract, region, shard string, p checkpoint.SyncPoint) {
	t.Helper()
	if err := s.AppendSyncPoint(context.Background(), "orders", region, shard, p); err != nil {
		t.Fatalf("append %s to %s %s: %v", p.SequenceNumber, region, shard, err)
	}
}

func trailOf(t *testing.T, s TrailContract, shard string) []checkpoint.SyncPoint {
	t.Helper()
	points, err := s.LoadTrail(context.Background(), "orders", "us-east-1", shard)
	if err != nil {
		t.Fatal(err)
	}
	if points == nil {
		t.Fatal("got a nil trail, want a non-nil slice")
	}
	return points
}

func sameTrail(t *testing.T, got, want []checkpoint.SyncPoint) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d points %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i].SequenceNumber != want[i].SequenceNumber || !got[i].Arrival.Equal(want[i].Arrival) || got[i].Arrival.Location() != time.UTC ||
			!reflect.DeepEqual(got[i].Targets, want[i].Targets) {
			t.Errorf("point %d: got %+v, want %+v in UTC", i, got[i], want[i])
		}
	}
}

// A point every 5 s for five minutes, then one a minute for 90 minutes and
// one an hour for three days: the stored trail is the fold of AppendToTrail
// over the points, so the table loses no point that Thin keeps, and it
// stays within the bound.
func testTrailFold(t *testing.T, b Backend) {
	shard := Fixture().ShardID
	if got := trailOf(t, b.Trails, shard); len(got) != 0 {
		t.Fatalf("got %d points before any append, want none", len(got))
	}
	t0 := Fixture().UpdatedAt
	var want []checkpoint.SyncPoint
	at, seq := t0, 1000
	step := func(d time.Duration, n int) {
		for range n {
			at, seq = at.Add(d), seq+7
			p := point(fmt.Sprint(seq), at.In(time.FixedZone("CET", 3600)), fmt.Sprint(seq*3))
			want, _ = checkpoint.AppendToTrail(want, p, at)
			mustAppend(t, b.Trails, "us-east-1", shard, p)
		}
	}
	step(5*time.Second, 60)
	step(time.Minute, 90)
	step(time.Hour, 72)
	got := trailOf(t, b.Trails, shard)
	sameTrail(t, got, want)
	if len(got) > checkpoint.MaxTrailPoints || checkpoint.TrailBytes(got) > checkpoint.MaxTrailBytes {
		t.Errorf("got %d points, %d bytes, want at most %d and %d", len(got), checkpoint.TrailBytes(got), checkpoint.MaxTrailPoints, checkpoint.MaxTrailBytes)
	}
	if got[0].SequenceNumber != "1007" {
		t.Errorf("oldest point %s, want the first one, 1007: the trail's reach must not shrink within retention", got[0].SequenceNumber)
	}
}

func testTrailNotAhead(t *testing.T, b Backend) {
	t0, shard := Fixture().UpdatedAt, Fixture().ShardID
	mustAppend(t, b.Trails, "us-east-1", shard, point("200", t0, "7000"))
	for _, seq := range []string{"200", "100"} {
		mustAppend(t, b.Trails, "us-east-1", shard, point(seq, t0.Add(time.Minute), "1"))
	}
	sameTrail(t, trailOf(t, b.Trails, shard), []checkpoint.SyncPoint{point("200", t0, "7000")})
}

// Two Lambda instances take turns on a shard: each one's view of the trail
// goes stale when the other adds a point, and no point may be lost to it.
func testTrailTwoWriters(t *testing.T, b Backend) {
	t0, shard := Fixture().UpdatedAt, Fixture().ShardID
	var want []checkpoint.SyncPoint
	for i, w := range []TrailContract{b.Trails, b.OtherTrails, b.Trails, b.OtherTrails, b.OtherTrails, b.Trails} {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		p := point(fmt.Sprint(100+i), at, fmt.Sprint(5000+i))
		want, _ = checkpoint.AppendToTrail(want, p, at)
		mustAppend(t, w, "us-east-1", shard, p)
	}
	sameTrail(t, trailOf(t, b.Trails, shard), want)
	sameTrail(t, trailOf(t, b.OtherTrails, shard), want)
}

func testTrailRefusesInvalid(t *testing.T, b Backend) {
	t0, shard := Fixture().UpdatedAt, Fixture().ShardID
	tests := []struct {
		name          string
		region, shard string
		p             checkpoint.SyncPoint
	}{
		{"a sequence number that is no number", "us-east-1", shard, point("latest", t0, "1")},
		{"a leading zero", "us-east-1", shard, point("0100", t0, "1")},
		{"no arrival", "us-east-1", shard, point("100", time.Time{}, "1")},
		{"a target sequence number that is no number", "us-east-1", shard, point("100", t0, "x")},
		{"a Region with the key separator", "us#east-1", shard, point("100", t0, "1")},
		{"no shard", "us-east-1", "", point("100", t0, "1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.Trails.AppendSyncPoint(context.Background(), "orders", tt.region, tt.shard, tt.p); err == nil {
				t.Fatal("got nil, want an error")
			}
		})
	}
	trails, err := b.Trails.LoadTrails(context.Background(), "orders", "us-east-1")
	if err != nil || len(trails) != 0 {
		t.Fatalf("got %v, %v, want no trails", trails, err)
	}
}

// The trail is an item of its own: Load never returns it (nor fails on it),
// Save and MarkDrained neither carry nor drop it, and it does not need a
// checkpoint.
func testTrailApart(t *testing.T, b Backend) {
	t0, shard := Fixture().UpdatedAt, Fixture().ShardID
	mustAppend(t, b.Trails, "us-east-1", shard, point("100", t0, "7000"))
	mustAppend(t, b.Trails, "us-east-1", "shardId-000000000009", point("100", t0, "7000"))
	if cps, err := b.Store.Load(context.Background(), "orders", "us-east-1"); err != nil || len(cps) != 0 {
		t.Fatalf("got %v, %v, want no checkpoints beside the trails", cps, err)
	}
	mustSave(t, b.Store, Fixture())
	if ok, err := b.Store.MarkDrained(context.Background(), "orders", "us-east-1", shard, 1, t0); err != nil || !ok {
		t.Fatalf("got (%t, %v), want (true, nil)", ok, err)
	}
	mustSave(t, b.Store, with(Fixture(), 2, Fixture().LastSequenceNumber))
	cps, err := b.Store.Load(context.Background(), "orders", "us-east-1")
	if err != nil || len(cps) != 1 || cps[0].Epoch != 2 {
		t.Fatalf("got %+v, %v, want the one checkpoint at epoch 2", cps, err)
	}
	sameTrail(t, trailOf(t, b.Trails, shard), []checkpoint.SyncPoint{point("100", t0, "7000")})
}

func testLoadTrails(t *testing.T, b Backend) {
	t0 := Fixture().UpdatedAt
	mustAppend(t, b.Trails, "us-east-1", "shardId-000000000002", point("300", t0, "30"))
	mustAppend(t, b.Trails, "us-east-1", "shardId-000000000001", point("100", t0, "10"))
	mustAppend(t, b.Trails, "us-east-1", "shardId-000000000001", point("150", t0.Add(time.Minute), "15"))
	mustAppend(t, b.Trails, "us-east-2", "shardId-000000000001", point("999", t0, "99"))
	if err := b.Trails.AppendSyncPoint(context.Background(), "payments", "us-east-1", "shardId-000000000001", point("5", t0, "5")); err != nil {
		t.Fatal(err)
	}
	mustSave(t, b.Store, Fixture())
	trails, err := b.Trails.LoadTrails(context.Background(), "orders", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range trails {
		got = append(got, fmt.Sprintf("%s %s %s %d", tr.StreamName, tr.SourceRegion, tr.ShardID, len(tr.Points)))
	}
	want := []string{"orders us-east-1 shardId-000000000001 2", "orders us-east-1 shardId-000000000002 1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	sameTrail(t, trails[0].Points, []checkpoint.SyncPoint{point("100", t0, "10"), point("150", t0.Add(time.Minute), "15")})
	if empty, err := b.Trails.LoadTrails(context.Background(), "nothing", "us-east-1"); err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("got %v, %v, want an empty non-nil slice", empty, err)
	}
	if _, err := b.Trails.LoadTrails(context.Background(), "orders", "us-east-1#x"); err == nil {
		t.Error("got nil for a Region with the key separator, want an error")
	}
}
