package stacks

// Physical names that the other Region, the functions or operators refer to
// (docs/reference.md, Tables); they are the same in both Regions.
const (
	GlobalStackName        = "KdsCrr-Global"
	CheckpointTableName    = "kdsReplicationCheckpoint"
	ActiveRegionTableName  = "kdsActiveRegionConfig"
	ReplicatorFunctionName = "kds-crr-replicator"
	FailoverFunctionName   = "kds-crr-failover"
	ConsumerName           = "kds-crr-replicator"
	MetricsNamespace       = "KinesisReplication"
)

// RegionStackName is the name of the stack deployed to region.
func RegionStackName(region string) string { return "KdsCrr-" + region }

// DashboardName is the name of the CloudWatch dashboard in region.
func DashboardName(region string) string { return "KdsCrr-" + region }

// StreamsStackName is the name of the stack of region's streams, deployed
// before either Region's compute stack.
func StreamsStackName(region string) string { return "KdsCrr-Streams-" + region }

// OperatorPolicyName is the customer-managed policy, one per Region, that
// lets an operator run the failover function and read what it decides on.
func OperatorPolicyName(region string) string { return "KdsCrr-Operator-" + region }

// Cost-allocation and ownership tags: every stack and taggable resource
// carries TagProject; the resources of one stream carry TagStream too.
const (
	TagProject      = "project"
	TagProjectValue = "kinesis-crr"
	TagStream       = "stream"
)
