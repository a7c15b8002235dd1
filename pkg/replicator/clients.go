package replicator

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

var (
	_ TargetAPI   = (*kinesis.Client)(nil)
	_ DynamoDBAPI = (*dynamodb.Client)(nil)
)

// NewFromEnv is the cold start: it reads the environment through getenv,
// builds the SDK clients once and returns the Handler main starts.
// The function's own Region and its endpoints come from the SDK's standard
// variables (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, …); the target Region's
// Kinesis and DynamoDB endpoints are the standard ones unless
// TARGET_ENDPOINT_URL and TARGET_DYNAMODB_ENDPOINT_URL are set.
func NewFromEnv(ctx context.Context, getenv func(string) string) (*Handler, error) {
	s, err := SettingsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("replicator settings: %w", err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	target := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.Region = s.TargetRegion
		// AWS_ENDPOINT_URL_KINESIS names the function's own Region's
		// endpoint; it must never leak into the other Region's client.
		o.BaseEndpoint = nil
		if s.TargetEndpointURL != "" {
			o.BaseEndpoint = aws.String(s.TargetEndpointURL)
		}
		o.Retryer = newRetryer()
	})
	c := Clients{
		Target: target,
		DynamoDB: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			o.Retryer = newRetryer()
		}),
		// The fence: the config table's replica in the target Region.
		Fence: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			o.Region = s.TargetRegion
			o.BaseEndpoint = nil
			if s.TargetDynamoDBEndpointURL != "" {
				o.BaseEndpoint = aws.String(s.TargetDynamoDBEndpointURL)
			}
			o.Retryer = newRetryer()
		}),
	}
	if s.MetricsMirrorRegion != "" {
		c.Mirror = cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
			o.Region = s.MetricsMirrorRegion
			o.BaseEndpoint = nil
		})
	}
	// lambdacontext's logger follows the function's log format and level
	// settings and adds the request id to every line.
	return NewHandler(s, c, WithLogger(lambdacontext.NewLogger())), nil
}

// newRetryer retries requests the SDK way, without the client-wide retry
// quota: under a throttling storm the quota runs dry and every later call
// fails at once, while the writer's own backoff already paces the retries.
// A retryer holds state, so each client gets its own.
func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.RateLimiter = ratelimit.None
	})
}
