package failover

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// NewFromEnv is the cold start: it reads the environment through getenv,
// builds the SDK clients once (DynamoDB in the function's own Region, one
// Lambda and one Kinesis client per Region of REGIONS) and returns the
// Handler main starts. Endpoints come from the SDK's standard variables
// (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_LAMBDA,
// AWS_ENDPOINT_URL_KINESIS), which name the own Region's endpoints only, so
// local runs need no emulator logic here.
func NewFromEnv(ctx context.Context, getenv func(string) string) (*Handler, error) {
	s, err := SettingsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("failover settings: %w", err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(s.OwnRegion))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	c := Clients{DynamoDB: dynamodb.NewFromConfig(cfg), Kinesis: regionKinesis(cfg, s.OwnRegion, s.Regions)}
	if s.ReplicatorFunctionName != "" {
		c.Concurrency = regionConcurrency(cfg, s.OwnRegion, s.Regions)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		// Follows the function's log format and level and adds the request id.
		logger = lambdacontext.NewLogger()
	}
	return NewHandler(s, c, WithLogger(logger)), nil
}
