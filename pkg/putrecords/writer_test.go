package putrecords

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

func TestParseOrdering(t *testing.T) {
	tests := []struct {
		in      string
		want    Ordering
		wantErr bool
	}{
		{in: "key", want: OrderingKey},
		{in: "strict", want: OrderingStrict},
		{in: "", wantErr: true},
		{in: "Strict", wantErr: true},
		{in: "none", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOrdering(tt.in)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
					t.Fatalf("got error %v, want one naming %q", err, tt.in)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v, want %v, nil", got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("got String() %q, want %q", got.String(), tt.in)
			}
		})
	}
}

// manyKeys returns n keys drawn round-robin from k distinct ones.
func manyKeys(n, k int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i%k)
	}
	return keys
}

func withData(recs []Record, size int) []Record {
	for i := range recs {
		d := make([]byte, size)
		copy(d, fmt.Sprintf("r%d-", i))
		recs[i].Data = d
	}
	return recs
}

func TestWriteCleanBatchCallShapes(t *testing.T) {
	tests := []struct {
		name           string
		recs           []Record
		maxRecordBytes int
		opts           Options
		wantSizes      []int
	}{
		{
			name:      "1200 records go out as 500, 500, 200",
			recs:      records(manyKeys(1200, 50)...),
			wantSizes: []int{500, 500, 200},
		},
		{
			name:      "a smaller record limit per request is honoured",
			recs:      records(manyKeys(25, 5)...),
			opts:      Options{MaxRequestRecords: 10},
			wantSizes: []int{10, 10, 5},
		},
		{
			// Each record is 1 key byte + 99 data bytes = 100 bytes.
			name:           "byte limit splits requests, partition keys counted",
			recs:           withData(records(strings.Split("kkkkkkkkkk", "")...), 99),
			maxRecordBytes: 100,
			opts:           Options{MaxRequestBytes: 350},
			wantSizes:      []int{3, 3, 3, 1},
		},
		{
			name:           "records exactly at the record and request limits go one per request",
			recs:           withData(records("k", "k"), 99),
			maxRecordBytes: 100,
			opts:           Options{MaxRequestBytes: 100},
			wantSizes:      []int{1, 1},
		},
		{
			// 12 records of 1 key byte + 999,999 data bytes: 12 MB.
			name:      "the default request limit is the API's 10 MiB",
			recs:      withData(records(manyKeys(12, 12)...), 1_000_000-1),
			wantSizes: []int{10, 2},
		},
		{
			name:           "request limit rises to the batch's record limit",
			recs:           withData(records("a", "b", "c"), 199),
			maxRecordBytes: 200,
			opts:           Options{MaxRequestBytes: 100},
			wantSizes:      []int{1, 1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			tt.opts.Concurrency = 1
			w := NewWriter(f, tt.opts)
			res := w.Write(context.Background(), Batch{Stream: "s1", MaxRecordBytes: tt.maxRecordBytes, Records: tt.recs})

			if got := f.callSizes(); !reflect.DeepEqual(got, tt.wantSizes) {
				t.Fatalf("got call sizes %v, want %v", got, tt.wantSizes)
			}
			if prefix(res) != len(tt.recs) {
				t.Errorf("got prefix %d, want %d", prefix(res), len(tt.recs))
			}
			want := Stats{Requests: len(tt.wantSizes), Written: len(tt.recs)}
			for _, r := range tt.recs {
				want.WrittenBytes += len(r.Data)
			}
			if res.Stats != want {
				t.Errorf("got stats %+v, want %+v", res.Stats, want)
			}
			// Same keys, same data, in source order, no hash key, by name.
			i := 0
			for _, in := range f.inputs {
				if aws.ToString(in.StreamName) != "s1" || in.StreamARN != nil {
					t.Fatalf("got stream name %q ARN %v, want name s1 and no ARN", aws.ToString(in.StreamName), in.StreamARN)
				}
				for _, e := range in.Records {
					if e.ExplicitHashKey != nil {
						t.Fatalf("record %d: got ExplicitHashKey %q, want unset", i, *e.ExplicitHashKey)
					}
					if aws.ToString(e.PartitionKey) != tt.recs[i].PartitionKey || string(e.Data) != string(tt.recs[i].Data) {
						t.Fatalf("entry %d: got key %q data %q, want %q %q", i, aws.ToString(e.PartitionKey), e.Data, tt.recs[i].PartitionKey, tt.recs[i].Data)
					}
					i++
				}
			}
			for i, o := range res.Outcomes {
				if !o.Written || o.Err != nil || o.TargetSequenceNumber == "" || o.TargetShardID == "" {
					t.Fatalf("outcome %d: got %+v, want written with shard and sequence number", i, o)
				}
			}
		})
	}
}

