package stacks_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/operator"
)

// Deployments shared by the tests; each synth costs seconds of jsii time.
var deployments = map[string]map[string]any{
	"default": {"account": testAccount},
	"parked":  {"account": testAccount, "parkStandby": true, "alarmEmail": "ops@example.com", "lagAlarmSeconds": "120"},
	"mixed": {"account": testAccount, "mirrorMetrics": "false",
		"streams": `[{"name":"orders","shardCount":0},{"name":"clicks","shardCount":4}]`},
	"agnostic": {},
	"tuned":    {"account": testAccount, "orderingMode": "strict", "activeRegionCacheTtl": "1500ms"},
}

var synthCache = map[string]*synthesized{}

func deployment(t *testing.T, name string) *synthesized {
	t.Helper()
	if s, ok := synthCache[name]; ok {
		return s
	}
	s := synth(t, deployments[name], false)
	synthCache[name] = s
	return s
}

func (s *synthesized) region(region string) map[string]any {
	return s.templates[stacks.RegionStackName(region)]
}

func only(t *testing.T, tpl map[string]any, typ string) resource {
	t.Helper()
	rs := resources(tpl, typ)
	if len(rs) != 1 {
		t.Fatalf("got %d %s, want 1", len(rs), typ)
	}
	return rs[0]
}

func functionNamed(t *testing.T, tpl map[string]any, name string) resource {
	t.Helper()
	for _, r := range resources(tpl, "AWS::Lambda::Function") {
		if r.Properties["FunctionName"] == name {
			return r
		}
	}
	t.Fatalf("no function named %s", name)
	return resource{}
}

