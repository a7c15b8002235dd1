package replicator

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
	// of the last record of the prefix this Region wrote: the only records
	// a checkpoint may name.
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
// superseded), written[i] that this invocation wrote it.
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
