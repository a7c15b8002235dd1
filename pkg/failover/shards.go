package failover

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/awsclient"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// ListShardsAPI is the part of a Region's Kinesis client that lists a
// stream's shards, so that a shard without a checkpoint is not silently
// left out of the resume point.
type ListShardsAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

var _ ListShardsAPI = (*kinesis.Client)(nil)

// shardTopology is a stream's shards as ListShards returned them.
type shardTopology struct {
	shards []kinesistypes.Shard
	// region is where they were listed.
	region string
}

func (t *shardTopology) has(id string) bool {
	_, ok := t.shard(id)
	return ok
}

// uncovered returns the shards whose records may be missing from the target
// without any checkpoint saying so: open shards without a checkpoint, and
// closed ones without a checkpoint whose children are not all settled.
func (t *shardTopology) uncovered(covered func(id string) bool) []string {
	var out []string
	for _, s := range t.shards {
		if id := aws.ToString(s.ShardId); !t.settled(id, covered) {
			out = append(out, id)
		}
	}
	return out
}

// settled tells whether everything of shard id is accounted for: it has a
// checkpoint (or is ignored), or it is closed and all its children are
// settled. A child's checkpoint proves its parent was drained first, because
// the event source mapping finishes a parent before its children.
func (t *shardTopology) settled(id string, covered func(id string) bool) bool {
	if covered(id) {
		return true
	}
	s, ok := t.shard(id)
	if !ok || !t.closed(s) {
		return false
	}
	return len(t.childrenNotSettled(id, covered)) == 0
}

func (t *shardTopology) shard(id string) (kinesistypes.Shard, bool) {
	i := slices.IndexFunc(t.shards, func(s kinesistypes.Shard) bool { return aws.ToString(s.ShardId) == id })
	if i < 0 {
		return kinesistypes.Shard{}, false
	}
	return t.shards[i], true
}

func (t *shardTopology) closed(s kinesistypes.Shard) bool {
	return s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
}

func (t *shardTopology) childrenNotSettled(id string, covered func(id string) bool) []string {
	var out []string
	for _, c := range t.shards {
		if aws.ToString(c.ParentShardId) != id && aws.ToString(c.AdjacentParentShardId) != id {
			continue
		}
		if cid := aws.ToString(c.ShardId); !t.settled(cid, covered) {
			out = append(out, cid)
		}
	}
	return out
}

// topology lists the stream's shards in the Region being failed away from,
// whose shards the checkpoints are about. That Region may be down, so the
// own Region's listing stands in, with a warning; without either, nil.
//
// The Region left is called within cross, the call's one cross-Region
// deadline; the own Region within ctx.
func (inv *invocation) topology(ctx, cross context.Context, r *resumeResult, name string, from source) *shardTopology {
	own := inv.h.settings.OwnRegion
	var firstErr error
	if from.known && from.region != own {
		shards, err := inv.listShards(cross, from.region, name)
		if err == nil {
			return &shardTopology{shards: shards, region: from.region}
		}
		firstErr = err
	}
	shards, err := inv.listShards(ctx, own, name)
	if err != nil {
		if firstErr != nil {
			r.warn("%s: shards could not be listed in %s (%v) nor in %s (%v), so resumeFrom is UNVERIFIED: a shard without a checkpoint would not hold it back",
				name, from.region, firstErr, own, err)
		} else {
			r.warn("%s: shards could not be listed in %s (%v), so resumeFrom is UNVERIFIED: a shard without a checkpoint would not hold it back", name, own, err)
		}
		return nil
	}
	if firstErr != nil {
		r.warn("%s: shards could not be listed in %s (%v): listed in %s instead, assuming both streams have the same shard IDs (true for provisioned streams of the same shard count, not after resharding or for on-demand streams)",
			name, from.region, firstErr, own)
	}
	return &shardTopology{shards: shards, region: own}
}

func (inv *invocation) listShards(ctx context.Context, region, stream string) ([]kinesistypes.Shard, error) {
	client, ok := inv.h.kinesis[region]
	if !ok {
		return nil, fmt.Errorf("no Kinesis client for %s", region)
	}
	shards, err := streamread.Shards(ctx, client, stream)
	if err != nil {
		return nil, fmt.Errorf("in %s: %w", region, err)
	}
	return shards, nil
}

// regionKinesis builds one Kinesis client per Region, each with the
// endpoint awsclient.Endpoint gives it.
func regionKinesis(cfg aws.Config, own string, regions []string, local endpoints.File) map[string]ListShardsAPI {
	return perRegion(regions, func(r string) ListShardsAPI {
		return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
			o.Region, o.BaseEndpoint = r, awsclient.Endpoint(own, r, o.BaseEndpoint, local[r].Kinesis)
		})
	})
}

// perRegion builds one client per Region.
func perRegion[T any](regions []string, build func(region string) T) map[string]T {
	clients := make(map[string]T, len(regions))
	for _, r := range regions {
		clients[r] = build(r)
	}
	return clients
}
