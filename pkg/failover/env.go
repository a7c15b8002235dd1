package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// NewFromEnv is the cold start: it reads the environment through getenv,
// builds the SDK clients once (DynamoDB in the function's own Region, one
// Lambda and one Kinesis client per Region of REGIONS) and returns the
// Handler main starts. Endpoints come from the SDK's standard variables
// (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_LAMBDA,
// AWS_ENDPOINT_URL_KINESIS), which name the own Region's endpoints only; a
// local run names the other Regions' in LOCAL_ENDPOINTS, never set in AWS.
func NewFromEnv(ctx context.Context, getenv func(string) string) (*Handler, error) {
	s, err := SettingsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("failover settings: %w", err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(s.OwnRegion))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	local, err := parseLocalEndpoints(getenv("LOCAL_ENDPOINTS"))
	if err != nil {
		return nil, fmt.Errorf("failover settings: %w", err)
	}
	c := Clients{DynamoDB: dynamodb.NewFromConfig(cfg), Kinesis: regionKinesis(cfg, s.OwnRegion, s.Regions, local)}
	if s.ReplicatorFunctionName != "" {
		c.Concurrency = regionConcurrency(cfg, s.OwnRegion, s.Regions, local)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		// Follows the function's log format and level and adds the request id.
		logger = lambdacontext.NewLogger()
	}
	return NewHandler(s, c, WithLogger(logger)), nil
}

// LocalEndpoints names, for local runs only, the endpoints of Regions other
// than the function's own: {"regions":{"us-east-1":{"kinesis":URL,"lambda":URL}}}.
// It is the shape of the local world's endpoints file.
type LocalEndpoints struct {
	Regions map[string]struct {
		Kinesis string `json:"kinesis"`
		Lambda  string `json:"lambda"`
	} `json:"regions"`
}

func parseLocalEndpoints(v string) (LocalEndpoints, error) {
	var e LocalEndpoints
	if strings.TrimSpace(v) == "" {
		return e, nil
	}
	dec := json.NewDecoder(strings.NewReader(v))
	if err := dec.Decode(&e); err != nil {
		return LocalEndpoints{}, fmt.Errorf(`LOCAL_ENDPOINTS is not {"regions":{"<region>":{"kinesis":"<url>"}}}: %w`, err)
	}
	for r, ep := range e.Regions {
		for _, u := range []string{ep.Kinesis, ep.Lambda} {
			if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return LocalEndpoints{}, fmt.Errorf("LOCAL_ENDPOINTS: %s: %q is not an http(s) URL", r, u)
			}
		}
	}
	return e, nil
}
