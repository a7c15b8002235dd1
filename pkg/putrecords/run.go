package putrecords

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

var emptyData = []byte{}

type recordState uint8

const (
	statePending recordState = iota // to send (again)
	stateWritten
	statePermanent
)

// run is the state of one Write. Only the goroutine running Write touches
// it; request goroutines get their input and hand back the raw reply.
type run struct {
	w            *Writer
	b            Batch
	recordLimit  int
	requestLimit int

	outcomes    []Outcome
	state       []recordState
	everWritten []bool
	keyID       []int32  // partition key interned per batch, so rounds index slices instead of maps
	keys        []string // by key id

	// pace is the batch's pacing (nil: unpaced).
	pace *batchPace
	// needBackoff says the last round had a retryable failure that the
	// pacing does not account for (a request error, a 5xx entry, a throttle
	// on an unpaced shard): only those wait out the backoff.
	needBackoff bool

	// firstPermanent is the lowest index that failed permanently; records
	// after it are not sent (len(records) when none).
	firstPermanent int

	hasDeadline bool
	stopAt      time.Time
	stop        error // why Write stopped early; nil while it may go on

	stats Stats

	// Round buffers, sized once per Write and reused by every round.
	cands     []int
	sent      []int
	entries   []types.PutRecordsRequestEntry
	keyFailed []bool  // per key: a record of it failed this round
	lastChunk []int32 // per key: last chunk of this round carrying it, or -1
	chunks    []chunk
	deps      []int32
	depOf     []int32 // per chunk: marker that it is already a dependency of the chunk being planned
	keyTaken  []bool  // per key, strict ordering: its first unwritten record is chosen
	// perKeyCap bounds, with OrderingKey, the records of one key a round
	// sends (0: no bound); see carefulPerKey. keyCount counts them.
	perKeyCap int
	keyCount  []int32
	// settled counts the records written so far (see progressed).
	settled int
	replies chan reply
}

type chunk struct {
	lo, hi       int    // candidates cands[lo:hi]
	depLo, depHi int    // earlier chunks it waits for: deps[depLo:depHi]
	sentHi       int    // records actually sent: sent[lo:sentHi]
	cutSeq       uint64 // the pacer's cut count when the request was built
	started      bool
	done         bool
}

type reply struct {
	chunk int
	out   *kinesis.PutRecordsOutput
	err   error
}

func newRun(w *Writer, b Batch) *run {
	n := len(b.Records)
	recordLimit := b.MaxRecordBytes
	if recordLimit <= 0 {
		recordLimit = defaultRecordBytes
	}
	requestLimit := w.opts.MaxRequestBytes
	if recordLimit > requestLimit {
		requestLimit = min(recordLimit, maxRequestBytes)
	}
	recordLimit = min(recordLimit, requestLimit)

	r := &run{
		w:              w,
		b:              b,
		recordLimit:    recordLimit,
		requestLimit:   requestLimit,
		outcomes:       make([]Outcome, n),
		state:          make([]recordState, n),
		everWritten:    make([]bool, n),
		keyID:          make([]int32, n),
		firstPermanent: n,
		cands:          make([]int, 0, n),
		sent:           make([]int, n),
		entries:        make([]types.PutRecordsRequestEntry, n),
		depOf:          make([]int32, n),
	}
	ids := make(map[string]int32)
	for i := range b.Records {
		id, ok := ids[b.Records[i].PartitionKey]
		if !ok {
			id = int32(len(ids))
			ids[b.Records[i].PartitionKey] = id
			if w.pacer != nil {
				r.keys = append(r.keys, b.Records[i].PartitionKey)
			}
		}
		r.keyID[i] = id
	}
	r.keyFailed = make([]bool, len(ids))
	if w.opts.Ordering == OrderingStrict {
		r.keyTaken = make([]bool, len(ids))
	}
	r.lastChunk = make([]int32, len(ids))
	r.keyCount = make([]int32, len(ids))
	if w.opts.Ordering == OrderingKey && w.failedRecently(w.opts.Now()) {
		r.perKeyCap = carefulPerKey
	}
	r.replies = make(chan reply, w.opts.Concurrency)
	return r
}

