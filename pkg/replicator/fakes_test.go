package replicator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
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

// fakeDynamoDB holds items per table and key; it does not evaluate
// conditions (the integration tests do that on the emulator).
type fakeDynamoDB struct {
	mu      sync.Mutex
	items   map[string]map[string]map[string]ddbtypes.AttributeValue // table → key → item
	getErr  error
	gets    int
	putErrs int
}

func newFakeDynamoDB() *fakeDynamoDB {
	return &fakeDynamoDB{items: make(map[string]map[string]map[string]ddbtypes.AttributeValue)}
}

func itemKey(item map[string]ddbtypes.AttributeValue) string {
	var k string
	for _, name := range []string{"streamName", "shardId"} {
		if v, ok := item[name].(*ddbtypes.AttributeValueMemberS); ok {
			k += v.Value + "|"
		}
	}
	return k
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
	f.items[table][itemKey(item)] = item
}

func (f *fakeDynamoDB) checkpoints(table string) map[string]checkpoint.Checkpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]checkpoint.Checkpoint)
	for _, item := range f.items[table] {
		var cp checkpoint.Checkpoint
		if err := attributevalue.UnmarshalMap(item, &cp); err != nil {
			panic(err)
		}
		out[cp.ShardID] = cp
	}
	return out
}

func (f *fakeDynamoDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.getErr != nil {
		return nil, f.getErr
	}
	return &dynamodb.GetItemOutput{Item: f.items[aws.ToString(in.TableName)][itemKey(in.Key)]}, nil
}

func (f *fakeDynamoDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.putErrs > 0 {
		f.putErrs--
		return nil, errors.New("scripted PutItem failure")
	}
	table := aws.ToString(in.TableName)
	if f.items[table] == nil {
		f.items[table] = make(map[string]map[string]ddbtypes.AttributeValue)
	}
	f.items[table][itemKey(in.Item)] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeDynamoDB) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, fmt.Errorf("fake: UpdateItem (the drain mark) is tested on the emulator, in pkg/checkpoint and tests/e2e")
}

func (f *fakeDynamoDB) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, fmt.Errorf("fake: Query not used by the replicator")
}

func (f *fakeDynamoDB) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return nil, fmt.Errorf("fake: Scan not used by the replicator")
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
