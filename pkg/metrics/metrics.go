// Package metrics publishes the per-invocation metrics of the replicator as
// CloudWatch Embedded Metric Format (EMF) lines on stdout, from which
// CloudWatch Logs extracts them in the function's own Region, and optionally
// mirrors them to another Region with PutMetricData so that alarms there see
// them too.
package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// DefaultNamespace is the namespace when METRICS_NAMESPACE is unset.
const DefaultNamespace = "KinesisReplication"

// StreamNameDimension is the dimension of every metric.
const StreamNameDimension = "StreamName"

// SourceRegionDimension names the Region of the replicator that measured a
// series. With WithSourceRegion, every EMF line carries the dimension sets
// [StreamName] and [StreamName, SourceRegion], and the mirror sends only the
// latter, so that the two Regions' series of one stream never merge
// (docs/reference.md, Metrics).
const SourceRegionDimension = "SourceRegion"

// Metric names (docs/reference.md, Metrics); alarms and dashboards refer to them.
const (
	ReplicatedRecords        = "ReplicatedRecords"
	ReplicatedBytes          = "ReplicatedBytes"
	ReplicationLagSeconds    = "ReplicationLagSeconds"
	MaxRecordAgeSeconds      = "MaxRecordAgeSeconds"
	SkippedRecords           = "SkippedRecords"
	SupersededRecords        = "SupersededRecords"
	FailedRecords            = "FailedRecords"
	RejectedRecords          = "RejectedRecords"
	ResentRecords            = "ResentRecords"
	ThrottledRecords         = "ThrottledRecords"
	RedeliveredRecords       = "RedeliveredRecords"
	CommitTimestampFallbacks = "CommitTimestampFallbacks"
	CheckpointAgeSeconds     = "CheckpointAgeSeconds"
)

// DefaultMirrorTimeout bounds one PutMetricData mirror send. The send runs
// detached from the invocation's context, so something else must end it.
const DefaultMirrorTimeout = 10 * time.Second

// DefaultMirrorInterval is how long the mirror gathers the values of
// invocations before one PutMetricData sends them all. Sending each
// invocation's values made every invocation wait a cross-Region round trip
// before the mapping's next poll (lag) and cost a request per invocation;
// gathered, one invocation in this interval sends. The values keep their
// own timestamps, so the other Region's one-minute alarms see the same
// series, up to this much later.
const DefaultMirrorInterval = 10 * time.Second

// maxMirrorData is the most metric data one PutMetricData takes.
const maxMirrorData = 1000

// Invocation is what one replicator invocation measured for one stream.
// Counts are always published, zero included: a zero is information. A nil
// gauge was not measured this time and is left out.
type Invocation struct {
	Stream string

	ReplicatedRecords int
	ReplicatedBytes   int
	SkippedRecords    int
	// SupersededRecords are this Region's records of an epoch closed in
	// rewind mode, never written because producers send them again.
	SupersededRecords int
	// FailedRecords were not written this time; the mapping hands them
	// back and a later invocation writes them, unless they are also
	// RejectedRecords: refused by the target for good (permanent error).
	FailedRecords    int
	RejectedRecords  int
	ResentRecords    int
	ThrottledRecords int
	// RedeliveredRecords came again after an invocation that wrote them
	// (a retry, a killed invocation) and were left out: the shard's
	// checkpoint already covered them.
	RedeliveredRecords       int
	CommitTimestampFallbacks int

	ReplicationLagSeconds *float64
	MaxRecordAgeSeconds   *float64
	CheckpointAgeSeconds  *float64
}

// Seconds returns a pointer to s, for the gauges of Invocation.
func Seconds(s float64) *float64 { return &s }

// PutMetricDataAPI is the part of the CloudWatch client the mirror uses.
type PutMetricDataAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

var _ PutMetricDataAPI = (*cloudwatch.Client)(nil)

// Option configures an Emitter.
type Option func(*Emitter)

