package checkpoint

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func at(cp Checkpoint, epoch int64, seq string) Checkpoint {
	cp.Epoch = epoch
	cp.LastSequenceNumber = seq
	return cp
}

func stored(t *testing.T, store *Store, stream, shard string) (Checkpoint, bool) {
	t.Helper()
	cps, err := store.Load(context.Background(), stream, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cps {
		if cp.ShardID == shard {
			return cp, true
		}
	}
	return Checkpoint{}, false
}

func TestSaveOnlyMovesForward(t *testing.T) {
	type save struct {
		epoch        int64
		seq          string
		wantAdvanced bool
	}
	const seq56 = "49656740235234939186548513462361393532838414234960543746"
	tests := []struct {
		name      string
		saves     []save
		wantEpoch int64
		wantSeq   string
	}{
		{"the first save creates the checkpoint", []save{{1, "100", true}}, 1, "100"},
		{"a larger sequence number advances", []save{{1, "100", true}, {1, "101", true}, {1, "5000", true}}, 1, "5000"},
		{"a smaller sequence number is refused", []save{{1, "200", true}, {1, "199", false}}, 1, "200"},
		{"the same sequence number again is refused", []save{{1, "200", true}, {1, "200", false}}, 1, "200"},
		{"a shorter number that is bytewise larger is refused", []save{{1, "10", true}, {1, "9", false}}, 1, "10"},
		{"a longer number that is bytewise smaller advances", []save{{1, "9", true}, {1, "10", true}}, 1, "10"},
		{"56-digit numbers compare numerically", []save{{1, seq56, true}, {1, "49656740235234939186548513462361393532838414234960543745", false}, {1, "49656740235234939186548513462361393532838414234960543747", true}}, 1, "49656740235234939186548513462361393532838414234960543747"},
		{"a higher epoch wins over a larger sequence number", []save{{1, seq56, true}, {2, "5", true}}, 2, "5"},
		{"a lower epoch never overwrites", []save{{2, "5", true}, {1, seq56, false}, {1, "6", false}}, 2, "5"},
		{"within the new epoch sequence numbers order again", []save{{1, "900", true}, {2, "5", true}, {2, "4", false}, {2, "6", true}}, 2, "6"},
	}
	client, table := newCheckpointTable(t)
	store := NewStore(client, table)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := fixture(t)
			base.ShardID = fmt.Sprintf("shardId-%012d", i)
			for j, s := range tt.saves {
				advanced, err := store.Save(context.Background(), at(base, s.epoch, s.seq))
				if err != nil {
					t.Fatalf("save %d (epoch %d, %s): %v", j, s.epoch, s.seq, err)
				}
				if advanced != s.wantAdvanced {
					t.Errorf("save %d (epoch %d, %s): got advanced %t, want %t", j, s.epoch, s.seq, advanced, s.wantAdvanced)
				}
			}
			got, ok := stored(t, store, base.StreamName, base.ShardID)
			if !ok {
				t.Fatal("got no stored checkpoint, want one")
			}
			if got.Epoch != tt.wantEpoch || got.LastSequenceNumber != tt.wantSeq {
				t.Errorf("got epoch %d seq %s, want epoch %d seq %s", got.Epoch, got.LastSequenceNumber, tt.wantEpoch, tt.wantSeq)
			}
		})
	}
}

