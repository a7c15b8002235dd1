package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// StreamsStackProps configures the stack of one Region's streams.
type StreamsStackProps struct {
	awscdk.StackProps
	Settings Settings
}

// NewStreamsStack creates the streams of one Region that are not existing
// ones. Both Regions' streams stacks deploy before either compute stack, so
// that no event source mapping starts while its target stream is missing.
//
// The construct ids are those the streams had in the Region stack
// ("Stream-<name>"), so their logical ids are unchanged; see the README
// ("Upgrading") for moving streams of an earlier deployment here.
func NewStreamsStack(scope constructs.Construct, id string, props *StreamsStackProps) awscdk.Stack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	created := 0
	for _, spec := range props.Settings.Streams {
		if spec.Existing {
			continue
		}
		stream := awskinesis.NewStream(stack, jsii.String("Stream-"+spec.Name), streamProps(spec))
		awscdk.Tags_Of(stream).Add(jsii.String(TagStream), jsii.String(spec.Name), nil)
		created++
	}
	if created == 0 {
		// Every stream is adopted: CloudFormation refuses a template
		// without resources, and the stack stays in the order all the same.
		awscdk.NewCfnWaitConditionHandle(stack, jsii.String("NoStreamsCreated"), nil)
	}
	return stack
}

func streamProps(spec StreamSpec) *awskinesis.StreamProps {
	p := &awskinesis.StreamProps{
		StreamName: jsii.String(spec.Name),
		Encryption: awskinesis.StreamEncryption_MANAGED,
		// Retained on update and delete, but deleted when the create that
		// made it fails, so that a retry of a failed first deploy does not
		// meet the stream it left behind (AlreadyExists).
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE,
		StreamMode:      awskinesis.StreamMode_ON_DEMAND,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(spec.Retention().Hours())),
	}
	if spec.ShardCount > 0 {
		p.StreamMode = awskinesis.StreamMode_PROVISIONED
		p.ShardCount = jsii.Number(spec.ShardCount)
	}
	return p
}