// WithMirror also sends every invocation's metrics with PutMetricData through
// client, a CloudWatch client for region (region names the mirror in logs
// and errors).
func WithMirror(client PutMetricDataAPI, region string) Option {
	return func(e *Emitter) {
		e.mirror = client
		e.mirrorRegion = region
	}
}

// WithSourceRegion names the Region the replicator runs in (AWS_REGION): the
// value of the SourceRegion dimension. Without it, lines carry [StreamName]
// only and the mirror sends under StreamName alone, as before.
func WithSourceRegion(region string) Option {
	return func(e *Emitter) { e.sourceRegion = region }
}

// WithMirrorTimeout bounds each mirror send; the default is
// DefaultMirrorTimeout.
func WithMirrorTimeout(d time.Duration) Option {
	return func(e *Emitter) { e.mirrorTimeout = d }
}

// WithMirrorInterval sets how long the mirror gathers values before it
// sends them (DefaultMirrorInterval); 0 sends every invocation's at once.
func WithMirrorInterval(d time.Duration) Option {
	return func(e *Emitter) { e.mirrorInterval = d }
}

// WithClock sets the source of metric timestamps (tests).
func WithClock(now func() time.Time) Option {
	return func(e *Emitter) { e.now = now }
}

// WithLogger sets where mirror failures are logged; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(e *Emitter) { e.log = l }
}

// Emitter writes EMF lines and mirrors them. It is safe for concurrent use.
type Emitter struct {
	out           io.Writer
	namespace     string
	sourceRegion  string
	mirror        PutMetricDataAPI
	mirrorRegion  string
	mirrorTimeout time.Duration
	// mirrorInterval: see WithMirrorInterval.
	mirrorInterval time.Duration
	now            func() time.Time
	log            *slog.Logger

	// writeMu makes each line one Write even on writers that are not safe
	// for concurrent use.
	writeMu sync.Mutex

	// mu guards the mirror sends in flight: idle is closed when the last one
	// ends, and errs collects their failures until Flush hands them out.
	mu       sync.Mutex
	inFlight int
	idle     chan struct{}
	errs     []error
	// pending are the values gathered since the last send began (sent),
	// at most maxMirrorData.
	pending []types.MetricDatum
	sent    time.Time
}

// NewEmitter writes to out (os.Stdout in Lambda) under namespace, or
// DefaultNamespace if namespace is empty.
func NewEmitter(out io.Writer, namespace string, opts ...Option) *Emitter {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	e := &Emitter{
		out:            out,
		namespace:      namespace,
		mirrorTimeout:  DefaultMirrorTimeout,
		mirrorInterval: DefaultMirrorInterval,
		now:            time.Now,
		log:            slog.Default(),
	}
	for _, opt := range opts {
		opt(e)
	}
	return e
}

// datum is one metric value with its CloudWatch unit.
type datum struct {
	name  string
	unit  types.StandardUnit
	value float64
}

// data lists the metrics of inv in a fixed order, nil gauges left out. A
// gauge that is not finite cannot be written as JSON nor sent to CloudWatch:
// it is left out too and reported in the error, so the rest still goes.
func (inv Invocation) data() ([]datum, error) {
	d := []datum{
		{ReplicatedRecords, types.StandardUnitCount, float64(inv.ReplicatedRecords)},
		{ReplicatedBytes, types.StandardUnitBytes, float64(inv.ReplicatedBytes)},
	}
	var errs []error
	gauge := func(name string, v *float64) {
		switch {
		case v == nil:
		case math.IsNaN(*v) || math.IsInf(*v, 0):
			errs = append(errs, fmt.Errorf("metric %s of stream %q is %v: left out", name, inv.Stream, *v))
		default:
			d = append(d, datum{name, types.StandardUnitSeconds, *v})
		}
	}
	gauge(ReplicationLagSeconds, inv.ReplicationLagSeconds)
	gauge(MaxRecordAgeSeconds, inv.MaxRecordAgeSeconds)
	d = append(d,
		datum{SkippedRecords, types.StandardUnitCount, float64(inv.SkippedRecords)},
		datum{SupersededRecords, types.StandardUnitCount, float64(inv.SupersededRecords)},
		datum{FailedRecords, types.StandardUnitCount, float64(inv.FailedRecords)},
		datum{RejectedRecords, types.StandardUnitCount, float64(inv.RejectedRecords)},
		datum{ResentRecords, types.StandardUnitCount, float64(inv.ResentRecords)},
		datum{ThrottledRecords, types.StandardUnitCount, float64(inv.ThrottledRecords)},
		datum{RedeliveredRecords, types.StandardUnitCount, float64(inv.RedeliveredRecords)},
		datum{CommitTimestampFallbacks, types.StandardUnitCount, float64(inv.CommitTimestampFallbacks)},
	)
	gauge(CheckpointAgeSeconds, inv.CheckpointAgeSeconds)
	return d, errors.Join(errs...)
}

