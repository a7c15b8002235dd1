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
	"slices"
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
	"github.com/kinesis-crr/kinesis-crr/pkg/putrecords"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamarn"
)

// TargetAPI is what the handler needs of the target Region's Kinesis:
// PutRecords to write, DescribeStreamSummary for the record size limit,
// ListShards for the hash ranges the writer paces each target shard by (a
// listing that fails leaves the writes unpaced, never unwritten).
type TargetAPI interface {
	putrecords.PutRecordsAPI
	putrecords.ShardLister
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
	// Fence reads the config table in the target Region (GetItem only):
	// a failover away from this Region is written there first, so writes
	// are fenced on it. Nil leaves writes unfenced, which only tests of the
	// own-Region rule may do.
	Fence activeregion.DynamoDBAPI
	// Mirror, when set, also receives every invocation's metrics through
	// PutMetricData (METRICS_MIRROR_REGION).
	Mirror metrics.PutMetricDataAPI
}

// decider is the active-Region rule; *activeregion.Rule implements it.
type decider interface {
	// Decide returns one decision per arrival, the config they were taken
	// on, and until when writes may start; an error means nothing may be
	// decided for the batch.
	Decide(ctx context.Context, stream, region string, arrivals []time.Time) (activeregion.Verdict, error)
}

// checkpointStore is the part of the checkpoint table the replicator writes.
// Each method keeps the contract written on the checkpoint.Store method of
// the same name (checkpointtest.RunStoreContract checks every
// implementation); the replicator relies in particular on these parts of it.
type checkpointStore interface {
	// Save: conditional on (epoch, sequence number), never backwards;
	// (false, nil) when cp is not ahead, which is no error.
	Save(ctx context.Context, cp checkpoint.Checkpoint) (bool, error)
	// MarkDrained: only forward; (false, nil) when there is no checkpoint
	// or it is marked for that epoch or a later one already.
	MarkDrained(ctx context.Context, stream, region, shard string, epoch int64, at time.Time) (bool, error)
	// Get: a consistent read of this Region's own item, so it sees every
	// save of this Region that returned; (zero, false, nil) when none.
	Get(ctx context.Context, stream, region, shard string) (checkpoint.Checkpoint, bool, error)
}

// trailStore is the part of the checkpoint table's trail items (one per
// source shard, apart from its checkpoint) the replicator writes.
// AppendSyncPoint keeps the contract written on
// checkpoint.Store.AppendSyncPoint: conditional on the trail it extends, so
// two instances taking turns on a shard lose no point; nil when p adds
// nothing.
type trailStore interface {
	AppendSyncPoint(ctx context.Context, stream, region, shard string, p checkpoint.SyncPoint) error
}

// Handler replicates one event source mapping batch per call. One Handler
// serves concurrent calls (the local mode shares it between shard pollers).
type Handler struct {
	settings    Settings
	timing      activeregion.Timing
	target      TargetAPI
	decider     decider
	checkpoints checkpointStore
	trails      trailStore
	writer      *putrecords.Writer
	emitter     *metrics.Emitter
	extractor   committime.Extractor
	log         *slog.Logger
	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration) error

	limitsMu   sync.Mutex
	limits     map[string]recordLimit // by target stream
	limitReads map[string]bool        // target streams whose limit is read in the background now

	// async runs reads in the background (prefetch.go); nil runs none
	// there: WithClock's tests, whose clock another goroutine must not read.
	async func(func())

	drainedMu sync.Mutex
	drained   map[shardKey]int64 // the drain marks this instance wrote

	syncMu     sync.Mutex
	syncPoints map[shardKey]time.Time // when this instance last tried to append a sync point

}

type shardKey struct{ stream, shard string }

type options struct {
	clockSet bool
	out      io.Writer
	log      *slog.Logger
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	writer   putrecords.Options
}

// Option changes a Handler's defaults (for tests and the local mode).
type Option func(*options)

// WithOutput sends the EMF metric lines to w instead of stdout.
func WithOutput(w io.Writer) Option { return func(o *options) { o.out = w } }

// WithLogger sets the logger (default: slog to stderr as JSON).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock used for metrics, checkpoints and the cache. The
// active-Region rule then renews no fence read in the background, nor the
// handler the target's record limit and shard map (prefetch.go): either
// would read a test's clock from another goroutine.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now, o.clockSet = now, true }
}

