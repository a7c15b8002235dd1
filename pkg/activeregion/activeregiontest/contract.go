package activeregiontest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
)

// Contract is the method set of the config table whose contract is written
// on activeregion.Store, method by method; failover.ConfigStore and
// activeregion.Getter are subsets of it.
type Contract interface {
	Get(ctx context.Context, stream string) (activeregion.Config, error)
	List(ctx context.Context) ([]activeregion.Config, error)
	Create(ctx context.Context, cfg activeregion.Config) (created bool, err error)
	Switch(ctx context.Context, stream string, sw activeregion.Switch) (activeregion.Config, error)
	RecordVisibility(ctx context.Context, stream string, v activeregion.Visibility) (bool, error)
}

var _ Contract = (*activeregion.Store)(nil)

// Backend is one empty config table under test, with the hooks the suite
// needs to reach states the contract's own methods cannot.
type Backend struct {
	Store Contract
	// PutMalformed stores an item of stream that has no activeRegion,
	// bypassing the store's checks.
	PutMalformed func(t *testing.T, stream string)
	// Raw returns the stored item of stream as the backend holds it, so
	// that "writes nothing" is checked on what is stored, not through the
	// store's decoder.
	Raw func(t *testing.T, stream string) any
	// BeforeWrite makes later Switch and RecordVisibility calls run hook
	// after their read and before their conditional write; nil removes
	// it. The suite calls nothing else while a hook is set.
	BeforeWrite func(hook func(stream string))
}

// InMemory is the Backend of a new in-memory Store, for RunStoreContract.
func InMemory(*testing.T) Backend {
	s := New()
	return Backend{
		Store: s,
		PutMalformed: func(_ *testing.T, stream string) {
			s.Put(activeregion.Config{StreamName: stream, ActiveSince: t0, Epoch: 1,
				History: []activeregion.Epoch{{Region: "us-east-1", Since: t0, Epoch: 1}}})
		},
		Raw: func(_ *testing.T, stream string) any {
			cfg, _ := s.Item(stream)
			return cfg
		},
		BeforeWrite: func(hook func(stream string)) {
			if hook == nil {
				s.BeforeWrite(nil)
				return
			}
			s.BeforeWrite(func(_, stream string) { hook(stream) })
		},
	}
}

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// RunStoreContract runs the contract of the config table against the
// Backends newBackend returns, a new empty one per subtest.
func RunStoreContract(t *testing.T, newBackend func(t *testing.T) Backend) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"CreateThenGetReturnsTheItemInUTC", testCreateThenGet},
		{"CreateNeverOverwrites", testCreateNeverOverwrites},
		{"CreateFillsHistoryAndEpoch", testCreateFills},
		{"CreateRefusesInvalidConfigAndWritesNothing", testCreateRefusesInvalid},
		{"GetOfAStreamWithoutItemIsErrNotFound", testGetNotFound},
		{"GetWithoutStreamNameIsAClearError", testGetWithoutStream},
		{"MalformedItemIsAnErrorNamingTheStream", testMalformed},
		{"ListReturnsEveryItemSortedByStream", testList},
		{"SwitchIncrementsEpochAndKeepsHistoryForItsRetention", testSwitchHistory},
		{"SwitchStoresTheResumePointInUTC", testSwitchResumeFrom},
		{"SwitchToTheActiveRegionWritesNothing", testSwitchToActive},
		{"SwitchRefusesBadRequestsAndWritesNothing", testSwitchRefuses},
		{"SwitchThatLosesTheRaceIsErrConflictAndWritesNothing", testSwitchLosesRace},
		{"ConcurrentSwitchesFromOneEpochHaveOneWinner", testConcurrentSwitches},
		{"RecordVisibilityOnlyOnTheEntryItNames", testRecordVisibility},
		{"RecordVisibilityThatLosesTheRaceIsFalseAndWritesNothing", testRecordVisibilityLosesRace},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newBackend(t)) })
	}
}

