package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Deployment is the five stacks of one kinesis-crr installation: the
// global tables, each Region's streams, and each Region's compute.
type Deployment struct {
	Global           awscdk.Stack
	PrimaryStreams   awscdk.Stack
	SecondaryStreams awscdk.Stack
	Primary          awscdk.Stack
	Secondary        awscdk.Stack
}

// Stacks returns the stacks in deployment order.
func (d *Deployment) Stacks() []awscdk.Stack {
	return []awscdk.Stack{d.Global, d.PrimaryStreams, d.SecondaryStreams, d.Primary, d.Secondary}
}

// NewDeployment adds the global stack, both streams stacks and both Region
// stacks to app. Both streams stacks come before either Region stack, so a
// mapping never reads from TRIM_HORIZON into a target stream that does not
// exist yet, also when a stream is added later.
func NewDeployment(app constructs.Construct, s Settings, code Code) (*Deployment, error) {
	tags := &map[string]*string{TagProject: jsii.String(TagProjectValue)}
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
			Tags:        tags,
		},
		Settings: s,
	})
	var streamStacks []awscdk.Stack
	for _, region := range s.Regions() {
		stack := NewStreamsStack(app, StreamsStackName(region), &StreamsStackProps{
			StackProps: awscdk.StackProps{
				Env:         env(region),
				Description: jsii.String("kinesis-crr: the replicated streams in " + region),
				Tags:        tags,
			},
			Settings: s,
		})
		streamStacks = append(streamStacks, stack)
	}
	d.PrimaryStreams, d.SecondaryStreams = streamStacks[0], streamStacks[1]
	for _, region := range s.Regions() {
		stack, err := NewRegionStack(app, RegionStackName(region), &RegionStackProps{
			StackProps: awscdk.StackProps{
				Env:         env(region),
				Description: jsii.String("kinesis-crr: consumers, replicator, failover, alarms and dashboard in " + region),
				Tags:        tags,
			},
			Settings: s,
			Region:   region,
			Code:     code,
		})
		if err != nil {
			return nil, err
		}
		stack.AddStackDependency(d.Global, jsii.String("the replicator and the failover function use the global tables"))
		for _, streams := range streamStacks {
			stack.AddStackDependency(streams, jsii.String("a mapping starts at TRIM_HORIZON: its own and its target streams must exist first"))
		}
		if region == s.PrimaryRegion {
			d.Primary = stack
		} else {
			d.Secondary = stack
		}
	}
	// Seeding in the primary first means the secondary's init finds the
	// items already there instead of racing to create them.
	d.Secondary.AddStackDependency(d.Primary, jsii.String("config items are seeded in the primary Region first"))
	for _, stack := range d.Stacks() {
		// Stack tags (StackProps.Tags) reach the stack; these reach every
		// taggable resource in it.
		awscdk.Tags_Of(stack).Add(jsii.String(TagProject), jsii.String(TagProjectValue), &awscdk.TagProps{
			// The CDK construct writes Tags on the dashboard, but
			// AWS::CloudWatch::Dashboard has no Tags property (cfn-lint E3002).
			ExcludeResourceTypes: jsii.Strings("AWS::CloudWatch::Dashboard"),
		})
	}
	return d, nil
}

// CheckCompliance applies the cdk-nag AWS Solutions rules to every stack in
// scope; an unsuppressed error fails the synth.
func CheckCompliance(scope constructs.Construct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
