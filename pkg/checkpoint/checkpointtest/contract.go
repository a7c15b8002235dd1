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
}

var _ Contract = (*checkpoint.Store)(nil)

// Backend is one empty checkpoint table under test.
type Backend struct {
	Store Contract
	// PutMalformed stores region's item of shard of stream without a
	// lastSequenceNumber, bypassing the store's checks.
	PutMalformed func(t *testing.T, stream, region, shard string)
}

// InMemory is the Backend of a new in-memory Store, for RunStoreContract.
func InMemory(*testing.T) Backend {
	s := New()
	return Backend{Store: s, PutMalformed: func(_ *testing.T, stream, region, shard string) {
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
