package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// newAlarmTopic encrypts the topic with a key of its own because CloudWatch
// cannot publish to a topic under the AWS managed SNS key: that key's policy
// does not let cloudwatch.amazonaws.com use it.
func (rs *regionStack) newAlarmTopic() awssns.Topic {
	key := awskms.NewKey(rs.stack, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("kinesis-crr: encrypts the alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		// Kept on update and delete; a failed create schedules its deletion
		// rather than leave an orphaned key behind.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE,
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}), nil)
	topic := awssns.NewTopic(rs.stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("kinesis-crr alarms " + rs.region),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	// EnforceSSL writes a topic policy that only denies; without an allow,
	// CloudWatch's publish of every alarm action would be refused. The
	// allow names this account and the alarms of this stack (their names
	// all start with the stack name), not every alarm that could target it.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnLike":      map[string]any{"aws:SourceArn": rs.alarmArnPattern()},
		},
	}))
	if rs.settings.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(rs.settings.AlarmEmail), nil))
	}
	return topic
}

// alarmArnPattern matches the ARNs of this stack's alarms.
func (rs *regionStack) alarmArnPattern() *string {
	return rs.arn("cloudwatch", rs.region, "alarm", RegionStackName(rs.region)+"-*", awscdk.ArnFormat_COLON_RESOURCE_NAME)
}

// replicationMetric is the series of one stream that the replicator in
// source publishes (the StreamName, SourceRegion dimension set), as stored
// in region: the replicator's own Region, or the other one for a mirrored
// copy. The label says whose series it is.
func (rs *regionStack) replicationMetric(name, stream, statistic string, period awscdk.Duration, source string) awscloudwatch.Metric {
	props := &awscloudwatch.MetricProps{
		Namespace:  jsii.String(MetricsNamespace),
		MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{
			"StreamName":   jsii.String(stream),
			"SourceRegion": jsii.String(source),
		},
		Statistic: jsii.String(statistic),
		Period:    period,
		Label:     jsii.String(fmt.Sprintf("%s of the %s replicator", name, source)),
	}
	switch {
	case source == rs.region:
	case rs.settings.MirrorMetrics:
		// The other replicator mirrors its series here: readable even when
		// its Region is what is failing.
		props.Label = jsii.String(fmt.Sprintf("%s of the %s replicator (mirrored to %s)", name, source, rs.region))
	default:
		props.Region = jsii.String(source)
		props.Label = jsii.String(fmt.Sprintf("%s of the %s replicator (read in %s)", name, source, source))
	}
	return awscloudwatch.NewMetric(props)
}

// alarmMetric is this Region's replicator's own series of stream, without a
// label, so that the alarm keeps the single-metric form.
func (rs *regionStack) alarmMetric(name, stream, statistic string, period awscdk.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:  jsii.String(MetricsNamespace),
		MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{
			"StreamName":   jsii.String(stream),
			"SourceRegion": jsii.String(rs.region),
		},
		Statistic: jsii.String(statistic),
		Period:    period,
	})
}

func (rs *regionStack) iteratorAge(replicator awslambda.Function) awscloudwatch.Metric {
	return replicator.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
		Statistic: jsii.String("Maximum"),
		Period:    awscdk.Duration_Minutes(jsii.Number(1)),
	})
}

// putRecordsFailureRate is the share of records producers sent to the
// source stream that Kinesis rejected for internal failures, in percent.
// Throttled records are not counted: they say the stream is too small, not
// that the Region is unwell. FILL makes a period with traffic and no failure
// read 0, not missing. n keeps the metric ids apart where several streams'
// rates share one graph.
func putRecordsFailureRate(stream string, n int) awscloudwatch.MathExpression {
	metric := func(name string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String("AWS/Kinesis"),
			MetricName:    jsii.String(name),
			DimensionsMap: &map[string]*string{"StreamName": jsii.String(stream)},
			Statistic:     jsii.String("Sum"),
			Period:        awscdk.Duration_Minutes(jsii.Number(5)),
		})
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf("100 * FILL(failed%d, 0) / total%d", n, n)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			fmt.Sprintf("failed%d", n): metric("PutRecords.FailedRecords"),
			fmt.Sprintf("total%d", n):  metric("PutRecords.TotalRecords"),
		},
		Label:  jsii.String("PutRecords failure rate % " + stream),
		Period: awscdk.Duration_Minutes(jsii.Number(5)),
	})
}

