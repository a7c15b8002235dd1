package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// The emulators (DynamoDB, and Kinesis for two Regions) are started once, by
// the first test that needs them, so the unit tests run without them; a
// missing emulator fails those tests.
var emulators = localaws.Shared{Kinesis: 2}

func TestMain(m *testing.M) {
	code := m.Run()
	emulators.Close()
	os.Exit(code)
}

func dynamoEndpoint(t testing.TB) string {
	t.Helper()
	return emulators.Get(t).DynamoDB
}

var tableSeq atomic.Int64

// dynamoTables creates a fresh pair of tables for one test and returns
// settings naming them and a client of the emulator.
func dynamoTables(t testing.TB) (Settings, *dynamodb.Client) {
	t.Helper()
	ddb := localaws.DynamoDBClient(east2, dynamoEndpoint(t))
	safe := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	n := tableSeq.Add(1)
	s := testSettings()
	s.CheckpointTable = fmt.Sprintf("cp-%d-%.40s", n, safe)
	s.ActiveRegionTable = fmt.Sprintf("cfg-%d-%.40s", n, safe)
	if err := localaws.CreateTables(context.Background(), ddb, s.CheckpointTable, s.ActiveRegionTable); err != nil {
		t.Fatal(err)
	}
	return s, ddb
}

// kinesisClients creates the streams, with their shard counts, in both
// Regions' emulators and returns the clients a Handler lists shards with.
// A stream left by an earlier run of the same test is reused.
func kinesisClients(t testing.TB, streams map[string]int32) map[string]ListShardsAPI {
	t.Helper()
	emu := emulators.Get(t)
	clients := map[string]ListShardsAPI{}
	for i, region := range []string{east1, east2} {
		client := localaws.KinesisClient(region, emu.Kinesis[i])
		for name, shards := range streams {
			err := localaws.CreateStream(context.Background(), client, name, shards)
			var inUse *kinesistypes.ResourceInUseException
			if err != nil && !errors.As(err, &inUse) {
				t.Fatal(err)
			}
		}
		clients[region] = client
	}
	return clients
}

func invoke(t *testing.T, h *Handler, ctx context.Context, payload string) Report {
	t.Helper()
	r, err := h.Handle(ctx, json.RawMessage(payload))
	if err != nil {
		t.Fatalf("Handle(%s): %v", payload, err)
	}
	return r
}

func wantStatuses(t *testing.T, step string, r Report, want map[string]string) {
	t.Helper()
	if got := statuses(r); !equalMaps(got, want) {
		t.Fatalf("%s: got statuses %v, want %v\nwarnings: %q", step, got, want, r.Warnings)
	}
}

