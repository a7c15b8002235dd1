package failover

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
)

func TestSeedEventOnDynamoDBCreatesConfigOnceAndNeverOverwrites(t *testing.T) {
	ctx := inLambda("operator")
	s, ddb := dynamoTables(t)
	clock := t0
	h := NewHandler(s, Clients{DynamoDB: ddb}, WithClock(func() time.Time { return clock }), WithLogger(discardLogger()), noSettle)
	configs := activeregion.NewStore(ddb, s.ActiveRegionTable)
	create, err := os.ReadFile(filepath.Join("testdata", "cfn", "create.json"))
	if err != nil {
		t.Fatal(err)
	}
	seed := func(requestID string) Report {
		t.Helper()
		got, err := lambda.NewHandler(h.Handle).Invoke(inLambda(requestID), create)
		if err != nil {
			t.Fatalf("seed %s: got error %v, want success", requestID, err)
		}
		var r Report
		if err := json.Unmarshal(got, &r); err != nil {
			t.Fatal(err)
		}
		if r.PhysicalResourceID != SeedPhysicalResourceID {
			t.Errorf("seed %s: got PhysicalResourceId %q, want %q", requestID, r.PhysicalResourceID, SeedPhysicalResourceID)
		}
		return r
	}

	r := seed("cfn-create-1")
	wantStatuses(t, "first seed", r, map[string]string{"orders": StatusCreated, "refunds": StatusCreated})
	for _, stream := range []string{"orders", "refunds"} {
		item, err := configs.Get(ctx, stream)
		if err != nil {
			t.Fatalf("first seed: %s: %v", stream, err)
		}
		if item.ActiveRegion != east1 || item.Epoch != 1 || !strings.HasPrefix(item.History[0].RequestedBy, "CloudFormation arn:aws:cloudformation:") {
			t.Fatalf("first seed: got %s active in %s, epoch %d, requested by %q, want %s, 1, the stack",
				stream, item.ActiveRegion, item.Epoch, item.History[0].RequestedBy, east1)
		}
	}

	clock = t0.Add(time.Hour)
	r = invoke(t, h, ctx, `{"targetRegion":"us-east-2","streams":["orders"],"reason":"drill"}`)
	wantStatuses(t, "failover", r, map[string]string{"orders": StatusSwitched})

	// A second Create (the stack recreated, or the seed resource replaced)
	// after the failover must leave the operator's choice alone.
	clock = t0.Add(2 * time.Hour)
	r = seed("cfn-create-2")
	wantStatuses(t, "second seed", r, map[string]string{"orders": StatusExists, "refunds": StatusExists})
	want := map[string]struct {
		region string
		epoch  int64
		since  time.Time
	}{
		"orders":  {east2, 2, switchSince.Add(t0.Add(time.Hour).Sub(now))},
		"refunds": {east1, 1, t0},
	}
	for stream, w := range want {
		item, err := configs.Get(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if item.ActiveRegion != w.region || item.Epoch != w.epoch || !item.ActiveSince.Equal(w.since) {
			t.Errorf("second seed: got %s active in %s since %v at epoch %d, want %s since %v at epoch %d",
				stream, item.ActiveRegion, item.ActiveSince, item.Epoch, w.region, w.since, w.epoch)
		}
	}
}

func TestSeedEventOnDynamoDBFailsWhenTheTableIsMissing(t *testing.T) {
	s, ddb := dynamoTables(t)
	s.ActiveRegionTable = "no-such-table"
	h := NewHandler(s, Clients{DynamoDB: ddb}, WithLogger(discardLogger()), noSettle)
	create, err := os.ReadFile(filepath.Join("testdata", "cfn", "create.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := lambda.NewHandler(h.Handle).Invoke(inLambda("cfn-create"), create)
	if err == nil {
		t.Fatalf("got response %s, want an error that fails the deployment", got)
	}
	if !errors.Is(err, ErrSeedFailed) || !strings.Contains(err.Error(), "no-such-table") {
		t.Errorf("got error %v, want a failed seed naming the table", err)
	}
}
