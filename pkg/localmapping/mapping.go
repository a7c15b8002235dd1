// Package localmapping is a local stand-in for Lambda's Kinesis event source
// mapping: one poller per shard reads with GetShardIterator/GetRecords and
// calls a handler with events shaped, byte for byte, like the ones Lambda
// sends. It keeps the promises the replicator relies on: records in order per
// shard, batchItemFailures honoured by retrying from the lowest sequence
// number reported, a handler error retried (the whole batch) with backoff.
//
// Kept out on purpose: parent-before-child shard ordering after a reshard
// (local streams are never resharded), bisect-on-error, maximum record age
// and retry attempts (a local run retries until stopped), on-failure
// destinations and enhanced fan-out.
package localmapping

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// HandlerFunc is the signature of a Kinesis Lambda handler that reports
// batch item failures.
type HandlerFunc func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error)

// KinesisReadAPI is what a mapping needs from a Kinesis client.
type KinesisReadAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

var _ KinesisReadAPI = (*kinesis.Client)(nil)

// Options tune a mapping. The zero value is usable: each zero field takes
// the default named on it.
type Options struct {
	// BatchSize is the most records per invocation. Default 100 (Lambda's),
	// at most 10000 (GetRecords' limit).
	BatchSize int
	// BatchingWindow is how long to keep gathering records, counted from the
	// first record read, before invoking with a batch smaller than
	// BatchSize. Zero invokes as soon as any record is read.
	BatchingWindow time.Duration
	// StartingPosition is TRIM_HORIZON (default) or LATEST.
	StartingPosition types.ShardIteratorType
	// PollInterval is the pause after a GetRecords that returned nothing.
	// Default 250ms.
	PollInterval time.Duration
	// RetryBaseDelay and RetryMaxDelay bound the exponential backoff after a
	// failed invocation or read: base·2^(n-1) for the n-th consecutive
	// failure, capped at max. Defaults 100ms and 5s.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// InvocationTimeout is the deadline each invocation's context carries,
	// as Lambda's function timeout does. Default 1 minute.
	InvocationTimeout time.Duration
	// FunctionName names the function in invokedFunctionArn. Default
	// "replicator".
	FunctionName string
	// Logger receives retries and failures. Default slog.Default().
	Logger *slog.Logger
	// RetryWait replaces the wait between retries. Tests use it to see the
	// backoff delays without sleeping; nil waits on a timer, honouring ctx.
	RetryWait func(ctx context.Context, d time.Duration) error
}

// Stats counts what a mapping did so far.
type Stats struct {
	// Batches is the number of invocations whose batch was fully processed.
	Batches int64
	// Records is the number of records acknowledged by the handler.
	Records int64
	// PartialFailures is the number of invocations that reported
	// batchItemFailures.
	PartialFailures int64
	// HandlerErrors is the number of invocations that returned an error.
	HandlerErrors int64
	// ReadErrors is the number of failed ListShards, GetShardIterator and
	// GetRecords calls (each retried).
	ReadErrors int64
}

// Retries is the number of batches delivered again.
func (s Stats) Retries() int64 { return s.PartialFailures + s.HandlerErrors }

// Mapping polls one stream and invokes a handler, like an event source
// mapping of one function.
type Mapping struct {
	client    KinesisReadAPI
	stream    string
	region    string
	streamARN string
	handler   HandlerFunc
	opts      Options
	log       *slog.Logger

	invocations     atomic.Int64
	batches         atomic.Int64
	records         atomic.Int64
	partialFailures atomic.Int64
	handlerErrors   atomic.Int64
	readErrors      atomic.Int64
}