// validate marks records the target would reject as Permanent before any is
// sent, so a bad record costs no request and cannot fail a whole chunk.
func (r *run) validate() {
	for i := range r.b.Records {
		rec := &r.b.Records[i]
		var err error
		switch n := utf8.RuneCountInString(rec.PartitionKey); {
		case !utf8.ValidString(rec.PartitionKey):
			err = fmt.Errorf("%w: record %s: partition key is not valid UTF-8", ErrInvalidRecord, rec.SequenceNumber)
		case n < 1 || n > maxPartitionKeyLength:
			err = fmt.Errorf("%w: record %s: partition key has %d characters, want 1 to %d", ErrInvalidRecord, rec.SequenceNumber, n, maxPartitionKeyLength)
		case len(rec.PartitionKey)+len(rec.Data) > r.recordLimit:
			err = fmt.Errorf("%w: record %s: partition key and data are %d bytes, over the target's limit of %d", ErrInvalidRecord, rec.SequenceNumber, len(rec.PartitionKey)+len(rec.Data), r.recordLimit)
		}
		if err != nil {
			r.markPermanent(i, err)
		}
	}
}

func (r *run) markPermanent(i int, err error) {
	r.state[i] = statePermanent
	r.outcomes[i].Permanent = true
	r.outcomes[i].Err = err
	r.firstPermanent = min(r.firstPermanent, i)
}

// candidates lists, in source order, the records the next round may send,
// and reports whether there are any.
func (r *run) candidates() bool {
	r.cands = r.cands[:0]
	if r.w.opts.Ordering == OrderingStrict {
		// Only the first unwritten record of each key; a key whose first
		// unwritten record failed permanently sends nothing more.
		clear(r.keyTaken)
		for i := 0; i < r.firstPermanent; i++ {
			if r.state[i] == stateWritten || r.keyTaken[r.keyID[i]] {
				continue
			}
			r.keyTaken[r.keyID[i]] = true
			if r.state[i] == statePending {
				r.cands = append(r.cands, i)
			}
		}
		return len(r.cands) > 0
	}
	clear(r.keyCount)
	for i := 0; i < r.firstPermanent; i++ {
		if r.state[i] != statePending {
			continue
		}
		if k := r.keyID[i]; r.perKeyCap > 0 {
			if r.keyCount[k] == int32(r.perKeyCap) {
				continue
			}
			r.keyCount[k]++
		}
		r.cands = append(r.cands, i)
	}
	return len(r.cands) > 0
}

// round sends the candidates once, in greedy chunks, concurrently where no
// key is shared, each request under requestCtx (which ends at the stop
// time), and reports whether any record failed retryably.
func (r *run) round(ctx, requestCtx context.Context) (retry bool) {
	r.plan()
	clear(r.keyFailed)
	r.needBackoff = false
	if r.pace != nil {
		clear(r.pace.deferred)
	}

	inFlight, next := 0, 0
	for {
		if r.stop == nil {
			for c := next; c < len(r.chunks) && inFlight < r.w.opts.Concurrency; c++ {
				ch := &r.chunks[c]
				if ch.started || !r.ready(ch) {
					continue
				}
				if err := r.mayStart(ctx); err != nil {
					r.stop = err
					break
				}
				ch.started = true
				if in := r.request(ch); in != nil {
					inFlight++
					r.stats.Requests++
					go func(c int) {
						out, err := r.w.client.PutRecords(requestCtx, in)
						r.replies <- reply{chunk: c, out: out, err: err}
					}(c)
				} else {
					ch.done = true
				}
			}
			for next < len(r.chunks) && r.chunks[next].started {
				next++
			}
		}
		if inFlight == 0 {
			// Either every chunk is done, or Write is stopping and the
			// unstarted chunks stay pending.
			return retry
		}
		rep := <-r.replies
		inFlight--
		r.chunks[rep.chunk].done = true
		if r.apply(&r.chunks[rep.chunk], rep.out, rep.err) {
			retry = true
		}
	}
}

// awaitBudget waits, when pacing, until some shard of the candidates has
// budget for its next few records (budgetQuantum of its rate), or stops the
// Write (r.stop) if that wait would end after the stop time or ctx ends.
// Waiting is neither an attempt nor a throttle; it is counted in
// Stats.BudgetWait.
func (r *run) awaitBudget(ctx context.Context) {
	if r.pace == nil {
		return
	}
	now := r.w.opts.Now()
	wait := r.pace.wait(now, r.cands, r.keyID, r.b.Records)
	if wait <= 0 {
		return
	}
	if r.hasDeadline && now.Add(wait).After(r.stopAt) {
		r.stop = ErrDeadline
		return
	}
	if err := r.w.opts.Sleep(ctx, wait); err != nil {
		r.stop = fmt.Errorf("wait for the target's write budget: %w", err)
		return
	}
	r.stats.BudgetWait += wait
	if !r.w.opts.Now().After(now) {
		// A clock that does not move (an injected one that Sleep does not
		// advance) never refills a budget: write the rest unpaced rather
		// than wait forever.
		r.pace = nil
	}
}

