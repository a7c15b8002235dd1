package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/itemtime"
)

// DynamoDBAPI is the part of the DynamoDB client the Store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Store reads and writes the checkpoints of one kdsReplicationCheckpoint table.
//
// Its method docs are the contract of the checkpoint table, for every
// implementation: consumers (the replicator's store, failover.CheckpointLoader)
// refer to them, and checkpointtest.RunStoreContract checks it against this
// Store on dynalite and against the in-memory checkpointtest.Store. The
// same holds for the trail items' methods (LoadTrail, AppendSyncPoint,
// LoadTrails, in trail.go), which never touch a checkpoint item.
//
// A Store is safe for concurrent use; it remembers the trails it last wrote
// or read (see AppendSyncPoint), nothing of the checkpoints.
type Store struct {
	client DynamoDBAPI
	table  string

	mu     sync.Mutex
	trails map[trailKey]Trail
}

// NewStore returns a Store for table.
func NewStore(client DynamoDBAPI, table string) *Store {
	return &Store{client: client, table: table, trails: map[trailKey]Trail{}}
}

// saveCondition is the order Save explains, as a DynamoDB condition.
const saveCondition = "attribute_not_exists(shardId) OR epoch < :epoch OR " +
	"(epoch = :epoch AND (size(lastSequenceNumber) < :len OR " +
	"(size(lastSequenceNumber) = :len AND lastSequenceNumber < :seq)))"

// knowsMoreCondition lets a checkpoint with WrittenBeyond replace one of the
// same prefix that names fewer records beyond it.
const knowsMoreCondition = " OR (epoch = :epoch AND lastSequenceNumber = :seq AND " +
	"(attribute_not_exists(#beyond) OR #beyond.#count < :count))"

// Save writes cp if it is ahead of the stored checkpoint of its shard, in one
// conditional write, so concurrent writers never move a checkpoint backwards.
//
// Each Region has its own items (see Checkpoint), so one item only ever
// holds sequence numbers of one shard of one stream. They are ordered by
// (epoch, sequence number) all the same, the epoch being that of the
// active-Region history entry under which the record was replicated: both
// only grow along a shard, and items written before the per-Region key
// shared one item between Regions. So the write happens only if no item
// exists, or the stored epoch is smaller, or the epoch is equal and the
// stored lastSequenceNumber is numerically smaller than the new one.
// DynamoDB compares strings bytewise
// ("9" > "10"), so the numeric compare is by length first and bytewise only
// among equal lengths; that is exact because sequence numbers have no
// leading zeros, which Validate enforces.
//
// The contract, in short:
//   - (true, nil): cp is stored, replacing the item whole (a drain mark is
//     not carried over; MarkDrained sets it again).
//   - (true, nil) also for cp at the stored (epoch, sequence number) whose
//     WrittenBeyond names more records than the stored one's (or the
//     stored one has none): the same prefix, more known of what follows it.
//   - (false, nil): the condition lost, nothing written: cp is not ahead
//     (older, or the same sequence number again knowing no more). Losing
//     the condition is a result, not an error.
//   - A cp that fails Validate is an error naming the stream and shard, and
//     writes nothing. Any other failure is an error that wraps the cause.
//   - A checkpoint never moves backwards, whatever the order of concurrent
//     saves: the stored one is the maximum saved.
func (s *Store) Save(ctx context.Context, cp Checkpoint) (advanced bool, err error) {
	if err := cp.Validate(); err != nil {
		return false, fmt.Errorf("save checkpoint of stream %s shard %s: %w", cp.StreamName, cp.ShardID, err)
	}
	item, err := attributevalue.MarshalMapWithOptions(cp, itemtime.Encode)
	if err != nil {
		return false, fmt.Errorf("save checkpoint of stream %s shard %s: encode item: %w", cp.StreamName, cp.ShardID, err)
	}
	item["shardId"] = &ddbtypes.AttributeValueMemberS{Value: Key(cp.SourceRegion, cp.ShardID)}
	// The item is replaced whole; a drain mark is about records this
	// checkpoint already covers, so it is kept only by MarkDrained's
	// later call, never carried over from a stale read.
	in := &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String(saveCondition),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":epoch": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(cp.Epoch, 10)},
			":len":   &ddbtypes.AttributeValueMemberN{Value: strconv.Itoa(len(cp.LastSequenceNumber))},
			":seq":   &ddbtypes.AttributeValueMemberS{Value: cp.LastSequenceNumber},
		},
	}
	if cp.WrittenBeyond != nil {
		in.ConditionExpression = aws.String(saveCondition + knowsMoreCondition)
		in.ExpressionAttributeNames = map[string]string{"#beyond": "writtenBeyond", "#count": "count"}
		in.ExpressionAttributeValues[":count"] = &ddbtypes.AttributeValueMemberN{Value: strconv.Itoa(cp.WrittenBeyond.Count)}
	}
	_, err = s.client.PutItem(ctx, in)
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("save checkpoint of stream %s shard %s to %s: %w", cp.StreamName, cp.ShardID, s.table, err)
	}
	return true, nil
}

