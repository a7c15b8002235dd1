package activeregion

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// The emulators start on the first integration test that needs them, so the
// unit tests run without them; a missing emulator fails that test.
var emulators = localaws.Shared{}

func TestMain(m *testing.M) {
	code := m.Run()
	emulators.Close()
	os.Exit(code)
}

// newConfigTable creates a config table of its own for the test on dynalite.
func newConfigTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client, _, table := emulators.Tables(t)
	return client, table
}

// readItemFixture reads a raw item in DynamoDB JSON ({"attr":{"S":"…"}}), the
// form the AWS CLI prints, from testdata.
func readItemFixture(t *testing.T, path string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	item, err := decodeDynamoJSONMap(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return item
}

func decodeDynamoJSONMap(raw map[string]json.RawMessage) (map[string]ddbtypes.AttributeValue, error) {
	item := make(map[string]ddbtypes.AttributeValue, len(raw))
	for name, value := range raw {
		av, err := decodeDynamoJSON(value)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		item[name] = av
	}
	return item, nil
}

func decodeDynamoJSON(value json.RawMessage) (ddbtypes.AttributeValue, error) {
	var typed map[string]json.RawMessage
	if err := json.Unmarshal(value, &typed); err != nil {
		return nil, err
	}
	if len(typed) == 1 {
		for typ, v := range typed {
			return decodeTyped(typ, v)
		}
	}
	return nil, fmt.Errorf("got %d type keys, want 1", len(typed))
}

func decodeTyped(typ string, v json.RawMessage) (ddbtypes.AttributeValue, error) {
	switch typ {
	case "S", "N":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		if typ == "S" {
			return &ddbtypes.AttributeValueMemberS{Value: s}, nil
		}
		return &ddbtypes.AttributeValueMemberN{Value: s}, nil
	case "L":
		var raws []json.RawMessage
		if err := json.Unmarshal(v, &raws); err != nil {
			return nil, err
		}
		list := make([]ddbtypes.AttributeValue, len(raws))
		for i, r := range raws {
			av, err := decodeDynamoJSON(r)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			list[i] = av
		}
		return &ddbtypes.AttributeValueMemberL{Value: list}, nil
	case "M":
		var raws map[string]json.RawMessage
		if err := json.Unmarshal(v, &raws); err != nil {
			return nil, err
		}
		m, err := decodeDynamoJSONMap(raws)
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberM{Value: m}, nil
	default:
		return nil, fmt.Errorf("type %s is not used in these fixtures", typ)
	}
}
