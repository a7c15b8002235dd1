package failover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint/checkpointtest"
)

const (
	east1 = "us-east-1"
	east2 = "us-east-2"
)

var now = t0.Add(10 * time.Hour)

func testSettings() Settings {
	return Settings{
		Regions:            []string{east1, east2},
		OwnRegion:          east2,
		CheckpointTable:    "kdsReplicationCheckpoint",
		ActiveRegionTable:  "kdsActiveRegionConfig",
		IdleShardThreshold: 5 * time.Minute,
		HistoryLimit:       activeregion.DefaultHistoryLimit,
		CrossRegionTimeout: time.Second,
		CacheTTL:           5 * time.Second,
	}
}

// switchSince is the since a failover at now stamps in rewind mode: after
// every write of the old Region has landed.
var switchSince = activeregion.Timing{CacheTTL: 5 * time.Second}.Since(now, activeregion.ModeRewind, time.Time{})

type fixture struct {
	h       *Handler
	in      map[string]*Handler // the same function deployed in each Region
	configs *fakeConfigs
	cps     *checkpointtest.Store
	lambdas map[string]*fakeLambda
	kinesis map[string]*fakeKinesis
	log     *bytes.Buffer
	// settles records the waits before read-backs; duringSettle, when set,
	// runs in their place (another Region's write replicating in, say).
	settles      []time.Duration
	duringSettle func(ctx context.Context) error
}

func newFixture(s Settings, cfgs ...activeregion.Config) *fixture {
	f := &fixture{
		configs: newFakeConfigs(cfgs...),
		cps:     checkpointtest.New(),
		lambdas: map[string]*fakeLambda{east1: {}, east2: {}},
		log:     &bytes.Buffer{},
	}
	f.kinesis = map[string]*fakeKinesis{east1: {cps: f.cps}, east2: {cps: f.cps}}
	conc := map[string]ConcurrencyAPI{}
	for r, l := range f.lambdas {
		conc[r] = l
	}
	kin := map[string]ListShardsAPI{}
	for r, k := range f.kinesis {
		kin[r] = k
	}
	newIn := func(region string) *Handler {
		inRegion := s
		inRegion.OwnRegion = region
		return NewHandler(inRegion, Clients{Concurrency: conc, Kinesis: kin},
			WithStores(f.configs, f.cps),
			WithClock(func() time.Time { return now }),
			WithLogger(slog.New(slog.NewJSONHandler(f.log, nil))),
			WithSleep(func(ctx context.Context, d time.Duration) error {
				f.settles = append(f.settles, d)
				if f.duringSettle != nil {
					return f.duringSettle(ctx)
				}
				return ctx.Err()
			}))
	}
	f.in = map[string]*Handler{}
	for _, r := range s.Regions {
		f.in[r] = newIn(r)
	}
	f.h = f.in[s.OwnRegion]
	return f
}

// handle invokes the function the way the runbook says: a failover in the
// Region it activates, anything else in the fixture's own Region.
func (f *fixture) handle(t *testing.T, ctx context.Context, payload string) Report {
	t.Helper()
	h := f.h
	var req struct {
		Action       string `json:"action"`
		TargetRegion string `json:"targetRegion"`
	}
	if json.Unmarshal([]byte(payload), &req) == nil && (req.Action == "" || req.Action == ActionFailover) && req.TargetRegion != "" {
		if in, ok := f.in[req.TargetRegion]; ok {
			h = in
		}
	}
	r, err := h.Handle(ctx, json.RawMessage(payload))
	if err != nil {
		t.Fatalf("Handle(%s): got error %v, want a report", payload, err)
	}
	return r
}

func inLambda(requestID string) context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: requestID})
}

func statuses(r Report) map[string]string {
	got := map[string]string{}
	for _, s := range r.Streams {
		got[s.StreamName] = s.Status
	}
	return got
}

func hasLine(lines []string, parts ...string) bool {
	return slices.ContainsFunc(lines, func(l string) bool {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				return false
			}
		}
		return true
	})
}

func TestFailoverSwitchesEveryNamedStreamAndRecordsTheAudit(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1), configAt("s2", east1), configAt("s3", east1))
	r := f.handle(t, inLambda("req-123"),
		`{"targetRegion":"us-east-2","streams":["s1","s2"],"reason":"us-east-1 impaired","requestedBy":"alice"}`)

	if got, want := statuses(r), map[string]string{"s1": StatusSwitched, "s2": StatusSwitched}; !equalMaps(got, want) {
		t.Fatalf("got statuses %v, want %v", got, want)
	}
	if r.ActiveRegion != east2 || r.PreviousRegion != east1 {
		t.Errorf("got activeRegion %q previousRegion %q, want %q %q", r.ActiveRegion, r.PreviousRegion, east2, east1)
	}
	if r.SwitchedAt == nil || !r.SwitchedAt.Equal(switchSince) {
		t.Errorf("got switchedAt %v, want %v", r.SwitchedAt, switchSince)
	}
	if r.ProducersMayStartAt == nil || !r.ProducersMayStartAt.Equal(switchSince) {
		t.Errorf("got producersMayStartAt %v, want %v: in rewind mode the epoch starts when the old Region's writes have landed", r.ProducersMayStartAt, switchSince)
	}
	for _, name := range []string{"s1", "s2"} {
		item := f.configs.item(name)
		if item.ActiveRegion != east2 || item.Epoch != 2 || !item.ActiveSince.Equal(switchSince) {
			t.Errorf("%s: got item active %s epoch %d since %v, want %s epoch 2 since %v", name, item.ActiveRegion, item.Epoch, item.ActiveSince, east2, switchSince)
		}
		last := item.History[len(item.History)-1]
		visible, settled := now, switchSince
		want := activeregion.Epoch{Region: east2, Since: switchSince, Epoch: 2, Reason: "us-east-1 impaired", RequestID: "req-123", RequestedBy: "alice",
			Mode: activeregion.ModeRewind, VisibleBy: &visible, SettledAt: &settled}
		if !reflect.DeepEqual(last, want) {
			t.Errorf("%s: got history entry %+v, want %+v", name, last, want)
		}
	}
	if item := f.configs.item("s3"); item.ActiveRegion != east1 || item.Epoch != 1 {
		t.Errorf("s3 was not named: got active %s epoch %d, want %s epoch 1", item.ActiveRegion, item.Epoch, east1)
	}
	for _, sw := range f.configs.switches {
		if sw.HistoryLimit != activeregion.DefaultHistoryLimit {
			t.Errorf("got Switch history limit %d, want %d", sw.HistoryLimit, activeregion.DefaultHistoryLimit)
		}
	}
}

