package putrecords

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// instantKinesis answers every entry with success at once, allocating only
// the reply, so the benchmark measures the writer.
type instantKinesis struct{}

var (
	benchShard = aws.String("shardId-000000000000")
	benchSeq   = aws.String("49590338271490256608559692538361571095921575989136588898")
)

func (instantKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records)), FailedRecordCount: aws.Int32(0)}
	for i := range out.Records {
		out.Records[i] = types.PutRecordsResultEntry{ShardId: benchShard, SequenceNumber: benchSeq}
	}
	return out, nil
}

func BenchmarkReplicate(b *testing.B) {
	for _, ordering := range []Ordering{OrderingKey, OrderingStrict} {
		b.Run(ordering.String(), func(b *testing.B) {
			benchmarkWrite(b, NewWriter(instantKinesis{}, Options{Ordering: ordering}))
		})
	}
}

// instantLister lists n even shards; with instantKinesis and budgets too
// large to run out, the paced benchmark measures what pacing adds to
// planning: the shard of each key, the budget taken per entry, the replies
// observed.
type instantLister struct{ shards []types.Shard }

func (l instantLister) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return &kinesis.ListShardsOutput{Shards: l.shards}, nil
}

func BenchmarkReplicatePaced(b *testing.B) {
	for _, ordering := range []Ordering{OrderingKey, OrderingStrict} {
		b.Run(ordering.String(), func(b *testing.B) {
			benchmarkWrite(b, NewWriter(instantKinesis{}, Options{
				Ordering:              ordering,
				Shards:                instantLister{shards: shardsOf(evenShards(4))},
				ShardRecordsPerSecond: 1 << 40,
				ShardBytesPerSecond:   1 << 50,
			}))
		})
	}
}

// benchmarkWrite writes a batch of 1,000 1 KiB records of 200 keys with w.
func benchmarkWrite(b *testing.B, w *Writer) {
	recs := make([]Record, 1000)
	data := make([]byte, 1024)
	for i := range recs {
		recs[i] = Record{SequenceNumber: fmt.Sprint(i), PartitionKey: fmt.Sprintf("key-%03d", i%200), Data: data}
	}
	batch := Batch{Stream: "bench", Records: recs}
	b.ReportAllocs()
	for b.Loop() {
		if res := w.Write(context.Background(), batch); prefix(res) != len(recs) || res.Stats.BudgetWait != 0 {
			b.Fatalf("got prefix %d, budget wait %v, want %d and none", prefix(res), res.Stats.BudgetWait, len(recs))
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
