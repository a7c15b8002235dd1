// Package replicator is the replicator Lambda's handler: a Kinesis batch from
// the event source mapping goes through the active-Region rule, is written to
// the same stream in the other Region, and the replicated prefix is
// checkpointed and acknowledged; nothing after it is.
package replicator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/committime"
	"github.com/kinesis-crr/kinesis-crr/pkg/metrics"
	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
	"github.com/kinesis-crr/kinesis-crr/pkg/replication"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamarn"
)

// TargetAPI is what the handler needs of the target Region's Kinesis.
type TargetAPI interface {
	replication.PutRecordsAPI
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// DynamoDBAPI is what the active-Region store and the checkpoint store need;
// *dynamodb.Client satisfies it.
type DynamoDBAPI interface {
	activeregion.DynamoDBAPI
	checkpoint.DynamoDBAPI
}

// Clients are the SDK clients the handler uses, built once at cold start.
type Clients struct {
	Target   TargetAPI
	DynamoDB DynamoDBAPI
	// Mirror, when set, also receives every invocation's metrics through
	// PutMetricData (METRICS_MIRROR_REGION).
	Mirror metrics.PutMetricDataAPI
}

// decider is the active-Region rule; *activeregion.Cache implements it.
type decider interface {
	Decide(ctx context.Context, stream, region string, arrivals []time.Time) ([]bool, activeregion.Config, error)
}

type checkpointSaver interface {
	Save(ctx context.Context, cp checkpoint.Checkpoint) (bool, error)
}

// Handler replicates one event source mapping batch per call. One Handler
// serves concurrent calls (the local mode shares it between shard pollers).
type Handler struct {
	settings    Settings
	target      TargetAPI
	decider     decider
	checkpoints checkpointSaver
	writer      *replication.Writer
	emitter     *metrics.Emitter
	extractor   committime.Extractor
	log         *slog.Logger
	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration) error

	limitsMu sync.Mutex
	limits   map[string]recordLimit // by target stream
}

type options struct {
	out    io.Writer
	log    *slog.Logger
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	writer replication.Options
}

// Option changes a Handler's defaults (for tests and the local mode).
type Option func(*options)

// WithOutput sends the EMF metric lines to w instead of stdout.
func WithOutput(w io.Writer) Option { return func(o *options) { o.out = w } }

// WithLogger sets the logger (default: slog to stderr as JSON).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock used for metrics, checkpoints and the cache.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithSleep sets how the handler waits out a switchover hold (tests move a
// fake clock instead of sleeping).
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = sleep }
}

// WithWriterOptions sets the PutRecords writer's options; Ordering is always
// taken from Settings.
func WithWriterOptions(w replication.Options) Option { return func(o *options) { o.writer = w } }

// NewHandler builds a Handler from validated settings and clients.
func NewHandler(s Settings, c Clients, opts ...Option) *Handler {
	o := options{
		out:   os.Stdout,
		log:   slog.New(slog.NewJSONHandler(os.Stderr, nil)),
		now:   time.Now,
		sleep: pause.For,
	}
	for _, opt := range opts {
		opt(&o)
	}
	o.writer.Ordering = s.Ordering

	var metricOpts []metrics.Option
	metricOpts = append(metricOpts, metrics.WithClock(o.now), metrics.WithLogger(o.log))
	if c.Mirror != nil {
		metricOpts = append(metricOpts, metrics.WithMirror(c.Mirror, s.MetricsMirrorRegion))
	}
	return &Handler{
		settings:    s,
		target:      c.Target,
		decider:     activeregion.NewCache(activeregion.NewStore(c.DynamoDB, s.ActiveRegionTable), s.CacheTTL, o.now),
		checkpoints: checkpoint.NewStore(c.DynamoDB, s.CheckpointTable),
		writer:      replication.NewWriter(c.Target, o.writer),
		emitter:     metrics.NewEmitter(o.out, s.MetricsNamespace, metricOpts...),
		extractor:   committime.Extractor{Field: s.CommitTimestampField},
		log:         o.log,
		now:         o.now,
		sleep:       o.sleep,
		limits:      make(map[string]recordLimit),
	}
}