// plan cuts the candidates into chunks within the request limits and
// records, for each chunk, the earlier chunks that share a key with it.
func (r *run) plan() {
	r.chunks = r.chunks[:0]
	r.deps = r.deps[:0]
	for k := range r.lastChunk {
		r.lastChunk[k] = -1
	}
	clear(r.depOf)
	lo, bytes := 0, 0
	for j, i := range r.cands {
		size := len(r.b.Records[i].PartitionKey) + len(r.b.Records[i].Data)
		if j > lo && (j-lo == r.w.opts.MaxRequestRecords || bytes+size > r.requestLimit) {
			r.addChunk(lo, j)
			lo, bytes = j, 0
		}
		bytes += size
	}
	if len(r.cands) > lo {
		r.addChunk(lo, len(r.cands))
	}
}

func (r *run) addChunk(lo, hi int) {
	c := int32(len(r.chunks))
	depLo := len(r.deps)
	for _, i := range r.cands[lo:hi] {
		k := r.keyID[i]
		// depOf[prev] == c+1 means prev is already among c's dependencies.
		if prev := r.lastChunk[k]; prev >= 0 && prev != c && r.depOf[prev] != c+1 {
			r.depOf[prev] = c + 1
			r.deps = append(r.deps, prev)
		}
		r.lastChunk[k] = c
	}
	r.chunks = append(r.chunks, chunk{lo: lo, hi: hi, depLo: depLo, depHi: len(r.deps)})
}

func (r *run) ready(ch *chunk) bool {
	for _, d := range r.deps[ch.depLo:ch.depHi] {
		if !r.chunks[d].done {
			return false
		}
	}
	return true
}

// mayStart says why no request may start now, or nil.
func (r *run) mayStart(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put records to %s: %w", r.b.Stream, err)
	}
	if r.hasDeadline && !r.w.opts.Now().Before(r.stopAt) {
		return ErrDeadline
	}
	return nil
}

// request builds the chunk's PutRecords input from the records still worth
// sending, or returns nil when none is.
//
// With pacing, an entry goes only if its shard's budget holds it now; one
// that does not waits for a later round, and so does every later record of
// its key (they share its shard), so per-key order holds without a failure
// and nothing is written out of order for lack of budget.
func (r *run) request(ch *chunk) *kinesis.PutRecordsInput {
	if r.pace != nil {
		ch.cutSeq = r.pace.beginTake(r.w.opts.Now())
	}
	m := ch.lo
	for _, i := range r.cands[ch.lo:ch.hi] {
		if i > r.firstPermanent || r.state[i] != statePending {
			continue
		}
		if r.keyFailed[r.keyID[i]] {
			r.outcomes[i].Err = errHeldBack
			continue
		}
		rec := &r.b.Records[i]
		if r.pace != nil && !r.pace.take(r.keyID[i], len(rec.PartitionKey)+len(rec.Data)) {
			continue
		}
		data := rec.Data
		if data == nil {
			// The SDK rejects a nil Data for the whole request; the
			// service accepts an empty record.
			data = emptyData
		}
		// Pointers into the caller's batch: no per-record allocation.
		r.entries[m] = types.PutRecordsRequestEntry{PartitionKey: &rec.PartitionKey, Data: data}
		r.sent[m] = i
		m++
	}
	ch.sentHi = m
	if r.pace != nil {
		r.pace.endTake()
	}
	if m == ch.lo {
		return nil
	}
	return &kinesis.PutRecordsInput{StreamName: &r.b.Stream, Records: r.entries[ch.lo:m:m]}
}

