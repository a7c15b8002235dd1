package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
)

// Code locates the built function binaries (directories holding `bootstrap`).
type Code struct {
	ReplicatorDir string
	FailoverDir   string
}

// RegionStackProps configures the stack of one Region.
type RegionStackProps struct {
	awscdk.StackProps
	Settings Settings
	// Region is the Region this stack deploys to: the primary or the
	// secondary of Settings.
	Region string
	Code   Code
}

// InitPayload is the failover function's `init` request that seeds the
// active-Region config: the primary Region is active for every stream that
// has no item yet.
type InitPayload struct {
	Action       string   `json:"action"`
	TargetRegion string   `json:"targetRegion"`
	Streams      []string `json:"streams"`
}

// regionStack carries what the parts of one Region stack share.
type regionStack struct {
	stack     awscdk.Stack
	settings  Settings
	region    string
	other     string
	streams   []awskinesis.IStream
	consumers []awskinesis.StreamConsumer
}

// NewRegionStack creates the streams, the replicator with one event source
// mapping per stream, the failover function, the config seeding, the alarms
// and the dashboard of one Region.
func NewRegionStack(scope constructs.Construct, id string, props *RegionStackProps) (awscdk.Stack, error) {
	s := props.Settings
	if props.Region != s.PrimaryRegion && props.Region != s.SecondaryRegion {
		return nil, fmt.Errorf("stack %s: Region %q is neither %s nor %s", id, props.Region, s.PrimaryRegion, s.SecondaryRegion)
	}
	for _, dir := range []string{props.Code.ReplicatorDir, props.Code.FailoverDir} {
		if _, err := os.Stat(filepath.Join(dir, "bootstrap")); err != nil {
			return nil, fmt.Errorf("function code for %s: %w (build it with scripts/build.sh; cdk runs it as the cdk.json build step)", id, err)
		}
	}
	payload, err := json.Marshal(InitPayload{
		Action:       "init",
		TargetRegion: s.PrimaryRegion,
		Streams:      s.StreamNames(),
	})
	if err != nil {
		return nil, fmt.Errorf("encode init payload: %w", err)
	}
	rs := &regionStack{
		stack:    awscdk.NewStack(scope, jsii.String(id), &props.StackProps),
		settings: s,
		region:   props.Region,
		other:    s.OtherRegion(props.Region),
	}

	// The streams live in the Region's streams stack (or exist already):
	// this stack refers to them by ARN, which their names fix, so it has
	// no cross-stack reference that would pin them.
	for _, spec := range s.Streams {
		stream := awskinesis.Stream_FromStreamArn(rs.stack, jsii.String("SourceStream-"+spec.Name),
			rs.arn("kinesis", rs.region, "stream", spec.Name, awscdk.ArnFormat_SLASH_RESOURCE_NAME))
		rs.streams = append(rs.streams, stream)
		consumer := awskinesis.NewStreamConsumer(rs.stack, jsii.String("Consumer-"+spec.Name), &awskinesis.StreamConsumerProps{
			Stream:             stream,
			StreamConsumerName: jsii.String(ConsumerName),
		})
		rs.consumers = append(rs.consumers, consumer)
		tagStream(consumer, spec.Name)
	}

	failures := awssqs.NewQueue(rs.stack, jsii.String("ReplicatorFailures"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	replicator, replicatorRole := rs.newReplicator(props.Code.ReplicatorDir, failures)
	rs.suppressFindings(failures, replicatorRole)
	failoverFn := rs.newFailover(props.Code.FailoverDir)
	seed := rs.newSeed(failoverFn, string(payload))
	rs.newMappings(replicator, replicatorRole, failures, seed)

	topic := rs.newAlarmTopic()
	rs.newAlarms(topic, replicator, failures)
	rs.newDashboard(replicator, failures)
	rs.newOperatorPolicy(failoverFn)
	rs.newOutputs(replicator, failoverFn, topic)
	return rs.stack, nil
}

// tagStream marks scope's taggable resources as belonging to stream.
func tagStream(scope constructs.IConstruct, stream string) {
	awscdk.Tags_Of(scope).Add(jsii.String(TagStream), jsii.String(stream), nil)
}

// newOperatorPolicy is the customer-managed policy an operator of this
// Region needs and nothing more: invoke the failover function (failover,
// status, init), read both tables' replicas here, read the streams (their
// summaries, and their records for kdscrr lag, verify and translate), the
// dashboard and the metrics. kdscrr translate's reads of the sync point
// trails are Queries of the checkpoint table, already granted; the KCL lease
// tables it reads (--kcl-lease-table) and writes (--write-lease-table) are
// the user's own, which this policy does not grant: docs/cli.md says what to
// add. Nothing attaches it: the account's administrators attach it to the
// operators' role or group.
func (rs *regionStack) newOperatorPolicy(failoverFn awslambda.Function) awsiam.ManagedPolicy {
	var streams []*string
	for _, st := range rs.streams {
		streams = append(streams, st.StreamArn())
	}
	policy := awsiam.NewManagedPolicy(rs.stack, jsii.String("OperatorPolicy"), &awsiam.ManagedPolicyProps{
		ManagedPolicyName: jsii.String(OperatorPolicyName(rs.region)),
		Description:       jsii.String("kinesis-crr operator in " + rs.region + ": run the failover function, read the tables, streams, dashboard and metrics"),
		Statements: &[]awsiam.PolicyStatement{
			statement("InvokeFailover", []string{"lambda:InvokeFunction"}, &[]*string{failoverFn.FunctionArn()}),
			statement("ReadTables", []string{"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"},
				&[]*string{
					rs.arn("dynamodb", rs.region, "table", ActiveRegionTableName, awscdk.ArnFormat_SLASH_RESOURCE_NAME),
					rs.arn("dynamodb", rs.region, "table", CheckpointTableName, awscdk.ArnFormat_SLASH_RESOURCE_NAME),
				}),
			// kdscrr lag and verify read the streams (ListShards,
			// GetShardIterator, GetRecords); reads only.
			statement("ReadStreams", []string{"kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"}, &streams),
			statement("ReadDashboard", []string{"cloudwatch:GetDashboard"},
				&[]*string{rs.arn("cloudwatch", "", "dashboard", DashboardName(rs.region), awscdk.ArnFormat_SLASH_RESOURCE_NAME)}),
			// Metric reads have no resource-level permissions; the Region
			// condition keeps them to this Region.
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("ReadMetrics"),
				Actions:    jsii.Strings("cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics"),
				Resources:  jsii.Strings("*"),
				Conditions: &map[string]any{"StringEquals": map[string]any{"aws:RequestedRegion": rs.region}},
			}),
		},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(policy, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		AppliesTo: &[]any{"Resource::*"},
		Reason: jsii.String("cloudwatch:GetMetricData, GetMetricStatistics and ListMetrics have no resource-level permissions, so their resource must be *; " +
			"the statement is limited to this Region by an aws:RequestedRegion condition and grants reads only."),
	}}, jsii.Bool(true))
	return policy
}