// sourceRecord is one event record with what the handler derived from it.
type sourceRecord struct {
	shardID string
	arrival time.Time
	rec     *events.KinesisEventRecord
}

// Handle replicates the batch. It returns an error only when it cannot decide
// safely for the whole batch (a malformed event, an unreadable active-Region
// config): then Lambda retries the whole batch and nothing is acknowledged.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	if len(ev.Records) == 0 {
		return resp, nil
	}
	source, records, err := parseEvent(ev)
	if err != nil {
		h.log.ErrorContext(ctx, "malformed event: failing the whole batch so Lambda retries it", "error", err)
		return resp, err
	}
	stream := source.Stream
	target := h.settings.NameMap.Target(stream)

	arrivals := make([]time.Time, len(records))
	for i, r := range records {
		arrivals[i] = r.arrival
	}
	replicate, cfg, err := h.decider.Decide(ctx, stream, source.Region, arrivals)
	if err != nil {
		h.log.ErrorContext(ctx, "active-Region config unavailable: nothing skipped or written, the whole batch is retried",
			"stream", stream, "error", err)
		// FailedRecords makes the failure visible per stream, beside the
		// function's Errors metric.
		h.emit(ctx, metrics.Invocation{Stream: stream, FailedRecords: len(records),
			MaxRecordAgeSeconds: seconds(h.now().Sub(oldest(arrivals)))})
		return resp, fmt.Errorf("decide which records %s replicates for stream %s: %w", source.Region, stream, err)
	}

	if err := h.holdAfterSwitchover(ctx, stream, cfg, arrivals, replicate); err != nil {
		h.log.WarnContext(ctx, "switchover hold does not fit before the deadline: the batch is retried", "stream", stream, "error", err)
		h.emit(ctx, metrics.Invocation{Stream: stream, FailedRecords: countTrue(replicate),
			MaxRecordAgeSeconds: seconds(h.now().Sub(oldest(arrivals)))})
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: records[0].rec.Kinesis.SequenceNumber})
		return resp, nil
	}

	batch := replication.Batch{Stream: target}
	batchIndex := make([]int, 0, len(records)) // writer index → event index
	for i, r := range records {
		if replicate[i] {
			batch.Records = append(batch.Records, replication.Record{
				SequenceNumber: r.rec.Kinesis.SequenceNumber,
				PartitionKey:   r.rec.Kinesis.PartitionKey,
				Data:           r.rec.Kinesis.Data,
			})
			batchIndex = append(batchIndex, i)
		}
	}
	if len(batch.Records) > 0 {
		// Read only when there is something to write: a standby that skips
		// everything need not reach the other Region at all.
		batch.MaxRecordBytes = h.maxRecordBytes(ctx, target)
	}
	result := h.writer.Write(ctx, batch)

	// done[i]: record i needs nothing more from this Region (written or skipped).
	done := make([]bool, len(records))
	outcome := make([]*replication.Outcome, len(records))
	for i := range records {
		done[i] = !replicate[i]
	}
	for bi, i := range batchIndex {
		outcome[i] = &result.Outcomes[bi]
		done[i] = result.Outcomes[bi].Written
	}
	prefix := 0
	for prefix < len(records) && done[prefix] {
		prefix++
	}

	for i, o := range outcome {
		if o != nil && o.Permanent {
			h.log.ErrorContext(ctx, "record rejected by the target: reported as a batch item failure, Lambda retries it and then sends it to the on-failure destination",
				"stream", stream, "targetStream", target, "shardId", records[i].shardID,
				"sequenceNumber", records[i].rec.Kinesis.SequenceNumber, "partitionKey", records[i].rec.Kinesis.PartitionKey,
				"bytes", len(records[i].rec.Kinesis.Data), "error", o.Err)
		}
	}

	inv := metrics.Invocation{
		Stream:            stream,
		ReplicatedRecords: result.Stats.Written,
		ReplicatedBytes:   result.Stats.WrittenBytes,
		SkippedRecords:    len(records) - len(batch.Records),
		FailedRecords:     result.Stats.Failed,
		ResentRecords:     result.Stats.Resent,
		ThrottledRecords:  result.Stats.Throttled,
	}
	h.checkpointPrefix(ctx, source, cfg, records[:prefix], outcome[:prefix], &inv)

	now := h.now()
	inv.MaxRecordAgeSeconds = seconds(now.Sub(oldest(arrivals)))
	if last := lastWritten(outcome[:prefix]); last >= 0 {
		inv.ReplicationLagSeconds = seconds(now.Sub(records[last].arrival))
	}
	h.emit(ctx, inv)

	if prefix < len(records) {
		first := records[prefix].rec.Kinesis.SequenceNumber
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: first})
	}
	h.log.InfoContext(ctx, "batch replicated",
		"stream", stream, "targetStream", target, "targetRegion", h.settings.TargetRegion,
		"records", len(records), "replicated", result.Stats.Written, "skipped", inv.SkippedRecords,
		"failed", result.Stats.Failed, "resent", result.Stats.Resent, "throttled", result.Stats.Throttled,
		"requests", result.Stats.Requests, "acknowledged", prefix, "epoch", cfg.Epoch)

	return resp, nil
}

