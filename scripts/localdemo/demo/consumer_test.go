package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
	"github.com/kinesis-crr/kinesis-crr/pkg/translate"
)

func TestJudgeConsumerCountsMissedAndRereadRecords(t *testing.T) {
	a, b := Regions[0], Regions[1]
	const shard = "shardId-000000000000"
	rec := func(id string, gen int) promisecheck.Copy {
		return promisecheck.Copy{Payload: promisecheck.Payload{ID: id, Gen: gen}, Shard: shard}
	}
	processed := func(recs ...promisecheck.Copy) map[copyKey]string {
		m := map[copyKey]string{}
		for _, r := range recs {
			m[copyKey{r.ID, r.Gen}] = r.Shard
		}
		return m
	}
	after := func(maxReread int64) []translate.Start {
		return []translate.Start{{TargetShardID: shard, StartingPosition: translate.AfterSequenceNumber, SequenceNumber: "1", MaxReread: &maxReread}}
	}
	r1, r2, r3, r4 := rec("k1#1", 0), rec("k1#2", 0), rec("k1#3", 0), rec("k2#1", 0)
	for _, tc := range []struct {
		name         string
		inA, inB     map[copyKey]string
		target       []promisecheck.Copy
		starts       []translate.Start
		wantOK       bool
		wantMissed   []string
		wantReread   int
		wantPromised int64
		wantOnlyInA  int
		wantOver     int
		wantNoBound  int
	}{
		{
			name: "a start just after the last record processed misses and re-reads nothing",
			inA:  processed(r1, r2), inB: processed(r3, r4), target: []promisecheck.Copy{r1, r2, r3, r4},
			starts: after(0), wantOK: true, wantMissed: []string{},
		},
		{
			name: "a start past a record not yet processed misses it",
			inA:  processed(r1), inB: processed(r3, r4), target: []promisecheck.Copy{r1, r2, r3, r4},
			starts: after(0), wantMissed: []string{"k1#2 gen 0 on " + shard},
		},
		{
			name: "a start at the sync point before the position re-reads within maxReread",
			inA:  processed(r1, r2, r3), inB: processed(r2, r3, r4), target: []promisecheck.Copy{r1, r2, r3, r4},
			starts: after(2), wantOK: true, wantMissed: []string{}, wantReread: 2, wantPromised: 2,
		},
		{
			name: "re-reading more than maxReread breaks the promise",
			inA:  processed(r1, r2, r3), inB: processed(r2, r3, r4), target: []promisecheck.Copy{r1, r2, r3, r4},
			starts: after(1), wantMissed: []string{}, wantReread: 2, wantPromised: 1, wantOver: 1,
		},
		{
			// Processed after the replicator's checkpoint and superseded at
			// the switch: the target holds the CDC task's resend instead.
			name: "a record processed in A that B does not hold is neither missed nor re-read",
			inA:  processed(r1, r2), inB: processed(rec("k1#2", 1)), target: []promisecheck.Copy{r1, rec("k1#2", 1)},
			starts: after(0), wantOK: true, wantMissed: []string{}, wantOnlyInA: 1,
		},
		{
			name: "a record B holds twice counts once",
			inA:  processed(r1), inB: processed(r2), target: []promisecheck.Copy{r1, r2, r2},
			starts: after(0), wantOK: true, wantMissed: []string{},
		},
		{
			name: "a start without a bound is reported, its re-reads not judged",
			inA:  processed(r1), inB: processed(r1, r2), target: []promisecheck.Copy{r1, r2},
			starts: []translate.Start{{TargetShardID: shard, StartingPosition: translate.TrimHorizon}},
			wantOK: true, wantMissed: []string{}, wantReread: 1, wantNoBound: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := judgeConsumer(a, b, map[string]map[copyKey]string{a: tc.inA, b: tc.inB}, tc.target, tc.starts)
			if got.OK() != tc.wantOK || got.Missed != len(tc.wantMissed) || !slices.Equal(got.MissedRecords, tc.wantMissed) ||
				got.Reread != tc.wantReread || got.Promised != tc.wantPromised || got.OnlyInFrom != tc.wantOnlyInA ||
				len(got.OverBound) != tc.wantOver || len(got.Unbounded) != tc.wantNoBound {
				t.Errorf("got OK %v, missed %d %q, re-read %d of %d promised, %d only in A, over the bound %q, no bound %q; want OK %v, missed %q, re-read %d of %d, %d only in A, %d over, %d without a bound",
					got.OK(), got.Missed, got.MissedRecords, got.Reread, got.Promised, got.OnlyInFrom, got.OverBound, got.Unbounded,
					tc.wantOK, tc.wantMissed, tc.wantReread, tc.wantPromised, tc.wantOnlyInA, tc.wantOver, tc.wantNoBound)
			}
			if got.ProcessedFrom != len(tc.inA) || got.ProcessedTo != len(tc.inB) {
				t.Errorf("got %d processed in A and %d in B, want %d and %d", got.ProcessedFrom, got.ProcessedTo, len(tc.inA), len(tc.inB))
			}
		})
	}
}

