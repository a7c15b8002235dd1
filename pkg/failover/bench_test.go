package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

// BenchmarkFailoverOnDynamoDB measures one failover call on the DynamoDB
// emulator: each iteration flips every stream to the other Region (a real
// fenced write per stream) and reads 4 shard checkpoints per stream. The
// settle wait before the read-back (SWITCH_SETTLE, 2s by default) is left
// out: it adds that much to every call that switches.
func BenchmarkFailoverOnDynamoDB(b *testing.B) {
	for _, streams := range []int{1, 10} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			ctx := context.Background()
			s, ddb := dynamoTables(b)
			h := NewHandler(s, Clients{DynamoDB: ddb}, WithLogger(discardLogger()), noSettle)
			var names []string
			cps := checkpoint.NewStore(ddb, s.CheckpointTable)
			for i := range streams {
				name := fmt.Sprintf("s%d", i)
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
				if got := r.Streams[0].Status; got != StatusSwitched {
					b.Fatalf("got status %q, want switched", got)
				}
			}
		})
	}
}
