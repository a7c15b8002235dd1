package localworld

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// Kinesis's documented write limits of one shard.
const (
	DefaultShardRecordsPerSecond = 1000
	DefaultShardBytesPerSecond   = 1 << 20
)

// ShardLimit is the write limit of every open shard of a Region's streams,
// enforced by token buckets that hold one second of it and refill
// continuously. The zero value is Kinesis's: DefaultShardRecordsPerSecond
// and DefaultShardBytesPerSecond.
type ShardLimit struct {
	// RecordsPerSecond: zero means DefaultShardRecordsPerSecond, negative
	// no limit on records.
	RecordsPerSecond int
	// BytesPerSecond counts each entry's data and partition key, as
	// Kinesis does: zero means DefaultShardBytesPerSecond, negative no
	// limit on bytes.
	BytesPerSecond int
}

// Unlimited turns the write limits off (Options.ShardWriteLimit,
// World.SetShardWriteLimit): every entry is forwarded.
var Unlimited = ShardLimit{RecordsPerSecond: -1, BytesPerSecond: -1}

func (l ShardLimit) withDefaults() ShardLimit {
	if l.RecordsPerSecond == 0 {
		l.RecordsPerSecond = DefaultShardRecordsPerSecond
	}
	if l.BytesPerSecond == 0 {
		l.BytesPerSecond = DefaultShardBytesPerSecond
	}
	return l
}

func (l ShardLimit) unlimited() bool { return l.RecordsPerSecond < 0 && l.BytesPerSecond < 0 }

// KinesisStats counts what a Region's Kinesis proxy did with the entries of
// PutRecords and PutRecord requests (a PutRecord is one entry).
type KinesisStats struct {
	// Requests is the PutRecords and PutRecord requests received.
	Requests int64
	// Entries is the entries received: every attempt to write a record.
	Entries int64
	// Throttled is the entries refused with ProvisionedThroughputExceeded.
	Throttled int64
	// Faulted is the entries refused by an injected fault (an
	// InternalFailure in its slot, a request answered 500, or a
	// connection reset before forwarding).
	Faulted int64
	// Admitted is the entries forwarded to the emulator: written, unless
	// the emulator refused them, whether or not their client heard so.
	Admitted int64
	// Resets and Stalls count the requests an injected fault cut or held.
	Resets, Stalls int64
}

// writeLimiter enforces one Region's per-shard write limits.
type writeLimiter struct {
	client *kinesis.Client // the emulator itself, past the proxy

	mu      sync.Mutex
	limit   ShardLimit
	now     func() time.Time
	streams map[string]*streamShards
	stats   KinesisStats
}

// streamShards is what the limiter knows of one stream: its open shards
// (from ListShards) and their buckets.
type streamShards struct {
	open    []openShard
	buckets map[string]*bucket // by shard ID
}

type openShard struct {
	id         string
	start, end *big.Int
}

// bucket holds one second of a shard's limit, as tokens of records and
// bytes refilled continuously since last.
type bucket struct {
	records, bytes float64
	last           time.Time
}

func newWriteLimiter(region, upstream string, l ShardLimit) *writeLimiter {
	return &writeLimiter{
		client:  localaws.KinesisClient(region, upstream),
		limit:   l.withDefaults(),
		now:     time.Now,
		streams: map[string]*streamShards{},
	}
}

// setLimit changes the limit and refills every bucket: a backlog written
// unthrottled leaves no debt behind.
func (l *writeLimiter) setLimit(limit ShardLimit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit = limit.withDefaults()
	l.refillLocked()
}

func (l *writeLimiter) setClock(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
	l.refillLocked()
}

// refillLocked drops every bucket, so each starts full again; callers hold
// l.mu.
func (l *writeLimiter) refillLocked() {
	for _, s := range l.streams {
		s.buckets = map[string]*bucket{}
	}
}

func (l *writeLimiter) snapshot() KinesisStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

func (l *writeLimiter) count(f func(*KinesisStats)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.stats)
}

// forget drops what is known of stream, so the next write lists its shards
// again (a reshard, or a shard the emulator wrote to that was not known).
func (l *writeLimiter) forget(stream string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.streams, stream)
}

func (l *writeLimiter) knows(stream, shard string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.streams[stream]
	if !ok {
		return true // not cached: nothing to correct
	}
	for _, o := range s.open {
		if o.id == shard {
			return true
		}
	}
	return false
}

