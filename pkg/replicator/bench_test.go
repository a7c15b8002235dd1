package replicator

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkHandle measures a whole invocation (decide, write, checkpoint,
// metrics) of a 1,000-record batch over 200 keys against zero-latency fakes:
// the handler's own cost per record.
func BenchmarkHandle(b *testing.B) {
	s := testSettings()
	fakes := bareHarness(time.Now())
	target := fakes.target
	fakes.ddb.put(s.ActiveRegionTable, usEast1Active())
	h := fakes.useDoubles(NewHandler(s, Clients{Target: target, DynamoDB: fakes.ddb, Fence: fakes.ddb},
		WithOutput(io.Discard), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil)))))
	ev := kinesisEvent(1000, 200, time.Now().Add(-time.Minute))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		target.written = target.written[:0]
		if _, err := h.Handle(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(ev.Records))/b.Elapsed().Seconds(), "records/s")
}