// WithSleep sets how the handler waits out a switchover hold (tests move a
// fake clock instead of sleeping).
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = sleep }
}

// WithWriterOptions sets the PutRecords writer's options; Ordering is always
// taken from Settings.
func WithWriterOptions(w putrecords.Options) Option { return func(o *options) { o.writer = w } }

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
	if o.writer.Shards == nil {
		o.writer.Shards = c.Target
	}

	var metricOpts []metrics.Option
	metricOpts = append(metricOpts, metrics.WithClock(o.now), metrics.WithLogger(o.log))
	// Every series also under (StreamName, SourceRegion): the mirror sends
	// only that one, so the two Regions' series never merge.
	metricOpts = append(metricOpts, metrics.WithSourceRegion(s.OwnRegion))
	if c.Mirror != nil {
		metricOpts = append(metricOpts, metrics.WithMirror(c.Mirror, s.MetricsMirrorRegion))
	}
	var ruleOpts []activeregion.RuleOption
	if !o.clockSet {
		ruleOpts = append(ruleOpts, activeregion.WithFencePrefetch())
	}
	store := checkpoint.NewStore(c.DynamoDB, s.CheckpointTable)
	h := &Handler{
		settings:    s,
		timing:      activeregion.Timing{CacheTTL: s.CacheTTL},
		target:      c.Target,
		checkpoints: store,
		trails:      store,
		writer:      putrecords.NewWriter(c.Target, o.writer),
		emitter:     metrics.NewEmitter(o.out, s.MetricsNamespace, metricOpts...),
		extractor:   committime.Extractor{Field: s.CommitTimestampField},
		log:         o.log,
		now:         o.now,
		sleep:       o.sleep,
		limits:      make(map[string]recordLimit),
		limitReads:  make(map[string]bool),
		drained:     make(map[shardKey]int64),
		syncPoints:  make(map[shardKey]time.Time),
	}
	if !o.clockSet {
		h.async = func(f func()) { go f() }
	}
	var fence activeregion.Getter
	if c.Fence != nil {
		fence = warmingFence{Getter: activeregion.NewStore(c.Fence, s.ActiveRegionTable), warm: h.warmTarget}
	}
	h.decider = activeregion.NewRule(activeregion.NewStore(c.DynamoDB, s.ActiveRegionTable), fence, s.CacheTTL, o.now, ruleOpts...)
	return h
}

// sourceRecord is one event record with what the handler derived from it.
type sourceRecord struct {
	shardID string
	arrival time.Time
	rec     *events.KinesisEventRecord
}

