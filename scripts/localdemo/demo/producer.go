package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// putRecordsAPI is what the producer needs of a Region's Kinesis.
type putRecordsAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

var _ putRecordsAPI = (*kinesis.Client)(nil)

// producer stands for the CDC task: it writes change records over a fixed
// set of keys at a steady rate into whichever Region it is pointed at.
type producer struct {
	stream string
	keys   int
	rate   int
	rng    *rand.Rand

	mu       sync.Mutex
	seq      int64
	records  map[int64]produced
	byRegion map[string]int
}

func newProducer(stream string, keys, rate int) *producer {
	return &producer{
		stream: stream,
		keys:   keys,
		rate:   rate,
		// A fixed seed: every run draws the same keys in the same order.
		rng:      rand.New(rand.NewPCG(5, 17)),
		records:  map[int64]produced{},
		byRegion: map[string]int{},
	}
}

// produceTick is how often the producer sends what is due: small enough for
// a steady flow, large enough to batch at high rates.
const produceTick = 20 * time.Millisecond

// produce writes into region for d at the producer's rate. A record the
// stream refuses ends the run: retrying it out of turn would reorder its key
// at the source, and the emulator never throttles.
func (p *producer) produce(ctx context.Context, client putRecordsAPI, region string, d time.Duration) error {
	start := time.Now()
	tick := time.NewTicker(produceTick)
	defer tick.Stop()
	sent := 0
	for {
		elapsed := time.Since(start)
		due := int(float64(p.rate)*min(elapsed, d).Seconds()) - sent
		for due > 0 {
			n := min(due, 500)
			if err := p.put(ctx, client, region, n); err != nil {
				return err
			}
			sent += n
			due -= n
		}
		if elapsed >= d {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *producer) put(ctx context.Context, client putRecordsAPI, region string, n int) error {
	p.mu.Lock()
	entries := make([]types.PutRecordsRequestEntry, n)
	rows := make([]produced, n)
	for i := range entries {
		p.seq++
		key := fmt.Sprintf("k%d", p.rng.IntN(p.keys))
		committed := time.Now().UTC()
		data, err := json.Marshal(cdcRecord{
			ID:              fmt.Sprintf("%s-%07d", region, p.seq),
			Key:             key,
			Op:              "update",
			CommitTimestamp: committed.Format(time.RFC3339Nano),
			Seq:             p.seq,
		})
		if err != nil {
			p.mu.Unlock()
			return fmt.Errorf("encode record %d: %w", p.seq, err)
		}
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: data}
		rows[i] = produced{Seq: p.seq, Key: key, Region: region, Committed: committed}
	}
	p.mu.Unlock()

	out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(p.stream), Records: entries})
	if err != nil {
		return fmt.Errorf("produce %d records into %s in %s: %w", n, p.stream, region, err)
	}
	if failed := aws.ToInt32(out.FailedRecordCount); failed > 0 {
		return fmt.Errorf("produce into %s in %s: %d of %d records refused", p.stream, region, failed, n)
	}
	p.mu.Lock()
	for _, r := range rows {
		p.records[r.Seq] = r
		p.byRegion[region]++
	}
	p.mu.Unlock()
	return nil
}

// produced returns how many records went into region so far.
func (p *producer) count(region string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byRegion[region]
}

func (p *producer) all() map[int64]produced {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int64]produced, len(p.records))
	for k, v := range p.records {
		out[k] = v
	}
	return out
}