func TestFailoverWithoutStreamsSwitchesEveryStreamOfTheTable(t *testing.T) {
	f := newFixture(testSettings(), configAt("b", east1), configAt("a", east1), configAt("c", east1, east2))
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
	want := map[string]string{"a": StatusSwitched, "b": StatusSwitched, "c": StatusAlreadyActive}
	if got := statuses(r); !equalMaps(got, want) {
		t.Fatalf("got statuses %v, want %v", got, want)
	}
	var names []string
	for _, s := range r.Streams {
		names = append(names, s.StreamName)
	}
	if !slices.IsSorted(names) {
		t.Errorf("got streams in order %v, want sorted by name", names)
	}
}

func TestHistoryLimitIsPassedToTheStore(t *testing.T) {
	s := testSettings()
	s.HistoryLimit = 3
	f := newFixture(s, configAt("s1", east1, east2, east1, east2, east1))
	f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
	if got := f.configs.switches[0].HistoryLimit; got != 3 {
		t.Fatalf("got Switch history limit %d, want 3", got)
	}
	if got := f.configs.item("s1").History; len(got) != 3 || got[2].Epoch != 6 {
		t.Fatalf("got history %+v, want the last 3 epochs ending with 6", got)
	}
}

func TestFailoverToTheActiveRegionChangesNothingAndSaysSo(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	first := f.handle(t, context.Background(), `{"targetRegion":"us-east-2","streams":["s1"]}`)
	writes := f.configs.writeCount()
	for _, payload := range []string{
		`{"targetRegion":"us-east-2","streams":["s1"]}`,
		// A retry of the same fenced call says "already active", not "stale".
		`{"targetRegion":"us-east-2","streams":["s1"],"expectedEpoch":1}`,
	} {
		again := f.handle(t, context.Background(), payload)
		if got := statuses(again)["s1"]; got != StatusAlreadyActive {
			t.Errorf("%s: got status %q, want %q", payload, got, StatusAlreadyActive)
		}
		if got := f.configs.writeCount(); got != writes {
			t.Errorf("%s: got %d writes, want %d: nothing may change", payload, got, writes)
		}
		if !hasLine(again.Actions, "s1", "already active in us-east-2") {
			t.Errorf("%s: got actions %q, want one saying s1 is already active", payload, again.Actions)
		}
		if again.Streams[0].Epoch != first.Streams[0].Epoch || again.Streams[0].PreviousRegion != east1 {
			t.Errorf("%s: got epoch %d previous %q, want %d %q", payload, again.Streams[0].Epoch, again.Streams[0].PreviousRegion, first.Streams[0].Epoch, east1)
		}
		if again.SwitchedAt == nil || !again.SwitchedAt.Equal(first.Streams[0].ActiveSince) {
			t.Errorf("%s: got switchedAt %v, want the time of the real switch %v", payload, again.SwitchedAt, first.Streams[0].ActiveSince)
		}
	}
}

func TestRetriedFailoverAndStatusReportTheResumePointOfTheSwitch(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	f.cps.Put(
		cp("s1", "shardId-000000000000", t0.Add(10*time.Minute), east1, 1),
		cp("s1", "shardId-000000000001", t0.Add(9*time.Minute), east1, 1),
	)
	first := f.handle(t, inLambda("req-switch"), `{"targetRegion":"us-east-2","streams":["s1"]}`)
	want := t0.Add(9 * time.Minute)
	if got := first.Streams[0].ResumeFrom; got == nil || !got.Equal(want) {
		t.Fatalf("switch: got resumeFrom %v, want %v", deref(got), want)
	}
	if got := f.configs.item("s1").History[1].ResumeFrom; got == nil || !got.Equal(want) {
		t.Fatalf("switch: got stored resumeFrom %v, want %v in the new history entry", deref(got), want)
	}
	// us-east-1's checkpoints move on (writes that landed in the lease)
	// and us-east-2's replicator checkpoints the other direction in its
	// own items.
	f.cps.Put(
		cp("s1", "shardId-000000000000", t0.Add(11*time.Minute), east1, 1),
		cp("s1", "shardId-000000000001", t0.Add(12*time.Minute), east1, 1),
		cp("s1", "shardId-000000000000", t0.Add(2*time.Hour), east2, 2),
		cp("s1", "shardId-000000000001", t0.Add(2*time.Hour), east2, 2),
	)
	for _, payload := range []string{`{"targetRegion":"us-east-2","streams":["s1"]}`, `{"action":"status"}`} {
		r := f.handle(t, context.Background(), payload)
		if got := r.Streams[0].ResumeFrom; got == nil || !got.Equal(want) {
			t.Errorf("%s: got resumeFrom %v, want the one of the switch %v", payload, deref(got), want)
		}
		if !hasLine(r.Actions, "s1", "computed at the switch", "req-switch") {
			t.Errorf("%s: got actions %q, want one saying resumeFrom was computed at the switch by req-switch", payload, r.Actions)
		}
	}
}

