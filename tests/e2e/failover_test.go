// Package e2e runs the replicator and the failover function together on the
// local emulators: two Kinesis "Regions" and one DynamoDB for the global
// tables, with the event source mappings played by pollers in the test.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

const (
	regionA         = "us-east-1"
	regionB         = "us-east-2"
	stream          = "orders"
	checkpointTable = "kdsReplicationCheckpoint"
	configTable     = "kdsActiveRegionConfig"
)

// world is the two Regions with their replicators and failover functions.
type world struct {
	a, b       *region
	failoverIn map[string]lambda.Handler
	ddb        *dynamodb.Client
}

func newWorld(ctx context.Context, t *testing.T) *world {
	t.Helper()
	emu, err := localaws.Start(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	kA := localaws.KinesisClient(regionA, emu.Kinesis[0])
	kB := localaws.KinesisClient(regionB, emu.Kinesis[1])
	if err := localaws.CreateStream(ctx, kA, stream, 2); err != nil {
		t.Fatal(err)
	}
	if err := localaws.CreateStream(ctx, kB, stream, 2); err != nil {
		t.Fatal(err)
	}
	ddb := localaws.DynamoDBClient(regionA, emu.DynamoDB)
	if err := localaws.CreateTables(ctx, ddb, checkpointTable, configTable); err != nil {
		t.Fatal(err)
	}
	replicatorEnv := func(own, target string) map[string]string {
		return map[string]string{
			"AWS_REGION": own, "TARGET_REGION": target,
			"CHECKPOINT_TABLE": checkpointTable, "ACTIVE_REGION_TABLE": configTable,
			// Exact decisions: every batch reads the config.
			"ACTIVE_REGION_CACHE_TTL": "0s",
		}
	}
	w := &world{
		a:          newRegion(t, regionA, kA, replicatorEnv(regionA, regionB), replicator.Clients{Target: kB, DynamoDB: ddb}),
		b:          newRegion(t, regionB, kB, replicatorEnv(regionB, regionA), replicator.Clients{Target: kA, DynamoDB: ddb}),
		failoverIn: map[string]lambda.Handler{},
		ddb:        ddb,
	}
	for _, own := range []string{regionA, regionB} {
		env := map[string]string{"AWS_REGION": own, "REGIONS": regionA + "," + regionB,
			"CHECKPOINT_TABLE": checkpointTable, "ACTIVE_REGION_TABLE": configTable}
		s, err := failover.SettingsFromEnv(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		kin := map[string]failover.ListShardsAPI{regionA: kA, regionB: kB}
		h := failover.NewHandler(s, failover.Clients{DynamoDB: ddb, Kinesis: kin}, failover.WithLogger(slog.New(slog.DiscardHandler)))
		w.failoverIn[own] = lambda.NewHandler(h.Handle)
	}
	return w
}

// invokeFailover calls the failover function of Region in, as Lambda would,
// and returns its report and how long the call took.
func (w *world) invokeFailover(ctx context.Context, t *testing.T, in, payload string) (failover.Report, time.Duration) {
	t.Helper()
	start := time.Now()
	out, err := w.failoverIn[in].Invoke(ctx, []byte(payload))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("failover %s in %s: %v", payload, in, err)
	}
	var r failover.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("failover report %s: %v", out, err)
	}
	return r, took
}

// settle runs both mappings until a whole round hands no record to either
// replicator.
func (w *world) settle(ctx context.Context, t *testing.T) {
	t.Helper()
	for round := 0; round < 500; round++ {
		if w.a.pump(ctx, t, stream)+w.b.pump(ctx, t, stream) == 0 {
			return
		}
	}
	t.Fatal("replication did not settle in 500 rounds")
}

