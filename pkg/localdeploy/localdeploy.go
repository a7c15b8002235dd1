// Package localdeploy deploys kinesis-crr into a running local world
// (pkg/localworld) the way the CDK app deploys it into two Regions: in each
// Region the replicator, built through its environment contract, behind an
// event source mapping (pkg/localmapping) on each of the Region's streams,
// and the failover function, built the same way, behind a Lambda Invoke
// endpoint (pkg/localinvoke) as "kds-crr-failover". Each function gets the
// clients of its own Region and, for the other Region, the cross-Region ones
// (slowed by the world's round trip, held by a hang).
//
// The demo (scripts/localdemo) and tests deploy through it, so that what an
// operator CLI reaches through the endpoints file is the same deployment
// the demo runs.
package localdeploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localinvoke"
	"github.com/kinesis-crr/kinesis-crr/pkg/localmapping"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

// FailoverFunction is the failover function's name in both Regions, as the
// CDK app names it (infra/stacks.FailoverFunctionName; not imported, since
// that would bring the CDK into every local run).
const FailoverFunction = "kds-crr-failover"

// The application ids (the SDK's AppID, sent in the User-Agent as
// "app/<id>") of the clients each function and the mappings get: in Lambda
// every function has a role of its own, so a world that records calls
// (localworld.Options.RecordCalls) must tell whose call each one was for
// an audit to check it against the right role. The mappings have their own,
// though in Lambda an event source mapping reads with its function's role.
const (
	ReplicatorAppID = "kds-crr-replicator"
	FailoverAppID   = "kds-crr-failover"
	MappingAppID    = "kds-crr-mapping"
)

// DefaultPollInterval is how often a mapping polls a shard that had nothing
// new: short, so that a local run replicates without Lambda's second of
// latency.
const DefaultPollInterval = 100 * time.Millisecond

// Options shape a deployment.
type Options struct {
	// Streams are the stream names replicated, each existing in both
	// Regions' Kinesis (localworld.World.CreateStream) before Start. At
	// least one.
	Streams []string
	// CacheTTL is ACTIVE_REGION_CACHE_TTL of both functions, passed as is:
	// zero is 0s (no caching), which the replicators accept; the product's
	// default is activeregion.DefaultCacheTTL.
	CacheTTL time.Duration
	// SwitchSettle is the failover functions' SWITCH_SETTLE; zero leaves
	// it unset, the product's default.
	SwitchSettle time.Duration
	// PollInterval is the mappings' poll interval; zero is
	// DefaultPollInterval.
	PollInterval time.Duration
	// Logger receives the functions' and mappings' logs, each with the
	// function (or mapping) and Region; nil discards them.
	Logger *slog.Logger
	// ReplicatorOutput, if set, gives the writer a Region's replicator
	// writes its EMF metric lines to (its stdout in Lambda); called once per
	// Region. Nil discards them.
	ReplicatorOutput func(region string) io.Writer
	// Ordering is the replicators' ORDERING; empty leaves it unset, the
	// product's default.
	Ordering string
	// BatchSize is the mappings' batch size; zero is localmapping's
	// default. The CDK app's mappings take 500.
	BatchSize int
	// WrapReplicator, if set, stands between each of Region region's
	// mappings and its replicator: the mapping invokes what it returns. A
	// benchmark times invocations with it, or kills them as a crashed
	// function would be.
	WrapReplicator func(region string, h localmapping.HandlerFunc) localmapping.HandlerFunc
}

// Deployment is kinesis-crr running in both Regions of a world. Its methods
// are safe for concurrent use.
type Deployment struct {
	world   *localworld.World
	streams []string
	regions [2]*region

	stop    context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	runErrs []error // of mappings that ended before Close
	once    sync.Once
}

// region is one Region's functions.
type region struct {
	name     string
	failover *failover.Handler
	invoke   *localinvoke.Server
	// mappings[i] is the mapping on streams[i].
	mappings []*localmapping.Mapping
}