func TestSaveRefusesInvalidCheckpointAndWritesNothing(t *testing.T) {
	client, table := newCheckpointTable(t)
	store := NewStore(client, table)
	tests := []struct {
		name    string
		mutate  func(*Checkpoint)
		wantErr string
	}{
		{"leading zero", func(c *Checkpoint) { c.LastSequenceNumber = "0999" }, "has a leading zero"},
		{"not a number", func(c *Checkpoint) { c.LastSequenceNumber = "latest" }, "is not a decimal sequence number"},
		{"unknown timestamp source", func(c *Checkpoint) { c.TimestampSource = "guess" }, "timestampSource"},
		{"no epoch", func(c *Checkpoint) { c.Epoch = 0 }, "epoch is 0"},
		{"zero time", func(c *Checkpoint) { c.LastReplicatedTimestamp = time.Time{} }, "lastReplicatedTimestamp is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := fixture(t)
			tt.mutate(&cp)
			advanced, err := store.Save(context.Background(), cp)
			if err == nil || advanced || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "stream orders shard shardId-000000000000") {
				t.Fatalf("got (%t, %v), want (false, error naming the shard and containing %q)", advanced, err, tt.wantErr)
			}
			if cps, err := store.Load(context.Background(), "orders", "us-east-1"); err != nil || len(cps) != 0 {
				t.Errorf("got (%v, %v) stored, want nothing", cps, err)
			}
		})
	}
}

