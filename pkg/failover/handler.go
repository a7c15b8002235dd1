// Package failover is the failover procedure behind the failover Lambda: it
// moves the active Region of streams (fenced by an epoch), reports where each
// CDC producer must resume, and swaps the replicators' reserved concurrency.
// It knows nothing about the Lambda runtime beyond reading the request id.
package failover

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
)

// ConfigStore is what failover needs of the active-Region config table.
// It works on the function's own Region's replica only. Each method keeps
// the contract written on the activeregion.Store method of the same name
// (activeregiontest.RunStoreContract checks every implementation); failover
// relies in particular on these parts of it.
type ConfigStore interface {
	// Get: ErrNotFound for a stream without an item.
	Get(ctx context.Context, stream string) (activeregion.Config, error)
	// List: one malformed item fails it, so no stream is left out.
	List(ctx context.Context) ([]activeregion.Config, error)
	// Create: (false, nil) for a stream that has an item, left as it is.
	Create(ctx context.Context, cfg activeregion.Config) (created bool, err error)
	// Switch: ErrStaleEpoch (fence) and ErrConflict (lost race) write
	// nothing; a switch to the active Region returns the item unchanged.
	Switch(ctx context.Context, stream string, sw activeregion.Switch) (activeregion.Config, error)
	// RecordVisibility: (false, nil) when the entry is no longer the one v
	// names.
	RecordVisibility(ctx context.Context, stream string, v activeregion.Visibility) (bool, error)
}

// CheckpointLoader reads a stream's checkpoints, one per shard, and its
// trails of sync points, which give the report its consumerPositions. Each
// method keeps the contract of checkpoint.Store's of the same name
// (checkpointtest.RunStoreContract checks every implementation): Load
// reads region's items only, sorted by shard id, an empty slice when there
// are none, and a malformed item fails the load.
type CheckpointLoader interface {
	Load(ctx context.Context, stream, region string) ([]checkpoint.Checkpoint, error)
	LoadTrails(ctx context.Context, stream, region string) ([]checkpoint.Trail, error)
}

// DynamoDBAPI is the DynamoDB client both stores are built on.
type DynamoDBAPI interface {
	activeregion.DynamoDBAPI
	checkpoint.DynamoDBAPI
}

var (
	_ ConfigStore      = (*activeregion.Store)(nil)
	_ CheckpointLoader = (*checkpoint.Store)(nil)
	_ DynamoDBAPI      = (*dynamodb.Client)(nil)
)

// Clients are the SDK clients a Handler works through.
type Clients struct {
	DynamoDB DynamoDBAPI
	// Concurrency holds a Lambda client per Region, for the replicators'
	// reserved concurrency. A Region without one gets a warning, not a
	// failure.
	Concurrency map[string]ConcurrencyAPI
	// Kinesis holds a Kinesis client per Region, to list the shards of
	// the streams. A Region without one counts as one where listing failed.
	Kinesis map[string]ListShardsAPI
}

// Handler runs failover invocations.
type Handler struct {
	settings    Settings
	configs     ConfigStore
	checkpoints CheckpointLoader
	concurrency map[string]ConcurrencyAPI
	kinesis     map[string]ListShardsAPI
	log         *slog.Logger
	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration) error
}

type options struct {
	log         *slog.Logger
	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration) error
	configs     ConfigStore
	checkpoints CheckpointLoader
}

// Option changes a Handler's defaults.
type Option func(*options)

// WithLogger sets the logger of the audit line (default: JSON to stdout).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock that stamps switches (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithSleep replaces the wait before the read-back of switches (default: a
// timer that ends early with ctx), so tests need not wait.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = sleep }
}

// WithStores replaces the DynamoDB-backed stores, for tests of the procedure.
func WithStores(configs ConfigStore, checkpoints CheckpointLoader) Option {
	return func(o *options) { o.configs, o.checkpoints = configs, checkpoints }
}

