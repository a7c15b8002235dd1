package failover

import (
	"context"
	"fmt"
	"time"

	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/translate"
)

// ConsumerPosition is where a consumer that had caught up with the old
// Region's checkpoints starts one shard of the stream in the new Region: the
// field names of translate.Start (kdscrr translate --output json).
type ConsumerPosition struct {
	TargetShardID    string    `json:"targetShardId"`
	StartingPosition string    `json:"startingPosition"`
	SequenceNumber   string    `json:"sequenceNumber,omitempty"`
	Timestamp        time.Time `json:"timestamp,omitzero"`
}

// consumerPositions fills in sr.ConsumerPositions: the old Region's
// checkpoints (each shard's lastSequenceNumber, as a consumer that processed
// everything replicated holds it) translated with the old Region's trails
// into starting positions in the stream of Region to. It runs after any
// switch and only within cross, the call's cross-Region deadline; a failure
// leaves the positions empty and is a warning, never an error. Why a shard
// falls back to an earlier position goes to sr.ConsumerPositionWarnings.
func (inv *invocation) consumerPositions(cross context.Context, n *notes, sr *StreamReport, from source, to string, r resumeResult) {
	name := sr.StreamName
	if !from.known || from.region == "" || from.region == to || len(r.cps) == 0 {
		// Nothing to translate from (the resume point's warnings say why).
		return
	}
	fail := func(format string, args ...any) {
		n.warn("%s: consumerPositions are left out: %s", name, fmt.Sprintf(format, args...))
	}
	if err := cross.Err(); err != nil {
		fail("the cross-Region deadline has passed (%v)", err)
		return
	}
	var warnings []string
	positions := make([]translate.Position, 0, len(r.cps))
	for _, cp := range r.cps {
		p, err := translate.ParsePosition(cp.ShardID, cp.LastSequenceNumber, 0)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("checkpoint of %s left out: %v", cp.ShardID, err))
			continue
		}
		positions = append(positions, p)
	}
	trails, err := inv.h.checkpoints.LoadTrails(cross, name, from.region)
	if err != nil {
		fail("the sync points of %s could not be read: %v", from.region, err)
		return
	}
	var target []kinesistypes.Shard
	if r.topo != nil && r.topo.region == to {
		target = r.topo.shards
	} else if target, err = inv.listShards(cross, to, name); err != nil {
		fail("the shards of the stream in %s could not be listed: %v", to, err)
		return
	}
	in := translate.Input{Positions: positions, Target: translate.ShardsOf(target), Checkpoints: r.cps, Trails: trails}
	if r.topo != nil && r.topo.region == from.region {
		in.Source = translate.ShardsOf(r.topo.shards)
	} else {
		// The Region left could not be listed: its shards are known by the
		// ids of its checkpoints and trails only.
		warnings = append(warnings, fmt.Sprintf("the stream in %s could not be listed: its shards are matched to the shards in %s by id", from.region, to))
		in.Source = in.SourceByID()
	}
	res, err := translate.Translate(cross, in)
	if err != nil {
		fail("%v", err)
		return
	}
	out := make([]ConsumerPosition, 0, len(res.Positions))
	for _, st := range res.Positions {
		out = append(out, ConsumerPosition{
			TargetShardID:    st.TargetShardID,
			StartingPosition: st.StartingPosition,
			SequenceNumber:   st.SequenceNumber,
			Timestamp:        st.Timestamp,
		})
	}
	sr.ConsumerPositions = out
	sr.ConsumerPositionWarnings = append(warnings, res.Warnings...)
	if len(sr.ConsumerPositionWarnings) == 0 {
		sr.ConsumerPositionWarnings = nil
	}
}
