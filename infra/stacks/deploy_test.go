package stacks_test

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
)

// TestAlarmTopicLetsThisStacksAlarmsPublish: EnforceSSL alone writes a
// topic policy that only denies, and CloudWatch's publish of every alarm
// action is then refused. The allow names cloudwatch.amazonaws.com, this
// account and this stack's alarms.
func TestAlarmTopicLetsThisStacksAlarmsPublish(t *testing.T) {
	for _, name := range []string{"default", "agnostic"} {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(name+"/"+region, func(t *testing.T) {
				s := deployment(t, name)
				tpl := s.region(region)
				topic := only(t, tpl, "AWS::SNS::Topic")
				policy := only(t, tpl, "AWS::SNS::TopicPolicy")
				if got := renderAll(policy.Properties["Topics"]); !reflect.DeepEqual(got, []string{"${Ref:" + topic.LogicalID + "}"}) {
					t.Fatalf("topic policy applies to %v, want the alarm topic %s", got, topic.LogicalID)
				}
				var allows []map[string]any
				for _, raw := range policy.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					if st := raw.(map[string]any); st["Effect"] == "Allow" {
						allows = append(allows, st)
					}
				}
				if len(allows) != 1 {
					t.Fatalf("got %d allow statements, want 1: %s", len(allows), jsonOf(allows))
				}
				st := allows[0]
				if got := jsonOf(st["Principal"]); got != `{"Service":"cloudwatch.amazonaws.com"}` {
					t.Errorf("principal: got %s, want cloudwatch.amazonaws.com", got)
				}
				if got := renderAll(st["Action"]); !reflect.DeepEqual(got, []string{"sns:Publish"}) {
					t.Errorf("actions: got %v, want [sns:Publish]", got)
				}
				if got := renderAll(st["Resource"]); !reflect.DeepEqual(got, []string{"${Ref:" + topic.LogicalID + "}"}) {
					t.Errorf("resource: got %v, want the topic", got)
				}
				cond := st["Condition"].(map[string]any)
				if got := render(cond["StringEquals"].(map[string]any)["aws:SourceAccount"]); got != "${AWS::AccountId}" {
					t.Errorf("aws:SourceAccount: got %s, want ${AWS::AccountId}", got)
				}
				wantArn := "arn:aws:cloudwatch:" + region + ":" + accountIn(s) + ":alarm:KdsCrr-" + region + "-*"
				if got := render(cond["ArnLike"].(map[string]any)["aws:SourceArn"]); got != wantArn {
					t.Errorf("aws:SourceArn: got %s, want %s", got, wantArn)
				}
				// Every alarm of the stack is covered by the pattern.
				prefix := strings.TrimSuffix(wantArn[strings.LastIndex(wantArn, ":")+1:], "*")
				for alarm := range alarmsByName(t, tpl) {
					if !strings.HasPrefix(alarm, prefix) {
						t.Errorf("alarm %s is outside the topic policy's aws:SourceArn %s", alarm, wantArn)
					}
				}
			})
		}
	}
}

// TestNamedRetainedResourcesAreRetainedExceptOnCreate: a failed first
// deploy must be retryable, so what it created is removed by its rollback
// (RetainExceptOnCreate), and kept on every later update and delete.
func TestNamedRetainedResourcesAreRetainedExceptOnCreate(t *testing.T) {
	s := deployment(t, "default")
	type want struct{ stack, typ, name string }
	var checked []want
	check := func(stack, typ, name string, r resource) {
		checked = append(checked, want{stack, typ, name})
		if r.DeletionPolicy != "RetainExceptOnCreate" || r.UpdateReplace != "Retain" {
			t.Errorf("%s %s %s: got deletion %q, update-replace %q, want RetainExceptOnCreate, Retain",
				stack, typ, name, r.DeletionPolicy, r.UpdateReplace)
		}
	}
	for stackName, tpl := range s.templates {
		for _, r := range resources(tpl, "AWS::Kinesis::Stream") {
			check(stackName, "stream", r.Properties["Name"].(string), r)
		}
		for _, r := range resources(tpl, "AWS::DynamoDB::GlobalTable") {
			check(stackName, "table", r.Properties["TableName"].(string), r)
		}
		for _, r := range resources(tpl, "AWS::Logs::LogGroup") {
			if name, _ := r.Properties["LogGroupName"].(string); strings.HasPrefix(name, "/aws/lambda/kds-crr-") {
				check(stackName, "log group", name, r)
			}
		}
		for _, r := range resources(tpl, "AWS::KMS::Key") {
			check(stackName, "key", r.LogicalID, r)
		}
	}
	// 2 streams + 2 tables + 4 log groups + 2 keys.
	if len(checked) != 10 {
		t.Errorf("checked %d resources, want 10: %v", len(checked), checked)
	}
}