// arn builds an ARN in this account for region: another Region's resources
// share names with this one's, so their ARNs need no cross-stack reference.
func (rs *regionStack) arn(service, region, resource, name string, format awscdk.ArnFormat) *string {
	return rs.stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String(service),
		Region:       jsii.String(region),
		Resource:     jsii.String(resource),
		ResourceName: jsii.String(name),
		ArnFormat:    format,
	})
}

// tableArn is the ARN of table's replica in region.
func (rs *regionStack) tableArn(region, table string) *[]*string {
	return &[]*string{rs.arn("dynamodb", region, "table", table, awscdk.ArnFormat_SLASH_RESOURCE_NAME)}
}

func (rs *regionStack) otherRegionStreamArns() *[]*string {
	var arns []*string
	for _, name := range rs.settings.StreamNames() {
		arns = append(arns, rs.arn("kinesis", rs.other, "stream", name, awscdk.ArnFormat_SLASH_RESOURCE_NAME))
	}
	return &arns
}

// streamArnsInBothRegions are the configured streams in every Region: the
// failover function lists their shards in the Region it fails away from,
// and in its own when that one does not answer.
func (rs *regionStack) streamArnsInBothRegions() *[]*string {
	var arns []*string
	for _, r := range rs.settings.Regions() {
		for _, name := range rs.settings.StreamNames() {
			arns = append(arns, rs.arn("kinesis", r, "stream", name, awscdk.ArnFormat_SLASH_RESOURCE_NAME))
		}
	}
	return &arns
}

func (rs *regionStack) replicatorArns() *[]*string {
	var arns []*string
	for _, r := range rs.settings.Regions() {
		arns = append(arns, rs.arn("lambda", r, "function", ReplicatorFunctionName, awscdk.ArnFormat_COLON_RESOURCE_NAME))
	}
	return &arns
}

func statement(sid string, actions []string, resources *[]*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings(actions...),
		Resources: resources,
	})
}

