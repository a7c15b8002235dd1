package stacks

// Physical names that the other Region, the functions or operators refer to
// (DESIGN.md "Contracts"); they are the same in both Regions.
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