func TestFailoverAuditLogIsKeptAtLeastAYear(t *testing.T) {
	for _, region := range []string{"us-east-1", "us-east-2"} {
		found := false
		for _, r := range resources(deployment(t, "default").region(region), "AWS::Logs::LogGroup") {
			if r.Properties["LogGroupName"] != "/aws/lambda/"+stacks.FailoverFunctionName {
				continue
			}
			found = true
			if days, _ := r.Properties["RetentionInDays"].(float64); days < 365 {
				t.Errorf("%s: failover log retention %v days, want at least 365", region, r.Properties["RetentionInDays"])
			}
		}
		if !found {
			t.Errorf("%s: no failover log group", region)
		}
	}
}

// TestStreamsMoveToTheStreamsStacksKeepingEveryLogicalID pins the logical
// ids the earlier single Region stack gave the streams, consumers and
// mappings: a changed mapping id re-creates the mapping at TRIM_HORIZON,
// and a changed stream id cannot be moved into the streams stack in place.
func TestStreamsMoveToTheStreamsStacksKeepingEveryLogicalID(t *testing.T) {
	tests := []struct {
		deployment string
		streams    []string // logical ids in KdsCrr-Streams-<region>
		compute    []string // consumer and mapping logical ids in KdsCrr-<region>
	}{
		{"default", []string{"Streamexamplestream1B0B74DD7"}, []string{"Consumerexamplestream191FC619E", "Mappingexamplestream1"}},
		{"mixed", []string{"StreamclicksDC2FD8E0", "Streamorders47DC7887"},
			[]string{"Consumerclicks5344D9E9", "Consumerorders4DDE8863", "Mappingclicks", "Mappingorders"}},
	}
	ids := func(tpl map[string]any, types ...string) []string {
		var out []string
		for _, typ := range types {
			for _, r := range resources(tpl, typ) {
				out = append(out, r.LogicalID)
			}
		}
		sort.Strings(out)
		return out
	}
	for _, tt := range tests {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			s := deployment(t, tt.deployment)
			if got := ids(s.templates[stacks.StreamsStackName(region)], "AWS::Kinesis::Stream"); !reflect.DeepEqual(got, tt.streams) {
				t.Errorf("%s %s streams stack: got streams %v, want %v", tt.deployment, region, got, tt.streams)
			}
			compute := s.region(region)
			if got := ids(compute, "AWS::Kinesis::StreamConsumer", "AWS::Lambda::EventSourceMapping"); !reflect.DeepEqual(got, tt.compute) {
				t.Errorf("%s %s: got consumers and mappings %v, want %v", tt.deployment, region, got, tt.compute)
			}
			if got := ids(compute, "AWS::Kinesis::Stream"); len(got) != 0 {
				t.Errorf("%s %s: the compute stack still creates streams %v", tt.deployment, region, got)
			}
			// The compute stack names its streams by ARN: no export pins them.
			for _, c := range resources(compute, "AWS::Kinesis::StreamConsumer") {
				if got := render(c.Properties["StreamARN"]); !strings.HasPrefix(got, "arn:aws:kinesis:"+region+":") {
					t.Errorf("%s %s consumer %s reads stream %s, want an ARN in %s", tt.deployment, region, c.LogicalID, got, region)
				}
			}
		}
	}
}

func TestStreamRetentionHoursApplyInBothRegionsAndToTheFailoverHistory(t *testing.T) {
	s := synth(t, map[string]any{"account": testAccount,
		"streams": `[{"name":"orders","shardCount":2,"retentionHours":168},{"name":"clicks","shardCount":0}]`}, false)
	for _, region := range []string{"us-east-1", "us-east-2"} {
		got := map[string]any{}
		for _, r := range resources(s.templates[stacks.StreamsStackName(region)], "AWS::Kinesis::Stream") {
			got[r.Properties["Name"].(string)] = r.Properties["RetentionPeriodHours"]
		}
		if want := map[string]any{"orders": 168.0, "clicks": 24.0}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s retention hours: got %v, want %v", region, got, want)
		}
		env := lambdaEnv(t, s.region(region), stacks.FailoverFunctionName, region)
		if got := env("HISTORY_RETENTION"); got != "168h" {
			t.Errorf("%s failover HISTORY_RETENTION: got %q, want 168h (the longest stream retention)", region, got)
		}
	}
}