func mustCreate(t *testing.T, s Contract, cfg activeregion.Config) {
	t.Helper()
	created, err := s.Create(context.Background(), cfg)
	if err != nil || !created {
		t.Fatalf("create %s: got (%t, %v), want (true, nil)", cfg.StreamName, created, err)
	}
}

func mustSwitch(t *testing.T, s Contract, stream string, sw activeregion.Switch) activeregion.Config {
	t.Helper()
	cfg, err := s.Switch(context.Background(), stream, sw)
	if err != nil {
		t.Fatalf("switch %s to %s: %v", stream, sw.To, err)
	}
	return cfg
}

func mustGet(t *testing.T, s Contract, stream string) activeregion.Config {
	t.Helper()
	cfg, err := s.Get(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func testCreateThenGet(t *testing.T, b Backend) {
	paris := time.FixedZone("CET", 3600)
	in := activeregion.Config{
		StreamName:   "orders",
		ActiveRegion: "us-east-2",
		ActiveSince:  time.Date(2026, 11, 29, 13, 0, 0, 123456789, paris),
		Epoch:        2,
		History: []activeregion.Epoch{
			{Region: "us-east-1", Since: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Epoch: 1, Reason: "init", RequestedBy: "deploy"},
			{Region: "us-east-2", Since: time.Date(2026, 11, 29, 13, 0, 0, 123456789, paris), Epoch: 2, Reason: "drill", RequestID: "req-1", RequestedBy: "ops@example.com"},
		},
		UpdatedBy: "failover-fn",
		Reason:    "drill",
	}
	mustCreate(t, b.Store, in)

	got := mustGet(t, b.Store, "orders")
	want := in
	want.ActiveSince = in.ActiveSince.UTC()
	want.History = []activeregion.Epoch{in.History[0], in.History[1]}
	want.History[1].Since = in.History[1].Since.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func testCreateNeverOverwrites(t *testing.T, b Backend) {
	ctx := context.Background()
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	mustSwitch(t, b.Store, "orders", activeregion.Switch{To: "us-east-2", At: at(time.Hour)})

	created, err := b.Store.Create(ctx, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: at(2 * time.Hour)})
	if err != nil || created {
		t.Fatalf("second create: got (%t, %v), want (false, nil)", created, err)
	}
	if got := mustGet(t, b.Store, "orders"); got.ActiveRegion != "us-east-2" || got.Epoch != 2 {
		t.Errorf("got %s at epoch %d, want the failed-over us-east-2 at epoch 2 kept", got.ActiveRegion, got.Epoch)
	}
}

func testCreateFills(t *testing.T, b Backend) {
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0, UpdatedBy: "init", Reason: "first deploy"})
	got := mustGet(t, b.Store, "orders")
	want := []activeregion.Epoch{{Region: "us-east-1", Since: t0, Epoch: 1, Reason: "first deploy"}}
	if got.Epoch != 1 || !reflect.DeepEqual(got.History, want) {
		t.Errorf("got epoch %d history %+v, want epoch 1 history %+v", got.Epoch, got.History, want)
	}
}

func testCreateRefusesInvalid(t *testing.T, b Backend) {
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     activeregion.Config
		wantErr string
	}{
		{"no Region", activeregion.Config{StreamName: "orders", ActiveSince: t0}, "activeRegion is empty"},
		{"no time", activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1"}, "activeSince is missing"},
		{"no stream", activeregion.Config{ActiveRegion: "us-east-1", ActiveSince: t0}, "streamName is empty"},
		{"history disagreeing with the current epoch", activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0, Epoch: 2,
			History: []activeregion.Epoch{{Region: "us-east-1", Since: t0, Epoch: 1}}}, "want the current epoch 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := b.Store.Create(ctx, tt.cfg)
			if err == nil || created || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got (%t, %v), want (false, error containing %q)", created, err, tt.wantErr)
			}
			if _, err := b.Store.Get(ctx, "orders"); !errors.Is(err, activeregion.ErrNotFound) {
				t.Errorf("get after refused create: got %v, want ErrNotFound", err)
			}
		})
	}
}