// Start builds both Regions' functions, starts their invoke endpoints and
// their mappings, and returns; everything runs until Close. The tables
// (localworld.World.CreateTables with the default names) and streams must
// exist; Init seeds the config. ctx bounds the start only.
func Start(ctx context.Context, w *localworld.World, o Options) (*Deployment, error) {
	if len(o.Streams) == 0 {
		return nil, errors.New("localdeploy: no streams, want at least one")
	}
	for i, s := range o.Streams {
		if s == "" || slices.Contains(o.Streams[:i], s) {
			return nil, fmt.Errorf("localdeploy: got streams %q, want distinct non-empty names", o.Streams)
		}
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Deployment{world: w, streams: slices.Clone(o.Streams)}
	names := w.Regions()
	for i, own := range names {
		r, err := d.deploy(ctx, own, names[1-i], o, logger)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.regions[i] = r
	}

	runCtx, stop := context.WithCancel(context.Background())
	d.stop = stop
	for _, r := range d.regions {
		for _, m := range r.mappings {
			d.wg.Go(func() {
				if err := m.Run(runCtx); err != nil {
					d.mu.Lock()
					d.runErrs = append(d.runErrs, fmt.Errorf("mapping in %s: %w", r.name, err))
					d.mu.Unlock()
				}
			})
		}
	}
	return d, nil
}

// deploy builds Region own's functions through their environment contract,
// as Lambda would configure them, and starts its invoke endpoint.
func (d *Deployment) deploy(ctx context.Context, own, other string, o Options, logger *slog.Logger) (*region, error) {
	env := map[string]string{
		"AWS_REGION":              own,
		"TARGET_REGION":           other,
		"REGIONS":                 d.world.Regions()[0] + "," + d.world.Regions()[1],
		"ACTIVE_REGION_CACHE_TTL": o.CacheTTL.String(),
	}
	if o.SwitchSettle > 0 {
		env["SWITCH_SETTLE"] = o.SwitchSettle.String()
	}
	if o.Ordering != "" {
		env["ORDERING"] = o.Ordering
	}
	getenv := func(k string) string { return env[k] }
	w := d.world

	fs, err := failover.SettingsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("localdeploy: failover settings of %s: %w", own, err)
	}
	r := &region{name: own}
	fk, fd := appID(FailoverAppID)
	r.failover = failover.NewHandler(fs, failover.Clients{
		DynamoDB: w.DynamoDBClient(own, own, fd),
		Kinesis: map[string]failover.ListShardsAPI{
			own:   w.KinesisClient(own, own, fk),
			other: w.KinesisClient(other, own, fk),
		},
	}, failover.WithLogger(logger.With("function", "failover", "region", own)))

	rs, err := replicator.SettingsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("localdeploy: replicator settings of %s: %w", own, err)
	}
	out := io.Discard
	if o.ReplicatorOutput != nil {
		out = o.ReplicatorOutput(own)
	}
	// One function serves every stream of the Region, as in the CDK app:
	// one replicator, one mapping per stream.
	rk, rd := appID(ReplicatorAppID)
	h := replicator.NewHandler(rs, replicator.Clients{
		Target:   w.KinesisClient(other, own, rk),
		DynamoDB: w.DynamoDBClient(own, own, rd),
		Fence:    w.DynamoDBClient(other, own, rd),
	}, replicator.WithOutput(out), replicator.WithLogger(logger.With("function", "replicator", "region", own)))
	mk, _ := appID(MappingAppID)
	source := w.KinesisClient(own, own, mk)
	var handle localmapping.HandlerFunc = h.Handle
	if o.WrapReplicator != nil {
		handle = o.WrapReplicator(own, handle)
	}
	for _, stream := range d.streams {
		r.mappings = append(r.mappings, localmapping.New(source, stream, own, handle, localmapping.Options{
			BatchSize:    o.BatchSize,
			PollInterval: o.PollInterval,
			Logger:       logger.With("mapping", own, "stream", stream),
		}))
	}

	r.invoke, err = localinvoke.Start(ctx, own, map[string]localinvoke.HandlerFunc{
		FailoverFunction: lambda.NewHandler(r.failover.Handle).Invoke,
	})
	if err != nil {
		return nil, fmt.Errorf("localdeploy: failover endpoint of %s: %w", own, err)
	}
	return r, nil
}

// appID returns the client options that set id as the clients' AppID.
func appID(id string) (func(*kinesis.Options), func(*dynamodb.Options)) {
	return func(o *kinesis.Options) { o.AppID = id }, func(o *dynamodb.Options) { o.AppID = id }
}

func (d *Deployment) region(name string) *region {
	for _, r := range d.regions {
		if r != nil && r.name == name {
			return r
		}
	}
	return nil
}

// Failover returns Region region's failover function, to call in process;
// nil for a Region the world does not have.
func (d *Deployment) Failover(region string) *failover.Handler {
	if r := d.region(region); r != nil {
		return r.failover
	}
	return nil
}

// Mapping returns the event source mapping of stream in region, nil for an
// unknown Region or stream.
func (d *Deployment) Mapping(region, stream string) *localmapping.Mapping {
	r := d.region(region)
	i := slices.Index(d.streams, stream)
	if r == nil || i < 0 {
		return nil
	}
	return r.mappings[i]
}

// Endpoints describes the deployment for a process outside it (the endpoints
// file of `kdscrr --endpoints`): the world's URLs, and each Region's Lambda
// Invoke endpoint.
func (d *Deployment) Endpoints() endpoints.File {
	f := d.world.Endpoints()
	for _, r := range d.regions {
		e := f[r.name]
		e.Lambda = r.invoke.URL()
		f[r.name] = e
	}
	return f
}

// Init seeds the config of every stream through the failover function of
// Region active (action init), as the deploy does, and waits until the
// config has replicated to the other Region's replica.
func (d *Deployment) Init(ctx context.Context, active string) (failover.Report, error) {
	r := d.region(active)
	if r == nil {
		return failover.Report{}, fmt.Errorf("localdeploy: init: %q is not a Region of the world %q", active, d.world.Regions())
	}
	payload, err := json.Marshal(map[string]any{"action": "init", "targetRegion": active, "streams": d.streams})
	if err != nil {
		return failover.Report{}, fmt.Errorf("localdeploy: init: encode the payload: %w", err)
	}
	rep, err := r.failover.Handle(ctx, payload)
	if err != nil {
		return rep, fmt.Errorf("localdeploy: init in %s: %w", active, err)
	}
	if err := d.world.WaitReplicated(ctx); err != nil {
		return rep, fmt.Errorf("localdeploy: init in %s: %w", active, err)
	}
	return rep, nil
}

// Err reports the mappings that have stopped on their own (a stream they
// could not list); nil while all run.
func (d *Deployment) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(d.runErrs...)
}

// Close stops the mappings and the invoke endpoints and returns once
// nothing of the deployment runs; the world is the caller's to close,
// after. Calling it again does nothing.
func (d *Deployment) Close() {
	d.once.Do(func() {
		if d.stop != nil {
			d.stop()
		}
		d.wg.Wait()
		for _, r := range d.regions {
			if r != nil && r.invoke != nil {
				r.invoke.Close()
			}
		}
	})
}
