package activeregion

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// itemThenFailingPut serves one stored item and fails every write with err.
type itemThenFailingPut struct {
	DynamoDBAPI
	item map[string]ddbtypes.AttributeValue
	err  error
}

func (f itemThenFailingPut) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: f.item}, nil
}

func (f itemThenFailingPut) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, f.err
}

// Only a lost condition has a meaning of its own (exists, or conflict);
// every other failure must reach the caller as what it is.
func TestWritesTellALostConditionFromAFailure(t *testing.T) {
	throttled := &ddbtypes.ProvisionedThroughputExceededException{Message: new("slow down")}
	lost := &ddbtypes.ConditionalCheckFailedException{}
	tests := []struct {
		name          string
		err           error
		wantCreated   bool
		wantCreateErr error
		wantSwitchErr error
	}{
		{"lost condition", lost, false, nil, ErrConflict},
		{"throttled", throttled, false, throttled, throttled},
		{"cancelled", context.Canceled, false, context.Canceled, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := NewStore(itemThenFailingPut{item: configItem(t, "orders"), err: tt.err}, "cfg")
			created, err := store.Create(context.Background(), Config{StreamName: "orders", ActiveRegion: east1, ActiveSince: t0})
			if created != tt.wantCreated || !errors.Is(err, tt.wantCreateErr) {
				t.Errorf("create: got (%t, %v), want (%t, %v)", created, err, tt.wantCreated, tt.wantCreateErr)
			}
			cfg, err := store.Switch(context.Background(), "orders", Switch{To: east2, At: at(1)})
			if !errors.Is(err, tt.wantSwitchErr) || cfg.StreamName != "" || !strings.Contains(err.Error(), "stream orders") {
				t.Errorf("switch: got (%+v, %v), want (zero, %v naming the stream)", cfg, err, tt.wantSwitchErr)
			}
		})
	}
}