type alarmSpec struct {
	id          string
	stream      string // tags the alarm; empty for the Region's alarms
	name        string
	metric      awscloudwatch.IMetric
	threshold   float64
	comparison  awscloudwatch.ComparisonOperator
	periods     float64
	datapoints  float64
	missing     awscloudwatch.TreatMissingData
	description string
}

func (rs *regionStack) newAlarm(topic awssns.Topic, a alarmSpec) {
	alarm := awscloudwatch.NewAlarm(rs.stack, jsii.String(a.id), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(fmt.Sprintf("%s-%s", RegionStackName(rs.region), a.name)),
		AlarmDescription:   jsii.String(a.description),
		Metric:             a.metric,
		Threshold:          jsii.Number(a.threshold),
		ComparisonOperator: a.comparison,
		EvaluationPeriods:  jsii.Number(a.periods),
		DatapointsToAlarm:  jsii.Number(a.datapoints),
		TreatMissingData:   a.missing,
	})
	action := awscloudwatchactions.NewSnsAction(topic)
	alarm.AddAlarmAction(action)
	// The OK notification tells whoever was paged that it is over.
	alarm.AddOkAction(action)
	if a.stream != "" {
		tagStream(alarm, a.stream)
	}
}

// watches opens the description of an alarm on the replicator's own
// series: each Region's alarms watch that Region's replicator only.
func (rs *regionStack) watches() string {
	return fmt.Sprintf("Watches the %s replicator's series (SourceRegion %s). ", rs.region, rs.region)
}

// sourceFailureAdvice words the source-health alarm for this Region: it
// only matters while this Region is the stream's active one (producers
// write where it is active), so it says how to tell, and never advises a
// failover to the Region that already is active.
func (rs *regionStack) sourceFailureAdvice(stream string) string {
	role := "the primary Region (active after the first deploy)"
	if rs.region == rs.settings.SecondaryRegion {
		role = "the secondary Region (standby after the first deploy; active only after a failover to it)"
	}
	return fmt.Sprintf("Kinesis in %[1]s, %[2]s, rejected at least 1%% of the records producers sent to stream %[3]s over 5 minutes "+
		"(internal failures, not throttling). Check the AWS Health Dashboard for %[1]s and the stream's active Region "+
		"(failover function, status action). If %[1]s is active for %[3]s and impaired, failover to %[4]s may be due: "+
		"run the FailoverCommand output of stack %[5]s, then move producers to %[4]s from the resumeFrom it reports. "+
		"If %[4]s is already active, do not fail over: the producers still writing to %[1]s belong in %[4]s.",
		rs.region, role, stream, rs.other, RegionStackName(rs.other))
}