// NewHandler returns a Handler working on the tables named in s. Zero
// durations and history limit in s take their defaults, so hand-built
// Settings behave like SettingsFromEnv's; a zero CacheTTL stays zero, since
// replicators may run with ACTIVE_REGION_CACHE_TTL=0s.
func NewHandler(s Settings, c Clients, opts ...Option) *Handler {
	if s.IdleShardThreshold <= 0 {
		s.IdleShardThreshold = DefaultIdleShardThreshold
	}
	if s.CrossRegionTimeout <= 0 {
		s.CrossRegionTimeout = DefaultCrossRegionTimeout
	}
	if s.HistoryLimit <= 0 {
		s.HistoryLimit = activeregion.DefaultHistoryLimit
	}
	if s.HistoryRetention <= 0 {
		s.HistoryRetention = activeregion.DefaultHistoryRetention
	}
	if s.SwitchSettle <= 0 {
		s.SwitchSettle = DefaultSwitchSettle
	}
	o := options{
		log:   slog.New(slog.NewJSONHandler(os.Stdout, nil)),
		now:   time.Now,
		sleep: pause.For,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.configs == nil {
		o.configs = activeregion.NewStore(c.DynamoDB, s.ActiveRegionTable)
	}
	if o.checkpoints == nil {
		o.checkpoints = checkpoint.NewStore(c.DynamoDB, s.CheckpointTable)
	}
	return &Handler{
		settings:    s,
		configs:     o.configs,
		checkpoints: o.checkpoints,
		concurrency: c.Concurrency,
		kinesis:     c.Kinesis,
		log:         o.log,
		now:         o.now,
		sleep:       o.sleep,
	}
}

// Handle runs one invocation. A bad payload, or a named stream without a
// config item, is an error that changes nothing. Once the streams are known,
// per-stream outcomes (conflict, stale epoch, a failed write) and failed
// concurrency calls are reported in the Report, not as an error, so the
// operator always sees what happened to every stream.
//
// A CloudFormation custom-resource event (the deploy-time seed) is told
// apart before the strict decoding and handled by seed.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (Report, error) {
	if ev, ok, err := customResourceEventIn(payload); ok {
		if err != nil {
			h.log.ErrorContext(ctx, "custom resource event rejected", "error", err.Error())
			return Report{}, err
		}
		return h.seed(ctx, ev)
	}
	req, err := DecodeRequest(payload, h.settings)
	if err != nil {
		h.log.ErrorContext(ctx, "failover request rejected", "error", err.Error())
		return Report{}, err
	}
	inv, err := h.run(ctx, req)
	if err != nil {
		return Report{}, err
	}
	return inv.report, nil
}

// run carries out a decoded request and writes its audit line.
func (h *Handler) run(ctx context.Context, req Request) (*invocation, error) {
	var err error
	inv := &invocation{
		h:         h,
		req:       req,
		requestID: requestID(ctx),
		at:        h.now().UTC(),
		report:    Report{DryRun: req.DryRun, Streams: []StreamReport{}, Actions: []string{}, Warnings: []string{}},
	}
	switch req.Action {
	case ActionStatus:
		err = inv.status(ctx)
	case ActionInit:
		err = inv.init(ctx)
	default:
		err = inv.failover(ctx)
	}
	if err != nil {
		h.log.ErrorContext(ctx, "failover request failed", "action", req.Action, "error", err.Error())
		return nil, err
	}
	inv.summarize()
	h.audit(ctx, inv)
	return inv, nil
}

// audit logs the report as one JSON line: the invocation's audit record,
// next to the history entries the switch wrote.
func (h *Handler) audit(ctx context.Context, inv *invocation) {
	attrs := []any{"action", inv.req.Action, "reason", inv.req.Reason, "requestedBy", inv.req.RequestedBy}
	if _, inLambda := lambdacontext.FromContext(ctx); !inLambda {
		// In Lambda the logger adds requestId itself.
		attrs = append(attrs, "requestId", inv.requestID)
	}
	body, err := json.Marshal(inv.report)
	if err != nil {
		h.log.ErrorContext(ctx, "encode failover report", "error", err.Error())
		return
	}
	h.log.InfoContext(ctx, "failover report", append(attrs, "report", json.RawMessage(body))...)
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "local-" + hex.EncodeToString(b[:])
}

// invocation is the state of one Handle call.
type invocation struct {
	h         *Handler
	req       Request
	requestID string
	at        time.Time
	report    Report
	// createErrs holds why init could not create a stream's config item,
	// for the seed to name the cause.
	createErrs map[string]error
}

func (inv *invocation) action(format string, args ...any) {
	inv.report.Actions = append(inv.report.Actions, fmt.Sprintf(format, args...))
}

func (inv *invocation) warn(format string, args ...any) {
	inv.report.Warnings = append(inv.report.Warnings, fmt.Sprintf(format, args...))
}

