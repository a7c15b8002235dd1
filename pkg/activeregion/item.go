package activeregion

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/itemtime"
)

// attrType names a DynamoDB attribute type as the API spells it.
type attrType string

const (
	typeS attrType = "S"
	typeN attrType = "N"
	typeL attrType = "L"
	typeM attrType = "M"
)

type attrSpec struct {
	name     string
	typ      attrType
	optional bool
}

// The decoder alone would accept an N where an S belongs (and read a number as
// Unix seconds into a time), so the schema of docs/reference.md (Tables) is checked first.
var (
	configSchema = []attrSpec{
		{name: "streamName", typ: typeS},
		{name: "activeRegion", typ: typeS},
		{name: "activeSince", typ: typeS},
		{name: "epoch", typ: typeN},
		{name: "history", typ: typeL},
		{name: "updatedBy", typ: typeS, optional: true},
		{name: "reason", typ: typeS, optional: true},
	}
	historySchema = []attrSpec{
		{name: "region", typ: typeS},
		{name: "since", typ: typeS},
		{name: "epoch", typ: typeN},
		{name: "reason", typ: typeS, optional: true},
		{name: "requestId", typ: typeS, optional: true},
		{name: "requestedBy", typ: typeS, optional: true},
		{name: "resumeFrom", typ: typeS, optional: true},
		{name: "mode", typ: typeS, optional: true},
		{name: "visibleBy", typ: typeS, optional: true},
		{name: "settledAt", typ: typeS, optional: true},
	}
)

func typeOf(av ddbtypes.AttributeValue) attrType {
	switch av.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return typeS
	case *ddbtypes.AttributeValueMemberN:
		return typeN
	case *ddbtypes.AttributeValueMemberL:
		return typeL
	case *ddbtypes.AttributeValueMemberM:
		return typeM
	case *ddbtypes.AttributeValueMemberBOOL:
		return "BOOL"
	case *ddbtypes.AttributeValueMemberNULL:
		return "NULL"
	case *ddbtypes.AttributeValueMemberB:
		return "B"
	case *ddbtypes.AttributeValueMemberSS:
		return "SS"
	case *ddbtypes.AttributeValueMemberNS:
		return "NS"
	case *ddbtypes.AttributeValueMemberBS:
		return "BS"
	default:
		return "unknown"
	}
}

func checkSchema(item map[string]ddbtypes.AttributeValue, schema []attrSpec, prefix string) error {
	for _, spec := range schema {
		av, ok := item[spec.name]
		if !ok {
			if spec.optional {
				continue
			}
			return fmt.Errorf("attribute %s%s is missing", prefix, spec.name)
		}
		if got := typeOf(av); got != spec.typ {
			return fmt.Errorf("attribute %s%s has type %s, want %s", prefix, spec.name, got, spec.typ)
		}
	}
	return nil
}

// decodeConfig turns a raw item into a validated Config; errors name the
// attribute but not the stream, which the caller adds.
func decodeConfig(item map[string]ddbtypes.AttributeValue) (Config, error) {
	if err := checkSchema(item, configSchema, ""); err != nil {
		return Config{}, err
	}
	for i, entry := range item["history"].(*ddbtypes.AttributeValueMemberL).Value {
		m, ok := entry.(*ddbtypes.AttributeValueMemberM)
		if !ok {
			return Config{}, fmt.Errorf("attribute history[%d] has type %s, want M", i, typeOf(entry))
		}
		if err := checkSchema(m.Value, historySchema, fmt.Sprintf("history[%d].", i)); err != nil {
			return Config{}, err
		}
	}
	var cfg Config
	if err := attributevalue.UnmarshalMapWithOptions(item, &cfg, itemtime.Decode); err != nil {
		return Config{}, fmt.Errorf("decode item: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func encodeConfig(cfg Config) (map[string]ddbtypes.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(cfg, itemtime.Encode)
	if err != nil {
		return nil, fmt.Errorf("encode item: %w", err)
	}
	return item, nil
}
