package localdeploy

import (
	"testing"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
)

// The operator CLI invokes the function by the name the CDK app gives it;
// the local deployment must serve it under the same one.
func TestTheFailoverFunctionHasTheDeployedName(t *testing.T) {
	if FailoverFunction != stacks.FailoverFunctionName {
		t.Errorf("got %q, want infra/stacks.FailoverFunctionName %q", FailoverFunction, stacks.FailoverFunctionName)
	}
}