// newFunctionRole gives a function a role of its own whose only log
// permission is to its own log group, instead of the managed basic execution
// policy that allows every log group.
func (rs *regionStack) newFunctionRole(id string, logGroup awslogs.LogGroup) awsiam.Role {
	role := awsiam.NewRole(rs.stack, jsii.String(id), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	role.AddToPrincipalPolicy(statement("WriteOwnLogs",
		[]string{"logs:CreateLogStream", "logs:PutLogEvents"},
		&[]*string{logGroup.LogGroupArn()}))
	return role
}

// newLogGroup keeps function logs after a stack deletion (but not after the
// failed create that made them, which a retry would otherwise find in its
// way): the failover log is the audit trail of every switch of the active
// Region, kept for retention.
func (rs *regionStack) newLogGroup(id, functionName string, retention awslogs.RetentionDays) awslogs.LogGroup {
	return awslogs.NewLogGroup(rs.stack, jsii.String(id), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + functionName),
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE,
	})
}

func (rs *regionStack) newReplicator(codeDir string, failures awssqs.Queue) (awslambda.Function, awsiam.Role) {
	s := rs.settings
	logGroup := rs.newLogGroup("ReplicatorLogs", ReplicatorFunctionName, awslogs.RetentionDays_THREE_MONTHS)
	role := rs.newFunctionRole("ReplicatorRole", logGroup)

	var ownStreams, ownConsumers []*string
	for i := range rs.streams {
		ownStreams = append(ownStreams, rs.streams[i].StreamArn())
		ownConsumers = append(ownConsumers, rs.consumers[i].StreamConsumerArn())
	}
	role.AddToPrincipalPolicy(statement("ReadOwnStreams",
		[]string{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"},
		&ownStreams))
	role.AddToPrincipalPolicy(statement("ReadOwnConsumers",
		[]string{"kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"},
		&ownConsumers))
	// ListShards: the writer paces each target shard by its hash range.
	role.AddToPrincipalPolicy(statement("WriteOtherRegionStreams",
		[]string{"kinesis:PutRecords", "kinesis:DescribeStreamSummary", "kinesis:ListShards"},
		rs.otherRegionStreamArns()))
	role.AddToPrincipalPolicy(statement("ReadActiveRegionConfig",
		[]string{"dynamodb:GetItem"},
		rs.tableArn(rs.region, ActiveRegionTableName)))
	// The fence: a failover into the target Region is written to that
	// Region's replica first, so the replicator reads it there before it
	// writes (GetItem only, that one replica).
	role.AddToPrincipalPolicy(statement("FenceReadTargetRegionConfig",
		[]string{"dynamodb:GetItem"},
		rs.tableArn(rs.other, ActiveRegionTableName)))
	// checkpoint.Store.Save: the replicator writes its own Region's
	// replica only; global-table replication carries the item across.
	role.AddToPrincipalPolicy(statement("WriteCheckpoints",
		[]string{"dynamodb:PutItem"},
		rs.tableArn(rs.region, CheckpointTableName)))
	// checkpoint.Store.Get (a batch that may come again reads its shard's
	// checkpoint to leave out what it covers) and the trail's read before
	// an append: consistent reads of the own Region's items.
	role.AddToPrincipalPolicy(statement("ReadOwnCheckpoints",
		[]string{"dynamodb:GetItem"},
		rs.tableArn(rs.region, CheckpointTableName)))
	// checkpoint.Store.MarkDrained: a conditional UpdateItem on the own
	// Region's replica, once a closed epoch's records of a shard are all in.
	role.AddToPrincipalPolicy(statement("MarkShardsDrained",
		[]string{"dynamodb:UpdateItem"},
		rs.tableArn(rs.region, CheckpointTableName)))
	role.AddToPrincipalPolicy(statement("SendFailedBatches",
		[]string{"sqs:SendMessage"},
		&[]*string{failures.QueueArn()}))

	env := map[string]*string{
		"TARGET_REGION":           jsii.String(rs.other),
		"CHECKPOINT_TABLE":        jsii.String(CheckpointTableName),
		"ACTIVE_REGION_TABLE":     jsii.String(ActiveRegionTableName),
		"ORDERING":                jsii.String(s.OrderingMode),
		"ACTIVE_REGION_CACHE_TTL": jsii.String(s.ActiveRegionCacheTTL.String()),
		"METRICS_NAMESPACE":       jsii.String(MetricsNamespace),
	}
	if s.MirrorMetrics {
		// The mirror makes lag alarm in the standby Region too, so an
		// operator there sees trouble even when the active Region's
		// console is what is failing.
		env["METRICS_MIRROR_REGION"] = jsii.String(rs.other)
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("MirrorMetrics"),
			Actions:   jsii.Strings("cloudwatch:PutMetricData"),
			Resources: jsii.Strings("*"),
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"cloudwatch:namespace": MetricsNamespace},
			},
		}))
	}

	props := &awslambda.FunctionProps{
		FunctionName:  jsii.String(ReplicatorFunctionName),
		Description:   jsii.String(fmt.Sprintf("kinesis-crr: replicates records from %s to %s", rs.region, rs.other)),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(codeDir), nil),
		MemorySize:    jsii.Number(512),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(60)),
		Environment:   &env,
		Role:          role,
		LogGroup:      logGroup,
		LoggingFormat: awslambda.LoggingFormat_JSON,
	}
	if s.ParkStandby && rs.region == s.SecondaryRegion {
		// Parked: the mapping keeps its position but nothing runs until the
		// failover function lifts the limit.
		props.ReservedConcurrentExecutions = jsii.Number(0)
	}
	return awslambda.NewFunction(rs.stack, jsii.String("Replicator"), props), role
}

