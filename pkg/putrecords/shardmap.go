package putrecords

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// hashKey is a 128-bit unsigned hash key, as Kinesis places records: the
// MD5 of the partition key read as a big-endian integer.
type hashKey struct{ hi, lo uint64 }

func (a hashKey) less(b hashKey) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

// partitionHash is the hash key Kinesis gives a record with this partition
// key and no ExplicitHashKey (the writer never sets one).
func partitionHash(key string) hashKey {
	sum := md5.Sum([]byte(key))
	return hashKey{hi: binary.BigEndian.Uint64(sum[:8]), lo: binary.BigEndian.Uint64(sum[8:])}
}

// parseHashKey reads a decimal hash key of a ListShards HashKeyRange.
func parseHashKey(s string) (hashKey, error) {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 128 {
		return hashKey{}, fmt.Errorf("hash key %q is not a 128-bit unsigned decimal", s)
	}
	var b [16]byte
	n.FillBytes(b[:])
	return hashKey{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}, nil
}

// shardMap is a target stream's open shards by hash key range, sorted by
// range start; immutable once built, so Writes share it without locks.
type shardMap struct {
	ids    []string
	starts []hashKey
	ends   []hashKey // inclusive, as ListShards gives them
	index  map[string]int
}

var errNoOpenShards = errors.New("no open shard")

// newShardMap keeps the open shards (no ending sequence number: ListShards
// with AT_LATEST returns only those, but emulators ignore the filter) and
// refuses a listing whose ranges overlap, which an inconsistent read during
// a reshard could give: a wrong map would pace the wrong shard.
func newShardMap(shards []types.Shard) (*shardMap, error) {
	type entry struct {
		id         string
		start, end hashKey
	}
	var open []entry
	for _, s := range shards {
		if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
			continue
		}
		if s.HashKeyRange == nil {
			return nil, fmt.Errorf("shard %s has no hash key range", aws.ToString(s.ShardId))
		}
		start, err := parseHashKey(aws.ToString(s.HashKeyRange.StartingHashKey))
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", aws.ToString(s.ShardId), err)
		}
		end, err := parseHashKey(aws.ToString(s.HashKeyRange.EndingHashKey))
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", aws.ToString(s.ShardId), err)
		}
		if end.less(start) {
			return nil, fmt.Errorf("shard %s: hash key range ends before it starts", aws.ToString(s.ShardId))
		}
		open = append(open, entry{id: aws.ToString(s.ShardId), start: start, end: end})
	}
	if len(open) == 0 {
		return nil, errNoOpenShards
	}
	sort.Slice(open, func(i, j int) bool { return open[i].start.less(open[j].start) })
	m := &shardMap{index: make(map[string]int, len(open))}
	for i, e := range open {
		if i > 0 && !open[i-1].end.less(e.start) {
			return nil, fmt.Errorf("open shards %s and %s have overlapping hash key ranges", open[i-1].id, e.id)
		}
		m.ids = append(m.ids, e.id)
		m.starts = append(m.starts, e.start)
		m.ends = append(m.ends, e.end)
		m.index[e.id] = i
	}
	return m, nil
}

// shardOf is the index of the open shard whose range holds the partition
// key's hash, or -1 when none does (a gap in the listing).
func (m *shardMap) shardOf(partitionKey string) int {
	h := partitionHash(partitionKey)
	// The first shard starting after h; the one before it may hold h.
	i := sort.Search(len(m.starts), func(i int) bool { return h.less(m.starts[i]) }) - 1
	if i < 0 || m.ends[i].less(h) {
		return -1
	}
	return i
}
