package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
)

// BenchmarkFailoverCall measures one failover call into us-east-2 in the
// local world (each Region its own DynamoDB replica and Kinesis): per stream
// a checkpoint query, the switch and its visibility record in us-east-2's
// replica, and the listing of the stream's 4 shards in us-east-1, with
// us-east-1 healthy or hanging (then the listing waits for the call's one
// cross-Region deadline, 10 s, for all streams together). The settle wait
// before the read-back (SWITCH_SETTLE, 2 s) is left out: it adds that much
// to every call that switches.
func BenchmarkFailoverCall(b *testing.B) {
	for _, streams := range []int{1, 20} {
		for _, hanging := range []bool{false, true} {
			old := map[bool]string{false: "healthy", true: "hanging"}[hanging]
			b.Run(fmt.Sprintf("streams=%d/old=%s", streams, old), func(b *testing.B) {
				benchmarkFailoverCall(b, streams, hanging)
			})
		}
	}
}

func benchmarkFailoverCall(b *testing.B, streams int, hanging bool) {
	ctx := context.Background()
	w, err := localworld.Start(ctx, localworld.Options{Regions: [2]string{east1, east2}, GlobalTableDelay: localworld.NoDelay})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	s := testSettings()
	s.CrossRegionTimeout = DefaultCrossRegionTimeout
	if err := w.CreateTables(ctx, s.CheckpointTable, s.ActiveRegionTable); err != nil {
		b.Fatal(err)
	}
	own := w.DynamoDBClient(east2, east2)
	h := NewHandler(s, Clients{DynamoDB: own, Kinesis: map[string]ListShardsAPI{
		east1: w.KinesisClient(east1, east2), east2: w.KinesisClient(east2, east2),
	}}, WithLogger(discardLogger()), noSettle)
	configs := activeregion.NewStore(own, s.ActiveRegionTable)
	cps := checkpoint.NewStore(own, s.CheckpointTable)
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		var names []string
		for i := range streams {
			name := fmt.Sprintf("bench-%d-%d", round, i)
			names = append(names, fmt.Sprintf("%q", name))
			if err := w.CreateStream(ctx, name, 4); err != nil {
				b.Fatal(err)
			}
			if _, err := configs.Create(ctx, activeregion.Config{StreamName: name, ActiveRegion: east1, ActiveSince: time.Now().Add(-time.Hour)}); err != nil {
				b.Fatal(err)
			}
			for shard := range 4 {
				if _, err := cps.Save(ctx, cp(name, fmt.Sprintf("shardId-%012d", shard), time.Now().UTC(), east1, 1)); err != nil {
					b.Fatal(err)
				}
			}
		}
		if hanging {
			w.Hang(east1)
		}
		b.StartTimer()
		r, err := h.Handle(ctx, json.RawMessage(`{"targetRegion":"us-east-2","streams":[`+strings.Join(names, ",")+`]}`))
		b.StopTimer()
		if hanging {
			w.Heal(east1)
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, sr := range r.Streams {
			if sr.Status != StatusSwitched || sr.ResumeFrom == nil {
				b.Fatalf("%s: got status %q, resumeFrom %v, want switched with a resume point\nwarnings: %q", sr.StreamName, sr.Status, deref(sr.ResumeFrom), r.Warnings)
			}
		}
		b.StartTimer()
	}
}