// FailoverTimeout is the failover function's timeout. A call must finish
// even when the old Region hangs: its cross-Region work has a deadline of
// its own (10 s) and a forced switch may wait about 15 s, so 5 minutes
// leaves ample room.
const FailoverTimeout = 5 * time.Minute

// FailoverReadTimeout is the AWS CLI read timeout FailoverCommandAWSCLIV2
// sets. It is above FailoverTimeout: the CLI's default (60 s) would give up
// on a call still running and retry it, invoking the failover again.
const FailoverReadTimeout = FailoverTimeout + 30*time.Second

// formatHours writes a whole number of hours as a Go duration ("168h").
func formatHours(d time.Duration) string {
	return fmt.Sprintf("%dh", int64(d/time.Hour))
}

func (rs *regionStack) newFailover(codeDir string) awslambda.Function {
	s := rs.settings
	logGroup := rs.newLogGroup("FailoverLogs", FailoverFunctionName, awslogs.RetentionDays_ONE_YEAR)
	role := rs.newFunctionRole("FailoverRole", logGroup)
	// The failover function reads and writes its own Region's replicas
	// only; the other Region learns of a switch through the global table.
	role.AddToPrincipalPolicy(statement("SwitchActiveRegion",
		[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"},
		rs.tableArn(rs.region, ActiveRegionTableName)))
	role.AddToPrincipalPolicy(statement("ReadCheckpoints",
		[]string{"dynamodb:Query"},
		rs.tableArn(rs.region, CheckpointTableName)))
	// ListShards checks every shard of the Region left has a checkpoint;
	// GetShardIterator and GetRecords read on from a checkpoint to tell
	// whether a drain-mode switch has drained (status).
	role.AddToPrincipalPolicy(statement("ReadStreamShards",
		[]string{"kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"},
		rs.streamArnsInBothRegions()))
	role.AddToPrincipalPolicy(statement("ParkAndUnparkReplicators",
		[]string{"lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency", "lambda:GetFunctionConcurrency"},
		rs.replicatorArns()))

	return awslambda.NewFunction(rs.stack, jsii.String("Failover"), &awslambda.FunctionProps{
		FunctionName: jsii.String(FailoverFunctionName),
		Description:  jsii.String("kinesis-crr: switches the active Region, reports resume points, seeds config"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(codeDir), nil),
		MemorySize:   jsii.Number(256),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(FailoverTimeout.Seconds())),
		Environment: &map[string]*string{
			"CHECKPOINT_TABLE":         jsii.String(CheckpointTableName),
			"ACTIVE_REGION_TABLE":      jsii.String(ActiveRegionTableName),
			"REGIONS":                  jsii.String(strings.Join(s.Regions(), ",")),
			"REPLICATOR_FUNCTION_NAME": jsii.String(ReplicatorFunctionName),
			// The switchover times (since, settle, hold) derive from the
			// replicators' cache TTL: both functions get the same value.
			"ACTIVE_REGION_CACHE_TTL": jsii.String(s.ActiveRegionCacheTTL.String()),
			"HISTORY_RETENTION":       jsii.String(formatHours(s.HistoryRetention())),
		},
		Role:          role,
		LogGroup:      logGroup,
		LoggingFormat: awslambda.LoggingFormat_JSON,
	})
}