// TestExistingStreamsAreAdoptedNotCreated: an existing stream gets no
// AWS::Kinesis::Stream in either Region, and its consumer, mapping and
// alarms as any other; a deployment of only existing streams still has its
// streams stacks, which hold a placeholder (CloudFormation refuses a
// template without resources).
func TestExistingStreamsAreAdoptedNotCreated(t *testing.T) {
	s := synth(t, map[string]any{"account": testAccount,
		"streams": `[{"name":"legacy","existing":true,"retentionHours":48},{"name":"orders","shardCount":1}]`}, false)
	for _, region := range []string{"us-east-1", "us-east-2"} {
		var created []string
		for _, r := range resources(s.templates[stacks.StreamsStackName(region)], "AWS::Kinesis::Stream") {
			created = append(created, r.Properties["Name"].(string))
		}
		if !reflect.DeepEqual(created, []string{"orders"}) {
			t.Errorf("%s: got streams %v created, want only orders", region, created)
		}
		tpl := s.region(region)
		if got := len(resources(tpl, "AWS::Kinesis::StreamConsumer")); got != 2 {
			t.Errorf("%s: got %d consumers, want 2", region, got)
		}
		if got := len(resources(tpl, "AWS::Lambda::EventSourceMapping")); got != 2 {
			t.Errorf("%s: got %d mappings, want 2", region, got)
		}
		alarms := alarmsByName(t, tpl)
		for _, kind := range []string{"ReplicationLag", "CheckpointAge", "FailedRecords", "SourcePutRecordsFailureRate"} {
			if _, ok := alarms["KdsCrr-"+region+"-"+kind+"-legacy"]; !ok {
				t.Errorf("%s: no %s alarm for the adopted stream", region, kind)
			}
		}
		read := statementsBySid(t, tpl, "ReplicatorRole")["ReadOwnStreams"].Resources
		if !slices.Contains(read, "arn:aws:kinesis:"+region+":"+testAccount+":stream/legacy") {
			t.Errorf("%s: replicator may read %v, want the adopted stream among them", region, read)
		}
		if got := lambdaEnv(t, tpl, stacks.FailoverFunctionName, region)("HISTORY_RETENTION"); got != "48h" {
			t.Errorf("%s HISTORY_RETENTION: got %q, want the adopted stream's stated 48h", region, got)
		}
	}

	all := synth(t, map[string]any{"account": testAccount, "streams": `[{"name":"legacy","existing":true}]`}, false)
	for _, region := range []string{"us-east-1", "us-east-2"} {
		tpl := all.templates[stacks.StreamsStackName(region)]
		if got := len(resources(tpl, "AWS::Kinesis::Stream")); got != 0 {
			t.Errorf("%s: got %d streams, want none", region, got)
		}
		if got := len(resources(tpl, "AWS::CloudFormation::WaitConditionHandle")); got != 1 {
			t.Errorf("%s: got %d placeholders, want 1 in a streams stack with nothing to create", region, got)
		}
	}
}

// untaggable are the resource types in the templates that CloudFormation
// cannot tag.
var untaggable = map[string]bool{
	"AWS::IAM::Policy": true, "AWS::IAM::ManagedPolicy": true, "AWS::SNS::TopicPolicy": true,
	"AWS::SQS::QueuePolicy": true, "Custom::ActiveRegionSeed": true, "AWS::CDK::Metadata": true,
	"AWS::CloudFormation::WaitConditionHandle": true, "AWS::SNS::Subscription": true,
	// No Tags property in the CloudFormation schema (cfn-lint E3002).
	"AWS::CloudWatch::Dashboard": true,
}

func tagsOf(r resource) map[string]string {
	out := map[string]string{}
	raw := r.Properties["Tags"]
	if r.Type == "AWS::DynamoDB::GlobalTable" {
		// Tags live on each replica; the first stands for all (checked below).
		raw = r.Properties["Replicas"].([]any)[0].(map[string]any)["Tags"]
	}
	list, _ := raw.([]any)
	for _, t := range list {
		m := t.(map[string]any)
		out[m["Key"].(string)] = render(m["Value"])
	}
	return out
}

