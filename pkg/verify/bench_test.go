package verify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// BenchmarkCompare is the check itself, on records already read: 100,000
// records of 1,000 keys, every one copied once.
func BenchmarkCompare(b *testing.B) {
	const n = 100_000
	source, target := make([]streamread.Record, n), make([]streamread.Record, n)
	for i := range n {
		body := []byte(fmt.Sprintf(`{"id":%d,"payload":"%0200d"}`, i, i))
		key := fmt.Sprint(i % 1000)
		source[i] = streamread.Record{Shard: "a", SequenceNumber: fmt.Sprintf("%056d", i+1), PartitionKey: key, Data: body, Arrival: t0.Add(time.Duration(i) * time.Millisecond)}
		target[i] = streamread.Record{Shard: "x", SequenceNumber: fmt.Sprintf("%056d", i+1), PartitionKey: key, Data: body, Arrival: t0.Add(time.Duration(i+50) * time.Millisecond)}
	}
	cfg := history(epoch(1, east1, 0, ""))
	cps := []checkpoint.Checkpoint{cp(east1, "a", n)}
	b.ResetTimer()
	for b.Loop() {
		if d := Compare(cfg, east1, east2, source, target, cps); d.Checked != n || !d.OK() {
			b.Fatalf("got %+v", d)
		}
	}
	b.ReportMetric(float64(2*n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkStreamOnTheLocalWorld is what `kdscrr verify` does on the
// emulators: read 10,000 records in each Region over the SDK and check
// them. records/s counts the records read in both Regions.
func BenchmarkStreamOnTheLocalWorld(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Unthrottled: what is measured is reading, not the preload.
	w, err := localworld.Start(ctx, localworld.Options{GlobalTableDelay: localworld.NoDelay, ShardWriteLimit: localworld.Unlimited})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	const stream, n = "orders", 10_000
	if err := w.CreateStream(ctx, stream, 4); err != nil {
		b.Fatal(err)
	}
	since := time.Now().Add(-time.Second)
	var cps []checkpoint.Checkpoint
	for _, r := range []string{east1, east2} {
		last := map[string]string{}
		client := w.KinesisClient(r, r)
		for start := 0; start < n; start += 500 {
			var entries []types.PutRecordsRequestEntry
			for i := start; i < start+500; i++ {
				entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i % 200)), Data: fmt.Appendf(nil, `{"id":%d,"payload":"%0200d"}`, i, i)})
			}
			out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
			if err != nil || aws.ToInt32(out.FailedRecordCount) > 0 {
				b.Fatalf("put: %v (%d failed)", err, aws.ToInt32(out.FailedRecordCount))
			}
			for _, e := range out.Records {
				last[aws.ToString(e.ShardId)] = aws.ToString(e.SequenceNumber)
			}
		}
		if r == east1 {
			for shard, seq := range last {
				cps = append(cps, checkpoint.Checkpoint{SourceRegion: east1, ShardID: shard, LastSequenceNumber: seq})
			}
		}
	}
	cfg := activeregion.Config{StreamName: stream, ActiveRegion: east1, Epoch: 1, History: []activeregion.Epoch{{Region: east1, Epoch: 1, Since: since.Add(-time.Hour)}}}
	regions := [2]Region{{Name: east1, Kinesis: w.KinesisClient(east1, east1), Checkpoints: cps}, {Name: east2, Kinesis: w.KinesisClient(east2, east2)}}
	b.ResetTimer()
	for b.Loop() {
		rep, err := Stream(ctx, stream, cfg, regions, Options{Since: since})
		if err != nil {
			b.Fatal(err)
		}
		if d := rep.Directions[0]; d.Checked != n || !d.OK() {
			b.Fatalf("got %+v", d)
		}
	}
	b.ReportMetric(float64(2*n*b.N)/b.Elapsed().Seconds(), "records/s")
}
