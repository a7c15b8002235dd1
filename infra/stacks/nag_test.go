package stacks_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
)

func TestCdkNagAwsSolutionsLeavesNoUnsuppressedFinding(t *testing.T) {
	tests := []struct {
		name    string
		context map[string]any
	}{
		{"parked with email", map[string]any{"account": testAccount, "alarmEmail": "ops@example.com", "parkStandby": true}},
		{"on-demand without mirror, account-agnostic", map[string]any{"mirrorMetrics": false,
			"streams": `[{"name":"orders","shardCount":0},{"name":"clicks","shardCount":4}]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := synth(t, tt.context, true)
			for _, stack := range s.deploymentStacks() {
				annotations := assertions.Annotations_FromStack(stack)
				for kind, find := range map[string]func(*string, any) *[]*cxapi.SynthesisMessage{
					"error":   annotations.FindError,
					"warning": annotations.FindWarning,
				} {
					var found *[]*cxapi.SynthesisMessage
					mustNotPanic(t, "annotations", func() {
						found = find(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
					})
					for _, f := range *found {
						t.Errorf("%s: unsuppressed cdk-nag %s at %s: %v", *stack.StackName(), kind, *f.Id, f.Entry.Data)
					}
				}
			}
		})
	}
}

// TestEverySuppressionSaysWhyItIsRight keeps the suppressions few and
// specific: each names the rule, its scope where the rule allows one, and a
// reason that mentions what makes the finding acceptable.
func TestEverySuppressionSaysWhyItIsRight(t *testing.T) {
	want := map[string][]string{
		"AwsSolutions-IAM5": {"PutMetricData", "cloudwatch:namespace"},
		"AwsSolutions-SQS3": {"on-failure destination", "depth alarm"},
	}
	seen := map[string]bool{}
	for stackName, tpl := range deployment(t, "default").templates {
		for _, typ := range []string{"AWS::SQS::Queue", "AWS::IAM::Policy", "AWS::IAM::Role", "AWS::Lambda::Function", "AWS::SNS::Topic", "AWS::KMS::Key"} {
			for _, r := range resources(tpl, typ) {
				nag, ok := r.Metadata["cdk_nag"].(map[string]any)
				if !ok {
					continue
				}
				for _, raw := range nag["rules_to_suppress"].([]any) {
					rule := raw.(map[string]any)
					id, _ := rule["id"].(string)
					reason, _ := rule["reason"].(string)
					phrases, known := want[id]
					if !known {
						t.Errorf("%s %s: got a suppression of %s, want only %v", stackName, r.LogicalID, id, keys(want))
						continue
					}
					seen[id] = true
					for _, p := range phrases {
						if !strings.Contains(reason, p) {
							t.Errorf("%s %s: %s reason %q does not mention %q", stackName, r.LogicalID, id, reason, p)
						}
					}
					if id == "AwsSolutions-IAM5" && jsonOf(rule["applies_to"]) != `["Resource::*"]` {
						t.Errorf("%s %s: IAM5 applies to %s, want only Resource::*", stackName, r.LogicalID, jsonOf(rule["applies_to"]))
					}
				}
			}
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("got no %s suppression, want one (or drop it from this list)", id)
		}
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return sorted(out)
}