func TestResumePointCountsOnlyTheCheckpointsOfTheRegionLeft(t *testing.T) {
	tests := []struct {
		name        string
		payload     string
		cfg         activeregion.Config
		cps         []checkpoint.Checkpoint
		wantResume  *time.Time
		wantWarning []string
	}{
		{
			name:    "retry on an item switched before resume points were stored",
			payload: `{"targetRegion":"us-east-2","streams":["s1"]}`,
			cfg:     configAt("s1", east1, east2),
			cps: []checkpoint.Checkpoint{
				cp("s1", "shardId-000000000000", t0.Add(10*time.Minute), east1, 1),
				cp("s1", "shardId-000000000001", t0.Add(3*time.Hour), east2, 2),
			},
			wantWarning: []string{"shardId-000000000001", "no checkpoint", "withheld"},
		},
		{
			// us-east-1's shard 1 never had a record replicated in epoch 3;
			// us-east-2's checkpoint of its own shard 1, of epoch 2, is
			// later than the records us-east-1's producers resent there.
			name:    "a checkpoint of the other Region never covers a shard of the Region left",
			payload: `{"targetRegion":"us-east-2","streams":["s1"]}`,
			cfg:     configAt("s1", east1, east2, east1),
			cps: []checkpoint.Checkpoint{
				cp("s1", "shardId-000000000000", t0.Add(3*time.Hour), east1, 3),
				cp("s1", "shardId-000000000001", t0.Add(2*time.Hour-time.Minute), east2, 2),
			},
			wantWarning: []string{"shardId-000000000001", "no checkpoint", "withheld"},
		},
		{
			name:    "a checkpoint of an earlier epoch of the Region left counts from where that epoch's producers resumed",
			payload: `{"targetRegion":"us-east-2","streams":["s1"]}`,
			cfg:     configAt("s1", east1, east2, east1),
			cps: []checkpoint.Checkpoint{
				cp("s1", "shardId-000000000000", t0.Add(3*time.Hour), east1, 3),
				cp("s1", "shardId-000000000001", t0.Add(150*time.Minute), east1, 1),
			},
			wantResume:  ptr(t0.Add(2 * time.Hour)),
			wantWarning: []string{"shardId-000000000001", "epoch 1, before epoch 3", "counted as"},
		},
		{
			name:       "checkpoints of the epoch failed away from count",
			payload:    `{"targetRegion":"us-east-1","streams":["s1"]}`,
			cfg:        configAt("s1", east1, east2),
			cps:        []checkpoint.Checkpoint{cp("s1", "shardId-000000000000", t0.Add(3*time.Hour), east2, 2)},
			wantResume: ptr(t0.Add(3 * time.Hour)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testSettings(), tt.cfg)
			f.cps.Put(tt.cps...)
			r := f.handle(t, context.Background(), tt.payload)
			got := r.Streams[0].ResumeFrom
			if (got == nil) != (tt.wantResume == nil) || (got != nil && !got.Equal(*tt.wantResume)) {
				t.Errorf("got resumeFrom %v, want %v", deref(got), deref(tt.wantResume))
			}
			if tt.wantWarning != nil && !hasLine(r.Warnings, tt.wantWarning...) {
				t.Errorf("got warnings %q, want one with %q", r.Warnings, tt.wantWarning)
			}
		})
	}
}

func TestExpectedEpochFencesTheSwitch(t *testing.T) {
	tests := []struct {
		name       string
		fence      string
		wantStatus string
		wantWrites int
	}{
		// The switch, then its visibility on the new history entry.
		{name: "matching epoch switches", fence: "3", wantStatus: StatusSwitched, wantWrites: 2},
		{name: "older epoch changes nothing", fence: "2", wantStatus: StatusStaleEpoch, wantWrites: 0},
		{name: "newer epoch changes nothing", fence: "4", wantStatus: StatusStaleEpoch, wantWrites: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testSettings(), configAt("s1", east1, east2, east1))
			r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2","expectedEpoch":`+tt.fence+`}`)
			if got := statuses(r)["s1"]; got != tt.wantStatus {
				t.Errorf("got status %q, want %q", got, tt.wantStatus)
			}
			if got := f.configs.writeCount(); got != tt.wantWrites {
				t.Errorf("got %d writes, want %d", got, tt.wantWrites)
			}
			if tt.wantStatus == StatusStaleEpoch && !hasLine(r.Warnings, "s1", "epoch 3", "expected epoch "+tt.fence) {
				t.Errorf("got warnings %q, want one naming the epochs", r.Warnings)
			}
		})
	}
}

func TestRacingFailoverLosesOneStreamAndSwitchesTheOther(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1), configAt("s2", east1))
	f.configs.BeforeWrite(func(method, stream string) {
		if method != "Switch" || stream != "s1" {
			return
		}
		f.configs.Put(switched(f.configs.item("s1"), east2, now.Add(-time.Second)))
	})
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
	if got, want := statuses(r), map[string]string{"s1": StatusConflict, "s2": StatusSwitched}; !equalMaps(got, want) {
		t.Fatalf("got statuses %v, want %v", got, want)
	}
	if !hasLine(r.Warnings, "s1", "another failover", "changed nothing") {
		t.Errorf("got warnings %q, want a conflict warning for s1", r.Warnings)
	}
	if got := r.Streams[0]; got.Epoch != 2 || !got.ActiveSince.Equal(now.Add(-time.Second)) {
		t.Errorf("got s1 epoch %d since %v, want the winner's epoch 2 since %v", got.Epoch, got.ActiveSince, now.Add(-time.Second))
	}
}