func TestWriteEmptyBatchMakesNoCall(t *testing.T) {
	f := newFake()
	res := NewWriter(f, Options{}).Write(context.Background(), Batch{Stream: "s1"})
	if got := len(f.callSizes()); got != 0 {
		t.Fatalf("got %d calls, want 0", got)
	}
	if prefix(res) != 0 || len(res.Outcomes) != 0 || res.Stats != (Stats{}) {
		t.Fatalf("got %+v, want an empty result", res)
	}
}

const (
	throttled = "ProvisionedThroughputExceededException"
	internal  = "InternalFailure"
	kmsThrot  = "KMSThrottlingException"
)

func TestWritePartialFailures(t *testing.T) {
	// Keys of records r0..r5: A B A B A C.
	keys := []string{"A", "B", "A", "B", "A", "C"}
	tests := []struct {
		name          string
		ordering      Ordering
		entryCodes    map[string][]string
		wantCalls     [][]string
		wantPrefix    int
		wantResent    int
		wantThrottled int
		wantPermanent []int
	}{
		{
			name:          "throttled at the start: later records of its key are resent after it, others not",
			entryCodes:    map[string][]string{"r0": {throttled}},
			wantCalls:     [][]string{{"r0", "r1", "r2", "r3", "r4", "r5"}, {"r0", "r2", "r4"}},
			wantPrefix:    6,
			wantResent:    2,
			wantThrottled: 1,
		},
		{
			name:       "internal failure in the middle: one later record of its key resent",
			entryCodes: map[string][]string{"r2": {internal}},
			wantCalls:  [][]string{{"r0", "r1", "r2", "r3", "r4", "r5"}, {"r2", "r4"}},
			wantPrefix: 6,
			wantResent: 1,
		},
		{
			name:       "KMS throttling at the end: only it is resent",
			entryCodes: map[string][]string{"r5": {kmsThrot}},
			wantCalls:  [][]string{{"r0", "r1", "r2", "r3", "r4", "r5"}, {"r5"}},
			wantPrefix: 6,
		},
		{
			name:          "throttled twice then written: retried until it succeeds",
			entryCodes:    map[string][]string{"r1": {throttled, throttled}},
			wantCalls:     [][]string{{"r0", "r1", "r2", "r3", "r4", "r5"}, {"r1", "r3"}, {"r1", "r3"}},
			wantPrefix:    6,
			wantResent:    2,
			wantThrottled: 2,
		},
		{
			name:          "resent record failing again keeps its key in order",
			entryCodes:    map[string][]string{"r0": {throttled}, "r2": {"", throttled}},
			wantCalls:     [][]string{{"r0", "r1", "r2", "r3", "r4", "r5"}, {"r0", "r2", "r4"}, {"r2", "r4"}},
			wantPrefix:    6,
			wantResent:    3,
			wantThrottled: 2,
		},
		{
			name:          "non-retryable entry code is permanent and ends the prefix",
			entryCodes:    map[string][]string{"r2": {"ValidationException"}},
			wantCalls:     [][]string{{"r0", "r1", "r2", "r3", "r4", "r5"}},
			wantPrefix:    2,
			wantPermanent: []int{2},
		},
		{
			name:          "strict: a throttled record is retried alone for its key, nothing resent",
			ordering:      OrderingStrict,
			entryCodes:    map[string][]string{"r0": {throttled}},
			wantCalls:     [][]string{{"r0", "r1", "r5"}, {"r0", "r3"}, {"r2"}, {"r4"}},
			wantPrefix:    6,
			wantThrottled: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.entryCodes = tt.entryCodes
			recs := records(keys...)
			w := NewWriter(f, Options{Ordering: tt.ordering, Sleep: noSleep})
			res := w.Write(context.Background(), Batch{Stream: "s1", Records: recs})

			if got := f.callData(); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Fatalf("got calls %v, want %v", got, tt.wantCalls)
			}
			if prefix(res) != tt.wantPrefix {
				t.Errorf("got prefix %d, want %d", prefix(res), tt.wantPrefix)
			}
			if res.Stats.Resent != tt.wantResent || res.Stats.Throttled != tt.wantThrottled {
				t.Errorf("got resent %d throttled %d, want %d %d", res.Stats.Resent, res.Stats.Throttled, tt.wantResent, tt.wantThrottled)
			}
			var permanent []int
			for i, o := range res.Outcomes {
				if o.Permanent {
					permanent = append(permanent, i)
				}
				if o.Written == (o.Err != nil) {
					t.Errorf("outcome %d: got Written %v with Err %v, want exactly one", i, o.Written, o.Err)
				}
			}
			if !reflect.DeepEqual(permanent, tt.wantPermanent) {
				t.Errorf("got permanent records %v, want %v", permanent, tt.wantPermanent)
			}
			if res.Stats.Written+res.Stats.Failed != len(recs) {
				t.Errorf("got written %d + failed %d, want %d", res.Stats.Written, res.Stats.Failed, len(recs))
			}
			checkLastCopiesInOrder(t, f, recs, res)
		})
	}
}

