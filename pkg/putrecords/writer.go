package putrecords

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
)

// PutRecordsAPI is the one Kinesis method the writer uses.
type PutRecordsAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

var _ PutRecordsAPI = (*kinesis.Client)(nil)

// Ordering is the per-key ordering promise a Writer keeps.
type Ordering int

const (
	// OrderingKey keeps the last copy of each record in source order: a
	// record of key K that failed holds back every later record of K, and
	// later records of K already written are written again after it.
	OrderingKey Ordering = iota
	// OrderingStrict never sends a record of key K while an earlier record of
	// K is unwritten: each request carries at most one record per key, so hot
	// keys pay one round trip per record, and nothing is ever resent.
	OrderingStrict
)

// String returns the ORDERING value that selects o.
func (o Ordering) String() string {
	switch o {
	case OrderingKey:
		return "key"
	case OrderingStrict:
		return "strict"
	default:
		return fmt.Sprintf("Ordering(%d)", int(o))
	}
}

// ParseOrdering reads the ORDERING setting: "key" or "strict".
func ParseOrdering(s string) (Ordering, error) {
	switch s {
	case "key":
		return OrderingKey, nil
	case "strict":
		return OrderingStrict, nil
	default:
		return 0, fmt.Errorf("parse ordering: got %q, want \"key\" or \"strict\"", s)
	}
}

// Record is one source record to replicate.
type Record struct {
	SequenceNumber string // source sequence number, for logs
	PartitionKey   string
	Data           []byte
}

// Batch is one shard's records bound for one target stream.
type Batch struct {
	Stream         string   // target stream name
	MaxRecordBytes int      // target's per-record limit (partition key + data); 0 = 1 MiB default
	Records        []Record // in source order (one shard's batch)
	// WriteWithin, when positive, is what is left of the write lease the
	// records were decided under, from the start of Write: no request
	// starts later and requests still in flight are cut then, so a
	// switchover bounds when the old Region's writes stop. A duration, not
	// a time, so the caller's clock and the writer's need not agree.
	WriteWithin time.Duration
	// Progress, when set, is called on Write's goroutine after every
	// round that wrote records, with the outcomes so far: a record whose
	// Written is true stays written, with that target position, whatever
	// comes after (a copy written out of order is not Written until its
	// rewrite). It lets the caller checkpoint a long Write's progress, so
	// that an invocation killed before Write returns leaves less to be
	// written again. The slice is the Writer's: read it during the call,
	// never keep it. Write waits for Progress to return.
	Progress func(outcomes []Outcome)
}

// API limits of PutRecords.
const (
	maxRequestRecords  = 500
	defaultRecordBytes = 1 << 20
	// The PutRecords API reference (aws-sdk-go-v2 service/kinesis
	// v1.56) gives 10 MiB for the entire request; it gave 5 MiB before
	// streams could hold records above 1 MiB.
	maxRequestBytes       = 10 << 20
	defaultRequestBytes   = maxRequestBytes
	maxPartitionKeyLength = 256
)

// Options tune a Writer. Zero values take the defaults.
type Options struct {
	Ordering          Ordering
	MaxRequestRecords int           // default and maximum 500
	MaxRequestBytes   int           // default and maximum 10 MiB, the API's request limit
	Concurrency       int           // max PutRecords in flight, default 4
	BaseBackoff       time.Duration // default 50ms
	MaxBackoff        time.Duration // default 2s (capped exponential, full jitter)
	DeadlineMargin    time.Duration // stop this long before ctx's deadline, default 2s
	// Sleep waits d or until ctx is done; default: timer + ctx. Tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a duration in [0, max]; default: uniform random. Tests inject it.
	Jitter func(max time.Duration) time.Duration
	// Now reads the clock the deadline is checked against; default
	// time.Now. Tests inject it with Sleep so backoffs advance it.
	Now func() time.Time

	// Shards, when set, paces writes to what each target shard admits: it
	// lists the target stream's open shards (cached a minute per stream)
	// so each record's shard is known from its partition key. Nil, or a
	// listing that fails, writes unpaced: the retry timer then sets the
	// pace, as it did before pacing existed. The target's Kinesis client
	// satisfies it.
	Shards ShardLister
	// ShardRecordsPerSecond and ShardBytesPerSecond are where each shard's
	// estimate starts and its ceiling; default the documented 1,000
	// records/s and 1 MiB/s (partition keys count).
	ShardRecordsPerSecond int
	ShardBytesPerSecond   int
}