func testGetNotFound(t *testing.T, b Backend) {
	_, err := b.Store.Get(context.Background(), "ghost")
	if !errors.Is(err, activeregion.ErrNotFound) || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("got %v, want ErrNotFound naming the stream", err)
	}
}

func testGetWithoutStream(t *testing.T, b Backend) {
	_, err := b.Store.Get(context.Background(), "")
	if err == nil || errors.Is(err, activeregion.ErrNotFound) || !strings.Contains(err.Error(), "stream name is empty") {
		t.Fatalf("got %v, want an error saying the stream name is empty", err)
	}
}

// A malformed item must stop every caller, naming the stream: failover must
// not leave a stream out, and the rule must not decide on a guess.
func testMalformed(t *testing.T, b Backend) {
	ctx := context.Background()
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	b.PutMalformed(t, "broken")
	const want = "activeRegion"
	calls := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, err := b.Store.Get(ctx, "broken"); return err }},
		{"list", func() error { _, err := b.Store.List(ctx); return err }},
		{"switch", func() error {
			_, err := b.Store.Switch(ctx, "broken", activeregion.Switch{To: "us-west-2", At: at(time.Hour)})
			return err
		}},
		{"record visibility", func() error {
			_, err := b.Store.RecordVisibility(ctx, "broken", activeregion.Visibility{Epoch: 1, VisibleBy: t0, SettledAt: t0})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if err == nil || errors.Is(err, activeregion.ErrNotFound) || !strings.Contains(err.Error(), "stream broken") || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want a malformed-item error naming stream broken and %s", err, want)
			}
		})
	}
}

func testList(t *testing.T, b Backend) {
	ctx := context.Background()
	if got, err := b.Store.List(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty table: got (%v, %v), want no configs", got, err)
	}
	for i, name := range []string{"payments", "audit", "orders", "clicks"} {
		mustCreate(t, b.Store, activeregion.Config{StreamName: name, ActiveRegion: "us-east-1", ActiveSince: at(time.Duration(i) * time.Minute)})
	}
	got, err := b.Store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotNames []string
	for _, cfg := range got {
		gotNames = append(gotNames, cfg.StreamName)
		if want := mustGet(t, b.Store, cfg.StreamName); !reflect.DeepEqual(cfg, want) {
			t.Errorf("list entry %s: got %+v, want %+v as Get returns it", cfg.StreamName, cfg, want)
		}
	}
	if want := []string{"audit", "clicks", "orders", "payments"}; !reflect.DeepEqual(gotNames, want) {
		t.Errorf("got streams %v, want %v", gotNames, want)
	}
}

func testSwitchHistory(t *testing.T, b Backend) {
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})

	regions := []string{"us-east-2", "us-east-1"}
	var last activeregion.Config
	for i := range 25 {
		sw := activeregion.Switch{
			To: regions[i%2], At: at(time.Duration(i+1) * time.Minute),
			Reason: "drill", RequestID: "req-" + string(rune('a'+i)), RequestedBy: "ops", UpdatedBy: "failover-fn",
			HistoryRetention: 10 * time.Minute,
		}
		cfg := mustSwitch(t, b.Store, "orders", sw)
		if want := int64(i + 2); cfg.Epoch != want || cfg.ActiveRegion != sw.To || !cfg.ActiveSince.Equal(sw.At) {
			t.Fatalf("switch %d: got %s since %s at epoch %d, want %s since %s at epoch %d", i, cfg.ActiveRegion, cfg.ActiveSince, cfg.Epoch, sw.To, sw.At, want)
		}
		last = cfg
	}

	got := mustGet(t, b.Store, "orders")
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
	wantLast := activeregion.Epoch{Region: "us-east-2", Since: at(25 * time.Minute), Epoch: 26, Reason: "drill", RequestID: "req-y", RequestedBy: "ops", Mode: activeregion.ModeRewind}
	if lastEntry := got.History[len(got.History)-1]; lastEntry != wantLast {
		t.Errorf("newest entry: got %+v, want %+v", lastEntry, wantLast)
	}
	if got.UpdatedBy != "failover-fn" || got.Reason != "drill" {
		t.Errorf("got updatedBy %q reason %q, want failover-fn and drill", got.UpdatedBy, got.Reason)
	}

	trimmed := mustSwitch(t, b.Store, "orders", activeregion.Switch{To: "us-east-1", At: at(time.Hour), HistoryLimit: 3})
	if len(trimmed.History) != 3 || trimmed.History[0].Epoch != 25 {
		t.Errorf("with HistoryLimit 3: got %d entries from epoch %d, want 3 from epoch 25", len(trimmed.History), trimmed.History[0].Epoch)
	}
	all := mustSwitch(t, b.Store, "orders", activeregion.Switch{To: "us-east-2", At: at(2 * time.Hour)})
	if len(all.History) != 4 {
		t.Errorf("with the default retention of a year: got %d entries, want all 4", len(all.History))
	}
}

