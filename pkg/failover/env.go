package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kinesis-crr/kinesis-crr/pkg/awsclient"
	"github.com/kinesis-crr/kinesis-crr/pkg/awsregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
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
	cfg, err := awsclient.Load(ctx, awsconfig.WithRegion(s.OwnRegion))
	if err != nil {
		return nil, err
	}
	local, err := parseLocalEndpoints(getenv("LOCAL_ENDPOINTS"))
	if err != nil {
		return nil, fmt.Errorf("failover settings: %w", err)
	}
	c := Clients{DynamoDB: dynamodb.NewFromConfig(cfg), Kinesis: regionKinesis(cfg, s.OwnRegion, s.Regions, local)}
	if s.ReplicatorFunctionName != "" {
		c.Concurrency = regionConcurrency(cfg, s.OwnRegion, s.Regions, local)
	}
	logger := awsclient.Logger(getenv)
	return NewHandler(s, c, WithLogger(logger)), nil
}

// parseLocalEndpoints reads LOCAL_ENDPOINTS, for local runs only: the
// endpoints of Regions other than the function's own, in the endpoints
// file's shape (pkg/endpoints), of which only kinesis and lambda are used.
func parseLocalEndpoints(v string) (endpoints.File, error) {
	if strings.TrimSpace(v) == "" {
		return endpoints.File{}, nil
	}
	var f endpoints.File
	if err := json.NewDecoder(strings.NewReader(v)).Decode(&f); err != nil {
		return nil, fmt.Errorf(`LOCAL_ENDPOINTS is not {"<region>":{"kinesis":"<url>","lambda":"<url>"}} (the endpoints file's shape): %w`, err)
	}
	for r, ep := range f {
		if !awsregion.Valid(r) {
			return nil, fmt.Errorf(`LOCAL_ENDPOINTS: %q is not a Region name (the shape is {"<region>":{"kinesis":"<url>","lambda":"<url>"}})`, r)
		}
		for _, u := range []string{ep.Kinesis, ep.Lambda} {
			if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return nil, fmt.Errorf("LOCAL_ENDPOINTS: %s: %q is not an http(s) URL", r, u)
			}
		}
	}
	return f, nil
}
