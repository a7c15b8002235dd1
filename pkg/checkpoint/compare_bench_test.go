package checkpoint

import "testing"

func BenchmarkCompareSequenceNumbers(b *testing.B) {
	const (
		x = "49656740235234939186548513462361393532838414234960543746"
		y = "49656740235234939186548513462361393532838414234960543747"
	)
	b.ReportAllocs()
	for b.Loop() {
		if c, err := CompareSequenceNumbers(x, y); err != nil || c != -1 {
			b.Fatalf("got (%d, %v), want (-1, nil)", c, err)
		}
	}
}
