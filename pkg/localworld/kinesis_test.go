package localworld

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

func TestAnAtTimestampIteratorReadsFromTheFirstRecordAtOrAfterTheTimestampLikeKinesis(t *testing.T) {
	w := world(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream := localaws.UniqueName(t.Name())
	if err := w.CreateStream(ctx, stream, 1); err != nil {
		t.Fatal(err)
	}
	client := w.KinesisClient(east1, east1)
	put := func(body string) {
		if _, err := client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(at time.Time) []string {
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"),
			ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(at),
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out.Records {
			got = append(got, string(r.Data))
		}
		return got
	}

	empty := time.Now()
	if got := read(empty); len(got) != 0 {
		t.Fatalf("an empty shard: read %q", got)
	}
	put("before")
	time.Sleep(20 * time.Millisecond) // so "after" arrives strictly later
	between := time.Now()
	time.Sleep(20 * time.Millisecond)
	put("after")
	if got := read(between); len(got) != 1 || got[0] != "after" {
		t.Errorf("from between the two records: read %q, want [after]", got)
	}
	if got := read(empty); len(got) != 2 {
		t.Errorf("from before both: read %q, want both", got)
	}

	// Nothing at or after: the iterator reads what arrives next.
	later := time.Now()
	time.Sleep(20 * time.Millisecond)
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(later),
	})
	if err != nil {
		t.Fatal(err)
	}
	put("next")
	out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 1 || string(out.Records[0].Data) != "next" {
		t.Errorf("from after every record: read %d records, want [next]", len(out.Records))
	}
}