func TestWritePermanentEntryLeavesLaterRecordsUnsent(t *testing.T) {
	// r1 fails permanently in the first request; the second request (r4..r7)
	// must not be sent, and r3 (key A, after r1 in the same request) must
	// not count as written even though the stream took it.
	f := newFake()
	f.entryCodes = map[string][]string{"r1": {"InvalidArgumentException"}}
	recs := records("A", "A", "B", "A", "C", "C", "D", "D")
	res := NewWriter(f, Options{MaxRequestRecords: 4, Concurrency: 1, Sleep: noSleep}).
		Write(context.Background(), Batch{Stream: "s1", Records: recs})

	if got, want := f.callData(), [][]string{{"r0", "r1", "r2", "r3"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got calls %v, want %v", got, want)
	}
	if prefix(res) != 1 {
		t.Errorf("got prefix %d, want 1", prefix(res))
	}
	if !res.Outcomes[1].Permanent || !strings.Contains(res.Outcomes[1].Err.Error(), "InvalidArgumentException") {
		t.Errorf("record 1: got %+v, want Permanent naming InvalidArgumentException", res.Outcomes[1])
	}
	for _, i := range []int{3, 4, 5, 6, 7} {
		o := res.Outcomes[i]
		if o.Written || o.Permanent || !errors.Is(o.Err, ErrNotSent) {
			t.Errorf("record %d: got %+v, want not written, not permanent, ErrNotSent", i, o)
		}
	}
	if !res.Outcomes[2].Written {
		t.Errorf("record 2 (other key, same request): got not written, want written")
	}
}

func TestWriteInvalidRecords(t *testing.T) {
	tests := []struct {
		name string
		key  string
		data []byte
	}{
		{name: "empty partition key", key: "", data: []byte("x")},
		{name: "partition key of 257 characters", key: strings.Repeat("k", 257), data: []byte("x")},
		{name: "partition key of invalid UTF-8", key: "k\xff", data: []byte("x")},
		{name: "one byte over the record limit", key: "k", data: make([]byte, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			recs := records("A", "B", "A", "C")
			recs[1].PartitionKey, recs[1].Data = tt.key, tt.data
			res := NewWriter(f, Options{Sleep: noSleep}).Write(context.Background(), Batch{Stream: "s1", MaxRecordBytes: 100, Records: recs})

			if got, want := f.callData(), [][]string{{"r0"}}; !reflect.DeepEqual(got, want) {
				t.Fatalf("got calls %v, want %v (nothing at or after the invalid record)", got, want)
			}
			if prefix(res) != 1 {
				t.Errorf("got prefix %d, want 1", prefix(res))
			}
			if o := res.Outcomes[1]; !o.Permanent || !errors.Is(o.Err, ErrInvalidRecord) || !strings.Contains(o.Err.Error(), "1001") {
				t.Errorf("invalid record: got %+v, want Permanent ErrInvalidRecord naming sequence number 1001", o)
			}
			for _, i := range []int{2, 3} {
				if o := res.Outcomes[i]; o.Written || o.Permanent || !errors.Is(o.Err, ErrNotSent) {
					t.Errorf("record %d: got %+v, want held back with ErrNotSent", i, o)
				}
			}
			if res.Stats.Failed != 3 || res.Stats.Written != 1 {
				t.Errorf("got stats %+v, want 1 written, 3 failed", res.Stats)
			}
		})
	}
}

func TestWriteAcceptsBoundaryRecords(t *testing.T) {
	tests := []struct {
		name string
		key  string
		data []byte
	}{
		{name: "partition key of 256 two-byte characters", key: strings.Repeat("é", 256), data: []byte("x")},
		{name: "partition key of one character", key: "k", data: nil},
		{name: "key and data exactly at the record limit", key: "kk", data: make([]byte, 98)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			recs := []Record{{SequenceNumber: "1", PartitionKey: tt.key, Data: tt.data}}
			maxBytes := 100
			if len(tt.key)+len(tt.data) > maxBytes {
				maxBytes = len(tt.key) + len(tt.data)
			}
			res := NewWriter(f, Options{}).Write(context.Background(), Batch{Stream: "s1", MaxRecordBytes: maxBytes, Records: recs})
			if prefix(res) != 1 || len(f.callSizes()) != 1 {
				t.Fatalf("got prefix %d after %d calls (err %v), want 1 after 1", prefix(res), len(f.callSizes()), res.Outcomes[0].Err)
			}
		})
	}
}

