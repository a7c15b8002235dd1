// Package rie_test runs the real bootstrap binaries of both functions under
// the Lambda Runtime Interface Emulator, one emulator per function and
// Region, configured only through the environment contract of docs/reference.md,
// against the Kinesis and DynamoDB emulators. It proves what the in-process
// tests cannot: main's wiring, the environment parsing and the JSON shapes
// as Lambda would run them.
package rie_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/metrics/metricstest"
)

const (
	east1, east2    = "us-east-1", "us-east-2"
	stream          = "orders"
	checkpointTable = "kdsReplicationCheckpoint"
	configTable     = "kdsActiveRegionConfig"
)

// Built once for the package by TestMain.
var (
	world     *localworld.World
	binDir    string
	rieBinary string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	// Each Region has its own DynamoDB replica, replicated to the other a
	// little late, as global tables do.
	world, err = localworld.Start(ctx, localworld.Options{Regions: [2]string{east1, east2}, GlobalTableDelay: 200 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rie tests need the emulators:", err)
		return 1
	}
	defer world.Close()

	binDir, err = os.MkdirTemp("", "kinesis-crr-rie-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	if err := build(binDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rieBinary = filepath.Join(binDir, "aws-lambda-rie")
	return m.Run()
}

// build makes both bootstrap binaries for this machine's architecture with
// the project's own build script, and the RIE from the tool dependency in
// go.mod.
func build(dir string) error {
	root, err := localaws.RepoRoot()
	if err != nil {
		return err
	}
	steps := []*exec.Cmd{
		exec.Command("bash", filepath.Join(root, "scripts", "build.sh"), "-o", dir, "-a", runtime.GOARCH),
		exec.Command("go", "build", "-o", filepath.Join(dir, "aws-lambda-rie"),
			"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"),
	}
	for _, cmd := range steps {
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
		}
	}
	return nil
}

// function is one RIE serving one bootstrap.
type function struct {
	name string
	url  string
	out  *syncBuffer
}

// startFunction runs bootstrap under its own RIE with exactly env (plus the
// fake credentials) and stops both, and any child, when the test ends.
func startFunction(t *testing.T, name, bootstrap string, env map[string]string) *function {
	t.Helper()
	rieAddr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(rieBinary,
		"--runtime-interface-emulator-address", rieAddr,
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Env = []string{"AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local-secret", "AWS_LAMBDA_FUNCTION_NAME=" + name}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that cleanup reaches the bootstrap too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.Dial("tcp", rieAddr)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: RIE not listening on %s after 15s:\n%s", name, rieAddr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &function{name: name, url: "http://" + rieAddr + "/2015-03-31/functions/function/invocations", out: out}
}

// invoke posts payload as Lambda's Invoke API does and returns the
// function's response body; a function error fails the test.
func (f *function) invoke(t *testing.T, payload []byte) []byte {
	t.Helper()
	body, fnErr := f.invokeRaw(t, payload)
	if fnErr.ErrorMessage != "" {
		t.Fatalf("invoke %s: function error %s: %s\n%s", f.name, fnErr.ErrorType, fnErr.ErrorMessage, f.out.String())
	}
	return body
}

// functionError is the body Lambda returns when the handler fails.
type functionError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func (f *function) invokeRaw(t *testing.T, payload []byte) ([]byte, functionError) {
	t.Helper()
	resp, err := http.Post(f.url, "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("invoke %s: %v", f.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response of %s: %v", f.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke %s: got HTTP %d %s, want 200", f.name, resp.StatusCode, body)
	}
	var fnErr functionError
	_ = json.Unmarshal(body, &fnErr) // a handler's response need not be an object
	return body, fnErr
}

// emf returns the EMF documents the function printed so far.
func (f *function) emf(t *testing.T) []metricstest.Document {
	t.Helper()
	var docs []metricstest.Document
	for line := range strings.Lines(f.out.String()) {
		if !strings.HasPrefix(line, `{"_aws"`) {
			continue
		}
		doc, err := metricstest.Parse([]byte(line))
		if err != nil {
			t.Fatalf("%s printed a bad EMF line %q: %v", f.name, line, err)
		}
		docs = append(docs, doc)
	}
	return docs
}

func TestFunctionsReplicateAndFailOverUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	ctx := context.Background()
	kin := map[string]*kinesis.Client{east1: world.KinesisClient(east1, east1), east2: world.KinesisClient(east2, east2)}
	ddb := map[string]*dynamodb.Client{east1: world.DynamoDBClient(east1, east1), east2: world.DynamoDBClient(east2, east2)}
	if err := world.CreateTables(ctx, checkpointTable, configTable); err != nil {
		t.Fatal(err)
	}
	if err := world.CreateStream(ctx, stream, 2); err != nil {
		t.Fatal(err)
	}

	replicators, failovers := map[string]*function{}, map[string]*function{}
	for _, pair := range [][2]string{{east1, east2}, {east2, east1}} {
		own, other := pair[0], pair[1]
		common := map[string]string{
			"AWS_REGION":                own,
			"AWS_ENDPOINT_URL_DYNAMODB": world.Endpoint(localworld.DynamoDB, own, own),
			"CHECKPOINT_TABLE":          checkpointTable,
			"ACTIVE_REGION_TABLE":       configTable,
			// Every batch reads the config, so that the first batch after
			// the failover below is decided on the new epoch; with a TTL
			// the old Region may replicate for up to the TTL after a switch.
			"ACTIVE_REGION_CACHE_TTL": "0s",
		}
		replicatorEnv := maps.Clone(common)
		maps.Copy(replicatorEnv, map[string]string{
			"TARGET_REGION":                other,
			"AWS_ENDPOINT_URL_KINESIS":     world.Endpoint(localworld.Kinesis, own, own),
			"TARGET_ENDPOINT_URL":          world.Endpoint(localworld.Kinesis, other, own),
			"TARGET_DYNAMODB_ENDPOINT_URL": world.Endpoint(localworld.DynamoDB, other, own),
		})
		replicators[own] = startFunction(t, "replicator-"+own, filepath.Join(binDir, "replicator", "bootstrap"), replicatorEnv)
		failoverEnv := maps.Clone(common)
		failoverEnv["REGIONS"] = east1 + "," + east2
		// The own Region's endpoint only: the other Region's client must
		// not inherit it, so listing shards there fails and the report
		// falls back to this Region's listing.
		failoverEnv["AWS_ENDPOINT_URL_KINESIS"] = world.Endpoint(localworld.Kinesis, own, own)
		failovers[own] = startFunction(t, "failover-"+own, filepath.Join(binDir, "failover", "bootstrap"), failoverEnv)
	}

	// 1. Seed the config through the failover function's init.
	var initReport report
	decode(t, failovers[east1].invoke(t, []byte(`{"action":"init","targetRegion":"us-east-1","streams":["orders"]}`)), &initReport)
	if initReport.ActiveRegion != east1 || len(initReport.Streams) != 1 || initReport.Streams[0].Status != "created" {
		t.Fatalf("got init report %+v, want orders created with us-east-1 active", initReport)
	}
	if err := world.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}

	// 2. A Kinesis event of records read back from us-east-1, POSTed to the
	// us-east-1 replicator, lands in us-east-2 with a checkpoint.
	sent := putRecords(t, kin[east1], 6, "before")
	shard, records := busiestShard(t, kin[east1], sent)
	resp := replicators[east1].invoke(t, kinesisEvent(t, east1, shard, records))
	assertNoBatchItemFailures(t, resp)

	landed := readAll(t, kin[east2])
	for _, r := range records {
		if !containsRecord(landed, r) {
			t.Errorf("record %s (%s) not in us-east-2, want it replicated", aws.ToString(r.SequenceNumber), r.Data)
		}
	}
	if len(landed) != len(records) {
		t.Errorf("got %d records in us-east-2, want %d", len(landed), len(records))
	}
	cp := loadCheckpoint(t, ddb[east1], east1, shard)
	if want := aws.ToString(records[len(records)-1].SequenceNumber); cp.LastSequenceNumber != want ||
		cp.SourceRegion != east1 || cp.TargetRegion != east2 || cp.Epoch != 1 || cp.TargetSequenceNumber == "" {
		t.Errorf("got checkpoint %+v, want last sequence %s from us-east-1 to us-east-2 at epoch 1 with a target sequence", cp, want)
	}
	assertEMF(t, replicators[east1], "ReplicatedRecords", float64(len(records)))

	// 3. A bad failover payload is a function error and changes nothing;
	// then fail over through the us-east-2 failover function.
	for _, bad := range []string{`{"targetRegion":"eu-west-9","streams":["orders"]}`, `{"targetRegion":`, `{"targetRegion":""}`} {
		if _, fnErr := failovers[east2].invokeRaw(t, []byte(bad)); fnErr.ErrorMessage == "" {
			t.Errorf("payload %s: got no function error, want one", bad)
		}
	}
	var status report
	decode(t, failovers[east2].invoke(t, []byte(`{"action":"status"}`)), &status)
	if status.ActiveRegion != east1 || len(status.Streams) != 1 || status.Streams[0].Epoch != 1 {
		t.Fatalf("got status %+v after bad payloads, want us-east-1 still active at epoch 1", status)
	}

	// us-east-1's checkpoint reaches us-east-2's replica, where the failover
	// reads it, a replication delay after it was written.
	if err := world.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	raw := failovers[east2].invoke(t, []byte(`{"targetRegion":"us-east-2","streams":["orders"],"reason":"rie test"}`))
	var members map[string]json.RawMessage
	decode(t, raw, &members)
	for _, key := range []string{"activeRegion", "previousRegion", "switchedAt", "dryRun", "streams", "logStreamStart", "actions", "warnings"} {
		if _, ok := members[key]; !ok {
			t.Errorf("failover report %s has no %q, want every member of the report contract (docs/cli.md)", raw, key)
		}
	}
	var failoverReport report
	decode(t, raw, &failoverReport)
	if failoverReport.ActiveRegion != east2 || failoverReport.PreviousRegion != east1 || len(failoverReport.Streams) != 1 {
		t.Fatalf("got failover report %+v, want orders switched us-east-1 → us-east-2", failoverReport)
	}
	switched := failoverReport.Streams[0]
	if switched.Epoch != 2 || !containsShard(switched.Shards, shard) {
		t.Errorf("got stream report %+v, want epoch 2 and shard %s", switched, shard)
	}
	// Only the busiest shard was replicated, so the other one has no
	// checkpoint and the resume point is withheld. The shards are listed in
	// us-east-2 (AWS_ENDPOINT_URL_KINESIS), after us-east-1's real endpoint,
	// which its client must not take from that variable, failed.
	other := "shardId-000000000000"
	if shard == other {
		other = "shardId-000000000001"
	}
	if switched.ResumeFrom != nil {
		t.Errorf("got resumeFrom %v, want none while %s has no checkpoint", *switched.ResumeFrom, other)
	}
	for _, want := range [][]string{
		{"could not be listed in us-east-1", "kinesis.us-east-1.amazonaws.com", "listed in us-east-2 instead"},
		{other, "no checkpoint", "withheld"},
	} {
		if !slices.ContainsFunc(failoverReport.Warnings, func(w string) bool {
			return !slices.ContainsFunc(want, func(part string) bool { return !strings.Contains(w, part) })
		}) {
			t.Errorf("got warnings %q, want one with %q", failoverReport.Warnings, want)
		}
	}

	// 4. The old Region's replicator now writes nothing more: it reads the
	// switch in us-east-2's replica (the fence) and, in rewind mode,
	// supersedes what it had not replicated, even before its own replica
	// has the switch.
	after := putRecords(t, kin[east1], 4, "after")
	shard, records = busiestShard(t, kin[east1], after)
	assertNoBatchItemFailures(t, replicators[east1].invoke(t, kinesisEvent(t, east1, shard, records)))
	if got := len(readAll(t, kin[east2])); got != len(landed) {
		t.Errorf("got %d records in us-east-2 after the failover, want still %d: the old Region must not write", got, len(landed))
	}
	assertEMF(t, replicators[east1], "SupersededRecords", float64(len(records)))

	// 5. From producersMayStartAt on, the new Region's replicator
	// replicates what arrives there.
	if switched.ProducersMayStartAt == nil {
		t.Fatalf("got stream report %+v, want producersMayStartAt", switched)
	}
	time.Sleep(time.Until(*switched.ProducersMayStartAt))
	fresh := putRecords(t, kin[east2], 4, "in-east-2")
	shard, records = busiestShard(t, kin[east2], fresh)
	assertNoBatchItemFailures(t, replicators[east2].invoke(t, kinesisEvent(t, east2, shard, records)))
	back := readAll(t, kin[east1])
	for _, r := range records {
		if !containsRecord(back, r) {
			t.Errorf("record %s (%s) not in us-east-1, want it replicated by us-east-2", aws.ToString(r.SequenceNumber), r.Data)
		}
	}
	if cp := loadCheckpoint(t, ddb[east2], east2, shard); cp.SourceRegion != east2 || cp.Epoch != 2 {
		t.Errorf("got checkpoint %+v, want one written by us-east-2 at epoch 2", cp)
	}
	assertEMF(t, replicators[east2], "ReplicatedRecords", float64(len(records)))
}