// notes are the actions and warnings of one stream's part of a call. Streams
// are handled concurrently; their notes join the report in stream order.
type notes struct {
	actions, warnings []string
}

func (n *notes) action(format string, args ...any) {
	n.actions = append(n.actions, fmt.Sprintf(format, args...))
}

func (n *notes) warn(format string, args ...any) {
	n.warnings = append(n.warnings, fmt.Sprintf(format, args...))
}

// streamOutcome is one stream's report with its notes.
type streamOutcome struct {
	report StreamReport
	notes
}

// addStream puts a stream's outcome into the report.
func (inv *invocation) addStream(o streamOutcome) {
	inv.report.Streams = append(inv.report.Streams, o.report)
	inv.report.Actions = append(inv.report.Actions, o.actions...)
	inv.report.Warnings = append(inv.report.Warnings, o.warnings...)
}

// maxParallelStreams bounds the streams handled at once: enough that 20
// streams whose old Region hangs wait for its deadline together, few
// enough not to flood the own Region's table.
const maxParallelStreams = 16

// eachStream runs fn for every config concurrently and adds the outcomes to
// the report in the configs' order.
func (inv *invocation) eachStream(cfgs []activeregion.Config, fn func(cfg activeregion.Config) streamOutcome) {
	outs := make([]streamOutcome, len(cfgs))
	sem := make(chan struct{}, maxParallelStreams)
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			outs[i] = fn(cfg)
		})
	}
	wg.Wait()
	for _, o := range outs {
		inv.addStream(o)
	}
}

// crossRegion derives the one deadline of all the call's work in other
// Regions from the invocation's: the old Region may hang, and the report
// must still be written before the function times out.
func (inv *invocation) crossRegion(ctx context.Context) (context.Context, context.CancelFunc) {
	// Contexts run on the wall clock, whatever clock stamps the switches.
	deadline := time.Now().Add(inv.h.settings.CrossRegionTimeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-reportMargin).Before(deadline) {
		deadline = d.Add(-reportMargin)
	}
	return context.WithDeadline(ctx, deadline)
}

// reportMargin is what the cross-Region deadline leaves before the
// function's own for the own-Region reads, the settle read-back and the
// report.
const reportMargin = 5 * time.Second

// resolve reads the config item of every requested stream, or of every
// stream in the table when none is named, before anything is written: one
// missing stream fails the whole call.
func (inv *invocation) resolve(ctx context.Context) ([]activeregion.Config, error) {
	table := inv.h.settings.ActiveRegionTable
	var cfgs []activeregion.Config
	if len(inv.req.Streams) == 0 {
		all, err := inv.h.configs.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("list streams of %s: %w", table, err)
		}
		cfgs = all
	} else {
		var missing []string
		for _, name := range inv.req.Streams {
			cfg, err := inv.h.configs.Get(ctx, name)
			switch {
			case errors.Is(err, activeregion.ErrNotFound):
				missing = append(missing, name)
			case err != nil:
				return nil, fmt.Errorf("read config of stream %s: %w", name, err)
			default:
				cfgs = append(cfgs, cfg)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%w: no config item in %s for stream(s) %s (create them with the init action); nothing was changed",
				ErrBadRequest, table, strings.Join(missing, ", "))
		}
	}
	for stream := range inv.req.IgnoreShards {
		if !slices.ContainsFunc(cfgs, func(c activeregion.Config) bool { return c.StreamName == stream }) {
			return nil, fmt.Errorf("%w: ignoreShards names stream %q, which has no config item in %s", ErrBadRequest, stream, table)
		}
	}
	return cfgs, nil
}

func (inv *invocation) status(ctx context.Context) error {
	cfgs, err := inv.resolve(ctx)
	if err != nil {
		return err
	}
	if len(cfgs) == 0 {
		inv.warn("config table %s has no items: create them with the init action", inv.h.settings.ActiveRegionTable)
	}
	cross, cancel := inv.crossRegion(ctx)
	defer cancel()
	inv.eachStream(cfgs, func(cfg activeregion.Config) streamOutcome {
		// After a switch, the Region it left is what resumeFrom and a drain
		// are about; before any, the active Region's own checkpoints.
		from := awayFrom(cfg, "")
		if len(cfg.History) > 1 {
			from = awayFrom(cfg, cfg.ActiveRegion)
		}
		o := streamOutcome{report: streamReport(cfg, StatusActive)}
		res := inv.storedOrComputed(ctx, cross, cfg, from)
		o.apply(&o.report, res)
		inv.describeSwitch(cross, &o.report, cfg)
		inv.consumerPositions(cross, &o.notes, &o.report, from, cfg.ActiveRegion, res)
		return o
	})
	return nil
}

