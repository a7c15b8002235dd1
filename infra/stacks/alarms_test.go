package stacks_test

import (
	"strings"
	"testing"
)

type alarmWant struct {
	metric     string // MetricName, or the math expression
	threshold  float64
	comparison string
	periods    float64
	datapoints float64
	period     float64
	missing    string
}

func alarmsByName(t *testing.T, tpl map[string]any) map[string]resource {
	t.Helper()
	out := map[string]resource{}
	for _, a := range resources(tpl, "AWS::CloudWatch::Alarm") {
		out[a.Properties["AlarmName"].(string)] = a
	}
	return out
}

// alarmShape reads the metric, its period and statistic either from the
// alarm's single-metric fields or from its Metrics list.
func alarmShape(a resource) (metric string, period float64) {
	p := a.Properties
	if name, ok := p["MetricName"].(string); ok {
		return name, p["Period"].(float64)
	}
	for _, raw := range p["Metrics"].([]any) {
		m := raw.(map[string]any)
		if m["ReturnData"] == false {
			continue
		}
		if expr, ok := m["Expression"].(string); ok {
			// The period of an expression is that of its inputs.
			for _, in := range p["Metrics"].([]any) {
				if stat, ok := in.(map[string]any)["MetricStat"].(map[string]any); ok {
					period = stat["Period"].(float64)
				}
			}
			return expr, period
		}
		stat := m["MetricStat"].(map[string]any)
		return stat["Metric"].(map[string]any)["MetricName"].(string), stat["Period"].(float64)
	}
	return "", 0
}

func TestAlarmsWatchLagStallsFailuresAndSourceHealth(t *testing.T) {
	tests := []struct {
		deployment string
		region     string
		want       map[string]alarmWant
	}{
		{"default", "us-east-1", map[string]alarmWant{
			"ReplicationLag-example-stream-1":              {"ReplicationLagSeconds", 60, "GreaterThanThreshold", 5, 3, 60, "ignore"},
			"CheckpointAge-example-stream-1":               {"CheckpointAgeSeconds", 300, "GreaterThanThreshold", 5, 3, 60, "ignore"},
			"FailedRecords-example-stream-1":               {"FailedRecords", 0, "GreaterThanThreshold", 15, 15, 60, "notBreaching"},
			"RejectedRecords-example-stream-1":             {"RejectedRecords", 0, "GreaterThanThreshold", 1, 1, 60, "notBreaching"},
			"SourcePutRecordsFailureRate-example-stream-1": {"100 * FILL(failed0, 0) / total0", 1, "GreaterThanOrEqualToThreshold", 1, 1, 300, "notBreaching"},
			"ReplicatorIteratorAge":                        {"IteratorAge", 60000, "GreaterThanThreshold", 5, 3, 60, "notBreaching"},
			"ReplicatorErrors":                             {"Errors", 0, "GreaterThanThreshold", 5, 3, 60, "notBreaching"},
			"MappingOnFailureQueue":                        {"ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold", 1, 1, 300, "notBreaching"},
		}},
		{"parked", "us-east-2", map[string]alarmWant{
			"ReplicationLag-example-stream-1": {"ReplicationLagSeconds", 120, "GreaterThanThreshold", 5, 3, 60, "ignore"},
			"ReplicatorIteratorAge":           {"IteratorAge", 120000, "GreaterThanThreshold", 5, 3, 60, "notBreaching"},
		}},
	}
	for _, tt := range tests {
		tpl := deployment(t, tt.deployment).region(tt.region)
		topic := "${Ref:" + only(t, tpl, "AWS::SNS::Topic").LogicalID + "}"
		alarms := alarmsByName(t, tpl)
		for name, want := range tt.want {
			t.Run(tt.deployment+"/"+name, func(t *testing.T) {
				a, ok := alarms["KdsCrr-"+tt.region+"-"+name]
				if !ok {
					t.Fatalf("no alarm KdsCrr-%s-%s", tt.region, name)
				}
				p := a.Properties
				metric, period := alarmShape(a)
				got := alarmWant{metric, p["Threshold"].(float64), p["ComparisonOperator"].(string),
					p["EvaluationPeriods"].(float64), p["DatapointsToAlarm"].(float64), period, p["TreatMissingData"].(string)}
				if got != want {
					t.Errorf("got %+v, want %+v", got, want)
				}
				for _, key := range []string{"AlarmActions", "OKActions"} {
					if actions := renderAll(p[key]); len(actions) != 1 || actions[0] != topic {
						t.Errorf("%s: got %v, want [%s]", key, actions, topic)
					}
				}
				if desc, _ := p["AlarmDescription"].(string); len(desc) < 80 {
					t.Errorf("description: got %q, want what it means and what to do", desc)
				}
			})
		}
	}
}

