package stacks_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion/activeregiontest"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint/checkpointtest"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

// lambdaEnv is the environment a deployed function sees: the template's
// variables plus what Lambda sets itself.
func lambdaEnv(t *testing.T, tpl map[string]any, function, region string) func(string) string {
	t.Helper()
	vars := functionNamed(t, tpl, function).Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	return func(key string) string {
		switch key {
		case "AWS_REGION":
			return region
		case "AWS_LAMBDA_FUNCTION_NAME":
			return function
		}
		v, _ := vars[key].(string)
		return v
	}
}

// TestDeployedConfigurationIsAcceptedByTheFunctions feeds the synthesized
// environments and the seed payload to the functions' own parsers, so a
// change on either side of the contract fails here rather than at deploy.
func TestDeployedConfigurationIsAcceptedByTheFunctions(t *testing.T) {
	for _, name := range []string{"default", "mixed"} {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(name+"/"+region, func(t *testing.T) {
				s := deployment(t, name)
				tpl := s.region(region)

				rs, err := replicator.SettingsFromEnv(lambdaEnv(t, tpl, stacks.ReplicatorFunctionName, region))
				if err != nil {
					t.Fatalf("replicator settings: %v", err)
				}
				if rs.TargetRegion != s.settings.OtherRegion(region) {
					t.Errorf("replicator target: got %s, want %s", rs.TargetRegion, s.settings.OtherRegion(region))
				}

				fs, err := failover.SettingsFromEnv(lambdaEnv(t, tpl, stacks.FailoverFunctionName, region))
				if err != nil {
					t.Fatalf("failover settings: %v", err)
				}
				// The switchover times derive from the cache TTL: the
				// failover function must work with the replicators' value.
				if fs.CacheTTL != rs.CacheTTL || fs.CacheTTL != s.settings.ActiveRegionCacheTTL {
					t.Errorf("cache TTL: failover got %s, replicator %s, want both %s", fs.CacheTTL, rs.CacheTTL, s.settings.ActiveRegionCacheTTL)
				}
				if want := s.settings.HistoryRetention(); fs.HistoryRetention != want || want < 24*time.Hour {
					t.Errorf("history retention: failover got %s, want %s (the longest stream retention, at least 24h)", fs.HistoryRetention, want)
				}

				_, _, request := seedParts(t, tpl)
				req, err := failover.DecodeRequest([]byte(request), fs)
				if err != nil {
					t.Fatalf("failover rejects the seed request %s: %v", request, err)
				}
				if req.Action != failover.ActionInit || req.TargetRegion != s.settings.PrimaryRegion {
					t.Errorf("seed request: got %s to %s, want init to %s", req.Action, req.TargetRegion, s.settings.PrimaryRegion)
				}
			})
		}
	}
}

// TestSeedEventsOfTheTemplateAreServedByTheFailoverFunction sends the
// synthesized seed's properties to the failover handler as CloudFormation
// would, on create, update and delete, so a property the handler refuses
// fails here instead of failing the deployment.
func TestSeedEventsOfTheTemplateAreServedByTheFailoverFunction(t *testing.T) {
	s := deployment(t, "mixed")
	region := s.settings.SecondaryRegion
	tpl := s.region(region)
	seed, _, _ := seedParts(t, tpl)
	fs, err := failover.SettingsFromEnv(lambdaEnv(t, tpl, stacks.FailoverFunctionName, region))
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]any{}
	for k, v := range seed.Properties {
		// CloudFormation resolves intrinsics and hands every value over
		// as a string.
		props[k] = render(v)
	}
	configs := seedOnly{activeregiontest.New()}
	h := failover.NewHandler(fs, failover.Clients{}, failover.WithStores(configs, checkpointtest.New()))
	for _, requestType := range []string{"Create", "Update", "Delete"} {
		event := map[string]any{
			"RequestType":        requestType,
			"RequestId":          "b7d2c1e4-" + requestType,
			"StackId":            "arn:aws:cloudformation:" + region + ":" + testAccount + ":stack/" + stacks.RegionStackName(region) + "/1",
			"LogicalResourceId":  seed.LogicalID,
			"ResourceType":       seedType,
			"ServiceToken":       props["ServiceToken"],
			"ResponseURL":        "https://cloudformation-custom-resource-response.example/" + requestType,
			"ResourceProperties": props,
		}
		if requestType != "Create" {
			event["PhysicalResourceId"] = failover.SeedPhysicalResourceID
		}
		if requestType == "Update" {
			event["OldResourceProperties"] = props
		}
		payload, _ := json.Marshal(event)
		r, err := h.Handle(context.Background(), payload)
		if err != nil {
			t.Fatalf("%s: got error %v, want the seed served", requestType, err)
		}
		if r.PhysicalResourceID != failover.SeedPhysicalResourceID {
			t.Errorf("%s: got PhysicalResourceId %q, want %q", requestType, r.PhysicalResourceID, failover.SeedPhysicalResourceID)
		}
	}
	for _, name := range s.settings.StreamNames() {
		if cfg, ok := configs.Item(name); !ok || cfg.ActiveRegion != s.settings.PrimaryRegion {
			t.Errorf("stream %s: got config %+v (present %v), want it active in %s", name, cfg, ok, s.settings.PrimaryRegion)
		}
	}
}

// seedOnly is the config table's double for the seed contract test, which
// is about the event's shape, not about DynamoDB (pkg/failover tests the
// seed on the emulator); a seed that switched the active Region would be
// wrong, so Switch fails.
type seedOnly struct{ *activeregiontest.Store }

func (seedOnly) Switch(context.Context, string, activeregion.Switch) (activeregion.Config, error) {
	return activeregion.Config{}, errors.New("the seed never switches the active Region")
}
