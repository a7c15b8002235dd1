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
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
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
	// wait pauses before a round that follows a refusal.
	wait func(ctx context.Context, d time.Duration) error
}

// New returns a task writing stream, cycling over keys keys.
func New(stream string, keys int) *Task {
	return &Task{stream: stream, keys: keys, keySeq: map[string]int{}, now: time.Now, wait: pause.For}
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
	first := map[string]time.Time{}
	var order []string
	for _, w := range t.written {
		if since != nil && w.Commit.Before(*since) {
			continue
		}
		if _, seen := latest[w.ID]; !seen {
			order = append(order, w.ID)
			first[w.ID] = w.Commit
		}
		latest[w.ID] = w.Payload
	}
	// Written is in write order, which per key is commit order; across
	// keys, a refused change may have been written after later changes of
	// other keys, so sort to send again in commit order.
	slices.SortStableFunc(order, func(a, b string) int { return first[a].Compare(first[b]) })
	batch := make([]promisecheck.Payload, 0, len(order))
	for _, id := range order {
		p := latest[id]
		p.Gen++
		batch = append(batch, p)
	}
	t.mu.Unlock()
	return len(batch), t.put(ctx, region, client, batch)
}

// put writes batch in order per key. Each request carries at most one
// change of a key, so a change the stream refuses (a throttled or failed
// entry) holds back only its own key's later changes, which have not been
// sent yet: it goes again at the head of its key, after a backoff, and no
// key is ever reordered or written twice at the source.
func (t *Task) put(ctx context.Context, region string, client PutRecordsAPI, batch []promisecheck.Payload) error {
	queues := map[string][]promisecheck.Payload{}
	var keys []string // in order of first change, so rounds are stable
	for _, p := range batch {
		if _, ok := queues[p.Key]; !ok {
			keys = append(keys, p.Key)
		}
		queues[p.Key] = append(queues[p.Key], p)
	}
	refusals := 0
	for len(keys) > 0 {
		heads := make([]promisecheck.Payload, 0, min(len(keys), maxEntries))
		for _, k := range keys[:min(len(keys), maxEntries)] {
			heads = append(heads, queues[k][0])
		}
		refused, err := t.putOnce(ctx, region, client, heads)
		if err != nil {
			return err
		}
		for i, p := range heads {
			if !refused[i] {
				queues[p.Key] = queues[p.Key][1:]
			}
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return len(queues[k]) == 0 })
		if len(refused) == 0 {
			refusals = 0
			continue
		}
		refusals++
		// 25 ms doubled per round, at most a second: about what a
		// shard's bucket needs to refill.
		if err := t.wait(ctx, pause.Backoff(refusals, 25*time.Millisecond, time.Second)); err != nil {
			return fmt.Errorf("write changes into %s in %s: %d still refused: %w", t.stream, region, len(refused), err)
		}
	}
	return nil
}

// maxEntries is PutRecords' limit of entries per request.
const maxEntries = 500

// putOnce writes chunk (no two changes of one key) with one PutRecords,
// records what was written and returns the indexes refused.
func (t *Task) putOnce(ctx context.Context, region string, client PutRecordsAPI, chunk []promisecheck.Payload) (map[int]bool, error) {
	entries := make([]types.PutRecordsRequestEntry, len(chunk))
	for i, p := range chunk {
		data, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode change %s: %w", p.ID, err)
		}
		entries[i] = types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(p.Key)}
	}
	out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(t.stream), Records: entries})
	if err != nil {
		return nil, fmt.Errorf("write %d changes into %s in %s: %w", len(chunk), t.stream, region, err)
	}
	if len(out.Records) != len(chunk) {
		return nil, fmt.Errorf("write %d changes into %s in %s: got %d answers", len(chunk), t.stream, region, len(out.Records))
	}
	refused := map[int]bool{}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, p := range chunk {
		if out.Records[i].ErrorCode != nil {
			refused[i] = true
			continue
		}
		commit, err := time.Parse(time.RFC3339Nano, p.CommitTimestamp)
		if err != nil {
			return nil, fmt.Errorf("change %s: %w", p.ID, err)
		}
		t.written = append(t.written, promisecheck.Written{Payload: p, Region: region, Commit: commit})
	}
	return refused, nil
}
