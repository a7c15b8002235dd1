package activeregion

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// pagedScan serves Scan pages in order, each pointing to the next with a
// LastEvaluatedKey, as DynamoDB does past 1 MB; GetItem and PutItem are not
// used by List.
type pagedScan struct {
	DynamoDBAPI
	pages      [][]map[string]ddbtypes.AttributeValue
	failOnPage int // 1-based; 0 never fails
	startKeys  []map[string]ddbtypes.AttributeValue
}

func (p *pagedScan) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	p.startKeys = append(p.startKeys, in.ExclusiveStartKey)
	n := len(p.startKeys)
	if n == p.failOnPage {
		return nil, errors.New("InternalServerError")
	}
	out := &dynamodb.ScanOutput{Items: p.pages[n-1]}
	if n < len(p.pages) {
		out.LastEvaluatedKey = map[string]ddbtypes.AttributeValue{"streamName": &ddbtypes.AttributeValueMemberS{Value: streamNameOf(p.pages[n-1][len(p.pages[n-1])-1])}}
	}
	return out, nil
}

func configItem(t *testing.T, stream string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	item, err := encodeConfig(Config{StreamName: stream, ActiveRegion: east1, ActiveSince: t0, Epoch: 1, History: []Epoch{{Region: east1, Since: t0, Epoch: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	return item
}

func TestListFollowsEveryPage(t *testing.T) {
	scan := &pagedScan{pages: [][]map[string]ddbtypes.AttributeValue{
		{configItem(t, "zeta"), configItem(t, "alpha")},
		{configItem(t, "mid")},
		{configItem(t, "beta")},
	}}
	cfgs, err := NewStore(scan, "cfg").List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cfg := range cfgs {
		names = append(names, cfg.StreamName)
	}
	if want := []string{"alpha", "beta", "mid", "zeta"}; !reflect.DeepEqual(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
	if len(scan.startKeys) != 3 || scan.startKeys[0] != nil || streamNameOf(scan.startKeys[2]) != "mid" {
		t.Errorf("got scans from %v, want 3 scans, the first from the start and the last from mid", scan.startKeys)
	}
}

func TestListFailsWhenAPageFails(t *testing.T) {
	scan := &pagedScan{pages: [][]map[string]ddbtypes.AttributeValue{{configItem(t, "a")}, {configItem(t, "b")}}, failOnPage: 2}
	cfgs, err := NewStore(scan, "cfg").List(context.Background())
	if err == nil || !strings.Contains(err.Error(), "scan active-Region configs in cfg") {
		t.Fatalf("got (%v, %v), want a scan error naming the table", cfgs, err)
	}
}
