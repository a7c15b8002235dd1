package awsclient

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

func TestEndpointKeepsTheConfiguredOneForTheOwnRegionOnly(t *testing.T) {
	configured := aws.String("http://127.0.0.1:4567")
	tests := []struct {
		name, region, local string
		want                *string
	}{
		{"the own Region keeps AWS_ENDPOINT_URL_*", "us-east-1", "", configured},
		{"the own Region ignores a local URL", "us-east-1", "http://127.0.0.1:9", configured},
		{"another Region gets the SDK's", "us-east-2", "", nil},
		{"another Region gets its local URL", "us-east-2", "http://127.0.0.1:9", aws.String("http://127.0.0.1:9")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Endpoint("us-east-1", tt.region, configured, tt.local)
			if aws.ToString(got) != aws.ToString(tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("got %v, want %v", aws.ToString(got), aws.ToString(tt.want))
			}
		})
	}
}

func TestLoadGivesEveryClientARetryerWithoutTheRetryQuota(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	cfg, err := Load(context.Background(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Retryer(), cfg.Retryer()
	if a == b {
		t.Error("two clients share one retryer (it holds state)")
	}
	// Without a quota, as many retries as wanted get a token at once.
	for i := range 1000 {
		if _, err := a.GetRetryToken(context.Background(), errRetry{}); err != nil {
			t.Fatalf("retry %d refused: %v (the quota is back)", i, err)
		}
	}
}

type errRetry struct{}

func (errRetry) Error() string { return "throttled" }
