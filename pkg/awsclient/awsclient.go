// Package awsclient is the cold start of every SDK client kinesis-crr
// builds, in the replicator, the failover function and kdscrr: one retry
// policy, one rule for endpoints in other Regions, one logger policy.
package awsclient

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
)

// NewRetryer retries requests the SDK's standard way, without the
// client-wide retry quota: under a throttling storm the quota runs dry and
// every later call fails at once, which is how a replicator falls over,
// while the writer's own backoff already paces its retries. A retryer
// holds state, so every client gets its own.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.RateLimiter = ratelimit.None
	})
}

// Load loads the SDK's standard configuration (the credential chain, the
// AWS_ENDPOINT_URL_* variables, shared config files) with NewRetryer.
func Load(ctx context.Context, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts := append([]func(*config.LoadOptions) error{config.WithRetryer(NewRetryer)}, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

// Endpoint is the BaseEndpoint of a client of region built from a config
// of Region own. The AWS_ENDPOINT_URL_* variables name own's endpoints
// only, so for another Region the configured endpoint never applies: the
// SDK's (nil), or local, a local run's URL for that Region.
func Endpoint(own, region string, configured *string, local string) *string {
	switch {
	case region == own:
		return configured
	case local != "":
		return aws.String(local)
	default:
		return nil
	}
}

// Logger is the functions' logger: in Lambda, lambdacontext's, which
// follows the function's log format and level and adds the request id;
// elsewhere JSON lines on stdout.
func Logger(getenv func(string) string) *slog.Logger {
	if getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		return lambdacontext.NewLogger()
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, nil))
}