// New returns a mapping of streamName in region to h. Nothing runs until Run.
func New(client KinesisReadAPI, streamName, region string, h HandlerFunc, opts Options) *Mapping {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	opts.BatchSize = min(opts.BatchSize, 10000)
	if opts.StartingPosition == "" {
		opts.StartingPosition = types.ShardIteratorTypeTrimHorizon
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.RetryBaseDelay <= 0 {
		opts.RetryBaseDelay = 100 * time.Millisecond
	}
	if opts.RetryMaxDelay <= 0 {
		opts.RetryMaxDelay = 5 * time.Second
	}
	if opts.InvocationTimeout <= 0 {
		opts.InvocationTimeout = time.Minute
	}
	if opts.FunctionName == "" {
		opts.FunctionName = "replicator"
	}
	if opts.RetryWait == nil {
		opts.RetryWait = pause.For
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Mapping{
		client:    client,
		stream:    streamName,
		region:    region,
		streamARN: StreamARN(region, streamName),
		handler:   h,
		opts:      opts,
		log:       logger.With("stream", streamName, "region", region),
	}
}

// StreamARN is the ARN Lambda puts in eventSourceARN for a stream.
func StreamARN(region, streamName string) string {
	return "arn:aws:kinesis:" + region + ":" + localaws.AccountID + ":stream/" + streamName
}

// Stats returns the counters so far; safe to call while Run runs.
func (m *Mapping) Stats() Stats {
	return Stats{
		Batches:         m.batches.Load(),
		Records:         m.records.Load(),
		PartialFailures: m.partialFailures.Load(),
		HandlerErrors:   m.handlerErrors.Load(),
		ReadErrors:      m.readErrors.Load(),
	}
}

// Run lists the stream's shards and polls each in its own goroutine until
// ctx is cancelled or every shard is closed and drained. It returns after
// all pollers have exited: nil on cancellation, an error only if the shards
// could not be listed.
func (m *Mapping) Run(ctx context.Context) error {
	shards, err := m.listShards(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var wg sync.WaitGroup
	for _, shard := range shards {
		wg.Go(func() { m.poll(ctx, shard) })
	}
	wg.Wait()
	return nil
}

func (m *Mapping) listShards(ctx context.Context) ([]string, error) {
	shards, err := streamread.Shards(ctx, m.client, m.stream)
	if err != nil {
		m.readErrors.Add(1)
		return nil, fmt.Errorf("in %s: %w", m.region, err)
	}
	ids := make([]string, len(shards))
	for i, s := range shards {
		ids[i] = aws.ToString(s.ShardId)
	}
	return ids, nil
}

// position is where a shard's next read starts.
type position struct {
	kind     types.ShardIteratorType
	sequence string
}

// poll delivers one shard's records in order until ctx is done or the
// shard is closed and drained.
func (m *Mapping) poll(ctx context.Context, shard string) {
	log := m.log.With("shard", shard)
	from := position{kind: m.opts.StartingPosition}
	failures := 0
	backoff := func(what string, err error) bool {
		failures++
		d := pause.Backoff(failures, m.opts.RetryBaseDelay, m.opts.RetryMaxDelay)
		log.Warn("retrying", "after", what, "attempt", failures, "delay", d, "err", err)
		return m.opts.RetryWait(ctx, d) == nil
	}

	// iterator is nil whenever the next read must start afresh at from.
	var iterator *string
	for ctx.Err() == nil {
		if iterator == nil {
			var err error
			if iterator, err = m.iterator(ctx, shard, from); err != nil {
				if ctx.Err() != nil {
					return
				}
				m.readErrors.Add(1)
				if !backoff("get shard iterator", err) {
					return
				}
				continue
			}
		}
		batch, next, err := m.gather(ctx, iterator)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.readErrors.Add(1)
			// The iterator may have expired; start again where we were.
			iterator = nil
			if !backoff("get records", err) {
				return
			}
			continue
		}
		if len(batch) == 0 {
			return // closed shard, fully drained
		}
		retryFrom, err := m.invoke(ctx, shard, batch)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			m.handlerErrors.Add(1)
			from = position{kind: types.ShardIteratorTypeAtSequenceNumber, sequence: aws.ToString(batch[0].SequenceNumber)}
			iterator = nil
			if !backoff("handler error", err) {
				return
			}
			continue
		case retryFrom >= 0:
			m.partialFailures.Add(1)
			m.records.Add(int64(retryFrom))
			from = position{kind: types.ShardIteratorTypeAtSequenceNumber, sequence: aws.ToString(batch[retryFrom].SequenceNumber)}
			iterator = nil
			if !backoff("batch item failure", fmt.Errorf("retry from record %d of %d", retryFrom, len(batch))) {
				return
			}
			continue
		}
		failures = 0
		m.batches.Add(1)
		m.records.Add(int64(len(batch)))
		from = position{kind: types.ShardIteratorTypeAfterSequenceNumber, sequence: aws.ToString(batch[len(batch)-1].SequenceNumber)}
		if next == nil {
			return // closed shard, fully drained
		}
		iterator = next
	}
}

func (m *Mapping) iterator(ctx context.Context, shard string, from position) (*string, error) {
	in := &kinesis.GetShardIteratorInput{
		StreamName:        aws.String(m.stream),
		ShardId:           aws.String(shard),
		ShardIteratorType: from.kind,
	}
	if from.sequence != "" {
		in.StartingSequenceNumber = aws.String(from.sequence)
	}
	out, err := m.client.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get %s iterator %s of %s/%s: %w", from.kind, from.sequence, m.stream, shard, err)
	}
	return out.ShardIterator, nil
}