func TestConcurrentFailoversHaveOneWinnerPerStream(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1), configAt("s2", east1))
	var arrived sync.WaitGroup
	arrived.Add(2)
	release := make(chan struct{})
	var once sync.Once
	// Both calls read epoch 1 before either writes.
	f.configs.BeforeWrite(func(method, stream string) {
		if method == "Switch" && stream == "s1" {
			arrived.Done()
			once.Do(func() { go func() { arrived.Wait(); close(release) }() })
			<-release
		}
	})
	reports := make([]Report, 2)
	var wg sync.WaitGroup
	for i := range reports {
		wg.Go(func() {
			reports[i] = f.handle(t, context.Background(), `{"targetRegion":"us-east-2","streams":["s1"]}`)
		})
	}
	wg.Wait()
	got := []string{reports[0].Streams[0].Status, reports[1].Streams[0].Status}
	slices.Sort(got)
	if want := []string{StatusConflict, StatusSwitched}; !slices.Equal(got, want) {
		t.Fatalf("got statuses %v, want %v", got, want)
	}
	if got := f.configs.item("s1").Epoch; got != 2 {
		t.Fatalf("got epoch %d, want 2: exactly one switch", got)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	s := testSettings()
	s.ReplicatorFunctionName = "kds-crr-replicator"
	f := newFixture(s, configAt("s1", east1), configAt("s2", east1, east2))
	f.cps.Put(cp("s1", "shardId-000000000000", t0.Add(time.Minute), east1, 1))
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2","dryRun":true,"parkPrevious":true}`)
	if got, want := statuses(r), map[string]string{"s1": StatusDryRun, "s2": StatusAlreadyActive}; !equalMaps(got, want) {
		t.Fatalf("got statuses %v, want %v", got, want)
	}
	if got := f.configs.writeCount(); got != 0 {
		t.Errorf("got %d config writes, want 0", got)
	}
	if len(f.configs.switches) != 0 {
		t.Errorf("got %d Switch calls, want 0", len(f.configs.switches))
	}
	for region, l := range f.lambdas {
		if len(l.calls) != 0 {
			t.Errorf("%s: got Lambda calls %v, want none", region, l.calls)
		}
	}
	s1 := r.Streams[0]
	if !r.DryRun || s1.Epoch != 2 || s1.ActiveRegion != east2 || s1.PreviousRegion != east1 {
		t.Errorf("got dryRun %v, s1 epoch %d active %s previous %s, want the switch it would make (epoch 2, %s from %s)",
			r.DryRun, s1.Epoch, s1.ActiveRegion, s1.PreviousRegion, east2, east1)
	}
	if s1.ResumeFrom == nil || !s1.ResumeFrom.Equal(t0.Add(time.Minute)) {
		t.Errorf("got resumeFrom %v, want %v: a dry run reports the full report", s1.ResumeFrom, t0.Add(time.Minute))
	}
	if !hasLine(r.Actions, "would unpark") || !hasLine(r.Actions, "would park", east1) {
		t.Errorf("got actions %q, want the planned concurrency changes", r.Actions)
	}
}

func TestSwitchWriteFailureIsReportedForThatStreamOnly(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1), configAt("s2", east1))
	f.configs.switchErr = map[string]error{"s1": errors.New("ProvisionedThroughputExceededException")}
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
	if got, want := statuses(r), map[string]string{"s1": StatusFailed, "s2": StatusSwitched}; !equalMaps(got, want) {
		t.Fatalf("got statuses %v, want %v", got, want)
	}
	if !hasLine(r.Warnings, "s1", "ProvisionedThroughputExceededException") {
		t.Errorf("got warnings %q, want the cause for s1", r.Warnings)
	}
	if got := r.Streams[0].ActiveRegion; got != east1 {
		t.Errorf("got s1 active %q, want it still %q", got, east1)
	}
}

func TestBadRequestsAreErrorsAndChangeNothing(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    []string
	}{
		{name: "not JSON", payload: `{"targetRegion":`, want: []string{"not a valid request"}},
		{name: "not an object", payload: `["us-east-2"]`, want: []string{"not a valid request"}},
		{name: "empty payload", payload: ``, want: []string{"empty"}},
		{name: "trailing data", payload: `{"targetRegion":"us-east-2"} {}`, want: []string{"after the request"}},
		{name: "unknown field", payload: `{"targetRegion":"us-east-2","forceSwitch":true}`, want: []string{`unknown field "forceSwitch"`}},
		{name: "unknown mode", payload: `{"targetRegion":"us-east-2","mode":"flush"}`, want: []string{`mode "flush"`, `"rewind" or "drain"`}},
		{name: "mode is case-sensitive", payload: `{"targetRegion":"us-east-2","mode":"Drain"}`, want: []string{`mode "Drain"`}},
		{name: "status with a mode", payload: `{"action":"status","mode":"drain"}`, want: []string{"only apply to the failover"}},
		{name: "init with force", payload: `{"action":"init","targetRegion":"us-east-1","streams":["s9"],"force":true}`, want: []string{"only apply to the failover"}},
		{name: "misspelt field", payload: `{"targetregion":"us-east-2"}`, want: []string{`unknown field "targetregion"`, `did you mean "targetRegion"`}},
		{name: "field given twice", payload: `{"targetRegion":"us-east-2","dryRun":true,"dryRun":false}`, want: []string{`"dryRun" is given twice`}},
		{name: "unknown action", payload: `{"action":"flip","targetRegion":"us-east-2"}`, want: []string{`unknown action "flip"`, "failover, status or init"}},
		{name: "unknown Region", payload: `{"targetRegion":"eu-west-1"}`, want: []string{`"eu-west-1"`, "us-east-1, us-east-2"}},
		{name: "empty target", payload: `{"targetRegion":""}`, want: []string{"targetRegion is required", "us-east-1, us-east-2"}},
		{name: "no target", payload: `{}`, want: []string{"targetRegion is required"}},
		{name: "null", payload: `null`, want: []string{"targetRegion is required"}},
		{name: "empty stream name", payload: `{"targetRegion":"us-east-2","streams":["s1",""]}`, want: []string{"streams[1] is empty"}},
		{name: "missing stream", payload: `{"targetRegion":"us-east-2","streams":["s1","nope","gone"]}`, want: []string{"nope, gone", "init"}},
		{name: "epoch below 1", payload: `{"targetRegion":"us-east-2","expectedEpoch":0}`, want: []string{"expectedEpoch 0"}},
		{name: "epoch not a number", payload: `{"targetRegion":"us-east-2","expectedEpoch":"7"}`, want: []string{"expectedEpoch"}},
		{name: "status with a fence", payload: `{"action":"status","expectedEpoch":1}`, want: []string{"only apply to the failover"}},
		{name: "init without streams", payload: `{"action":"init","targetRegion":"us-east-1"}`, want: []string{"init needs the streams"}},
		{name: "init with park", payload: `{"action":"init","targetRegion":"us-east-1","streams":["s9"],"parkPrevious":true}`, want: []string{"only apply to the failover"}},
		{name: "ignoreShards of a stream not requested", payload: `{"targetRegion":"us-east-2","streams":["s1"],"ignoreShards":{"s2":["shardId-000000000001"]}}`, want: []string{`"s2"`, "not among the streams"}},
		{name: "ignoreShards of an unknown stream", payload: `{"targetRegion":"us-east-2","ignoreShards":{"nope":["shardId-000000000001"]}}`, want: []string{`"nope"`, "no config item"}},
		{name: "empty ignored shard", payload: `{"targetRegion":"us-east-2","streams":["s1"],"ignoreShards":{"s1":[""]}}`, want: []string{"is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings()
			s.ReplicatorFunctionName = "kds-crr-replicator"
			f := newFixture(s, configAt("s1", east1), configAt("s2", east1))
			r, err := f.h.Handle(context.Background(), json.RawMessage(tt.payload))
			if err == nil {
				t.Fatalf("got report %+v, want an error", r)
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("got error %v, want it to wrap ErrBadRequest", err)
			}
			for _, part := range tt.want {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("got error %q, want it to mention %q", err, part)
				}
			}
			if got := f.configs.writeCount(); got != 0 || len(f.configs.switches) != 0 {
				t.Errorf("got %d writes and %d Switch calls, want none", got, len(f.configs.switches))
			}
			for region, l := range f.lambdas {
				if len(l.calls) != 0 {
					t.Errorf("%s: got Lambda calls %v, want none", region, l.calls)
				}
			}
		})
	}
}

