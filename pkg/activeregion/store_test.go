package activeregion

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
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

func TestCreateAndGetRoundTripEveryAttribute(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
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

	got, err := store.Get(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ActiveSince = in.ActiveSince.UTC()
	want.History = []Epoch{in.History[0], in.History[1]}
	want.History[1].Since = in.History[1].Since.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

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

func TestCreateNeverOverwrites(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	first := Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0}
	mustCreate(t, store, first)
	if _, err := store.Switch(ctx, "orders", Switch{To: "us-east-2", At: at(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	created, err := store.Create(ctx, Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: at(2 * time.Hour)})
	if err != nil || created {
		t.Fatalf("second create: got (%t, %v), want (false, nil)", created, err)
	}
	got, err := store.Get(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got.ActiveRegion != "us-east-2" || got.Epoch != 2 {
		t.Errorf("got %s at epoch %d, want the failed-over us-east-2 at epoch 2 kept", got.ActiveRegion, got.Epoch)
	}
}

func TestCreateFillsHistoryAndEpoch(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	mustCreate(t, store, Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0, UpdatedBy: "init", Reason: "first deploy"})
	got, err := store.Get(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := []Epoch{{Region: "us-east-1", Since: t0, Epoch: 1, Reason: "first deploy"}}
	if got.Epoch != 1 || !reflect.DeepEqual(got.History, want) {
		t.Errorf("got epoch %d history %+v, want epoch 1 history %+v", got.Epoch, got.History, want)
	}
}

func TestCreateRefusesInvalidConfigAndWritesNothing(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no Region", Config{StreamName: "orders", ActiveSince: t0}, "activeRegion is empty"},
		{"no time", Config{StreamName: "orders", ActiveRegion: "us-east-1"}, "activeSince is missing"},
		{"no stream", Config{ActiveRegion: "us-east-1", ActiveSince: t0}, "streamName is empty"},
		{"history disagreeing with the current epoch", Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0, Epoch: 2,
			History: []Epoch{{Region: "us-east-1", Since: t0, Epoch: 1}}}, "want the current epoch 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := store.Create(ctx, tt.cfg)
			if err == nil || created || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got (%t, %v), want (false, error containing %q)", created, err, tt.wantErr)
			}
			if _, err := store.Get(ctx, "orders"); !errors.Is(err, ErrNotFound) {
				t.Errorf("get after refused create: got %v, want ErrNotFound", err)
			}
		})
	}
}

func TestGetOfAStreamWithoutItemIsErrNotFound(t *testing.T) {
	client, table := newConfigTable(t)
	_, err := NewStore(client, table).Get(context.Background(), "ghost")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("got %v, want ErrNotFound naming the stream", err)
	}
}

