// Package streamread reads a window of a Kinesis stream, every shard of it
// (open and closed), in order per shard, for the operator's checks: verify
// compares two Regions' streams, lag looks behind a checkpoint. It reads
// with GetRecords, so it shares each shard's read limits with the stream's
// other consumers; the SDK's retryer waits out the throttling.
package streamread

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// ShardLister is what listing a stream's shards needs.
type ShardLister interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

// API is what reading needs of a Region's Kinesis.
type API interface {
	ShardLister
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

var _ API = (*kinesis.Client)(nil)

// Record is one record as a stream holds it.
type Record struct {
	Shard          string
	SequenceNumber string
	PartitionKey   string
	Data           []byte
	Arrival        time.Time
}

// Shards lists every shard of stream the stream still holds records of,
// open and closed, parents before children (ListShards' order).
func Shards(ctx context.Context, client ShardLister, stream string) ([]types.Shard, error) {
	return listShards(ctx, client, stream, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
}

// OpenShards lists the shards of stream open now (ListShards' AT_LATEST
// filter): those a record written now can land on.
func OpenShards(ctx context.Context, client ShardLister, stream string) ([]types.Shard, error) {
	return listShards(ctx, client, stream, &kinesis.ListShardsInput{
		StreamName:  aws.String(stream),
		ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest},
	})
}

// maxListPages bounds pagination against a service that keeps returning a
// next token (1,000 shards a page).
const maxListPages = 100

// listShards pages through ListShards from the first request in.
func listShards(ctx context.Context, client ShardLister, stream string, in *kinesis.ListShardsInput) ([]types.Shard, error) {
	var shards []types.Shard
	for range maxListPages {
		out, err := client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list the shards of %s: %w", stream, err)
		}
		shards = append(shards, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			return shards, nil
		}
		// A NextToken request names neither the stream nor a filter.
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	return nil, fmt.Errorf("list the shards of %s: more than %d pages", stream, maxListPages)
}

// Window says what to read of a shard.
type Window struct {
	// From is where reading starts: at this arrival time (AT_TIMESTAMP)
	// when After is empty, from the oldest record when From is zero too.
	From time.Time
	// After starts reading just after this sequence number instead.
	After string
	// Until stops reading at the first record that arrived after it; zero
	// reads to the shard's tip.
	Until time.Time
}

// Tip is where a read of a shard stopped.
type Tip struct {
	// MillisBehindLatest is what the last GetRecords said: how far the
	// read position was behind the shard's newest record.
	MillisBehindLatest int64
}

// Shard reads one shard over w, calling each with every record in order,
// and returns where it stopped. It stops at the shard's tip (an empty
// answer that is not behind), at its end (a closed shard), at Until, or at
// the first error of each.
func Shard(ctx context.Context, client API, stream, shard string, w Window, each func(Record) error) (Tip, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard)}
	switch {
	case w.After != "":
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(w.After)
	case !w.From.IsZero():
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(w.From)
	default:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	}
	it, err := client.GetShardIterator(ctx, in)
	if err != nil {
		return Tip{}, fmt.Errorf("read %s shard %s: %w", stream, shard, err)
	}
	var tip Tip
	iter := it.ShardIterator
	for iter != nil {
		out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		if err != nil {
			return tip, fmt.Errorf("read %s shard %s: %w", stream, shard, err)
		}
		tip.MillisBehindLatest = aws.ToInt64(out.MillisBehindLatest)
		for _, r := range out.Records {
			arrival := aws.ToTime(r.ApproximateArrivalTimestamp)
			if !w.Until.IsZero() && arrival.After(w.Until) {
				return tip, nil
			}
			if err := each(Record{
				Shard: shard, SequenceNumber: aws.ToString(r.SequenceNumber), PartitionKey: aws.ToString(r.PartitionKey),
				Data: r.Data, Arrival: arrival,
			}); err != nil {
				return tip, err
			}
		}
		if len(out.Records) == 0 && tip.MillisBehindLatest == 0 {
			return tip, nil
		}
		iter = out.NextShardIterator
	}
	return tip, nil
}