// TestConsumerResumesWhereTheTranslationSays runs the consumer on fake
// streams: it reads A, stops, is given the positions it kept back from the
// translation as starts in B, and reads B. A start past a record it had not
// processed must show as missed.
func TestConsumerResumesWhereTheTranslationSays(t *testing.T) {
	const shard0, shard1 = "shardId-000000000000", "shardId-000000000001"
	// A: three changes on shard 0, none on shard 1. B: their replicas, one
	// more record of A that the consumer had not processed (it stopped
	// before), and one written in B.
	inA := newFakeStream(map[string][]string{shard0: {"k1#1", "k1#2", "k1#3"}, shard1: nil})
	inB := newFakeStream(map[string][]string{shard0: {"k1#1", "k1#2", "k1#3", "k1#4", "k1#5"}, shard1: {"k2#1"}})
	for _, tc := range []struct {
		name string
		// after is the index in B's shard 0 of the record the start is
		// after; -1 for TRIM_HORIZON.
		after      int
		maxReread  int64
		wantOK     bool
		wantMissed int
		wantReread int
	}{
		{name: "after the replica of the last record processed: nothing missed or re-read", after: 2, wantOK: true},
		{name: "after an earlier sync point: re-reads within maxReread", after: 0, maxReread: 2, wantOK: true, wantReread: 2},
		{name: "from TRIM_HORIZON: re-reads everything, misses nothing", after: -1, wantOK: true, wantReread: 3},
		{name: "past a record not processed: misses it", after: 3, wantMissed: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := newConsumer("s", 0)
			defer c.close()
			c.start(ctx, Regions[0], inA, map[string]streamread.Window{shard0: {}, shard1: {}})
			if err := c.caughtUp(ctx, time.Now(), time.Minute); err != nil {
				t.Fatal(err)
			}
			kept := c.stop()
			want := map[string]string{shard0: inA.seq(shard0, 2), shard1: translate.SentinelTrimHorizon}
			if !maps.Equal(kept, want) {
				t.Fatalf("kept %v, want %v", kept, want)
			}

			start0 := translate.Start{TargetShardID: shard0, StartingPosition: translate.TrimHorizon}
			if tc.after >= 0 {
				start0 = translate.Start{TargetShardID: shard0, StartingPosition: translate.AfterSequenceNumber, SequenceNumber: inB.seq(shard0, tc.after), MaxReread: &tc.maxReread}
			}
			starts := []translate.Start{start0, {TargetShardID: shard1, StartingPosition: translate.TrimHorizon}}
			var given map[string]string
			c.moveTo(ctx, &strings.Builder{}, Regions[1], inB, kept, func(_ context.Context, positions map[string]string) (translate.Result, error) {
				given = positions
				return translate.Result{Positions: starts}, nil
			})
			if err := c.finish(ctx, time.Now(), time.Minute); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(given, kept) {
				t.Errorf("the translation was given %v, want the positions kept %v", given, kept)
			}
			got := c.judge(Regions[0], Regions[1], inB.copies())
			if got.OK() != tc.wantOK || got.Missed != tc.wantMissed || got.Reread != tc.wantReread {
				t.Errorf("got OK %v, %d missed %q, %d re-read (promised %d, over %q); want OK %v, %d missed, %d re-read",
					got.OK(), got.Missed, got.MissedRecords, got.Reread, got.Promised, got.OverBound, tc.wantOK, tc.wantMissed, tc.wantReread)
			}
		})
	}
}

