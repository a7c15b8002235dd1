package localworld

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

const (
	east1 = "us-east-1"
	east2 = "us-east-2"
)

// shared is one world for the package's tests, started by the first test
// that needs it. Tests change its delay, latency, pauses and hangs, so none
// runs in parallel, and each restores what it changed.
var shared struct {
	once sync.Once
	w    *World
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.w != nil {
		shared.w.Close()
	}
	os.Exit(code)
}

// world returns the shared world, settled and restored to its defaults
// when the test ends.
func world(t *testing.T) *World {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.w, shared.err = Start(ctx, Options{GlobalTableDelay: 50 * time.Millisecond})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	w := shared.w
	t.Cleanup(func() {
		for _, r := range w.Regions() {
			w.Heal(r)
		}
		w.ResumeReplication(east1, east2)
		w.ResumeReplication(east2, east1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.WaitReplicated(ctx); err != nil {
			t.Errorf("settle the world after the test: %v", err)
		}
		w.SetGlobalTableDelay(50 * time.Millisecond)
		w.SetCrossRegionLatency(0)
	})
	return w
}

// tables creates a checkpoint table (keys streamName, shardId) and a config
// table (key streamName) of the test's own in both replicas.
func tables(t *testing.T, w *World) (checkpoint, config string) {
	t.Helper()
	name := localaws.UniqueName(t.Name())
	checkpoint, config = name+".checkpoint", name+".config"
	if err := w.CreateTables(context.Background(), checkpoint, config); err != nil {
		t.Fatal(err)
	}
	return checkpoint, config
}

func str(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }

func configItem(stream, value string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"streamName": str(stream), "value": str(value)}
}

func put(t *testing.T, w *World, region, table string, item map[string]ddbtypes.AttributeValue) {
	t.Helper()
	if _, err := w.DynamoDBClient(region, region).PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(table), Item: item,
	}); err != nil {
		t.Fatalf("put in %s: %v", region, err)
	}
}

// direct returns a client of region's emulator itself, past the proxy, so
// a test can look at a replica while its Region hangs.
func direct(w *World, region string) *dynamodb.Client {
	i, _ := w.index(region)
	return localaws.DynamoDBClient(region, w.replicas[i].url)
}

// read returns the item's attributes as plain JSON-able values (nil if
// absent), read consistently from client.
func read(t *testing.T, client *dynamodb.Client, table string, key map[string]ddbtypes.AttributeValue) map[string]any {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if out.Item == nil {
		return nil
	}
	return plain(out.Item)
}

func plain(item map[string]ddbtypes.AttributeValue) map[string]any {
	m := make(map[string]any, len(item))
	for k, v := range item {
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			m[k] = v.Value
		case *ddbtypes.AttributeValueMemberN:
			m[k] = "N:" + v.Value
		default:
			b, _ := json.Marshal(v)
			m[k] = string(b)
		}
	}
	return m
}

func configKey(stream string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"streamName": str(stream)}
}

// eventually polls cond every 10 ms until it holds or 10 s pass: a bound
// on a broken world, not a claim about speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func settle(t *testing.T, w *World) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsRejectBadRegionsAndLatency(t *testing.T) {
	for name, o := range map[string]Options{
		"same Region twice":  {Regions: [2]string{east1, east1}},
		"one Region unnamed": {Regions: [2]string{east1, ""}},
		"negative latency":   {CrossRegionLatency: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if w, err := Start(context.Background(), o); err == nil {
				w.Close()
				t.Fatal("got no error, want one")
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        Options
		wantDelay time.Duration
	}{
		{"zero delay means the default", Options{}, DefaultGlobalTableDelay},
		{"NoDelay means none", Options{GlobalTableDelay: NoDelay}, 0},
		{"a delay is kept", Options{GlobalTableDelay: 3 * time.Second}, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			if got.GlobalTableDelay != tc.wantDelay || got.Regions != [2]string{east1, east2} {
				t.Fatalf("got delay %v and Regions %v, want %v and [us-east-1 us-east-2]", got.GlobalTableDelay, got.Regions, tc.wantDelay)
			}
		})
	}
}

func TestEndpointsNameOwnRegionURLsAndCrossRegionOnes(t *testing.T) {
	w := world(t)
	got := w.Endpoints()
	if err := got.Validate(); err != nil {
		t.Errorf("got endpoints %+v that pkg/endpoints refuses: %v", got, err)
	}
	seen := map[string]bool{}
	for _, region := range w.Regions() {
		other := east2
		if region == east2 {
			other = east1
		}
		r := got[region]
		if r.Kinesis != w.Endpoint(Kinesis, region, region) || r.DynamoDB != w.Endpoint(DynamoDB, region, region) {
			t.Errorf("%s: got %+v, want its own-Region URLs", region, r)
		}
		if f := r.From[other]; f.Kinesis != w.Endpoint(Kinesis, region, other) || f.DynamoDB != w.Endpoint(DynamoDB, region, other) {
			t.Errorf("%s from %s: got %+v, want the cross-Region URLs", region, other, f)
		}
		for _, u := range []string{r.Kinesis, r.DynamoDB, r.From[other].Kinesis, r.From[other].DynamoDB} {
			if u == "" || seen[u] {
				t.Errorf("got URL %q empty or twice, want eight distinct", u)
			}
			seen[u] = true
		}
	}
	if u := w.Endpoint(DynamoDB, "eu-west-1", east1); u != "" {
		t.Errorf("got %q for an unknown Region, want none", u)
	}
}

func TestWaitReplicatedEndsWithItsContext(t *testing.T) {
	w := world(t)
	_, config := tables(t, w)
	w.PauseReplication(east1, east2)
	put(t, w, east1, config, configItem("s", "v"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.WaitReplicated(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v while paused, want the context's deadline", err)
	}
	w.ResumeReplication(east1, east2)
	settle(t, w)
	if got := read(t, direct(w, east2), config, configKey("s")); got["value"] != "v" {
		t.Fatalf("got %v in us-east-2 after WaitReplicated, want value v", got)
	}
}
