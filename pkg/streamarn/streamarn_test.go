package streamarn

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseAcceptsStreamAndConsumerARNs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ARN
	}{
		{
			name: "stream ARN",
			in:   "arn:aws:kinesis:us-east-1:123456789012:stream/orders",
			want: ARN{Partition: "aws", Region: "us-east-1", Account: "123456789012", Stream: "orders"},
		},
		{
			name: "EFO consumer ARN",
			in:   "arn:aws:kinesis:us-east-1:123456789012:stream/orders/consumer/crr-efo:1657000000",
			want: ARN{Partition: "aws", Region: "us-east-1", Account: "123456789012", Stream: "orders", Consumer: "crr-efo", ConsumerCreated: 1657000000},
		},
		{
			name: "China partition",
			in:   "arn:aws-cn:kinesis:cn-north-1:123456789012:stream/s1",
			want: ARN{Partition: "aws-cn", Region: "cn-north-1", Account: "123456789012", Stream: "s1"},
		},
		{
			name: "GovCloud partition with consumer",
			in:   "arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:stream/s1/consumer/c:1",
			want: ARN{Partition: "aws-us-gov", Region: "us-gov-west-1", Account: "123456789012", Stream: "s1", Consumer: "c", ConsumerCreated: 1},
		},
		{
			name: "ISO-B partition",
			in:   "arn:aws-iso-b:kinesis:us-isob-east-1:123456789012:stream/s1",
			want: ARN{Partition: "aws-iso-b", Region: "us-isob-east-1", Account: "123456789012", Stream: "s1"},
		},
		{
			name: "all allowed name characters",
			in:   "arn:aws:kinesis:eu-west-1:123456789012:stream/A-z_0.9",
			want: ARN{Partition: "aws", Region: "eu-west-1", Account: "123456789012", Stream: "A-z_0.9"},
		},
		{
			name: "longest stream name",
			in:   "arn:aws:kinesis:eu-west-1:123456789012:stream/" + strings.Repeat("x", 128),
			want: ARN{Partition: "aws", Region: "eu-west-1", Account: "123456789012", Stream: strings.Repeat("x", 128)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): got error %v, want %+v", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("Parse(%q): got %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("String(): got %q, want %q", s, tt.in)
			}
		})
	}
}