// Handle replicates the batch: parse → decide (and leave out what the
// checkpoint covers) → hold → write → acknowledge → checkpoint → report. It returns an error only when it cannot decide safely
// for the whole batch (a malformed event, an unreadable active-Region
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

	verdict, err := h.decider.Decide(ctx, stream, source.Region, arrivals(records))
	if err != nil {
		h.log.ErrorContext(ctx, "active-Region config unavailable: nothing skipped or written, the whole batch is retried",
			"stream", stream, "error", err)
		// FailedRecords makes the failure visible per stream, beside the
		// function's Errors metric.
		inv := h.invocation(stream, records)
		inv.FailedRecords = len(records)
		h.emit(ctx, inv)
		return resp, fmt.Errorf("decide which records %s replicates for stream %s: %w", source.Region, stream, err)
	}

	held, err := h.holdAfterSwitchover(ctx, stream, verdict, records)
	if err == nil && held {
		// The hold used up part of the write lease, and the config may
		// have moved meanwhile: decide again on fresh reads.
		verdict, err = h.decider.Decide(ctx, stream, source.Region, arrivals(records))
	}
	if err != nil {
		h.log.WarnContext(ctx, "switchover hold did not complete: the batch is retried", "stream", stream, "error", err)
		return h.handBack(ctx, stream, records, verdict), nil
	}

	covered, err := h.coveredByCheckpoint(ctx, source, records, verdict.Decisions)
	if err != nil {
		// Writing without knowing what the checkpoint covers could write
		// again records it names beyond its prefix but not all of them,
		// and a later batch that reads it would leave those out behind
		// the new copies.
		h.log.WarnContext(ctx, "shard's checkpoint unreadable: nothing written, the batch is retried", "stream", stream, "error", err)
		return h.handBack(ctx, stream, records, verdict), nil
	}
	saver := h.newProgressSaver(ctx)
	outcome, stats := h.write(ctx, source, records, verdict, covered, saver)
	saved := saver.wait()

	done, inTarget := progress(verdict.Decisions, covered, outcome)
	ack := acknowledge(records, done, inTarget)

	inv := h.invocation(stream, records)
	inv.RedeliveredRecords = countTrue(covered)
	inv.ReplicatedRecords = stats.Written
	inv.ReplicatedBytes = stats.WrittenBytes
	inv.SkippedRecords = count(verdict.Decisions, activeregion.Skip)
	inv.SupersededRecords = count(verdict.Decisions, activeregion.Supersede)
	inv.FailedRecords = stats.Failed
	inv.RejectedRecords = stats.Rejected
	inv.ResentRecords = stats.Resent
	inv.ThrottledRecords = stats.Throttled
	h.checkpoint(ctx, source, verdict.Config, records, outcome, ack, inTarget, saved, &inv)
	h.markDrained(ctx, source, verdict.Config, records, ack)
	if len(ack.lastWritten) > 0 {
		last := slices.Max(ack.lastWritten)
		inv.ReplicationLagSeconds = seconds(h.now().Sub(records[last].arrival))
	}
	h.emit(ctx, inv)

	if ack.retryFrom != "" {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: ack.retryFrom})
	}
	h.log.InfoContext(ctx, "batch replicated",
		"stream", stream, "targetStream", h.settings.NameMap.Target(stream), "targetRegion", h.settings.TargetRegion,
		"records", len(records), "replicated", stats.Written, "redelivered", inv.RedeliveredRecords,
		"skipped", inv.SkippedRecords, "superseded", inv.SupersededRecords,
		"failed", stats.Failed, "resent", stats.Resent, "throttled", stats.Throttled,
		"requests", stats.Requests, "acknowledged", ack.prefix, "epoch", verdict.Config.Epoch)
	return resp, nil
}

// handBack reports the whole batch as not written, from its first record,
// so the mapping delivers it again; its records to replicate count as
// FailedRecords.
func (h *Handler) handBack(ctx context.Context, stream string, records []sourceRecord, v activeregion.Verdict) events.KinesisEventResponse {
	inv := h.invocation(stream, records)
	inv.FailedRecords = count(v.Decisions, activeregion.Replicate)
	h.emit(ctx, inv)
	return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: records[0].rec.Kinesis.SequenceNumber}}}
}

// maxLoggedSequenceNumbers bounds the sequence numbers one log line names.
const maxLoggedSequenceNumbers = 20

// logHandedBack names the records that were sent and not written, and not
// refused for good (those are logged one by one): they go back to the
// mapping and a later invocation writes them, so one line per batch says
// which, with the first error.
func (h *Handler) logHandedBack(ctx context.Context, stream string, records []sourceRecord, index []int, outcomes []putrecords.Outcome) {
	var seqs []string
	var first error
	n := 0
	for bi, o := range outcomes {
		if o.Written || o.Permanent {
			continue
		}
		if n++; len(seqs) < maxLoggedSequenceNumbers {
			seqs = append(seqs, records[index[bi]].rec.Kinesis.SequenceNumber)
		}
		if first == nil {
			first = o.Err
		}
	}
	if n == 0 {
		return
	}
	h.log.WarnContext(ctx, "records not written this time: handed back to the mapping, which delivers them again",
		"stream", stream, "records", n, "sequenceNumbers", seqs, "firstError", first)
}

