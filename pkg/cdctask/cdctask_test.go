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
	got    []promisecheck.Payload
	refuse bool
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
	if s.refuse {
		out.FailedRecordCount = aws.Int32(1)
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
	if err := task.Produce(ctx, "us-east-1", &stream{refuse: true}, 1); err == nil {
		t.Error("got no error for a refused record, want one: retrying it out of turn would reorder its key")
	}
}
