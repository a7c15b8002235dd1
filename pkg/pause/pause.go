// Package pause waits for a while without ignoring cancellation: every
// backoff and hold in kinesis-crr goes through it.
package pause

import (
	"context"
	"time"
)

// For waits d, or until ctx is done, whichever comes first, and returns
// ctx's error in the second case. A d of zero or less only checks ctx.
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Backoff is the delay before the attempt-th consecutive retry (attempt ≥ 1):
// base doubled per earlier failure, capped at max.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