func (inv *invocation) init(ctx context.Context) error {
	target, err := inv.seedRegion(ctx)
	if err != nil {
		return err
	}
	for _, name := range inv.req.Streams {
		existing, err := inv.h.configs.Get(ctx, name)
		switch {
		case err == nil:
			inv.action("%s: config item exists (active in %s since %s, epoch %d): left unchanged",
				name, existing.ActiveRegion, stamp(existing.ActiveSince), existing.Epoch)
			inv.report.Streams = append(inv.report.Streams, streamReport(existing, StatusExists))
			continue
		case !errors.Is(err, activeregion.ErrNotFound):
			return fmt.Errorf("read config of stream %s: %w", name, err)
		}
		cfg := activeregion.Config{
			StreamName:   name,
			ActiveRegion: target,
			ActiveSince:  inv.at,
			Epoch:        1,
			History: []activeregion.Epoch{{
				Region: target, Since: inv.at, Epoch: 1,
				Reason: inv.req.Reason, RequestID: inv.requestID, RequestedBy: inv.req.RequestedBy,
			}},
			UpdatedBy: inv.updatedBy(),
			Reason:    inv.req.Reason,
		}
		if inv.req.DryRun {
			inv.action("%s: would create the config item with %s active (epoch 1)", name, target)
			inv.report.Streams = append(inv.report.Streams, streamReport(cfg, StatusDryRun))
			continue
		}
		created, err := inv.h.configs.Create(ctx, cfg)
		if err != nil {
			inv.warn("%s: config item not created: %v", name, err)
			if inv.createErrs == nil {
				inv.createErrs = map[string]error{}
			}
			inv.createErrs[name] = err
			sr := streamReport(cfg, StatusFailed)
			sr.ActiveRegion = ""
			inv.report.Streams = append(inv.report.Streams, sr)
			continue
		}
		if !created {
			// Another init won the race between the read and the write.
			if current, err := inv.h.configs.Get(ctx, name); err == nil {
				cfg = current
			}
			inv.action("%s: config item exists (created concurrently): left unchanged", name)
			inv.report.Streams = append(inv.report.Streams, streamReport(cfg, StatusExists))
			continue
		}
		inv.action("%s: created the config item with %s active (epoch 1)", name, target)
		inv.report.Streams = append(inv.report.Streams, streamReport(cfg, StatusCreated))
	}
	return nil
}

// seedRegion is where init creates new config items: where the existing
// streams are active. A stream added to a deployment after a failover must
// replicate the same way as the others, not start in the Region they left.
// When the existing streams are active in different Regions, the call is
// refused: there is no right answer to guess.
func (inv *invocation) seedRegion(ctx context.Context) (string, error) {
	all, err := inv.h.configs.List(ctx)
	if err != nil {
		return "", fmt.Errorf("list streams of %s: %w", inv.h.settings.ActiveRegionTable, err)
	}
	byRegion := map[string][]string{}
	var known []string
	for _, c := range all {
		byRegion[c.ActiveRegion] = append(byRegion[c.ActiveRegion], c.StreamName)
		known = append(known, c.StreamName)
	}
	requested := inv.req.TargetRegion
	if !slices.ContainsFunc(inv.req.Streams, func(s string) bool { return !slices.Contains(known, s) }) {
		return requested, nil // nothing to create
	}
	switch len(byRegion) {
	case 0:
		return requested, nil
	case 1:
		for region, names := range byRegion {
			if region != requested {
				inv.action("new config items are created with %s active, where the %d existing stream(s) are active (%s), not in %s as asked",
					region, len(names), strings.Join(names, ", "), requested)
			}
			return region, nil
		}
	}
	var parts []string
	for _, region := range slices.Sorted(maps.Keys(byRegion)) {
		parts = append(parts, fmt.Sprintf("%s: %s", region, strings.Join(byRegion[region], ", ")))
	}
	return "", fmt.Errorf("%w: the existing streams are active in different Regions (%s), so init cannot tell where new streams belong; fail the streams over to one Region first, then run init again; nothing was changed",
		ErrBadRequest, strings.Join(parts, "; "))
}

