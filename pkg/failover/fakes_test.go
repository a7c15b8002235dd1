package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion/activeregiontest"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint/checkpointtest"
)

// fakeConfigs is the shared in-memory config store (its fenced-write
// semantics are checked against the real one by
// activeregiontest.RunStoreContract), with the faults and the record of
// Switch calls these tests need.
type fakeConfigs struct {
	*activeregiontest.Store
	mu       sync.Mutex
	switches []activeregion.Switch
	// switchErr fails the switch of a stream with an error.
	switchErr map[string]error
	// createErr fails Create with an error.
	createErr error
	listErr   error
}

func newFakeConfigs(cfgs ...activeregion.Config) *fakeConfigs {
	return &fakeConfigs{Store: activeregiontest.New(cfgs...)}
}

func (f *fakeConfigs) List(ctx context.Context) ([]activeregion.Config, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	return f.Store.List(ctx)
}

func (f *fakeConfigs) Create(ctx context.Context, cfg activeregion.Config) (bool, error) {
	if f.createErr != nil {
		return false, f.createErr
	}
	return f.Store.Create(ctx, cfg)
}

func (f *fakeConfigs) Switch(ctx context.Context, stream string, sw activeregion.Switch) (activeregion.Config, error) {
	f.mu.Lock()
	f.switches = append(f.switches, sw)
	err := f.switchErr[stream]
	f.mu.Unlock()
	if err != nil {
		return activeregion.Config{}, err
	}
	return f.Store.Switch(ctx, stream, sw)
}

// item is the stored item of stream, the zero Config when there is none.
func (f *fakeConfigs) item(stream string) activeregion.Config {
	cfg, _ := f.Item(stream)
	return cfg
}

func (f *fakeConfigs) writeCount() int { return f.Writes() }

// switched is cfg moved to region at t, one epoch on.
func switched(cfg activeregion.Config, region string, t time.Time) activeregion.Config {
	cfg.History = append(slices.Clone(cfg.History), activeregion.Epoch{Region: region, Since: t, Epoch: cfg.Epoch + 1})
	cfg.ActiveRegion, cfg.ActiveSince, cfg.Epoch = region, t, cfg.Epoch+1
	return cfg
}

// configAt is a valid config of stream whose history is the given Regions,
// one epoch per hour from t0.
func configAt(stream string, regions ...string) activeregion.Config {
	cfg := activeregion.Config{StreamName: stream}
	for i, r := range regions {
		since := t0.Add(time.Duration(i) * time.Hour)
		cfg.History = append(cfg.History, activeregion.Epoch{Region: r, Since: since, Epoch: int64(i + 1)})
		cfg.ActiveRegion, cfg.ActiveSince, cfg.Epoch = r, since, int64(i+1)
	}
	return cfg
}

var t0 = time.Date(2026, 7, 18, 20, 0, 0, 0, time.UTC)

// cp is a checkpoint of stream's shard at commit time ts, written by region's
// replicator in epoch.
func cp(stream, shard string, ts time.Time, region string, epoch int64) checkpoint.Checkpoint {
	return checkpoint.Checkpoint{
		StreamName: stream, ShardID: shard,
		LastReplicatedTimestamp: ts, TimestampSource: checkpoint.SourceCommit,
		LastSequenceNumber: "49590338271490256608559692538361571095921575989136588898", LastArrivalTimestamp: ts,
		TargetShardID: shard, TargetSequenceNumber: "49590338271490256608559692538361571095921575989136588899",
		SourceRegion: region, TargetRegion: "other", Epoch: epoch, UpdatedAt: ts.Add(time.Second),
	}
}

// fakeLambda is one Region's ConcurrencyAPI.
type fakeLambda struct {
	mu       sync.Mutex
	reserved *int32
	getErr   error
	putErr   error
	delErr   error
	calls    []string
}

func (f *fakeLambda) GetFunctionConcurrency(_ context.Context, in *awslambda.GetFunctionConcurrencyInput, _ ...func(*awslambda.Options)) (*awslambda.GetFunctionConcurrencyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "get "+*in.FunctionName)
	if f.getErr != nil {
		return nil, f.getErr
	}
	return &awslambda.GetFunctionConcurrencyOutput{ReservedConcurrentExecutions: f.reserved}, nil
}