// mirrorWait bounds how long an invocation waits for the metrics mirror: the
// mirror is off the critical path, and a slow CloudWatch in the other Region
// must not hold the invocation towards its deadline. A send still running
// finishes in the background and a failure shows at a later flush.
const mirrorWait = 250 * time.Millisecond

// emit writes the invocation's metrics and gives the mirror, if any, a short
// while; metrics never fail an invocation.
func (h *Handler) emit(ctx context.Context, inv metrics.Invocation) {
	if err := h.emitter.Emit(ctx, inv); err != nil {
		h.log.WarnContext(ctx, "emit metrics", "stream", inv.Stream, "error", err)
	}
	flushCtx, cancel := context.WithTimeout(ctx, mirrorWait)
	defer cancel()
	if err := h.emitter.Flush(flushCtx); err != nil {
		h.log.WarnContext(ctx, "mirror metrics", "region", h.settings.MetricsMirrorRegion, "error", err)
	}
}

// globalTableDelay is how long a config switch may take to reach the other
// Region's replica of the global table; AWS states replication within a
// second or so in normal operation.
const globalTableDelay = 2 * time.Second

// minWriteTime is what a hold must leave before the deadline for the writes.
const minWriteTime = 5 * time.Second

// holdAfterSwitchover makes a newly active Region wait, before its first
// writes, until the previous Region can no longer decide on a config read
// from before the switch: its cache trusts a read for ACTIVE_REGION_CACHE_TTL,
// and the switch needs globalTableDelay to reach it. Writing earlier would
// hand the previous Region replicas that it would still replicate back,
// again and again until its cache expired, and a bounced copy can land after
// a later record of its key. With the hold, a replica reaches the previous
// Region only after the switch does, and is skipped there.
func (h *Handler) holdAfterSwitchover(ctx context.Context, stream string, cfg activeregion.Config, arrivals []time.Time, replicate []bool) error {
	var latest time.Time
	for i, r := range replicate {
		if r && arrivals[i].After(latest) {
			latest = arrivals[i]
		}
	}
	since, ok := cfg.TakeoverAt(latest)
	if latest.IsZero() || !ok {
		return nil
	}
	until := since.Add(h.settings.CacheTTL + globalTableDelay)
	wait := until.Sub(h.now())
	if wait <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && until.Add(minWriteTime).After(deadline) {
		return fmt.Errorf("hold until %s, deadline %s", until.UTC().Format(time.RFC3339Nano), deadline.UTC().Format(time.RFC3339Nano))
	}
	h.log.InfoContext(ctx, "newly active: holding the first writes until the previous Region has seen the switch",
		"stream", stream, "activeSince", since.UTC(), "until", until.UTC(), "wait", wait.String())
	if err := h.sleep(ctx, wait); err != nil {
		return fmt.Errorf("hold after switchover: %w", err)
	}
	return nil
}

