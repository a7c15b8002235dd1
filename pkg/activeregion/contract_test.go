package activeregion_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion/activeregiontest"
)

// The same contract the in-memory double passes, on dynalite: the suite is
// what keeps the double honest.
func TestStoreOnDynaliteKeepsTheContract(t *testing.T) {
	activeregiontest.RunStoreContract(t, func(t *testing.T) activeregiontest.Backend {
		client, table := activeregion.NewConfigTable(t)
		hooked := &hookedClient{Client: client}
		return activeregiontest.Backend{
			Store: activeregion.NewStore(hooked, table),
			PutMalformed: func(t *testing.T, stream string) {
				t.Helper()
				s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
				item := map[string]ddbtypes.AttributeValue{
					"streamName": s(stream), "activeSince": s("2026-11-29T10:00:00Z"), "epoch": &ddbtypes.AttributeValueMemberN{Value: "1"},
					"history": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{&ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
						"region": s("us-east-1"), "since": s("2026-11-29T10:00:00Z"), "epoch": &ddbtypes.AttributeValueMemberN{Value: "1"},
					}}}},
				}
				if _, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
					t.Fatal(err)
				}
			},
			Raw: func(t *testing.T, stream string) any {
				t.Helper()
				return activeregion.RawItem(t, client, table, stream)
			},
			BeforeWrite: hooked.set,
		}
	})
}

// hookedClient runs a hook after every GetItem: Switch and RecordVisibility
// read with GetItem before their conditional PutItem, so the hook lands
// between the two.
type hookedClient struct {
	*dynamodb.Client
	mu   sync.Mutex
	hook func(stream string)
}

func (c *hookedClient) set(hook func(stream string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hook = hook
}

func (c *hookedClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := c.Client.GetItem(ctx, in, optFns...)
	c.mu.Lock()
	hook := c.hook
	c.mu.Unlock()
	if hook != nil {
		hook(in.Key["streamName"].(*ddbtypes.AttributeValueMemberS).Value)
	}
	return out, err
}
