package activeregion

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func rawItem(t *testing.T, client *dynamodb.Client, table, stream string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]ddbtypes.AttributeValue{"streamName": &ddbtypes.AttributeValueMemberS{Value: stream}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func mustCreate(t *testing.T, store *Store, cfg Config) {
	t.Helper()
	created, err := store.Create(context.Background(), cfg)
	if err != nil || !created {
		t.Fatalf("create %s: got (%t, %v), want (true, nil)", cfg.StreamName, created, err)
	}
}

// The round trip through Get is part of activeregiontest.RunStoreContract;
// this checks what is stored, which the table schema in docs/reference.md fixes.
func TestCreateStoresTheDesignedAttributeTypes(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	paris := time.FixedZone("CET", 3600)
	in := Config{
		StreamName:   "orders",
		ActiveRegion: "us-east-2",
		ActiveSince:  time.Date(2026, 11, 29, 13, 0, 0, 123456789, paris),
		Epoch:        2,
		History: []Epoch{
			{Region: "us-east-1", Since: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Epoch: 1, Reason: "init", RequestedBy: "deploy"},
			{Region: "us-east-2", Since: time.Date(2026, 11, 29, 13, 0, 0, 123456789, paris), Epoch: 2, Reason: "drill", RequestID: "req-1", RequestedBy: "ops@example.com"},
		},
		UpdatedBy: "failover-fn",
		Reason:    "drill",
	}
	mustCreate(t, store, in)

	item := rawItem(t, client, table, "orders")
	wantTypes := map[string]attrType{
		"streamName": typeS, "activeRegion": typeS, "activeSince": typeS, "epoch": typeN,
		"history": typeL, "updatedBy": typeS, "reason": typeS,
	}
	for name, typ := range wantTypes {
		if got := typeOf(item[name]); got != typ {
			t.Errorf("attribute %s: got type %s, want %s", name, got, typ)
		}
	}
	if len(item) != len(wantTypes) {
		t.Errorf("got %d attributes, want %d", len(item), len(wantTypes))
	}
	if got, want := item["activeSince"].(*ddbtypes.AttributeValueMemberS).Value, "2026-11-29T12:00:00.123456789Z"; got != want {
		t.Errorf("activeSince: got %q, want %q (RFC 3339, UTC)", got, want)
	}
	entryTypes := map[string]attrType{"region": typeS, "since": typeS, "epoch": typeN, "reason": typeS, "requestId": typeS, "requestedBy": typeS}
	history := item["history"].(*ddbtypes.AttributeValueMemberL).Value
	for i, entry := range history {
		m, ok := entry.(*ddbtypes.AttributeValueMemberM)
		if !ok {
			t.Fatalf("history[%d]: got type %s, want M", i, typeOf(entry))
		}
		for name, av := range m.Value {
			if got, want := typeOf(av), entryTypes[name]; got != want {
				t.Errorf("history[%d].%s: got type %s, want %s", i, name, got, want)
			}
		}
	}
	if since := history[1].(*ddbtypes.AttributeValueMemberM).Value["since"].(*ddbtypes.AttributeValueMemberS).Value; !strings.HasSuffix(since, "Z") {
		t.Errorf("history[1].since: got %q, want UTC", since)
	}
}

func TestMalformedItemIsAClearError(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	tests := []struct {
		fixture string
		wantErr string
	}{
		{"missing-active-region.json", "attribute activeRegion is missing"},
		{"active-region-as-number.json", "attribute activeRegion has type N, want S"},
		{"missing-epoch.json", "attribute epoch is missing"},
		{"epoch-as-string.json", "attribute epoch has type S, want N"},
		{"missing-history.json", "attribute history is missing"},
		{"empty-history.json", "history is empty"},
		{"history-entry-not-a-map.json", "attribute history[0] has type S, want M"},
		{"history-entry-without-since.json", "attribute history[0].since is missing"},
		{"active-since-not-rfc3339.json", `time "yesterday" is not RFC 3339`},
		{"history-behind-current-epoch.json", "history ends with epoch 1 in us-east-1, want the current epoch 2 in us-east-2"},
		{"history-resume-from-as-number.json", "attribute history[0].resumeFrom has type N, want S"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.fixture, ".json"), func(t *testing.T) {
			item := readItemFixture(t, filepath.Join("testdata", "malformed", tt.fixture))
			if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
				t.Fatal(err)
			}
			_, err := store.Get(ctx, "broken")
			if err == nil || errors.Is(err, ErrNotFound) {
				t.Fatalf("get: got %v, want a malformed-item error", err)
			}
			for _, want := range []string{"stream broken", tt.wantErr} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("get: got %q, want it to contain %q", err, want)
				}
			}
			if _, err := store.List(ctx); err == nil || !strings.Contains(err.Error(), "stream broken") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("list: got %v, want an error naming stream broken and %q", err, tt.wantErr)
			}
			if _, err := store.Switch(ctx, "broken", Switch{To: "us-west-2", At: at(time.Hour)}); err == nil {
				t.Error("switch: got no error on a malformed item, want one")
			}
		})
	}
}

// The decoded resume point is part of activeregiontest.RunStoreContract;
// this checks the stored attribute.
func TestSwitchStoresTheResumePointAsAnRFC3339Attribute(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	mustCreate(t, store, Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	resume := time.Date(2026, 11, 29, 10, 30, 0, 250000000, time.FixedZone("CET", 3600))
	for _, sw := range []Switch{{To: "us-east-2", At: at(time.Hour), ResumeFrom: &resume}, {To: "us-east-1", At: at(2 * time.Hour)}} {
		if _, err := store.Switch(ctx, "orders", sw); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name string
		i    int
		want string // "" for no attribute
	}{
		{"the initial entry has none", 0, ""},
		{"the switch with a resume point stores it in UTC", 1, "2026-11-29T09:30:00.25Z"},
		{"a switch without one stores none", 2, ""},
	}
	history := rawItem(t, client, table, "orders")["history"].(*ddbtypes.AttributeValueMemberL).Value
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, stored := history[tt.i].(*ddbtypes.AttributeValueMemberM).Value["resumeFrom"]
			if tt.want == "" {
				if stored {
					t.Errorf("history[%d].resumeFrom: got %#v, want no attribute", tt.i, raw)
				}
				return
			}
			if s, ok := raw.(*ddbtypes.AttributeValueMemberS); !ok || s.Value != tt.want {
				t.Errorf("history[%d].resumeFrom attribute: got %#v, want the S value %s", tt.i, raw, tt.want)
			}
		})
	}
}