func TestReadFailuresBeforeSwitchingAreErrors(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	f.configs.listErr = errors.New("ResourceNotFoundException: table gone")
	_, err := f.h.Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-2"}`))
	if err == nil || !strings.Contains(err.Error(), "table gone") {
		t.Fatalf("got error %v, want the List failure", err)
	}
	if got := f.configs.writeCount(); got != 0 {
		t.Fatalf("got %d writes, want 0", got)
	}
}

func TestFailoverOfAnEmptyTableIsAnError(t *testing.T) {
	f := newFixture(testSettings())
	_, err := f.h.Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-2"}`))
	if err == nil || !strings.Contains(err.Error(), "no items") {
		t.Fatalf("got error %v, want one saying the table has no items", err)
	}
}

func TestResumePointsAndCheckpointWarnings(t *testing.T) {
	const (
		sh0 = "shardId-000000000000"
		sh1 = "shardId-000000000001"
		sh2 = "shardId-000000000002"
	)
	at := func(m int) time.Time { return t0.Add(5 * time.Hour).Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name         string
		cps          []checkpoint.Checkpoint
		ignore       string
		wantResume   *time.Time
		wantWarnings [][]string
		wantNoWarn   bool
	}{
		{
			name:       "resumeFrom is the minimum over shards",
			cps:        []checkpoint.Checkpoint{cp("s1", sh0, at(30), east1, 1), cp("s1", sh1, at(28), east1, 1), cp("s1", sh2, at(31), east1, 1)},
			wantResume: ptr(at(28)),
			wantNoWarn: true,
		},
		{
			name:       "idle shard holds the resume point back and is named with by how much",
			cps:        []checkpoint.Checkpoint{cp("s1", sh0, at(30), east1, 1), cp("s1", sh1, at(10), east1, 1), cp("s1", sh2, at(29), east1, 1)},
			wantResume: ptr(at(10)),
			wantWarnings: [][]string{
				{"s1 " + sh1, "20m0s behind the stream's newest"},
				{"hold resumeFrom back by 19m0s", `"ignoreShards":{"s1":["` + sh1 + `"]}`},
			},
		},
		{
			name:       "ignoreShards leaves the idle shard out",
			cps:        []checkpoint.Checkpoint{cp("s1", sh0, at(30), east1, 1), cp("s1", sh1, at(10), east1, 1), cp("s1", sh2, at(29), east1, 1)},
			ignore:     `"ignoreShards":{"s1":["` + sh1 + `"]},`,
			wantResume: ptr(at(29)),
			wantNoWarn: true,
		},
		{
			name:         "ignoring a shard without checkpoint warns",
			cps:          []checkpoint.Checkpoint{cp("s1", sh0, at(30), east1, 1)},
			ignore:       `"ignoreShards":{"s1":["shardId-000000000009"]},`,
			wantResume:   ptr(at(30)),
			wantWarnings: [][]string{{"ignoreShards names shardId-000000000009", "no checkpoint"}},
		},
		{
			name:         "ignoring every shard leaves no resume point",
			cps:          []checkpoint.Checkpoint{cp("s1", sh0, at(30), east1, 1)},
			ignore:       `"ignoreShards":{"s1":["` + sh0 + `"]},`,
			wantWarnings: [][]string{{"every shard is in ignoreShards"}},
		},
		{
			name:         "no checkpoint at all is a warning",
			wantWarnings: [][]string{{"s1: no checkpoint", "no resumeFrom"}},
		},
		{
			name:         "a checkpoint of the other Region is not counted",
			cps:          []checkpoint.Checkpoint{cp("s1", sh0, at(30), east2, 1)},
			wantWarnings: [][]string{{"s1: no checkpoint of us-east-1", "no resumeFrom"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testSettings(), configAt("s1", east1))
			f.cps.Put(tt.cps...)
			r := f.handle(t, context.Background(), `{`+tt.ignore+`"targetRegion":"us-east-2","dryRun":true}`)
			s1 := r.Streams[0]
			if !equalTimes(s1.ResumeFrom, tt.wantResume) {
				t.Errorf("got resumeFrom %v, want %v", deref(s1.ResumeFrom), deref(tt.wantResume))
			}
			if !equalTimes(r.LogStreamStart, tt.wantResume) {
				t.Errorf("got logStreamStart %v, want %v", deref(r.LogStreamStart), deref(tt.wantResume))
			}
			own := 0
			for _, c := range tt.cps {
				if c.SourceRegion == east1 {
					own++
				}
			}
			if len(s1.Shards) != own {
				t.Errorf("got %d shards, want every checkpoint of us-east-1 listed (%d)", len(s1.Shards), own)
			}
			for _, parts := range tt.wantWarnings {
				if !hasLine(r.Warnings, parts...) {
					t.Errorf("got warnings %q, want one with %q", r.Warnings, parts)
				}
			}
			if tt.wantNoWarn && len(r.Warnings) != 0 {
				t.Errorf("got warnings %q, want none", r.Warnings)
			}
		})
	}
}

