package replicator

import (
	"context"
	"sync"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/putrecords"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamarn"
)

// progressSaves holds, per shard, what the last checkpoint a write's
// progress saved says (savedAs).
type progressSaves map[string]savedCheckpoint

// savedCheckpoint is what tells one save of a shard's checkpoint from
// another: its prefix and how much it names beyond it.
type savedCheckpoint struct {
	epoch int64
	seq   string
	named int
}

func savedAs(cp checkpoint.Checkpoint) savedCheckpoint {
	return savedCheckpoint{cp.Epoch, cp.LastSequenceNumber, cp.WrittenBeyond.Named()}
}

// saveProgress returns the writer's Progress callback for a batch: after
// every round that wrote records while others remain, it hands saver each
// shard's checkpoint of the acknowledged prefix so far and of what is in the
// target beyond it, by the same rule as the final checkpoint. An invocation
// killed mid-batch (a crash, an out-of-memory kill) then leaves to its
// redelivery only about the round it died in (coveredByCheckpoint), instead
// of the whole batch. A write that ends in one round, as every write below
// the target's limit does, saves one checkpoint as before; one that runs for
// seconds saves at most one more per round trip. No sync point is added:
// later records of the shard are still being written (see syncPointDue).
func (h *Handler) saveProgress(source streamarn.ARN, v activeregion.Verdict, records []sourceRecord, covered []bool, index []int, saver *progressSaver) func([]putrecords.Outcome) {
	return func(outs []putrecords.Outcome) {
		now := h.now().UTC()
		outcome := make([]*putrecords.Outcome, len(records))
		for bi, i := range index {
			if outs[bi].Written {
				o := outs[bi]
				outcome[i] = &o
			}
		}
		done, inTarget := progress(v.Decisions, covered, outcome)
		ack := acknowledge(records, done, inTarget)
		cps := make([]checkpoint.Checkpoint, 0, len(ack.lastWritten))
		for _, i := range ack.lastWritten {
			cps = append(cps, h.checkpointAt(source, v.Config, records, outcome, ack, inTarget, i, now))
		}
		saver.offer(cps)
	}
}

// progressSaver saves a write's progress checkpoints off the writer's
// goroutine, so that no round waits for DynamoDB: offer hands it the newest
// checkpoints and returns at once. Checkpoints offered while a save is in
// flight replace those of their shard not yet saved (they say more), so at
// most one save per shard is ever waiting. wait returns, once everything
// offered is saved or failed, what was saved.
type progressSaver struct {
	h   *Handler
	ctx context.Context

	mu      sync.Mutex
	pending map[string]checkpoint.Checkpoint // by shard
	saved   progressSaves
	running bool
	wg      sync.WaitGroup
}

func (h *Handler) newProgressSaver(ctx context.Context) *progressSaver {
	return &progressSaver{h: h, ctx: ctx, pending: map[string]checkpoint.Checkpoint{}, saved: progressSaves{}}
}

func (p *progressSaver) offer(cps []checkpoint.Checkpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cp := range cps {
		p.pending[cp.ShardID] = cp
	}
	if p.running || len(p.pending) == 0 {
		return
	}
	p.running = true
	p.wg.Add(1)
	go p.run()
}

func (p *progressSaver) run() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		var cp checkpoint.Checkpoint
		found := false
		for shard, c := range p.pending {
			delete(p.pending, shard)
			if p.saved[shard] != savedAs(c) {
				cp, found = c, true
				break
			}
		}
		if !found {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if advanced, err := p.h.saveCheckpoint(p.ctx, cp); err == nil && advanced {
			p.mu.Lock()
			p.saved[cp.ShardID] = savedAs(cp)
			p.mu.Unlock()
		}
	}
}

// wait waits for the saves in flight and returns what was saved; offer must
// not be called after it.
func (p *progressSaver) wait() progressSaves {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saved
}
