package stacks_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestReplicatorMayOnlyReadItsStreamsAndWriteTheOtherRegions(t *testing.T) {
	const acct = testAccount
	tests := []struct {
		region, other string
	}{
		{"us-east-1", "us-east-2"},
		{"us-east-2", "us-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			tpl := deployment(t, "mixed").region(tt.region)
			streams := []string{
				"arn:aws:kinesis:" + tt.region + ":" + acct + ":stream/orders",
				"arn:aws:kinesis:" + tt.region + ":" + acct + ":stream/clicks",
			}
			var consumers []string
			for _, r := range resources(tpl, "AWS::Kinesis::StreamConsumer") {
				consumers = append(consumers, "${"+r.LogicalID+".ConsumerARN}")
			}
			queue := only(t, tpl, "AWS::SQS::Queue")
			logs := ""
			for _, r := range resources(tpl, "AWS::Logs::LogGroup") {
				if r.Properties["LogGroupName"] == "/aws/lambda/kds-crr-replicator" {
					logs = "${" + r.LogicalID + ".Arn}"
				}
			}
			want := map[string]statement{
				"WriteOwnLogs": {Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resources: []string{logs}},
				"ReadOwnStreams": {Actions: []string{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
					"kinesis:GetShardIterator", "kinesis:ListShards"}, Resources: sorted(streams)},
				"ReadOwnConsumers": {Actions: []string{"kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"}, Resources: sorted(consumers)},
				"WriteOtherRegionStreams": {Actions: []string{"kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:PutRecords"}, Resources: sorted([]string{
					"arn:aws:kinesis:" + tt.other + ":" + acct + ":stream/orders",
					"arn:aws:kinesis:" + tt.other + ":" + acct + ":stream/clicks",
				})},
				"ReadActiveRegionConfig": {Actions: []string{"dynamodb:GetItem"},
					Resources: []string{"arn:aws:dynamodb:" + tt.region + ":" + acct + ":table/kdsActiveRegionConfig"}},
				"FenceReadTargetRegionConfig": {Actions: []string{"dynamodb:GetItem"},
					Resources: []string{"arn:aws:dynamodb:" + tt.other + ":" + acct + ":table/kdsActiveRegionConfig"}},
				"WriteCheckpoints": {Actions: []string{"dynamodb:PutItem"},
					Resources: []string{"arn:aws:dynamodb:" + tt.region + ":" + acct + ":table/kdsReplicationCheckpoint"}},
				"ReadOwnCheckpoints": {Actions: []string{"dynamodb:GetItem"},
					Resources: []string{"arn:aws:dynamodb:" + tt.region + ":" + acct + ":table/kdsReplicationCheckpoint"}},
				"MarkShardsDrained": {Actions: []string{"dynamodb:UpdateItem"},
					Resources: []string{"arn:aws:dynamodb:" + tt.region + ":" + acct + ":table/kdsReplicationCheckpoint"}},
				"SendFailedBatches": {Actions: []string{"sqs:SendMessage"}, Resources: []string{"${" + queue.LogicalID + ".Arn}"}},
			}
			if got := statementsBySid(t, tpl, "ReplicatorRole"); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v,\nwant %+v", got, want)
			}
		})
	}
}

// grantsOn returns the statements of role that name resource, and the
// actions role is granted on resource over all of them.
func grantsOn(t *testing.T, tpl map[string]any, role, resource string) (sids, actions []string) {
	t.Helper()
	for sid, st := range statementsBySid(t, tpl, role) {
		if slices.Contains(st.Resources, resource) {
			sids = append(sids, sid)
			actions = append(actions, st.Actions...)
		}
	}
	return sorted(sids), sorted(actions)
}

// accountIn is how a deployment's ARNs spell the account.
func accountIn(s *synthesized) string {
	if s.settings.Account == "" {
		return "${AWS::AccountId}"
	}
	return s.settings.Account
}

// TestReplicatorFenceReadsTheTargetRegionsConfigReplicaWithGetItemOnly: the
// replicator reads the active-Region config in the target Region (a
// failover into it is written there first) through one statement that names
// exactly that replica and allows GetItem on it, nothing else.
func TestReplicatorFenceReadsTheTargetRegionsConfigReplicaWithGetItemOnly(t *testing.T) {
	for _, name := range []string{"default", "mixed", "agnostic"} {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(name+"/"+region, func(t *testing.T) {
				s := deployment(t, name)
				tpl := s.region(region)
				fence := "arn:aws:dynamodb:" + s.settings.OtherRegion(region) + ":" + accountIn(s) + ":table/kdsActiveRegionConfig"
				st, ok := statementsBySid(t, tpl, "ReplicatorRole")["FenceReadTargetRegionConfig"]
				if want := (statement{Actions: []string{"dynamodb:GetItem"}, Resources: []string{fence}}); !ok || !reflect.DeepEqual(st, want) {
					t.Errorf("fence statement: got %+v (present %v), want %+v", st, ok, want)
				}
				sids, actions := grantsOn(t, tpl, "ReplicatorRole", fence)
				if !reflect.DeepEqual(sids, []string{"FenceReadTargetRegionConfig"}) || !reflect.DeepEqual(actions, []string{"dynamodb:GetItem"}) {
					t.Errorf("grants on %s: got %v in statements %v, want only dynamodb:GetItem in FenceReadTargetRegionConfig", fence, actions, sids)
				}
				own := "arn:aws:dynamodb:" + region + ":" + accountIn(s) + ":table/kdsActiveRegionConfig"
				if _, actions := grantsOn(t, tpl, "ReplicatorRole", own); !reflect.DeepEqual(actions, []string{"dynamodb:GetItem"}) {
					t.Errorf("grants on the own Region's replica %s: got %v, want dynamodb:GetItem only", own, actions)
				}
			})
		}
	}
}