// newSeed runs the failover function's init action at create and at every
// update (a new stream in the list changes the request) through the CDK
// provider framework, which invokes the function synchronously with the
// custom-resource event and fails the resource, and so the deployment, when
// the function returns an error: init that leaves a stream without a config
// item returns one. init only creates missing items, so a redeploy after a
// failover leaves the active Region where the operator put it; a stack
// deletion leaves every item.
func (rs *regionStack) newSeed(failoverFn awslambda.Function, request string) awscdk.CustomResource {
	logGroup := awslogs.NewLogGroup(rs.stack, jsii.String("SeedLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// A role of our own keeps the framework function's log permission to
	// its own log group; the provider adds the invoke permission on the
	// failover function itself.
	role := rs.newFunctionRole("SeedRole", logGroup)
	provider := customresources.NewProvider(rs.stack, jsii.String("SeedProvider"), &customresources.ProviderProps{
		OnEventHandler:       failoverFn,
		FrameworkOnEventRole: role,
		LogGroup:             logGroup,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		AppliesTo: &[]any{&cdknag.RegexAppliesTo{
			Regex: jsii.String(`/^Resource::<Failover[0-9A-F]{8}\.Arn>:\*$/`),
		}},
		Reason: jsii.String("The CDK provider framework grants lambda:InvokeFunction with grantInvoke on the failover function's ARN " +
			"and on its qualified versions (ARN:*); the wildcard covers only versions and aliases of that one function."),
	}}, jsii.Bool(true))
	return awscdk.NewCustomResource(rs.stack, jsii.String("SeedActiveRegionConfig"), &awscdk.CustomResourceProps{
		ServiceToken: provider.ServiceToken(),
		ResourceType: jsii.String("Custom::ActiveRegionSeed"),
		Properties:   &map[string]any{failover.SeedRequestProperty: request},
		// A seed that hangs fails the deployment in minutes rather than
		// after CloudFormation's default hour.
		ServiceTimeout: awscdk.Duration_Minutes(jsii.Number(10)),
	})
}

func (rs *regionStack) newMappings(replicator awslambda.Function, role awsiam.Role, failures awssqs.Queue, seed constructs.Construct) {
	s := rs.settings
	for i, spec := range s.Streams {
		mapping := awslambda.NewCfnEventSourceMapping(rs.stack, jsii.String("Mapping-"+spec.Name), &awslambda.CfnEventSourceMappingProps{
			FunctionName:   replicator.FunctionName(),
			EventSourceArn: rs.consumers[i].StreamConsumerArn(),
			// TRIM_HORIZON: records produced before the mapping existed are
			// replicated too.
			StartingPosition:           jsii.String("TRIM_HORIZON"),
			BatchSize:                  jsii.Number(500),
			FunctionResponseTypes:      jsii.Strings("ReportBatchItemFailures"),
			BisectBatchOnFunctionError: jsii.Bool(true),
			MaximumRetryAttempts:       jsii.Number(s.MappingRetryAttempts),
			MaximumRecordAgeInSeconds:  jsii.Number(s.MappingMaxRecordAgeSeconds),
			// Exactly 1: each shard's checkpoint is written by one invocation
			// at a time, in sequence order. A higher factor would run
			// batches of one shard concurrently and a checkpoint could skip
			// over a batch still in flight.
			ParallelizationFactor: jsii.Number(1),
			DestinationConfig: &awslambda.CfnEventSourceMapping_DestinationConfigProperty{
				OnFailure: &awslambda.CfnEventSourceMapping_OnFailureProperty{Destination: failures.QueueArn()},
			},
		})
		tagStream(mapping, spec.Name)
		// The mapping starts polling at creation: the role must already
		// allow reading, and the config must exist, or the first batches
		// fail closed and wait for a retry.
		mapping.Node().AddDependency(role, seed)
	}
}

// suppressFindings records, next to the resource, why each cdk-nag finding
// that remains is right.
func (rs *regionStack) suppressFindings(failures awssqs.Queue, replicatorRole awsiam.Role) {
	cdknag.NagSuppressions_AddResourceSuppressions(failures, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the dead-letter target: the on-failure destination of the replicator's event source " +
			"mappings. A DLQ behind it would only move the same failure records one hop further; its depth alarm pages instead."),
	}}, jsii.Bool(true))
	if rs.settings.MirrorMetrics {
		cdknag.NagSuppressions_AddResourceSuppressions(replicatorRole, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			AppliesTo: &[]any{"Resource::*"},
			Reason: jsii.String("cloudwatch:PutMetricData has no resource-level permissions, so its resource must be *; " +
				"the statement is limited to the KinesisReplication namespace by a cloudwatch:namespace condition."),
		}}, jsii.Bool(true))
	}
}