// MarkDrained records on region's checkpoint of shard that every record of
// its epoch `epoch` on that shard has been acknowledged (DrainedEpoch, and
// DrainedAt = at in UTC). The mark only moves forward:
//   - (true, nil): marked.
//   - (false, nil): the condition lost, nothing written: no checkpoint of
//     that Region's shard, or one marked for that epoch or a later one
//     already.
func (s *Store) MarkDrained(ctx context.Context, stream, region, shard string, epoch int64, at time.Time) (bool, error) {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key: map[string]ddbtypes.AttributeValue{
			"streamName": &ddbtypes.AttributeValueMemberS{Value: stream},
			"shardId":    &ddbtypes.AttributeValueMemberS{Value: Key(region, shard)},
		},
		UpdateExpression:    aws.String("SET drainedEpoch = :epoch, drainedAt = :at"),
		ConditionExpression: aws.String("attribute_exists(shardId) AND (attribute_not_exists(drainedEpoch) OR drainedEpoch < :epoch)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":epoch": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(epoch, 10)},
			":at":    &ddbtypes.AttributeValueMemberS{Value: itemtime.Format(at)},
		},
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mark stream %s shard %s of %s drained through epoch %d in %s: %w", stream, shard, region, epoch, s.table, err)
	}
	return true, nil
}

// Load returns region's checkpoints of every shard of stream, sorted by
// ShardID, times in UTC; a stream without checkpoints gives an empty,
// non-nil slice. Other Regions' items are never returned, and neither are
// items written before the per-Region key (no Region in shardId): which
// Region's shard they describe is not known for certain. A region that is
// empty or contains the key separator is an error. A malformed item (failing
// Validate, or whose key disagrees with its attributes) fails the whole load
// with an error naming the stream and the item's key: a resume point
// computed without it would be wrong.
func (s *Store) Load(ctx context.Context, stream, region string) ([]Checkpoint, error) {
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("load checkpoints of stream %s: %w", stream, err)
	}
	cps := []Checkpoint{}
	err := s.queryItems(ctx, stream, region+keySeparator, func(item map[string]ddbtypes.AttributeValue) error {
		cp, err := decodeCheckpoint(item)
		if err != nil {
			return err
		}
		cps = append(cps, cp)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load checkpoints of stream %s from %s: %w", stream, s.table, err)
	}
	slices.SortFunc(cps, func(a, b Checkpoint) int { return strings.Compare(a.ShardID, b.ShardID) })
	return cps, nil
}

// Get returns region's checkpoint of one shard of stream, read
// consistently, times in UTC:
//   - (cp, true, nil): the stored checkpoint, the maximum ever saved.
//   - (zero, false, nil): the shard has no checkpoint of that Region.
//   - A malformed item is an error naming the shard, as in Load; so is a
//     region that is empty or contains the key separator.
//
// Each Region writes only its own items, so a consistent read in the
// Region that writes them sees every save that returned there.
func (s *Store) Get(ctx context.Context, stream, region, shard string) (Checkpoint, bool, error) {
	if err := checkRegion(region); err != nil {
		return Checkpoint{}, false, fmt.Errorf("get checkpoint of stream %s shard %s: %w", stream, shard, err)
	}
	item, err := s.getItem(ctx, stream, Key(region, shard))
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("get checkpoint of stream %s shard %s of %s from %s: %w", stream, shard, region, s.table, err)
	}
	if len(item) == 0 {
		return Checkpoint{}, false, nil
	}
	cp, err := decodeCheckpoint(item)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("get checkpoint of stream %s from %s: %w", stream, s.table, err)
	}
	return cp, true, nil
}

// getItem reads the item of stream under sortKey (attribute shardId)
// consistently; an empty map when there is none.
func (s *Store) getItem(ctx context.Context, stream, sortKey string) (map[string]ddbtypes.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table),
		Key: map[string]ddbtypes.AttributeValue{
			"streamName": &ddbtypes.AttributeValueMemberS{Value: stream},
			"shardId":    &ddbtypes.AttributeValueMemberS{Value: sortKey},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// checkRegion refuses what cannot be the Region part of a key.
func checkRegion(region string) error {
	if region == "" || strings.Contains(region, keySeparator) {
		return fmt.Errorf("Region %q is not a Region name", region)
	}
	return nil
}

// decodeCheckpoint reads one checkpoint item, refusing one that fails
// Validate or whose key disagrees with its attributes, naming its key.
func decodeCheckpoint(item map[string]ddbtypes.AttributeValue) (Checkpoint, error) {
	var cp Checkpoint
	if err := attributevalue.UnmarshalMapWithOptions(item, &cp, itemtime.Decode); err != nil {
		return Checkpoint{}, fmt.Errorf("shard %s: %w", shardIDOf(item), err)
	}
	if err := cp.Validate(); err != nil {
		return Checkpoint{}, fmt.Errorf("shard %s: %w", shardIDOf(item), err)
	}
	if key := shardIDOf(item); key != Key(cp.SourceRegion, cp.ShardID) {
		return Checkpoint{}, fmt.Errorf("shard %s: sourceRegion %q and sourceShardId %q do not match the key", key, cp.SourceRegion, cp.ShardID)
	}
	return cp, nil
}

// queryItems calls each with every item of stream whose sort key begins
// with prefix, read consistently, page after page, and stops at the first
// error of a page or of each.
func (s *Store) queryItems(ctx context.Context, stream, prefix string, each func(item map[string]ddbtypes.AttributeValue) error) error {
	pages := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("streamName = :stream AND begins_with(shardId, :prefix)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":stream": &ddbtypes.AttributeValueMemberS{Value: stream},
			":prefix": &ddbtypes.AttributeValueMemberS{Value: prefix},
		},
		ConsistentRead: aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, item := range page.Items {
			if err := each(item); err != nil {
				return err
			}
		}
	}
	return nil
}

func shardIDOf(item map[string]ddbtypes.AttributeValue) string {
	if id, ok := item["shardId"].(*ddbtypes.AttributeValueMemberS); ok {
		return id.Value
	}
	return "(no shardId)"
}
