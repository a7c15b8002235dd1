package replicator

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/awsclient"
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
	cfg, err := awsclient.Load(ctx)
	if err != nil {
		return nil, err
	}
	own := cfg.Region
	c := Clients{
		Target: kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
			o.Region, o.BaseEndpoint = s.TargetRegion, awsclient.Endpoint(own, s.TargetRegion, o.BaseEndpoint, s.TargetEndpointURL)
		}),
		DynamoDB: dynamodb.NewFromConfig(cfg),
		// The fence: the config table's replica in the target Region.
		Fence: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			o.Region, o.BaseEndpoint = s.TargetRegion, awsclient.Endpoint(own, s.TargetRegion, o.BaseEndpoint, s.TargetDynamoDBEndpointURL)
		}),
	}
	if s.MetricsMirrorRegion != "" {
		c.Mirror = cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
			o.Region, o.BaseEndpoint = s.MetricsMirrorRegion, awsclient.Endpoint(own, s.MetricsMirrorRegion, o.BaseEndpoint, "")
		})
	}
	return NewHandler(s, c, WithLogger(awsclient.Logger(getenv))), nil
}