func (inv *invocation) failover(ctx context.Context) error {
	cfgs, err := inv.resolve(ctx)
	if err != nil {
		return err
	}
	if len(cfgs) == 0 {
		return fmt.Errorf("%w: config table %s has no items, so there is nothing to fail over (create them with the init action)",
			ErrBadRequest, inv.h.settings.ActiveRegionTable)
	}
	target := inv.req.TargetRegion
	if own := inv.h.settings.OwnRegion; own != target {
		// The switch must land in the target Region's replica of the global
		// table: its replicator decides with consistent reads of that
		// replica, and a switch written elsewhere reaches it only after the
		// table's replication delay, in which it would skip records
		// produced there after the switch.
		if !inv.req.DryRun {
			return fmt.Errorf("%w: this function runs in %s and cannot activate %s: invoke the failover function in %s (its stack output FailoverCommand)",
				ErrBadRequest, own, target, target)
		}
		inv.warn("this function runs in %s but activates %s: a real failover must be invoked in %s", own, target, target)
	}
	if err := inv.checkSettled(cfgs); err != nil {
		return err
	}
	cross, cancel := inv.crossRegion(ctx)
	defer cancel()
	inv.eachStream(cfgs, func(cfg activeregion.Config) streamOutcome { return inv.switchStream(ctx, cross, cfg) })
	inv.readBack(ctx, cross)
	inv.swapConcurrency(ctx, cross)
	return nil
}

// checkSettled refuses, unless forced, to switch a stream whose previous
// switch has not settled: until then the Region it left may still write its
// closed epoch, and a switch back would let those records land in the epoch
// after, out of order or echoed again. Nothing is written when it refuses.
func (inv *invocation) checkSettled(cfgs []activeregion.Config) error {
	now := inv.h.now()
	var unsettled []string
	for _, cfg := range cfgs {
		fenced := inv.req.ExpectedEpoch != nil && *inv.req.ExpectedEpoch != cfg.Epoch
		if cfg.ActiveRegion == inv.req.TargetRegion || cfg.Epoch < 2 || fenced {
			continue
		}
		current := cfg.Current()
		if settled := inv.timing().SettledAt(current); now.Before(settled) {
			unsettled = append(unsettled, fmt.Sprintf("%s (switched to %s at %s, epoch %d, settles at %s, in %s)",
				cfg.StreamName, current.Region, stamp(current.Since), current.Epoch, stamp(settled), settled.Sub(now).Round(time.Millisecond)))
		}
	}
	switch {
	case len(unsettled) == 0:
		return nil
	case inv.req.Force:
		inv.warn("forced: the previous switch of %s has not settled; the new switch starts when it has", strings.Join(unsettled, "; "))
		return nil
	case inv.req.DryRun:
		inv.warn("the previous switch of %s has not settled yet: a real call now is refused unless \"force\":true", strings.Join(unsettled, "; "))
		return nil
	}
	return fmt.Errorf("%w: refused: the previous switch of %s has not settled yet; wait until then, or pass \"force\":true to switch anyway (the switch then starts when the previous one settles); nothing was changed",
		ErrBadRequest, strings.Join(unsettled, "; "))
}

func (inv *invocation) timing() activeregion.Timing {
	return activeregion.Timing{CacheTTL: inv.h.settings.CacheTTL}
}