func (f *fakeLambda) PutFunctionConcurrency(_ context.Context, in *awslambda.PutFunctionConcurrencyInput, _ ...func(*awslambda.Options)) (*awslambda.PutFunctionConcurrencyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("put %s %d", *in.FunctionName, *in.ReservedConcurrentExecutions))
	if f.putErr != nil {
		return nil, f.putErr
	}
	f.reserved = in.ReservedConcurrentExecutions
	return &awslambda.PutFunctionConcurrencyOutput{}, nil
}

func (f *fakeLambda) DeleteFunctionConcurrency(_ context.Context, in *awslambda.DeleteFunctionConcurrencyInput, _ ...func(*awslambda.Options)) (*awslambda.DeleteFunctionConcurrencyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "delete "+*in.FunctionName)
	if f.delErr != nil {
		return nil, f.delErr
	}
	f.reserved = nil
	return &awslambda.DeleteFunctionConcurrencyOutput{}, nil
}

var errRegionDown = errors.New("dial tcp: connection refused")

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fakeKinesis is one Region's ListShardsAPI. Without shards of its own for a
// stream it lists one open shard per checkpoint, so tests that are not about
// shards see every shard covered.
type fakeKinesis struct {
	mu     sync.Mutex
	shards map[string][]kinesistypes.Shard
	cps    *checkpointtest.Store
	err    error
	calls  int
	// pageSize, when set, splits the listing into pages of that many shards.
	pageSize int
	// hang makes every call wait for its context, as a Region that accepts
	// connections and never answers.
	hang bool
	// onCall runs at each call, before it answers.
	onCall func()
}

func (f *fakeKinesis) ListShards(ctx context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	hang, onCall := f.hang, f.onCall
	f.calls++
	f.mu.Unlock()
	if onCall != nil {
		onCall()
	}
	if hang {
		<-ctx.Done()
		return nil, fmt.Errorf("list shards: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if in.StreamName != nil && in.NextToken != nil {
		return nil, errors.New("InvalidArgumentException: NextToken and StreamName cannot be provided together")
	}
	stream, start := aws.ToString(in.StreamName), 0
	if in.NextToken != nil {
		var err error
		if _, err = fmt.Sscanf(*in.NextToken, "%s %d", &stream, &start); err != nil {
			return nil, err
		}
	}
	all, ok := f.shards[stream]
	if !ok && f.cps != nil {
		all = checkpointShards(f.cps, stream)
	}
	end := len(all)
	if f.pageSize > 0 && start+f.pageSize < end {
		end = start + f.pageSize
	}
	out := &kinesis.ListShardsOutput{Shards: all[start:end]}
	if end < len(all) {
		out.NextToken = aws.String(fmt.Sprintf("%s %d", stream, end))
	}
	return out, nil
}

// checkpointShards is one open shard per shard that either Region has a
// checkpoint of.
func checkpointShards(cps *checkpointtest.Store, stream string) []kinesistypes.Shard {
	var ids []string
	for _, region := range []string{east1, east2} {
		loaded, err := cps.Load(context.Background(), stream, region)
		if err != nil {
			panic(err) // the tests' own checkpoints are valid
		}
		for _, c := range loaded {
			ids = append(ids, c.ShardID)
		}
	}
	slices.Sort(ids)
	var shards []kinesistypes.Shard
	for _, id := range slices.Compact(ids) {
		shards = append(shards, openShard(id))
	}
	return shards
}

func openShard(id string) kinesistypes.Shard {
	return kinesistypes.Shard{ShardId: aws.String(id), SequenceNumberRange: &kinesistypes.SequenceNumberRange{StartingSequenceNumber: aws.String("1")}}
}

func closedShard(id string, parents ...string) kinesistypes.Shard {
	s := childShard(id, parents...)
	s.SequenceNumberRange.EndingSequenceNumber = aws.String("9")
	return s
}

func childShard(id string, parents ...string) kinesistypes.Shard {
	s := openShard(id)
	if len(parents) > 0 {
		s.ParentShardId = aws.String(parents[0])
	}
	if len(parents) > 1 {
		s.AdjacentParentShardId = aws.String(parents[1])
	}
	return s
}

// noSettle skips the wait before the read-back of switches.
var noSettle = WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() })
