package stacks_test

import (
	"encoding/json"
	"testing"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
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

				var call struct {
					Parameters struct{ Payload string } `json:"parameters"`
				}
				if err := json.Unmarshal([]byte(render(only(t, tpl, "Custom::AWS").Properties["Create"])), &call); err != nil {
					t.Fatalf("decode seed call: %v", err)
				}
				req, err := failover.DecodeRequest([]byte(call.Parameters.Payload), fs)
				if err != nil {
					t.Fatalf("failover rejects the seed payload %s: %v", call.Parameters.Payload, err)
				}
				if req.Action != failover.ActionInit || req.TargetRegion != s.settings.PrimaryRegion {
					t.Errorf("seed request: got %s to %s, want init to %s", req.Action, req.TargetRegion, s.settings.PrimaryRegion)
				}
			})
		}
	}
}
