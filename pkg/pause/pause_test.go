package pause

import (
	"context"
	"errors"
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
