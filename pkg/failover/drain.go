package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
)

// StreamReadAPI is what a drain check reads of the Region left: the records
// of a shard after its checkpoint.
type StreamReadAPI interface {
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

var _ StreamReadAPI = (*kinesis.Client)(nil)

// drainScanLimit bounds how many records of one shard a status call reads to
// decide its drain: beyond that the drain counts as not complete yet.
const drainScanLimit = 2000

// drainedByScan tells whether the Region left has nothing more to write of
// its closed epoch on shard: reading on from its checkpoint, every record
// that arrived before the epoch ended is one it skips (a replica) or
// supersedes, up to the first record after the end or the shard's tip. A
// drain mark (checkpoint.DrainedEpoch) says the same without reading, but it
// needs a record to arrive after the switch; an idle shard has none.
func (inv *invocation) drainedByScan(ctx context.Context, cfg activeregion.Config, from source, shard, afterSeq string, ended time.Time) (bool, error) {
	client, ok := inv.h.kinesis[from.region].(StreamReadAPI)
	if !ok {
		return false, fmt.Errorf("no Kinesis client that reads records in %s", from.region)
	}
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(cfg.StreamName), ShardId: aws.String(shard), ShardIteratorType: kinesistypes.ShardIteratorTypeTrimHorizon}
	if afterSeq != "" {
		in.ShardIteratorType, in.StartingSequenceNumber = kinesistypes.ShardIteratorTypeAfterSequenceNumber, aws.String(afterSeq)
	}
	it, err := client.GetShardIterator(ctx, in)
	if err != nil {
		return false, fmt.Errorf("read shard %s of %s in %s: %w", shard, cfg.StreamName, from.region, err)
	}
	iter := it.ShardIterator
	for read := 0; iter != nil && read < drainScanLimit; {
		out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(500)})
		if err != nil {
			return false, fmt.Errorf("read shard %s of %s in %s: %w", shard, cfg.StreamName, from.region, err)
		}
		for _, r := range out.Records {
			arrival := aws.ToTime(r.ApproximateArrivalTimestamp)
			if !arrival.Before(ended) {
				return true, nil
			}
			if cfg.Decide(from.region, arrival) == activeregion.Replicate {
				return false, nil
			}
		}
		read += len(out.Records)
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return true, nil
		}
		iter = out.NextShardIterator
	}
	return false, nil
}
