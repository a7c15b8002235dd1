package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Deployment is the three stacks of one kinesis-crr installation.
type Deployment struct {
	Global    awscdk.Stack
	Primary   awscdk.Stack
	Secondary awscdk.Stack
}

// NewDeployment adds the global stack and both Region stacks to app.
func NewDeployment(app constructs.Construct, s Settings, code Code) (*Deployment, error) {
	env := func(region string) *awscdk.Environment {
		e := &awscdk.Environment{Region: jsii.String(region)}
		if s.Account != "" {
			e.Account = jsii.String(s.Account)
		}
		return e
	}
	d := &Deployment{}
	d.Global = NewGlobalStack(app, GlobalStackName, &GlobalStackProps{
		StackProps: awscdk.StackProps{
			Env:         env(s.PrimaryRegion),
			Description: jsii.String("kinesis-crr: global tables (active Region, checkpoints)"),
		},
		Settings: s,
	})
	for _, region := range s.Regions() {
		stack, err := NewRegionStack(app, RegionStackName(region), &RegionStackProps{
			StackProps: awscdk.StackProps{
				Env:         env(region),
				Description: jsii.String("kinesis-crr: streams, replicator, failover, alarms and dashboard in " + region),
			},
			Settings: s,
			Region:   region,
			Code:     code,
		})
		if err != nil {
			return nil, err
		}
		stack.AddStackDependency(d.Global, jsii.String("the replicator and the failover function use the global tables"))
		if region == s.PrimaryRegion {
			d.Primary = stack
		} else {
			d.Secondary = stack
		}
	}
	// Seeding in the primary first means the secondary's init finds the
	// items already there instead of racing to create them.
	d.Secondary.AddStackDependency(d.Primary, jsii.String("config items are seeded in the primary Region first"))
	return d, nil
}

// CheckCompliance applies the cdk-nag AWS Solutions rules to every stack in
// scope; an unsuppressed error fails the synth.
func CheckCompliance(scope constructs.Construct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
