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
			"FailedRecords-example-stream-1":               {"FailedRecords", 0, "GreaterThanThreshold", 1, 1, 60, "notBreaching"},
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
	if got, want := len(alarms), 2*4+3; got != want {
		t.Errorf("got %d alarms, want %d (4 per stream, 3 for the function and queue)", got, want)
	}
	for _, stream := range []string{"orders", "clicks"} {
		for _, kind := range []string{"ReplicationLag", "CheckpointAge", "FailedRecords", "SourcePutRecordsFailureRate"} {
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
	for _, want := range []string{"failover may be due", "KdsCrr-us-east-2", "FailoverCommand"} {
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
