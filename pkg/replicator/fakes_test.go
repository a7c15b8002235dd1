package replicator

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint/checkpointtest"
)

// fakeTarget is the target Region's Kinesis at the SDK-interface level. Each
// PutRecords entry succeeds unless fail says otherwise for its partition key
// and data.
type fakeTarget struct {
	mu         sync.Mutex
	calls      [][]string // partition keys per request
	written    []kintypes.PutRecordsRequestEntry
	fail       func(entry kintypes.PutRecordsRequestEntry) string // error code or ""
	requestErr error
	maxKiB     *int32
	describes  int
	nextSeq    int
}

func (f *fakeTarget) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, len(in.Records))
	for i, r := range in.Records {
		keys[i] = aws.ToString(r.PartitionKey)
	}
	f.calls = append(f.calls, keys)
	if f.requestErr != nil {
		return nil, f.requestErr
	}
	out := &kinesis.PutRecordsOutput{Records: make([]kintypes.PutRecordsResultEntry, len(in.Records))}
	for i, r := range in.Records {
		if f.fail != nil {
			if code := f.fail(r); code != "" {
				out.Records[i] = kintypes.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("scripted")}
				out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
				continue
			}
		}
		f.nextSeq++
		f.written = append(f.written, r)
		out.Records[i] = kintypes.PutRecordsResultEntry{
			ShardId:        aws.String("shardId-000000000001"),
			SequenceNumber: aws.String(strconv.Itoa(1000000 + f.nextSeq)),
		}
	}
	return out, nil
}

// ListShards fails: the handler's tests are not about pacing (pkg/putrecords
// tests it), so their writes go out unpaced.
func (f *fakeTarget) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return nil, errors.New("the fake target lists no shards")
}

func (f *fakeTarget) DescribeStreamSummary(_ context.Context, in *kinesis.DescribeStreamSummaryInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describes++
	return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &kintypes.StreamDescriptionSummary{
		StreamName:         in.StreamName,
		MaxRecordSizeInKiB: f.maxKiB,
	}}, nil
}

func (f *fakeTarget) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// fakeDynamoDB is the config table at the SDK-interface level, read through
// the real activeregion.Store and its decoder. The replicator only reads it
// (GetItem); its checkpoints go to the shared checkpoint double instead (see
// harness.useDoubles), so any other call panics on the nil embedded
// interface.
type fakeDynamoDB struct {
	DynamoDBAPI
	mu     sync.Mutex
	items  map[string]map[string]map[string]ddbtypes.AttributeValue // table → stream → item
	getErr error
	gets   int
}

func newFakeDynamoDB() *fakeDynamoDB {
	return &fakeDynamoDB{items: make(map[string]map[string]map[string]ddbtypes.AttributeValue)}
}

func streamOf(item map[string]ddbtypes.AttributeValue) string {
	v, _ := item["streamName"].(*ddbtypes.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

func (f *fakeDynamoDB) put(table string, v any) {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		panic(err) // test set-up only
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.items[table] == nil {
		f.items[table] = make(map[string]map[string]ddbtypes.AttributeValue)
	}
	f.items[table][streamOf(item)] = item
}

func (f *fakeDynamoDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.getErr != nil {
		return nil, f.getErr
	}
	return &dynamodb.GetItemOutput{Item: f.items[aws.ToString(in.TableName)][streamOf(in.Key)]}, nil
}

// checkpoints is the shared checkpoint double (its conditions are checked
// against the real store by checkpointtest.RunStoreContract), with scripted
// Save failures; like a DynamoDB call, a Save or Get under a done context
// fails.
type checkpoints struct {
	*checkpointtest.Store
	mu sync.Mutex
	// saveErrs fails this many Saves before they reach the store.
	saveErrs int
	gets     int
}

func (c *checkpoints) Get(ctx context.Context, stream, region, shard string) (checkpoint.Checkpoint, bool, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return checkpoint.Checkpoint{}, false, err
	}
	return c.Store.Get(ctx, stream, region, shard)
}

func (c *checkpoints) Save(ctx context.Context, cp checkpoint.Checkpoint) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c.mu.Lock()
	fail := c.saveErrs > 0
	if fail {
		c.saveErrs--
	}
	c.mu.Unlock()
	if fail {
		return false, errors.New("scripted Save failure")
	}
	return c.Store.Save(ctx, cp)
}

// byShard is the source Region's checkpoints of the test stream by shard.
func (c *checkpoints) byShard(t testing.TB) map[string]checkpoint.Checkpoint {
	t.Helper()
	cps, err := c.Load(context.Background(), testStream, sourceRegion)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]checkpoint.Checkpoint, len(cps))
	for _, cp := range cps {
		out[cp.ShardID] = cp
	}
	return out
}

// activeConfig is a config item with one epoch per (region, since) pair.
func activeConfig(stream string, epochs ...activeregion.Epoch) activeregion.Config {
	for i := range epochs {
		epochs[i].Epoch = int64(i + 1)
	}
	last := epochs[len(epochs)-1]
	return activeregion.Config{
		StreamName:   stream,
		ActiveRegion: last.Region,
		ActiveSince:  last.Since,
		Epoch:        last.Epoch,
		History:      epochs,
		UpdatedBy:    "test",
	}
}