func testSwitchResumeFrom(t *testing.T, b Backend) {
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	resume := time.Date(2026, 11, 29, 10, 30, 0, 250000000, time.FixedZone("CET", 3600))
	mustSwitch(t, b.Store, "orders", activeregion.Switch{To: "us-east-2", At: at(time.Hour), ResumeFrom: &resume})
	mustSwitch(t, b.Store, "orders", activeregion.Switch{To: "us-east-1", At: at(2 * time.Hour)})

	got := mustGet(t, b.Store, "orders")
	tests := []struct {
		name string
		i    int
		want *time.Time
	}{
		{"the initial entry has none", 0, nil},
		{"the switch with a resume point stores it in UTC", 1, &resume},
		{"a switch without one stores none", 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entry := got.History[tt.i]
			if tt.want == nil {
				if entry.ResumeFrom != nil {
					t.Errorf("history[%d].resumeFrom: got %v, want none", tt.i, entry.ResumeFrom)
				}
				return
			}
			if entry.ResumeFrom == nil || !entry.ResumeFrom.Equal(*tt.want) || entry.ResumeFrom.Location() != time.UTC {
				t.Errorf("history[%d].resumeFrom: got %v, want %v in UTC", tt.i, entry.ResumeFrom, tt.want)
			}
		})
	}
}

func testSwitchToActive(t *testing.T, b Backend) {
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	before := b.Raw(t, "orders")

	cfg := mustSwitch(t, b.Store, "orders", activeregion.Switch{To: "us-east-1", At: at(time.Hour), Reason: "again"})
	if cfg.Epoch != 1 || !cfg.ActiveSince.Equal(t0) {
		t.Errorf("got epoch %d since %s, want the unchanged epoch 1 since %s", cfg.Epoch, cfg.ActiveSince, t0)
	}
	if after := b.Raw(t, "orders"); !reflect.DeepEqual(after, before) {
		t.Errorf("item changed: got %v, want %v", after, before)
	}
}

func testSwitchRefuses(t *testing.T, b Backend) {
	ctx := context.Background()
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	mustSwitch(t, b.Store, "orders", activeregion.Switch{To: "us-east-2", At: at(time.Hour)})
	before := b.Raw(t, "orders")

	stale, current := int64(1), int64(2)
	tests := []struct {
		name    string
		stream  string
		sw      activeregion.Switch
		wantIs  error
		wantErr string
	}{
		{"stale expected epoch", "orders", activeregion.Switch{To: "us-east-1", At: at(2 * time.Hour), ExpectedEpoch: &stale}, activeregion.ErrStaleEpoch, "item is at epoch 2, caller expected 1"},
		{"stale expected epoch to the active Region", "orders", activeregion.Switch{To: "us-east-2", At: at(2 * time.Hour), ExpectedEpoch: &stale}, activeregion.ErrStaleEpoch, "caller expected 1"},
		{"no target Region", "orders", activeregion.Switch{At: at(2 * time.Hour), ExpectedEpoch: &current}, nil, "target Region is empty"},
		{"no time", "orders", activeregion.Switch{To: "us-east-1", ExpectedEpoch: &current}, nil, "switch time is missing"},
		{"time before the current epoch", "orders", activeregion.Switch{To: "us-east-1", At: at(time.Minute)}, nil, "before the current epoch's start"},
		{"negative history limit", "orders", activeregion.Switch{To: "us-east-1", At: at(2 * time.Hour), HistoryLimit: -1}, nil, "history limit -1 or retention 0s is negative"},
		{"unknown mode", "orders", activeregion.Switch{To: "us-east-1", At: at(2 * time.Hour), Mode: "flush"}, nil, `mode "flush"`},
		{"stream without item", "ghost", activeregion.Switch{To: "us-east-1", At: at(2 * time.Hour)}, activeregion.ErrNotFound, "stream ghost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Store.Switch(ctx, tt.stream, tt.sw)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
			if after := b.Raw(t, "orders"); !reflect.DeepEqual(after, before) {
				t.Errorf("item changed: got %v, want %v", after, before)
			}
		})
	}

	cfg, err := b.Store.Switch(ctx, "orders", activeregion.Switch{To: "us-east-1", At: at(2 * time.Hour), ExpectedEpoch: &current})
	if err != nil || cfg.Epoch != 3 {
		t.Fatalf("switch with the current expected epoch: got epoch %d, %v, want epoch 3", cfg.Epoch, err)
	}
}