// Emit writes the metrics of inv as one EMF line, in a single Write so that
// lines of concurrent emitters sharing stdout never interleave, and then, if
// a mirror is set, gathers the same values for it, starting a send in the
// background when one is due (gather); Flush waits for the sends in flight
// and reports their failures. Emit fails only when the line
// cannot be written or inv is invalid; a non-finite gauge is left out of both
// the line and the mirror and reported here, the rest still published.
func (e *Emitter) Emit(ctx context.Context, inv Invocation) error {
	if inv.Stream == "" {
		return errors.New("emit metrics: empty stream name (CloudWatch rejects an empty dimension value)")
	}
	data, dataErr := inv.data()
	at := e.now()
	line := e.emfLine(inv.Stream, at, data)

	e.writeMu.Lock()
	_, err := e.out.Write(line)
	e.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("emit metrics of stream %q: write EMF line: %w", inv.Stream, err)
	}

	if e.mirror != nil {
		e.gather(ctx, inv.Stream, at, data)
	}
	if dataErr != nil {
		return fmt.Errorf("emit metrics: %w", dataErr)
	}
	return nil
}

// emfLine renders one EMF document: the _aws metadata first, then the
// dimensions, then the values, newline-terminated.
func (e *Emitter) emfLine(stream string, at time.Time, data []datum) []byte {
	var b bytes.Buffer
	b.Grow(1024) // a full line is about 900 bytes
	b.WriteString(`{"_aws":{"Timestamp":`)
	b.Write(strconv.AppendInt(b.AvailableBuffer(), at.UnixMilli(), 10))
	b.WriteString(`,"CloudWatchMetrics":[{"Namespace":`)
	writeJSONString(&b, e.namespace)
	b.WriteString(`,"Dimensions":[[`)
	writeJSONString(&b, StreamNameDimension)
	if e.sourceRegion != "" {
		b.WriteString(`],[`)
		writeJSONString(&b, StreamNameDimension)
		b.WriteByte(',')
		writeJSONString(&b, SourceRegionDimension)
	}
	b.WriteString(`]],"Metrics":[`)
	for i, d := range data {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Name":`)
		writeJSONString(&b, d.name)
		b.WriteString(`,"Unit":`)
		writeJSONString(&b, string(d.unit))
		b.WriteByte('}')
	}
	b.WriteString(`]}]},`)
	writeJSONString(&b, StreamNameDimension)
	b.WriteByte(':')
	writeJSONString(&b, stream)
	if e.sourceRegion != "" {
		b.WriteByte(',')
		writeJSONString(&b, SourceRegionDimension)
		b.WriteByte(':')
		writeJSONString(&b, e.sourceRegion)
	}
	for _, d := range data {
		b.WriteByte(',')
		writeJSONString(&b, d.name)
		b.WriteByte(':')
		b.Write(appendNumber(b.AvailableBuffer(), d.value))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// appendNumber formats a finite v as encoding/json does: plain decimals, so
// counts read as integers, and exponents only for very small or large values.
func appendNumber(dst []byte, v float64) []byte {
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(dst, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// writeJSONString writes s as a JSON string. Metric names and stream names
// need no escaping and are copied as they are; anything else goes through
// encoding/json, for which marshalling a string cannot fail.
func writeJSONString(b *bytes.Buffer, s string) {
	if !needsEscape(s) {
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	q, _ := json.Marshal(s)
	b.Write(q)
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return true
		}
	}
	return false
}

// gather adds an invocation's values to those the mirror sends next, and
// starts a send when the interval since the last one began has passed (the
// first values go at once) or a request would hold no more.
func (e *Emitter) gather(ctx context.Context, stream string, at time.Time, data []datum) {
	// Only the StreamName, SourceRegion set: the other Region's own
	// StreamName series stays its own.
	dims := []types.Dimension{{Name: aws.String(StreamNameDimension), Value: aws.String(stream)}}
	if e.sourceRegion != "" {
		dims = append(dims, types.Dimension{Name: aws.String(SourceRegionDimension), Value: aws.String(e.sourceRegion)})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range data {
		if len(e.pending) == maxMirrorData {
			e.startMirrorLocked(ctx, at)
		}
		e.pending = append(e.pending, types.MetricDatum{
			MetricName: aws.String(d.name),
			Dimensions: dims,
			Timestamp:  aws.Time(at),
			Unit:       d.unit,
			Value:      aws.Float64(d.value),
		})
	}
	if len(e.pending) > 0 && (e.sent.IsZero() || at.Sub(e.sent) >= e.mirrorInterval) {
		e.startMirrorLocked(ctx, at)
	}
}

// startMirrorLocked sends the pending values in the background; callers
// hold e.mu.
func (e *Emitter) startMirrorLocked(ctx context.Context, at time.Time) {
	in := &cloudwatch.PutMetricDataInput{Namespace: aws.String(e.namespace), MetricData: e.pending}
	e.pending, e.sent = nil, at
	if e.inFlight == 0 {
		e.idle = make(chan struct{})
	}
	e.inFlight++

	// Detached from ctx: the invocation may return before the send ends,
	// and its end must not cancel the send; the timeout bounds it instead.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.mirrorTimeout)
	go func() {
		defer cancel()
		_, err := e.mirror.PutMetricData(sendCtx, in)
		if err != nil {
			err = fmt.Errorf("mirror %d metric values of stream %s to %s: %w", len(in.MetricData), streamsOf(in.MetricData), e.mirrorRegion, err)
			e.log.LogAttrs(sendCtx, slog.LevelError, "metrics mirror failed",
				slog.String("region", e.mirrorRegion), slog.Any("error", err))
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if err != nil {
			e.errs = append(e.errs, err)
		}
		e.inFlight--
		if e.inFlight == 0 {
			close(e.idle)
		}
	}()
}

// streamsOf names the streams of data, quoted, in order of first appearance.
func streamsOf(data []types.MetricDatum) string {
	var names []string
	for _, d := range data {
		for _, dim := range d.Dimensions {
			if n := strconv.Quote(aws.ToString(dim.Value)); aws.ToString(dim.Name) == StreamNameDimension && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return strings.Join(names, ", ")
}

// Flush waits until the mirror sends in flight have ended, or ctx is done,
// and returns the failures of the sends that ended since the last Flush
// (each already logged). Sends still running when ctx ends go on in the
// background, bounded by the mirror timeout, and a later Flush reports them.
func (e *Emitter) Flush(ctx context.Context) error {
	e.mu.Lock()
	idle := e.idle
	busy := e.inFlight > 0
	e.mu.Unlock()
	if busy {
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("flush metrics mirror to %s: %w", e.mirrorRegion, errors.Join(ctx.Err(), e.takeErrs()))
		}
	}
	return e.takeErrs()
}

func (e *Emitter) takeErrs() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := errors.Join(e.errs...)
	e.errs = nil
	return err
}