func TestGetWithoutStreamNameIsAClearError(t *testing.T) {
	client, table := newConfigTable(t)
	_, err := NewStore(client, table).Get(context.Background(), "")
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "stream name is empty") {
		t.Fatalf("got %v, want an error saying the stream name is empty", err)
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

func TestListReturnsEveryItemSortedByStream(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	if got, err := store.List(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty table: got (%v, %v), want no configs", got, err)
	}
	names := []string{"payments", "audit", "orders", "clicks"}
	for i, name := range names {
		mustCreate(t, store, Config{StreamName: name, ActiveRegion: "us-east-1", ActiveSince: at(time.Duration(i) * time.Minute)})
	}
	got, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotNames []string
	for _, cfg := range got {
		gotNames = append(gotNames, cfg.StreamName)
		want, err := store.Get(ctx, cfg.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("list entry %s: got %+v, want %+v as Get returns it", cfg.StreamName, cfg, want)
		}
	}
	if want := []string{"audit", "clicks", "orders", "payments"}; !reflect.DeepEqual(gotNames, want) {
		t.Errorf("got streams %v, want %v", gotNames, want)
	}
}

func TestSwitchIncrementsEpochAndKeepsHistoryForItsRetention(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	mustCreate(t, store, Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})

	regions := []string{"us-east-2", "us-east-1"}
	var last Config
	for i := range 25 {
		sw := Switch{
			To: regions[i%2], At: at(time.Duration(i+1) * time.Minute),
			Reason: "drill", RequestID: "req-" + string(rune('a'+i)), RequestedBy: "ops", UpdatedBy: "failover-fn",
			HistoryRetention: 10 * time.Minute,
		}
		cfg, err := store.Switch(ctx, "orders", sw)
		if err != nil {
			t.Fatalf("switch %d: %v", i, err)
		}
		if want := int64(i + 2); cfg.Epoch != want || cfg.ActiveRegion != sw.To || !cfg.ActiveSince.Equal(sw.At) {
			t.Fatalf("switch %d: got %s since %s at epoch %d, want %s since %s at epoch %d", i, cfg.ActiveRegion, cfg.ActiveSince, cfg.Epoch, sw.To, sw.At, want)
		}
		last = cfg
	}

	got, err := store.Get(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, last) {
		t.Errorf("stored item: got %+v, want what Switch returned %+v", got, last)
	}
	// The last switch is at 25m: epochs that ended before 15m are gone;
	// epoch 15 (from 14m) was active at 15m and stays.
	if len(got.History) != 12 {
		t.Fatalf("got %d history entries, want the 12 that ended within the retention", len(got.History))
	}
	if first := got.History[0]; first.Epoch != 15 || !first.Since.Equal(at(14*time.Minute)) {
		t.Errorf("oldest kept entry: got epoch %d since %s, want epoch 15 since %s", first.Epoch, first.Since, at(14*time.Minute))
	}
	wantLast := Epoch{Region: "us-east-2", Since: at(25 * time.Minute), Epoch: 26, Reason: "drill", RequestID: "req-y", RequestedBy: "ops", Mode: ModeRewind}
	if lastEntry := got.History[len(got.History)-1]; lastEntry != wantLast {
		t.Errorf("newest entry: got %+v, want %+v", lastEntry, wantLast)
	}
	if got.UpdatedBy != "failover-fn" || got.Reason != "drill" {
		t.Errorf("got updatedBy %q reason %q, want failover-fn and drill", got.UpdatedBy, got.Reason)
	}

	trimmed, err := store.Switch(ctx, "orders", Switch{To: "us-east-1", At: at(time.Hour), HistoryLimit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(trimmed.History) != 3 || trimmed.History[0].Epoch != 25 {
		t.Errorf("with HistoryLimit 3: got %d entries from epoch %d, want 3 from epoch 25", len(trimmed.History), trimmed.History[0].Epoch)
	}
	all, err := store.Switch(ctx, "orders", Switch{To: "us-east-2", At: at(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.History) != 4 {
		t.Errorf("with the default retention of a year: got %d entries, want all 4", len(all.History))
	}
}

func TestSwitchStoresTheResumePointInTheNewHistoryEntry(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	mustCreate(t, store, Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	paris := time.FixedZone("CET", 3600)
	resume := time.Date(2026, 11, 29, 10, 30, 0, 250000000, paris)

	if _, err := store.Switch(ctx, "orders", Switch{To: "us-east-2", At: at(time.Hour), ResumeFrom: &resume}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Switch(ctx, "orders", Switch{To: "us-east-1", At: at(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	got, err := store.Get(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		i    int
		want *time.Time
	}{
		{"the initial entry has none", 0, nil},
		{"the switch with a resume point stores it in UTC", 1, &resume},
		{"a switch without one stores none", 2, nil},
	}
	history := rawItem(t, client, table, "orders")["history"].(*ddbtypes.AttributeValueMemberL).Value
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entry := got.History[tt.i]
			raw, stored := history[tt.i].(*ddbtypes.AttributeValueMemberM).Value["resumeFrom"]
			if tt.want == nil {
				if entry.ResumeFrom != nil || stored {
					t.Errorf("history[%d].resumeFrom: got %v (stored %t), want none", tt.i, entry.ResumeFrom, stored)
				}
				return
			}
			if entry.ResumeFrom == nil || !entry.ResumeFrom.Equal(*tt.want) || entry.ResumeFrom.Location() != time.UTC {
				t.Errorf("history[%d].resumeFrom: got %v, want %v in UTC", tt.i, entry.ResumeFrom, tt.want)
			}
			if s, ok := raw.(*ddbtypes.AttributeValueMemberS); !ok || s.Value != "2026-11-29T09:30:00.25Z" {
				t.Errorf("history[%d].resumeFrom attribute: got %#v, want the S value 2026-11-29T09:30:00.25Z", tt.i, raw)
			}
		})
	}
}

func TestSwitchToTheActiveRegionChangesNothing(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	mustCreate(t, store, Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	before := rawItem(t, client, table, "orders")

	cfg, err := store.Switch(ctx, "orders", Switch{To: "us-east-1", At: at(time.Hour), Reason: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Epoch != 1 || !cfg.ActiveSince.Equal(t0) {
		t.Errorf("got epoch %d since %s, want the unchanged epoch 1 since %s", cfg.Epoch, cfg.ActiveSince, t0)
	}
	if after := rawItem(t, client, table, "orders"); !reflect.DeepEqual(after, before) {
		t.Errorf("item changed: got %v, want %v", after, before)
	}
}

func TestSwitchRefusesBadRequestsAndWritesNothing(t *testing.T) {
	client, table := newConfigTable(t)
	store := NewStore(client, table)
	ctx := context.Background()
	mustCreate(t, store, Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	mustSwitch := func(sw Switch) {
		if _, err := store.Switch(ctx, "orders", sw); err != nil {
			t.Fatal(err)
		}
	}
	mustSwitch(Switch{To: "us-east-2", At: at(time.Hour)})
	before := rawItem(t, client, table, "orders")

	stale, current := int64(1), int64(2)
	tests := []struct {
		name    string
		stream  string
		sw      Switch
		wantIs  error
		wantErr string
	}{
		{"stale expected epoch", "orders", Switch{To: "us-east-1", At: at(2 * time.Hour), ExpectedEpoch: &stale}, ErrStaleEpoch, "item is at epoch 2, caller expected 1"},
		{"stale expected epoch to the active Region", "orders", Switch{To: "us-east-2", At: at(2 * time.Hour), ExpectedEpoch: &stale}, ErrStaleEpoch, "caller expected 1"},
		{"no target Region", "orders", Switch{At: at(2 * time.Hour), ExpectedEpoch: &current}, nil, "target Region is empty"},
		{"no time", "orders", Switch{To: "us-east-1", ExpectedEpoch: &current}, nil, "switch time is missing"},
		{"time before the current epoch", "orders", Switch{To: "us-east-1", At: at(time.Minute)}, nil, "before the current epoch's start"},
		{"negative history limit", "orders", Switch{To: "us-east-1", At: at(2 * time.Hour), HistoryLimit: -1}, nil, "history limit -1 or retention 0s is negative"},
		{"unknown mode", "orders", Switch{To: "us-east-1", At: at(2 * time.Hour), Mode: "flush"}, nil, `mode "flush"`},
		{"stream without item", "ghost", Switch{To: "us-east-1", At: at(2 * time.Hour)}, ErrNotFound, "stream ghost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.Switch(ctx, tt.stream, tt.sw)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
			if after := rawItem(t, client, table, "orders"); !reflect.DeepEqual(after, before) {
				t.Errorf("item changed: got %v, want %v", after, before)
			}
		})
	}

	cfg, err := store.Switch(ctx, "orders", Switch{To: "us-east-1", At: at(2 * time.Hour), ExpectedEpoch: &current})
	if err != nil || cfg.Epoch != 3 {
		t.Fatalf("switch with the current expected epoch: got epoch %d, %v, want epoch 3", cfg.Epoch, err)
	}
}

// barrierClient holds every GetItem until parties have read, so concurrent
// Switch calls all read the same epoch before any of them writes.
type barrierClient struct {
	DynamoDBAPI
	reads *sync.WaitGroup
}

func (c barrierClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := c.DynamoDBAPI.GetItem(ctx, in, optFns...)
	c.reads.Done()
	c.reads.Wait()
	return out, err
}

func TestConcurrentSwitchesFromOneEpochHaveOneWinner(t *testing.T) {
	client, table := newConfigTable(t)
	ctx := context.Background()
	mustCreate(t, NewStore(client, table), Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})

	targets := []string{"us-east-2", "us-west-2"}
	for round := range 5 {
		var reads sync.WaitGroup
		reads.Add(len(targets))
		store := NewStore(barrierClient{DynamoDBAPI: client, reads: &reads}, table)
		results := make([]Config, len(targets))
		errs := make([]error, len(targets))
		var wg sync.WaitGroup
		for i, to := range targets {
			wg.Go(func() {
				results[i], errs[i] = store.Switch(ctx, "orders", Switch{To: to, At: at(time.Duration(round+1) * time.Minute), RequestID: to})
			})
		}
		wg.Wait()

		winners := 0
		var winner Config
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				winner = results[i]
			case !errors.Is(err, ErrConflict):
				t.Fatalf("round %d: switch to %s: got %v, want nil or ErrConflict", round, targets[i], err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: got %d winners (errors %v), want exactly 1", round, winners, errs)
		}
		stored, err := NewStore(client, table).Get(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stored, winner) {
			t.Fatalf("round %d: stored %+v, want the winner's %+v", round, stored, winner)
		}
		if want := int64(round + 2); stored.Epoch != want {
			t.Fatalf("round %d: got epoch %d, want %d", round, stored.Epoch, want)
		}
		// Next round both switch away from the winner again: a target that is
		// already active would write nothing and win trivially.
		targets = slices.DeleteFunc([]string{"us-east-1", "us-east-2", "us-west-2"}, func(r string) bool { return r == stored.ActiveRegion })
	}
}