// switchStream moves one stream to the target Region and returns its report
// with the stream's resume point. The switch is written first thing, with a
// `since` it is readable by; the work in the Region left (listing its shards)
// comes after, within the call's cross-Region deadline, so a hanging old
// Region delays only the report, never the switch.
func (inv *invocation) switchStream(ctx, cross context.Context, cfg activeregion.Config) streamOutcome {
	target := inv.req.TargetRegion
	name := cfg.StreamName
	from := awayFrom(cfg, target)
	o := streamOutcome{}
	// This Region's replica of the table is behind the epoch the caller
	// knows: the last switch has not replicated here yet (the table's
	// delay, or this Region was impaired). Reporting "already active" from
	// the stale item would be wrong.
	if fence := inv.req.ExpectedEpoch; fence != nil && cfg.Epoch < *fence {
		o.warn("%s: this Region's replica of %s is at epoch %d (active in %s), behind the expected epoch %d: the last switch has not replicated here yet; nothing changed, call again when status in %s shows epoch %d",
			name, inv.h.settings.ActiveRegionTable, cfg.Epoch, cfg.ActiveRegion, *fence, inv.h.settings.OwnRegion, *fence)
		o.report = streamReport(cfg, StatusStaleEpoch)
		return o
	}
	// Checked before the fence, so that retrying a call that succeeded says
	// "already active" instead of "stale epoch".
	if cfg.ActiveRegion == target {
		o.action("%s: already active in %s since %s (epoch %d): nothing changed", name, target, stamp(cfg.ActiveSince), cfg.Epoch)
		o.report = streamReport(cfg, StatusAlreadyActive)
		res := inv.storedOrComputed(ctx, cross, cfg, from)
		o.apply(&o.report, res)
		inv.describeSwitch(cross, &o.report, cfg)
		inv.consumerPositions(cross, &o.notes, &o.report, from, target, res)
		return o
	}
	if fence := inv.req.ExpectedEpoch; fence != nil && *fence != cfg.Epoch {
		o.warn("%s: at epoch %d (active in %s), not the expected epoch %d: not switched", name, cfg.Epoch, cfg.ActiveRegion, *fence)
		o.report = streamReport(cfg, StatusStaleEpoch)
		o.apply(&o.report, inv.computeResume(ctx, cross, name, from))
		inv.describeSwitch(cross, &o.report, cfg)
		return o
	}
	// The old Region's checkpoints, read from this Region's replica before
	// the switch: what they say is in the target is, so their minimum is a
	// safe resume point, stored with the switch for retries and status
	// once the old Region's shard list has confirmed every shard has one.
	cps, loadErr := inv.h.checkpoints.Load(ctx, name, from.region)
	var notBefore time.Time
	if inv.req.Force && cfg.Epoch > 1 {
		notBefore = inv.timing().SettledAt(cfg.Current())
	}
	writeStart := inv.h.now()
	since := inv.timing().Since(writeStart, inv.req.Mode, notBefore)
	if inv.req.DryRun {
		o.action("%s: would switch %s → %s (epoch %d → %d, %s mode) from %s", name, cfg.ActiveRegion, target, cfg.Epoch, cfg.Epoch+1, inv.req.Mode, stamp(since))
		o.report = streamReport(cfg, StatusDryRun)
		o.report.ActiveRegion, o.report.PreviousRegion, o.report.ActiveSince, o.report.Epoch = target, cfg.ActiveRegion, since, cfg.Epoch+1
		o.report.Mode = inv.req.Mode
		// As if the switch were written now.
		would := activeregion.Epoch{Since: since, Mode: inv.req.Mode, VisibleBy: &writeStart}
		settled, start := inv.timing().SettledAt(would), inv.timing().ProducersMayStartAt(would)
		o.report.SettledAt, o.report.ProducersMayStartAt = &settled, &start
		res := inv.resumeOf(ctx, cross, name, from, cps, loadErr)
		o.apply(&o.report, res)
		inv.consumerPositions(cross, &o.notes, &o.report, from, target, res)
		return o
	}
	// The epoch just read always fences the write, so that of two calls
	// that read the same epoch exactly one switches.
	readEpoch := cfg.Epoch
	switchCtx, cancel := context.WithTimeout(ctx, activeregion.SwitchWriteTimeout)
	after, err := inv.h.configs.Switch(switchCtx, name, activeregion.Switch{
		To:               target,
		At:               since,
		Mode:             inv.req.Mode,
		ExpectedEpoch:    &readEpoch,
		Reason:           inv.req.Reason,
		RequestID:        inv.requestID,
		RequestedBy:      inv.req.RequestedBy,
		UpdatedBy:        inv.updatedBy(),
		HistoryRetention: inv.h.settings.HistoryRetention,
		HistoryLimit:     inv.h.settings.HistoryLimit,
	})
	cancel()
	visibleBy := inv.h.now()
	switch {
	case err == nil && after.Epoch == readEpoch+1 && after.ActiveRegion == target:
		o.action("%s: switched %s → %s (epoch %d → %d, %s mode), active from %s", name, cfg.ActiveRegion, target, readEpoch, after.Epoch, inv.req.Mode, stamp(since))
		if late := visibleBy.Sub(writeStart); late > activeregion.SwitchLead {
			o.warn("%s: the switch took %s to write, longer than the %s it was stamped ahead: records written into %s before %s may not be replicated, and the switch settles later",
				name, late.Round(time.Millisecond), activeregion.SwitchLead, target, stamp(visibleBy))
		}
		// Recorded at once, before any call into the old Region: a later
		// whole-item write of this entry could, last writer wins, erase a
		// switch made meanwhile in the other Region's replica.
		var raw *time.Time
		if loadErr == nil {
			counted, _, _ := countedCheckpoints(cps, inv.req.IgnoreShards[name], from)
			if resume, ok := checkpoint.ResumePoint(counted); ok {
				raw = &resume
			}
		}
		after = inv.recordVisibility(ctx, &o.notes, after, visibleBy, raw)
		res := inv.resumeOf(ctx, cross, name, from, cps, loadErr)
		o.report = streamReport(after, StatusSwitched)
		o.apply(&o.report, res)
		inv.describeSwitch(cross, &o.report, after)
		// After the switch and within its deadline: it can only delay
		// the report, never the switch.
		inv.consumerPositions(cross, &o.notes, &o.report, from, target, res)
		if stored := after.Current().ResumeFrom; stored != nil {
			o.action("%s: the checkpoints' minimum %s is stored in the history entry of epoch %d: retries and status report it, checked again against the shards of %s", name, stamp(*stored), after.Epoch, from.region)
		}
		return o
	case err == nil, errors.Is(err, activeregion.ErrConflict), errors.Is(err, activeregion.ErrStaleEpoch):
		current := cfg
		if fresh, getErr := inv.h.configs.Get(ctx, name); getErr == nil {
			current = fresh
		}
		status := StatusConflict
		if inv.req.ExpectedEpoch != nil {
			status = StatusStaleEpoch
		}
		o.warn("%s: another failover changed it after this call read epoch %d (now active in %s, epoch %d): this call changed nothing",
			name, readEpoch, current.ActiveRegion, current.Epoch)
		o.report = streamReport(current, status)
		o.apply(&o.report, inv.storedOrComputed(ctx, cross, current, awayFrom(current, target)))
		inv.describeSwitch(cross, &o.report, current)
		return o
	default:
		o.warn("%s: switch to %s failed, nothing changed for this stream: %v", name, target, err)
		o.report = streamReport(cfg, StatusFailed)
		o.apply(&o.report, inv.resumeOf(ctx, cross, name, from, cps, loadErr))
		return o
	}
}

