// Package cdctask stands in for a change-data-capture task in the local
// world: it writes changes of a set of keys into whichever Region it is
// pointed at, remembers what it wrote, and, restarted after a failover in
// rewind mode, sends again everything it had sent to the old Region since
// the resume point, as a real CDC task restarted from a commit time does.
package cdctask

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
)

// PutRecordsAPI is what the task needs of a Region's Kinesis.
type PutRecordsAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

var _ PutRecordsAPI = (*kinesis.Client)(nil)

// Task is one CDC task writing one stream. It is safe for concurrent use,
// though one key's changes are only ever written by one call at a time.
type Task struct {
	stream string
	keys   int

	mu      sync.Mutex
	next    int            // changes made so far, over all keys
	keySeq  map[string]int // last change number per key
	written []promisecheck.Written
	now     func() time.Time
}

// New returns a task writing stream, cycling over keys keys.
func New(stream string, keys int) *Task {
	return &Task{stream: stream, keys: keys, keySeq: map[string]int{}, now: time.Now}
}

// Written returns everything the task wrote, in order.
func (t *Task) Written() []promisecheck.Written {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]promisecheck.Written(nil), t.written...)
}

// Count returns how many records the task wrote into region.
func (t *Task) Count(region string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, w := range t.written {
		if w.Region == region {
			n++
		}
	}
	return n
}

// Produce writes n new changes into region, each committed when it is made.
func (t *Task) Produce(ctx context.Context, region string, client PutRecordsAPI, n int) error {
	batch := make([]promisecheck.Payload, 0, n)
	t.mu.Lock()
	for range n {
		key := fmt.Sprintf("k%03d", t.next%t.keys)
		t.next++
		t.keySeq[key]++
		batch = append(batch, promisecheck.Payload{
			ID: fmt.Sprintf("%s#%d", key, t.keySeq[key]), Key: key, KeySeq: t.keySeq[key],
			CommitTimestamp: t.now().UTC().Format(time.RFC3339Nano),
		})
	}
	t.mu.Unlock()
	return t.put(ctx, region, client, batch)
}

// Resend is the task restarted from a resume point: it writes again into
// region, in commit order, every change committed at or after since (every
// change for a nil since: no resume point, so from the earliest retained),
// wherever it was written before, each as the next generation of the same
// change. It returns how many it sent.
func (t *Task) Resend(ctx context.Context, region string, client PutRecordsAPI, since *time.Time) (int, error) {
	t.mu.Lock()
	latest := map[string]promisecheck.Payload{}
	var order []string
	for _, w := range t.written {
		if since != nil && w.Commit.Before(*since) {
			continue
		}
		if _, seen := latest[w.ID]; !seen {
			order = append(order, w.ID)
		}
		latest[w.ID] = w.Payload
	}
	batch := make([]promisecheck.Payload, 0, len(order))
	for _, id := range order {
		p := latest[id]
		p.Gen++
		batch = append(batch, p)
	}
	t.mu.Unlock()
	return len(batch), t.put(ctx, region, client, batch)
}

func (t *Task) put(ctx context.Context, region string, client PutRecordsAPI, batch []promisecheck.Payload) error {
	for start := 0; start < len(batch); start += 500 {
		chunk := batch[start:min(start+500, len(batch))]
		entries := make([]types.PutRecordsRequestEntry, len(chunk))
		for i, p := range chunk {
			data, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("encode change %s: %w", p.ID, err)
			}
			entries[i] = types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(p.Key)}
		}
		out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(t.stream), Records: entries})
		if err != nil {
			return fmt.Errorf("write %d changes into %s in %s: %w", len(chunk), t.stream, region, err)
		}
		if n := aws.ToInt32(out.FailedRecordCount); n > 0 {
			// Retrying a refused change out of turn would reorder its key
			// at the source; the local world never throttles producers.
			return fmt.Errorf("write changes into %s in %s: %d refused", t.stream, region, n)
		}
		t.mu.Lock()
		for _, p := range chunk {
			commit, err := time.Parse(time.RFC3339Nano, p.CommitTimestamp)
			if err != nil {
				t.mu.Unlock()
				return fmt.Errorf("change %s: %w", p.ID, err)
			}
			t.written = append(t.written, promisecheck.Written{Payload: p, Region: region, Commit: commit})
		}
		t.mu.Unlock()
	}
	return nil
}