func TestGlobalStackHoldsBothTablesAsRetainedOnDemandGlobalTables(t *testing.T) {
	tpl := deployment(t, "default").templates[stacks.GlobalStackName]
	tables := resources(tpl, "AWS::DynamoDB::GlobalTable")
	if len(tables) != 2 {
		t.Fatalf("got %d global tables, want 2", len(tables))
	}
	byName := map[string]resource{}
	for _, tb := range tables {
		byName[tb.Properties["TableName"].(string)] = tb
	}
	tests := []struct {
		table string
		keys  string
		attrs string
	}{
		{"kdsReplicationCheckpoint",
			`[{"AttributeName":"streamName","KeyType":"HASH"},{"AttributeName":"shardId","KeyType":"RANGE"}]`,
			`[{"AttributeName":"streamName","AttributeType":"S"},{"AttributeName":"shardId","AttributeType":"S"}]`},
		{"kdsActiveRegionConfig",
			`[{"AttributeName":"streamName","KeyType":"HASH"}]`,
			`[{"AttributeName":"streamName","AttributeType":"S"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			tb, ok := byName[tt.table]
			if !ok {
				t.Fatalf("no table %s", tt.table)
			}
			if got := jsonOf(tb.Properties["KeySchema"]); got != tt.keys {
				t.Errorf("key schema: got %s, want %s", got, tt.keys)
			}
			if got := jsonOf(tb.Properties["AttributeDefinitions"]); got != tt.attrs {
				t.Errorf("attributes: got %s, want %s", got, tt.attrs)
			}
			if got := tb.Properties["BillingMode"]; got != "PAY_PER_REQUEST" {
				t.Errorf("billing: got %v, want PAY_PER_REQUEST", got)
			}
			if tb.DeletionPolicy != "RetainExceptOnCreate" || tb.UpdateReplace != "Retain" {
				t.Errorf("policies: got deletion %q, update-replace %q, want RetainExceptOnCreate, Retain", tb.DeletionPolicy, tb.UpdateReplace)
			}
			var regions []string
			for _, raw := range tb.Properties["Replicas"].([]any) {
				replica := raw.(map[string]any)
				regions = append(regions, replica["Region"].(string))
				if replica["DeletionProtectionEnabled"] != true {
					t.Errorf("replica %v: got deletion protection %v, want true", replica["Region"], replica["DeletionProtectionEnabled"])
				}
				if got := jsonOf(replica["PointInTimeRecoverySpecification"]); got != `{"PointInTimeRecoveryEnabled":true}` {
					t.Errorf("replica %v: got PITR %s, want enabled", replica["Region"], got)
				}
			}
			sort.Strings(regions)
			if want := []string{"us-east-1", "us-east-2"}; !reflect.DeepEqual(regions, want) {
				t.Errorf("replica Regions: got %v, want %v", regions, want)
			}
		})
	}
	if env := *deployment(t, "default").deployment.Global.Region(); env != "us-east-1" {
		t.Errorf("global stack Region: got %s, want the primary us-east-1", env)
	}
}

func TestStreamsStacksCreateEncryptedRetainedStreamsOfTheConfiguredSize(t *testing.T) {
	tests := []struct {
		deployment string
		stream     string
		wantMode   string
		wantShards any
	}{
		{"default", "example-stream-1", "PROVISIONED", 2.0},
		{"mixed", "orders", "ON_DEMAND", nil},
		{"mixed", "clicks", "PROVISIONED", 4.0},
	}
	for _, tt := range tests {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(tt.stream+"/"+region, func(t *testing.T) {
				var found *resource
				for _, r := range resources(deployment(t, tt.deployment).templates[stacks.StreamsStackName(region)], "AWS::Kinesis::Stream") {
					if r.Properties["Name"] == tt.stream {
						found = &r
					}
				}
				if found == nil {
					t.Fatalf("no stream %s", tt.stream)
				}
				p := found.Properties
				if got := jsonOf(p["StreamModeDetails"]); got != `{"StreamMode":"`+tt.wantMode+`"}` {
					t.Errorf("mode: got %s, want %s", got, tt.wantMode)
				}
				if got := p["ShardCount"]; got != tt.wantShards {
					t.Errorf("shard count: got %v, want %v", got, tt.wantShards)
				}
				if got := jsonOf(p["StreamEncryption"]); got != `{"EncryptionType":"KMS","KeyId":"alias/aws/kinesis"}` {
					t.Errorf("encryption: got %s, want the aws/kinesis key", got)
				}
				if found.DeletionPolicy != "RetainExceptOnCreate" || found.UpdateReplace != "Retain" {
					t.Errorf("policies: got deletion %q, update-replace %q, want RetainExceptOnCreate, Retain", found.DeletionPolicy, found.UpdateReplace)
				}
				if got := p["RetentionPeriodHours"]; got != 24.0 {
					t.Errorf("retention: got %v hours, want 24", got)
				}
			})
		}
	}
}

func TestEachStreamHasOneReplicatorConsumerAndMapping(t *testing.T) {
	tpl := deployment(t, "mixed").region("us-east-1")
	consumers := resources(tpl, "AWS::Kinesis::StreamConsumer")
	mappings := resources(tpl, "AWS::Lambda::EventSourceMapping")
	if len(consumers) != 2 || len(mappings) != 2 {
		t.Fatalf("got %d consumers and %d mappings, want 2 and 2", len(consumers), len(mappings))
	}
	consumerIDs := map[string]bool{}
	for _, c := range consumers {
		if got := c.Properties["ConsumerName"]; got != stacks.ConsumerName {
			t.Errorf("consumer name: got %v, want %s", got, stacks.ConsumerName)
		}
		consumerIDs["${"+c.LogicalID+".ConsumerARN}"] = true
	}
	for _, m := range mappings {
		src := render(m.Properties["EventSourceArn"])
		if !consumerIDs[src] {
			t.Errorf("mapping %s reads %s, want a consumer ARN of this stack", m.LogicalID, src)
		}
		delete(consumerIDs, src)
	}
}

func TestMappingsUseSafeSettings(t *testing.T) {
	want := map[string]string{
		"BatchSize":                  "500",
		"BisectBatchOnFunctionError": "true",
		"FunctionResponseTypes":      `["ReportBatchItemFailures"]`,
		"MaximumRecordAgeInSeconds":  "-1",
		"MaximumRetryAttempts":       "-1",
		"ParallelizationFactor":      "1",
		"StartingPosition":           `"TRIM_HORIZON"`,
	}
	for _, region := range []string{"us-east-1", "us-east-2"} {
		tpl := deployment(t, "default").region(region)
		m := only(t, tpl, "AWS::Lambda::EventSourceMapping")
		for key, w := range want {
			if got := jsonOf(m.Properties[key]); got != w {
				t.Errorf("%s %s: got %s, want %s", region, key, got, w)
			}
		}
		queue := only(t, tpl, "AWS::SQS::Queue")
		if got, want := render(m.Properties["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]), "${"+queue.LogicalID+".Arn}"; got != want {
			t.Errorf("%s on-failure destination: got %s, want %s", region, got, want)
		}
		replicator := functionNamed(t, tpl, stacks.ReplicatorFunctionName)
		if got, want := render(m.Properties["FunctionName"]), "${Ref:"+replicator.LogicalID+"}"; got != want {
			t.Errorf("%s mapping function: got %s, want %s", region, got, want)
		}
		seed := only(t, tpl, seedType)
		if !contains(m.DependsOn, seed.LogicalID) {
			t.Errorf("%s mapping depends on %v, want the config seed %s among them", region, m.DependsOn, seed.LogicalID)
		}
	}
}

func TestMappingLimitsFollowContext(t *testing.T) {
	s := synth(t, map[string]any{"account": testAccount, "mappingRetryAttempts": "50", "mappingMaxRecordAgeSeconds": "7200"}, false)
	m := only(t, s.region("us-east-2"), "AWS::Lambda::EventSourceMapping")
	if got := m.Properties["MaximumRetryAttempts"]; got != 50.0 {
		t.Errorf("retry attempts: got %v, want 50", got)
	}
	if got := m.Properties["MaximumRecordAgeInSeconds"]; got != 7200.0 {
		t.Errorf("record age: got %v, want 7200", got)
	}
}

func TestOnFailureQueueIsEncryptedAndRefusesPlainHTTP(t *testing.T) {
	tpl := deployment(t, "default").region("us-east-1")
	queue := only(t, tpl, "AWS::SQS::Queue")
	if got := queue.Properties["SqsManagedSseEnabled"]; got != true {
		t.Errorf("SSE: got %v, want true", got)
	}
	policy := only(t, tpl, "AWS::SQS::QueuePolicy")
	if doc := jsonOf(policy.Properties["PolicyDocument"]); !strings.Contains(doc, `"aws:SecureTransport":"false"`) || !strings.Contains(doc, `"Effect":"Deny"`) {
		t.Errorf("queue policy: got %s, want a deny without TLS", doc)
	}
}

func TestFunctionsRunBootstrapOnProvidedAl2023Arm64(t *testing.T) {
	tests := []struct {
		name    string
		memory  float64
		timeout float64
	}{
		{stacks.ReplicatorFunctionName, 512, 60},
		{stacks.FailoverFunctionName, 256, 300},
	}
	for _, tt := range tests {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(tt.name+"/"+region, func(t *testing.T) {
				p := functionNamed(t, deployment(t, "default").region(region), tt.name).Properties
				checks := map[string][2]string{
					"Runtime":       {jsonOf(p["Runtime"]), `"provided.al2023"`},
					"Architectures": {jsonOf(p["Architectures"]), `["arm64"]`},
					"Handler":       {jsonOf(p["Handler"]), `"bootstrap"`},
					"MemorySize":    {jsonOf(p["MemorySize"]), jsonOf(tt.memory)},
					"Timeout":       {jsonOf(p["Timeout"]), jsonOf(tt.timeout)},
					"LogFormat":     {jsonOf(p["LoggingConfig"].(map[string]any)["LogFormat"]), `"JSON"`},
				}
				for key, c := range checks {
					if c[0] != c[1] {
						t.Errorf("%s: got %s, want %s", key, c[0], c[1])
					}
				}
			})
		}
	}
}

func TestFunctionEnvironmentsMatchTheContract(t *testing.T) {
	tests := []struct {
		deployment string
		region     string
		function   string
		want       map[string]any
	}{
		{"default", "us-east-1", stacks.ReplicatorFunctionName, map[string]any{
			"TARGET_REGION": "us-east-2", "CHECKPOINT_TABLE": "kdsReplicationCheckpoint", "ACTIVE_REGION_TABLE": "kdsActiveRegionConfig",
			"ORDERING": "key", "ACTIVE_REGION_CACHE_TTL": "5s", "METRICS_NAMESPACE": "KinesisReplication", "METRICS_MIRROR_REGION": "us-east-2",
		}},
		{"default", "us-east-2", stacks.ReplicatorFunctionName, map[string]any{
			"TARGET_REGION": "us-east-1", "CHECKPOINT_TABLE": "kdsReplicationCheckpoint", "ACTIVE_REGION_TABLE": "kdsActiveRegionConfig",
			"ORDERING": "key", "ACTIVE_REGION_CACHE_TTL": "5s", "METRICS_NAMESPACE": "KinesisReplication", "METRICS_MIRROR_REGION": "us-east-1",
		}},
		{"mixed", "us-east-1", stacks.ReplicatorFunctionName, map[string]any{
			"TARGET_REGION": "us-east-2", "CHECKPOINT_TABLE": "kdsReplicationCheckpoint", "ACTIVE_REGION_TABLE": "kdsActiveRegionConfig",
			"ORDERING": "key", "ACTIVE_REGION_CACHE_TTL": "5s", "METRICS_NAMESPACE": "KinesisReplication",
		}},
		{"default", "us-east-1", stacks.FailoverFunctionName, map[string]any{
			"CHECKPOINT_TABLE": "kdsReplicationCheckpoint", "ACTIVE_REGION_TABLE": "kdsActiveRegionConfig",
			"REGIONS": "us-east-1,us-east-2", "REPLICATOR_FUNCTION_NAME": "kds-crr-replicator",
			"ACTIVE_REGION_CACHE_TTL": "5s", "HISTORY_RETENTION": "24h",
		}},
		{"default", "us-east-2", stacks.FailoverFunctionName, map[string]any{
			"CHECKPOINT_TABLE": "kdsReplicationCheckpoint", "ACTIVE_REGION_TABLE": "kdsActiveRegionConfig",
			"REGIONS": "us-east-1,us-east-2", "REPLICATOR_FUNCTION_NAME": "kds-crr-replicator",
			"ACTIVE_REGION_CACHE_TTL": "5s", "HISTORY_RETENTION": "24h",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.deployment+"/"+tt.region+"/"+tt.function, func(t *testing.T) {
			p := functionNamed(t, deployment(t, tt.deployment).region(tt.region), tt.function).Properties
			got := p["Environment"].(map[string]any)["Variables"]
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOrderingAndCacheTTLReachTheReplicator(t *testing.T) {
	env := functionNamed(t, deployment(t, "tuned").region("us-east-1"), stacks.ReplicatorFunctionName).Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["ORDERING"] != "strict" || env["ACTIVE_REGION_CACHE_TTL"] != "1.5s" {
		t.Errorf("got ORDERING=%v ACTIVE_REGION_CACHE_TTL=%v, want strict and 1.5s", env["ORDERING"], env["ACTIVE_REGION_CACHE_TTL"])
	}
}

// TestFailoverGetsTheReplicatorsCacheTTLAndAHistoryRetentionCoveringTheStreams:
// the failover function derives the switchover times from the replicators'
// cache TTL, so it must be given the same value, and it keeps history for
// HISTORY_RETENTION, which must cover every stream's retention.
func TestFailoverGetsTheReplicatorsCacheTTLAndAHistoryRetentionCoveringTheStreams(t *testing.T) {
	for _, name := range []string{"default", "mixed", "tuned"} {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(name+"/"+region, func(t *testing.T) {
				tpl := deployment(t, name).region(region)
				vars := func(fn string) map[string]any {
					return functionNamed(t, tpl, fn).Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
				}
				replicator, failoverEnv := vars(stacks.ReplicatorFunctionName), vars(stacks.FailoverFunctionName)
				ttl, ok := failoverEnv["ACTIVE_REGION_CACHE_TTL"].(string)
				if !ok || ttl != replicator["ACTIVE_REGION_CACHE_TTL"] {
					t.Errorf("failover ACTIVE_REGION_CACHE_TTL: got %v (set %v), want the replicator's %v", failoverEnv["ACTIVE_REGION_CACHE_TTL"], ok, replicator["ACTIVE_REGION_CACHE_TTL"])
				}
				if name == "tuned" && ttl != "1.5s" {
					t.Errorf("failover ACTIVE_REGION_CACHE_TTL: got %q, want the context's 1.5s", ttl)
				}

				raw, _ := failoverEnv["HISTORY_RETENTION"].(string)
				retention, err := time.ParseDuration(raw)
				if err != nil {
					t.Fatalf("failover HISTORY_RETENTION: got %q, want a Go duration: %v", raw, err)
				}
				// Every stream of the template keeps records for
				// RetentionPeriodHours; history must reach as far back.
				longest := 24 * time.Hour
				for _, st := range resources(tpl, "AWS::Kinesis::Stream") {
					hours, ok := st.Properties["RetentionPeriodHours"].(float64)
					if !ok {
						t.Fatalf("stream %s: got RetentionPeriodHours %v, want a number", st.LogicalID, st.Properties["RetentionPeriodHours"])
					}
					longest = max(longest, time.Duration(hours)*time.Hour)
				}
				if retention != longest || raw != "24h" {
					t.Errorf("failover HISTORY_RETENTION: got %q, want %s written as 24h (the longest stream retention, at least 24h)", raw, longest)
				}
			})
		}
	}
}

// TestFailoverHasFiveMinutesAndItsCommandsWaitLonger: the failover must
// finish even when the old Region hangs, and neither printed command may
// give up (and retry the invoke) before the function's timeout: the aws CLI
// one through its --cli-read-timeout, kdscrr through its default --timeout.
func TestFailoverHasFiveMinutesAndItsCommandsWaitLonger(t *testing.T) {
	if operator.DefaultInvokeTimeout <= stacks.FailoverTimeout {
		t.Errorf("kdscrr's default --timeout: got %v, want more than the failover function's %v", operator.DefaultInvokeTimeout, stacks.FailoverTimeout)
	}
	for _, name := range []string{"default", "parked"} {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(name+"/"+region, func(t *testing.T) {
				tpl := deployment(t, name).region(region)
				timeout, _ := functionNamed(t, tpl, stacks.FailoverFunctionName).Properties["Timeout"].(float64)
				if timeout != 300 {
					t.Errorf("failover timeout: got %v s, want 300 s (5 minutes)", timeout)
				}
				if time.Duration(timeout)*time.Second != stacks.FailoverTimeout {
					t.Errorf("failover timeout: got %v s, want stacks.FailoverTimeout %v", timeout, stacks.FailoverTimeout)
				}
				cmd := render(tpl["Outputs"].(map[string]any)["FailoverCommandAwsCliV2"].(map[string]any)["Value"])
				fields := strings.Fields(cmd)
				i := slices.Index(fields, "--cli-read-timeout")
				if i < 0 || i+1 >= len(fields) {
					t.Fatalf("FailoverCommandAwsCliV2 %q: got no --cli-read-timeout, want one above the function's %v s (the CLI default is 60 s)", cmd, timeout)
				}
				read, err := strconv.Atoi(fields[i+1])
				if err != nil || float64(read) <= timeout {
					t.Errorf("FailoverCommandAwsCliV2 %q: got --cli-read-timeout %s, want more than the function timeout %v s", cmd, fields[i+1], timeout)
				}
			})
		}
	}
}

func TestStandbyReplicatorIsParkedOnlyWhenAsked(t *testing.T) {
	tests := []struct {
		deployment string
		region     string
		want       any
	}{
		{"default", "us-east-1", nil},
		{"default", "us-east-2", nil},
		{"parked", "us-east-1", nil},
		{"parked", "us-east-2", 0.0},
	}
	for _, tt := range tests {
		t.Run(tt.deployment+"/"+tt.region, func(t *testing.T) {
			p := functionNamed(t, deployment(t, tt.deployment).region(tt.region), stacks.ReplicatorFunctionName).Properties
			if got := p["ReservedConcurrentExecutions"]; got != tt.want {
				t.Errorf("reserved concurrency: got %v, want %v", got, tt.want)
			}
		})
	}
}

// seedType is the CloudFormation type of the config seed.
const seedType = "Custom::ActiveRegionSeed"

// seedParts returns the config seed, the provider framework function its
// ServiceToken names, and the init request it carries.
func seedParts(t *testing.T, tpl map[string]any) (seed, framework resource, request string) {
	t.Helper()
	seed = only(t, tpl, seedType)
	token := render(seed.Properties["ServiceToken"])
	for _, fn := range resources(tpl, "AWS::Lambda::Function") {
		if token == "${"+fn.LogicalID+".Arn}" {
			framework = fn
		}
	}
	if framework.LogicalID == "" {
		t.Fatalf("seed ServiceToken %s names no function of the stack", token)
	}
	request, ok := seed.Properties[failover.SeedRequestProperty].(string)
	if !ok {
		t.Fatalf("seed property %s: got %s, want the init request as a JSON string", failover.SeedRequestProperty, jsonOf(seed.Properties[failover.SeedRequestProperty]))
	}
	return seed, framework, request
}

func TestSeedRunsFailoverInitForThePrimaryRegionThroughTheProviderFramework(t *testing.T) {
	for _, name := range []string{"default", "mixed"} {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(name+"/"+region, func(t *testing.T) {
				s := deployment(t, name)
				tpl := s.region(region)
				if got := resources(tpl, "Custom::AWS"); len(got) != 0 {
					t.Errorf("got %d Custom::AWS resources, want none: Lambda Invoke succeeds even when the function fails", len(got))
				}
				seed, framework, request := seedParts(t, tpl)
				failoverFn := functionNamed(t, tpl, stacks.FailoverFunctionName)

				// The framework invokes the failover function and fails the
				// resource when it returns an error.
				vars, _ := framework.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
				if got, want := render(vars["USER_ON_EVENT_FUNCTION_ARN"]), "${"+failoverFn.LogicalID+".Arn}"; got != want {
					t.Errorf("framework onEvent handler: got %s, want the failover function %s", got, want)
				}
				var props []string
				for k := range seed.Properties {
					props = append(props, k)
				}
				if got, want := sorted(props), []string{failover.SeedRequestProperty, "ServiceTimeout", "ServiceToken"}; !reflect.DeepEqual(got, want) {
					t.Errorf("seed properties: got %v, want %v: the failover function refuses any other", got, want)
				}
				if got := jsonOf(seed.Properties["ServiceTimeout"]); got != "600" && got != `"600"` {
					t.Errorf("seed ServiceTimeout: got %s, want 600 seconds", got)
				}

				var got stacks.InitPayload
				dec := json.NewDecoder(strings.NewReader(request))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&got); err != nil {
					t.Fatalf("decode init request %s: %v", request, err)
				}
				want := stacks.InitPayload{Action: "init", TargetRegion: "us-east-1", Streams: s.settings.StreamNames()}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("init request: got %+v, want %+v", got, want)
				}
			})
		}
	}
}

// TestSeedFrameworkRunsOnItsOwnLeastPrivilegeRole: the framework function
// may write its own log group and invoke the failover function, nothing
// else, and carries no managed policy.
func TestSeedFrameworkRunsOnItsOwnLeastPrivilegeRole(t *testing.T) {
	tpl := deployment(t, "default").region("us-east-2")
	_, framework, _ := seedParts(t, tpl)
	role := strings.TrimSuffix(strings.TrimPrefix(render(framework.Properties["Role"]), "${"), ".Arn}")
	if !strings.HasPrefix(role, "SeedRole") {
		t.Fatalf("framework role: got %s, want the SeedRole", role)
	}
	for _, r := range resources(tpl, "AWS::IAM::Role") {
		if r.LogicalID == role {
			if mp, ok := r.Properties["ManagedPolicyArns"]; ok {
				t.Errorf("framework role: got managed policies %s, want none", jsonOf(mp))
			}
		}
	}
	if got := render(framework.Properties["LoggingConfig"].(map[string]any)["LogGroup"]); !strings.HasPrefix(got, "${Ref:SeedLogs") {
		t.Errorf("framework log group: got %s, want SeedLogs", got)
	}
	fn := "${" + functionNamed(t, tpl, stacks.FailoverFunctionName).LogicalID + ".Arn}"
	var logs string
	for _, r := range resources(tpl, "AWS::Logs::LogGroup") {
		if strings.HasPrefix(r.LogicalID, "SeedLogs") {
			logs = "${" + r.LogicalID + ".Arn}"
		}
	}
	var got []string
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		if roles := renderAll(p.Properties["Roles"]); len(roles) != 1 || roles[0] != "${Ref:"+role+"}" {
			continue
		}
		for _, raw := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := raw.(map[string]any)
			got = append(got, fmt.Sprintf("%v on %v", sorted(renderAll(st["Action"])), sorted(renderAll(st["Resource"]))))
		}
	}
	want := []string{
		fmt.Sprintf("%v on %v", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{logs}),
		fmt.Sprintf("%v on %v", []string{"lambda:InvokeFunction"}, sorted([]string{fn, fn + ":*"})),
		fmt.Sprintf("%v on %v", []string{"lambda:GetFunction"}, []string{fn}),
	}
	if !reflect.DeepEqual(sorted(got), sorted(want)) {
		t.Errorf("framework role statements:\ngot  %q\nwant %q", sorted(got), sorted(want))
	}
}

func TestAlarmEmailSubscribesOnlyWhenGiven(t *testing.T) {
	tests := []struct {
		deployment string
		want       int
	}{
		{"default", 0},
		{"parked", 1},
	}
	for _, tt := range tests {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(tt.deployment+"/"+region, func(t *testing.T) {
				tpl := deployment(t, tt.deployment).region(region)
				subs := resources(tpl, "AWS::SNS::Subscription")
				if len(subs) != tt.want {
					t.Fatalf("got %d subscriptions, want %d", len(subs), tt.want)
				}
				topic := only(t, tpl, "AWS::SNS::Topic")
				if _, ok := topic.Properties["KmsMasterKeyId"]; !ok {
					t.Errorf("topic: got no KMS key, want one")
				}
				for _, sub := range subs {
					if sub.Properties["Protocol"] != "email" || sub.Properties["Endpoint"] != "ops@example.com" {
						t.Errorf("subscription: got %v, want email to ops@example.com", sub.Properties)
					}
					if got := render(sub.Properties["TopicArn"]); got != "${Ref:"+topic.LogicalID+"}" {
						t.Errorf("subscription topic: got %s, want the alarm topic", got)
					}
				}
			})
		}
	}
}

func TestOutputsGiveNamesURLsAndTheFailoverCommand(t *testing.T) {
	for _, region := range []string{"us-east-1", "us-east-2"} {
		t.Run(region, func(t *testing.T) {
			tpl := deployment(t, "default").region(region)
			outputs := tpl["Outputs"].(map[string]any)
			value := func(key string) string {
				o, ok := outputs[key].(map[string]any)
				if !ok {
					t.Fatalf("no output %s", key)
				}
				return render(o["Value"])
			}
			topic := only(t, tpl, "AWS::SNS::Topic")
			want := map[string]string{
				"ReplicatorFunctionName": "${Ref:" + functionNamed(t, tpl, stacks.ReplicatorFunctionName).LogicalID + "}",
				"FailoverFunctionName":   "${Ref:" + functionNamed(t, tpl, stacks.FailoverFunctionName).LogicalID + "}",
				"CheckpointTableName":    "kdsReplicationCheckpoint",
				"ActiveRegionTableName":  "kdsActiveRegionConfig",
				"AlarmTopicArn":          "${Ref:" + topic.LogicalID + "}",
				"DashboardUrl":           "https://" + region + ".console.aws.amazon.com/cloudwatch/home?region=" + region + "#dashboards:name=KdsCrr-" + region,
				"FailoverCommand":        "kdscrr failover --to " + region + " --regions us-east-1,us-east-2 --reason '<why>'",
				"FailoverCommandAwsCliV2": "aws lambda invoke --function-name kds-crr-failover --region " + region +
					` --cli-binary-format raw-in-base64-out --cli-read-timeout 330 --payload '{"targetRegion":"` + region + `","reason":"<why>"}' out.json`,
			}
			for key, w := range want {
				if got := value(key); got != w {
					t.Errorf("%s: got %s, want %s", key, got, w)
				}
			}
			// --cli-binary-format is an aws CLI v2 option that v1 refuses:
			// the output must say which CLI it is for.
			if d, _ := outputs["FailoverCommandAwsCliV2"].(map[string]any)["Description"].(string); !strings.Contains(d, "needs aws CLI v2") {
				t.Errorf("FailoverCommandAwsCliV2 description %q: want it to say it needs aws CLI v2", d)
			}
			if d, _ := outputs["FailoverCommand"].(map[string]any)["Description"].(string); !strings.Contains(d, "kdscrr") || !strings.Contains(d, "<why>") {
				t.Errorf("FailoverCommand description %q: want it to name kdscrr and say what <why> is", d)
			}
		})
	}
	global := deployment(t, "default").templates[stacks.GlobalStackName]["Outputs"].(map[string]any)
	for _, key := range []string{"CheckpointTableName", "ActiveRegionTableName"} {
		if _, ok := global[key]; !ok {
			t.Errorf("global stack: no output %s", key)
		}
	}
}

// dashboardSeries lists the KinesisReplication series of a dashboard: the
// metric, its dimensions, the Region it is read in ("" for the dashboard's
// own) and its label.
type dashboardSeries struct{ metric, stream, source, readIn, label string }

func dashboardMetrics(t *testing.T, tpl map[string]any) (map[dashboardSeries]bool, string) {
	t.Helper()
	dash := only(t, tpl, "AWS::CloudWatch::Dashboard")
	body := render(dash.Properties["DashboardBody"])
	var doc struct {
		Widgets []struct {
			Properties struct {
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("decode dashboard body: %v", err)
	}
	found := map[dashboardSeries]bool{}
	for _, w := range doc.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) < 4 || m[0] != stacks.MetricsNamespace {
				continue
			}
			ser := dashboardSeries{metric: m[1].(string)}
			for i := 2; i+1 < len(m); i += 2 {
				name, _ := m[i].(string)
				value, _ := m[i+1].(string)
				switch name {
				case "StreamName":
					ser.stream = value
				case "SourceRegion":
					ser.source = value
				}
			}
			if opts, ok := m[len(m)-1].(map[string]any); ok {
				ser.readIn, _ = opts["region"].(string)
				ser.label, _ = opts["label"].(string)
			}
			found[ser] = true
		}
	}
	return found, dash.Properties["DashboardName"].(string)
}

func TestDashboardShowsEveryStreamWithTheOtherRegionsLag(t *testing.T) {
	tests := []struct {
		deployment string
		streams    []string
		// where the other Region's lag is read, and how it is labelled
		otherReadIn, otherLabel string
	}{
		// Without the mirror the other Region's series is read there.
		{"mixed", []string{"orders", "clicks"}, "us-east-2", "ReplicationLagSeconds of the us-east-2 replicator (read in us-east-2)"},
		// With it, its mirrored copy is read here.
		{"default", []string{"example-stream-1"}, "", "ReplicationLagSeconds of the us-east-2 replicator (mirrored to us-east-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.deployment, func(t *testing.T) {
			found, name := dashboardMetrics(t, deployment(t, tt.deployment).region("us-east-1"))
			if name != "KdsCrr-us-east-1" {
				t.Errorf("name: got %v, want KdsCrr-us-east-1", name)
			}
			for _, stream := range tt.streams {
				own := func(metric string) dashboardSeries {
					return dashboardSeries{metric, stream, "us-east-1", "", metric + " of the us-east-1 replicator"}
				}
				for _, want := range []dashboardSeries{
					own("ReplicationLagSeconds"),
					{"ReplicationLagSeconds", stream, "us-east-2", tt.otherReadIn, tt.otherLabel},
					own("ReplicatedRecords"), own("ReplicatedBytes"), own("SkippedRecords"),
					own("FailedRecords"), own("ResentRecords"), own("CheckpointAgeSeconds"),
				} {
					if !found[want] {
						t.Errorf("got no widget metric %+v, want one; got %v", want, found)
					}
				}
			}
			for ser := range found {
				if ser.source == "" {
					t.Errorf("widget metric %+v has no SourceRegion: the Regions' series would merge", ser)
				}
			}
			if !strings.Contains(render(only(t, deployment(t, tt.deployment).region("us-east-1"), "AWS::CloudWatch::Dashboard").Properties["DashboardBody"]), `"IteratorAge"`) {
				t.Errorf("got no IteratorAge widget, want one")
			}
		})
	}
}

func TestRegionStacksDeployAfterTheGlobalTablesBothRegionsStreamsAndPrimaryFirst(t *testing.T) {
	d := deployment(t, "default").deployment
	streams := []string{stacks.StreamsStackName("us-east-1"), stacks.StreamsStackName("us-east-2")}
	tests := []struct {
		name  string
		stack awscdk.Stack
		want  []string
	}{
		{"global", d.Global, nil},
		{"primary streams", d.PrimaryStreams, nil},
		{"secondary streams", d.SecondaryStreams, nil},
		{"primary", d.Primary, append([]string{stacks.GlobalStackName}, streams...)},
		{"secondary", d.Secondary, append([]string{stacks.GlobalStackName}, append(streams, stacks.RegionStackName("us-east-1"))...)},
	}
	for _, tt := range tests {
		var got []string
		for _, dep := range *tt.stack.Dependencies() {
			got = append(got, *dep.StackName())
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s depends on %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAccountComesFromContextOrStaysAgnostic(t *testing.T) {
	tests := []struct {
		deployment string
		wantARN    string
	}{
		{"default", "arn:aws:kinesis:us-east-2:123456789012:stream/example-stream-1"},
		{"agnostic", "arn:aws:kinesis:us-east-2:${AWS::AccountId}:stream/example-stream-1"},
	}
	for _, tt := range tests {
		t.Run(tt.deployment, func(t *testing.T) {
			got := statementsBySid(t, deployment(t, tt.deployment).region("us-east-1"), "ReplicatorRole")["WriteOtherRegionStreams"].Resources
			if !reflect.DeepEqual(got, []string{tt.wantARN}) {
				t.Errorf("got %v, want [%s]", got, tt.wantARN)
			}
		})
	}
}

func TestMissingFunctionCodeStopsTheSynthWithABuildHint(t *testing.T) {
	app := newTestApp(t)
	s, err := stacks.ParseSettings(func(key string) any { return app.Node().TryGetContext(&key) })
	if err != nil {
		t.Fatalf("ParseSettings: %v", err)
	}
	_, err = stacks.NewDeployment(app, s, stacks.Code{ReplicatorDir: t.TempDir(), FailoverDir: testCode.FailoverDir})
	if err == nil || !strings.Contains(err.Error(), "scripts/build.sh") {
		t.Errorf("got error %v, want one pointing to scripts/build.sh", err)
	}
}

func TestRegionStackRejectsARegionOutsideThePair(t *testing.T) {
	app := newTestApp(t)
	s, err := stacks.ParseSettings(func(key string) any { return app.Node().TryGetContext(&key) })
	if err != nil {
		t.Fatalf("ParseSettings: %v", err)
	}
	_, err = stacks.NewRegionStack(app, "KdsCrr-eu-west-1", &stacks.RegionStackProps{Settings: s, Region: "eu-west-1", Code: testCode})
	if err == nil || !strings.Contains(err.Error(), "eu-west-1") {
		t.Errorf("got error %v, want one naming eu-west-1", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