func TestWriteWholeRequestErrors(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		wantCalls     [][]string
		wantPrefix    int
		wantPermanent bool
	}{
		{
			name:       "service unavailable is retried",
			err:        &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer},
			wantCalls:  [][]string{{"r0", "r1"}, {"r2", "r3"}, {"r0", "r1"}},
			wantPrefix: 4,
		},
		{
			name:       "request throttling is retried",
			err:        &smithy.GenericAPIError{Code: "LimitExceededException"},
			wantCalls:  [][]string{{"r0", "r1"}, {"r2", "r3"}, {"r0", "r1"}},
			wantPrefix: 4,
		},
		{
			name:       "a connection error is retried",
			err:        &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")},
			wantCalls:  [][]string{{"r0", "r1"}, {"r2", "r3"}, {"r0", "r1"}},
			wantPrefix: 4,
		},
		{
			name:       "KMS throttling is retried",
			err:        &smithy.GenericAPIError{Code: "KMSThrottlingException"},
			wantCalls:  [][]string{{"r0", "r1"}, {"r2", "r3"}, {"r0", "r1"}},
			wantPrefix: 4,
		},
		{
			name:          "a missing stream is permanent",
			err:           &smithy.GenericAPIError{Code: "ResourceNotFoundException"},
			wantCalls:     [][]string{{"r0", "r1"}},
			wantPermanent: true,
		},
		{
			name:          "access denied is permanent",
			err:           &smithy.GenericAPIError{Code: "AccessDeniedException"},
			wantCalls:     [][]string{{"r0", "r1"}},
			wantPermanent: true,
		},
		{
			name:          "a disabled KMS key is permanent",
			err:           &smithy.GenericAPIError{Code: "KMSDisabledException"},
			wantCalls:     [][]string{{"r0", "r1"}},
			wantPermanent: true,
		},
		{
			name:          "a request the SDK refuses to send is permanent",
			err:           smithy.InvalidParamsError{Context: "PutRecordsInput"},
			wantCalls:     [][]string{{"r0", "r1"}},
			wantPermanent: true,
		},
		{
			name:          "unrecognised client is permanent",
			err:           &smithy.GenericAPIError{Code: "UnrecognizedClientException"},
			wantCalls:     [][]string{{"r0", "r1"}},
			wantPermanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Keys A B C D: the two chunks share no key, so after a
			// retryable error the second is sent in the same round; after a
			// permanent one it is not worth sending at all.
			f := newFake()
			f.requestErrs = map[int]error{0: fmt.Errorf("operation error Kinesis: PutRecords: %w", tt.err)}
			recs := records("A", "B", "C", "D")
			res := NewWriter(f, Options{MaxRequestRecords: 2, Concurrency: 1, Sleep: noSleep}).
				Write(context.Background(), Batch{Stream: "s1", Records: recs})

			if got := f.callData(); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Fatalf("got calls %v, want %v", got, tt.wantCalls)
			}
			if prefix(res) != tt.wantPrefix {
				t.Errorf("got prefix %d, want %d", prefix(res), tt.wantPrefix)
			}
			for _, i := range []int{0, 1} {
				o := res.Outcomes[i]
				if o.Permanent != tt.wantPermanent {
					t.Errorf("record %d: got Permanent %v, want %v", i, o.Permanent, tt.wantPermanent)
				}
				if tt.wantPermanent && !strings.Contains(o.Err.Error(), tt.err.Error()) {
					t.Errorf("record %d: got error %v, want it to wrap %v", i, o.Err, tt.err)
				}
			}
			if res.Stats.Resent != 0 {
				t.Errorf("got %d resent, want 0", res.Stats.Resent)
			}
		})
	}
}