func TestEveryStackAndTaggableResourceCarriesTheProjectTagAndStreamResourcesTheStream(t *testing.T) {
	s := deployment(t, "mixed")
	for _, stack := range s.deploymentStacks() {
		if got := *stack.Tags().TagValues(); got[stacks.TagProject] == nil || *got[stacks.TagProject] != stacks.TagProjectValue {
			t.Errorf("stack %s: got tags %v, want %s=%s", *stack.StackName(), got, stacks.TagProject, stacks.TagProjectValue)
		}
	}
	for stackName, tpl := range s.templates {
		for id, raw := range tpl["Resources"].(map[string]any) {
			typ := raw.(map[string]any)["Type"].(string)
			if untaggable[typ] {
				continue
			}
			r := resources(tpl, typ)[slices.IndexFunc(resources(tpl, typ), func(r resource) bool { return r.LogicalID == id })]
			tags := tagsOf(r)
			if tags[stacks.TagProject] != stacks.TagProjectValue {
				t.Errorf("%s %s (%s): got tags %v, want %s=%s", stackName, id, typ, tags, stacks.TagProject, stacks.TagProjectValue)
			}
			if typ == "AWS::DynamoDB::GlobalTable" {
				for _, rep := range r.Properties["Replicas"].([]any) {
					if !strings.Contains(jsonOf(rep.(map[string]any)["Tags"]), `"Value":"kinesis-crr"`) {
						t.Errorf("%s %s replica %v: not tagged", stackName, id, rep.(map[string]any)["Region"])
					}
				}
			}
			perStream := typ == "AWS::Kinesis::Stream" || typ == "AWS::Kinesis::StreamConsumer" || typ == "AWS::Lambda::EventSourceMapping"
			if perStream || typ == "AWS::CloudWatch::Alarm" && strings.Contains(render(r.Properties["AlarmName"]), "-orders") {
				if tags[stacks.TagStream] == "" {
					t.Errorf("%s %s (%s): got tags %v, want a %s tag", stackName, id, typ, tags, stacks.TagStream)
				}
			}
		}
	}
}

// TestOperatorPolicyMayRunTheFailoverAndReadNothingElse: one
// customer-managed policy per Region, attached to nobody by the stacks.
func TestOperatorPolicyMayRunTheFailoverAndReadNothingElse(t *testing.T) {
	for _, region := range []string{"us-east-1", "us-east-2"} {
		t.Run(region, func(t *testing.T) {
			tpl := deployment(t, "mixed").region(region)
			p := only(t, tpl, "AWS::IAM::ManagedPolicy")
			if got := p.Properties["ManagedPolicyName"]; got != "KdsCrr-Operator-"+region {
				t.Errorf("name: got %v, want KdsCrr-Operator-%s", got, region)
			}
			for _, key := range []string{"Roles", "Users", "Groups"} {
				if _, ok := p.Properties[key]; ok {
					t.Errorf("the policy is attached to %s %v, want it attached by the account's administrators", key, p.Properties[key])
				}
			}
			failover := functionNamed(t, tpl, stacks.FailoverFunctionName)
			acct := testAccount
			want := map[string]statement{
				"InvokeFailover": {Actions: []string{"lambda:InvokeFunction"}, Resources: []string{"${" + failover.LogicalID + ".Arn}"}},
				// kdscrr translate reads the trail items of the checkpoint
				// table by Query: nothing more; no lease table is granted.
				"ReadTables": {Actions: []string{"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"},
					Resources: []string{
						"arn:aws:dynamodb:" + region + ":" + acct + ":table/kdsActiveRegionConfig",
						"arn:aws:dynamodb:" + region + ":" + acct + ":table/kdsReplicationCheckpoint",
					}},
				"ReadStreams": {Actions: []string{"kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"}, Resources: []string{
					"arn:aws:kinesis:" + region + ":" + acct + ":stream/clicks",
					"arn:aws:kinesis:" + region + ":" + acct + ":stream/orders",
				}},
				"ReadDashboard": {Actions: []string{"cloudwatch:GetDashboard"},
					Resources: []string{"arn:aws:cloudwatch::" + acct + ":dashboard/KdsCrr-" + region}},
				"ReadMetrics": {Actions: []string{"cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics"},
					Resources: []string{"*"}, Condition: `{"StringEquals":{"aws:RequestedRegion":"` + region + `"}}`},
			}
			got := map[string]statement{}
			for _, raw := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := raw.(map[string]any)
				if st["Effect"] != "Allow" {
					t.Errorf("statement %v: want Allow only", st)
				}
				s := statement{Actions: sorted(renderAll(st["Action"])), Resources: sorted(renderAll(st["Resource"]))}
				if c, ok := st["Condition"]; ok {
					s.Condition = jsonOf(c)
				}
				got[st["Sid"].(string)] = s
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v,\nwant %+v", got, want)
			}
		})
	}
}