func TestParseRejectsMalformedARNsQuotingTheInput(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"empty", "", "want 6 colon-separated fields"},
		{"not an ARN", "orders", "want 6 colon-separated fields"},
		{"too few fields", "arn:aws:kinesis:us-east-1:stream/orders", "want 6 colon-separated fields"},
		{"wrong prefix", "urn:aws:kinesis:us-east-1:123456789012:stream/orders", "does not start with"},
		{"empty partition", "arn::kinesis:us-east-1:123456789012:stream/orders", "invalid partition"},
		{"foreign partition", "arn:gcp:kinesis:us-east-1:123456789012:stream/orders", "invalid partition"},
		{"other service", "arn:aws:dynamodb:us-east-1:123456789012:table/orders", "service is \"dynamodb\""},
		{"empty Region", "arn:aws:kinesis::123456789012:stream/orders", "invalid Region"},
		{"upper-case Region", "arn:aws:kinesis:US-EAST-1:123456789012:stream/orders", "invalid Region"},
		{"short account", "arn:aws:kinesis:us-east-1:12345:stream/orders", "invalid account"},
		{"account with letters", "arn:aws:kinesis:us-east-1:12345678901a:stream/orders", "invalid account"},
		{"not a stream resource", "arn:aws:kinesis:us-east-1:123456789012:table/orders", "is not a stream"},
		{"empty stream name", "arn:aws:kinesis:us-east-1:123456789012:stream/", "invalid stream name"},
		{"stream name too long", "arn:aws:kinesis:us-east-1:123456789012:stream/" + strings.Repeat("x", 129), "invalid stream name"},
		{"stream name with space", "arn:aws:kinesis:us-east-1:123456789012:stream/my stream", "invalid stream name"},
		{"stream name with slash", "arn:aws:kinesis:us-east-1:123456789012:stream/a/b", "invalid stream name"},
		{"stream name with colon", "arn:aws:kinesis:us-east-1:123456789012:stream/a:b", "invalid stream name"},
		{"consumer without creation time", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c", "lacks its"},
		{"consumer with empty creation time", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:", "not decimal epoch seconds"},
		{"consumer with signed creation time", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:-1", "not decimal epoch seconds"},
		{"consumer creation time overflows", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:99999999999999999999", "out of range"},
		{"empty consumer name", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/:1", "invalid consumer name"},
		{"consumer name with slash", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/a/b:1", "invalid consumer name"},
		{"trailing colon on consumer time", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1:2", "not decimal epoch seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q): got %+v, want an error containing %q", tt.in, got, tt.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("Parse(%q): got error %q, want it to contain %q", tt.in, msg, tt.wantErr)
			}
			if !strings.Contains(msg, strconv.Quote(tt.in)) {
				t.Errorf("Parse(%q): got error %q, want it to quote the input", tt.in, msg)
			}
		})
	}
}

func TestStreamARNDropsTheConsumer(t *testing.T) {
	a, err := Parse("arn:aws:kinesis:us-east-1:123456789012:stream/orders/consumer/crr:1657000000")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.StreamARN(), "arn:aws:kinesis:us-east-1:123456789012:stream/orders"; got != want {
		t.Errorf("StreamARN(): got %q, want %q", got, want)
	}
}

func TestInRegionKeepsStreamAndAccountAndDropsConsumer(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		region string
		want   string
	}{
		{"stream ARN", "arn:aws:kinesis:us-east-1:123456789012:stream/orders", "us-east-2", "arn:aws:kinesis:us-east-2:123456789012:stream/orders"},
		{"consumer ARN", "arn:aws:kinesis:us-east-1:123456789012:stream/orders/consumer/crr:1657000000", "eu-west-1", "arn:aws:kinesis:eu-west-1:123456789012:stream/orders"},
		{"partition kept", "arn:aws-cn:kinesis:cn-north-1:123456789012:stream/s", "cn-northwest-1", "arn:aws-cn:kinesis:cn-northwest-1:123456789012:stream/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := a.InRegion(tt.region)
			if got.String() != tt.want {
				t.Errorf("InRegion(%q): got %q, want %q", tt.region, got.String(), tt.want)
			}
			if got.Consumer != "" || got.ConsumerCreated != 0 {
				t.Errorf("InRegion(%q): got consumer %q:%d, want none", tt.region, got.Consumer, got.ConsumerCreated)
			}
		})
	}
}

func TestValidateStreamName(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		valid  bool
	}{
		{"simple", "orders", true},
		{"one character", "a", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"punctuation allowed", "a.b-c_d", true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("a", 129), false},
		{"space", "a b", false},
		{"non-ASCII letter", "ordérs", false},
		{"equals sign", "a=b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateStreamName(tt.stream)
			if got := err == nil; got != tt.valid {
				t.Errorf("ValidateStreamName(%q): got error %v, want valid=%v", tt.stream, err, tt.valid)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"arn:aws:kinesis:us-east-1:123456789012:stream/orders",
		"arn:aws:kinesis:us-east-1:123456789012:stream/orders/consumer/crr-efo:1657000000",
		"arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:stream/s1/consumer/c:1",
		"arn:aws:kinesis:us-east-1:123456789012:stream/a/consumer/b/consumer/c:1",
		"arn:aws:kinesis:us-east-1:123456789012:stream/",
		"arn:::::",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("Parse(%q): error %q does not quote the input", s, err)
			}
			return
		}
		if again, err := Parse(a.String()); err != nil || again != a {
			t.Errorf("Parse(String() = %q): got %+v, %v, want %+v", a.String(), again, err, a)
		}
		b, err := Parse(a.StreamARN())
		if err != nil {
			t.Fatalf("Parse(StreamARN() = %q): got error %v, want success", a.StreamARN(), err)
		}
		if b.Stream != a.Stream || b.Region != a.Region || b.Account != a.Account || b.Partition != a.Partition {
			t.Errorf("Parse(StreamARN()): got %+v, want stream, Region, account and partition of %+v", b, a)
		}
		if b.Consumer != "" || b.ConsumerCreated != 0 {
			t.Errorf("Parse(StreamARN()): got consumer %q:%d, want none", b.Consumer, b.ConsumerCreated)
		}
	})
}
