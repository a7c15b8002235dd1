package pause

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestForReturnsCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := For(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled at once", err)
	}
	if err := For(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("zero wait on a cancelled context: got %v, want context.Canceled", err)
	}
}

func TestForWaitsOnALiveContext(t *testing.T) {
	if err := For(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	if err := For(context.Background(), -time.Second); err != nil {
		t.Fatalf("negative wait: got %v, want nil", err)
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	base, capDelay := 100*time.Millisecond, time.Second
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{60, time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.attempt), func(t *testing.T) {
			if got := Backoff(tt.attempt, base, capDelay); got != tt.want {
				t.Errorf("Backoff(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}
