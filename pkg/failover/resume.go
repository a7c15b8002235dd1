package failover

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

// source is the Region (and its epoch) whose replicator wrote the checkpoints
// a report is about: the Region being failed away from.
type source struct {
	region string
	epoch  int64
	known  bool
	// floor is where producers resumed when that epoch began (its stored
	// resumeFrom, else its since): a record of the epoch can carry a commit
	// time that early.
	floor time.Time
}

// awayFrom names the source of the checkpoints that matter for cfg: when
// target is already active, the Region active in the epoch before; otherwise
// the Region active now.
func awayFrom(cfg activeregion.Config, target string) source {
	e, ok := cfg.Current(), true
	if cfg.ActiveRegion == target {
		e, ok = previousEpoch(cfg)
	}
	floor := e.Since
	if e.ResumeFrom != nil {
		floor = *e.ResumeFrom
	}
	return source{region: e.Region, epoch: e.Epoch, known: ok, floor: floor}
}

// resumeResult is one stream's resume point and what the report says about
// it. Its warnings reach the report only when the result is applied, so a
// result computed for a switch that then lost says nothing.
type resumeResult struct {
	shards []ShardReport
	resume *time.Time
	// unverified: the shards could not be listed to check that every one
	// has a checkpoint.
	unverified bool
	// cps are the checkpoints of the Region left, and topo its shards as
	// listed (nil: not listed), for the consumer positions.
	cps  []checkpoint.Checkpoint
	topo *shardTopology
	notes
}

func (n *notes) apply(sr *StreamReport, r resumeResult) {
	if r.shards != nil {
		sr.Shards = r.shards
	}
	sr.ResumeFrom = r.resume
	sr.ResumeFromUnverified = r.unverified && r.resume != nil
	n.actions = append(n.actions, r.actions...)
	n.warnings = append(n.warnings, r.warnings...)
}

// countedCheckpoints are the checkpoints a resume point of the Region left
// stands on: not ignored, not of a later epoch than the one left (newer
// names those), and one of an earlier epoch counted no later than where the
// epoch left began (capped holds them as they were): nothing of its shard was
// replicated in that epoch, yet its producers may have rewound into it, and
// what they resent carries commit times from that point on.
func countedCheckpoints(cps []checkpoint.Checkpoint, ignore []string, from source) (counted []checkpoint.Checkpoint, newer []string, capped []checkpoint.Checkpoint) {
	for _, cp := range cps {
		switch {
		case slices.Contains(ignore, cp.ShardID):
			continue
		case cp.Epoch > from.epoch:
			// Written by a later epoch's replicator: it says nothing about
			// what the Region failed away from replicated.
			newer = append(newer, cp.ShardID)
			continue
		case cp.Epoch < from.epoch && cp.LastReplicatedTimestamp.After(from.floor):
			capped = append(capped, cp)
			cp.LastReplicatedTimestamp = from.floor
		}
		counted = append(counted, cp)
	}
	return counted, newer, capped
}

// storedOrComputed is the resume point of the epoch cfg is in: the one the
// failover into it stored when it switched, because the checkpoints have
// moved on since (the new Region's replicator overwrites them). Epochs
// without a stored one (init, items older than the attribute) fall back to
// the checkpoints, leaving out those written after the epoch in from.
func (inv *invocation) storedOrComputed(ctx, cross context.Context, cfg activeregion.Config, from source) resumeResult {
	current := cfg.History[len(cfg.History)-1]
	r := inv.computeResume(ctx, cross, cfg.StreamName, from)
	if current.ResumeFrom == nil || r.resume == nil {
		// Nothing stored, or the shards now show one without a
		// checkpoint: what the checkpoints say stands, withheld or not.
		return r
	}
	resume := current.ResumeFrom.UTC()
	r.resume = &resume
	by := current.RequestID
	if by == "" {
		by = "an earlier call"
	}
	r.actions = append(r.actions, fmt.Sprintf("%s: resumeFrom %s is the one computed at the switch into %s (epoch %d, %s, by %s), not recomputed: the checkpoints listed have moved on since",
		cfg.StreamName, stamp(resume), current.Region, current.Epoch, stamp(current.Since), by))
	return r
}

func shardReports(cps []checkpoint.Checkpoint, ignore []string) []ShardReport {
	shards := make([]ShardReport, 0, len(cps))
	for _, cp := range cps {
		shards = append(shards, ShardReport{
			ShardID:                 cp.ShardID,
			LastReplicatedTimestamp: cp.LastReplicatedTimestamp,
			LastSequenceNumber:      cp.LastSequenceNumber,
			TargetSequenceNumber:    cp.TargetSequenceNumber,
			UpdatedAt:               cp.UpdatedAt,
			SourceRegion:            cp.SourceRegion,
			CheckpointEpoch:         cp.Epoch,
			DrainedEpoch:            cp.DrainedEpoch,
			Ignored:                 slices.Contains(ignore, cp.ShardID),
		})
	}
	return shards
}

// computeResume derives the stream's resume point from the checkpoints of
// the Region being failed away from, checked against that Region's shards.
func (inv *invocation) computeResume(ctx, cross context.Context, name string, from source) resumeResult {
	cps, err := inv.h.checkpoints.Load(ctx, name, from.region)
	return inv.resumeOf(ctx, cross, name, from, cps, err)
}