// otherWriterWins sets a hook under which, once, another switch of the
// stream to region lands between the caller's read and its write.
func otherWriterWins(t *testing.T, b Backend, region string, when time.Time) {
	t.Helper()
	var fired atomic.Bool
	b.BeforeWrite(func(stream string) {
		if fired.CompareAndSwap(false, true) {
			if _, err := b.Store.Switch(context.Background(), stream, activeregion.Switch{To: region, At: when, RequestID: "other"}); err != nil {
				t.Errorf("the other writer's switch: %v", err)
			}
		}
	})
	t.Cleanup(func() { b.BeforeWrite(nil) })
}

func testSwitchLosesRace(t *testing.T, b Backend) {
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	otherWriterWins(t, b, "us-west-2", at(time.Minute))

	cfg, err := b.Store.Switch(context.Background(), "orders", activeregion.Switch{To: "us-east-2", At: at(time.Minute), RequestID: "mine"})
	b.BeforeWrite(nil)
	if !errors.Is(err, activeregion.ErrConflict) || !strings.Contains(err.Error(), "stream orders") || cfg.StreamName != "" {
		t.Fatalf("got (%+v, %v), want (zero, ErrConflict naming the stream)", cfg, err)
	}
	got := mustGet(t, b.Store, "orders")
	if got.ActiveRegion != "us-west-2" || got.Epoch != 2 || got.History[1].RequestID != "other" {
		t.Errorf("got %s at epoch %d by %q, want the other writer's us-west-2 at epoch 2", got.ActiveRegion, got.Epoch, got.History[1].RequestID)
	}
}