func (rs *regionStack) newAlarms(topic awssns.Topic, replicator awslambda.Function, failures awssqs.Queue) {
	s := rs.settings
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	for i, name := range s.StreamNames() {
		rs.newAlarm(topic, alarmSpec{
			id:         "LagAlarm-" + name,
			stream:     name,
			name:       "ReplicationLag-" + name,
			metric:     rs.alarmMetric("ReplicationLagSeconds", name, "Maximum", minute),
			threshold:  float64(s.LagAlarmSeconds),
			comparison: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			periods:    5, datapoints: 3,
			// Missing data keeps the state: a replicator that stops
			// reporting has not caught up, and a quiet stream has no lag.
			missing: awscloudwatch.TreatMissingData_IGNORE,
			description: rs.watches() + fmt.Sprintf("Records of stream %s reach %s more than %ds after they arrived in %s, for 3 of 5 minutes. "+
				"Check the replicator's Errors and ThrottledRecords, the target stream's write throttling (add shards or use on-demand), "+
				"and whether %s is healthy. Lag is the data a failover now would have to resume from the checkpoint.",
				name, rs.other, s.LagAlarmSeconds, rs.region, rs.other),
		})
		rs.newAlarm(topic, alarmSpec{
			id:         "CheckpointAgeAlarm-" + name,
			stream:     name,
			name:       "CheckpointAge-" + name,
			metric:     rs.alarmMetric("CheckpointAgeSeconds", name, "Maximum", minute),
			threshold:  float64(s.CheckpointAgeAlarmSeconds),
			comparison: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			periods:    5, datapoints: 3,
			// Like lag: no invocation means no new checkpoint and nothing
			// new to judge, so the last state stands.
			missing: awscloudwatch.TreatMissingData_IGNORE,
			description: rs.watches() + fmt.Sprintf("The replication checkpoint of stream %s is more than %ds old for 3 of 5 minutes: "+
				"a failover now would replay at least that much from the checkpoint (the RPO). "+
				"Look at the ReplicationLag and IteratorAge alarms and the replicator's logs for the shard that is behind.",
				name, s.CheckpointAgeAlarmSeconds),
		})
		// Records handed back for a retry are written by a later
		// invocation (a deadline, a throttle storm): only records that
		// keep failing, or that the target refuses for good, need a person.
		rs.newAlarm(topic, alarmSpec{
			id:         "FailedRecordsAlarm-" + name,
			stream:     name,
			name:       "FailedRecords-" + name,
			metric:     rs.alarmMetric("FailedRecords", name, "Sum", minute),
			threshold:  0,
			comparison: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			periods:    15, datapoints: 15,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
			description: rs.watches() + fmt.Sprintf("Records of stream %s have failed to reach %s in every minute for 15 minutes: they keep failing, so their shards are not moving. "+
				"The logs carry each record's sequence number and error code. Check the target's health and throttling in %s, and the RejectedRecords alarm.",
				name, rs.other, rs.other),
		})
		rs.newAlarm(topic, alarmSpec{
			id:         "RejectedRecordsAlarm-" + name,
			stream:     name,
			name:       "RejectedRecords-" + name,
			metric:     rs.alarmMetric("RejectedRecords", name, "Sum", minute),
			threshold:  0,
			comparison: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			periods:    1, datapoints: 1,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
			description: rs.watches() + fmt.Sprintf("%s refuses records of stream %s for good (a permanent error): each stalls its shard until the cause is fixed. "+
				"The logs carry each record's sequence number and error code: permissions, the stream missing in %s, a KMS key, a record too large for the target.",
				rs.other, name, rs.other),
		})
		rs.newAlarm(topic, alarmSpec{
			id:         "PutRecordsFailureRateAlarm-" + name,
			stream:     name,
			name:       "SourcePutRecordsFailureRate-" + name,
			metric:     putRecordsFailureRate(name, i),
			threshold:  1,
			comparison: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			periods:    1, datapoints: 1,
			// No producer traffic is not a failure.
			missing:     awscloudwatch.TreatMissingData_NOT_BREACHING,
			description: rs.sourceFailureAdvice(name),
		})
	}

	rs.newAlarm(topic, alarmSpec{
		id:         "IteratorAgeAlarm",
		name:       "ReplicatorIteratorAge",
		metric:     rs.iteratorAge(replicator),
		threshold:  float64(s.LagAlarmSeconds) * 1000,
		comparison: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		periods:    5, datapoints: 3,
		// Lambda reports IteratorAge only with invocations; none means
		// no records, or a parked replicator.
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		description: fmt.Sprintf("The replicator's event source mapping in %s is more than %ds behind the newest record (the lag threshold) "+
			"for 3 of 5 minutes: it is stalled or too slow, even where no lag metric arrives. "+
			"Check the replicator's Errors, Throttles and logs; a batch that keeps failing blocks its shard until it is written.",
			rs.region, s.LagAlarmSeconds),
	})
	rs.newAlarm(topic, alarmSpec{
		id:         "ErrorsAlarm",
		name:       "ReplicatorErrors",
		metric:     replicator.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: minute}),
		threshold:  0,
		comparison: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		periods:    5, datapoints: 3,
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		description: "The replicator failed whole invocations in 3 of 5 minutes (the mapping retries them). " +
			"A common cause is an unreadable active-Region config: the replicator fails closed rather than skip records on a guess. " +
			"Read the function's logs; check the kdsActiveRegionConfig item of each stream (failover action status) and DynamoDB health.",
	})
	rs.newAlarm(topic, alarmSpec{
		id:         "FailureQueueAlarm",
		name:       "MappingOnFailureQueue",
		metric:     failures.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: fiveMinutes}),
		threshold:  0,
		comparison: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		periods:    1, datapoints: 1,
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		description: "The event source mapping gave up on a batch (retry or record-age limit) and sent its shard and sequence range here. " +
			"Those records were NOT replicated. Read each message, re-drive the range from the source stream while it is still retained, " +
			"then delete the message.",
	})
}

