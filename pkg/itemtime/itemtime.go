// Package itemtime stores times in DynamoDB items the way docs/reference.md (Tables) says:
// RFC 3339 strings in UTC, so that every writer, in any Region or time zone,
// produces the same string for the same instant, and readers get UTC back.
package itemtime

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Format is the stored form of t, for expressions that set a time outside
// the encoder.
func Format(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Encode is an attributevalue encoder option.
func Encode(o *attributevalue.EncoderOptions) {
	o.EncodeTime = func(t time.Time) (ddbtypes.AttributeValue, error) {
		return &ddbtypes.AttributeValueMemberS{Value: Format(t)}, nil
	}
}

// Decode is an attributevalue decoder option; a string that is not RFC 3339
// is an error that quotes it, and so is a number, which the SDK would
// otherwise read as Unix time.
func Decode(o *attributevalue.DecoderOptions) {
	o.DecodeTime.S = func(s string) (time.Time, error) {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q is not RFC 3339: %w", s, err)
		}
		return t.UTC(), nil
	}
	o.DecodeTime.N = func(s string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("time %s is a number, want an RFC 3339 string", s)
	}
}