func TestWindowsFollowTheTranslatedStarts(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	got, err := windows([]translate.Start{
		{TargetShardID: "s0", StartingPosition: translate.AfterSequenceNumber, SequenceNumber: "49"},
		{TargetShardID: "s1", StartingPosition: translate.AtTimestamp, Timestamp: at},
		{TargetShardID: "s2", StartingPosition: translate.TrimHorizon},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]streamread.Window{"s0": {After: "49"}, "s1": {From: at}, "s2": {}}
	if !maps.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := windows([]translate.Start{{TargetShardID: "s0", StartingPosition: "LATEST"}}); err == nil || !strings.Contains(err.Error(), "LATEST") {
		t.Errorf("got %v for a LATEST start, want an error naming it", err)
	}
}

// fakeStream is a Region's Kinesis holding fixed shards of CDC payloads,
// every record arrived long ago. Iterators are "shard/index".
type fakeStream struct {
	shards map[string][]kinesistypes.Record
}

func newFakeStream(ids map[string][]string) *fakeStream {
	f := &fakeStream{shards: map[string][]kinesistypes.Record{}}
	for shard, list := range ids {
		f.shards[shard] = []kinesistypes.Record{}
		for i, id := range list {
			data, _ := json.Marshal(promisecheck.Payload{ID: id})
			f.shards[shard] = append(f.shards[shard], kinesistypes.Record{
				SequenceNumber: aws.String(fmt.Sprintf("49%03d", i)), Data: data,
				ApproximateArrivalTimestamp: aws.Time(time.Unix(0, 0)),
			})
		}
	}
	return f
}

func (f *fakeStream) seq(shard string, i int) string {
	return aws.ToString(f.shards[shard][i].SequenceNumber)
}

func (f *fakeStream) copies() []promisecheck.Copy {
	var out []promisecheck.Copy
	for _, shard := range slices.Sorted(maps.Keys(f.shards)) {
		for _, r := range f.shards[shard] {
			var p promisecheck.Payload
			_ = json.Unmarshal(r.Data, &p)
			out = append(out, promisecheck.Copy{Payload: p, Shard: shard})
		}
	}
	return out
}

func (f *fakeStream) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return nil, errors.New("not used")
}

func (f *fakeStream) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	shard := aws.ToString(in.ShardId)
	recs, ok := f.shards[shard]
	if !ok {
		return nil, fmt.Errorf("no shard %s", shard)
	}
	i := 0
	switch in.ShardIteratorType {
	case kinesistypes.ShardIteratorTypeTrimHorizon:
	case kinesistypes.ShardIteratorTypeAfterSequenceNumber:
		i = slices.IndexFunc(recs, func(r kinesistypes.Record) bool {
			return aws.ToString(r.SequenceNumber) == aws.ToString(in.StartingSequenceNumber)
		}) + 1
		if i == 0 {
			return nil, fmt.Errorf("no record %s in %s", aws.ToString(in.StartingSequenceNumber), shard)
		}
	default:
		return nil, fmt.Errorf("iterator type %s not faked", in.ShardIteratorType)
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(shard + "/" + strconv.Itoa(i))}, nil
}

func (f *fakeStream) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	shard, index, _ := strings.Cut(aws.ToString(in.ShardIterator), "/")
	i, err := strconv.Atoi(index)
	if err != nil {
		return nil, fmt.Errorf("iterator %q: %w", aws.ToString(in.ShardIterator), err)
	}
	recs := f.shards[shard][i:]
	return &kinesis.GetRecordsOutput{Records: recs, MillisBehindLatest: aws.Int64(0),
		NextShardIterator: aws.String(shard + "/" + strconv.Itoa(i+len(recs)))}, nil
}
