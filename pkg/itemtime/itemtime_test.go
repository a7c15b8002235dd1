package itemtime

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

type item struct {
	At time.Time `dynamodbav:"at"`
}

func TestTimesRoundTripAsUTCStrings(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	in := item{At: time.Date(2026, 11, 29, 18, 30, 0, 123000000, berlin)}
	av, err := attributevalue.MarshalMapWithOptions(in, Encode)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := av["at"].(*ddbtypes.AttributeValueMemberS)
	if !ok || s.Value != "2026-11-29T17:30:00.123Z" {
		t.Fatalf("got %#v, want the S value 2026-11-29T17:30:00.123Z", av["at"])
	}
	var out item
	if err := attributevalue.UnmarshalMapWithOptions(av, &out, Decode); err != nil {
		t.Fatal(err)
	}
	if !out.At.Equal(in.At) || out.At.Location() != time.UTC {
		t.Fatalf("got %v, want %v in UTC", out.At, in.At)
	}
}

func TestDecodeRefusesWhatIsNotAnRFC3339String(t *testing.T) {
	tests := []struct {
		name    string
		av      ddbtypes.AttributeValue
		wantErr string
	}{
		{"a string that is not a time", &ddbtypes.AttributeValueMemberS{Value: "yesterday"}, `"yesterday"`},
		{"a number", &ddbtypes.AttributeValueMemberN{Value: "1764419400"}, "want an RFC 3339 string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out item
			err := attributevalue.UnmarshalMapWithOptions(map[string]ddbtypes.AttributeValue{"at": tt.av}, &out, Decode)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %s", err, tt.wantErr)
			}
		})
	}
}