// recordVisibility stores on the new history entry when its switch was
// acknowledged and so when it settles, and the checkpoints' minimum at the
// switch: the new Region's hold and every later settle check are measured
// from it, and retries and status report that resume point (checked again
// against the old Region's shards each time). A failure leaves the
// replicators on their own bound (Epoch.VisibleByOr) and is a warning.
func (inv *invocation) recordVisibility(ctx context.Context, n *notes, cfg activeregion.Config, visibleBy time.Time, resume *time.Time) activeregion.Config {
	recorded := cfg.Current()
	recorded.VisibleBy = &visibleBy
	settled := inv.timing().SettledAt(recorded)
	ctx, cancel := context.WithTimeout(ctx, activeregion.SwitchWriteTimeout)
	defer cancel()
	ok, err := inv.h.configs.RecordVisibility(ctx, cfg.StreamName, activeregion.Visibility{
		Epoch: cfg.Epoch, RequestID: inv.requestID, VisibleBy: visibleBy, SettledAt: settled, ResumeFrom: resume,
	})
	switch {
	case err != nil:
		n.warn("%s: the switch's visibility was not recorded (%v): the new Region holds its first writes a little longer and the switch settles by %s",
			cfg.StreamName, err, stamp(inv.timing().SettledAt(cfg.Current())))
		return cfg
	case !ok:
		return cfg
	}
	cfg.History = slices.Clone(cfg.History)
	last := &cfg.History[len(cfg.History)-1]
	v, st := visibleBy.UTC(), settled.UTC()
	last.VisibleBy, last.SettledAt = &v, &st
	if resume != nil {
		r := resume.UTC()
		last.ResumeFrom = &r
	}
	return cfg
}

