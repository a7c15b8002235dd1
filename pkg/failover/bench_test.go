package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// BenchmarkFailoverOnDynamoDB measures one failover call on the DynamoDB
// emulator: each iteration flips every stream to the other Region (a real
// fenced write per stream), reads 4 shard checkpoints per stream and lists
// the stream's shards on kinesalite. The
// settle wait before the read-back (SWITCH_SETTLE, 2s by default) is left
// out: it adds that much to every call that switches.
func BenchmarkFailoverOnDynamoDB(b *testing.B) {
	for _, streams := range []int{1, 10} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			ctx := context.Background()
			s, ddb := dynamoTables(b)
			var names []string
			shards := map[string]int32{}
			prefix := localaws.UniqueName(b.Name())
			for i := range streams {
				shards[fmt.Sprintf("%s-%d", prefix, i)] = 4
			}
			h := NewHandler(s, Clients{DynamoDB: ddb, Kinesis: kinesisClients(b, shards)}, WithLogger(discardLogger()), noSettle)
			cps := checkpoint.NewStore(ddb, s.CheckpointTable)
			for i := range streams {
				name := fmt.Sprintf("%s-%d", prefix, i)
				names = append(names, fmt.Sprintf("%q", name))
				for shard := range 4 {
					if _, err := cps.Save(ctx, cp(name, fmt.Sprintf("shardId-%012d", shard), time.Now().UTC(), east1, 1)); err != nil {
						b.Fatal(err)
					}
				}
			}
			list := strings.Join(names, ",")
			if _, err := h.Handle(ctx, json.RawMessage(`{"action":"init","targetRegion":"us-east-1","streams":[`+list+`]}`)); err != nil {
				b.Fatal(err)
			}
			targets := []string{east2, east1}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r, err := h.Handle(ctx, json.RawMessage(`{"targetRegion":"`+targets[i%2]+`"}`))
				if err != nil {
					b.Fatal(err)
				}
				if got := r.Streams[0].Status; got != StatusSwitched || r.Streams[0].ResumeFrom == nil {
					b.Fatalf("got status %q, resumeFrom %v, want switched with a resume point\nwarnings: %q", got, deref(r.Streams[0].ResumeFrom), r.Warnings)
				}
			}
		})
	}
}