// write sends the records to replicate, and only those, within the write
// lease of the verdict, leaving out those the checkpoint already covers.
// outcome[i] is nil for a record not sent. A write that runs long
// checkpoints its progress on the way (saveProgress).
func (h *Handler) write(ctx context.Context, source streamarn.ARN, records []sourceRecord, v activeregion.Verdict, covered []bool, saver *progressSaver) ([]*putrecords.Outcome, putrecords.Stats) {
	stream := source.Stream
	target := h.settings.NameMap.Target(stream)
	batch := putrecords.Batch{Stream: target}
	index := make([]int, 0, len(records)) // writer index → event index
	largest := 0
	for i, r := range records {
		if v.Decisions[i] == activeregion.Replicate && !covered[i] {
			largest = max(largest, len(r.rec.Kinesis.PartitionKey)+len(r.rec.Kinesis.Data))
			batch.Records = append(batch.Records, putrecords.Record{
				SequenceNumber: r.rec.Kinesis.SequenceNumber,
				PartitionKey:   r.rec.Kinesis.PartitionKey,
				Data:           r.rec.Kinesis.Data,
			})
			index = append(index, i)
		}
	}
	outcome := make([]*putrecords.Outcome, len(records))
	if len(batch.Records) == 0 {
		return outcome, putrecords.Stats{}
	}
	// Read only when there is something to write: a standby that skips
	// everything need not reach the other Region at all.
	batch.MaxRecordBytes = h.maxRecordBytes(ctx, target, largest)
	// What is left of the lease is taken after every call before the
	// writes, so a slow one cannot carry writes past the lease's end.
	if !v.WriteUntil.IsZero() {
		batch.WriteWithin = v.WriteUntil.Sub(h.now())
		if batch.WriteWithin < minWriteLease {
			// The fence read took most of its lease (a slow or healing
			// target Region): a request started now would be cut while
			// the target may still take it in, and sent again. Lambda
			// retries the batch on a fresh fence instead.
			return notWritten(records, v), putrecords.Stats{Failed: count(v.Decisions, activeregion.Replicate)}
		}
	}
	batch.Progress = h.saveProgress(source, v, records, covered, index, saver)
	result := h.writer.Write(ctx, batch)
	defer h.logHandedBack(ctx, stream, records, index, result.Outcomes)
	if result.PacingErr != nil {
		h.warnUnpaced(ctx, target, result.PacingErr)
	}
	for bi, i := range index {
		outcome[i] = &result.Outcomes[bi]
		if o := outcome[i]; o.Permanent {
			r := records[i]
			h.log.ErrorContext(ctx, "record rejected by the target: reported as a batch item failure, Lambda retries it and then sends it to the on-failure destination",
				"stream", stream, "targetStream", target, "shardId", r.shardID,
				"sequenceNumber", r.rec.Kinesis.SequenceNumber, "partitionKey", r.rec.Kinesis.PartitionKey,
				"bytes", len(r.rec.Kinesis.Data), "error", o.Err)
		}
	}
	return outcome, result.Stats
}

// warnUnpaced says the target's shards could not be listed, so writes go
// out unpaced.
func (h *Handler) warnUnpaced(ctx context.Context, target string, err error) {
	h.log.WarnContext(ctx, "the target's shards could not be listed: writes go out unpaced (retried on throttling) until they can be; the replicator needs kinesis:ListShards on the target stream",
		"targetStream", target, "region", h.settings.TargetRegion, "error", err)
}

// notWritten is the outcome of a batch whose write lease ended before it
// could start.
func notWritten(records []sourceRecord, v activeregion.Verdict) []*putrecords.Outcome {
	outcome := make([]*putrecords.Outcome, len(records))
	for i, d := range v.Decisions {
		if d == activeregion.Replicate {
			outcome[i] = &putrecords.Outcome{Err: putrecords.ErrDeadline}
		}
	}
	return outcome
}

// invocation starts the metrics of an invocation over records.
func (h *Handler) invocation(stream string, records []sourceRecord) metrics.Invocation {
	oldest := records[0].arrival
	for _, r := range records[1:] {
		if r.arrival.Before(oldest) {
			oldest = r.arrival
		}
	}
	return metrics.Invocation{Stream: stream, MaxRecordAgeSeconds: seconds(h.now().Sub(oldest))}
}

