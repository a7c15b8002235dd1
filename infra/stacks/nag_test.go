package stacks_test

import (
	"slices"
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
	type allowed struct {
		id        string
		appliesTo string // JSON of applies_to; empty when the rule has no scope
		phrases   []string
	}
	want := []allowed{
		{"AwsSolutions-IAM5", `["Resource::*"]`, []string{"PutMetricData", "cloudwatch:namespace"}},
		{"AwsSolutions-IAM5", `[{"regex":"/^Resource::\u003cFailover[0-9A-F]{8}\\.Arn\u003e:\\*$/"}]`,
			[]string{"provider framework", "grantInvoke", "versions", "one function"}},
		{"AwsSolutions-SQS3", "", []string{"on-failure destination", "depth alarm"}},
		{"AwsSolutions-IAM5", `["Resource::*"]`, []string{"GetMetricData", "aws:RequestedRegion", "reads only"}},
	}
	seen := make([]bool, len(want))
	for stackName, tpl := range deployment(t, "default").templates {
		for _, typ := range []string{"AWS::SQS::Queue", "AWS::IAM::Policy", "AWS::IAM::Role", "AWS::Lambda::Function", "AWS::SNS::Topic", "AWS::KMS::Key", "AWS::IAM::ManagedPolicy"} {
			for _, r := range resources(tpl, typ) {
				nag, ok := r.Metadata["cdk_nag"].(map[string]any)
				if !ok {
					continue
				}
				for _, raw := range nag["rules_to_suppress"].([]any) {
					rule := raw.(map[string]any)
					id, _ := rule["id"].(string)
					reason, _ := rule["reason"].(string)
					scope := ""
					if a, ok := rule["applies_to"]; ok {
						scope = jsonOf(a)
					}
					// Two rules may share id and scope; the first phrase tells them apart.
					i := slices.IndexFunc(want, func(w allowed) bool {
						return w.id == id && w.appliesTo == scope && strings.Contains(reason, w.phrases[0])
					})
					if i < 0 {
						t.Errorf("%s %s: got a suppression of %s applying to %q, want only %v", stackName, r.LogicalID, id, scope, want)
						continue
					}
					seen[i] = true
					for _, p := range want[i].phrases {
						if !strings.Contains(reason, p) {
							t.Errorf("%s %s: %s reason %q does not mention %q", stackName, r.LogicalID, id, reason, p)
						}
					}
				}
			}
		}
	}
	for i, w := range want {
		if !seen[i] {
			t.Errorf("got no %s suppression applying to %s, want one (or drop it from this list)", w.id, w.appliesTo)
		}
	}
}
