package cdctask

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
)

// stream is a Kinesis stream that takes every record, in order.
type stream struct {
	got []promisecheck.Payload
}

func (s *stream) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	for _, r := range in.Records {
		var p promisecheck.Payload
		if err := json.Unmarshal(r.Data, &p); err != nil {
			return nil, err
		}
		if p.Key != aws.ToString(r.PartitionKey) {
			return nil, fmt.Errorf("partition key %q for change of key %q", aws.ToString(r.PartitionKey), p.Key)
		}
		s.got = append(s.got, p)
	}
	return out, nil
}

func TestResendSendsEveryChangeFromTheResumePointAsItsNextGeneration(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	task := New("orders", 2)
	task.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	a, b := &stream{}, &stream{}
	if err := task.Produce(ctx, "us-east-1", a, 4); err != nil {
		t.Fatal(err)
	}
	ids := func(ps []promisecheck.Payload) []string {
		var out []string
		for _, p := range ps {
			out = append(out, fmt.Sprintf("%s/%d", p.ID, p.Gen))
		}
		return out
	}
	if got, want := ids(a.got), []string{"k000#1/0", "k001#1/0", "k000#2/0", "k001#2/0"}; !slices.Equal(got, want) {
		t.Fatalf("produced %v, want %v: keys cycled, numbered per key", got, want)
	}
	// The resume point is the commit time of the third change.
	since := task.Written()[2].Commit
	n, err := task.Resend(ctx, "us-east-2", b, &since)
	if err != nil || n != 2 {
		t.Fatalf("resent %d, %v; want 2", n, err)
	}
	if got, want := ids(b.got), []string{"k000#2/1", "k001#2/1"}; !slices.Equal(got, want) {
		t.Errorf("resent %v, want %v: the changes from the resume point on, one generation on", got, want)
	}
	if _, err := task.Resend(ctx, "us-east-1", a, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(a.got[4:]), []string{"k000#1/1", "k001#1/1", "k000#2/2", "k001#2/2"}; !slices.Equal(got, want) {
		t.Errorf("resent from the earliest %v, want %v: every change, each as its latest generation plus one", got, want)
	}
	if got := task.Count("us-east-2"); got != 2 {
		t.Errorf("got %d written into us-east-2, want 2", got)
	}
}

func TestRefusedChangesAreSentAgainAtTheHeadOfTheirKeySoNoKeyIsReordered(t *testing.T) {
	tests := []struct {
		name string
		// refuse says which slots of the n-th call (from 0) are refused.
		refuse      func(call, slot int) bool
		wantWaits   []time.Duration
		wantPerCall []int
	}{
		{
			name:        "nothing refused: one request per round of distinct keys",
			refuse:      func(int, int) bool { return false },
			wantPerCall: []int{3, 3, 1},
		},
		{
			name: "a throttled tail is sent again, then the keys go on",
			// Like a shard whose bucket runs dry mid-request: the first
			// call takes one entry.
			refuse:      func(call, slot int) bool { return call == 0 && slot > 0 },
			wantWaits:   []time.Duration{25 * time.Millisecond},
			wantPerCall: []int{3, 3, 3},
		},
		{
			name: "a failure in the middle holds back only its own key",
			// Slot 1 (key k001) fails twice in a row: k000 and k002 go on.
			refuse:      func(call, slot int) bool { return call < 2 && slot == 1 },
			wantWaits:   []time.Duration{25 * time.Millisecond, 50 * time.Millisecond},
			wantPerCall: []int{3, 3, 2, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := New("orders", 3)
			var waits []time.Duration
			task.wait = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			s := &throttling{refuse: tt.refuse}
			if err := task.Produce(context.Background(), "us-east-1", s, 7); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.perCall, tt.wantPerCall) {
				t.Errorf("entries per call: got %v, want %v", s.perCall, tt.wantPerCall)
			}
			if !slices.Equal(waits, tt.wantWaits) {
				t.Errorf("waits: got %v, want %v", waits, tt.wantWaits)
			}
			// Every change once, each key in order, and Written is what
			// the stream took.
			want := map[string][]int{"k000": {1, 2, 3}, "k001": {1, 2}, "k002": {1, 2}}
			got := map[string][]int{}
			for _, p := range s.got {
				got[p.Key] = append(got[p.Key], p.KeySeq)
			}
			for k, seqs := range want {
				if !slices.Equal(got[k], seqs) {
					t.Errorf("key %s: the stream took changes %v, want %v", k, got[k], seqs)
				}
			}
			if w := task.Written(); len(w) != len(s.got) {
				t.Errorf("Written lists %d changes, the stream took %d", len(w), len(s.got))
			}
		})
	}
}

func TestAChangeRefusedUntilTheContextEndsIsAnError(t *testing.T) {
	task := New("orders", 1)
	ctx, cancel := context.WithCancel(context.Background())
	task.wait = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
	if err := task.Produce(ctx, "us-east-1", &throttling{refuse: func(int, int) bool { return true }}, 1); err == nil {
		t.Error("got no error for a change never taken, want one")
	}
}

// throttling is a stream that refuses the slots refuse names, as a
// throttled or failing Kinesis does, and refuses two changes of one key in
// one request, which could reorder the key.
type throttling struct {
	refuse  func(call, slot int) bool
	calls   int
	perCall []int
	got     []promisecheck.Payload
}

func (s *throttling) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	seen := map[string]bool{}
	s.perCall = append(s.perCall, len(in.Records))
	for i, r := range in.Records {
		k := aws.ToString(r.PartitionKey)
		if seen[k] {
			return nil, fmt.Errorf("two changes of key %s in one request", k)
		}
		seen[k] = true
		if s.refuse(s.calls, i) {
			out.Records[i].ErrorCode = aws.String("ProvisionedThroughputExceededException")
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			continue
		}
		var p promisecheck.Payload
		if err := json.Unmarshal(r.Data, &p); err != nil {
			return nil, err
		}
		s.got = append(s.got, p)
	}
	s.calls++
	return out, nil
}