func (rs *regionStack) newDashboard(replicator awslambda.Function, failures awssqs.Queue) {
	s := rs.settings
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	dashboard := awscloudwatch.NewDashboard(rs.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(DashboardName(rs.region)),
	})
	graph := func(title string, left, right []awscloudwatch.IMetric) awscloudwatch.IWidget {
		props := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &left, Width: jsii.Number(6)}
		if len(right) > 0 {
			props.Right = &right
		}
		return awscloudwatch.NewGraphWidget(props)
	}
	for _, name := range s.StreamNames() {
		sum := func(metric string) awscloudwatch.IMetric {
			return rs.replicationMetric(metric, name, "Sum", minute, rs.region)
		}
		dashboard.AddWidgets(
			graph(name+": replication lag (s), both Regions", []awscloudwatch.IMetric{
				rs.replicationMetric("ReplicationLagSeconds", name, "Maximum", minute, rs.region),
				rs.replicationMetric("ReplicationLagSeconds", name, "Maximum", minute, rs.other),
			}, nil),
			graph(name+": throughput", []awscloudwatch.IMetric{sum("ReplicatedRecords")}, []awscloudwatch.IMetric{sum("ReplicatedBytes")}),
			graph(name+": skipped, failed, rejected, resent", []awscloudwatch.IMetric{sum("SkippedRecords"), sum("FailedRecords"), sum("RejectedRecords"), sum("ResentRecords")}, nil),
			graph(name+": checkpoint age (s)", []awscloudwatch.IMetric{
				rs.replicationMetric("CheckpointAgeSeconds", name, "Maximum", minute, rs.region),
			}, nil),
		)
	}
	var failureRates []awscloudwatch.IMetric
	for i, name := range s.StreamNames() {
		failureRates = append(failureRates, putRecordsFailureRate(name, i))
	}
	dashboard.AddWidgets(
		graph("replicator iterator age (ms)", []awscloudwatch.IMetric{rs.iteratorAge(replicator)}, nil),
		graph("replicator errors and throttles", []awscloudwatch.IMetric{
			replicator.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: minute}),
			replicator.MetricThrottles(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: minute}),
		}, nil),
		graph("mapping on-failure queue", []awscloudwatch.IMetric{
			failures.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: minute}),
		}, nil),
		graph("source PutRecords failure rate (%)", failureRates, nil),
	)
}

// FailoverCommand is the operator CLI's call (cmd/kdscrr) that makes region
// the active Region: kdscrr invokes the failover function in the Region it
// activates, with a read timeout above the function's, and finds the
// deployment's Regions in --regions wherever it runs. The function name is
// kdscrr's default (FailoverFunctionName), so it needs no --function.
func FailoverCommand(s Settings, region string) string {
	return fmt.Sprintf(`kdscrr failover --to %s --regions %s,%s --reason '<why>'`, region, s.PrimaryRegion, s.SecondaryRegion)
}

// FailoverCommandAWSCLIV2 is the same call with the aws CLI. It needs
// version 2: --cli-binary-format, which makes v2 send --payload as the raw
// JSON it is rather than read it as base64, is a v2 option that v1 refuses.
// Its read timeout outlasts the function's timeout (FailoverReadTimeout): the
// CLI's default would give up on a running call and retry it.
func FailoverCommandAWSCLIV2(region string) string {
	return fmt.Sprintf(`aws lambda invoke --function-name %s --region %s --cli-binary-format raw-in-base64-out --cli-read-timeout %d --payload '{"targetRegion":"%s","reason":"<why>"}' out.json`,
		FailoverFunctionName, region, int(FailoverReadTimeout.Seconds()), region)
}

func (rs *regionStack) newOutputs(replicator, failover awslambda.Function, topic awssns.Topic) {
	out := func(id, description string, value *string) {
		awscdk.NewCfnOutput(rs.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	out("ReplicatorFunctionName", "Replicator function (reads this Region's streams)", replicator.FunctionName())
	out("FailoverFunctionName", "Failover function (invoke it in the Region to activate)", failover.FunctionName())
	out("CheckpointTableName", "Per-shard checkpoints (global table)", jsii.String(CheckpointTableName))
	out("ActiveRegionTableName", "Active Region per stream (global table)", jsii.String(ActiveRegionTableName))
	out("AlarmTopicArn", "SNS topic of this Region's alarms", topic.TopicArn())
	out("DashboardUrl", "CloudWatch dashboard of this Region", jsii.String(fmt.Sprintf(
		"https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s",
		rs.region, rs.region, DashboardName(rs.region))))
	out("FailoverCommand", "Makes this Region active with the operator CLI kdscrr (go build ./cmd/kdscrr); replace <why> with the reason (kept in the audit record)",
		jsii.String(FailoverCommand(rs.settings, rs.region)))
	out("FailoverCommandAwsCliV2", "The same call with the aws CLI; needs aws CLI v2 (v1 refuses --cli-binary-format); the report is in out.json",
		jsii.String(FailoverCommandAWSCLIV2(rs.region)))
}