// TestReplicatorMayMarkShardsDrainedInItsOwnCheckpointReplicaOnly: the
// replicator's UpdateItem (checkpoint.Store.MarkDrained) is granted on its
// own Region's checkpoint replica and on nothing else.
func TestReplicatorMayMarkShardsDrainedInItsOwnCheckpointReplicaOnly(t *testing.T) {
	for _, name := range []string{"default", "mixed", "agnostic"} {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(name+"/"+region, func(t *testing.T) {
				s := deployment(t, name)
				tpl := s.region(region)
				own := "arn:aws:dynamodb:" + region + ":" + accountIn(s) + ":table/kdsReplicationCheckpoint"
				var got []string
				for sid, st := range statementsBySid(t, tpl, "ReplicatorRole") {
					if slices.Contains(st.Actions, "dynamodb:UpdateItem") {
						got = append(got, fmt.Sprintf("%s: %v on %v", sid, st.Actions, st.Resources))
					}
				}
				want := []string{fmt.Sprintf("MarkShardsDrained: %v on %v", []string{"dynamodb:UpdateItem"}, []string{own})}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("UpdateItem grants: got %q, want %q", got, want)
				}
				if _, actions := grantsOn(t, tpl, "ReplicatorRole", own); !reflect.DeepEqual(actions, []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}) {
					t.Errorf("grants on %s: got %v, want GetItem, PutItem and UpdateItem", own, actions)
				}
			})
		}
	}
}

func TestMetricsMirrorMayPutMetricDataOnlyInItsNamespace(t *testing.T) {
	tests := []struct {
		deployment string
		want       *statement
	}{
		{"default", &statement{Actions: []string{"cloudwatch:PutMetricData"}, Resources: []string{"*"},
			Condition: `{"StringEquals":{"cloudwatch:namespace":"KinesisReplication"}}`}},
		{"mixed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.deployment, func(t *testing.T) {
			got, ok := statementsBySid(t, deployment(t, tt.deployment).region("us-east-1"), "ReplicatorRole")["MirrorMetrics"]
			switch {
			case tt.want == nil && ok:
				t.Errorf("got %+v, want no PutMetricData without the mirror", got)
			case tt.want != nil && !reflect.DeepEqual(got, *tt.want):
				t.Errorf("got %+v, want %+v", got, *tt.want)
			}
		})
	}
}

func TestFailoverMayOnlyTouchTheTablesReplicatorConcurrencyAndShardLists(t *testing.T) {
	const acct = testAccount
	tpl := deployment(t, "default").region("us-east-2")
	logs := ""
	for _, r := range resources(tpl, "AWS::Logs::LogGroup") {
		if r.Properties["LogGroupName"] == "/aws/lambda/kds-crr-failover" {
			logs = "${" + r.LogicalID + ".Arn}"
		}
	}
	both := func(format string) []string {
		return []string{strings.ReplaceAll(format, "{R}", "us-east-1"), strings.ReplaceAll(format, "{R}", "us-east-2")}
	}
	want := map[string]statement{
		"WriteOwnLogs": {Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resources: []string{logs}},
		"SwitchActiveRegion": {Actions: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"},
			Resources: []string{"arn:aws:dynamodb:us-east-2:" + acct + ":table/kdsActiveRegionConfig"}},
		"ReadCheckpoints": {Actions: []string{"dynamodb:Query"},
			Resources: []string{"arn:aws:dynamodb:us-east-2:" + acct + ":table/kdsReplicationCheckpoint"}},
		"ParkAndUnparkReplicators": {Actions: []string{"lambda:DeleteFunctionConcurrency", "lambda:GetFunctionConcurrency", "lambda:PutFunctionConcurrency"},
			Resources: both("arn:aws:lambda:{R}:" + acct + ":function:kds-crr-replicator")},
		"ReadStreamShards": {Actions: []string{"kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"},
			Resources: both("arn:aws:kinesis:{R}:" + acct + ":stream/example-stream-1")},
	}
	if got := statementsBySid(t, tpl, "FailoverRole"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v,\nwant %+v", got, want)
	}
}

func TestNoPolicyGrantsAWildcardActionOrAnUnconditionedWildcardResource(t *testing.T) {
	for _, name := range []string{"default", "parked", "mixed", "agnostic"} {
		s := deployment(t, name)
		for stackName, tpl := range s.templates {
			for _, p := range resources(tpl, "AWS::IAM::Policy") {
				for _, raw := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					st := raw.(map[string]any)
					for _, a := range renderAll(st["Action"]) {
						if strings.Contains(a, "*") {
							t.Errorf("%s/%s %s: got action %s, want no wildcard", name, stackName, p.LogicalID, a)
						}
					}
					for _, r := range renderAll(st["Resource"]) {
						if r == "*" && st["Condition"] == nil {
							t.Errorf("%s/%s %s: got resource * without a condition (actions %v)", name, stackName, p.LogicalID, st["Action"])
						}
					}
				}
			}
		}
	}
}