func TestWriteWholeRequestFailureHoldsKeyInLaterChunks(t *testing.T) {
	// The first request fails; the second shares key A with it, so its A
	// record must wait for the next round while B goes out now. The next
	// round tops chunks up again from source order.
	f := newFake()
	f.requestErrs = map[int]error{0: &smithy.GenericAPIError{Code: "InternalFailure"}}
	recs := records("A", "A", "A", "B")
	res := NewWriter(f, Options{MaxRequestRecords: 2, Sleep: noSleep}).
		Write(context.Background(), Batch{Stream: "s1", Records: recs})
	want := [][]string{{"r0", "r1"}, {"r3"}, {"r0", "r1"}, {"r2"}}
	if got := f.callData(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got calls %v, want %v", got, want)
	}
	if prefix(res) != 4 {
		t.Errorf("got prefix %d, want 4", prefix(res))
	}
	checkLastCopiesInOrder(t, f, recs, res)
}

func TestWriteShortResponseCountsNothingWritten(t *testing.T) {
	// A response with fewer entries than the request cannot be matched by
	// index, so none of its records may count as written.
	f := newFake()
	f.shortReplies = map[int]bool{0: true}
	recs := records("A", "B")
	res := NewWriter(f, Options{Sleep: noSleep}).Write(context.Background(), Batch{Stream: "s1", Records: recs})
	want := [][]string{{"r0", "r1"}, {"r0", "r1"}}
	if got := f.callData(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got calls %v, want %v", got, want)
	}
	if prefix(res) != 2 || res.Stats.Resent != 0 {
		t.Errorf("got prefix %d resent %d, want 2 and 0", prefix(res), res.Stats.Resent)
	}
	checkLastCopiesInOrder(t, f, recs, res)
}

// prefix is the length of the leading run of written records: what a
// caller that skips nothing may acknowledge.
func prefix(res Result) int {
	n := 0
	for _, o := range res.Outcomes {
		if !o.Written {
			break
		}
		n++
	}
	return n
}