// describeSwitch fills in what the current epoch's switch means for
// producers: its mode, when it settles and from when producers may write;
// in drain mode, whether the Region left has drained (a shard without a
// drain mark is read in that Region, within cross).
func (inv *invocation) describeSwitch(cross context.Context, sr *StreamReport, cfg activeregion.Config) {
	current := cfg.Current()
	if cfg.Epoch < 2 || len(cfg.History) < 2 {
		return
	}
	sr.Mode = current.Mode
	settled := inv.timing().SettledAt(current)
	sr.SettledAt = &settled
	start := inv.timing().ProducersMayStartAt(current)
	sr.ProducersMayStartAt = &start
	if current.Mode != activeregion.ModeDrain || sr.Status == StatusSwitched {
		return
	}
	from := awayFrom(cfg, cfg.ActiveRegion)
	all := true
	checkpointed := map[string]bool{}
	for i := range sr.Shards {
		sh := &sr.Shards[i]
		checkpointed[sh.ShardID] = true
		done := sh.DrainedEpoch >= from.epoch
		if !done {
			scanned, err := inv.drainedByScan(cross, cfg, from, sh.ShardID, sh.LastSequenceNumber, current.Since)
			done = err == nil && scanned
		}
		sh.DrainComplete = &done
		all = all && done
	}
	// A shard of the Region left without any checkpoint may still hold
	// records to drain: it is read from its start.
	shards, err := inv.listShards(cross, from.region, cfg.StreamName)
	if err != nil {
		all = false
	}
	for _, s := range shards {
		if id := aws.ToString(s.ShardId); !checkpointed[id] && all {
			scanned, err := inv.drainedByScan(cross, cfg, from, id, "", current.Since)
			all = err == nil && scanned
		}
	}
	sr.DrainComplete = &all
}

func (inv *invocation) updatedBy() string {
	if inv.req.RequestedBy != "" {
		return inv.req.RequestedBy
	}
	return "failover " + inv.requestID
}

func streamReport(cfg activeregion.Config, status string) StreamReport {
	sr := StreamReport{
		StreamName:   cfg.StreamName,
		Status:       status,
		ActiveRegion: cfg.ActiveRegion,
		ActiveSince:  cfg.ActiveSince,
		Epoch:        cfg.Epoch,
		Shards:       []ShardReport{},

		ConsumerPositions: []ConsumerPosition{},
	}
	if prev, ok := previousEpoch(cfg); ok {
		sr.PreviousRegion = prev.Region
	}
	return sr
}

func previousEpoch(cfg activeregion.Config) (activeregion.Epoch, bool) {
	if len(cfg.History) < 2 {
		return activeregion.Epoch{}, false
	}
	return cfg.History[len(cfg.History)-2], true
}

// summarize fills the report's top-level fields from its streams.
func (inv *invocation) summarize() {
	r := &inv.report
	var active, previous []string
	var latestSince time.Time
	var withoutResume []string
	for _, s := range r.Streams {
		if s.ActiveRegion != "" && !slices.Contains(active, s.ActiveRegion) {
			active = append(active, s.ActiveRegion)
		}
		if s.PreviousRegion != "" && !slices.Contains(previous, s.PreviousRegion) {
			previous = append(previous, s.PreviousRegion)
		}
		if s.ActiveSince.After(latestSince) {
			latestSince = s.ActiveSince
		}
		if p := s.ProducersMayStartAt; p != nil && (r.ProducersMayStartAt == nil || p.After(*r.ProducersMayStartAt)) {
			r.ProducersMayStartAt = p
		}
		if s.ResumeFrom == nil {
			withoutResume = append(withoutResume, s.StreamName)
		} else if r.LogStreamStart == nil || s.ResumeFrom.Before(*r.LogStreamStart) {
			r.LogStreamStart = s.ResumeFrom
		}
	}
	slices.Sort(previous)
	r.PreviousRegion = strings.Join(previous, ",")
	// The Region the streams are active in after the call, not the one
	// asked for: a call that switched nothing must not claim the target.
	switch {
	case len(active) == 1:
		r.ActiveRegion = active[0]
	case len(active) > 1:
		slices.Sort(active)
		inv.warn("streams are active in different Regions (%s): see each stream's activeRegion", strings.Join(active, ", "))
	}
	if !latestSince.IsZero() {
		r.SwitchedAt = &latestSince
	}
	if r.LogStreamStart != nil && len(withoutResume) > 0 {
		inv.warn("logStreamStart leaves out stream(s) without a resumeFrom: %s", strings.Join(withoutResume, ", "))
	}
	slices.SortFunc(r.Streams, func(a, b StreamReport) int { return cmp.Compare(a.StreamName, b.StreamName) })
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func quoteAll(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ",")
}