// report is the part of the failover report this test reads.
type report struct {
	ActiveRegion   string   `json:"activeRegion"`
	PreviousRegion string   `json:"previousRegion"`
	Warnings       []string `json:"warnings"`
	Streams        []struct {
		StreamName          string     `json:"streamName"`
		Status              string     `json:"status"`
		Epoch               int64      `json:"epoch"`
		ResumeFrom          *time.Time `json:"resumeFrom"`
		ProducersMayStartAt *time.Time `json:"producersMayStartAt"`
		Shards              []struct {
			ShardID string `json:"shardId"`
		} `json:"shards"`
	} `json:"streams"`
}

func containsShard(shards []struct {
	ShardID string `json:"shardId"`
}, id string) bool {
	for _, s := range shards {
		if s.ShardID == id {
			return true
		}
	}
	return false
}

func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// assertNoBatchItemFailures checks the response has the shape Lambda reads
// for ReportBatchItemFailures, with nothing reported.
func assertNoBatchItemFailures(t *testing.T, body []byte) {
	t.Helper()
	var resp map[string]json.RawMessage
	decode(t, body, &resp)
	raw, ok := resp["batchItemFailures"]
	if !ok {
		t.Fatalf("got response %s, want a batchItemFailures member", body)
	}
	var failures []struct {
		ItemIdentifier string `json:"itemIdentifier"`
	}
	decode(t, raw, &failures)
	if len(failures) != 0 {
		t.Fatalf("got batch item failures %s, want none", raw)
	}
}

