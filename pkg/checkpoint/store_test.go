package checkpoint

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

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

// Items written before the per-Region key (no Region in shardId) are not
// read: which Region's shard they describe is not known for certain. The
// per-Region reads themselves are part of checkpointtest.RunStoreContract.
func TestLoadSkipsItemsOfThePreRegionKey(t *testing.T) {
	client, table := newCheckpointTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	east1 := fixture(t)
	east2 := fixture(t)
	east2.SourceRegion, east2.TargetRegion, east2.Epoch = "us-east-2", "us-east-1", 2
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
}
