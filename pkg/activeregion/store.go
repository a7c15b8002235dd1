package activeregion

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBAPI is the part of the DynamoDB client the Store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Store reads and writes the config items of one kdsActiveRegionConfig table.
type Store struct {
	client DynamoDBAPI
	table  string
}

// NewStore returns a Store for table.
func NewStore(client DynamoDBAPI, table string) *Store {
	return &Store{client: client, table: table}
}

// Get reads the config item of stream with a consistent read: the replicator
// must not decide on a config older than the failover that just finished.
// A stream without an item is ErrNotFound; a malformed item is an error naming
// the stream and the attribute.
func (s *Store) Get(ctx context.Context, stream string) (Config, error) {
	if stream == "" {
		return Config{}, errors.New("get active-Region config: stream name is empty")
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]ddbtypes.AttributeValue{"streamName": &ddbtypes.AttributeValueMemberS{Value: stream}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Config{}, fmt.Errorf("get active-Region config of stream %s from %s: %w", stream, s.table, err)
	}
	if len(out.Item) == 0 {
		return Config{}, fmt.Errorf("get active-Region config of stream %s from %s: %w", stream, s.table, ErrNotFound)
	}
	cfg, err := decodeConfig(out.Item)
	if err != nil {
		return Config{}, fmt.Errorf("malformed active-Region config of stream %s in %s: %w", stream, s.table, err)
	}
	return cfg, nil
}

// List returns every config item of the table, sorted by StreamName. One
// malformed item fails the whole list: failover must not silently leave a
// stream out.
func (s *Store) List(ctx context.Context) ([]Config, error) {
	pages := dynamodb.NewScanPaginator(s.client, &dynamodb.ScanInput{
		TableName:      aws.String(s.table),
		ConsistentRead: aws.Bool(true),
	})
	var cfgs []Config
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan active-Region configs in %s: %w", s.table, err)
		}
		for _, item := range page.Items {
			cfg, err := decodeConfig(item)
			if err != nil {
				return nil, fmt.Errorf("malformed active-Region config of stream %s in %s: %w", streamNameOf(item), s.table, err)
			}
			cfgs = append(cfgs, cfg)
		}
	}
	slices.SortFunc(cfgs, func(a, b Config) int { return strings.Compare(a.StreamName, b.StreamName) })
	return cfgs, nil
}

func streamNameOf(item map[string]ddbtypes.AttributeValue) string {
	if name, ok := item["streamName"].(*ddbtypes.AttributeValueMemberS); ok {
		return name.Value
	}
	return "(no streamName)"
}

// Create writes cfg as a new item unless the stream already has one: a Region
// that was failed over to must stay active across redeploys, so an existing
// item is reported as (false, nil) and left as it is. An empty History is
// filled with the one entry cfg describes, and an Epoch of 0 becomes 1, so
// callers can pass just the stream, Region and time.
func (s *Store) Create(ctx context.Context, cfg Config) (created bool, err error) {
	if cfg.Epoch == 0 {
		cfg.Epoch = 1
	}
	if len(cfg.History) == 0 {
		cfg.History = []Epoch{{Region: cfg.ActiveRegion, Since: cfg.ActiveSince, Epoch: cfg.Epoch, Reason: cfg.Reason}}
	}
	if err := cfg.Validate(); err != nil {
		return false, fmt.Errorf("create active-Region config of stream %s: %w", cfg.StreamName, err)
	}
	item, err := encodeConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("create active-Region config of stream %s: %w", cfg.StreamName, err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(streamName)"),
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create active-Region config of stream %s in %s: %w", cfg.StreamName, s.table, err)
	}
	return true, nil
}