// assertEMF checks that the function's last EMF line for the stream
// carries metric = want.
func assertEMF(t *testing.T, f *function, metric string, want float64) {
	t.Helper()
	docs := f.emf(t)
	if len(docs) == 0 {
		t.Fatalf("%s printed no EMF line, want one per invocation:\n%s", f.name, f.out.String())
	}
	last := docs[len(docs)-1]
	if last.Namespace != "KinesisReplication" || last.Stream != stream {
		t.Errorf("got EMF namespace %q stream %q, want KinesisReplication and %s", last.Namespace, last.Stream, stream)
	}
	if got := last.Values[metric]; got != want {
		t.Errorf("%s: got EMF %s = %v, want %v", f.name, metric, got, want)
	}
}

// putRecords writes n CDC-shaped records over three keys, in order.
func putRecords(t *testing.T, client *kinesis.Client, n int, tag string) []string {
	t.Helper()
	var seqs []string
	for i := range n {
		key := fmt.Sprintf("k%d", i%3)
		data := fmt.Sprintf(`{"id":"%s-%d","key":"%s","op":"update","CommitTimestamp":"%s","seq":%d}`,
			tag, i, key, time.Now().UTC().Format(time.RFC3339Nano), i)
		out, err := client.PutRecord(context.Background(), &kinesis.PutRecordInput{
			StreamName: aws.String(stream), PartitionKey: aws.String(key), Data: []byte(data),
		})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

// busiestShard reads back the records of seqs and returns the shard with
// most of them and its records among seqs, in shard order: one event
// source mapping batch.
func busiestShard(t *testing.T, client *kinesis.Client, seqs []string) (string, []types.Record) {
	t.Helper()
	wanted := map[string]bool{}
	for _, s := range seqs {
		wanted[s] = true
	}
	byShard := map[string][]types.Record{}
	for _, r := range readAllWithShards(t, client) {
		if wanted[aws.ToString(r.record.SequenceNumber)] {
			byShard[r.shard] = append(byShard[r.shard], r.record)
		}
	}
	var best string
	for shard, recs := range byShard {
		if len(recs) > len(byShard[best]) || (len(recs) == len(byShard[best]) && shard < best) {
			best = shard
		}
	}
	if best == "" {
		t.Fatal("none of the records put were read back")
	}
	return best, byShard[best]
}

type shardRecord struct {
	shard  string
	record types.Record
}

func readAllWithShards(t *testing.T, client *kinesis.Client) []shardRecord {
	t.Helper()
	ctx := context.Background()
	shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var out []shardRecord
	for _, s := range shards.Shards {
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		page, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			out = append(out, shardRecord{shard: aws.ToString(s.ShardId), record: r})
		}
	}
	return out
}

func readAll(t *testing.T, client *kinesis.Client) []types.Record {
	t.Helper()
	var out []types.Record
	for _, r := range readAllWithShards(t, client) {
		out = append(out, r.record)
	}
	return out
}

func containsRecord(in []types.Record, want types.Record) bool {
	for _, r := range in {
		if aws.ToString(r.PartitionKey) == aws.ToString(want.PartitionKey) && bytes.Equal(r.Data, want.Data) {
			return true
		}
	}
	return false
}

// kinesisEvent fills the documented Lambda Kinesis event of
// testdata/kinesis-event.json with records, keeping every other field as
// the fixture has it.
func kinesisEvent(t *testing.T, region, shard string, records []types.Record) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "kinesis-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Records []json.RawMessage `json:"Records"`
	}
	decode(t, raw, &fixture)
	if len(fixture.Records) == 0 {
		t.Fatal("testdata/kinesis-event.json has no record to copy")
	}
	var out []map[string]any
	for _, r := range records {
		var rec map[string]any
		decode(t, fixture.Records[0], &rec)
		k, ok := rec["kinesis"].(map[string]any)
		if !ok {
			t.Fatal("testdata/kinesis-event.json: record without a kinesis member")
		}
		seq := aws.ToString(r.SequenceNumber)
		k["partitionKey"] = aws.ToString(r.PartitionKey)
		k["sequenceNumber"] = seq
		k["data"] = base64.StdEncoding.EncodeToString(r.Data)
		k["approximateArrivalTimestamp"] = json.Number(strconv.FormatFloat(float64(aws.ToTime(r.ApproximateArrivalTimestamp).UnixMilli())/1000, 'f', 3, 64))
		rec["eventID"] = shard + ":" + seq
		rec["awsRegion"] = region
		rec["eventSourceARN"] = "arn:aws:kinesis:" + region + ":123456789012:stream/" + stream
		out = append(out, rec)
	}
	payload, err := json.Marshal(map[string]any{"Records": out})
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

func loadCheckpoint(t *testing.T, client *dynamodb.Client, region, shard string) checkpoint.Checkpoint {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(checkpointTable),
		ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"streamName": &ddbtypes.AttributeValueMemberS{Value: stream},
			"shardId":    &ddbtypes.AttributeValueMemberS{Value: checkpoint.Key(region, shard)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Item == nil {
		t.Fatalf("no checkpoint item for %s/%s, want one", stream, shard)
	}
	var cp checkpoint.Checkpoint
	if err := attributevalue.UnmarshalMap(out.Item, &cp); err != nil {
		t.Fatal(err)
	}
	return cp
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