func testConcurrentSwitches(t *testing.T, b Backend) {
	ctx := context.Background()
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	t.Cleanup(func() { b.BeforeWrite(nil) })

	targets := []string{"us-east-2", "us-west-2"}
	for round := range 5 {
		// Every switch waits after its read until all have read, so they
		// all read the same epoch before any of them writes.
		var reads sync.WaitGroup
		reads.Add(len(targets))
		b.BeforeWrite(func(string) { reads.Done(); reads.Wait() })
		results := make([]activeregion.Config, len(targets))
		errs := make([]error, len(targets))
		var wg sync.WaitGroup
		for i, to := range targets {
			wg.Go(func() {
				results[i], errs[i] = b.Store.Switch(ctx, "orders", activeregion.Switch{To: to, At: at(time.Duration(round+1) * time.Minute), RequestID: to})
			})
		}
		wg.Wait()
		b.BeforeWrite(nil)

		winners := 0
		var winner activeregion.Config
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				winner = results[i]
			case !errors.Is(err, activeregion.ErrConflict):
				t.Fatalf("round %d: switch to %s: got %v, want nil or ErrConflict", round, targets[i], err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: got %d winners (errors %v), want exactly 1", round, winners, errs)
		}
		stored := mustGet(t, b.Store, "orders")
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

func testRecordVisibility(t *testing.T, b Backend) {
	ctx := context.Background()
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	old := at(time.Minute)
	mustSwitch(t, b.Store, "orders", activeregion.Switch{To: "us-east-2", At: at(time.Hour), RequestID: "req-1", ResumeFrom: &old})
	cet := time.FixedZone("CET", 3600)
	visible, settled, resume := at(time.Hour).In(cet), at(time.Hour+time.Second).In(cet), at(2*time.Minute).In(cet)

	tests := []struct {
		name string
		v    activeregion.Visibility
	}{
		{"an earlier epoch", activeregion.Visibility{Epoch: 1, RequestID: "req-1", VisibleBy: visible, SettledAt: settled}},
		{"another request's entry", activeregion.Visibility{Epoch: 2, RequestID: "req-2", VisibleBy: visible, SettledAt: settled}},
	}
	before := b.Raw(t, "orders")
	for _, tt := range tests {
		t.Run(tt.name+" is (false, nil) and writes nothing", func(t *testing.T) {
			ok, err := b.Store.RecordVisibility(ctx, "orders", tt.v)
			if ok || err != nil {
				t.Fatalf("got (%t, %v), want (false, nil)", ok, err)
			}
			if after := b.Raw(t, "orders"); !reflect.DeepEqual(after, before) {
				t.Errorf("item changed: got %v, want %v", after, before)
			}
		})
	}

	ok, err := b.Store.RecordVisibility(ctx, "orders", activeregion.Visibility{Epoch: 2, RequestID: "req-1", VisibleBy: visible, SettledAt: settled, ResumeFrom: &resume})
	if !ok || err != nil {
		t.Fatalf("the entry it names: got (%t, %v), want (true, nil)", ok, err)
	}
	got := mustGet(t, b.Store, "orders")
	e := got.History[len(got.History)-1]
	for _, f := range []struct {
		name string
		got  *time.Time
		want time.Time
	}{
		{"visibleBy", e.VisibleBy, visible},
		{"settledAt", e.SettledAt, settled},
		{"resumeFrom", e.ResumeFrom, resume},
	} {
		if f.got == nil || !f.got.Equal(f.want) || f.got.Location() != time.UTC {
			t.Errorf("%s: got %v, want %s in UTC", f.name, f.got, f.want)
		}
	}
	if got.Epoch != 2 || got.History[0].VisibleBy != nil {
		t.Errorf("got epoch %d, history[0].visibleBy %v, want epoch 2 and only the current entry changed", got.Epoch, got.History[0].VisibleBy)
	}

	if _, err := b.Store.RecordVisibility(ctx, "ghost", activeregion.Visibility{Epoch: 1}); !errors.Is(err, activeregion.ErrNotFound) || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("stream without item: got %v, want ErrNotFound naming the stream", err)
	}
}

func testRecordVisibilityLosesRace(t *testing.T, b Backend) {
	mustCreate(t, b.Store, activeregion.Config{StreamName: "orders", ActiveRegion: "us-east-1", ActiveSince: t0})
	mustSwitch(t, b.Store, "orders", activeregion.Switch{To: "us-east-2", At: at(time.Hour), RequestID: "req-1"})
	otherWriterWins(t, b, "us-east-1", at(2*time.Hour))

	ok, err := b.Store.RecordVisibility(context.Background(), "orders", activeregion.Visibility{Epoch: 2, RequestID: "req-1", VisibleBy: at(time.Hour), SettledAt: at(time.Hour)})
	b.BeforeWrite(nil)
	if ok || err != nil {
		t.Fatalf("got (%t, %v), want (false, nil): a later switch leaves nothing to record", ok, err)
	}
	got := mustGet(t, b.Store, "orders")
	if got.Epoch != 3 || got.History[1].VisibleBy != nil {
		t.Errorf("got epoch %d, epoch 2 visibleBy %v, want the other writer's epoch 3 and nothing recorded", got.Epoch, got.History[1].VisibleBy)
	}
}