// checkResumePoints holds the report to the checkpoint table and to the
// records the test knows were replicated last on each shard.
func (w *world) checkResumePoints(ctx context.Context, t *testing.T, step string, r failover.Report, wantLast map[string]time.Time, wantSource string, wantEpoch int64) {
	t.Helper()
	cps, err := checkpoint.NewStore(w.ddb, checkpointTable).Load(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Streams) != 1 || r.Streams[0].StreamName != stream {
		t.Fatalf("%s: got streams %+v, want %s only", step, r.Streams, stream)
	}
	s := r.Streams[0]
	if len(s.Shards) != len(cps) {
		t.Fatalf("%s: got %d shards in the report, want the %d checkpoints", step, len(s.Shards), len(cps))
	}
	for i, cp := range cps {
		got := s.Shards[i]
		if got.ShardID != cp.ShardID || !got.LastReplicatedTimestamp.Equal(cp.LastReplicatedTimestamp) ||
			got.LastSequenceNumber != cp.LastSequenceNumber || got.TargetSequenceNumber != cp.TargetSequenceNumber {
			t.Errorf("%s: got shard %+v in the report, want the checkpoint %+v", step, got, cp)
		}
		if cp.SourceRegion != wantSource || cp.Epoch != wantEpoch {
			t.Errorf("%s: %s: got checkpoint from %s epoch %d, want %s epoch %d", step, cp.ShardID, cp.SourceRegion, cp.Epoch, wantSource, wantEpoch)
		}
		if want, ok := wantLast[cp.ShardID]; !ok || !cp.LastReplicatedTimestamp.Equal(want) {
			t.Errorf("%s: %s: got checkpoint at %v, want the commit timestamp of the last record replicated there, %v",
				step, cp.ShardID, cp.LastReplicatedTimestamp, want)
		}
	}
	wantResume, _ := checkpoint.ResumePoint(cps)
	if s.ResumeFrom == nil || !s.ResumeFrom.Equal(wantResume) {
		t.Errorf("%s: got resumeFrom %v, want the minimum checkpoint %v", step, s.ResumeFrom, wantResume)
	}
	if r.LogStreamStart == nil || !r.LogStreamStart.Equal(wantResume) {
		t.Errorf("%s: got logStreamStart %v, want %v", step, r.LogStreamStart, wantResume)
	}
	if len(wantLast) != len(cps) {
		t.Errorf("%s: got checkpoints on %d shards, want %d", step, len(cps), len(wantLast))
	}
}

func lastCommitPerShard(recs []produced) map[string]time.Time {
	last := map[string]time.Time{}
	for _, r := range recs {
		last[r.shardID] = r.commit
	}
	return last
}

func TestFailoverAndFailbackLoseNothingAndEchoDrainedRecordsAtMostOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorld(ctx, t)

	if r, _ := w.invokeFailover(ctx, t, regionA, `{"action":"init","targetRegion":"us-east-1","streams":["orders"]}`); r.Streams[0].Status != failover.StatusCreated {
		t.Fatalf("init: got %+v, want the config item created", r.Streams[0])
	}

	// 1. us-east-1 is active: 2,000 records replicate to us-east-2, whose
	// replicator skips the replicas.
	before := w.a.produce(ctx, t, stream, "a", 2000)
	w.settle(ctx, t)

	// 2. Records arrive in us-east-1 just before the switch and stay
	// unreplicated until after it.
	drainedA := w.a.produce(ctx, t, stream, "a-drain", 300)
	report, tookFailover := w.invokeFailover(ctx, t, regionB, `{"targetRegion":"us-east-2","reason":"e2e failover","requestedBy":"e2e"}`)
	if got := report.Streams[0]; got.Status != failover.StatusSwitched || got.Epoch != 2 || report.ActiveRegion != regionB {
		t.Fatalf("failover: got %+v (active %s), want orders switched to %s at epoch 2", got, report.ActiveRegion, regionB)
	}
	w.checkResumePoints(ctx, t, "failover", report, lastCommitPerShard(before), regionA, 1)
	if err := waitPast(ctx, *report.SwitchedAt); err != nil {
		t.Fatal(err)
	}

	// 3. us-east-2 is active: 1,000 records there replicate to us-east-1,
	// while us-east-1's replicator drains what arrived before the switch.
	inB := w.b.produce(ctx, t, stream, "b", 1000)
	w.settle(ctx, t)

	// 4. Fail back, with records in us-east-2 that arrived just before.
	drainedB := w.b.produce(ctx, t, stream, "b-drain", 200)
	back, tookFailback := w.invokeFailover(ctx, t, regionA, `{"targetRegion":"us-east-1","expectedEpoch":2,"reason":"e2e failback"}`)
	if got := back.Streams[0]; got.Status != failover.StatusSwitched || got.Epoch != 3 {
		t.Fatalf("failback: got %+v, want orders switched back at epoch 3", got)
	}
	w.checkResumePoints(ctx, t, "failback", back, w.lastReplicatedByB(ctx, t, *report.SwitchedAt, drainedB), regionB, 2)
	if err := waitPast(ctx, *back.SwitchedAt); err != nil {
		t.Fatal(err)
	}

	// 5. us-east-1 is active again.
	after := w.a.produce(ctx, t, stream, "a2", 500)
	w.settle(ctx, t)

	inStreamA := copies(w.a.readAll(ctx, t, stream))
	inStreamB := copies(w.b.readAll(ctx, t, stream))
	echoesA := checkCopies(t, "produced in us-east-1 while active", before, inStreamA, inStreamB, false)
	echoesA += checkCopies(t, "drained by us-east-1 after the failover", drainedA, inStreamA, inStreamB, true)
	echoesB := checkCopies(t, "produced in us-east-2 while active", inB, inStreamB, inStreamA, false)
	echoesB += checkCopies(t, "drained by us-east-2 after the failback", drainedB, inStreamB, inStreamA, true)
	echoesA += checkCopies(t, "produced in us-east-1 after the failback", after, inStreamA, inStreamB, false)

	known := map[string]bool{}
	for _, set := range [][]produced{before, drainedA, inB, drainedB, after} {
		for _, r := range set {
			known[r.ID] = true
		}
	}
	for _, in := range []map[string]int{inStreamA, inStreamB} {
		for id := range in {
			if !known[id] {
				t.Errorf("got record %s that no producer wrote", id)
			}
		}
	}
	t.Logf("failover call %v, failback call %v on the emulators", tookFailover, tookFailback)
	t.Logf("echoes: %d of %d records drained by us-east-1 came back to us-east-1 once; %d of %d drained by us-east-2 came back to us-east-2 once",
		echoesA, len(drainedA), echoesB, len(drainedB))
}

