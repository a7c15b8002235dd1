package activeregion

import (
	"cmp"
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
//
// Its method docs are the contract of the config table, for every
// implementation: consumers (failover.ConfigStore, Getter) refer to them, and
// activeregiontest.RunStoreContract checks it against this Store on dynalite
// and against the in-memory activeregiontest.Store.
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
//   - An empty stream name is an error, not ErrNotFound.
//   - A stream without an item is ErrNotFound, naming the stream.
//   - A malformed item (wrong attribute type, or failing Config.Validate) is
//     an error naming the stream and the attribute, never ErrNotFound: a
//     caller must not mistake it for a missing item.
//   - Times come back in UTC.
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

// List returns every config item of the table, sorted by StreamName, each as
// Get returns it; an empty table is no configs and no error. One malformed
// item fails the whole list, naming its stream: failover must not silently
// leave a stream out.
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

// Create writes cfg as a new item unless the stream already has one.
//   - An existing item, even a malformed one, is (false, nil) and left as it
//     is: a Region that was failed over to must stay active across
//     redeploys.
//   - An empty History is filled with the one entry cfg describes, and an
//     Epoch of 0 becomes 1, so callers can pass just the stream, Region and
//     time.
//   - A cfg that fails Config.Validate (after that filling) is an error and
//     writes nothing.
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
	// At becomes activeSince and the new history entry's since (stored in
	// UTC). It must be a time by which the write is readable (see
	// Timing.Since); it may lie in the future.
	At time.Time
	// Mode is what the switch does with the closed epoch's backlog; empty
	// is ModeRewind.
	Mode Mode
	// ExpectedEpoch, when set, fences the switch: if the item is at another
	// epoch, Switch returns ErrStaleEpoch and writes nothing.
	ExpectedEpoch *int64
	// Reason, RequestID and RequestedBy go into the new history entry;
	// Reason and UpdatedBy also into the item's top-level attributes.
	Reason, RequestID, RequestedBy, UpdatedBy string
	// ResumeFrom goes into the new history entry: the resume point the
	// failover computed for this switch (nil when it has none).
	ResumeFrom *time.Time
	// HistoryRetention is how long an ended epoch is kept; 0 means
	// DefaultHistoryRetention. HistoryLimit caps the entries kept, oldest
	// dropped first; 0 means DefaultHistoryLimit.
	HistoryRetention time.Duration
	HistoryLimit     int
}

// Switch makes sw.To the active Region of stream from sw.At on: epoch + 1 and
// a new history entry (sw.Mode, empty meaning ModeRewind; sw.ResumeFrom in
// UTC), history pruned by sw.HistoryRetention and sw.HistoryLimit. It reads
// the item (consistently), checks the fence and writes on condition that the
// epoch is still the one it read. Epochs never go backwards.
//   - Fence: with sw.ExpectedEpoch set and the item at another epoch, it is
//     ErrStaleEpoch and nothing is written, even to the active Region.
//   - Conflict: when the item changed between the read and the write (of two
//     concurrent switches from one epoch exactly one wins), it is
//     ErrConflict and nothing is written.
//   - Switching to the Region already active writes nothing and returns the
//     item unchanged with a nil error; callers that need to tell the cases
//     apart compare cfg.ActiveRegion before calling (the failover report
//     says "already active" that way).
//   - An empty sw.To, a zero sw.At, a sw.At before the current epoch's
//     start, a negative history bound or an unknown mode is an error and
//     writes nothing; a stream without an item is ErrNotFound; a malformed
//     item is Get's error.
//
// Every error names the stream and returns the zero Config.
func (s *Store) Switch(ctx context.Context, stream string, sw Switch) (Config, error) {
	if sw.To == "" {
		return Config{}, fmt.Errorf("switch stream %s: target Region is empty", stream)
	}
	if sw.At.IsZero() {
		return Config{}, fmt.Errorf("switch stream %s to %s: switch time is missing", stream, sw.To)
	}
	if sw.HistoryLimit < 0 || sw.HistoryRetention < 0 {
		return Config{}, fmt.Errorf("switch stream %s to %s: history limit %d or retention %v is negative", stream, sw.To, sw.HistoryLimit, sw.HistoryRetention)
	}
	mode, err := ParseMode(string(sw.Mode))
	if err != nil {
		return Config{}, fmt.Errorf("switch stream %s to %s: %w", stream, sw.To, err)
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
		Mode:        mode,
	})
	next.History = PruneHistory(history, at, cmp.Or(sw.HistoryRetention, DefaultHistoryRetention), cmp.Or(sw.HistoryLimit, DefaultHistoryLimit))
	if err := s.putAtEpoch(ctx, next, cur.Epoch); err != nil {
		return Config{}, fmt.Errorf("switch stream %s to %s from epoch %d: %w", stream, sw.To, cur.Epoch, err)
	}
	return next, nil
}

// PruneHistory drops the entries of epochs that ended more than retention
// before now (no stream still holds records of them), then the oldest
// beyond limit. The current epoch always stays.
func PruneHistory(h []Epoch, now time.Time, retention time.Duration, limit int) []Epoch {
	cutoff := now.Add(-retention)
	first := 0
	for first < len(h)-1 && h[first+1].Since.Before(cutoff) {
		first++
	}
	h = h[first:]
	if limit > 0 && len(h) > limit {
		h = h[len(h)-limit:]
	}
	return h
}

// Visibility is what a failover records on the entry of its switch once the
// write is acknowledged.
type Visibility struct {
	// Epoch and RequestID name the entry: the current epoch, written by
	// that request.
	Epoch     int64
	RequestID string
	VisibleBy time.Time
	SettledAt time.Time
	// ResumeFrom is the resume point the failover computed and verified
	// for the switch (nil when it has none or withheld it).
	ResumeFrom *time.Time
}

// RecordVisibility sets VisibleBy, SettledAt and ResumeFrom (replacing the
// entry's, in UTC) on the current history entry if it is still the one v
// names: epoch v.Epoch, written by request v.RequestID. The write is
// conditional on the epoch read.
//   - (true, nil): recorded.
//   - (false, nil): the condition lost, nothing written: the current entry
//     is another epoch's or another request's, or a switch landed between
//     the read and the write. Nothing of that entry is left to record.
//   - A stream without an item is ErrNotFound; a malformed item is Get's
//     error.
func (s *Store) RecordVisibility(ctx context.Context, stream string, v Visibility) (bool, error) {
	cur, err := s.Get(ctx, stream)
	if err != nil {
		return false, fmt.Errorf("record visibility of stream %s epoch %d: %w", stream, v.Epoch, err)
	}
	last := &cur.History[len(cur.History)-1]
	if cur.Epoch != v.Epoch || last.RequestID != v.RequestID {
		return false, nil
	}
	visible, settled := v.VisibleBy.UTC(), v.SettledAt.UTC()
	last.VisibleBy, last.SettledAt, last.ResumeFrom = &visible, &settled, utcOrNil(v.ResumeFrom)
	err = s.putAtEpoch(ctx, cur, cur.Epoch)
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record visibility of stream %s epoch %d: %w", stream, v.Epoch, err)
	}
	return true, nil
}

// putAtEpoch writes cfg on condition that the stored item is at epoch
// read; a lost condition is ErrConflict.
func (s *Store) putAtEpoch(ctx context.Context, cfg Config, read int64) error {
	item, err := encodeConfig(cfg)
	if err != nil {
		return err
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("epoch = :read"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":read": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(read, 10)}},
	})
	if isConditionFailed(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("put item in %s: %w", s.table, err)
	}
	return nil
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
