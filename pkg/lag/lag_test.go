package lag

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

var emulators = localaws.Shared{Kinesis: 1}

func TestMain(m *testing.M) {
	code := m.Run()
	emulators.Close()
	os.Exit(code)
}

const east1, east2 = "us-east-1", "us-east-2"

// put writes n records of key into stream and returns their sequence
// numbers and arrivals.
func put(t *testing.T, client *kinesis.Client, stream string, n int) []string {
	t.Helper()
	var seqs []string
	for range n {
		out, err := client.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

func TestMeasureCountsWhatTheSourceStillHasToReplicateBehindEachCheckpoint(t *testing.T) {
	ctx := context.Background()
	client := localaws.KinesisClient(east1, emulators.Get(t).Kinesis[0])
	stream := localaws.UniqueName(t.Name())
	if err := localaws.CreateStream(ctx, client, stream, 1); err != nil {
		t.Fatal(err)
	}
	seqs := put(t, client, stream, 5)
	commit := time.Now().Add(-time.Minute).UTC()
	cfg := activeregion.Config{StreamName: stream, ActiveRegion: east1, Epoch: 1, History: []activeregion.Epoch{{Region: east1, Epoch: 1, Since: time.Now().Add(-time.Hour)}}}
	now := time.Now().Add(2 * time.Second)

	tests := []struct {
		name             string
		cfg              activeregion.Config
		cps              []checkpoint.Checkpoint
		maxScan          int
		wantUnreplicated int
		wantAtLeast      bool
		wantRPO          bool
	}{
		{"records behind the checkpoint are unreplicated", cfg, []checkpoint.Checkpoint{{SourceRegion: east1, ShardID: "shardId-000000000000", LastSequenceNumber: seqs[1], LastReplicatedTimestamp: commit}}, 0, 3, false, true},
		{"a checkpoint at the last record leaves nothing behind", cfg, []checkpoint.Checkpoint{{SourceRegion: east1, ShardID: "shardId-000000000000", LastSequenceNumber: seqs[4], LastReplicatedTimestamp: commit}}, 0, 0, false, false},
		{"a shard without a checkpoint has everything behind", cfg, nil, 0, 5, false, true},
		{"the other Region's checkpoint does not count", cfg, []checkpoint.Checkpoint{{SourceRegion: east2, ShardID: "shardId-000000000000", LastSequenceNumber: seqs[4], LastReplicatedTimestamp: commit}}, 0, 5, false, true},
		{"a scan that reaches its bound is a lower bound", cfg, nil, 2, 2, true, true},
		{"records another Region is responsible for are not behind", activeregion.Config{StreamName: stream, ActiveRegion: east2, Epoch: 2, History: []activeregion.Epoch{{Region: east2, Epoch: 1, Since: time.Now().Add(-time.Hour)}}}, nil, 0, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Measure(ctx, stream, tt.cfg, east1, client, tt.cps, now, tt.maxScan)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Shards) != 1 {
				t.Fatalf("got %d shards, want 1: %+v", len(st.Shards), st)
			}
			sh := st.Shards[0]
			if sh.Unreplicated != tt.wantUnreplicated || sh.UnreplicatedAtLeast != tt.wantAtLeast || st.Unreplicated != tt.wantUnreplicated {
				t.Errorf("unreplicated %d (at least: %v), stream %d; want %d (%v)", sh.Unreplicated, sh.UnreplicatedAtLeast, st.Unreplicated, tt.wantUnreplicated, tt.wantAtLeast)
			}
			if (st.RPOSeconds > 0) != tt.wantRPO || (sh.ReplicationLagSeconds > 0) != (tt.wantUnreplicated > 0) || (sh.OldestUnreplicated != nil) != (tt.wantUnreplicated > 0) {
				t.Errorf("rpo %v, lag %v, oldest %v; want rpo > 0: %v", st.RPOSeconds, sh.ReplicationLagSeconds, sh.OldestUnreplicated, tt.wantRPO)
			}
			if len(tt.cps) > 0 && tt.cps[0].SourceRegion == east1 {
				if sh.CheckpointAgeSeconds == nil || *sh.CheckpointAgeSeconds < 60 {
					t.Errorf("checkpoint age %v, want at least a minute", sh.CheckpointAgeSeconds)
				}
				if tt.wantRPO && st.RPOSeconds < 60 {
					t.Errorf("rpo %v with records behind a checkpoint a minute old, want at least 60", st.RPOSeconds)
				}
			}
		})
	}
}

type fakeMetrics struct {
	in  *cloudwatch.GetMetricDataInput
	out *cloudwatch.GetMetricDataOutput
	err error
}

func (f *fakeMetrics) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.in = in
	return f.out, f.err
}

func TestFromCloudWatchTakesTheMaximaOfTheWindow(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f := &fakeMetrics{out: &cloudwatch.GetMetricDataOutput{MetricDataResults: []cwtypes.MetricDataResult{
		{Id: aws.String("lag"), Values: []float64{1.5, 4, 2}},
		{Id: aws.String("iteratorAge"), Values: []float64{3000, 12000}},
	}}}
	cw, err := FromCloudWatch(context.Background(), f, "orders", "kds-crr-replicator", now)
	if err != nil {
		t.Fatal(err)
	}
	if cw.ReplicationLagSeconds == nil || *cw.ReplicationLagSeconds != 4 || cw.MappingIteratorAgeSeconds == nil || *cw.MappingIteratorAgeSeconds != 12 {
		t.Errorf("got %+v", cw)
	}
	if !aws.ToTime(f.in.StartTime).Equal(now.Add(-CloudWatchWindow)) || len(f.in.MetricDataQueries) != 2 ||
		aws.ToString(f.in.MetricDataQueries[0].MetricStat.Metric.Dimensions[0].Value) != "orders" ||
		aws.ToString(f.in.MetricDataQueries[1].MetricStat.Metric.Dimensions[0].Value) != "kds-crr-replicator" {
		t.Errorf("query %+v", f.in)
	}

	empty := &fakeMetrics{out: &cloudwatch.GetMetricDataOutput{MetricDataResults: []cwtypes.MetricDataResult{{Id: aws.String("lag")}}}}
	if cw, err := FromCloudWatch(context.Background(), empty, "orders", "f", now); err != nil || cw.ReplicationLagSeconds != nil {
		t.Errorf("no datapoints: got %+v, %v; want no figure", cw, err)
	}
	failing := &fakeMetrics{err: errors.New("AccessDenied")}
	if _, err := FromCloudWatch(context.Background(), failing, "orders", "f", now); err == nil {
		t.Error("a failing GetMetricData gave no error")
	}
}

func TestARecordTooLargeForALambdaEventIsNotDeliverable(t *testing.T) {
	tests := []struct {
		name      string
		key, data int
		want      bool
	}{
		{"a 1 MiB record", 10, 1 << 20, true},
		{"exactly at the limit, key included", 10, MaxDeliverableRecordBytes - 10, true},
		{"one byte over because of the key", 11, MaxDeliverableRecordBytes - 10, false},
		{"a 10 MiB record", 1, 10 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := streamread.Record{PartitionKey: strings.Repeat("k", tt.key), Data: make([]byte, tt.data)}
			if got := deliverable(r); got != tt.want {
				t.Errorf("deliverable(%d+%d bytes) = %v, want %v", tt.key, tt.data, got, tt.want)
			}
		})
	}
}
