package operator

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/awsclient"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/lag"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// InvokeAPI is what calling the failover function needs.
type InvokeAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ InvokeAPI = (*lambda.Client)(nil)

// DynamoDBAPI is what reading the config and checkpoint tables needs.
type DynamoDBAPI interface {
	activeregion.DynamoDBAPI
	checkpoint.DynamoDBAPI
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Region is one Region's clients, built on first use.
type Region interface {
	// Lambda invokes functions in the Region; timeout bounds each call's
	// HTTP round trip, attempts how many tries a call may make.
	Lambda(ctx context.Context, timeout time.Duration, attempts int) (InvokeAPI, error)
	Kinesis(ctx context.Context) (streamread.API, error)
	DynamoDB(ctx context.Context) (DynamoDBAPI, error)
	// CloudWatch is nil, with no error, where there is none (local).
	CloudWatch(ctx context.Context) (lag.MetricsAPI, error)
}

// Connector gives the clients of a Region: AWS's through the standard
// credential chain, or a local deployment's through an endpoints file. Tests
// give one that records what would be called.
type Connector interface {
	Region(name string) Region
}

// AWS connects to AWS with the standard credential and Region chain
// (environment, shared config and credentials files, SSO, IMDS), under
// Profile when set. Each Region's configuration, and with it its
// credential cache, is loaded once and shared by that Region's clients, so
// a command that reads many shards or streams resolves credentials once.
type AWS struct {
	Profile string

	mu      sync.Mutex
	configs map[string]func() (aws.Config, error) // by Region, loaded on first use
}

// Region returns name's clients.
func (a *AWS) Region(name string) Region { return awsRegion{aws: a, name: name} }

// config is name's configuration, loaded by the first caller under its ctx.
func (a *AWS) config(ctx context.Context, name string) (aws.Config, error) {
	a.mu.Lock()
	if a.configs == nil {
		a.configs = map[string]func() (aws.Config, error){}
	}
	load, ok := a.configs[name]
	if !ok {
		load = sync.OnceValues(func() (aws.Config, error) {
			opts := []func(*config.LoadOptions) error{config.WithRegion(name)}
			if a.Profile != "" {
				opts = append(opts, config.WithSharedConfigProfile(a.Profile))
			}
			cfg, err := awsclient.Load(ctx, opts...)
			if err != nil {
				return aws.Config{}, fmt.Errorf("%s: %w", name, err)
			}
			return cfg, nil
		})
		a.configs[name] = load
	}
	a.mu.Unlock()
	return load()
}

type awsRegion struct {
	aws  *AWS
	name string
}

func (r awsRegion) Lambda(ctx context.Context, timeout time.Duration, attempts int) (InvokeAPI, error) {
	cfg, err := r.aws.config(ctx, r.name)
	if err != nil {
		return nil, err
	}
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		o.HTTPClient = awshttp.NewBuildableClient().WithTimeout(timeout)
		o.RetryMaxAttempts = attempts
	}), nil
}

func (r awsRegion) Kinesis(ctx context.Context) (streamread.API, error) {
	cfg, err := r.aws.config(ctx, r.name)
	if err != nil {
		return nil, err
	}
	return kinesis.NewFromConfig(cfg), nil
}

func (r awsRegion) DynamoDB(ctx context.Context) (DynamoDBAPI, error) {
	cfg, err := r.aws.config(ctx, r.name)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg), nil
}

func (r awsRegion) CloudWatch(ctx context.Context) (lag.MetricsAPI, error) {
	cfg, err := r.aws.config(ctx, r.name)
	if err != nil {
		return nil, err
	}
	return cloudwatch.NewFromConfig(cfg), nil
}

// Local connects to a local deployment's endpoints: the emulators take any
// credentials, so none are looked up.
type Local struct{ File endpoints.File }

// Region returns name's clients; a Region the file lacks fails on use.
func (l Local) Region(name string) Region {
	return localRegion{name: name, urls: l.File[name], known: l.File.Has(name)}
}

type localRegion struct {
	name  string
	urls  endpoints.Region
	known bool
}

func (r localRegion) config(url, service string, timeout time.Duration, attempts int) (aws.Config, error) {
	if !r.known {
		return aws.Config{}, fmt.Errorf("the endpoints file has no Region %s", r.name)
	}
	if url == "" {
		return aws.Config{}, fmt.Errorf("the endpoints file gives no %s URL for %s", service, r.name)
	}
	cfg := aws.Config{
		Region:      r.name,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:  &http.Client{Timeout: timeout},
		Retryer:     awsclient.NewRetryer,
	}
	if attempts > 0 {
		cfg.RetryMaxAttempts = attempts
	}
	return cfg, nil
}

func (r localRegion) Lambda(_ context.Context, timeout time.Duration, attempts int) (InvokeAPI, error) {
	cfg, err := r.config(r.urls.Lambda, "lambda", timeout, attempts)
	if err != nil {
		return nil, err
	}
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(r.urls.Lambda) }), nil
}

func (r localRegion) Kinesis(context.Context) (streamread.API, error) {
	cfg, err := r.config(r.urls.Kinesis, "kinesis", 0, 0)
	if err != nil {
		return nil, err
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(r.urls.Kinesis) }), nil
}

func (r localRegion) DynamoDB(context.Context) (DynamoDBAPI, error) {
	cfg, err := r.config(r.urls.DynamoDB, "dynamodb", 0, 0)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(r.urls.DynamoDB) }), nil
}

func (localRegion) CloudWatch(context.Context) (lag.MetricsAPI, error) { return nil, nil }
