package checkpoint

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// itemBytes is an item's size by DynamoDB's rules, which bill a write by it
// (1 write unit per KB, rounded up): names and strings by UTF-8 length,
// numbers by about a byte per two digits plus one, lists and maps 3 bytes
// plus 1 per element.
func itemBytes(item map[string]ddbtypes.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueBytes(v)
	}
	return n
}

func valueBytes(v ddbtypes.AttributeValue) int {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberN:
		return (len(v.Value)+1)/2 + 1
	case *ddbtypes.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueBytes(e)
		}
		return n
	case *ddbtypes.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueBytes(e)
		}
		return n
	}
	return 1
}

// countingClient counts the calls an append makes and keeps the size of
// each item written.
type countingClient struct {
	DynamoDBAPI
	mu                  sync.Mutex
	gets, puts, updates int
	written             []int
}

func (c *countingClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.DynamoDBAPI.GetItem(ctx, in, o...)
}

func (c *countingClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.mu.Lock()
	c.puts++
	c.written = append(c.written, itemBytes(in.Item))
	c.mu.Unlock()
	return c.DynamoDBAPI.PutItem(ctx, in, o...)
}

func (c *countingClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	c.updates++
	c.mu.Unlock()
	return c.DynamoDBAPI.UpdateItem(ctx, in, o...)
}

func writeUnits(bytes int) int { return (bytes + 1023) / 1024 }

// The cost of the trail, measured on dynalite: one write per append (after
// one read per shard and Store), of the trail item alone, whose size stays
// within MaxTrailItemBytes however long the history. The replicator appends
// at most every SyncPointInterval, so at most 12 such writes a shard a
// minute.
// steadyAges are the ages of the points a trail holds after a year of
// replication at the tip (a point every 5 s): one per spacing bucket of
// each tier, and one beyond retention.
func steadyAges() []time.Duration {
	var ages []time.Duration
	add := func(from, to, step time.Duration) {
		for a := from; a < to; a += step {
			ages = append(ages, a)
		}
	}
	d := 24 * time.Hour
	add(0, time.Minute, 5*time.Second)
	add(time.Minute, 10*time.Minute, time.Minute)
	add(10*time.Minute, time.Hour, 10*time.Minute)
	add(time.Hour, d, 3*time.Hour)
	add(d, 7*d, d)
	add(7*d, TrailRetention, 30*d)
	return append(ages, TrailRetention+d)
}

// The cost of the trail, measured on dynalite: one write per append (after
// one read per shard and Store), of the trail item alone, whose size stays
// within MaxTrailItemBytes however long the history. The replicator appends
// at most every SyncPointInterval, so at most 12 such writes a shard a
// minute.
func TestAnAppendIsOneWriteOfABoundedTrailItem(t *testing.T) {
	type step struct {
		every time.Duration
		n     int
	}
	phases := []step{{5 * time.Second, 150}, {time.Minute, 150}, {time.Hour, 200}, {24 * time.Hour, 40}, {5 * time.Second, 30}}
	tests := []struct {
		name    string
		targets int
		steady  bool
	}{
		{"a year at the tip, feeding one target shard", 1, true},
		{"a year at the tip, feeding three target shards", 3, true},
		{"a year at the tip, feeding forty target shards", 40, true},
		{"bursts and pauses, feeding one target shard", 1, false},
		{"bursts and pauses, feeding forty target shards", 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, table := newCheckpointTable(t)
			c := &countingClient{DynamoDBAPI: client}
			s := NewStore(c, table)
			stream := "a-stream-name-of-some-length-as-users-name-them"
			var arrivals []time.Time
			if tt.steady {
				ages := steadyAges()
				for i := len(ages) - 1; i >= 0; i-- {
					arrivals = append(arrivals, trailNow.Add(-ages[i]))
				}
			} else {
				at := trailNow
				for _, ph := range phases {
					for range ph.n {
						at = at.Add(ph.every)
						arrivals = append(arrivals, at)
					}
				}
			}
			for seq, at := range arrivals {
				targets := map[string]string{}
				for i := range tt.targets {
					targets[fmt.Sprintf("shardId-%012d", i)] = fmt.Sprintf("4965674023525723993174704399118343219552136678%010d", seq)
				}
				p := SyncPoint{SequenceNumber: fmt.Sprintf("4965674023523493918654851346236139353283841423%010d", seq), Arrival: at, Targets: targets}
				if err := s.AppendSyncPoint(context.Background(), stream, "ap-southeast-2", "shardId-000000000123", p); err != nil {
					t.Fatal(err)
				}
			}
			if c.gets != 1 || c.puts != len(arrivals) || c.updates != 0 {
				t.Fatalf("got %d reads, %d puts, %d updates for %d appends, want 1, %d, 0", c.gets, c.puts, c.updates, len(arrivals), len(arrivals))
			}
			most := 0
			for _, b := range c.written {
				most = max(most, b)
			}
			if most > MaxTrailItemBytes {
				t.Errorf("got a trail item of %d bytes, want at most %d", most, MaxTrailItemBytes)
			}
			points, err := s.LoadTrail(context.Background(), stream, "ap-southeast-2", "shardId-000000000123")
			if err != nil {
				t.Fatal(err)
			}
			// One target shard: the byte budget thins nothing (a bucket
			// edge may merge two of the constructed points).
			if tt.steady && tt.targets == 1 && len(points) < len(arrivals)-1 {
				t.Errorf("got %d points, want the %d of the steady state kept", len(points), len(arrivals))
			}
			t.Logf("%d points at the end; trail item up to %d bytes: %d write units per append", len(points), most, writeUnits(most))
		})
	}
}

// Two Stores taking turns each find their memory of the trail stale and
// reread it: every point is kept, at one extra read and write per turn.
func TestAStaleTrailIsReadAgainAndNoPointLost(t *testing.T) {
	client, table := newCheckpointTable(t)
	a, b := &countingClient{DynamoDBAPI: client}, &countingClient{DynamoDBAPI: client}
	sa, sb := NewStore(a, table), NewStore(b, table)
	for i, s := range []*Store{sa, sb, sa, sb} {
		p := SyncPoint{SequenceNumber: fmt.Sprint(100 + i), Arrival: trailNow.Add(time.Duration(i) * 10 * time.Second), Targets: map[string]string{"shardId-000000000000": fmt.Sprint(500 + i)}}
		if err := s.AppendSyncPoint(context.Background(), "orders", "us-east-1", "shardId-000000000000", p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := sa.LoadTrail(context.Background(), "orders", "us-east-1", "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"100", "101", "102", "103"}; fmt.Sprint(seqs(got)) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", seqs(got), want)
	}
	// a: read, put; (b) ; put lost, read, put. b: read, put; put lost, read, put.
	if a.puts != 3 || b.puts != 3 {
		t.Errorf("got %d and %d puts, want 3 each (one lost condition each)", a.puts, b.puts)
	}
}
