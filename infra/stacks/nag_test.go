package stacks_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
)

func TestCdkNagAwsSolutionsLeavesNoUnsuppressedFinding(t *testing.T) {
	s := synth(t, map[string]any{"account": testAccount, "alarmEmail": "ops@example.com", "parkStandby": true}, true)
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
}
