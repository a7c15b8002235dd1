package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/itemtime"
)

// Trail is one source shard's trail of sync points, oldest first, as its
// trail item in the checkpoint table holds it (schema in docs/reference.md,
// Tables).
//
// The trail item is an item of its own, next to the shard's checkpoint, so
// that the checkpoint item stays small: DynamoDB bills a write by the size of
// the item written, and the checkpoint is written on about every invocation,
// the trail at most every SyncPointInterval. Its sort key (attribute shardId)
// is TrailKey(region, shard), "trail#<region>#<shard>", which no Load of
// checkpoints (begins_with "<region>#") matches.
type Trail struct {
	StreamName   string      `dynamodbav:"streamName" json:"streamName"`
	SourceRegion string      `dynamodbav:"sourceRegion" json:"sourceRegion"`
	ShardID      string      `dynamodbav:"sourceShardId" json:"shardId"`
	Points       []SyncPoint `dynamodbav:"syncPoints" json:"syncPoints"`
	// Rev counts the writes of the item: each append is conditional on the
	// revision it read, so a writer with a stale trail (another instance
	// appended since) loses its condition instead of dropping that point.
	Rev int64 `dynamodbav:"syncRev" json:"-"`
	// UpdatedAt is the newest point's arrival time (appends are thinned
	// at it, so the trail needs no clock).
	UpdatedAt time.Time `dynamodbav:"updatedAt" json:"updatedAt"`
}

// trailPrefix starts every trail item's sort key.
const trailPrefix = "trail" + keySeparator

// TrailKey is the stored sort key (attribute shardId) of region's trail of
// shard.
func TrailKey(region, shard string) string { return trailPrefix + Key(region, shard) }

// MaxTrailItemBytes bounds a trail item's size by DynamoDB's rules: the
// trail (MaxTrailBytes) and its key and bookkeeping attributes (a stream
// name of up to 128 characters, the sort key, the Region, the shard id, the
// revision and the time). An append writes it whole, and DynamoDB bills the
// larger of the item's sizes before and after: at most 17 write units (1 KB
// each); 9 for a source shard feeding one target shard after a year at the
// tip, about 5 for a shard written in bursts (TestAnAppendIsOneWriteOfABoundedTrailItem).
const MaxTrailItemBytes = MaxTrailBytes + 512

// trailAttempts bounds the conditional writes of one append while other
// writers move the trail; past it the point is left out (a later one comes
// within SyncPointInterval) and the append is an error.
const trailAttempts = 3

// ErrTrailContended is wrapped by AppendSyncPoint's error when other writers
// moved the trail on every attempt.
var ErrTrailContended = errors.New("the trail moved under every attempt")

// trailKey names a trail item in the Store's memory of trails.
type trailKey struct{ stream, key string }

// checkTrailKey refuses what cannot be part of a trail's key.
func checkTrailKey(region, shard string) error {
	if err := checkRegion(region); err != nil {
		return err
	}
	if shard == "" || strings.Contains(shard, keySeparator) {
		return fmt.Errorf("shard id %q is empty or contains %q, the key separator", shard, keySeparator)
	}
	return nil
}

// LoadTrail returns region's trail of shard of stream, oldest point first,
// times in UTC; a shard without a trail gives an empty, non-nil slice. It
// reads consistently. A region or shard that cannot be part of the key is an
// error, and so is a malformed item (naming the shard): a translation from
// it would be wrong.
func (s *Store) LoadTrail(ctx context.Context, stream, region, shard string) ([]SyncPoint, error) {
	if err := checkTrailKey(region, shard); err != nil {
		return nil, fmt.Errorf("load the trail of stream %s shard %s: %w", stream, shard, err)
	}
	tr, err := s.readTrail(ctx, trailKey{stream, TrailKey(region, shard)})
	if err != nil {
		return nil, fmt.Errorf("load the trail of stream %s shard %s of %s: %w", stream, shard, region, err)
	}
	return tr.Points, nil
}

// AppendSyncPoint adds p to region's trail of shard of stream, in one
// conditional write of the trail item (no write to the checkpoint item):
// the stored trail becomes AppendToTrail(stored, p, p.Arrival).
//
// The contract, in short:
//   - nil: the stored trail holds p as AppendToTrail keeps it, or p was not
//     after the trail's newest point (then nothing is written: the trail
//     only grows forward, as the checkpoint does).
//   - A p that fails Validate, or a region or shard that cannot be part of
//     the key, is an error, and writes nothing.
//   - No point is lost to concurrent appends: each write is conditional on
//     the trail it extends (the revision, syncRev), a lost condition rereads
//     the trail and tries again, up to 3 writes; past that an error wrapping
//     ErrTrailContended, the trail as the other writers left it. Every point
//     an append returned nil for stays in the trail until Thin drops it.
//   - Any other failure is an error that wraps the cause.
//
// The Store remembers the trail (and its revision) of each item it last
// wrote or read, so an append needs no read but the first one per shard and
// after a lost condition: it is safe for concurrent use.
func (s *Store) AppendSyncPoint(ctx context.Context, stream, region, shard string, p SyncPoint) error {
	if err := checkTrailKey(region, shard); err != nil {
		return fmt.Errorf("append a sync point to stream %s shard %s: %w", stream, shard, err)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("append a sync point to stream %s shard %s: %w", stream, shard, err)
	}
	key := trailKey{stream, TrailKey(region, shard)}
	for range trailAttempts {
		tr, known := s.knownTrail(key)
		if !known {
			var err error
			if tr, err = s.readTrail(ctx, key); err != nil {
				return fmt.Errorf("append a sync point to stream %s shard %s of %s: %w", stream, shard, region, err)
			}
		}
		points, added := AppendToTrail(tr.Points, p, p.Arrival)
		if !added {
			return nil
		}
		next := Trail{StreamName: stream, SourceRegion: region, ShardID: shard,
			Points: points, Rev: tr.Rev + 1, UpdatedAt: p.Arrival.UTC()}
		lost, err := s.putTrail(ctx, key, next, tr.Rev)
		if err != nil {
			s.forget(key)
			return fmt.Errorf("append a sync point to stream %s shard %s of %s to %s: %w", stream, shard, region, s.table, err)
		}
		if !lost {
			s.remember(key, next)
			return nil
		}
		s.forget(key)
	}
	return fmt.Errorf("append a sync point to stream %s shard %s of %s: %w", stream, shard, region, ErrTrailContended)
}