func arrivals(records []sourceRecord) []time.Time {
	out := make([]time.Time, len(records))
	for i, r := range records {
		out[i] = r.arrival
	}
	return out
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

// minWriteLease is the least a write lease must have left for writes to
// start under it.
const minWriteLease = time.Second

// minWriteTime is what a hold must leave before the deadline for the writes.
const minWriteTime = 5 * time.Second

// holdAfterSwitchover makes a newly active Region wait, before its first
// writes, until the previous Region can no longer replicate back what it
// sends: the previous Region writes only on a fence read of this Region's
// replica, trusted for ACTIVE_REGION_CACHE_TTL, so once that long has passed
// since the switch became visible here, every decision it takes sees the
// switch and skips the replicas. The hold is measured from the visibility
// the failover recorded (or the read that showed the switch), never from
// `since`, so a slow failover call cannot shorten it. In rewind mode the
// new epoch starts after the hold anyway, so this only waits in drain mode.
func (h *Handler) holdAfterSwitchover(ctx context.Context, stream string, v activeregion.Verdict, records []sourceRecord) (held bool, err error) {
	var latest time.Time
	for i, d := range v.Decisions {
		if d == activeregion.Replicate && records[i].arrival.After(latest) {
			latest = records[i].arrival
		}
	}
	if latest.IsZero() {
		return false, nil
	}
	if _, ok := v.Config.TakeoverAt(latest); !ok {
		return false, nil
	}
	entry := v.Config.At(latest)
	now := h.now()
	until := h.timing.HoldUntil(entry.VisibleByOr(v.ObservedAt))
	wait := until.Sub(now)
	if wait <= 0 {
		return false, nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+minWriteTime {
		return false, fmt.Errorf("hold of %v until %s does not leave %v before the deadline %s",
			wait, until.UTC().Format(time.RFC3339Nano), minWriteTime, deadline.UTC().Format(time.RFC3339Nano))
	}
	h.log.InfoContext(ctx, "newly active: holding the first writes until the previous Region has seen the switch",
		"stream", stream, "epoch", entry.Epoch, "activeSince", entry.Since.UTC(), "until", until.UTC(), "wait", wait.String())
	if err := h.sleep(ctx, wait); err != nil {
		return false, fmt.Errorf("hold after switchover: %w", err)
	}
	return true, nil
}

// checkpoint saves, per shard, the last record of the acknowledged prefix
// that this Region wrote. A failed save is logged and leaves the checkpoint
// behind, never ahead: the records are in the target, so failing the batch
// would only write them again, and a lagging checkpoint only moves a resume
// point earlier (CheckpointAgeSeconds alarms on it).
func (h *Handler) checkpoint(ctx context.Context, source streamarn.ARN, cfg activeregion.Config,
	records []sourceRecord, outcome []*putrecords.Outcome, ack acknowledgment, inTarget []bool, saved progressSaves, inv *metrics.Invocation) {
	now := h.now().UTC()
	var oldestCommit time.Time
	for _, i := range ack.lastWritten {
		cp := h.checkpointAt(source, cfg, records, outcome, ack, inTarget, i, now)
		if cp.TimestampSource == checkpoint.SourceArrival {
			inv.CommitTimestampFallbacks++
		}
		commit := cp.LastReplicatedTimestamp
		// A write that stopped after its last progress save (a deadline)
		// has that checkpoint stored already: this invocation's own.
		advanced, err := saved[cp.ShardID] == savedAs(cp), error(nil)
		if !advanced {
			advanced, err = h.saveCheckpoint(ctx, cp)
		}
		if err == nil && advanced {
			h.appendSyncPoint(ctx, source, records, outcome, inTarget, i, now)
		}
		if err != nil {
			continue
		}
		if !advanced {
			// The stored checkpoint is at least as new (a retried batch):
			// this one says nothing of it.
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

// checkpointAt is the checkpoint that names records[i], the last record in
// the target of its shard's acknowledged prefix, and what is in the target
// of the shard beyond the prefix. Where records[i] landed is known only if
// this invocation wrote it; one an earlier invocation wrote (covered) is
// named without it.
func (h *Handler) checkpointAt(source streamarn.ARN, cfg activeregion.Config, records []sourceRecord, outcome []*putrecords.Outcome,
	ack acknowledgment, inTarget []bool, i int, now time.Time) checkpoint.Checkpoint {
	r := records[i]
	commit, from := h.commitTimeAtOrBefore(records, i)
	var landed putrecords.Outcome
	if outcome[i] != nil {
		landed = *outcome[i]
	}
	return checkpoint.Checkpoint{
		StreamName:              source.Stream,
		ShardID:                 r.shardID,
		LastReplicatedTimestamp: commit.UTC(),
		TimestampSource:         from,
		LastSequenceNumber:      r.rec.Kinesis.SequenceNumber,
		LastArrivalTimestamp:    r.arrival.UTC(),
		TargetShardID:           landed.TargetShardID,
		TargetSequenceNumber:    landed.TargetSequenceNumber,
		SourceRegion:            source.Region,
		TargetRegion:            h.settings.TargetRegion,
		Epoch:                   cfg.At(r.arrival).Epoch,
		UpdatedAt:               now,
		WrittenBeyond:           writtenBeyond(records, ack, inTarget, r.shardID),
	}
}

// saveCheckpoint saves cp within the call margin and logs a failure, which
// leaves the checkpoint behind: a later save moves it on.
func (h *Handler) saveCheckpoint(ctx context.Context, cp checkpoint.Checkpoint) (bool, error) {
	callCtx, cancel := h.callContext(ctx)
	defer cancel()
	advanced, err := h.checkpoints.Save(callCtx, cp)
	if err != nil {
		h.log.ErrorContext(ctx, "save checkpoint: it stays behind until a later batch saves one",
			"stream", cp.StreamName, "shardId", cp.ShardID, "sequenceNumber", cp.LastSequenceNumber, "error", err)
	}
	return advanced, err
}

// coveredByCheckpoint reads the checkpoint of each shard of the batch that
// has records to replicate and returns which of them it already covers
// (coveredBy): a retry, or a redelivery after an invocation that died,
// leaves out what an earlier invocation wrote. Every such batch reads it,
// whichever instance wrote last: one that wrote without reading could write
// again some of the records a checkpoint names beyond its prefix, and a
// later reader would leave the others out behind the new copies. A
// checkpoint of another target Region covers nothing there.
func (h *Handler) coveredByCheckpoint(ctx context.Context, source streamarn.ARN, records []sourceRecord, decisions []activeregion.Decision) ([]bool, error) {
	covered := make([]bool, len(records))
	byShard := map[string][]int{}
	var shards []string
	replicates := map[string]bool{}
	for i, r := range records {
		if _, seen := byShard[r.shardID]; !seen {
			shards = append(shards, r.shardID)
		}
		byShard[r.shardID] = append(byShard[r.shardID], i)
		replicates[r.shardID] = replicates[r.shardID] || decisions[i] == activeregion.Replicate
	}
	for _, shard := range shards {
		if !replicates[shard] {
			continue
		}
		callCtx, cancel := h.callContext(ctx)
		cp, ok, err := h.checkpoints.Get(callCtx, source.Stream, source.Region, shard)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("read the checkpoint of stream %s shard %s: %w", source.Stream, shard, err)
		}
		if !ok || cp.TargetRegion != h.settings.TargetRegion {
			continue
		}
		// Every record of the shard, and of it alone: places count along
		// one shard, whatever was decided for each record.
		index := byShard[shard]
		subset := make([]sourceRecord, len(index))
		subDecisions := make([]activeregion.Decision, len(index))
		for j, i := range index {
			subset[j], subDecisions[j] = records[i], decisions[i]
		}
		for j, c := range coveredBy(subset, subDecisions, cp) {
			covered[index[j]] = c
		}
	}
	return covered, nil
}

// appendSyncPoint appends to the shard's trail, after the checkpoint save of
// records[last] advanced, the sync point syncPointDue gives, if any. The
// trail is an item of its own (checkpoint.Trail), so the checkpoint save of
// every invocation stays a write of the small checkpoint item; the trail
// write comes at most every checkpoint.SyncPointInterval per shard and
// instance, whether it succeeds or not (at most 12 a minute). A failed
// append is logged and fails nothing: the records are replicated and
// checkpointed, the trail only misses this point, and a later one comes.
func (h *Handler) appendSyncPoint(ctx context.Context, source streamarn.ARN, records []sourceRecord, outcome []*putrecords.Outcome, inTarget []bool, last int, now time.Time) {
	p := h.syncPointDue(source.Stream, records, outcome, inTarget, last, now)
	if p == nil {
		return
	}
	shard := records[last].shardID
	h.syncMu.Lock()
	h.syncPoints[shardKey{source.Stream, shard}] = now
	h.syncMu.Unlock()
	callCtx, cancel := h.callContext(ctx)
	err := h.trails.AppendSyncPoint(callCtx, source.Stream, source.Region, shard, *p)
	cancel()
	if err != nil {
		h.log.WarnContext(ctx, "append sync point: the shard's trail misses this one; a later one comes",
			"stream", source.Stream, "shardId", shard, "sequenceNumber", p.SequenceNumber, "error", err)
	}
}

// syncPointDue returns the sync point of records[last] (the last written
// record of its shard's acknowledged prefix, just checkpointed), or nil: at
// most one every checkpoint.SyncPointInterval per shard and instance
// (another instance may add one sooner; Thin keeps one per interval). A
// point is due only when no record of the shard after records[last] is in
// the target (inTarget: written by this invocation, or by an earlier one
// as the checkpoint said): then every later record of the shard is written
// by a later invocation,
// after every write named here returned, so it lands after the point's
// target sequence numbers (the highest this invocation wrote per target
// shard; the store carries the earlier ones forward).
func (h *Handler) syncPointDue(stream string, records []sourceRecord, outcome []*putrecords.Outcome, inTarget []bool, last int, now time.Time) *checkpoint.SyncPoint {
	shard := records[last].shardID
	h.syncMu.Lock()
	prev, ok := h.syncPoints[shardKey{stream, shard}]
	h.syncMu.Unlock()
	if ok && now.Sub(prev) < checkpoint.SyncPointInterval {
		return nil
	}
	p := &checkpoint.SyncPoint{
		SequenceNumber: records[last].rec.Kinesis.SequenceNumber,
		Arrival:        records[last].arrival.UTC(),
		Targets:        map[string]string{},
	}
	for i, r := range records {
		if r.shardID == shard && i > last && inTarget[i] {
			// Written after the point's positions, or (covered) by an
			// earlier invocation, before them: either way not after them.
			return nil
		}
		o := outcome[i]
		if r.shardID != shard || o == nil || !o.Written || o.TargetShardID == "" || o.TargetSequenceNumber == "" {
			continue
		}
		checkpoint.RaiseTarget(p.Targets, o.TargetShardID, o.TargetSequenceNumber)
	}
	if p.Validate() != nil {
		// An emulator's or a future sequence number form the trail
		// cannot order: no point rather than a wrong one.
		return nil
	}
	return p
}

// markDrained records, once per shard and epoch, that a closed epoch of this
// Region is fully acknowledged on a shard: the prefix reached a record that
// arrived after it ended. The failover's status reports a drain-mode switch
// complete from these marks. A failed mark is logged; a later batch tries
// again.
func (h *Handler) markDrained(ctx context.Context, source streamarn.ARN, cfg activeregion.Config, records []sourceRecord, ack acknowledgment) {
	for _, i := range ack.lastDone {
		r := records[i]
		epoch, ok := cfg.DrainedThrough(source.Region, r.arrival)
		key := shardKey{source.Stream, r.shardID}
		h.drainedMu.Lock()
		known := h.drained[key]
		h.drainedMu.Unlock()
		if !ok || epoch <= known {
			continue
		}
		callCtx, cancel := h.callContext(ctx)
		_, err := h.checkpoints.MarkDrained(callCtx, source.Stream, source.Region, r.shardID, epoch, h.now())
		cancel()
		if err != nil {
			h.log.WarnContext(ctx, "mark the shard drained: a later batch tries again",
				"stream", source.Stream, "shardId", r.shardID, "epoch", epoch, "error", err)
			continue
		}
		h.drainedMu.Lock()
		h.drained[key] = max(h.drained[key], epoch)
		h.drainedMu.Unlock()
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

// maxRecordBytes is the target stream's record size limit for a batch whose
// largest record (partition key and data) has largest bytes, read at most
// once per recordLimitTTL per stream; while it cannot be read the Kinesis
// default applies (a larger record is then handed back for a retry, never
// dropped). A batch whose records all fit in minRecordLimit, as they fit in
// every stream, does not wait for the read: it is renewed in the background
// (prefetchRecordLimit), and the last known limit or the default serves.
func (h *Handler) maxRecordBytes(ctx context.Context, stream string, largest int) int {
	now := h.now()
	h.limitsMu.Lock()
	cached, ok := h.limits[stream]
	h.limitsMu.Unlock()
	if ok && now.Sub(cached.readAt) < recordLimitTTL {
		return cached.bytes
	}
	if largest <= minRecordLimit && h.async != nil {
		h.prefetchRecordLimit(stream)
		return cached.bytes
	}
	callCtx, cancel := h.callContext(ctx)
	defer cancel()
	return h.readRecordLimit(callCtx, stream, cached)
}

// readRecordLimit reads and caches the target stream's record size limit;
// cached is what to use if the read fails.
func (h *Handler) readRecordLimit(ctx context.Context, stream string, cached recordLimit) int {
	now := h.now()
	out, err := h.target.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
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

func count(ds []activeregion.Decision, d activeregion.Decision) int {
	n := 0
	for _, got := range ds {
		if got == d {
			n++
		}
	}
	return n
}

func seconds(d time.Duration) *float64 {
	s := max(d.Seconds(), 0)
	return &s
}
