package putrecords

import (
	"errors"
	"math/big"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestPartitionHashIsTheMD5OfTheKeyBigEndian(t *testing.T) {
	tests := []struct {
		key  string
		want string // decimal, from md5sum of the key's UTF-8 bytes
	}{
		{key: "a", want: "16955237001963240173058271559858726497"},              // 0cc175b9c0f1b6a831c399e269772661
		{key: "b", want: "195289424170611159128911017612795795343"},             // 92eb5ffee6ae2fec3ad71c777531578f
		{key: "partition-key", want: "171922231538597478840392253176536055210"}, // 815704732fbc84217234bb5e45533daa
		{key: "é", want: "136732923097551493579404309126273812335"},             // 66ddcd97cfdeabb2f6fb8a999b4bc76f
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			want, err := parseHashKey(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if got := partitionHash(tt.key); got != want {
				t.Errorf("got %x%016x, want %x%016x", got.hi, got.lo, want.hi, want.lo)
			}
		})
	}
}

func TestParseHashKeyTakesOnly128BitUnsignedDecimals(t *testing.T) {
	tests := []struct {
		in      string
		want    hashKey
		wantErr bool
	}{
		{in: "0", want: hashKey{}},
		{in: maxHashKey, want: hashKey{hi: ^uint64(0), lo: ^uint64(0)}},
		{in: "18446744073709551616", want: hashKey{hi: 1}},             // 2^64
		{in: "340282366920938463463374607431768211456", wantErr: true}, // 2^128
		{in: "-1", wantErr: true},
		{in: "0x10", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseHashKey(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %+v, %v, want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func shardsOf(fs []fakeShard) []types.Shard {
	out := make([]types.Shard, len(fs))
	for i, s := range fs {
		out[i] = types.Shard{
			ShardId:             aws.String(s.id),
			HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String(s.start), EndingHashKey: aws.String(s.end)},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("1")},
		}
		if s.closed {
			out[i].SequenceNumberRange.EndingSequenceNumber = aws.String("2")
		}
	}
	return out
}

func TestShardMapPlacesKeysByHashKeyRange(t *testing.T) {
	hashOf := func(key string, add int64) string {
		h := partitionHash(key)
		n := new(big.Int).Lsh(new(big.Int).SetUint64(h.hi), 64)
		n.Or(n, new(big.Int).SetUint64(h.lo))
		return n.Add(n, big.NewInt(add)).String()
	}
	two := evenShards(2) // split at 2^127
	tests := []struct {
		name   string
		shards []fakeShard
		want   map[string]string // key → shard ID ("" = none)
	}{
		{
			name:   "two even shards: below 2^127 the first, above the second",
			shards: two,
			want:   map[string]string{"a": two[0].id, "key-1": two[0].id, "b": two[1].id, "key-0": two[1].id, "partition-key": two[1].id},
		},
		{
			name:   "four even shards",
			shards: evenShards(4),
			want:   map[string]string{"a": "shardId-000000000000", "é": "shardId-000000000001", "b": "shardId-000000000002", "key-0": "shardId-000000000002"},
		},
		{
			name:   "listing order does not matter",
			shards: []fakeShard{two[1], two[0]},
			want:   map[string]string{"a": two[0].id, "b": two[1].id},
		},
		{
			name: "a hash equal to a range's start belongs to it",
			shards: []fakeShard{
				{id: "low", start: "0", end: hashOf("a", -1)},
				{id: "high", start: hashOf("a", 0), end: maxHashKey},
			},
			want: map[string]string{"a": "high"},
		},
		{
			name: "a hash equal to a range's end belongs to it",
			shards: []fakeShard{
				{id: "low", start: "0", end: hashOf("a", 0)},
				{id: "high", start: hashOf("a", 1), end: maxHashKey},
			},
			want: map[string]string{"a": "low"},
		},
		{
			name: "closed shards are not written to: their child is",
			shards: []fakeShard{
				{id: "parent", start: "0", end: maxHashKey, closed: true},
				{id: "child-low", start: "0", end: two[0].end},
				{id: "child-high", start: two[1].start, end: maxHashKey},
			},
			want: map[string]string{"a": "child-low", "b": "child-high"},
		},
		{
			name:   "a hash in no open range has no shard",
			shards: []fakeShard{{id: "high", start: two[1].start, end: maxHashKey}},
			want:   map[string]string{"a": "", "b": "high"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := newShardMap(shardsOf(tt.shards))
			if err != nil {
				t.Fatal(err)
			}
			for key, want := range tt.want {
				got := ""
				if i := m.shardOf(key); i >= 0 {
					got = m.ids[i]
				}
				if got != want {
					t.Errorf("key %q: got shard %q, want %q", key, got, want)
				}
			}
		})
	}
}

func TestShardMapRefusesListingsItCannotTrust(t *testing.T) {
	two := evenShards(2)
	tests := []struct {
		name   string
		shards []types.Shard
	}{
		{name: "no open shard", shards: shardsOf([]fakeShard{{id: "old", start: "0", end: maxHashKey, closed: true}})},
		{name: "overlapping open shards", shards: shardsOf([]fakeShard{{id: "x", start: "0", end: two[1].start}, two[1]})},
		{name: "a range that ends before it starts", shards: shardsOf([]fakeShard{{id: "x", start: "5", end: "4"}})},
		{name: "a hash key that is not a number", shards: shardsOf([]fakeShard{{id: "x", start: "zero", end: maxHashKey}})},
		{name: "no hash key range", shards: []types.Shard{{ShardId: aws.String("x")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := newShardMap(tt.shards); err == nil {
				t.Fatalf("got map %+v, want an error", m)
			}
		})
	}
	if _, err := newShardMap(nil); !errors.Is(err, errNoOpenShards) {
		t.Errorf("empty listing: got %v, want errNoOpenShards", err)
	}
}
