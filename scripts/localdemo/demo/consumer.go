package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/operator"
	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
	"github.com/kinesis-crr/kinesis-crr/pkg/translate"
)

// ConsumerLag is how long after its arrival the demo's consumer processes a
// record, at most a quarter of a phase: far enough behind the tip that,
// when it stops at the failover, the stream holds records it has not
// processed yet and the translation has work.
const ConsumerLag = 2 * time.Second

// consumerPoll is how long a reader that reached its shard's tip waits
// before reading again, as KCL's idle time between reads.
const consumerPoll = 200 * time.Millisecond

// consumer is the demo's consumer application of the stream. Per shard it
// reads in order from where it starts, processes each record lag after its
// arrival, and keeps, as a KCL application keeps its checkpoint, the last
// sequence number it processed. It reads in one Region at a time; what it
// processed is remembered by record (id and generation) for the judge.
type consumer struct {
	stream string
	lag    time.Duration
	// wg holds the readers and the move.
	wg sync.WaitGroup

	mu          sync.Mutex
	shards      []string
	positions   map[string]string             // shard → last processed sequence number, in region
	processed   map[string]map[copyKey]string // Region → record → the shard it was processed on
	reached     map[string]time.Time          // shard → when the latest read that reached the tip began
	readErrors  int
	lastErr     error
	stopReading context.CancelFunc
	stopMove    context.CancelFunc
	// kept are the positions the move started from.
	kept map[string]string
	// moved is closed once the move has started the readers in the new
	// Region, or failed (moveErr).
	moved       chan struct{}
	moveErr     error
	translation translate.Result
}

func newConsumer(stream string, lag time.Duration) *consumer {
	return &consumer{stream: stream, lag: lag, processed: map[string]map[copyKey]string{}}
}

// start reads every shard of from in region from its window, until stop.
func (c *consumer) start(ctx context.Context, region string, client streamread.API, from map[string]streamread.Window) {
	ctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.stopReading = cancel
	c.shards = slices.Sorted(maps.Keys(from))
	c.positions, c.reached = map[string]string{}, map[string]time.Time{}
	if c.processed[region] == nil {
		c.processed[region] = map[copyKey]string{}
	}
	c.mu.Unlock()
	for shard, w := range from {
		c.wg.Go(func() { c.read(ctx, client, region, shard, w) })
	}
}