func TestEveryStreamHasItsOwnAlarms(t *testing.T) {
	alarms := alarmsByName(t, deployment(t, "mixed").region("us-east-2"))
	if got, want := len(alarms), 2*5+3; got != want {
		t.Errorf("got %d alarms, want %d (5 per stream, 3 for the function and queue)", got, want)
	}
	for _, stream := range []string{"orders", "clicks"} {
		for _, kind := range []string{"ReplicationLag", "CheckpointAge", "FailedRecords", "RejectedRecords", "SourcePutRecordsFailureRate"} {
			a, ok := alarms["KdsCrr-us-east-2-"+kind+"-"+stream]
			if !ok {
				t.Errorf("no %s alarm for %s", kind, stream)
				continue
			}
			if !strings.Contains(jsonOf(a.Properties), `"Value":"`+stream+`"`) {
				t.Errorf("%s alarm of %s: got no StreamName=%s dimension", kind, stream, stream)
			}
		}
	}
}

func TestSourceHealthAlarmSaysFailoverMayBeDue(t *testing.T) {
	a := alarmsByName(t, deployment(t, "default").region("us-east-1"))["KdsCrr-us-east-1-SourcePutRecordsFailureRate-example-stream-1"]
	desc, _ := a.Properties["AlarmDescription"].(string)
	for _, want := range []string{"failover to us-east-2 may be due", "KdsCrr-us-east-2", "FailoverCommand"} {
		if !strings.Contains(desc, want) {
			t.Errorf("description %q: want it to mention %q", desc, want)
		}
	}
	metrics := jsonOf(a.Properties["Metrics"])
	for _, want := range []string{`"MetricName":"PutRecords.FailedRecords"`, `"MetricName":"PutRecords.TotalRecords"`, `"Namespace":"AWS/Kinesis"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics %s: want %s", metrics, want)
		}
	}
}

// TestSourceHealthAlarmIsWordedForItsRegion: each Region's source-health
// alarm names that Region's role, advises a failover only to the other
// Region, and says not to fail over when the other is already active.
func TestSourceHealthAlarmIsWordedForItsRegion(t *testing.T) {
	tests := []struct{ region, other, role string }{
		{"us-east-1", "us-east-2", "the primary Region"},
		{"us-east-2", "us-east-1", "the secondary Region"},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			a := alarmsByName(t, deployment(t, "default").region(tt.region))["KdsCrr-"+tt.region+"-SourcePutRecordsFailureRate-example-stream-1"]
			desc, _ := a.Properties["AlarmDescription"].(string)
			for _, want := range []string{
				"Kinesis in " + tt.region + ", " + tt.role,
				"failover to " + tt.other + " may be due",
				"stack KdsCrr-" + tt.other,
				"If " + tt.other + " is already active, do not fail over",
			} {
				if !strings.Contains(desc, want) {
					t.Errorf("description %q: want it to say %q", desc, want)
				}
			}
			if strings.Contains(desc, "failover to "+tt.region) || strings.Contains(desc, "stack KdsCrr-"+tt.region) {
				t.Errorf("description %q: advises a failover to its own Region %s", desc, tt.region)
			}
			if len(desc) > 1024 {
				t.Errorf("description is %d characters, CloudWatch allows 1024", len(desc))
			}
		})
	}
}

// TestReplicationAlarmsWatchTheirOwnRegionsSeries: the alarms on the
// replicator's metrics watch the StreamName, SourceRegion series of their
// own Region's replicator, never the mirrored one of the other Region.
func TestReplicationAlarmsWatchTheirOwnRegionsSeries(t *testing.T) {
	for _, region := range []string{"us-east-1", "us-east-2"} {
		alarms := alarmsByName(t, deployment(t, "default").region(region))
		for _, kind := range []string{"ReplicationLag", "CheckpointAge", "FailedRecords", "RejectedRecords"} {
			a, ok := alarms["KdsCrr-"+region+"-"+kind+"-example-stream-1"]
			if !ok {
				t.Errorf("%s: no %s alarm", region, kind)
				continue
			}
			got := jsonOf(a.Properties["Dimensions"])
			want := `[{"Name":"SourceRegion","Value":"` + region + `"},{"Name":"StreamName","Value":"example-stream-1"}]`
			if got != want {
				t.Errorf("%s %s dimensions: got %s, want %s", region, kind, got, want)
			}
			if desc, _ := a.Properties["AlarmDescription"].(string); !strings.Contains(desc, "Watches the "+region+" replicator's series") {
				t.Errorf("%s %s description %q: want it to say whose series it watches", region, kind, desc)
			}
		}
	}
}
