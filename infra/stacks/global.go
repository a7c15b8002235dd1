package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// GlobalStackProps configures the stack of the global tables.
type GlobalStackProps struct {
	awscdk.StackProps
	Settings Settings
}

// NewGlobalStack creates the two global tables in the primary Region with a
// replica in the secondary Region.
func NewGlobalStack(scope constructs.Construct, id string, props *GlobalStackProps) awscdk.Stack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := props.Settings

	checkpoint := newGlobalTable(stack, "CheckpointTable", CheckpointTableName, s.SecondaryRegion,
		&awsdynamodb.Attribute{Name: jsii.String("streamName"), Type: awsdynamodb.AttributeType_STRING},
		&awsdynamodb.Attribute{Name: jsii.String("shardId"), Type: awsdynamodb.AttributeType_STRING})
	activeRegion := newGlobalTable(stack, "ActiveRegionTable", ActiveRegionTableName, s.SecondaryRegion,
		&awsdynamodb.Attribute{Name: jsii.String("streamName"), Type: awsdynamodb.AttributeType_STRING}, nil)

	awscdk.NewCfnOutput(stack, jsii.String("CheckpointTableName"), &awscdk.CfnOutputProps{
		Value:       checkpoint.TableName(),
		Description: jsii.String("Per-shard replication checkpoints (global table)"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("ActiveRegionTableName"), &awscdk.CfnOutputProps{
		Value:       activeRegion.TableName(),
		Description: jsii.String("Active Region per stream (global table)"),
	})
	return stack
}

// newGlobalTable keeps the tables through a stack deletion and guards them
// against deletion: they hold the active Region and the failover resume
// points, which nothing else can rebuild. RetainExceptOnCreate lets the
// rollback of a failed first deploy remove them, so that its retry does not
// fail on tables it left behind.
func newGlobalTable(stack awscdk.Stack, id, name, replicaRegion string, pk, sk *awsdynamodb.Attribute) awsdynamodb.TableV2 {
	return awsdynamodb.NewTableV2(stack, jsii.String(id), &awsdynamodb.TablePropsV2{
		TableName:    jsii.String(name),
		PartitionKey: pk,
		SortKey:      sk,
		Billing:      awsdynamodb.Billing_OnDemand(nil),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE,
		Replicas:           &[]*awsdynamodb.ReplicaTableProps{{Region: jsii.String(replicaRegion)}},
	})
}
