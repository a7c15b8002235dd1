package failover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

// fakeConfigs is an in-memory ConfigStore with the fenced-write semantics of
// activeregion.Store, counting reads and writes.
type fakeConfigs struct {
	mu       sync.Mutex
	items    map[string]activeregion.Config
	reads    int
	writes   int
	switches []activeregion.Switch
	// beforeWrite runs inside Switch between its read and its conditional
	// write: a test uses it to let another writer win the race.
	beforeWrite func(stream string)
	// switchErr fails the switch of a stream with an error.
	switchErr map[string]error
	// createErr fails Create with an error.
	createErr error
	listErr   error
}

func newFakeConfigs(cfgs ...activeregion.Config) *fakeConfigs {
	f := &fakeConfigs{items: map[string]activeregion.Config{}}
	for _, c := range cfgs {
		f.items[c.StreamName] = c
	}
	return f
}

func (f *fakeConfigs) Get(_ context.Context, stream string) (activeregion.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	cfg, ok := f.items[stream]
	if !ok {
		return activeregion.Config{}, fmt.Errorf("get %s: %w", stream, activeregion.ErrNotFound)
	}
	return cfg, nil
}

func (f *fakeConfigs) List(context.Context) ([]activeregion.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.listErr != nil {
		return nil, f.listErr
	}
	var cfgs []activeregion.Config
	for _, c := range f.items {
		cfgs = append(cfgs, c)
	}
	slices.SortFunc(cfgs, func(a, b activeregion.Config) int { return strings.Compare(a.StreamName, b.StreamName) })
	return cfgs, nil
}

func (f *fakeConfigs) Create(_ context.Context, cfg activeregion.Config) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return false, f.createErr
	}
	if _, ok := f.items[cfg.StreamName]; ok {
		return false, nil
	}
	if err := cfg.Validate(); err != nil {
		return false, err
	}
	f.writes++
	f.items[cfg.StreamName] = cfg
	return true, nil
}

func (f *fakeConfigs) Switch(_ context.Context, stream string, sw activeregion.Switch) (activeregion.Config, error) {
	f.mu.Lock()
	f.switches = append(f.switches, sw)
	if err := f.switchErr[stream]; err != nil {
		f.mu.Unlock()
		return activeregion.Config{}, err
	}
	cur, ok := f.items[stream]
	if !ok {
		f.mu.Unlock()
		return activeregion.Config{}, activeregion.ErrNotFound
	}
	if sw.ExpectedEpoch != nil && *sw.ExpectedEpoch != cur.Epoch {
		f.mu.Unlock()
		return activeregion.Config{}, fmt.Errorf("epoch %d: %w", cur.Epoch, activeregion.ErrStaleEpoch)
	}
	if cur.ActiveRegion == sw.To {
		f.mu.Unlock()
		return cur, nil
	}
	hook := f.beforeWrite
	f.mu.Unlock()
	if hook != nil {
		hook(stream)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.items[stream].Epoch != cur.Epoch {
		return activeregion.Config{}, activeregion.ErrConflict
	}
	next := switched(cur, sw.To, sw.At)
	last := &next.History[len(next.History)-1]
	last.Reason, last.RequestID, last.RequestedBy, last.ResumeFrom = sw.Reason, sw.RequestID, sw.RequestedBy, sw.ResumeFrom
	last.Mode = cmp.Or(sw.Mode, activeregion.ModeRewind)
	next.UpdatedBy, next.Reason = sw.UpdatedBy, sw.Reason
	next.History = activeregion.PruneHistory(next.History, sw.At, cmp.Or(sw.HistoryRetention, activeregion.DefaultHistoryRetention), cmp.Or(sw.HistoryLimit, activeregion.DefaultHistoryLimit))
	f.items[stream] = next
	f.writes++
	return next, nil
}

func (f *fakeConfigs) RecordVisibility(_ context.Context, stream string, v activeregion.Visibility) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.items[stream]
	if !ok {
		return false, activeregion.ErrNotFound
	}
	last := cur.History[len(cur.History)-1]
	if cur.Epoch != v.Epoch || last.RequestID != v.RequestID {
		return false, nil
	}
	cur.History = slices.Clone(cur.History)
	visible, settled := v.VisibleBy.UTC(), v.SettledAt.UTC()
	cur.History[len(cur.History)-1].VisibleBy = &visible
	cur.History[len(cur.History)-1].SettledAt = &settled
	cur.History[len(cur.History)-1].ResumeFrom = v.ResumeFrom
	f.items[stream] = cur
	f.writes++
	return true, nil
}

func (f *fakeConfigs) item(stream string) activeregion.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.items[stream]
}

func (f *fakeConfigs) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

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

type fakeCheckpoints struct {
	byStream map[string][]checkpoint.Checkpoint
	err      error
}

func (f *fakeCheckpoints) Load(_ context.Context, stream, region string) ([]checkpoint.Checkpoint, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []checkpoint.Checkpoint
	for _, cp := range f.byStream[stream] {
		if cp.SourceRegion == region {
			out = append(out, cp)
		}
	}
	return out, nil
}

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
	cps    *fakeCheckpoints
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
		for _, c := range f.cps.byStream[stream] {
			all = append(all, openShard(c.ShardID))
		}
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
