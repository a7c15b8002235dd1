// Package cli tests the kdscrr binary as an operator runs it: built from
// ./cmd/kdscrr, pointed with --endpoints at a local deployment on the
// modelled world (two Regions, each with its own Kinesis and DynamoDB
// replica, delayed last-writer-wins replication, the replicators behind
// their mappings, both failover functions behind a Lambda Invoke endpoint).
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/cdctask"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/localdeploy"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/operator"
	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
	"github.com/kinesis-crr/kinesis-crr/pkg/verify"
)

const (
	east1 = "us-east-1"
	east2 = "us-east-2"
	// orders is deployed: replicated both ways. ghost has a config item
	// but no replicator, so what its checkpoints say is never written.
	orders = "orders"
	ghost  = "ghost"
)

var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kdscrr-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := localaws.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binary = filepath.Join(dir, "kdscrr")
	build := exec.Command("go", "build", "-o", binary, "./cmd/kdscrr")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/kdscrr: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// deployment is a local deployment and its endpoints file.
type deployment struct {
	world     *localworld.World
	deploy    *localdeploy.Deployment
	endpoints string
	task      *cdctask.Task
}

func start(ctx context.Context, t *testing.T) *deployment {
	t.Helper()
	w, err := localworld.Start(ctx, localworld.Options{GlobalTableDelay: 300 * time.Millisecond, CrossRegionLatency: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	for _, s := range []string{orders, ghost} {
		if err := w.CreateStream(ctx, s, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.CreateTables(ctx, replicator.DefaultCheckpointTable, replicator.DefaultActiveRegionTable); err != nil {
		t.Fatal(err)
	}
	d, err := localdeploy.Start(ctx, w, localdeploy.Options{Streams: []string{orders}, CacheTTL: time.Second, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if _, err := d.Init(ctx, east1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "endpoints.json")
	if err := endpoints.Write(path, d.Endpoints()); err != nil {
		t.Fatal(err)
	}
	return &deployment{world: w, deploy: d, endpoints: path, task: cdctask.New(orders, 20)}
}

// kdscrr runs the binary against the deployment and returns its exit
// status, stdout and stderr.
func (d *deployment) kdscrr(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--endpoints", d.endpoints)...)
	cmd.Dir = t.TempDir() // no cdk.json: the Regions come from the file
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("run kdscrr %q: %v", args, err)
	}
	return 0, stdout.String(), stderr.String()
}

// jsonOf runs kdscrr with --output json, wants exit status want, and
// decodes stdout into v.
func (d *deployment) jsonOf(t *testing.T, want int, v any, args ...string) {
	t.Helper()
	st, stdout, stderr := d.kdscrr(t, append(args, "--output", "json")...)
	if st != want {
		t.Fatalf("kdscrr %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, st, want, stdout, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("kdscrr %q: stdout is not the JSON form: %v\n%s", args, err, stdout)
	}
}

func (d *deployment) status(t *testing.T, region string) failover.StreamReport {
	t.Helper()
	var rep failover.Report
	d.jsonOf(t, 0, &rep, "status", "--region", region, "--streams", orders)
	if len(rep.Streams) != 1 {
		t.Fatalf("status in %s: %d streams, want 1", region, len(rep.Streams))
	}
	return rep.Streams[0]
}

// failOver calls kdscrr failover until the failover function accepts it,
// as the runbook says: again while the Region's replica is behind the
// expected epoch (exit 3, staleEpoch) or the previous switch has not
// settled (exit 1, "has not settled").
func (d *deployment) failOver(ctx context.Context, t *testing.T, to string, epoch int64) (failover.Report, time.Duration) {
	t.Helper()
	args := []string{"failover", "--to", to, "--streams", orders, "--expected-epoch", fmt.Sprint(epoch), "--reason", "cli test", "--output", "json"}
	deadline := time.Now().Add(time.Minute)
	for {
		start := time.Now()
		st, stdout, stderr := d.kdscrr(t, args...)
		took := time.Since(start)
		var rep failover.Report
		switch {
		case st == operator.ExitOK:
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("failover to %s: %v\n%s", to, err, stdout)
			}
			return rep, took
		case st == operator.ExitNotAsked && strings.Contains(stdout, failover.StatusStaleEpoch):
		case st == operator.ExitError && strings.Contains(stderr, "has not settled"):
		default:
			t.Fatalf("failover to %s: exit %d\nstdout:\n%s\nstderr:\n%s", to, st, stdout, stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("failover to %s not accepted within a minute: %s%s", to, stdout, stderr)
		}
		if err := pause.For(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// caughtUp waits until both mappings have acknowledged every record of
// orders in their streams.
func (d *deployment) caughtUp(ctx context.Context, t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for stable := 0; stable < 3; {
		done := true
		for _, r := range []string{east1, east2} {
			n, err := count(ctx, d.world.KinesisClient(r, r), orders)
			if err != nil {
				t.Fatal(err)
			}
			if d.deploy.Mapping(r, orders).Stats().Records < int64(n) {
				done = false
			}
		}
		if done {
			stable++
		} else {
			stable = 0
		}
		if time.Now().After(deadline) {
			t.Fatal("the mappings did not catch up within a minute")
		}
		if err := pause.For(ctx, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
}

func count(ctx context.Context, client *kinesis.Client, stream string) (int, error) {
	recs, err := promisecheck.ReadStream(ctx, client, stream)
	return len(recs), err
}

// TestTheOperatorCLIRunsTheRunbookAgainstALocalDeployment is the story an
// operator lives through, through the binary: status, a dry run that
// changes nothing, a failover and a failback, lag and verify after each
// step, then a record acknowledged and never written, which verify must
// find.
func TestTheOperatorCLIRunsTheRunbookAgainstALocalDeployment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := start(ctx, t)
	ghostItem(ctx, t, d)

	// status: both Regions answer, orders active in us-east-1 at epoch 1.
	var all operator.StatusOutput
	d.jsonOf(t, 0, &all, "status")
	for _, r := range []string{east1, east2} {
		rep, ok := all.Reports[r]
		if !ok {
			t.Fatalf("status: %s did not answer: %v", r, all.Unreachable)
		}
		if st := streamIn(t, rep, orders); st.ActiveRegion != east1 || st.Epoch != 1 {
			t.Errorf("status from %s: orders active in %s at epoch %d, want %s at 1", r, st.ActiveRegion, st.Epoch, east1)
		}
	}
	if st, stdout, stderr := d.kdscrr(t, "status"); st != 0 || !strings.Contains(stdout, "Status from us-east-1:") || !strings.Contains(stdout, "Status from us-east-2:") {
		t.Errorf("status table: exit %d\n%s%s", st, stdout, stderr)
	}

	if err := d.task.Produce(ctx, east1, d.world.KinesisClient(east1, east1), 200); err != nil {
		t.Fatal(err)
	}
	d.caughtUp(ctx, t)

	// lag: every stream, orders from us-east-1 with both shards and nothing behind.
	var lagged operator.LagOutput
	d.jsonOf(t, 0, &lagged, "lag")
	if len(lagged.Streams) != 2 {
		t.Fatalf("lag: %d streams, want orders and ghost", len(lagged.Streams))
	}
	for _, st := range lagged.Streams {
		if st.SourceRegion != east1 || len(st.Shards) != 2 {
			t.Errorf("lag of %s: source %s, %d shards; want %s and 2", st.Stream, st.SourceRegion, len(st.Shards), east1)
		}
		if st.Stream == orders && (st.Unreplicated != 0 || st.RPOSeconds != 0) {
			t.Errorf("lag of orders after catching up: %d unreplicated, RPO %vs; want none", st.Unreplicated, st.RPOSeconds)
		}
		if st.Stream == orders && st.CheckpointAgeSeconds == nil {
			t.Errorf("lag of orders: no checkpoint age after 200 records replicated")
		}
	}

	// A dry run changes nothing.
	var dry failover.Report
	d.jsonOf(t, 0, &dry, "failover", "--to", east2, "--dry-run", "--streams", orders)
	if !dry.DryRun || streamIn(t, dry, orders).Status != failover.StatusDryRun {
		t.Errorf("dry run: %+v", dry)
	}
	if err := d.world.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{east1, east2} {
		if st := d.status(t, r); st.Epoch != 1 || st.ActiveRegion != east1 {
			t.Errorf("after the dry run, status in %s: %s at epoch %d, want %s at 1", r, st.ActiveRegion, st.Epoch, east1)
		}
	}

	// Fail over, and the same command with a stale epoch is refused with 3.
	rep, took := d.failOver(ctx, t, east2, 1)
	st := streamIn(t, rep, orders)
	if st.Status != failover.StatusSwitched || st.Epoch != 2 || st.ProducersMayStartAt == nil {
		t.Fatalf("failover: %+v", st)
	}
	t.Logf("failover through the binary: %v round trip", took.Round(time.Millisecond))
	if code, stdout, _ := d.kdscrr(t, "failover", "--to", east2, "--streams", orders, "--expected-epoch", "1"); code != operator.ExitOK || !strings.Contains(stdout, "alreadyActive:") {
		t.Errorf("the same failover again: exit %d, want %d (already active)\n%s", code, operator.ExitOK, stdout)
	}
	if code, stdout, _ := d.kdscrr(t, "failover", "--to", east1, "--streams", orders, "--expected-epoch", "1"); code != operator.ExitNotAsked || !strings.Contains(stdout, "staleEpoch:") {
		t.Errorf("a failback at a stale epoch: exit %d, want %d\n%s", code, operator.ExitNotAsked, stdout)
	}
	if err := pause.For(ctx, time.Until(*st.ProducersMayStartAt)); err != nil {
		t.Fatal(err)
	}
	resent, err := d.task.Resend(ctx, east2, d.world.KinesisClient(east2, east2), st.ResumeFrom)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.task.Produce(ctx, east2, d.world.KinesisClient(east2, east2), 200); err != nil {
		t.Fatal(err)
	}
	t.Logf("resent %d changes from resumeFrom", resent)
	// Replicated before the failback, so verify has us-east-2's records to
	// check in us-east-1 (a rewind supersedes what is not).
	d.caughtUp(ctx, t)

	// Fail back: the same command, once the switch has settled.
	if st.SettledAt != nil {
		if err := pause.For(ctx, time.Until(*st.SettledAt)); err != nil {
			t.Fatal(err)
		}
	}
	back, took := d.failOver(ctx, t, east1, 2)
	bst := streamIn(t, back, orders)
	if bst.Status != failover.StatusSwitched || bst.Epoch != 3 || bst.ActiveRegion != east1 {
		t.Fatalf("failback: %+v", bst)
	}
	t.Logf("failback through the binary: %v round trip", took.Round(time.Millisecond))
	if err := pause.For(ctx, time.Until(*bst.ProducersMayStartAt)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.task.Resend(ctx, east1, d.world.KinesisClient(east1, east1), bst.ResumeFrom); err != nil {
		t.Fatal(err)
	}
	if err := d.task.Produce(ctx, east1, d.world.KinesisClient(east1, east1), 200); err != nil {
		t.Fatal(err)
	}
	d.caughtUp(ctx, t)

	// verify: nothing missing or out of order, both ways, and both
	// directions checked something.
	var verified operator.VerifyOutput
	start := time.Now()
	d.jsonOf(t, 0, &verified, "verify", "--stream", orders)
	t.Logf("verify read %d records in %v", readCount(verified), time.Since(start).Round(time.Millisecond))
	if len(verified.Streams) != 1 {
		t.Fatalf("verify: %d streams, want 1", len(verified.Streams))
	}
	for _, dir := range verified.Streams[0].Directions {
		if dir.Checked == 0 || !dir.OK() || dir.Pending != 0 {
			t.Errorf("verify %s → %s: %+v, want records checked, none missing, out of order or pending", dir.From, dir.To, dir)
		}
	}
	if code, stdout, stderr := d.kdscrr(t, "verify", "--stream", orders); code != 0 || !strings.Contains(stdout, "orders: complete") {
		t.Errorf("verify table: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := d.kdscrr(t, "lag", "--stream", orders); code != 0 || !strings.Contains(stdout, "Shards of orders in us-east-1:") {
		t.Errorf("lag table: exit %d\n%s%s", code, stdout, stderr)
	}

	// ghost's checkpoint acknowledges records nobody wrote: verify finds
	// each, names it, and exits 3.
	missing := ghostRecords(ctx, t, d)
	var lost operator.VerifyOutput
	d.jsonOf(t, operator.ExitNotAsked, &lost, "verify")
	var ghostRep *verify.Report
	for i := range lost.Streams {
		if lost.Streams[i].Stream == ghost {
			ghostRep = &lost.Streams[i]
		} else if !lost.Streams[i].OK() {
			t.Errorf("verify of %s: %+v, want OK", lost.Streams[i].Stream, lost.Streams[i].Directions)
		}
	}
	if ghostRep == nil {
		t.Fatalf("verify without --stream left out %s: %+v", ghost, lost.Streams)
	}
	dir := ghostRep.Directions[0]
	if dir.From != east1 || dir.Missing != len(missing) || fmt.Sprint(dir.MissingRecords) != fmt.Sprint(missing) {
		t.Errorf("verify of %s: %+v, want missing %q", ghost, dir, missing)
	}
	if code, stdout, _ := d.kdscrr(t, "verify", "--stream", ghost); code != operator.ExitNotAsked || !strings.Contains(stdout, "NOT COMPLETE") || !strings.Contains(stdout, missing[0]) {
		t.Errorf("verify table of %s: exit %d\n%s", ghost, code, stdout)
	}
}

// ghostItem seeds ghost's config item in both replicas: active in us-east-1.
func ghostItem(ctx context.Context, t *testing.T, d *deployment) {
	t.Helper()
	since := time.Now().Add(-time.Minute)
	cfg := activeregion.Config{StreamName: ghost, ActiveRegion: east1, ActiveSince: since, Epoch: 1, History: []activeregion.Epoch{{Region: east1, Since: since, Epoch: 1}}}
	if _, err := activeregion.NewStore(d.world.DynamoDBClient(east1, east1), replicator.DefaultActiveRegionTable).Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := d.world.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
}

// ghostRecords writes three records into ghost in us-east-1 and a
// checkpoint that acknowledges them, as a replicator that acknowledged
// what it did not write would; it returns them as verify names them.
func ghostRecords(ctx context.Context, t *testing.T, d *deployment) []string {
	t.Helper()
	client := d.world.KinesisClient(east1, east1)
	var names []string
	var last *kinesis.PutRecordOutput
	for i := range 3 {
		out, err := client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(ghost), PartitionKey: aws.String("k"), Data: fmt.Appendf(nil, `{"n":%d}`, i)})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, aws.ToString(out.ShardId)+":"+aws.ToString(out.SequenceNumber))
		last = out
	}
	now := time.Now().UTC()
	if _, err := checkpoint.NewStore(d.world.DynamoDBClient(east1, east1), replicator.DefaultCheckpointTable).Save(ctx, checkpoint.Checkpoint{
		StreamName: ghost, ShardID: aws.ToString(last.ShardId), SourceRegion: east1, TargetRegion: east2, Epoch: 1,
		LastSequenceNumber: aws.ToString(last.SequenceNumber), LastReplicatedTimestamp: now, LastArrivalTimestamp: now,
		TimestampSource: "arrival", TargetShardID: "shardId-000000000000", TargetSequenceNumber: "1", UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

func streamIn(t *testing.T, rep failover.Report, name string) failover.StreamReport {
	t.Helper()
	for _, st := range rep.Streams {
		if st.StreamName == name {
			return st
		}
	}
	t.Fatalf("no stream %s in the report: %+v", name, rep)
	return failover.StreamReport{}
}

func readCount(v operator.VerifyOutput) int {
	n := 0
	for _, r := range v.Streams {
		for _, rr := range r.Read {
			n += rr.Records
		}
	}
	return n
}
