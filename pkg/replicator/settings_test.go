package replicator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/putrecords"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// streamRecorder notes the stream every PutRecords call names.
type streamRecorder struct {
	TargetAPI
	streams *[]string
}

func (r streamRecorder) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	*r.streams = append(*r.streams, aws.ToString(in.StreamName))
	return r.TargetAPI.PutRecords(ctx, in, optFns...)
}

func TestSettingsFromEnvDefaults(t *testing.T) {
	s, err := SettingsFromEnv(envOf(map[string]string{"TARGET_REGION": "us-east-2", "AWS_REGION": "us-east-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.TargetRegion != "us-east-2" || s.CheckpointTable != "kdsReplicationCheckpoint" || s.ActiveRegionTable != "kdsActiveRegionConfig" ||
		s.CommitTimestampField != "CommitTimestamp" || s.Ordering != putrecords.OrderingKey || s.CacheTTL != 5*time.Second ||
		s.MetricsNamespace != "KinesisReplication" || s.MetricsMirrorRegion != "" || s.TargetEndpointURL != "" {
		t.Fatalf("got %+v, want the documented defaults (docs/reference.md)", s)
	}
	if got := s.NameMap.Target("orders"); got != "orders" {
		t.Fatalf("unmapped stream: got target %q, want orders", got)
	}
}

func TestSettingsFromEnvReadsEveryVariable(t *testing.T) {
	s, err := SettingsFromEnv(envOf(map[string]string{
		"AWS_REGION":                   "eu-west-1",
		"TARGET_REGION":                "eu-central-1",
		"STREAM_NAME_MAP":              "orders=orders-dr, payments=payments-dr",
		"CHECKPOINT_TABLE":             "cp",
		"ACTIVE_REGION_TABLE":          "ar",
		"COMMIT_TIMESTAMP_FIELD":       "ts",
		"ORDERING":                     "strict",
		"ACTIVE_REGION_CACHE_TTL":      "250ms",
		"METRICS_NAMESPACE":            "Custom",
		"METRICS_MIRROR_REGION":        "eu-central-1",
		"TARGET_ENDPOINT_URL":          "http://127.0.0.1:4567",
		"TARGET_DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:8000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.NameMap.Target("payments") != "payments-dr" || s.CheckpointTable != "cp" || s.ActiveRegionTable != "ar" ||
		s.CommitTimestampField != "ts" || s.Ordering != putrecords.OrderingStrict || s.CacheTTL != 250*time.Millisecond ||
		s.MetricsNamespace != "Custom" || s.MetricsMirrorRegion != "eu-central-1" || s.TargetEndpointURL != "http://127.0.0.1:4567" ||
		s.TargetDynamoDBEndpointURL != "http://127.0.0.1:8000" {
		t.Fatalf("got %+v", s)
	}
}

func TestSettingsFromEnvRejectsBadValues(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"missing target Region", map[string]string{}, "TARGET_REGION is required"},
		{"unknown Region shape", map[string]string{"TARGET_REGION": "mars-north"}, "TARGET_REGION \"mars-north\""},
		{"target is own Region", map[string]string{"TARGET_REGION": "us-east-1", "AWS_REGION": "us-east-1"}, "own Region"},
		{"bad ordering", map[string]string{"TARGET_REGION": "us-east-2", "ORDERING": "total"}, "ORDERING"},
		{"bad TTL", map[string]string{"TARGET_REGION": "us-east-2", "ACTIVE_REGION_CACHE_TTL": "5"}, "ACTIVE_REGION_CACHE_TTL"},
		{"negative TTL", map[string]string{"TARGET_REGION": "us-east-2", "ACTIVE_REGION_CACHE_TTL": "-1s"}, "negative"},
		{"TTL whose hold would not fit an invocation", map[string]string{"TARGET_REGION": "us-east-2", "ACTIVE_REGION_CACHE_TTL": "31s"}, "at most 30s"},
		{"bad name map", map[string]string{"TARGET_REGION": "us-east-2", "STREAM_NAME_MAP": "orders"}, "STREAM_NAME_MAP"},
		{"bad mirror Region", map[string]string{"TARGET_REGION": "us-east-2", "METRICS_MIRROR_REGION": "x"}, "METRICS_MIRROR_REGION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SettingsFromEnv(envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