func TestLogStreamStartIsTheMinimumOverStreams(t *testing.T) {
	f := newFixture(testSettings(), configAt("a", east1), configAt("b", east1), configAt("c", east1))
	f.cps.Put(cp("a", "shardId-000000000000", t0.Add(3*time.Minute), east1, 1))
	f.cps.Put(cp("b", "shardId-000000000000", t0.Add(2*time.Minute), east1, 1))
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2"}`)
	if want := t0.Add(2 * time.Minute); r.LogStreamStart == nil || !r.LogStreamStart.Equal(want) {
		t.Fatalf("got logStreamStart %v, want %v", deref(r.LogStreamStart), want)
	}
	if !hasLine(r.Warnings, "logStreamStart leaves out", "c") {
		t.Errorf("got warnings %q, want one naming stream c without resumeFrom", r.Warnings)
	}
}

func TestAfterFailbackOnlyTheCheckpointsOfTheRegionLeftCount(t *testing.T) {
	// Failback to us-east-1: the checkpoints that matter are us-east-2's; a
	// shard with only us-east-1's checkpoint of epoch 1 is not covered.
	f := newFixture(testSettings(), configAt("s1", east1, east2))
	f.cps.Put(
		cp("s1", "shardId-000000000000", t0.Add(2*time.Hour), east2, 2),
		cp("s1", "shardId-000000000001", t0.Add(30*time.Minute), east1, 1),
	)
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-1"}`)
	if got := statuses(r)["s1"]; got != StatusSwitched {
		t.Fatalf("got status %q, want switched", got)
	}
	if got := r.Streams[0].ResumeFrom; got != nil {
		t.Errorf("got resumeFrom %v, want none while shard 1 has no checkpoint of us-east-2", *got)
	}
	if !hasLine(r.Warnings, "shardId-000000000001", "no checkpoint", "withheld") {
		t.Errorf("got warnings %q, want one withholding for shard 1", r.Warnings)
	}
	st := f.handle(t, context.Background(), `{"action":"status","streams":["s1"]}`)
	if got := st.Streams[0].ResumeFrom; got != nil {
		t.Errorf("status: got resumeFrom %v, want it still withheld", *got)
	}
}

