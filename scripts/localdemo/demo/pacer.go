package demo

import (
	"context"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/cdctask"
)

// produceTick is how often the paced producer sends what is due: small
// enough for a steady flow, large enough to batch at high rates.
const produceTick = 20 * time.Millisecond

// producePaced has the CDC task write into region for d at rate records per
// second, sending what is due every produceTick. Changes the stream
// throttles are sent again by the task, in order per key, so a rate above
// the stream's shard limits falls behind instead of failing.
func producePaced(ctx context.Context, task *cdctask.Task, region string, client cdctask.PutRecordsAPI, rate int, d time.Duration) (int, error) {
	start := time.Now()
	tick := time.NewTicker(produceTick)
	defer tick.Stop()
	sent := 0
	total := int(float64(rate) * d.Seconds())
	for {
		elapsed := time.Since(start)
		due := min(int(float64(rate)*elapsed.Seconds()), total) - sent
		if due > 0 {
			if err := task.Produce(ctx, region, client, due); err != nil {
				return sent, err
			}
			sent += due
		}
		if sent >= total && elapsed >= d {
			return sent, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return sent, ctx.Err()
		}
	}
}