// resumeOf is computeResume on checkpoints already loaded (loadErr: why
// they could not be). Only the old Region's own checkpoints count: the two
// streams' shard sets may differ, so a checkpoint of the other Region says
// nothing about a shard of this one.
func (inv *invocation) resumeOf(ctx, cross context.Context, name string, from source, cps []checkpoint.Checkpoint, loadErr error) resumeResult {
	var r resumeResult
	if !from.known {
		r.warn("%s: no Region was active before this one, so there is no resumeFrom", name)
		return r
	}
	if loadErr != nil {
		r.warn("%s: checkpoints could not be read, so there is no resumeFrom: %v", name, loadErr)
		return r
	}
	if len(cps) == 0 {
		r.warn("%s: no checkpoint of %s in %s, so there is no resumeFrom (nothing replicated yet?)", name, from.region, inv.h.settings.CheckpointTable)
		return r
	}
	ignore := inv.req.IgnoreShards[name]
	r.shards = shardReports(cps, ignore)
	topo := inv.topology(ctx, cross, &r, name, from)
	r.cps, r.topo = cps, topo
	counted, newer, capped := countedCheckpoints(cps, ignore, from)
	for _, cp := range capped {
		r.warn("%s %s: the checkpoint is of epoch %d, before epoch %d that is failed away from: counted as %s, where that epoch's producers resumed",
			name, cp.ShardID, cp.Epoch, from.epoch, stamp(from.floor))
	}
	checkpointed := func(id string) bool {
		return slices.ContainsFunc(counted, func(cp checkpoint.Checkpoint) bool { return cp.ShardID == id })
	}
	covered := func(id string) bool { return slices.Contains(ignore, id) || checkpointed(id) }
	for _, shard := range ignore {
		if slices.ContainsFunc(cps, func(cp checkpoint.Checkpoint) bool { return cp.ShardID == shard }) {
			continue
		}
		switch {
		case topo == nil:
			r.warn("%s: ignoreShards names %s, which has no checkpoint", name, shard)
		case !topo.has(shard):
			r.warn("%s: ignoreShards names %s, which has no checkpoint and is not a shard of the stream in %s", name, shard, topo.region)
		}
	}
	withheld := false
	if topo != nil {
		if missing := topo.uncovered(covered); len(missing) > 0 {
			withheld = true
			r.warn("%s: shard(s) %s (listed in %s) have no checkpoint of epoch %d or earlier, so records there may never have been replicated and resumeFrom is withheld; resume those shards from the earliest retained record (TRIM_HORIZON), or, if a shard never received records, pass it in \"ignoreShards\":{%q:[%s]} and call again",
				name, strings.Join(missing, ", "), topo.region, from.epoch, name, quoteAll(missing))
		}
	}
	if len(newer) > 0 {
		withheld = true
		r.warn("%s: the checkpoints of shard(s) %s were written after epoch %d (%s) ended, by a later epoch's replicator, so what %s replicated there is no longer known and resumeFrom is withheld; resume those shards from the earliest retained record",
			name, strings.Join(newer, ", "), from.epoch, from.region, from.region)
	}
	if withheld {
		return r
	}
	resume, ok := checkpoint.ResumePoint(counted)
	if !ok {
		r.warn("%s: every shard is in ignoreShards, so there is no resumeFrom", name)
		return r
	}
	r.resume = &resume
	// Listed in the own Region instead, the shards are another stream's:
	// they can withhold, not confirm.
	r.unverified = topo == nil || topo.region != from.region
	inv.warnIdle(&r, name, counted, resume, topo != nil)
	return r
}

// warnIdle names the shards whose checkpoint lags the stream's newest by more
// than the threshold: an idle or closed shard's old checkpoint holds the
// resume point back, and only the operator knows whether it may be ignored.
// A closed parent whose children have no checkpoint must never be ignored:
// with the shards listed that case has already withheld resumeFrom, so the
// advice has a caveat only when they could not be listed.
func (inv *invocation) warnIdle(r *resumeResult, name string, counted []checkpoint.Checkpoint, resume time.Time, listed bool) {
	newest := slices.MaxFunc(counted, func(a, b checkpoint.Checkpoint) int {
		return a.LastReplicatedTimestamp.Compare(b.LastReplicatedTimestamp)
	}).LastReplicatedTimestamp
	var idle, busy []checkpoint.Checkpoint
	for _, cp := range counted {
		if newest.Sub(cp.LastReplicatedTimestamp) > inv.h.settings.IdleShardThreshold {
			idle = append(idle, cp)
		} else {
			busy = append(busy, cp)
		}
	}
	if len(idle) == 0 {
		return
	}
	withoutIdle, _ := checkpoint.ResumePoint(busy)
	var names []string
	for _, cp := range idle {
		names = append(names, cp.ShardID)
		r.warn("%s %s: checkpoint %s is %s behind the stream's newest (%s)",
			name, cp.ShardID, stamp(cp.LastReplicatedTimestamp), newest.Sub(cp.LastReplicatedTimestamp), stamp(newest))
	}
	advice := "if they are idle or closed"
	if !listed {
		advice = "if they are idle, or closed with every child shard checkpointed (never a closed parent whose children have no checkpoint: the shards could not be listed to check)"
	}
	r.warn("%s: shard(s) %s lag the others and hold resumeFrom back by %s (%s instead of %s); %s, exclude them with \"ignoreShards\":{%q:[%s]}",
		name, strings.Join(names, ", "), withoutIdle.Sub(resume), stamp(resume), stamp(withoutIdle), advice, name, quoteAll(names))
}