// checkpointPrefix saves, per shard, the last record of the replicated prefix
// that this Region wrote. A failed save is logged and leaves the checkpoint
// behind, never ahead: the records are in the target, so failing the batch
// would only write them again, and a lagging checkpoint only moves a resume
// point earlier (CheckpointAgeSeconds alarms on it).
func (h *Handler) checkpointPrefix(ctx context.Context, source streamarn.ARN, cfg activeregion.Config,
	records []sourceRecord, outcome []*replication.Outcome, inv *metrics.Invocation) {
	lastOfShard := make(map[string]int)
	var shards []string
	for i, o := range outcome {
		if o == nil || !o.Written {
			continue
		}
		if _, seen := lastOfShard[records[i].shardID]; !seen {
			shards = append(shards, records[i].shardID)
		}
		lastOfShard[records[i].shardID] = i
	}
	now := h.now().UTC()
	var oldestCommit time.Time
	for _, shard := range shards {
		i := lastOfShard[shard]
		r := records[i]
		commit, from := h.commitTimeAtOrBefore(records, i)
		if from == checkpoint.SourceArrival {
			inv.CommitTimestampFallbacks++
		}
		cp := checkpoint.Checkpoint{
			StreamName:              source.Stream,
			ShardID:                 shard,
			LastReplicatedTimestamp: commit.UTC(),
			TimestampSource:         from,
			LastSequenceNumber:      r.rec.Kinesis.SequenceNumber,
			LastArrivalTimestamp:    r.arrival.UTC(),
			TargetShardID:           outcome[i].TargetShardID,
			TargetSequenceNumber:    outcome[i].TargetSequenceNumber,
			SourceRegion:            source.Region,
			TargetRegion:            h.settings.TargetRegion,
			Epoch:                   cfg.At(r.arrival).Epoch,
			UpdatedAt:               now,
		}
		callCtx, cancel := h.callContext(ctx)
		advanced, err := h.checkpoints.Save(callCtx, cp)
		cancel()
		if err != nil {
			h.log.ErrorContext(ctx, "save checkpoint: it stays behind until a later batch saves one",
				"stream", source.Stream, "shardId", shard, "sequenceNumber", cp.LastSequenceNumber, "error", err)
			continue
		}
		if !advanced {
			// The stored checkpoint is at least as new (a retried batch, or
			// the other Region's newer epoch): this one says nothing of it.
			continue
		}
		if oldestCommit.IsZero() || commit.Before(oldestCommit) {
			oldestCommit = commit
		}
	}
	if !oldestCommit.IsZero() {
		inv.CheckpointAgeSeconds = seconds(now.Sub(oldestCommit))
	}
}

// commitTimeAtOrBefore is the commit time a checkpoint at records[last] may
// claim: that record's, or, when its payload has none, that of the latest
// earlier record of the same shard that has one. An arrival time is later
// than the commit it carries by the producer's latency, so a producer
// resuming from it could skip a commit not yet replicated; an earlier
// commit time only makes it resend more. Only when no record of the batch
// has one does the arrival time stand, marked as such.
func (h *Handler) commitTimeAtOrBefore(records []sourceRecord, last int) (time.Time, string) {
	shard := records[last].shardID
	for i := last; i >= 0; i-- {
		if records[i].shardID != shard {
			continue
		}
		if t, ok := h.extractor.Extract(records[i].rec.Kinesis.Data); ok {
			return t, checkpoint.SourceCommit
		}
	}
	return records[last].arrival, checkpoint.SourceArrival
}

// recordLimitTTL is how long a target stream's record size limit is trusted:
// an operator who raises it (UpdateMaxRecordSize) waits at most this long
// before larger records go out, instead of until the instance is recycled.
const recordLimitTTL = time.Minute