// read is one shard's reader: from w to the tip, again and again, each
// read starting just after the last record processed. A failed read is
// counted and made again, as a consumer does.
func (c *consumer) read(ctx context.Context, client streamread.API, region, shard string, w streamread.Window) {
	for {
		began := time.Now()
		_, err := streamread.Shard(ctx, client, c.stream, shard, w, func(r streamread.Record) error {
			if err := pause.For(ctx, time.Until(r.Arrival.Add(c.lag))); err != nil {
				return err
			}
			var p promisecheck.Payload
			if err := json.Unmarshal(r.Data, &p); err != nil {
				return fmt.Errorf("consumer: record %s of %s is not a change: %w", r.SequenceNumber, shard, err)
			}
			c.mu.Lock()
			c.processed[region][copyKey{p.ID, p.Gen}] = shard
			c.positions[shard] = r.SequenceNumber
			c.mu.Unlock()
			w = streamread.Window{After: r.SequenceNumber}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		if err != nil {
			c.readErrors++
			c.lastErr = err
		} else {
			c.reached[shard] = began
		}
		c.mu.Unlock()
		if pause.For(ctx, consumerPoll) != nil {
			return
		}
	}
}

// stop stops the readers and returns the positions they kept, per shard:
// a sequence number, or TRIM_HORIZON for a shard where nothing was
// processed (a KCL lease's checkpoint before its first record).
func (c *consumer) stop() map[string]string {
	c.mu.Lock()
	cancel := c.stopReading
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := map[string]string{}
	for _, shard := range c.shards {
		kept[shard] = translate.SentinelTrimHorizon
		if seq, ok := c.positions[shard]; ok {
			kept[shard] = seq
		}
	}
	return kept
}

// translateFunc translates positions kept in one Region into starts in
// the other.
type translateFunc func(ctx context.Context, positions map[string]string) (translate.Result, error)

// moveTo translates the positions kept (after stop) and starts reading in
// region from the translated starts, in the background: the story goes
// on meanwhile, as the producers do not wait for the consumers. finish
// waits for it.
func (c *consumer) moveTo(ctx context.Context, out io.Writer, region string, client streamread.API, kept map[string]string, tr translateFunc) {
	ctx, cancel := context.WithCancel(ctx)
	moved := make(chan struct{})
	c.mu.Lock()
	c.moved, c.stopMove, c.kept = moved, cancel, kept
	c.mu.Unlock()
	c.wg.Go(func() {
		defer close(moved)
		began := time.Now()
		res, err := tr(ctx, kept)
		if err == nil {
			var from map[string]streamread.Window
			if from, err = windows(res.Positions); err == nil {
				c.start(ctx, region, client, from)
				fmt.Fprintf(out, "Consumer started in %s from the translated starts (translate took %v): %s\n",
					region, time.Since(began).Round(time.Millisecond), startsLine(res.Positions))
			}
		}
		c.mu.Lock()
		c.translation, c.moveErr = res, err
		c.mu.Unlock()
	})
}

// windows are the readers' starts for a translation's positions.
func windows(starts []translate.Start) (map[string]streamread.Window, error) {
	out := map[string]streamread.Window{}
	for _, st := range starts {
		switch st.StartingPosition {
		case translate.AfterSequenceNumber:
			out[st.TargetShardID] = streamread.Window{After: st.SequenceNumber}
		case translate.AtTimestamp:
			out[st.TargetShardID] = streamread.Window{From: st.Timestamp}
		case translate.TrimHorizon:
			out[st.TargetShardID] = streamread.Window{}
		default:
			return nil, fmt.Errorf("consumer: shard %s: starting position %q is not one translate gives", st.TargetShardID, st.StartingPosition)
		}
	}
	return out, nil
}

// finish waits for the move (a translation waits for nothing but a Region
// that hangs, which heals), then, within timeout, until every reader has
// reached its shard's tip on a read that began after since (when the stream
// held all it will hold), and stops the readers.
func (c *consumer) finish(ctx context.Context, since time.Time, timeout time.Duration) error {
	c.mu.Lock()
	moved := c.moved
	c.mu.Unlock()
	if moved == nil {
		return errors.New("consumer: it never moved")
	}
	select {
	case <-moved:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	err := c.moveErr
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("consumer: move: %w", err)
	}
	if err := c.caughtUp(ctx, since, timeout); err != nil {
		return err
	}
	c.stop()
	return nil
}

// caughtUp waits until every reader has reached its shard's tip on a read
// that began after since, within timeout.
func (c *consumer) caughtUp(ctx context.Context, since time.Time, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		behind := slices.DeleteFunc(slices.Clone(c.shards), func(shard string) bool { return !c.reached[shard].Before(since) })
		readErrors, lastErr := c.readErrors, c.lastErr
		c.mu.Unlock()
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consumer: shards %s did not reach their tip within %v (%d read errors, the last: %v)", strings.Join(behind, ", "), timeout, readErrors, lastErr)
		}
		if err := pause.For(ctx, consumerPoll); err != nil {
			return err
		}
	}
}

// close stops whatever still runs, a move under way too, when the story
// ends early.
func (c *consumer) close() {
	c.mu.Lock()
	cancel := c.stopMove
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.stop()
}