func TestConcurrencySwapIsBestEffort(t *testing.T) {
	zero, five := int32(0), int32(5)
	tests := []struct {
		name        string
		payload     string
		function    string
		setup       func(map[string]*fakeLambda)
		wantCalls   map[string][]string
		wantActions [][]string
		wantWarn    [][]string
	}{
		{
			name:        "parked target replicator is unparked",
			payload:     `{"targetRegion":"us-east-2"}`,
			function:    "repl",
			setup:       func(l map[string]*fakeLambda) { l[east2].reserved = &zero },
			wantCalls:   map[string][]string{east2: {"get repl", "delete repl"}},
			wantActions: [][]string{{"unparked replicator repl in us-east-2"}},
		},
		{
			name:        "replicator without reserved concurrency is left alone",
			payload:     `{"targetRegion":"us-east-2"}`,
			function:    "repl",
			wantCalls:   map[string][]string{east2: {"get repl"}},
			wantActions: [][]string{{"repl in us-east-2 is not parked"}},
		},
		{
			name:        "the user's own reserved concurrency is kept",
			payload:     `{"targetRegion":"us-east-2"}`,
			function:    "repl",
			setup:       func(l map[string]*fakeLambda) { l[east2].reserved = &five },
			wantCalls:   map[string][]string{east2: {"get repl"}},
			wantActions: [][]string{{"keeps its reserved concurrency 5"}},
		},
		{
			name:        "parkPrevious parks the other Region",
			payload:     `{"targetRegion":"us-east-2","parkPrevious":true}`,
			function:    "repl",
			setup:       func(l map[string]*fakeLambda) { l[east2].reserved = &zero },
			wantCalls:   map[string][]string{east2: {"get repl", "delete repl"}, east1: {"put repl 0"}},
			wantActions: [][]string{{"parked replicator repl in us-east-1"}},
		},
		{
			name:      "unreachable previous Region is a warning",
			payload:   `{"targetRegion":"us-east-2","parkPrevious":true}`,
			function:  "repl",
			setup:     func(l map[string]*fakeLambda) { l[east1].putErr = errRegionDown },
			wantCalls: map[string][]string{east2: {"get repl"}, east1: {"put repl 0"}},
			wantWarn:  [][]string{{"park replicator repl in us-east-1", "connection refused"}},
		},
		{
			name:      "failing read of the target's concurrency is a warning",
			payload:   `{"targetRegion":"us-east-2"}`,
			function:  "repl",
			setup:     func(l map[string]*fakeLambda) { l[east2].getErr = errRegionDown },
			wantCalls: map[string][]string{east2: {"get repl"}},
			wantWarn:  [][]string{{"read reserved concurrency of replicator repl in us-east-2", "delete-function-concurrency"}},
		},
		{
			name:     "failing unpark is a warning",
			payload:  `{"targetRegion":"us-east-2"}`,
			function: "repl",
			setup: func(l map[string]*fakeLambda) {
				l[east2].reserved = &zero
				l[east2].delErr = errRegionDown
			},
			wantCalls: map[string][]string{east2: {"get repl", "delete repl"}},
			wantWarn:  [][]string{{"unpark replicator repl in us-east-2", "connection refused"}},
		},
		{
			name:      "a Region without a client is a warning",
			payload:   `{"targetRegion":"us-east-2","parkPrevious":true}`,
			function:  "repl",
			setup:     func(l map[string]*fakeLambda) { delete(l, east1) },
			wantCalls: map[string][]string{east2: {"get repl"}},
			wantWarn:  [][]string{{"no Lambda client for us-east-1"}},
		},
		{
			name:        "local mode leaves concurrency alone",
			payload:     `{"targetRegion":"us-east-2","parkPrevious":true}`,
			wantActions: [][]string{{"REPLICATOR_FUNCTION_NAME is empty (local mode)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings()
			s.ReplicatorFunctionName = tt.function
			f := newFixture(s, configAt("s1", east1))
			if tt.setup != nil {
				tt.setup(f.lambdas)
				conc := map[string]ConcurrencyAPI{}
				for r, l := range f.lambdas {
					conc[r] = l
				}
				f.h.concurrency = conc
			}
			r := f.handle(t, context.Background(), tt.payload)
			if got := statuses(r)["s1"]; got != StatusSwitched {
				t.Errorf("got status %q, want switched: the switch stands whatever concurrency does", got)
			}
			if got := f.configs.item("s1").ActiveRegion; got != east2 {
				t.Errorf("got active %q, want %q", got, east2)
			}
			for region, l := range f.lambdas {
				if got, want := l.calls, tt.wantCalls[region]; !slices.Equal(got, want) {
					t.Errorf("%s: got Lambda calls %v, want %v", region, got, want)
				}
			}
			for _, parts := range tt.wantActions {
				if !hasLine(r.Actions, parts...) {
					t.Errorf("got actions %q, want one with %q", r.Actions, parts)
				}
			}
			for _, parts := range tt.wantWarn {
				if !hasLine(r.Warnings, parts...) {
					t.Errorf("got warnings %q, want one with %q", r.Warnings, parts)
				}
			}
		})
	}
}

func TestConcurrencyIsLeftAloneWhenNoStreamMoved(t *testing.T) {
	s := testSettings()
	s.ReplicatorFunctionName = "repl"
	f := newFixture(s, configAt("s1", east1, east2, east1))
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2","expectedEpoch":1}`)
	if got := statuses(r)["s1"]; got != StatusStaleEpoch {
		t.Fatalf("got status %q, want staleEpoch", got)
	}
	for region, l := range f.lambdas {
		if len(l.calls) != 0 {
			t.Errorf("%s: got Lambda calls %v, want none", region, l.calls)
		}
	}
}

func TestStatusIsReadOnly(t *testing.T) {
	s := testSettings()
	s.ReplicatorFunctionName = "repl"
	f := newFixture(s, configAt("a", east1, east2), configAt("b", east1))
	// The switch into epoch 2 left us-east-1: its checkpoints are the ones
	// that matter.
	f.cps.Put(cp("a", "shardId-000000000000", t0.Add(50*time.Minute), east1, 1))
	r := f.handle(t, context.Background(), `{"action":"status"}`)
	if got, want := statuses(r), map[string]string{"a": StatusActive, "b": StatusActive}; !equalMaps(got, want) {
		t.Fatalf("got statuses %v, want %v", got, want)
	}
	if f.configs.writeCount() != 0 || len(f.configs.switches) != 0 {
		t.Errorf("got %d writes, %d Switch calls, want none", f.configs.writeCount(), len(f.configs.switches))
	}
	for region, l := range f.lambdas {
		if len(l.calls) != 0 {
			t.Errorf("%s: got Lambda calls %v, want none", region, l.calls)
		}
	}
	if r.ActiveRegion != "" || !hasLine(r.Warnings, "different Regions", "us-east-1, us-east-2") {
		t.Errorf("got activeRegion %q and warnings %q, want no single Region and a warning", r.ActiveRegion, r.Warnings)
	}
	if a := r.Streams[0]; a.ActiveRegion != east2 || a.Epoch != 2 || a.PreviousRegion != east1 || a.ResumeFrom == nil {
		t.Errorf("got stream a %+v, want active %s epoch 2 previous %s with a resumeFrom", a, east2, east1)
	}
	if r.SwitchedAt == nil || !r.SwitchedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("got switchedAt %v, want the latest activeSince %v", deref(r.SwitchedAt), t0.Add(time.Hour))
	}
}

func TestInitCreatesOnlyMissingItems(t *testing.T) {
	f := newFixture(testSettings(), configAt("old", east1, east2))
	r := f.handle(t, inLambda("req-init"), `{"action":"init","targetRegion":"us-east-1","streams":["old","new"],"reason":"deploy"}`)
	if got, want := statuses(r), map[string]string{"old": StatusExists, "new": StatusCreated}; !equalMaps(got, want) {
		t.Fatalf("got statuses %v, want %v", got, want)
	}
	if got := f.configs.item("old"); got.ActiveRegion != east2 || got.Epoch != 2 {
		t.Errorf("got old item active %s epoch %d, want it untouched (%s, 2)", got.ActiveRegion, got.Epoch, east2)
	}
	// The other stream was failed over to us-east-2: a stream added later
	// replicates the same way.
	created := f.configs.item("new")
	if created.ActiveRegion != east2 || created.Epoch != 1 || !created.ActiveSince.Equal(now) {
		t.Errorf("got new item %+v, want %s active at epoch 1 since %v", created, east2, now)
	}
	if !hasLine(r.Actions, "created with us-east-2 active", "where the 1 existing stream(s) are active", "not in us-east-1") {
		t.Errorf("got actions %q, want the Region choice said", r.Actions)
	}
	if err := created.Validate(); err != nil {
		t.Errorf("created item is invalid: %v", err)
	}
	if h := created.History; len(h) != 1 || h[0].RequestID != "req-init" || h[0].Reason != "deploy" {
		t.Errorf("got history %+v, want one entry with the request id and reason", h)
	}
	if got := f.configs.writeCount(); got != 1 {
		t.Errorf("got %d writes, want 1", got)
	}
}

