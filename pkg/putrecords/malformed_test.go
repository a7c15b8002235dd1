package putrecords

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// blankFirstEntry answers its first call with entry 0 carrying neither an
// error code nor a sequence number, and everything else as written.
type blankFirstEntry struct {
	calls int
	sent  []string
}

func (b *blankFirstEntry) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	b.calls++
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	for i, r := range in.Records {
		b.sent = append(b.sent, string(r.Data))
		if b.calls == 1 && i == 0 {
			continue
		}
		out.Records[i] = types.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(strconv.Itoa(len(b.sent)))}
	}
	return out, nil
}

func TestWriteDoesNotCountASuccessWithoutSequenceNumberAsWritten(t *testing.T) {
	f := &blankFirstEntry{}
	w := NewWriter(f, Options{Sleep: func(context.Context, time.Duration) error { return nil }})
	res := w.Write(context.Background(), Batch{Stream: "s1", Records: records("A", "B")})
	if prefix(res) != 2 || f.calls != 2 {
		t.Fatalf("got prefix %d after %d calls, want 2 after 2: the blank entry must be sent again", prefix(res), f.calls)
	}
	if got := res.Outcomes[0].TargetSequenceNumber; got == "" {
		t.Fatal("record 0 has no target sequence number after its retry")
	}
}