func TestInitStatusFailoverFailbackOnDynamoDB(t *testing.T) {
	ctx := context.Background()
	s, ddb := dynamoTables(t)
	clock := t0
	kin := kinesisClients(t, map[string]int32{"s1": 2, "s2": 1})
	h := NewHandler(s, Clients{DynamoDB: ddb, Kinesis: kin}, WithClock(func() time.Time { return clock }), WithLogger(discardLogger()), noSettle)
	// The same function in us-east-1, where a failback is invoked.
	s1 := s
	s1.OwnRegion = east1
	h1 := NewHandler(s1, Clients{DynamoDB: ddb, Kinesis: kin}, WithClock(func() time.Time { return clock }), WithLogger(discardLogger()), noSettle)
	configs := activeregion.NewStore(ddb, s.ActiveRegionTable)
	cps := checkpoint.NewStore(ddb, s.CheckpointTable)
	save := func(c checkpoint.Checkpoint) {
		t.Helper()
		if _, err := cps.Save(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	r := invoke(t, h, ctx, `{"action":"init","targetRegion":"us-east-1","streams":["s1","s2"]}`)
	wantStatuses(t, "init", r, map[string]string{"s1": StatusCreated, "s2": StatusCreated})
	r = invoke(t, h, ctx, `{"action":"init","targetRegion":"us-east-2","streams":["s1"]}`)
	wantStatuses(t, "init again", r, map[string]string{"s1": StatusExists})
	if got, _ := configs.Get(ctx, "s1"); got.ActiveRegion != east1 {
		t.Fatalf("init again: got s1 active in %s, want it left in %s", got.ActiveRegion, east1)
	}

	// us-east-1 replicates into us-east-2 for a while.
	save(cp("s1", "shardId-000000000000", t0.Add(10*time.Minute), east1, 1))
	save(cp("s1", "shardId-000000000001", t0.Add(9*time.Minute), east1, 1))
	save(cp("s2", "shardId-000000000000", t0.Add(8*time.Minute), east1, 1))

	clock = t0.Add(11 * time.Minute)
	r = invoke(t, h, ctx, `{"action":"status"}`)
	wantStatuses(t, "status", r, map[string]string{"s1": StatusActive, "s2": StatusActive})
	if r.ActiveRegion != east1 {
		t.Fatalf("status: got activeRegion %q, want %q", r.ActiveRegion, east1)
	}

	r = invoke(t, h, inLambda("req-failover"), `{"targetRegion":"us-east-2","reason":"drill","requestedBy":"alice"}`)
	wantStatuses(t, "failover", r, map[string]string{"s1": StatusSwitched, "s2": StatusSwitched})
	checkResume(t, "failover", r, map[string]time.Time{"s1": t0.Add(9 * time.Minute), "s2": t0.Add(8 * time.Minute)}, t0.Add(8*time.Minute))
	item, err := configs.Get(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	last := item.History[len(item.History)-1]
	if item.ActiveRegion != east2 || item.Epoch != 2 || last.RequestID != "req-failover" || last.Reason != "drill" || last.RequestedBy != "alice" {
		t.Fatalf("failover: got item active %s epoch %d last history %+v, want %s, 2, with the audit fields", item.ActiveRegion, item.Epoch, last, east2)
	}
	if want := switchSince.Add(clock.Sub(now)); !item.ActiveSince.Equal(want) {
		t.Errorf("failover: got activeSince %v, want %v, when every old write has landed", item.ActiveSince, want)
	}

	// us-east-2 replicates back into us-east-1 in epoch 2, into its own
	// checkpoint items.
	save(cp("s1", "shardId-000000000000", t0.Add(30*time.Minute), east2, 2))
	save(cp("s1", "shardId-000000000001", t0.Add(31*time.Minute), east2, 2))
	save(cp("s2", "shardId-000000000000", t0.Add(29*time.Minute), east2, 2))

	// A retried failover and a status still report the resume points of the
	// switch, not points recomputed from the overwritten checkpoints.
	r = invoke(t, h, ctx, `{"targetRegion":"us-east-2"}`)
	wantStatuses(t, "failover again", r, map[string]string{"s1": StatusAlreadyActive, "s2": StatusAlreadyActive})
	checkResume(t, "failover again", r, map[string]time.Time{"s1": t0.Add(9 * time.Minute), "s2": t0.Add(8 * time.Minute)}, t0.Add(8*time.Minute))
	r = invoke(t, h, ctx, `{"action":"status"}`)
	checkResume(t, "status after the switch", r, map[string]time.Time{"s1": t0.Add(9 * time.Minute), "s2": t0.Add(8 * time.Minute)}, t0.Add(8*time.Minute))
	if !hasLine(r.Actions, "s1", "computed at the switch") {
		t.Errorf("status after the switch: got actions %q, want one saying s1's resumeFrom is the one computed at the switch", r.Actions)
	}

	clock = t0.Add(32 * time.Minute)
	r = invoke(t, h1, ctx, `{"targetRegion":"us-east-1","streams":["s1"],"expectedEpoch":1}`)
	wantStatuses(t, "stale fence", r, map[string]string{"s1": StatusStaleEpoch})
	if got, _ := configs.Get(ctx, "s1"); got.Epoch != 2 || got.ActiveRegion != east2 {
		t.Fatalf("stale fence: got s1 at epoch %d in %s, want unchanged (2, %s)", got.Epoch, got.ActiveRegion, east2)
	}

	r = invoke(t, h1, ctx, `{"targetRegion":"us-east-1","expectedEpoch":2}`)
	wantStatuses(t, "failback", r, map[string]string{"s1": StatusSwitched, "s2": StatusSwitched})
	checkResume(t, "failback", r, map[string]time.Time{"s1": t0.Add(30 * time.Minute), "s2": t0.Add(29 * time.Minute)}, t0.Add(29*time.Minute))
	if len(r.Warnings) != 0 {
		t.Errorf("failback: got warnings %q, want none", r.Warnings)
	}
	item, _ = configs.Get(ctx, "s2")
	if item.Epoch != 3 || len(item.History) != 3 || item.History[1].Region != east2 || item.History[2].Region != east1 {
		t.Fatalf("failback: got s2 epoch %d history %+v, want epochs 1..3 in us-east-1, us-east-2, us-east-1", item.Epoch, item.History)
	}
}

func TestShardWithoutCheckpointWithholdsTheResumePointOnTheEmulators(t *testing.T) {
	ctx := context.Background()
	s, ddb := dynamoTables(t)
	stream := localaws.UniqueName(t.Name())
	h := NewHandler(s, Clients{DynamoDB: ddb, Kinesis: kinesisClients(t, map[string]int32{stream: 2})},
		WithClock(func() time.Time { return t0.Add(time.Hour) }), WithLogger(discardLogger()), noSettle)
	if _, err := activeregion.NewStore(ddb, s.ActiveRegionTable).Create(ctx, configAt(stream, east1)); err != nil {
		t.Fatal(err)
	}
	// Only shard 0 has replicated anything; shard 1 never checkpointed.
	if _, err := checkpoint.NewStore(ddb, s.CheckpointTable).Save(ctx, cp(stream, "shardId-000000000000", t0.Add(10*time.Minute), east1, 1)); err != nil {
		t.Fatal(err)
	}

	r := invoke(t, h, ctx, fmt.Sprintf(`{"targetRegion":"us-east-2","streams":[%q],"dryRun":true}`, stream))
	if got := r.Streams[0].ResumeFrom; got != nil {
		t.Errorf("dry run: got resumeFrom %v, want none while shardId-000000000001 has no checkpoint", *got)
	}
	if !hasLine(r.Warnings, stream, "shardId-000000000001", "listed in us-east-1", "ignoreShards") {
		t.Errorf("dry run: got warnings %q, want one naming shardId-000000000001 and the way out", r.Warnings)
	}

	r = invoke(t, h, ctx, fmt.Sprintf(`{"targetRegion":"us-east-2","streams":[%q],"ignoreShards":{%q:["shardId-000000000001"]}}`, stream, stream))
	wantStatuses(t, "failover ignoring the empty shard", r, map[string]string{stream: StatusSwitched})
	if got := r.Streams[0].ResumeFrom; got == nil || !got.Equal(t0.Add(10*time.Minute)) || r.Streams[0].ResumeFromUnverified {
		t.Errorf("failover ignoring the empty shard: got resumeFrom %v (unverified %t), want %v, verified", deref(got), r.Streams[0].ResumeFromUnverified, t0.Add(10*time.Minute))
	}
}

func checkResume(t *testing.T, step string, r Report, want map[string]time.Time, wantLogStart time.Time) {
	t.Helper()
	for _, s := range r.Streams {
		if w, ok := want[s.StreamName]; ok && (s.ResumeFrom == nil || !s.ResumeFrom.Equal(w)) {
			t.Errorf("%s: %s: got resumeFrom %v, want %v", step, s.StreamName, deref(s.ResumeFrom), w)
		}
	}
	if r.LogStreamStart == nil || !r.LogStreamStart.Equal(wantLogStart) {
		t.Errorf("%s: got logStreamStart %v, want %v", step, deref(r.LogStreamStart), wantLogStart)
	}
}

// pairedPuts holds the first two config PutItems of a stream until both have
// arrived, so that two failovers both read the epoch before either writes:
// the race is decided by DynamoDB's conditional write, not by scheduling.
// Later writes (the winner recording its visibility) pass straight through.
type pairedPuts struct {
	DynamoDBAPI
	table  string
	mu     sync.Mutex
	wait   map[string]chan struct{}
	paired map[string]bool
}

func (p *pairedPuts) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	stream, _ := in.Item["streamName"].(*ddbtypes.AttributeValueMemberS)
	p.mu.Lock()
	pairing := *in.TableName == p.table && stream != nil && !p.paired[stream.Value]
	p.mu.Unlock()
	if pairing {
		stream := stream.Value
		p.mu.Lock()
		ch, waiting := p.wait[stream]
		if !waiting {
			ch = make(chan struct{})
			p.wait[stream] = ch
		} else {
			delete(p.wait, stream)
			p.paired[stream] = true
			close(ch)
		}
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return p.DynamoDBAPI.PutItem(ctx, in, optFns...)
}

func TestConcurrentFailoversOnDynamoDBHaveExactlyOneWinnerPerStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, ddb := dynamoTables(t)
	paired := &pairedPuts{DynamoDBAPI: ddb, table: s.ActiveRegionTable, wait: map[string]chan struct{}{}, paired: map[string]bool{}}
	racer := NewHandler(s, Clients{DynamoDB: paired}, WithLogger(discardLogger()), noSettle)
	configs := activeregion.NewStore(ddb, s.ActiveRegionTable)

	for round := range 10 {
		a, b := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round)
		// Created directly: init would seed them where the earlier
		// rounds' streams are active, in us-east-2.
		for _, name := range []string{a, b} {
			if _, err := configs.Create(ctx, activeregion.Config{StreamName: name, ActiveRegion: east1, ActiveSince: time.Now().UTC()}); err != nil {
				t.Fatal(err)
			}
		}
		payload := fmt.Sprintf(`{"targetRegion":"us-east-2","streams":[%q,%q]}`, a, b)
		reports := make([]Report, 2)
		var wg sync.WaitGroup
		for i := range reports {
			wg.Go(func() { reports[i] = invoke(t, racer, ctx, payload) })
		}
		wg.Wait()
		for _, stream := range []string{a, b} {
			got := []string{statuses(reports[0])[stream], statuses(reports[1])[stream]}
			if !(got[0] == StatusSwitched && got[1] == StatusConflict) && !(got[0] == StatusConflict && got[1] == StatusSwitched) {
				t.Fatalf("round %d, %s: got statuses %v, want one switched and one conflict", round, stream, got)
			}
			item, err := configs.Get(ctx, stream)
			if err != nil {
				t.Fatal(err)
			}
			if item.Epoch != 2 || len(item.History) != 2 || item.ActiveRegion != east2 {
				t.Fatalf("round %d, %s: got epoch %d with %d history entries in %s, want exactly one switch", round, stream, item.Epoch, len(item.History), item.ActiveRegion)
			}
		}
	}
}

func TestNewFromEnvWorksAgainstTheEmulator(t *testing.T) {
	s, _ := dynamoTables(t)
	env := map[string]string{
		"REGIONS":             "us-east-1,us-east-2",
		"AWS_REGION":          east2,
		"CHECKPOINT_TABLE":    s.CheckpointTable,
		"ACTIVE_REGION_TABLE": s.ActiveRegionTable,
		"SWITCH_SETTLE":       "10ms",
	}
	// The SDK reads its endpoint and credentials from the process
	// environment, as it does in Lambda.
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamoEndpoint(t))
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	h, err := NewFromEnv(context.Background(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	r := invoke(t, h, context.Background(), `{"action":"init","targetRegion":"us-east-1","streams":["s1"]}`)
	wantStatuses(t, "init", r, map[string]string{"s1": StatusCreated})
	r = invoke(t, h, context.Background(), `{"targetRegion":"us-east-2"}`)
	wantStatuses(t, "failover", r, map[string]string{"s1": StatusSwitched})
	if !hasLine(r.Actions, "local mode") {
		t.Errorf("got actions %q, want the local-mode note", r.Actions)
	}

	if _, err := NewFromEnv(context.Background(), func(k string) string { return map[string]string{"AWS_REGION": east1}[k] }); err == nil || !strings.Contains(err.Error(), "REGIONS") {
		t.Errorf("got error %v, want one naming REGIONS", err)
	}
}

// Locally, LOCAL_ENDPOINTS names the other Region's endpoints, so a failover
// lists the shards of the Region it leaves there, as it does in AWS; a bad
// value stops the cold start naming the variable.
func TestLocalEndpointsNameTheOtherRegionsEndpoints(t *testing.T) {
	ctx := context.Background()
	stream := localaws.UniqueName(t.Name())
	emu := emulators.Get(t)
	kinesisClients(t, map[string]int32{stream: 2})
	s, ddb := dynamoTables(t)
	cps := checkpoint.NewStore(ddb, s.CheckpointTable)
	for shard := range 2 {
		if _, err := cps.Save(ctx, cp(stream, fmt.Sprintf("shardId-%012d", shard), time.Now().UTC(), east1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"REGIONS": "us-east-1,us-east-2", "AWS_REGION": east2,
		"CHECKPOINT_TABLE": s.CheckpointTable, "ACTIVE_REGION_TABLE": s.ActiveRegionTable,
		// The endpoints file's shape, which `scripts/demo.sh --keep` writes.
		"LOCAL_ENDPOINTS": `{"us-east-1":{"kinesis":"` + emu.Kinesis[0] + `","dynamodb":"http://127.0.0.1:1"}}`,
	}
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamoEndpoint(t))
	t.Setenv("AWS_ENDPOINT_URL_KINESIS", emu.Kinesis[1])
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	h, err := NewFromEnv(ctx, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	invoke(t, h, ctx, `{"action":"init","targetRegion":"us-east-1","streams":["`+stream+`"]}`)
	r := invoke(t, h, ctx, `{"targetRegion":"us-east-2","dryRun":true}`)
	if hasLine(r.Warnings, "could not be listed") || r.Streams[0].ResumeFrom == nil {
		t.Errorf("got warnings %q, resumeFrom %v; want the shards listed in us-east-1 and a resume point", r.Warnings, r.Streams[0].ResumeFrom)
	}

	for _, bad := range []string{`{"us-east-1":`, `{"us-east-1":{"kinesis":"localhost:4567"}}`, `{"regions":{"us-east-1":{"kinesis":"http://127.0.0.1:1"}}}`} {
		env["LOCAL_ENDPOINTS"] = bad
		if _, err := NewFromEnv(ctx, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "LOCAL_ENDPOINTS") {
			t.Errorf("LOCAL_ENDPOINTS=%s: got error %v, want one naming the variable", bad, err)
		}
	}
}
