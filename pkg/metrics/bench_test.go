package metrics

import (
	"io"
	"testing"
)

// BenchmarkEmit is the cost the replicator pays per invocation for its EMF
// line (no mirror).
func BenchmarkEmit(b *testing.B) {
	e := NewEmitter(io.Discard, "", WithClock(fixedClock))
	inv := full()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Emit(b.Context(), inv); err != nil {
			b.Fatal(err)
		}
	}
}
