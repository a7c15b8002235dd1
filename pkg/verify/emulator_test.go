package verify

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
)

// putAll writes the records (key, body) into stream and returns their
// sequence numbers.
func putAll(t *testing.T, client *kinesis.Client, stream string, bodies ...string) []string {
	t.Helper()
	var seqs []string
	for _, b := range bodies {
		out, err := client.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte(b)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

func TestStreamReadsBothRegionsOverTheWindowAndChecksBothWays(t *testing.T) {
	// The local world, because its Kinesis answers AT_TIMESTAMP as
	// Kinesis does (kinesalite alone never answers it on a shard with
	// nothing after the timestamp).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := localworld.Start(ctx, localworld.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stream := "orders"
	if err := w.CreateStream(ctx, stream, 2); err != nil {
		t.Fatal(err)
	}
	a, b := w.KinesisClient(east1, east1), w.KinesisClient(east2, east2)
	putAll(t, a, stream, "before the window")
	putAll(t, b, stream, "before the window")
	time.Sleep(50 * time.Millisecond)
	since := time.Now()
	var bodies []string
	for i := range 6 {
		bodies = append(bodies, fmt.Sprint("change ", i))
	}
	seqs := putAll(t, a, stream, bodies...)
	putAll(t, b, stream, bodies[:4]...) // the replicator copied four
	cps := []checkpoint.Checkpoint{{SourceRegion: east1, ShardID: "", LastSequenceNumber: seqs[4]}}
	cfg := activeregion.Config{StreamName: stream, ActiveRegion: east1, Epoch: 1, History: []activeregion.Epoch{{Region: east1, Epoch: 1, Since: since.Add(-time.Hour)}}}

	// Every record of key k is on one shard; name it in the checkpoint.
	shards, err := a.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var shardOfK string
	for _, s := range shards.Shards {
		it, _ := a.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: s.ShardId, ShardIteratorType: "TRIM_HORIZON"})
		if out, _ := a.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}); len(out.Records) > 0 {
			shardOfK = aws.ToString(s.ShardId)
		}
	}
	cps[0].ShardID = shardOfK

	rep, err := Stream(ctx, stream, cfg, [2]Region{{Name: east1, Kinesis: a, Checkpoints: cps}, {Name: east2, Kinesis: b}}, Options{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Read) != 2 || rep.Read[0].Records != 6 || rep.Read[1].Records != 4 || rep.Read[0].Shards != 2 {
		t.Errorf("read %+v, want 6 records of 2 shards in %s and 4 in %s (the records before the window left out)", rep.Read, east1, east2)
	}
	want := Direction{From: east1, To: east2, Checked: 5, Missing: 1, MissingRecords: []string{shardOfK + ":" + seqs[4]}, Pending: 1}
	if fmt.Sprint(rep.Directions[0]) != fmt.Sprint(want) {
		t.Errorf("%s → %s:\n got %+v\nwant %+v", east1, east2, rep.Directions[0], want)
	}
	if d := rep.Directions[1]; d.From != east2 || d.Checked+d.Missing+d.Pending != 0 {
		t.Errorf("%s → %s: %+v, want nothing east2 was responsible for", east2, east1, d)
	}
	if rep.OK() {
		t.Error("a report with a missing record is OK")
	}

	_, err = Stream(ctx, stream, cfg, [2]Region{{Name: east1, Kinesis: a}, {Name: east2, Kinesis: b}}, Options{Since: since, MaxRecords: 3})
	if !errors.Is(err, ErrTooManyRecords) {
		t.Errorf("a window of 6 records with a bound of 3: got %v, want ErrTooManyRecords", err)
	}
	if _, err := Stream(ctx, stream, cfg, [2]Region{{Name: east1, Kinesis: a}, {Name: east2, Kinesis: b}}, Options{Since: since, Until: since.Add(-time.Second)}); err == nil {
		t.Error("until before since: no error")
	}
}
