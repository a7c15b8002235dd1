package activeregion

import (
	"context"
	"testing"
	"time"
)

// BenchmarkDecideCached measures the per-invocation cost on the hot path: a
// batch decided on fresh cached reads of both replicas with the longest
// history kept.
func BenchmarkDecideCached(b *testing.B) {
	cfg := Config{StreamName: "orders"}
	for i := range DefaultHistoryLimit {
		region := east1
		if i%2 == 1 {
			region = east2
		}
		cfg.History = append(cfg.History, Epoch{Region: region, Since: at(time.Duration(i-DefaultHistoryLimit) * time.Hour), Epoch: int64(i + 1)})
	}
	last := cfg.History[len(cfg.History)-1]
	cfg.ActiveRegion, cfg.ActiveSince, cfg.Epoch = last.Region, last.Since, last.Epoch
	clock := &fakeClock{now: t0}
	getter := &fakeGetter{cfg: cfg}
	cache := NewRule(getter, getter, time.Hour, clock.Now)
	arrivals := make([]time.Time, 10000)
	for i := range arrivals {
		arrivals[i] = at(-time.Duration(len(arrivals)-i) * time.Millisecond)
	}
	ctx := context.Background()
	if _, err := cache.Decide(ctx, "orders", last.Region, arrivals); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cache.Decide(ctx, "orders", last.Region, arrivals); err != nil {
			b.Fatal(err)
		}
	}
}
