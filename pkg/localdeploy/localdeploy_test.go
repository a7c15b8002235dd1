package localdeploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/cdctask"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

const (
	east1 = "us-east-1"
	east2 = "us-east-2"
)

// TestADeploymentReplicatesAndServesItsFailoverFunctions deploys on a
// world's streams, seeds the config, produces into the active Region and
// waits for every record in the other; then calls both failover functions
// over the Invoke API, as the operator CLI does with the endpoints file.
func TestADeploymentReplicatesAndServesItsFailoverFunctions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams []string
	}{
		{"one stream", []string{"orders"}},
		{"two streams", []string{"orders", "payments"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			w, err := localworld.Start(ctx, localworld.Options{GlobalTableDelay: 50 * time.Millisecond, CrossRegionLatency: 5 * time.Millisecond, RecordCalls: true})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for _, s := range tc.streams {
				if err := w.CreateStream(ctx, s, 2); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.CreateTables(ctx, replicator.DefaultCheckpointTable, replicator.DefaultActiveRegionTable); err != nil {
				t.Fatal(err)
			}
			d, err := Start(ctx, w, Options{Streams: tc.streams, CacheTTL: time.Second, SwitchSettle: time.Second, PollInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			rep, err := d.Init(ctx, east1)
			if err != nil {
				t.Fatal(err)
			}
			if got := streamStatuses(rep); len(got) != len(tc.streams) {
				t.Fatalf("init: got %v, want every stream of %q seeded", got, tc.streams)
			}

			const n = 30
			for _, s := range tc.streams {
				if err := cdctask.New(s, 5).Produce(ctx, east1, w.KinesisClient(east1, east1), n); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range tc.streams {
				waitFor(ctx, t, fmt.Sprintf("%d records of %s in %s", n, s, east2), func() (bool, error) {
					recs, err := promisecheck.ReadStream(ctx, w.KinesisClient(east2, east2), s)
					return len(recs) >= n, err
				})
				// A record is in the target before its batch is
				// acknowledged: wait for the acknowledgement too.
				waitFor(ctx, t, fmt.Sprintf("%d records of %s acknowledged in %s", n, s, east1), func() (bool, error) {
					return d.Mapping(east1, s).Stats().Records >= n, nil
				})
			}
			if err := d.Err(); err != nil {
				t.Errorf("got mapping errors %v, want none", err)
			}

			f := d.Endpoints()
			if err := f.Validate(); err != nil {
				t.Fatalf("got endpoints the CLI refuses: %v", err)
			}
			if f[east1].Lambda == f[east2].Lambda {
				t.Errorf("got one Lambda URL %s for both Regions, want one each", f[east1].Lambda)
			}
			for _, region := range []string{east1, east2} {
				got := invoke(ctx, t, f[region].Lambda, region, map[string]any{"action": "status", "streams": tc.streams})
				for _, s := range got.Streams {
					if s.Status != failover.StatusActive || s.ActiveRegion != east1 {
						t.Errorf("status in %s: got %s %s active in %s, want %s active in %s", region, s.StreamName, s.Status, s.ActiveRegion, failover.StatusActive, east1)
					}
				}
				if len(got.Streams) != len(tc.streams) {
					t.Errorf("status in %s: got %d streams, want %d", region, len(got.Streams), len(tc.streams))
				}
			}
			dry := invoke(ctx, t, f[east2].Lambda, east2, map[string]any{"targetRegion": east2, "streams": tc.streams, "dryRun": true})
			if !dry.DryRun || len(dry.Streams) != len(tc.streams) {
				t.Fatalf("dry run: got %+v, want a dry-run report of every stream", dry)
			}
			for _, s := range dry.Streams {
				if s.Status != failover.StatusDryRun {
					t.Errorf("dry run: got %s %s, want %s", s.StreamName, s.Status, failover.StatusDryRun)
				}
			}
			checkCallers(t, w.Calls())

			d.Close()
			for _, region := range []string{east1, east2} {
				if resp, err := http.Post(f[region].Lambda+"/2015-03-31/functions/"+FailoverFunction+"/invocations", "application/json", strings.NewReader("{}")); err == nil {
					resp.Body.Close()
					t.Errorf("the Lambda endpoint of %s (%s) still answers after Close (%s)", region, f[region].Lambda, resp.Status)
				}
			}
		})
	}
}

// checkCallers checks that the calls an IAM audit attributes by application
// id carry the id of the function (or mapping) that made them.
func checkCallers(t *testing.T, calls []localworld.Call) {
	t.Helper()
	for _, want := range []struct{ caller, from, region, service, operation string }{
		{ReplicatorAppID, east1, east2, localworld.Kinesis, "PutRecords"},
		{ReplicatorAppID, east1, east2, localworld.DynamoDB, "GetItem"},
		{ReplicatorAppID, east1, east1, localworld.DynamoDB, "PutItem"},
		{MappingAppID, east1, east1, localworld.Kinesis, "GetRecords"},
		{FailoverAppID, east2, east2, localworld.DynamoDB, "GetItem"},
	} {
		if !slices.ContainsFunc(calls, func(c localworld.Call) bool {
			return c.Caller == want.caller && c.From == want.from && c.Region == want.region && c.Service == want.service && c.Operation == want.operation
		}) {
			t.Errorf("got no %s %s from %s to %s by %q among %+v", want.service, want.operation, want.from, want.region, want.caller, calls)
		}
	}
}

func TestAFailoverFunctionErrorComesBackAsLambdasFunctionError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := localworld.Start(ctx, localworld.Options{GlobalTableDelay: localworld.NoDelay})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.CreateStream(ctx, "orders", 1); err != nil {
		t.Fatal(err)
	}
	if err := w.CreateTables(ctx, replicator.DefaultCheckpointTable, replicator.DefaultActiveRegionTable); err != nil {
		t.Fatal(err)
	}
	d, err := Start(ctx, w, Options{Streams: []string{"orders"}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// No init: the stream has no config item, which the function refuses.
	out, err := lambdaClient(east1, d.Endpoints()[east1].Lambda).Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(FailoverFunction),
		Payload:      []byte(`{"action":"status","streams":["orders"]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ ErrorMessage, ErrorType string }
	if err := json.Unmarshal(out.Payload, &body); err != nil {
		t.Fatalf("function error payload %s: %v", out.Payload, err)
	}
	if aws.ToString(out.FunctionError) != "Unhandled" || body.ErrorMessage == "" || body.ErrorType == "" {
		t.Errorf("got FunctionError %q and payload %s, want Unhandled with the error's message and type", aws.ToString(out.FunctionError), out.Payload)
	}
}

func TestStartRefusesBadStreams(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams []string
	}{
		{"none", nil},
		{"an empty name", []string{""}},
		{"a name twice", []string{"orders", "orders"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The streams are checked before the world is used, so none is
			// started.
			if d, err := Start(context.Background(), nil, Options{Streams: tc.streams}); err == nil {
				d.Close()
				t.Fatal("got a deployment, want an error")
			}
		})
	}
}

func streamStatuses(r failover.Report) map[string]string {
	m := map[string]string{}
	for _, s := range r.Streams {
		m[s.StreamName] = s.Status
	}
	return m
}

func lambdaClient(region, endpoint string) *lambda.Client {
	return lambda.NewFromConfig(localaws.Config(region), func(o *lambda.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// invoke calls the failover function at endpoint over the Invoke API and
// decodes its report; a function error fails the test.
func invoke(ctx context.Context, t *testing.T, endpoint, region string, payload any) failover.Report {
	t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambdaClient(region, endpoint).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(FailoverFunction), Payload: raw})
	if err != nil {
		t.Fatalf("invoke %s in %s: %v", raw, region, err)
	}
	if out.FunctionError != nil {
		t.Fatalf("invoke %s in %s: function error %s: %s", raw, region, aws.ToString(out.FunctionError), out.Payload)
	}
	var r failover.Report
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatalf("invoke %s in %s: report %s: %v", raw, region, out.Payload, err)
	}
	return r
}

// waitFor polls cond until it holds; ctx bounds the wait.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	for {
		ok, err := cond()
		if ok && err == nil {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("no %s before the test's deadline (last error %v)", what, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
