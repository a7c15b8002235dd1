package localworld

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// fakeClock is the limiter's clock in these tests: buckets refill only when
// a test moves it, so no assertion depends on how fast the host runs.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// limited returns the shared world with east2's shards limited to l on a
// frozen clock, a new stream of shards shards, and a client of east2 that
// never retries (so each call is one request the test can see); limits,
// faults and the clock are restored when the test ends.
func limited(t *testing.T, l ShardLimit, shards int32) (*World, *fakeClock, string, *kinesis.Client) {
	t.Helper()
	w := world(t)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	w.limiters[1].setClock(clock.now)
	w.SetShardWriteLimit(east2, l)
	t.Cleanup(func() {
		w.limiters[1].setClock(time.Now)
		w.SetShardWriteLimit(east2, ShardLimit{})
		if err := w.SetKinesisFaults(east2, Faults{}); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream := localaws.UniqueName(t.Name())
	if err := w.CreateStream(ctx, stream, shards); err != nil {
		t.Fatal(err)
	}
	client := w.KinesisClient(east2, east2, func(o *kinesis.Options) { o.Retryer = aws.NopRetryer{} })
	return w, clock, stream, client
}

// keysOn returns n partition keys whose MD5 falls in the lower (shard 0 of
// two) or upper (shard 1) half of the hash key space, where kinesalite
// puts the two shards of a new stream.
func keysOn(upper bool, n int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		k := fmt.Sprintf("key-%d", i)
		if sum := md5.Sum([]byte(k)); (sum[0] >= 0x80) == upper {
			keys = append(keys, k)
		}
	}
	return keys
}

func entry(key, data string) types.PutRecordsRequestEntry {
	return types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: []byte(data)}
}

// slotCodes is each slot's error code, "" for a written entry.
func slotCodes(out *kinesis.PutRecordsOutput) []string {
	codes := make([]string, len(out.Records))
	for i, r := range out.Records {
		codes[i] = aws.ToString(r.ErrorCode)
	}
	return codes
}

// readShard returns the data of every record of the shard, in order.
func readShard(t *testing.T, w *World, stream, shard string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := localaws.KinesisClient(east2, w.emu.Kinesis[1])
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for iter := it.ShardIterator; iter != nil; {
		out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			got = append(got, string(r.Data))
		}
		if len(out.Records) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	return got
}

const throttledCode = "ProvisionedThroughputExceededException"

func TestEntriesOverTheirShardsLimitAreThrottledInTheirSlotsAndTheRestLandInOrder(t *testing.T) {
	w, _, stream, client := limited(t, ShardLimit{RecordsPerSecond: 3}, 2)
	ctx := context.Background()
	a, b := keysOn(false, 1)[0], keysOn(true, 1)[0]
	// Interleaved: a shared bucket would refuse b's entries from the
	// fourth entry on; each shard's own admits three of each.
	var in []types.PutRecordsRequestEntry
	for i := range 5 {
		in = append(in, entry(a, fmt.Sprintf("a%d", i)), entry(b, fmt.Sprintf("b%d", i)))
	}
	out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: in})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "", "", "", "", "", throttledCode, throttledCode, throttledCode, throttledCode}
	if got := slotCodes(out); !slices.Equal(got, want) {
		t.Fatalf("slots: got %q, want %q", got, want)
	}
	if got := aws.ToInt32(out.FailedRecordCount); got != 4 {
		t.Errorf("FailedRecordCount: got %d, want 4", got)
	}
	for i, r := range out.Records {
		wantShard := "shardId-000000000000"
		if i%2 == 1 {
			wantShard = "shardId-000000000001"
		}
		if r.ErrorCode == nil && aws.ToString(r.ShardId) != wantShard {
			t.Errorf("slot %d: got shard %s, want %s", i, aws.ToString(r.ShardId), wantShard)
		}
		if r.ErrorCode != nil {
			msg := fmt.Sprintf("Rate exceeded for shard %s in stream %s under account 000000000000.", wantShard, stream)
			if aws.ToString(r.ErrorMessage) != msg {
				t.Errorf("slot %d: got message %q, want %q", i, aws.ToString(r.ErrorMessage), msg)
			}
			if r.SequenceNumber != nil {
				t.Errorf("slot %d: a throttled entry got sequence number %s", i, aws.ToString(r.SequenceNumber))
			}
		}
	}
	if got, want := readShard(t, w, stream, "shardId-000000000000"), []string{"a0", "a1", "a2"}; !slices.Equal(got, want) {
		t.Errorf("shard 0 holds %q, want %q", got, want)
	}
	if got, want := readShard(t, w, stream, "shardId-000000000001"), []string{"b0", "b1", "b2"}; !slices.Equal(got, want) {
		t.Errorf("shard 1 holds %q, want %q", got, want)
	}
}