type recordLimit struct {
	bytes  int // 0: the Kinesis default
	readAt time.Time
}

// maxRecordBytes is the target stream's record size limit, read at most once
// per recordLimitTTL per stream; while it cannot be read the Kinesis default
// applies (a larger record is then handed back for a retry, never dropped).
func (h *Handler) maxRecordBytes(ctx context.Context, stream string) int {
	now := h.now()
	h.limitsMu.Lock()
	cached, ok := h.limits[stream]
	h.limitsMu.Unlock()
	if ok && now.Sub(cached.readAt) < recordLimitTTL {
		return cached.bytes
	}
	callCtx, cancel := h.callContext(ctx)
	defer cancel()
	out, err := h.target.DescribeStreamSummary(callCtx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		h.log.WarnContext(ctx, "read the target stream's record size limit; using the last known or 1 MiB default this time",
			"targetStream", stream, "region", h.settings.TargetRegion, "error", err)
		return cached.bytes
	}
	limit := recordLimit{readAt: now}
	if s := out.StreamDescriptionSummary; s != nil && s.MaxRecordSizeInKiB != nil {
		limit.bytes = int(*s.MaxRecordSizeInKiB) * 1024
	}
	h.limitsMu.Lock()
	h.limits[stream] = limit
	h.limitsMu.Unlock()
	return limit.bytes
}

// callMargin is the time a call other than the writes (the record limit, a
// checkpoint) leaves before the Lambda deadline: such a call that hangs must
// not turn a replicated batch into a timed-out invocation.
const callMargin = time.Second

func (h *Handler) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-callMargin))
	}
	return context.WithCancel(ctx)
}

// parseEvent checks that the batch is one stream's and that every record
// carries what the handler relies on.
func parseEvent(ev events.KinesisEvent) (streamarn.ARN, []sourceRecord, error) {
	first := ev.Records[0].EventSourceArn
	source, err := streamarn.Parse(first)
	if err != nil {
		return streamarn.ARN{}, nil, fmt.Errorf("record 0: eventSourceARN: %w", err)
	}
	records := make([]sourceRecord, len(ev.Records))
	for i := range ev.Records {
		r := &ev.Records[i]
		switch {
		case r.EventSourceArn != first:
			return streamarn.ARN{}, nil, fmt.Errorf("record %d: eventSourceARN %q differs from record 0's %q: one batch must come from one stream", i, r.EventSourceArn, first)
		case r.Kinesis.SequenceNumber == "":
			return streamarn.ARN{}, nil, fmt.Errorf("record %d: no kinesis.sequenceNumber", i)
		case r.Kinesis.ApproximateArrivalTimestamp.IsZero():
			return streamarn.ARN{}, nil, fmt.Errorf("record %d (sequence number %s): no kinesis.approximateArrivalTimestamp", i, r.Kinesis.SequenceNumber)
		}
		shard, _, ok := strings.Cut(r.EventID, ":")
		if !ok || !strings.HasPrefix(shard, "shardId-") {
			return streamarn.ARN{}, nil, fmt.Errorf("record %d (sequence number %s): eventID %q is not shardId-…:sequenceNumber", i, r.Kinesis.SequenceNumber, r.EventID)
		}
		records[i] = sourceRecord{shardID: shard, arrival: r.Kinesis.ApproximateArrivalTimestamp.Time, rec: r}
	}
	return source, records, nil
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func lastWritten(outcome []*replication.Outcome) int {
	for i := len(outcome) - 1; i >= 0; i-- {
		if outcome[i] != nil && outcome[i].Written {
			return i
		}
	}
	return -1
}

func oldest(ts []time.Time) time.Time {
	o := ts[0]
	for _, t := range ts[1:] {
		if t.Before(o) {
			o = t
		}
	}
	return o
}

func seconds(d time.Duration) *float64 {
	s := max(d.Seconds(), 0)
	return &s
}