func TestInitDryRunWritesNothing(t *testing.T) {
	f := newFixture(testSettings())
	r := f.handle(t, context.Background(), `{"action":"init","targetRegion":"us-east-1","streams":["s1"],"dryRun":true}`)
	if got := statuses(r)["s1"]; got != StatusDryRun {
		t.Errorf("got status %q, want dryRun", got)
	}
	if got := f.configs.writeCount(); got != 0 {
		t.Errorf("got %d writes, want 0", got)
	}
}

func TestInitFailureIsReportedPerStream(t *testing.T) {
	f := newFixture(testSettings())
	f.configs.createErr = errors.New("AccessDeniedException")
	r := f.handle(t, context.Background(), `{"action":"init","targetRegion":"us-east-1","streams":["s1"]}`)
	if got := statuses(r)["s1"]; got != StatusFailed {
		t.Errorf("got status %q, want failed", got)
	}
	if !hasLine(r.Warnings, "s1", "AccessDeniedException") {
		t.Errorf("got warnings %q, want the cause", r.Warnings)
	}
}

func TestReportIsLoggedAsOneJSONAuditLine(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2","reason":"drill","requestedBy":"bob"}`)
	lines := strings.Split(strings.TrimSpace(f.log.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1:\n%s", len(lines), f.log)
	}
	var line struct {
		Msg         string `json:"msg"`
		Reason      string `json:"reason"`
		RequestedBy string `json:"requestedBy"`
		RequestID   string `json:"requestId"`
		Report      Report `json:"report"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatalf("log line is not JSON: %v\n%s", err, lines[0])
	}
	if line.Reason != "drill" || line.RequestedBy != "bob" || !strings.HasPrefix(line.RequestID, "local-") {
		t.Errorf("got reason %q requestedBy %q requestId %q, want drill, bob and a local request id", line.Reason, line.RequestedBy, line.RequestID)
	}
	if got := f.configs.item("s1").History[1].RequestID; got != line.RequestID {
		t.Errorf("got history request id %q, want the logged %q", got, line.RequestID)
	}
	if line.Report.Streams[0].Epoch != r.Streams[0].Epoch || line.Report.ActiveRegion != east2 {
		t.Errorf("got logged report %+v, want the returned one", line.Report)
	}
}

func TestFailoverOutsideTheTargetRegionIsRefused(t *testing.T) {
	// us-east-2's function must not activate us-east-1: us-east-1's
	// replicator would see the switch only after the global table's delay,
	// and skip what was produced there meanwhile.
	f := newFixture(testSettings(), configAt("s1", east2))
	_, err := f.h.Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-1"}`))
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "invoke the failover function in us-east-1") {
		t.Fatalf("got error %v, want a bad request telling where to invoke", err)
	}
	if got := f.configs.item("s1"); got.ActiveRegion != east2 || got.Epoch != 1 {
		t.Fatalf("got s1 active in %s at epoch %d, want unchanged", got.ActiveRegion, got.Epoch)
	}

	r, err := f.h.Handle(context.Background(), json.RawMessage(`{"targetRegion":"us-east-1","dryRun":true}`))
	if err != nil {
		t.Fatalf("dry run: got error %v, want a report", err)
	}
	if !hasLine(r.Warnings, "runs in us-east-2 but activates us-east-1") {
		t.Errorf("dry run: got warnings %q, want one about the invoking Region", r.Warnings)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func ptr(t time.Time) *time.Time { return &t }

func deref(t *time.Time) any {
	if t == nil {
		return "<none>"
	}
	return *t
}

func equalTimes(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func TestInitSeedsNewStreamsWhereTheOthersAreActive(t *testing.T) {
	tests := []struct {
		name       string
		existing   []activeregion.Config
		wantRegion string
		wantErr    string
	}{
		{name: "an empty table takes the Region asked for", wantRegion: east1},
		{name: "streams all in the Region asked for", existing: []activeregion.Config{configAt("a", east1)}, wantRegion: east1},
		{name: "streams all failed over", existing: []activeregion.Config{configAt("a", east1, east2), configAt("b", east1, east2)}, wantRegion: east2},
		{name: "streams active in both Regions are refused", existing: []activeregion.Config{configAt("a", east1), configAt("b", east1, east2)},
			wantErr: "active in different Regions (us-east-1: a; us-east-2: b)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testSettings(), tt.existing...)
			_, err := f.h.Handle(context.Background(), json.RawMessage(`{"action":"init","targetRegion":"us-east-1","streams":["new"]}`))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want a refusal containing %q", err, tt.wantErr)
				}
				if f.configs.writeCount() != 0 {
					t.Errorf("got %d writes, want none", f.configs.writeCount())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.configs.item("new").ActiveRegion; got != tt.wantRegion {
				t.Errorf("got new stream active in %s, want %s", got, tt.wantRegion)
			}
		})
	}
	// Re-running the seed over streams that all exist changes nothing, in
	// whichever Regions they are.
	f := newFixture(testSettings(), configAt("a", east1), configAt("b", east1, east2))
	r := f.handle(t, context.Background(), `{"action":"init","targetRegion":"us-east-1","streams":["a","b"]}`)
	if got, want := statuses(r), map[string]string{"a": StatusExists, "b": StatusExists}; !equalMaps(got, want) {
		t.Errorf("got statuses %v, want %v", got, want)
	}
}