func TestTheByteLimitCountsDataAndPartitionKey(t *testing.T) {
	w, _, stream, client := limited(t, ShardLimit{RecordsPerSecond: -1, BytesPerSecond: 100}, 1)
	ctx := context.Background()
	big40, small := strings.Repeat("x", 40), strings.Repeat("y", 17)
	// 41 + 41 bytes fill 82 of 100; a third 41 does not fit in 18, but a
	// later 18 (17 of data, 1 of key) does: exactly the bucket's rest.
	in := []types.PutRecordsRequestEntry{entry("k", big40), entry("k", big40), entry("k", big40), entry("k", small), entry("k", "z")}
	out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: in})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slotCodes(out), []string{"", "", throttledCode, "", throttledCode}; !slices.Equal(got, want) {
		t.Fatalf("slots: got %q, want %q", got, want)
	}
	if got, want := readShard(t, w, stream, "shardId-000000000000"), []string{big40, big40, small}; !slices.Equal(got, want) {
		t.Errorf("shard holds %d records, want 3 in request order", len(got))
	}
}

func TestBucketsRefillContinuouslyUpToOneSecondOfTheLimit(t *testing.T) {
	_, clock, stream, client := limited(t, ShardLimit{RecordsPerSecond: 10}, 1)
	ctx := context.Background()
	put := func(n int) []string {
		t.Helper()
		in := make([]types.PutRecordsRequestEntry, n)
		for i := range in {
			in[i] = entry("k", "d")
		}
		out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: in})
		if err != nil {
			t.Fatal(err)
		}
		return slotCodes(out)
	}
	written := func(codes []string) int {
		return len(codes) - len(slices.DeleteFunc(slices.Clone(codes), func(c string) bool { return c == "" }))
	}
	steps := []struct {
		name    string
		advance time.Duration
		put     int
		want    int
	}{
		{"a full bucket holds a second of the limit", 0, 11, 10},
		{"empty: nothing until time passes", 0, 1, 0},
		{"a quarter second refills two and a half", 250 * time.Millisecond, 3, 2},
		{"the half left over counts", 50 * time.Millisecond, 1, 1},
		{"refill stops at one second's worth", 10 * time.Second, 12, 10},
	}
	for _, s := range steps {
		clock.advance(s.advance)
		if got := written(put(s.put)); got != s.want {
			t.Errorf("%s: %d of %d written, want %d", s.name, got, s.put, s.want)
		}
	}
}

func TestAPutRecordOverTheLimitIsRefusedWholeWithTheThrottlingError(t *testing.T) {
	_, _, stream, client := limited(t, ShardLimit{RecordsPerSecond: 1}, 1)
	ctx := context.Background()
	put := func() error {
		_, err := client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte("d")})
		return err
	}
	if err := put(); err != nil {
		t.Fatalf("first record: %v", err)
	}
	err := put()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != throttledCode {
		t.Fatalf("second record: got %v, want %s", err, throttledCode)
	}
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		t.Errorf("second record: got %T, want the SDK's ProvisionedThroughputExceededException", api)
	}
}

func TestLimitsAreOnByDefaultWithKinesissFigures(t *testing.T) {
	w, _, stream, client := limited(t, ShardLimit{}, 1)
	ctx := context.Background()
	before := w.KinesisStats(east2)
	written := 0
	for range 3 { // 1,500 entries within one (frozen) second
		in := make([]types.PutRecordsRequestEntry, 500)
		for i := range in {
			in[i] = entry("k", "d")
		}
		out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: in})
		if err != nil {
			t.Fatal(err)
		}
		written += len(in) - int(aws.ToInt32(out.FailedRecordCount))
	}
	if written != DefaultShardRecordsPerSecond {
		t.Errorf("written in one second: got %d, want %d", written, DefaultShardRecordsPerSecond)
	}
	after := w.KinesisStats(east2)
	if got := (KinesisStats{Requests: after.Requests - before.Requests, Entries: after.Entries - before.Entries,
		Throttled: after.Throttled - before.Throttled, Admitted: after.Admitted - before.Admitted}); got != (KinesisStats{Requests: 3, Entries: 1500, Throttled: 500, Admitted: 1000}) {
		t.Errorf("stats: got %+v, want 3 requests, 1500 entries, 500 throttled, 1000 admitted", got)
	}
	if got := (Options{}).ShardWriteLimit.withDefaults(); got != (ShardLimit{1000, 1 << 20}) {
		t.Errorf("the zero limit: got %+v, want 1000 records/s and 1 MiB/s", got)
	}
}

func TestUnlimitedForwardsEverything(t *testing.T) {
	_, _, stream, client := limited(t, Unlimited, 1)
	in := make([]types.PutRecordsRequestEntry, 500)
	for i := range in {
		in[i] = entry("k", "d")
	}
	for range 3 {
		out, err := client.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: in})
		if err != nil {
			t.Fatal(err)
		}
		if n := aws.ToInt32(out.FailedRecordCount); n != 0 {
			t.Fatalf("unlimited: %d refused", n)
		}
	}
}

