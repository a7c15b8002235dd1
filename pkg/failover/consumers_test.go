package failover

import (
	"context"
	"errors"
	"log/slog"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint/checkpointtest"
	"github.com/kinesis-crr/kinesis-crr/pkg/translate"
)

// hashShard is an open shard covering hash keys [from, to].
func hashShard(id string, from, to *big.Int) kinesistypes.Shard {
	s := openShard(id)
	s.HashKeyRange = &kinesistypes.HashKeyRange{StartingHashKey: aws.String(from.String()), EndingHashKey: aws.String(to.String())}
	return s
}

const (
	srcSeq0 = "49590338271490256608559692538361571095921575989136588898"
	srcSeq1 = "49590338271490256608559692538361571095921575989136599999"
)

// consumerFixture: s1 active in us-east-1 with two shards halving the hash
// space, each checkpointed, and a copy in us-east-2 with one shard over the
// whole space; shard 0's trail has a point at its checkpoint, shard 1's an
// older one, so the target shard starts after the earlier of the two target
// sequence numbers.
func consumerFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(testSettings(), configAt("s1", east1))
	half := new(big.Int).Lsh(big.NewInt(1), 127)
	top := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	f.kinesis[east1].shards = map[string][]kinesistypes.Shard{"s1": {
		hashShard("shardId-000000000000", big.NewInt(0), new(big.Int).Sub(half, big.NewInt(1))),
		hashShard("shardId-000000000001", half, top),
	}}
	f.kinesis[east2].shards = map[string][]kinesistypes.Shard{"s1": {hashShard("shardId-000000000007", big.NewInt(0), top)}}
	at := now.Add(-time.Minute)
	c0 := cp("s1", "shardId-000000000000", at, east1, 1)
	c1 := cp("s1", "shardId-000000000001", at, east1, 1)
	c1.LastSequenceNumber = srcSeq1
	f.cps.Put(c0, c1)
	ctx := context.Background()
	for _, p := range []struct {
		shard, seq, target string
	}{
		{"shardId-000000000000", srcSeq0, "49600000000000000000000000000000000000000000000000000500"},
		{"shardId-000000000001", "49590338271490256608559692538361571095921575989136590000", "49600000000000000000000000000000000000000000000000000300"},
	} {
		if err := f.cps.AppendSyncPoint(ctx, "s1", east1, p.shard, checkpoint.SyncPoint{
			SequenceNumber: p.seq, Arrival: at.Add(-time.Second), Targets: map[string]string{"shardId-000000000007": p.target},
		}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func wantConsumerPositions(t *testing.T, what string, sr StreamReport, want []ConsumerPosition) {
	t.Helper()
	if !slices.Equal(sr.ConsumerPositions, want) {
		t.Errorf("%s: got consumerPositions %+v, want %+v", what, sr.ConsumerPositions, want)
	}
}

func TestTheReportGivesWhereACaughtUpConsumerResumesInTheNewRegion(t *testing.T) {
	f := consumerFixture(t)
	want := []ConsumerPosition{{
		TargetShardID:    "shardId-000000000007",
		StartingPosition: translate.AfterSequenceNumber,
		// The earlier of the two source shards' points in the one target
		// shard both feed.
		SequenceNumber: "49600000000000000000000000000000000000000000000000000300",
	}}

	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2","expectedEpoch":1}`)
	if got := statuses(r)["s1"]; got != StatusSwitched {
		t.Fatalf("got status %s, want %s (warnings %q)", got, StatusSwitched, r.Warnings)
	}
	wantConsumerPositions(t, "failover", r.Streams[0], want)
	if len(r.Warnings) != 0 {
		t.Errorf("failover: got warnings %q, want none", r.Warnings)
	}

	// status, in either Region, keeps them: from the current epoch's
	// previous Region into its active one.
	for _, region := range []string{east1, east2} {
		r, err := f.in[region].Handle(context.Background(), []byte(`{"action":"status"}`))
		if err != nil {
			t.Fatal(err)
		}
		wantConsumerPositions(t, "status in "+region, r.Streams[0], want)
	}

	// A retry of the switch reports them too.
	r = f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
	if got := statuses(r)["s1"]; got != StatusAlreadyActive {
		t.Fatalf("retry: got status %s, want %s", got, StatusAlreadyActive)
	}
	wantConsumerPositions(t, "retry", r.Streams[0], want)
}

func TestConsumerPositionsFallBackAndSaySoWithoutATrail(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	f.cps.Put(cp("s1", "shardId-000000000000", now.Add(-time.Minute), east1, 1))
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
	s1 := r.Streams[0]
	wantConsumerPositions(t, "failover", s1, []ConsumerPosition{{TargetShardID: "shardId-000000000000", StartingPosition: translate.TrimHorizon}})
	if !hasLine(s1.ConsumerPositionWarnings, "shardId-000000000000", "no sync points", "TRIM_HORIZON") {
		t.Errorf("got consumerPositionWarnings %q, want one saying the shard has no sync points", s1.ConsumerPositionWarnings)
	}
}

// failingTrails is the checkpoint store whose trails cannot be read.
type failingTrails struct{ *checkpointtest.Store }

func (failingTrails) LoadTrails(context.Context, string, string) ([]checkpoint.Trail, error) {
	return nil, errors.New("ProvisionedThroughputExceededException")
}

func TestConsumerPositionsThatCannotBeComputedAreAWarningNotAFailure(t *testing.T) {
	t.Run("trails unreadable", func(t *testing.T) {
		f := consumerFixture(t)
		s := testSettings()
		kin := map[string]ListShardsAPI{east1: f.kinesis[east1], east2: f.kinesis[east2]}
		h := NewHandler(s, Clients{Kinesis: kin}, WithStores(f.configs, failingTrails{f.cps}),
			WithClock(func() time.Time { return now }), WithLogger(slog.New(slog.DiscardHandler)), noSettle)
		r, err := h.Handle(context.Background(), []byte(`{"targetRegion":"us-east-2"}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := statuses(r)["s1"]; got != StatusSwitched {
			t.Fatalf("got status %s, want the switch made anyway", got)
		}
		wantConsumerPositions(t, "failover", r.Streams[0], []ConsumerPosition{})
		if !hasLine(r.Warnings, "s1: consumerPositions are left out", "ProvisionedThroughputExceededException") {
			t.Errorf("got warnings %q, want one saying why consumerPositions are left out", r.Warnings)
		}
		if r.Streams[0].ResumeFrom == nil {
			t.Errorf("got no resumeFrom, want it unaffected")
		}
	})
	t.Run("new Region's shards unlisted", func(t *testing.T) {
		f := consumerFixture(t)
		f.kinesis[east2].err = errRegionDown
		r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
		if got := statuses(r)["s1"]; got != StatusSwitched {
			t.Fatalf("got status %s, want the switch made anyway", got)
		}
		wantConsumerPositions(t, "failover", r.Streams[0], []ConsumerPosition{})
		if !hasLine(r.Warnings, "s1: consumerPositions are left out", "could not be listed") {
			t.Errorf("got warnings %q, want one saying why consumerPositions are left out", r.Warnings)
		}
	})
	t.Run("old Region hangs", func(t *testing.T) {
		f := consumerFixture(t)
		f.kinesis[east1].hang = true
		start := time.Now()
		r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
		if got := statuses(r)["s1"]; got != StatusSwitched {
			t.Fatalf("got status %s, want the switch made anyway", got)
		}
		// Within the one cross-Region deadline (1s in testSettings).
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %s, want the cross-Region deadline to bound it", d)
		}
		if len(r.Streams[0].ConsumerPositions) != 0 && !hasLine(r.Streams[0].ConsumerPositionWarnings, "matched", "by id") {
			t.Errorf("got consumerPositions %+v with warnings %q, want none or ones matched by id", r.Streams[0].ConsumerPositions, r.Streams[0].ConsumerPositionWarnings)
		}
	})
}