// gather reads from iterator until it has a batch to deliver: BatchSize
// records, or some records and the batching window has passed. It returns
// the batch and the iterator after it; an empty batch with a nil iterator
// means the shard is closed and drained. It returns an empty batch and no
// error when ctx is cancelled.
func (m *Mapping) gather(ctx context.Context, iterator *string) ([]types.Record, *string, error) {
	var batch []types.Record
	var windowEnds time.Time
	for iterator != nil {
		out, err := m.client.GetRecords(ctx, &kinesis.GetRecordsInput{
			ShardIterator: iterator,
			Limit:         aws.Int32(int32(m.opts.BatchSize - len(batch))),
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("get records of %s: %w", m.stream, err)
		}
		iterator = out.NextShardIterator
		if len(out.Records) > 0 && len(batch) == 0 {
			windowEnds = time.Now().Add(m.opts.BatchingWindow)
		}
		batch = append(batch, out.Records...)
		if len(batch) >= m.opts.BatchSize || (len(batch) > 0 && !time.Now().Before(windowEnds)) {
			return batch, iterator, nil
		}
		if len(out.Records) > 0 && aws.ToInt64(out.MillisBehindLatest) > 0 {
			continue // more is waiting: read on without pausing
		}
		idle := m.opts.PollInterval
		if len(batch) > 0 {
			idle = min(idle, time.Until(windowEnds))
		}
		if err := pause.For(ctx, idle); err != nil {
			return nil, nil, err
		}
	}
	return batch, nil, nil
}

// invoke sends batch to the handler as Lambda would, through JSON both
// ways, and returns the index of the record to retry from, or -1 when the
// whole batch is done.
func (m *Mapping) invoke(ctx context.Context, shard string, batch []types.Record) (int, error) {
	payload, err := m.event(shard, batch)
	if err != nil {
		return 0, err
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return 0, fmt.Errorf("decode event: %w", err)
	}

	n := m.invocations.Add(1)
	ictx, cancel := context.WithTimeout(ctx, m.opts.InvocationTimeout)
	defer cancel()
	ictx = lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{
		AwsRequestID:       fmt.Sprintf("local-%s-%s-%08d", m.region, shard, n),
		InvokedFunctionArn: "arn:aws:lambda:" + m.region + ":" + localaws.AccountID + ":function:" + m.opts.FunctionName,
	})
	resp, err := m.handler(ictx, ev)
	if err != nil {
		return 0, fmt.Errorf("invoke handler: %w", err)
	}
	raw, err := json.Marshal(resp)
	if err != nil {
		return 0, fmt.Errorf("encode handler response: %w", err)
	}
	return RetryIndex(batch, raw)
}

// RetryIndex reads a handler's JSON response for batch and returns the
// index of the record Lambda would retry from: the one with the lowest
// reported sequence number, or -1 when nothing was reported. Like Lambda, it
// treats an empty or unknown itemIdentifier as a failure of the whole batch
// (index 0).
func RetryIndex(batch []types.Record, response []byte) (int, error) {
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if len(response) > 0 && string(response) != "null" {
		if err := json.Unmarshal(response, &resp); err != nil {
			return 0, fmt.Errorf("decode handler response %q: %w", response, err)
		}
	}
	if len(resp.BatchItemFailures) == 0 {
		return -1, nil
	}
	index := make(map[string]int, len(batch))
	for i, r := range batch {
		index[aws.ToString(r.SequenceNumber)] = i
	}
	lowest := len(batch)
	for _, f := range resp.BatchItemFailures {
		i, ok := index[aws.ToString(f.ItemIdentifier)]
		if !ok {
			return 0, nil
		}
		lowest = min(lowest, i)
	}
	return lowest, nil
}

// wireRecord is a record as Lambda serialises it; Data becomes base64 and
// the arrival time seconds with millisecond precision.
type wireRecord struct {
	Kinesis struct {
		KinesisSchemaVersion        string      `json:"kinesisSchemaVersion"`
		PartitionKey                string      `json:"partitionKey"`
		SequenceNumber              string      `json:"sequenceNumber"`
		Data                        []byte      `json:"data"`
		ApproximateArrivalTimestamp json.Number `json:"approximateArrivalTimestamp"`
		EncryptionType              string      `json:"encryptionType,omitempty"`
	} `json:"kinesis"`
	EventSource       string `json:"eventSource"`
	EventVersion      string `json:"eventVersion"`
	EventID           string `json:"eventID"`
	EventName         string `json:"eventName"`
	InvokeIdentityArn string `json:"invokeIdentityArn"`
	AwsRegion         string `json:"awsRegion"`
	EventSourceARN    string `json:"eventSourceARN"`
}

// event is the JSON invocation payload Lambda would send for batch.
func (m *Mapping) event(shard string, batch []types.Record) ([]byte, error) {
	records := make([]wireRecord, len(batch))
	for i, r := range batch {
		w := &records[i]
		seq := aws.ToString(r.SequenceNumber)
		w.Kinesis.KinesisSchemaVersion = "1.0"
		w.Kinesis.PartitionKey = aws.ToString(r.PartitionKey)
		w.Kinesis.SequenceNumber = seq
		w.Kinesis.Data = r.Data
		w.Kinesis.ApproximateArrivalTimestamp = arrivalSeconds(aws.ToTime(r.ApproximateArrivalTimestamp))
		if r.EncryptionType != "" && r.EncryptionType != types.EncryptionTypeNone {
			w.Kinesis.EncryptionType = string(r.EncryptionType)
		}
		w.EventSource = "aws:kinesis"
		w.EventVersion = "1.0"
		w.EventID = shard + ":" + seq
		w.EventName = "aws:kinesis:record"
		w.InvokeIdentityArn = "arn:aws:iam::" + localaws.AccountID + ":role/" + m.opts.FunctionName
		w.AwsRegion = m.region
		w.EventSourceARN = m.streamARN
	}
	payload, err := json.Marshal(map[string][]wireRecord{"Records": records})
	if err != nil {
		return nil, fmt.Errorf("encode event for %s: %w", shard, err)
	}
	return payload, nil
}

func arrivalSeconds(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
}