// kdscrrTranslate translates positions with `kdscrr translate --positions`
// (pkg/operator, in this process) against the local deployment's
// endpoints, as an operator does: the checkpoints and sync points of from
// come from its replica of the table, or from to's when from does not
// answer, and the re-reads are counted in from's stream when it answers.
func kdscrrTranslate(e endpoints.File, stream, from, to string) translateFunc {
	return func(ctx context.Context, positions map[string]string) (translate.Result, error) {
		list := make([]string, 0, len(positions))
		for _, shard := range slices.Sorted(maps.Keys(positions)) {
			list = append(list, shard+"="+positions[shard])
		}
		var stdout, stderr bytes.Buffer
		status := operator.Main(ctx, []string{"translate", "--regions", from + "," + to, "--stream", stream,
			"--from", from, "--to", to, "--positions", strings.Join(list, ","), "--output", "json"}, operator.Env{
			Stdout: &stdout, Stderr: &stderr,
			Connect: func(endpoints.File, string) operator.Connector { return operator.Local{File: e} },
		})
		if status != operator.ExitOK {
			return translate.Result{}, fmt.Errorf("kdscrr translate: exit %d: %s", status, strings.TrimSpace(stderr.String()))
		}
		var res translate.Result
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			return translate.Result{}, fmt.Errorf("kdscrr translate: read its JSON: %w", err)
		}
		return res, nil
	}
}

// Consumer is what the demo's consumer application did: it read the stream
// in From until the failover, moved to To on the translated positions and
// read there to the end.
type Consumer struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Lag is how long after its arrival it processed each record.
	Lag time.Duration `json:"lag"`
	// Kept are its positions in From when it stopped, per shard (what
	// `kdscrr translate --positions` was given).
	Kept map[string]string `json:"kept"`
	// Starts and TranslateWarnings are the translation (kdscrr translate's
	// JSON): per shard of To, where it started and the most it re-reads.
	Starts            []translate.Start `json:"starts"`
	TranslateWarnings []string          `json:"translateWarnings"`
	// ProcessedFrom and ProcessedTo count the records it processed in
	// each Region, each record (id and generation) once.
	ProcessedFrom int `json:"processedFrom"`
	ProcessedTo   int `json:"processedTo"`
	// Missed are records To's stream holds that it processed in neither
	// Region. Must be 0.
	Missed        int      `json:"missed"`
	MissedRecords []string `json:"missedRecords"`
	// Reread counts the records it processed in both Regions; Promised
	// sums maxReread over the shards of To that have one, and OverBound
	// names the shards that re-read more than theirs (must be none).
	// Unbounded names the shards whose start has no bound (AT_TIMESTAMP,
	// TRIM_HORIZON, or a count the translation could not make).
	Reread    int      `json:"reread"`
	Promised  int64    `json:"promised"`
	OverBound []string `json:"overBound"`
	Unbounded []string `json:"unbounded"`
	// OnlyInFrom counts records it processed in From that To's stream does
	// not hold: processed after the replicator's checkpoint and superseded
	// at the switch (the CDC task resends them, as a new generation, which
	// it reads in To). Neither missed nor re-read.
	OnlyInFrom int `json:"onlyInFrom"`
	// ReadErrors counts the reads that failed and were made again.
	ReadErrors int `json:"readErrors"`
}

// OK reports a move that missed nothing and re-read no more than promised.
func (c Consumer) OK() bool { return c.Missed == 0 && len(c.OverBound) == 0 }

// judgeConsumer compares what the consumer processed in each Region with
// what to's stream holds at the end (every copy, in stream order per
// shard) and with the translation's starts.
func judgeConsumer(from, to string, processed map[string]map[copyKey]string, target []promisecheck.Copy, starts []translate.Start) Consumer {
	c := Consumer{From: from, To: to, Starts: starts, ProcessedFrom: len(processed[from]), ProcessedTo: len(processed[to]),
		MissedRecords: []string{}, OverBound: []string{}, Unbounded: []string{}}
	held := map[copyKey]bool{}
	for _, cp := range target {
		k := copyKey{cp.ID, cp.Gen}
		if held[k] {
			continue
		}
		held[k] = true
		_, inFrom := processed[from][k]
		_, inTo := processed[to][k]
		if !inFrom && !inTo {
			c.Missed++
			c.MissedRecords = append(c.MissedRecords, fmt.Sprintf("%s gen %d on %s", cp.ID, cp.Gen, cp.Shard))
		}
	}
	reread := map[string]int{}
	for k, shard := range processed[to] {
		if _, ok := processed[from][k]; ok {
			reread[shard]++
			c.Reread++
		}
	}
	for k := range processed[from] {
		if !held[k] {
			c.OnlyInFrom++
		}
	}
	for _, st := range starts {
		if st.MaxReread == nil {
			c.Unbounded = append(c.Unbounded, st.TargetShardID+" "+st.StartingPosition)
			continue
		}
		c.Promised += *st.MaxReread
		if n := reread[st.TargetShardID]; int64(n) > *st.MaxReread {
			c.OverBound = append(c.OverBound, fmt.Sprintf("%s re-read %d, promised at most %d", st.TargetShardID, n, *st.MaxReread))
		}
	}
	return c
}