func TestConcurrentSavesEndAtTheMaximum(t *testing.T) {
	client, table := newCheckpointTable(t)
	store := NewStore(client, table)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		base := fixture(t)
		base.ShardID = fmt.Sprintf("shardId-%012d", round)
		// Random lengths too, so that bytewise and numeric order disagree.
		seqs := make([]string, 40)
		max := new(big.Int)
		for i := range seqs {
			seqs[i] = randomSequenceNumber(rng, 1+rng.IntN(56))
			n, _ := new(big.Int).SetString(seqs[i], 10)
			if n.Cmp(max) > 0 {
				max = n
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(seqs))
		for _, seq := range seqs {
			wg.Go(func() {
				if _, err := store.Save(context.Background(), at(base, 1, seq)); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, _ := stored(t, store, base.StreamName, base.ShardID)
		if got.LastSequenceNumber != max.String() {
			t.Errorf("round %d: got %s, want the maximum %s", round, got.LastSequenceNumber, max)
		}
	}
}

func randomSequenceNumber(rng *rand.Rand, digits int) string {
	var b strings.Builder
	b.WriteByte(byte('1' + rng.IntN(9)))
	for range digits - 1 {
		b.WriteByte(byte('0' + rng.IntN(10)))
	}
	return b.String()
}

func TestLoadReturnsEveryShardSorted(t *testing.T) {
	client, table := newCheckpointTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	if cps, err := store.Load(ctx, "orders", "us-east-1"); err != nil || cps == nil || len(cps) != 0 {
		t.Fatalf("no checkpoints: got (%#v, %v), want an empty slice and no error", cps, err)
	}

	base := fixture(t)
	var want []Checkpoint
	for _, shard := range []int{3, 0, 12, 1} {
		cp := base
		cp.ShardID = fmt.Sprintf("shardId-%012d", shard)
		cp.LastReplicatedTimestamp = base.LastReplicatedTimestamp.Add(time.Duration(shard) * time.Second)
		if _, err := store.Save(ctx, cp); err != nil {
			t.Fatal(err)
		}
		want = append(want, cp)
	}
	other := base
	other.StreamName = "payments"
	if _, err := store.Save(ctx, other); err != nil {
		t.Fatal(err)
	}

	got, err := store.Load(ctx, "orders", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var gotShards []string
	for _, cp := range got {
		gotShards = append(gotShards, cp.ShardID)
	}
	wantShards := []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000003", "shardId-000000000012"}
	if !reflect.DeepEqual(gotShards, wantShards) {
		t.Fatalf("got shards %v, want %v", gotShards, wantShards)
	}
	for _, w := range want {
		for _, g := range got {
			if g.ShardID == w.ShardID && !reflect.DeepEqual(g, w) {
				t.Errorf("shard %s: got %+v, want %+v", w.ShardID, g, w)
			}
		}
	}
	if resume, ok := ResumePoint(got); !ok || !resume.Equal(base.LastReplicatedTimestamp) {
		t.Errorf("resume point: got %s (%t), want %s", resume, ok, base.LastReplicatedTimestamp)
	}
}

func TestSavedItemHasTheDesignedAttributeTypes(t *testing.T) {
	client, table := newCheckpointTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	cp := fixture(t)
	cest := time.FixedZone("CEST", 2*3600)
	cp.LastReplicatedTimestamp = cp.LastReplicatedTimestamp.In(cest)
	if _, err := store.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key: map[string]ddbtypes.AttributeValue{
			"streamName": &ddbtypes.AttributeValueMemberS{Value: cp.StreamName},
			"shardId":    &ddbtypes.AttributeValueMemberS{Value: "us-east-1#" + cp.ShardID},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"streamName": "S", "shardId": "S", "sourceShardId": "S", "lastReplicatedTimestamp": "S", "timestampSource": "S",
		"lastSequenceNumber": "S", "lastArrivalTimestamp": "S", "targetShardId": "S",
		"targetSequenceNumber": "S", "sourceRegion": "S", "targetRegion": "S", "epoch": "N", "updatedAt": "S",
	}
	if key := out.Item["shardId"].(*ddbtypes.AttributeValueMemberS).Value; key != "us-east-1#shardId-000000000000" {
		t.Errorf("got key shardId %q, want <sourceRegion>#<shard id>", key)
	}
	if len(out.Item) != len(want) {
		t.Errorf("got %d attributes, want %d", len(out.Item), len(want))
	}
	for name, typ := range want {
		var got string
		switch out.Item[name].(type) {
		case *ddbtypes.AttributeValueMemberS:
			got = "S"
		case *ddbtypes.AttributeValueMemberN:
			got = "N"
		default:
			got = fmt.Sprintf("%T", out.Item[name])
		}
		if got != typ {
			t.Errorf("attribute %s: got type %s, want %s", name, got, typ)
		}
	}
	wantTimes := map[string]string{
		"lastReplicatedTimestamp": "2026-11-29T12:00:00.25Z",
		"lastArrivalTimestamp":    "2026-11-29T12:00:00.3Z",
		"updatedAt":               "2026-11-29T12:00:01Z",
	}
	for name, want := range wantTimes {
		if s, ok := out.Item[name].(*ddbtypes.AttributeValueMemberS); !ok || s.Value != want {
			t.Errorf("attribute %s: got %v, want %q (RFC 3339, UTC)", name, out.Item[name], want)
		}
	}
}

func TestLoadRefusesMalformedItems(t *testing.T) {
	client, table := newCheckpointTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	tests := []struct {
		name    string
		item    map[string]ddbtypes.AttributeValue
		wantErr string
	}{
		{"missing sequence number", map[string]ddbtypes.AttributeValue{
			"streamName": s("orders"), "shardId": s("us-east-1#shardId-000000000007"), "sourceShardId": s("shardId-000000000007"), "sourceRegion": s("us-east-1"), "lastReplicatedTimestamp": s("2026-11-29T12:00:00Z"),
			"timestampSource": s("commit"), "lastArrivalTimestamp": s("2026-11-29T12:00:00Z"), "epoch": &ddbtypes.AttributeValueMemberN{Value: "1"},
			"updatedAt": s("2026-11-29T12:00:00Z"),
		}, "shard us-east-1#shardId-000000000007: lastSequenceNumber: empty"},
		{"time as a number", map[string]ddbtypes.AttributeValue{
			"streamName": s("orders"), "shardId": s("us-east-1#shardId-000000000007"), "sourceShardId": s("shardId-000000000007"), "sourceRegion": s("us-east-1"), "lastReplicatedTimestamp": &ddbtypes.AttributeValueMemberN{Value: "1764417600"},
			"timestampSource": s("commit"), "lastSequenceNumber": s("1"), "lastArrivalTimestamp": s("2026-11-29T12:00:00Z"),
			"epoch": &ddbtypes.AttributeValueMemberN{Value: "1"}, "updatedAt": s("2026-11-29T12:00:00Z"),
		}, "want an RFC 3339 string"},
		{"key and attributes disagree", map[string]ddbtypes.AttributeValue{
			"streamName": s("payments"), "shardId": s("us-east-1#shardId-000000000009"), "sourceShardId": s("shardId-000000000008"), "sourceRegion": s("us-east-1"),
			"lastReplicatedTimestamp": s("2026-11-29T12:00:00Z"), "timestampSource": s("commit"), "lastSequenceNumber": s("1"),
			"lastArrivalTimestamp": s("2026-11-29T12:00:00Z"), "epoch": &ddbtypes.AttributeValueMemberN{Value: "1"}, "updatedAt": s("2026-11-29T12:00:00Z"),
		}, "do not match the key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: tt.item}); err != nil {
				t.Fatal(err)
			}
			stream := tt.item["streamName"].(*ddbtypes.AttributeValueMemberS).Value
			cps, err := store.Load(ctx, stream, "us-east-1")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "stream "+stream) {
				t.Fatalf("got (%v, %v), want an error naming the stream and containing %q", cps, err, tt.wantErr)
			}
		})
	}
}

// Both Regions' streams may have different shards, and every Region writes
// its own items, so neither Region's checkpoint can stand for a shard of the
// other, and the items of the time before the per-Region key are not read.
func TestEachRegionHasItsOwnCheckpoints(t *testing.T) {
	client, table := newCheckpointTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	east1 := fixture(t)
	east2 := fixture(t)
	east2.SourceRegion, east2.TargetRegion, east2.Epoch = "us-east-2", "us-east-1", 2
	east2.LastSequenceNumber = "5"
	for _, cp := range []Checkpoint{east1, east2} {
		if advanced, err := store.Save(ctx, cp); err != nil || !advanced {
			t.Fatalf("save %s: got (%t, %v), want a new item", cp.SourceRegion, advanced, err)
		}
	}
	legacy := map[string]ddbtypes.AttributeValue{
		"streamName": &ddbtypes.AttributeValueMemberS{Value: "orders"},
		"shardId":    &ddbtypes.AttributeValueMemberS{Value: "shardId-000000000000"},
	}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: legacy}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []Checkpoint{east1, east2} {
		got, err := store.Load(ctx, "orders", want.SourceRegion)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("Load(%s): got %+v, want only %+v", want.SourceRegion, got, want)
		}
	}
	if _, err := store.Load(ctx, "orders", ""); err == nil {
		t.Error("Load without a Region: got no error, want one")
	}
}