// LoadTrails returns region's trails of every shard of stream, sorted by
// ShardID, times in UTC; a stream without trails gives an empty, non-nil
// slice. Other Regions' trails and checkpoint items are never returned. A
// malformed item fails the whole load with an error naming its key.
func (s *Store) LoadTrails(ctx context.Context, stream, region string) ([]Trail, error) {
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("load the trails of stream %s: %w", stream, err)
	}
	trails := []Trail{}
	err := s.queryItems(ctx, stream, trailPrefix+region+keySeparator, func(item map[string]ddbtypes.AttributeValue) error {
		tr, err := decodeTrail(item)
		if err == nil && shardIDOf(item) != TrailKey(tr.SourceRegion, tr.ShardID) {
			err = fmt.Errorf("sourceRegion %q and sourceShardId %q do not match the key", tr.SourceRegion, tr.ShardID)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", shardIDOf(item), err)
		}
		trails = append(trails, tr)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load the trails of stream %s from %s: %w", stream, s.table, err)
	}
	slices.SortFunc(trails, func(a, b Trail) int { return strings.Compare(a.ShardID, b.ShardID) })
	return trails, nil
}

// readTrail reads a trail item consistently and remembers it; a missing item
// is the empty trail at revision 0.
func (s *Store) readTrail(ctx context.Context, key trailKey) (Trail, error) {
	item, err := s.getItem(ctx, key.stream, key.key)
	if err != nil {
		return Trail{}, fmt.Errorf("read %s from %s: %w", key.key, s.table, err)
	}
	tr := Trail{Points: []SyncPoint{}}
	if len(item) > 0 {
		if tr, err = decodeTrail(item); err != nil {
			return Trail{}, fmt.Errorf("read %s from %s: %w", key.key, s.table, err)
		}
	}
	s.remember(key, tr)
	return tr, nil
}

// decodeTrail reads a trail item; its points must be valid.
func decodeTrail(item map[string]ddbtypes.AttributeValue) (Trail, error) {
	var tr Trail
	if err := attributevalue.UnmarshalMapWithOptions(item, &tr, itemtime.Decode); err != nil {
		return Trail{}, err
	}
	for i, p := range tr.Points {
		if err := p.Validate(); err != nil {
			return Trail{}, fmt.Errorf("point %d: %w", i, err)
		}
	}
	if tr.Points == nil {
		tr.Points = []SyncPoint{}
	}
	tr.Points = utcPoints(tr.Points)
	return tr, nil
}

// trailItem is tr as stored.
func trailItem(tr Trail) (map[string]ddbtypes.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(tr, itemtime.Encode)
	if err != nil {
		return nil, fmt.Errorf("encode the trail item: %w", err)
	}
	item["shardId"] = &ddbtypes.AttributeValueMemberS{Value: TrailKey(tr.SourceRegion, tr.ShardID)}
	return item, nil
}

// putTrail replaces the trail item whole if it is still at revision rev (0:
// absent); lost reports a lost condition, which is no error.
func (s *Store) putTrail(ctx context.Context, key trailKey, tr Trail, rev int64) (lost bool, err error) {
	item, err := trailItem(tr)
	if err != nil {
		return false, err
	}
	in := &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(shardId)"),
		ExpressionAttributeNames: map[string]string{},
	}
	if rev > 0 {
		in.ConditionExpression = aws.String("#rev = :rev")
		in.ExpressionAttributeNames["#rev"] = "syncRev"
		in.ExpressionAttributeValues = map[string]ddbtypes.AttributeValue{
			":rev": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(rev, 10)},
		}
	} else {
		in.ExpressionAttributeNames = nil
	}
	_, err = s.client.PutItem(ctx, in)
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true, nil
	}
	return false, err
}

func (s *Store) knownTrail(key trailKey) (Trail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tr, ok := s.trails[key]
	return tr, ok
}

func (s *Store) remember(key trailKey, tr Trail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trails[key] = tr
}

func (s *Store) forget(key trailKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.trails, key)
}