// Writer replicates batches with PutRecords. One Writer is safe for
// concurrent use: all per-batch state lives in Write.
type Writer struct {
	client PutRecordsAPI
	opts   Options
	// pacer keeps the per-target-shard estimates across Writes (the life
	// of a Lambda instance); nil without Options.Shards.
	pacer *pacer

	failureMu   sync.Mutex
	lastFailure time.Time // the last non-throttle failure (see carefulPerKey)
}

func (w *Writer) noteFailure(now time.Time) {
	w.failureMu.Lock()
	defer w.failureMu.Unlock()
	w.lastFailure = now
}

func (w *Writer) failedRecently(now time.Time) bool {
	w.failureMu.Lock()
	defer w.failureMu.Unlock()
	return !w.lastFailure.IsZero() && now.Sub(w.lastFailure) < carefulFor
}

// NewWriter returns a Writer that sends through client.
func NewWriter(client PutRecordsAPI, opts Options) *Writer {
	if opts.MaxRequestRecords <= 0 || opts.MaxRequestRecords > maxRequestRecords {
		opts.MaxRequestRecords = maxRequestRecords
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = defaultRequestBytes
	}
	if opts.MaxRequestBytes > maxRequestBytes {
		opts.MaxRequestBytes = maxRequestBytes
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 2 * time.Second
	}
	if opts.MaxBackoff < opts.BaseBackoff {
		opts.MaxBackoff = opts.BaseBackoff
	}
	if opts.DeadlineMargin <= 0 {
		opts.DeadlineMargin = 2 * time.Second
	}
	if opts.Sleep == nil {
		opts.Sleep = pause.For
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Jitter == nil {
		opts.Jitter = fullJitter
	}
	if opts.ShardRecordsPerSecond <= 0 {
		opts.ShardRecordsPerSecond = shardRecordsPerSecond
	}
	if opts.ShardBytesPerSecond <= 0 {
		opts.ShardBytesPerSecond = shardBytesPerSecond
	}
	w := &Writer{client: client, opts: opts}
	if opts.Shards != nil {
		limit := budget{records: float64(opts.ShardRecordsPerSecond), bytes: float64(opts.ShardBytesPerSecond)}
		w.pacer = newPacer(opts.Shards, limit, opts.Now)
	}
	return w
}

// Outcome is what became of one record of a batch.
type Outcome struct {
	Written              bool
	TargetShardID        string
	TargetSequenceNumber string // of the LAST write of this record (records can be resent)
	Err                  error  // why not written (nil when written)
	Permanent            bool   // the target can never accept it as is (oversize, invalid key, non-retryable entry or request error)
}

// Stats count what one Write did; they feed the invocation's metrics.
type Stats struct {
	Requests     int // PutRecords calls made
	Written      int // records whose Outcome is Written (each counted once)
	WrittenBytes int // data bytes of those records
	Resent       int // writes of a record that had already been written (ResentRecords metric)
	Throttled    int // entries that came back ProvisionedThroughputExceededException (ThrottledRecords metric)
	Failed       int // records not written when Write returned (FailedRecords metric)
	// Rejected counts those of Failed the target can never accept as
	// they are (a permanent error: RejectedRecords): they need a person,
	// where the rest are written by a later invocation.
	Rejected int
	// BudgetWait is the time spent waiting for target shards' write budget
	// (pacing): neither an attempt nor a throttle.
	BudgetWait time.Duration
}

// Result is the outcome of one Write.
type Result struct {
	// Outcomes, one per record at the index of Batch.Records, say which
	// records are written. What may be acknowledged is the caller's rule
	// (pkg/replicator/ack.go): the batch it writes leaves out the records
	// it skips, so a prefix of this batch is not a prefix of its own.
	Outcomes []Outcome
	Stats    Stats
	// PacingErr says this Write's listing of the target's shards failed:
	// it paced on the last map it had, or went unpaced without one. Only
	// the Write that listed reports it; the next listing is a minute
	// later. Nil otherwise. The records' outcomes do not depend on it.
	PacingErr error
}

// Write sends the batch and returns one Outcome per record (same index),
// never an error: each record is either written, with where it landed, or
// not, with why. It retries until everything it may send is written, ctx is
// done, or ctx's deadline minus the margin would be crossed. With
// Options.Shards it sends to each target shard no faster than the shard's
// budget (see doc.go): records wait for budget instead of being refused.
func (w *Writer) Write(ctx context.Context, b Batch) Result {
	r := newRun(w, b)
	r.validate()
	if deadline, ok := ctx.Deadline(); ok {
		r.hasDeadline = true
		r.stopAt = deadline.Add(-w.opts.DeadlineMargin)
	}
	// Every request gets the stop time as its deadline so an in-flight
	// call is cut before the Lambda deadline or the lease's end, not by it.
	requestCtx, cancel := ctx, context.CancelFunc(func() {})
	switch leaseEnd := w.opts.Now().Add(b.WriteWithin); {
	case b.WriteWithin > 0 && (!r.hasDeadline || leaseEnd.Before(r.stopAt)):
		r.hasDeadline = true
		r.stopAt = leaseEnd
		requestCtx, cancel = context.WithTimeout(ctx, b.WriteWithin)
	case r.hasDeadline:
		requestCtx, cancel = context.WithDeadline(ctx, r.stopAt)
	}
	defer cancel()

	// Pacing needs the target's shards; a Write that could send nothing
	// (an invalid first record, no time left) does not list them.
	var pacingErr error
	if w.pacer != nil && r.firstPermanent > 0 && r.mayStart(ctx) == nil {
		r.pace, pacingErr = w.pacer.batch(requestCtx, b.Stream, r.keys)
	}

	attempt := 0
	// more says the next round has candidates; only a round changes them.
	more := r.candidates()
	for r.stop == nil && more {
		if r.awaitBudget(ctx); r.stop != nil {
			break
		}
		settled := r.settled
		retry := r.round(ctx, requestCtx)
		more = r.candidates()
		if r.progressed(settled) {
			// Some records went in: the backoff grows only over rounds
			// that wrote nothing, or careful rounds (a few records of
			// each key each) would wait longer and longer while every
			// one makes progress.
			attempt = 0
			if b.Progress != nil && more {
				// Only while records remain: the caller learns the
				// final outcomes from Write's result.
				b.Progress(r.outcomes)
			}
		}
		if !retry {
			attempt = 0
			continue
		}
		if r.stop != nil {
			break
		}
		if !r.needBackoff {
			// Every retry is of entries a paced shard refused: its cut
			// budget, not the retry timer, sets when they go again.
			continue
		}
		d := w.backoff(attempt)
		attempt++
		if r.hasDeadline && w.opts.Now().Add(d).After(r.stopAt) {
			r.stop = ErrDeadline
			break
		}
		if err := w.opts.Sleep(ctx, d); err != nil {
			r.stop = fmt.Errorf("back off before retrying: %w", err)
		}
	}
	res := r.result()
	res.PacingErr = pacingErr
	return res
}

// PrefetchShards lists the target stream's shards, which the writer paces
// by, when its map of them is missing or half a minute old (see
// Options.Shards), unless a listing is under way, and returns that listing's
// error; without Options.Shards it does nothing. Run beside other work ahead
// of a Write (the replicator runs it beside its fence read), it takes the
// listing off the Write's path: a Write with no map waits only for the rest
// of the listing under way, and one with a map uses it while it is renewed.
func (w *Writer) PrefetchShards(ctx context.Context, stream string) error {
	if w.pacer == nil {
		return nil
	}
	return w.pacer.prefetch(ctx, stream)
}

// ErrDeadline marks records left unwritten because another request,
// backoff or wait for a shard's budget would have ended after the
// invocation deadline minus the margin, or after the batch's write lease.
var ErrDeadline = errors.New("stopped before the invocation deadline or the end of the write lease")

// ErrNotSent marks records after a permanently failed record: the event
// source mapping retries the batch from that record, so sending them now
// would only make duplicates.
var ErrNotSent = errors.New("not sent after an earlier record failed permanently")

// ErrInvalidRecord marks records the target can never accept as they are.
var ErrInvalidRecord = errors.New("invalid record")

// errOutOfOrder marks a record written while an earlier record of its key
// failed: its copy is out of order and it must be written again.
var errOutOfOrder = errors.New("written before an earlier record of its key that failed; must be written again after it")

// errHeldBack marks a record not sent because an earlier record of its key
// failed in the same round.
var errHeldBack = errors.New("held back behind an earlier record of its key that failed")

func (w *Writer) backoff(attempt int) time.Duration {
	d := w.opts.BaseBackoff
	for range attempt {
		if d >= w.opts.MaxBackoff/2 {
			d = w.opts.MaxBackoff
			break
		}
		d *= 2
	}
	return w.opts.Jitter(min(d, w.opts.MaxBackoff))
}

func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}