func TestMarkDrainedRecordsTheLatestDrainedEpochOnce(t *testing.T) {
	client, table := newCheckpointTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	cp := fixture(t)
	when := time.Date(2026, 11, 29, 13, 0, 0, 0, time.UTC)
	if marked, err := store.MarkDrained(ctx, "orders", "us-east-1", cp.ShardID, 1, when); err != nil || marked {
		t.Fatalf("mark without a checkpoint: got (%t, %v), want (false, nil)", marked, err)
	}
	if _, err := store.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		epoch      int64
		wantMarked bool
		wantEpoch  int64
	}{{1, true, 1}, {1, false, 1}, {3, true, 3}, {2, false, 3}}
	for _, st := range steps {
		marked, err := store.MarkDrained(ctx, "orders", "us-east-1", cp.ShardID, st.epoch, when)
		if err != nil || marked != st.wantMarked {
			t.Fatalf("mark epoch %d: got (%t, %v), want (%t, nil)", st.epoch, marked, err, st.wantMarked)
		}
		got, _ := stored(t, store, "orders", cp.ShardID)
		if got.DrainedEpoch != st.wantEpoch || got.DrainedAt == nil || !got.DrainedAt.Equal(when) {
			t.Errorf("after marking epoch %d: got drained epoch %d at %v, want %d at %s", st.epoch, got.DrainedEpoch, got.DrainedAt, st.wantEpoch, when)
		}
	}
}
