package replicator

import (
	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/putrecords"
)

// acknowledgment is what one invocation may claim: the event source mapping
// is told to resume after the prefix, and each shard's checkpoint may move to
// the last record of the prefix this Region wrote.
type acknowledgment struct {
	// prefix is how many records, from the first, need nothing more from
	// this Region: each was written, skipped or superseded. A record after
	// an unwritten one is not acknowledged even if it was written, because
	// Lambda retries from the first unwritten record onwards.
	prefix int
	// lastWritten holds, per shard in order of first appearance, the index
	// of the last record of the prefix this Region wrote (this invocation
	// or, as the checkpoint says, an earlier one): the only records a
	// checkpoint may name.
	lastWritten []int
	// lastDone holds, per shard in the same order, the index of the last
	// record of the prefix.
	lastDone []int
	// retryFrom is the sequence number of the first record after the prefix,
	// the batch item failure; empty when the whole batch is done.
	retryFrom string
}

// acknowledge applies the acknowledgment rule (docs/reference.md, How a batch is replicated)
// to a batch: done[i] says record i needs nothing more (written, skipped or
// superseded), written[i] that it is in the target (see progress).
func acknowledge(records []sourceRecord, done, written []bool) acknowledgment {
	var a acknowledgment
	for a.prefix < len(records) && done[a.prefix] {
		a.prefix++
	}
	if a.prefix < len(records) {
		a.retryFrom = records[a.prefix].rec.Kinesis.SequenceNumber
	}
	written1 := map[string]int{}
	done1 := map[string]int{}
	var writtenShards, doneShards []string
	for i, r := range records[:a.prefix] {
		if _, seen := done1[r.shardID]; !seen {
			doneShards = append(doneShards, r.shardID)
		}
		done1[r.shardID] = i
		if !written[i] {
			continue
		}
		if _, seen := written1[r.shardID]; !seen {
			writtenShards = append(writtenShards, r.shardID)
		}
		written1[r.shardID] = i
	}
	for _, s := range writtenShards {
		a.lastWritten = append(a.lastWritten, written1[s])
	}
	for _, s := range doneShards {
		a.lastDone = append(a.lastDone, done1[s])
	}
	return a
}

// progress says, per record, whether it needs nothing more (done: in the
// target, or decided otherwise than Replicate) and whether it is in the
// target: written by this invocation, or by an earlier one as the
// checkpoint says (covered). outcome[i] is nil for a record not sent.
func progress(decisions []activeregion.Decision, covered []bool, outcome []*putrecords.Outcome) (done, inTarget []bool) {
	done = make([]bool, len(decisions))
	inTarget = make([]bool, len(decisions))
	for i, d := range decisions {
		inTarget[i] = covered[i] || (outcome[i] != nil && outcome[i].Written)
		done[i] = d != activeregion.Replicate || inTarget[i]
	}
	return done, inTarget
}

// coveredBy says which of one shard's records (every record of it in the
// batch, in shard order, so that places count right) to replicate the
// shard's stored checkpoint already covers, so that a redelivery need not
// write them again:
//   - every record up to the checkpoint's: it names the last record of an
//     acknowledged prefix, each written, skipped or superseded before;
//   - the records its WrittenBeyond names, by their place from its From
//     (when the batch holds From: a batch is a contiguous run of its shard).
//
// A record is covered only if every earlier record of its key in the batch
// is: what is written again then comes after every copy of what is not, so
// the last copies stay in order per key. A sequence number that cannot be
// compared covers nothing.
func coveredBy(records []sourceRecord, decisions []activeregion.Decision, stored checkpoint.Checkpoint) []bool {
	out := make([]bool, len(records))
	from := -1
	for i, r := range records {
		if wb := stored.WrittenBeyond; wb != nil && r.rec.Kinesis.SequenceNumber == wb.From {
			from = i
		}
	}
	uncovered := map[string]bool{}
	for i, r := range records {
		if decisions[i] != activeregion.Replicate {
			// Still a place along the shard, but neither covered nor
			// written again here.
			continue
		}
		c, err := checkpoint.CompareSequenceNumbers(r.rec.Kinesis.SequenceNumber, stored.LastSequenceNumber)
		covered := err == nil && c <= 0
		if !covered && from >= 0 && i > from {
			covered = stored.WrittenBeyond.Has(i - from)
		}
		key := r.rec.Kinesis.PartitionKey
		out[i] = covered && !uncovered[key]
		if !out[i] {
			uncovered[key] = true
		}
	}
	return out
}

// writtenBeyond names what is in the target of the shard after the
// acknowledged prefix (inTarget, see progress), counted from the first record of the shard it
// leaves unacknowledged (checkpoint.WrittenBeyond); nil when nothing.
func writtenBeyond(records []sourceRecord, ack acknowledgment, inTarget []bool, shard string) *checkpoint.WrittenBeyond {
	var from string
	var places []bool
	for i := ack.prefix; i < len(records); i++ {
		if records[i].shardID != shard {
			continue
		}
		if from == "" {
			from = records[i].rec.Kinesis.SequenceNumber
		}
		places = append(places, inTarget[i])
	}
	return checkpoint.NewWrittenBeyond(from, places)
}