// checkCopies: each record is exactly once in the other Region's stream (no
// loss, no second replication), and in its own stream once, or, for a record
// drained after a switch, at most twice (itself and its one echo). It returns
// the number of echoes.
func checkCopies(t *testing.T, what string, recs []produced, own, other map[string]int, drained bool) int {
	t.Helper()
	var lost, repeated, extra []string
	echoes := 0
	for _, r := range recs {
		switch n := other[r.ID]; {
		case n == 0:
			lost = append(lost, r.ID)
		case n > 1:
			repeated = append(repeated, fmt.Sprintf("%s×%d", r.ID, n))
		}
		switch n := own[r.ID]; {
		case n == 1:
		case n == 2 && drained:
			echoes++
		default:
			extra = append(extra, fmt.Sprintf("%s×%d", r.ID, n))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%s: %d records lost, e.g. %v", what, len(lost), lost[:min(5, len(lost))])
	}
	if len(repeated) > 0 {
		t.Errorf("%s: %d records replicated more than once, e.g. %v", what, len(repeated), repeated[:min(5, len(repeated))])
	}
	if len(extra) > 0 {
		t.Errorf("%s: %d records with a wrong count in their own stream, e.g. %v", what, len(extra), extra[:min(5, len(extra))])
	}
	return echoes
}

// lastReplicatedByB finds, per shard of us-east-2's stream, the commit
// timestamp of the last record us-east-2's replicator replicated: the last
// record that arrived after the failover, other than the ones left for the
// failback to drain.
func (w *world) lastReplicatedByB(ctx context.Context, t *testing.T, switchedAt time.Time, pending []produced) map[string]time.Time {
	t.Helper()
	skip := map[string]bool{}
	for _, r := range pending {
		skip[r.ID] = true
	}
	last := map[string]time.Time{}
	for shard, recs := range w.b.readAll(ctx, t, stream) {
		for _, r := range recs {
			if skip[r.ID] || r.arrival.Before(switchedAt) {
				continue
			}
			commit, err := time.Parse(time.RFC3339Nano, r.CommitTimestamp)
			if err != nil {
				t.Fatal(err)
			}
			last[shard] = commit
		}
	}
	return last
}

func TestDryRunReportListsEveryShardWithoutIdleWarnings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(ctx, t)
	w.invokeFailover(ctx, t, regionA, `{"action":"init","targetRegion":"us-east-1","streams":["orders"]}`)
	recs := w.a.produce(ctx, t, stream, "a", 200)
	w.settle(ctx, t)
	shards := map[string]bool{}
	for _, r := range recs {
		shards[r.shardID] = true
	}
	if len(shards) != 2 {
		t.Fatalf("got records on %d shards, want both", len(shards))
	}
	r, _ := w.invokeFailover(ctx, t, regionB, `{"targetRegion":"us-east-2","dryRun":true}`)
	got := r.Streams[0]
	if got.Status != failover.StatusDryRun || len(got.Shards) != 2 {
		t.Fatalf("got %+v, want a dry run listing both shards", got)
	}
	var ids []string
	for _, s := range got.Shards {
		ids = append(ids, s.ShardID)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("got shards %v, want them sorted", ids)
	}
	if slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, "behind the stream's newest") }) {
		t.Errorf("got warnings %q, want no idle shard: both were just written", r.Warnings)
	}
}
