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
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

// ConfigStore is what failover needs of the active-Region config table.
type ConfigStore interface {
	Get(ctx context.Context, stream string) (activeregion.Config, error)
	List(ctx context.Context) ([]activeregion.Config, error)
	Create(ctx context.Context, cfg activeregion.Config) (created bool, err error)
	Switch(ctx context.Context, stream string, sw activeregion.Switch) (activeregion.Config, error)
}

// CheckpointLoader reads a stream's checkpoints, one per shard.
type CheckpointLoader interface {
	Load(ctx context.Context, stream string) ([]checkpoint.Checkpoint, error)
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
// Settings behave like SettingsFromEnv's.
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
	if s.SwitchSettle <= 0 {
		s.SwitchSettle = DefaultSwitchSettle
	}
	o := options{
		log:   slog.New(slog.NewJSONHandler(os.Stdout, nil)),
		now:   time.Now,
		sleep: sleepCtx,
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
	for _, cfg := range cfgs {
		sr := streamReport(cfg, StatusActive)
		inv.apply(&sr, inv.storedOrComputed(ctx, cfg, awayFrom(cfg, "")))
		inv.report.Streams = append(inv.report.Streams, sr)
	}
	return nil
}

func (inv *invocation) init(ctx context.Context) error {
	target := inv.req.TargetRegion
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
	for _, cfg := range cfgs {
		inv.report.Streams = append(inv.report.Streams, inv.switchStream(ctx, cfg))
	}
	inv.readBack(ctx)
	inv.swapConcurrency(ctx)
	return nil
}

// switchStream moves one stream to the target Region and returns its report
// with the stream's resume point.
func (inv *invocation) switchStream(ctx context.Context, cfg activeregion.Config) StreamReport {
	target := inv.req.TargetRegion
	name := cfg.StreamName
	// Checked before the fence, so that retrying a call that succeeded says
	// "already active" instead of "stale epoch".
	if cfg.ActiveRegion == target {
		inv.action("%s: already active in %s since %s (epoch %d): nothing changed", name, target, stamp(cfg.ActiveSince), cfg.Epoch)
		sr := streamReport(cfg, StatusAlreadyActive)
		inv.apply(&sr, inv.storedOrComputed(ctx, cfg, awayFrom(cfg, target)))
		return sr
	}
	if fence := inv.req.ExpectedEpoch; fence != nil && *fence != cfg.Epoch {
		inv.warn("%s: at epoch %d (active in %s), not the expected epoch %d: not switched", name, cfg.Epoch, cfg.ActiveRegion, *fence)
		sr := streamReport(cfg, StatusStaleEpoch)
		inv.apply(&sr, inv.computeResume(ctx, name, awayFrom(cfg, target)))
		return sr
	}
	// Computed before the switch and stored with it: once the target's
	// replicator runs, it overwrites the checkpoints this is computed from.
	res := inv.computeResume(ctx, name, awayFrom(cfg, target))
	if inv.req.DryRun {
		inv.action("%s: would switch %s → %s (epoch %d → %d)", name, cfg.ActiveRegion, target, cfg.Epoch, cfg.Epoch+1)
		sr := streamReport(cfg, StatusDryRun)
		sr.ActiveRegion, sr.PreviousRegion, sr.ActiveSince, sr.Epoch = target, cfg.ActiveRegion, inv.at, cfg.Epoch+1
		inv.apply(&sr, res)
		return sr
	}
	// The epoch just read always fences the write, so that of two calls
	// that read the same epoch exactly one switches.
	readEpoch := cfg.Epoch
	after, err := inv.h.configs.Switch(ctx, name, activeregion.Switch{
		To:            target,
		At:            inv.at,
		ExpectedEpoch: &readEpoch,
		Reason:        inv.req.Reason,
		RequestID:     inv.requestID,
		RequestedBy:   inv.req.RequestedBy,
		UpdatedBy:     inv.updatedBy(),
		HistoryLimit:  inv.h.settings.HistoryLimit,
		ResumeFrom:    res.resume,
	})
	switch {
	case err == nil && after.Epoch == readEpoch+1 && after.ActiveRegion == target:
		inv.action("%s: switched %s → %s (epoch %d → %d)", name, cfg.ActiveRegion, target, readEpoch, after.Epoch)
		sr := streamReport(after, StatusSwitched)
		inv.apply(&sr, res)
		if res.resume != nil {
			inv.action("%s: resumeFrom %s is stored in the history entry of epoch %d, so retries and status report it again", name, stamp(*res.resume), after.Epoch)
		}
		return sr
	case err == nil, errors.Is(err, activeregion.ErrConflict), errors.Is(err, activeregion.ErrStaleEpoch):
		current := cfg
		if fresh, getErr := inv.h.configs.Get(ctx, name); getErr == nil {
			current = fresh
		}
		status := StatusConflict
		if inv.req.ExpectedEpoch != nil {
			status = StatusStaleEpoch
		}
		inv.warn("%s: another failover changed it after this call read epoch %d (now active in %s, epoch %d): this call changed nothing",
			name, readEpoch, current.ActiveRegion, current.Epoch)
		sr := streamReport(current, status)
		inv.apply(&sr, inv.storedOrComputed(ctx, current, awayFrom(current, target)))
		return sr
	default:
		inv.warn("%s: switch to %s failed, nothing changed for this stream: %v", name, target, err)
		sr := streamReport(cfg, StatusFailed)
		inv.apply(&sr, res)
		return sr
	}
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
	var switched bool
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
		switched = switched || s.Status == StatusSwitched || (s.Status == StatusDryRun && inv.req.Action == ActionFailover)
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
	if switched {
		r.SwitchedAt = &inv.at
	} else if !latestSince.IsZero() {
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