// shards returns the stream's open shards, listing them on the emulator
// when the stream is not known yet.
func (l *writeLimiter) shards(ctx context.Context, stream string) (*streamShards, error) {
	l.mu.Lock()
	s, ok := l.streams[stream]
	l.mu.Unlock()
	if ok {
		return s, nil
	}
	shards, err := streamread.Shards(ctx, l.client, stream)
	if err != nil {
		return nil, err
	}
	var open []openShard
	for _, sh := range shards {
		if sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil {
			continue // closed: takes no writes
		}
		if sh.HashKeyRange == nil {
			continue
		}
		start, ok1 := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.StartingHashKey), 10)
		end, ok2 := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.EndingHashKey), 10)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("list shards of %s: shard %s has hash key range %q-%q", stream, aws.ToString(sh.ShardId),
				aws.ToString(sh.HashKeyRange.StartingHashKey), aws.ToString(sh.HashKeyRange.EndingHashKey))
		}
		open = append(open, openShard{id: aws.ToString(sh.ShardId), start: start, end: end})
	}
	s = &streamShards{open: open, buckets: map[string]*bucket{}}
	l.mu.Lock()
	defer l.mu.Unlock()
	if cached, ok := l.streams[stream]; ok {
		return cached, nil // listed concurrently: keep one set of buckets
	}
	l.streams[stream] = s
	return s, nil
}

// HashKey is the 128-bit hash key Kinesis places an entry by: its
// ExplicitHashKey when set, else the MD5 of its partition key read as a
// big-endian integer.
func HashKey(partitionKey, explicitHashKey string) (*big.Int, error) {
	if explicitHashKey != "" {
		h, ok := new(big.Int).SetString(explicitHashKey, 10)
		if !ok || h.Sign() < 0 || h.BitLen() > 128 {
			return nil, fmt.Errorf("explicit hash key %q is not a 128-bit decimal integer", explicitHashKey)
		}
		return h, nil
	}
	sum := md5.Sum([]byte(partitionKey))
	return new(big.Int).SetBytes(sum[:]), nil
}

// shardOf is the open shard whose hash key range holds h; "" when none does.
func (s *streamShards) shardOf(h *big.Int) string {
	for _, o := range s.open {
		if h.Cmp(o.start) >= 0 && h.Cmp(o.end) <= 0 {
			return o.id
		}
	}
	return ""
}

// admit takes an entry of size bytes from shard's bucket, or says it is
// over the limit (taking nothing).
func (l *writeLimiter) admit(s *streamShards, shard string, size int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.limit
	if lim.unlimited() {
		return true
	}
	now := l.now()
	b, ok := s.buckets[shard]
	if !ok {
		b = &bucket{records: float64(lim.RecordsPerSecond), bytes: float64(lim.BytesPerSecond), last: now}
		s.buckets[shard] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.records = min(b.records+dt*float64(lim.RecordsPerSecond), float64(lim.RecordsPerSecond))
		b.bytes = min(b.bytes+dt*float64(lim.BytesPerSecond), float64(lim.BytesPerSecond))
		b.last = now
	}
	if lim.RecordsPerSecond >= 0 && b.records < 1 {
		return false
	}
	if lim.BytesPerSecond >= 0 && b.bytes < float64(size) {
		return false
	}
	b.records--
	b.bytes -= float64(size)
	return true
}

// throttleMessage is Kinesis's message for an entry over its shard's limit.
func throttleMessage(shard, stream string) string {
	return fmt.Sprintf("Rate exceeded for shard %s in stream %s under account %s.", shard, stream, localaws.AccountID)
}

// putEntry is one PutRecords entry (or a PutRecord request) as far as the
// limiter reads it; raw is passed on unchanged.
type putEntry struct {
	Data            string `json:"Data"`
	PartitionKey    string `json:"PartitionKey"`
	ExplicitHashKey string `json:"ExplicitHashKey"`
}

// size is what an entry counts against the byte limit: its data and its
// partition key.
func (e putEntry) size() (int, error) {
	n, err := base64.StdEncoding.DecodeString(e.Data)
	if err != nil {
		return 0, fmt.Errorf("data is not base64: %w", err)
	}
	return len(n) + len(e.PartitionKey), nil
}

// streamNameOf is the stream a write names, by StreamName or StreamARN.
func streamNameOf(name, arn string) string {
	if name != "" {
		return name
	}
	if i := strings.Index(arn, ":stream/"); i >= 0 {
		return strings.SplitN(arn[i+len(":stream/"):], "/", 2)[0]
	}
	return ""
}

// placeEntry finds e's shard; ok is false when the entry is malformed, in
// which case the whole request goes to the emulator untouched, for it to
// refuse as Kinesis would.
func placeEntry(s *streamShards, e putEntry) (shard string, size int, ok bool) {
	if e.PartitionKey == "" {
		return "", 0, false
	}
	size, err := e.size()
	if err != nil {
		return "", 0, false
	}
	h, err := HashKey(e.PartitionKey, e.ExplicitHashKey)
	if err != nil {
		return "", 0, false
	}
	shard = s.shardOf(h)
	return shard, size, shard != ""
}

// decodeJSON is json.Unmarshal for the shapes above.
func decodeJSON(b []byte, v any) bool { return json.Unmarshal(b, v) == nil }