// apply records a reply and reports whether any record failed retryably.
func (r *run) apply(ch *chunk, out *kinesis.PutRecordsOutput, err error) (retry bool) {
	sent := r.sent[ch.lo:ch.sentHi]
	if err == nil && out == nil {
		err = errors.New("no response")
	}
	if err == nil && len(out.Records) != len(sent) {
		err = fmt.Errorf("response has %d entries for %d records", len(out.Records), len(sent))
	}
	if err != nil {
		err = fmt.Errorf("put records to %s: %w", r.b.Stream, err)
		permanent := permanentRequestError(err)
		if !permanent {
			r.failed()
		}
		for _, i := range sent {
			r.keyFailed[r.keyID[i]] = true
			if permanent {
				r.markPermanent(i, err)
			} else {
				r.outcomes[i].Err = err
			}
		}
		r.needBackoff = r.needBackoff || !permanent
		return !permanent
	}
	if r.pace != nil {
		// The estimate learns from the reply whatever becomes of the
		// records below.
		defer r.pace.settle(ch.cutSeq, r.w.opts.Now())
	}

	for k := range out.Records {
		e := &out.Records[k]
		i := sent[k]
		key := r.keyID[i]
		o := &r.outcomes[i]
		if e.ErrorCode == nil && e.SequenceNumber == nil {
			// A success without a sequence number proves no write: retry it
			// as the service's own transient failure.
			e = &types.PutRecordsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("success entry without a sequence number")}
		}
		var class errorClass
		if e.ErrorCode != nil {
			class = classify(*e.ErrorCode, codePermanent)
		}
		pacedThrottle := r.pace != nil && r.pace.observe(key, e, class == codeThrottled)
		if e.ErrorCode == nil {
			if r.everWritten[i] {
				r.stats.Resent++
			}
			r.everWritten[i] = true
			o.TargetShardID = aws.ToString(e.ShardId)
			o.TargetSequenceNumber = aws.ToString(e.SequenceNumber)
			if r.keyFailed[key] {
				// An earlier record of this key failed in this round:
				// this copy sits before that record's eventual copy.
				o.Err = errOutOfOrder
				continue
			}
			r.state[i] = stateWritten
			r.settled++
			o.Written, o.Err = true, nil
			continue
		}
		r.keyFailed[key] = true
		code := *e.ErrorCode
		entryErr := fmt.Errorf("put record %s to %s: %s: %s", r.b.Records[i].SequenceNumber, r.b.Stream, code, aws.ToString(e.ErrorMessage))
		switch class {
		case codeThrottled, codeRetryable:
			o.Err = entryErr
			retry = true
			r.needBackoff = r.needBackoff || !pacedThrottle
			if class == codeThrottled {
				r.stats.Throttled++
			} else {
				r.failed()
			}
		default:
			r.markPermanent(i, entryErr)
		}
	}
	return retry
}

// permanentRequestError tells errors the target will repeat for these
// records (errorCodes) from those worth retrying: throttling, 5xx,
// timeouts, connection errors and anything unrecognised.
func permanentRequestError(err error) bool {
	// The SDK's client-side validation returns this by value.
	var invalidParams smithy.InvalidParamsError
	if errors.As(err, &invalidParams) {
		return true
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return classify(apiErr.ErrorCode(), codeRetryable) == codePermanent
}

// result fills in why each unwritten record is not written and counts.
func (r *run) result() Result {
	res := Result{Outcomes: r.outcomes, Stats: r.stats}
	for i := range r.outcomes {
		o := &r.outcomes[i]
		if r.state[i] == stateWritten {
			res.Stats.Written++
			res.Stats.WrittenBytes += len(r.b.Records[i].Data)
			continue
		}
		res.Stats.Failed++
		switch {
		case r.state[i] == statePermanent:
			res.Stats.Rejected++
		case i > r.firstPermanent:
			o.Err = fmt.Errorf("%w: record %s", ErrNotSent, r.b.Records[r.firstPermanent].SequenceNumber)
		case r.stop != nil && o.Err != nil:
			o.Err = fmt.Errorf("%w; last attempt: %w", r.stop, o.Err)
		case r.stop != nil:
			o.Err = r.stop
		}
	}
	return res
}

// carefulPerKey is how many records of one key a round sends while the
// target fails entries for other reasons than throttling (an internal
// failure, a request error). A failed record's later records of its key
// that were written in the same request must be written again after it
// (per-key order of the last copies), so the fewer records of a key one
// request carries, the fewer duplicates a failure makes: with two, at most
// one. Unbounded otherwise, where a failure is rare and batching is worth
// more; throttling does not count, since a throttled shard refuses the
// key's later entries too, and the pacer keeps it rare.
const carefulPerKey = 2

// carefulFor is how long after a failure the writer stays careful, across
// Writes: failures come in spells.
const carefulFor = time.Minute

// failed notes a non-throttle failure: this run and the writer's next
// Writes for carefulFor send at most carefulPerKey records of a key per
// round.
func (r *run) failed() {
	if r.w.opts.Ordering != OrderingKey {
		return
	}
	r.perKeyCap = carefulPerKey
	r.w.noteFailure(r.w.opts.Now())
}

// progressed says whether records were written since settled was before.
func (r *run) progressed(before int) bool { return r.settled > before }
