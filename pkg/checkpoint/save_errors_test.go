package checkpoint

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

type failingPut struct {
	DynamoDBAPI
	err error
}

func (f failingPut) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, f.err
}

// Only a lost condition is a result; every other failure must reach the
// caller, or a checkpoint that was never written would look merely behind.
func TestSaveTellsALostConditionFromAFailure(t *testing.T) {
	throttled := &ddbtypes.ProvisionedThroughputExceededException{Message: new("slow down")}
	tests := []struct {
		name         string
		err          error
		wantAdvanced bool
		wantErr      error
	}{
		{"lost condition", &ddbtypes.ConditionalCheckFailedException{}, false, nil},
		{"throttled", throttled, false, throttled},
		{"cancelled", context.Canceled, false, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			advanced, err := NewStore(failingPut{err: tt.err}, "cp").Save(context.Background(), fixture(t))
			if advanced != tt.wantAdvanced || !errors.Is(err, tt.wantErr) {
				t.Fatalf("got (%t, %v), want (%t, %v)", advanced, err, tt.wantAdvanced, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "stream orders shard shardId-000000000000") {
				t.Errorf("got %q, want it to name the stream and shard", err)
			}
		})
	}
}