// faultRun sends ten PutRecords of ten entries, one after another, and
// returns what each met: "500" for a request error, else its slots' codes.
func faultRun(t *testing.T, w *World, stream string, client *kinesis.Client, f Faults) []string {
	t.Helper()
	if err := w.SetKinesisFaults(east2, f); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 10 {
		in := make([]types.PutRecordsRequestEntry, 10)
		for i := range in {
			in[i] = entry("k", "d")
		}
		out, err := client.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: in})
		var api smithy.APIError
		switch {
		case errors.As(err, &api) && api.ErrorCode() == "InternalFailure":
			got = append(got, "500")
		case err != nil:
			t.Fatal(err)
		default:
			got = append(got, strings.Join(slotCodes(out), ","))
		}
	}
	return got
}

func TestFaultsAreReproducibleFromTheirSeed(t *testing.T) {
	w, _, stream, client := limited(t, Unlimited, 1)
	f := Faults{Seed: 42, RequestErrorRate: 0.3, EntryErrorRate: 0.2}
	first := faultRun(t, w, stream, client, f)
	if again := faultRun(t, w, stream, client, f); !slices.Equal(first, again) {
		t.Errorf("same seed, different faults:\n%q\n%q", first, again)
	}
	f.Seed = 43
	if other := faultRun(t, w, stream, client, f); slices.Equal(first, other) {
		t.Errorf("seeds 42 and 43 gave the same faults %q", first)
	}
	joined := strings.Join(first, ",")
	if !strings.Contains(joined, "500") || !strings.Contains(joined, "InternalFailure") {
		t.Errorf("seed 42 at 30%% and 20%%: got %q, want both request and entry failures", first)
	}
}

func TestResetsCutTheAnswerBeforeOrAfterTheWrite(t *testing.T) {
	w, _, stream, client := limited(t, Unlimited, 1)
	if err := w.SetKinesisFaults(east2, Faults{Seed: 1, ResetRate: 1}); err != nil {
		t.Fatal(err)
	}
	before := w.KinesisStats(east2)
	const n = 20
	for i := range n {
		_, err := client.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream),
			Records: []types.PutRecordsRequestEntry{entry("k", fmt.Sprint(i))}})
		if err == nil {
			t.Fatalf("request %d: answered through a reset", i)
		}
	}
	after := w.KinesisStats(east2)
	resets, faulted, admitted := after.Resets-before.Resets, after.Faulted-before.Faulted, after.Admitted-before.Admitted
	if resets != n || faulted+admitted != n {
		t.Errorf("got %d resets, %d cut before and %d after forwarding, want %d in all", resets, faulted, admitted, n)
	}
	if faulted == 0 || admitted == 0 {
		t.Errorf("got %d cut before and %d after forwarding, want some of each", faulted, admitted)
	}
	// The ones cut after forwarding were written, unbeknown to the client.
	if got := len(readShard(t, w, stream, "shardId-000000000000")); int64(got) != admitted {
		t.Errorf("the stream holds %d records, want the %d written before their reset", got, admitted)
	}
}

func TestAStalledAnswerStillArrives(t *testing.T) {
	w, _, stream, client := limited(t, Unlimited, 1)
	if err := w.SetKinesisFaults(east2, Faults{Seed: 1, StallRate: 1, Stall: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	before := w.KinesisStats(east2).Stalls
	out, err := client.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []types.PutRecordsRequestEntry{entry("k", "d")}})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("got %v, want the record written", err)
	}
	if got := w.KinesisStats(east2).Stalls - before; got != 1 {
		t.Errorf("stalls: got %d, want 1", got)
	}
}

func TestFaultsRefuseRatesOutsideZeroToOne(t *testing.T) {
	w := world(t)
	for _, f := range []Faults{{RequestErrorRate: -0.1}, {EntryErrorRate: 1.5}, {StallRate: 0.5, Stall: -time.Second}} {
		if err := w.SetKinesisFaults(east2, f); err == nil {
			t.Errorf("%+v: accepted", f)
		}
	}
	if err := w.SetKinesisFaults("eu-west-1", Faults{}); err == nil {
		t.Error("an unknown Region: accepted")
	}
}

func TestHashKeyIsTheMD5OfThePartitionKeyUnlessExplicit(t *testing.T) {
	two127 := new(big.Int).Lsh(big.NewInt(1), 127)
	s := &streamShards{open: []openShard{
		{id: "low", start: big.NewInt(0), end: new(big.Int).Sub(two127, big.NewInt(1))},
		{id: "high", start: two127, end: new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))},
	}}
	tests := []struct {
		name, key, explicit, want string
	}{
		// md5("a") = 0cc175b9…, md5("b") = 92eb5ffe…
		{"a key whose MD5 starts low", "a", "", "low"},
		{"a key whose MD5 starts high", "b", "", "high"},
		{"an explicit hash key wins", "b", "5", "low"},
		{"the first hash key of the upper half", "a", two127.String(), "high"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := HashKey(tt.key, tt.explicit)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.shardOf(h); got != tt.want {
				t.Errorf("got shard %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := HashKey("k", "not a number"); err == nil {
		t.Error("a malformed explicit hash key: accepted")
	}
}