// judge is judgeConsumer over what c processed and the translation it
// moved on.
func (c *consumer) judge(from, to string, target []promisecheck.Copy) Consumer {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := judgeConsumer(from, to, c.processed, target, c.translation.Positions)
	j.Lag, j.Kept, j.TranslateWarnings, j.ReadErrors = c.lag, c.kept, c.translation.Warnings, c.readErrors
	return j
}

// write prints the consumer's lines of the summary.
func (c Consumer) write(w io.Writer) {
	promised := fmt.Sprintf("promised at most %d", c.Promised)
	if n := len(c.Unbounded); n > 0 {
		promised = fmt.Sprintf("promised at most %d on %d of %d shards; no bound on %s", c.Promised, len(c.Starts)-n, len(c.Starts), strings.Join(c.Unbounded, ", "))
	}
	fmt.Fprintf(w, "Consumer: moved %s → %s at the failover, %d missed, %d re-read (%s)\n", c.From, c.To, c.Missed, c.Reread, promised)
	fmt.Fprintf(w, "  processed %d records in %s (each %v after its arrival), stopped with the producers; %d in %s from the translated starts to the end",
		c.ProcessedFrom, c.From, c.Lag.Round(time.Millisecond), c.ProcessedTo, c.To)
	if c.ReadErrors > 0 {
		fmt.Fprintf(w, "; %d reads failed and were made again", c.ReadErrors)
	}
	fmt.Fprintln(w)
	if c.OnlyInFrom > 0 {
		fmt.Fprintf(w, "  %d processed in %s are not in %s: after the replicator's checkpoint, superseded at the switch (resent as a new generation)\n", c.OnlyInFrom, c.From, c.To)
	}
	fmt.Fprintf(w, "  kept in %s: %s\n", c.From, positionsLine(c.Kept))
	fmt.Fprintf(w, "  kdscrr translate --positions, starts in %s: %s\n", c.To, startsLine(c.Starts))
	for _, warning := range c.TranslateWarnings {
		fmt.Fprintf(w, "  translate warning: %s\n", warning)
	}
}

// positionsLine shows positions per shard, sequence numbers by their tail.
func positionsLine(positions map[string]string) string {
	parts := make([]string, 0, len(positions))
	for _, shard := range slices.Sorted(maps.Keys(positions)) {
		parts = append(parts, shard+" "+tail(positions[shard]))
	}
	return strings.Join(parts, ", ")
}

// startsLine shows a translation's starts per shard.
func startsLine(starts []translate.Start) string {
	parts := make([]string, 0, len(starts))
	for _, st := range starts {
		s := st.TargetShardID + " " + st.StartingPosition
		switch st.StartingPosition {
		case translate.AfterSequenceNumber:
			s += " " + tail(st.SequenceNumber)
		case translate.AtTimestamp:
			s += " " + stamp(st.Timestamp)
		}
		if st.MaxReread != nil {
			s += fmt.Sprintf(" (maxReread %d)", *st.MaxReread)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// tail shortens a sequence number to its last digits, which tell the
// records of a shard apart; a sentinel is kept whole.
func tail(seq string) string {
	if len(seq) <= 8 || seq == translate.SentinelTrimHorizon {
		return seq
	}
	return "…" + seq[len(seq)-8:]
}