// Switch describes one change of the active Region.
type Switch struct {
	// To is the Region to activate.
	To string
	// At becomes activeSince and the new history entry's since (stored in UTC).
	At time.Time
	// ExpectedEpoch, when set, fences the switch: if the item is at another
	// epoch, Switch returns ErrStaleEpoch and writes nothing.
	ExpectedEpoch *int64
	// Reason, RequestID and RequestedBy go into the new history entry;
	// Reason and UpdatedBy also into the item's top-level attributes.
	Reason, RequestID, RequestedBy, UpdatedBy string
	// ResumeFrom goes into the new history entry: the resume point the
	// failover computed for this switch (nil when it has none).
	ResumeFrom *time.Time
	// HistoryLimit is how many history entries to keep, oldest dropped first;
	// 0 means DefaultHistoryLimit.
	HistoryLimit int
}

// Switch makes sw.To the active Region of stream from sw.At on: epoch + 1 and
// a new history entry. It reads the item (consistently), checks the fence and
// writes on condition that the epoch is still the one it read, so of two
// concurrent switches from the same epoch exactly one wins and the other gets
// ErrConflict with nothing written.
//
// Switching to the Region already active writes nothing and returns the item
// unchanged with a nil error; callers that need to tell the cases apart
// compare cfg.ActiveRegion before calling (the failover report says
// "already active" that way).
func (s *Store) Switch(ctx context.Context, stream string, sw Switch) (Config, error) {
	if sw.To == "" {
		return Config{}, fmt.Errorf("switch stream %s: target Region is empty", stream)
	}
	if sw.At.IsZero() {
		return Config{}, fmt.Errorf("switch stream %s to %s: switch time is missing", stream, sw.To)
	}
	if sw.HistoryLimit < 0 {
		return Config{}, fmt.Errorf("switch stream %s to %s: history limit %d is negative", stream, sw.To, sw.HistoryLimit)
	}
	limit := sw.HistoryLimit
	if limit == 0 {
		limit = DefaultHistoryLimit
	}

	cur, err := s.Get(ctx, stream)
	if err != nil {
		return Config{}, fmt.Errorf("switch stream %s to %s: %w", stream, sw.To, err)
	}
	if sw.ExpectedEpoch != nil && *sw.ExpectedEpoch != cur.Epoch {
		return Config{}, fmt.Errorf("switch stream %s to %s: item is at epoch %d, caller expected %d: %w",
			stream, sw.To, cur.Epoch, *sw.ExpectedEpoch, ErrStaleEpoch)
	}
	if cur.ActiveRegion == sw.To {
		return cur, nil
	}
	at := sw.At.UTC()
	if at.Before(cur.ActiveSince) {
		return Config{}, fmt.Errorf("switch stream %s to %s: switch time %s is before the current epoch's start %s",
			stream, sw.To, at.Format(time.RFC3339Nano), cur.ActiveSince.Format(time.RFC3339Nano))
	}

	next := cur
	next.ActiveRegion = sw.To
	next.ActiveSince = at
	next.Epoch = cur.Epoch + 1
	next.UpdatedBy = sw.UpdatedBy
	next.Reason = sw.Reason
	history := append(slices.Clone(cur.History), Epoch{
		Region:      sw.To,
		Since:       at,
		Epoch:       next.Epoch,
		Reason:      sw.Reason,
		RequestID:   sw.RequestID,
		RequestedBy: sw.RequestedBy,
		ResumeFrom:  utcOrNil(sw.ResumeFrom),
	})
	if len(history) > limit {
		history = history[len(history)-limit:]
	}
	next.History = history

	item, err := encodeConfig(next)
	if err != nil {
		return Config{}, fmt.Errorf("switch stream %s to %s: %w", stream, sw.To, err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("epoch = :read"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":read": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(cur.Epoch, 10)}},
	})
	if isConditionFailed(err) {
		return Config{}, fmt.Errorf("switch stream %s to %s from epoch %d: %w", stream, sw.To, cur.Epoch, ErrConflict)
	}
	if err != nil {
		return Config{}, fmt.Errorf("switch stream %s to %s: put item in %s: %w", stream, sw.To, s.table, err)
	}
	return next, nil
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func isConditionFailed(err error) bool {
	var ccf *ddbtypes.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
