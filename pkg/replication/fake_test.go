package replication

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fakeKinesis is a PutRecordsAPI that records every call and answers from a
// script. Records are identified by their data, which tests make unique.
type fakeKinesis struct {
	// entryCodes scripts per-entry answers by record data: the n-th attempt
	// to write that record gets entryCodes[data][n] ("" = success); attempts
	// past the list succeed.
	entryCodes map[string][]string
	// requestErrs fails whole calls by call number (0-based).
	requestErrs map[int]error
	// hook, when set, runs at the start of each call and may replace its
	// answer: a non-nil error fails the call; written reports whether the
	// records still reach the stream (a reply lost after the write).
	hook func(ctx context.Context, call int, in *kinesis.PutRecordsInput) (err error, written bool)
	// shortReplies answers these calls (0-based) with one entry too few,
	// after writing every record.
	shortReplies map[int]bool
	// hold keeps each call in flight until another call arrives or a short
	// while passes, so calls that may overlap do.
	hold bool

	mu        sync.Mutex
	calls     []fakeCall
	attempts  map[string]int
	seq       int
	writes    []fakeWrite       // every successful write, in stream order
	lastSeq   map[string]string // data → sequence number of its last write
	inFlight  map[string]int    // partition key → calls in flight carrying it
	overlaps  []string          // keys seen in two calls in flight at once
	active    int               // calls in flight
	maxActive int               // most calls in flight at once
	arrived   chan struct{}     // signalled when a call arrives, for hold
	throttled int               // ProvisionedThroughputExceededException entries returned
	ctxs      []context.Context // the context of each call
	inputs    []*kinesis.PutRecordsInput
}

type fakeCall struct {
	keys []string
	data []string
}

type fakeWrite struct {
	key, data, seq string
}

func newFake() *fakeKinesis {
	return &fakeKinesis{
		attempts: map[string]int{},
		lastSeq:  map[string]string{},
		inFlight: map[string]int{},
		arrived:  make(chan struct{}),
	}
}

var _ PutRecordsAPI = (*fakeKinesis)(nil)

func (f *fakeKinesis) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	call := len(f.calls)
	fc := fakeCall{}
	keysHere := map[string]bool{}
	for _, e := range in.Records {
		k := aws.ToString(e.PartitionKey)
		fc.keys = append(fc.keys, k)
		fc.data = append(fc.data, string(e.Data))
		if !keysHere[k] {
			keysHere[k] = true
			if f.inFlight[k] > 0 {
				f.overlaps = append(f.overlaps, k)
			}
			f.inFlight[k]++
		}
	}
	f.calls = append(f.calls, fc)
	f.ctxs = append(f.ctxs, ctx)
	f.inputs = append(f.inputs, in)
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	f.mu.Unlock()

	defer func() {
		f.mu.Lock()
		for k := range keysHere {
			f.inFlight[k]--
		}
		f.active--
		f.mu.Unlock()
	}()

	if f.hold {
		// Hand off to a call already waiting, or wait for the next one.
		select {
		case f.arrived <- struct{}{}:
		default:
			t := time.NewTimer(20 * time.Millisecond)
			select {
			case <-f.arrived:
			case <-t.C:
			}
			t.Stop()
		}
	}

	var hookErr error
	hookWritten := false
	if f.hook != nil {
		hookErr, hookWritten = f.hook(ctx, call, in)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.requestErrs[call]; err != nil {
		return nil, err
	}
	if hookErr != nil {
		if hookWritten {
			for _, e := range in.Records {
				f.write(aws.ToString(e.PartitionKey), string(e.Data))
			}
		}
		return nil, hookErr
	}
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	for i, e := range in.Records {
		d := string(e.Data)
		n := f.attempts[d]
		f.attempts[d]++
		if codes := f.entryCodes[d]; n < len(codes) && codes[n] != "" {
			out.Records[i] = types.PutRecordsResultEntry{ErrorCode: aws.String(codes[n]), ErrorMessage: aws.String("scripted")}
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			if codes[n] == "ProvisionedThroughputExceededException" {
				f.throttled++
			}
			continue
		}
		seq := f.write(aws.ToString(e.PartitionKey), d)
		out.Records[i] = types.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(seq)}
	}
	if f.shortReplies[call] {
		out.Records = out.Records[:len(out.Records)-1]
	}
	return out, nil
}

// write appends a record to the fake stream; callers hold mu.
func (f *fakeKinesis) write(key, data string) string {
	f.seq++
	seq := fmt.Sprintf("%020d", f.seq)
	f.writes = append(f.writes, fakeWrite{key: key, data: data, seq: seq})
	f.lastSeq[data] = seq
	return seq
}

// callSizes is the number of records of each call, in call order.
func (f *fakeKinesis) callSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	sizes := make([]int, len(f.calls))
	for i, c := range f.calls {
		sizes[i] = len(c.keys)
	}
	return sizes
}

// callData is the data of each call's records, in call order.
func (f *fakeKinesis) callData() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.data
	}
	return out
}

// records builds a batch of records with the given keys and data "r<i>".
func records(keys ...string) []Record {
	recs := make([]Record, len(keys))
	for i, k := range keys {
		recs[i] = Record{SequenceNumber: strconv.Itoa(1000 + i), PartitionKey: k, Data: []byte("r" + strconv.Itoa(i))}
	}
	return recs
}

// noSleep is a Sleep that returns at once but still honours ctx.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func identityJitter(d time.Duration) time.Duration { return d }

// checkLastCopiesInOrder fails t unless, for each key, the last copies in
// the fake stream of the batch's written records appear in source order,
// and each Outcome names its record's last copy.
func checkLastCopiesInOrder(t *testing.T, f *fakeKinesis, recs []Record, res Result) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	lastPos := map[string]int{}
	for pos, w := range f.writes {
		if w.seq == f.lastSeq[w.data] {
			lastPos[w.data] = pos
		}
	}
	prev := map[string]int{}
	for i, rec := range recs {
		o := res.Outcomes[i]
		if !o.Written {
			continue
		}
		d := string(rec.Data)
		pos, ok := lastPos[d]
		if !ok {
			t.Fatalf("record %d: Written but never in a successful response", i)
		}
		if got, want := o.TargetSequenceNumber, f.lastSeq[d]; got != want {
			t.Errorf("record %d: got target sequence number %s, want %s (its last write)", i, got, want)
		}
		if p, seen := prev[rec.PartitionKey]; seen && pos < p {
			t.Errorf("key %s: last copy of record %d is before the last copy of an earlier record", rec.PartitionKey, i)
		}
		prev[rec.PartitionKey] = pos
	}
}
