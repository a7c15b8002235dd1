package metricstest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
)

const validLine = `{"_aws":{"Timestamp":1658174400123,"CloudWatchMetrics":[{"Namespace":"NS","Dimensions":[["StreamName"]],"Metrics":[{"Name":"A","Unit":"Count"},{"Name":"B","Unit":"Seconds"}]}]},"StreamName":"s1","A":5,"B":0.5}`

func TestParseReadsAValidLine(t *testing.T) {
	doc, err := Parse([]byte(validLine))
	if err != nil {
		t.Fatalf("Parse: got error %v, want nil", err)
	}
	if want := time.Date(2022, 7, 18, 20, 0, 0, 123_000_000, time.UTC); !doc.Timestamp.Equal(want) {
		t.Errorf("timestamp: got %v, want %v", doc.Timestamp, want)
	}
	if doc.Namespace != "NS" || doc.Stream != "s1" {
		t.Errorf("got namespace %q stream %q, want NS s1", doc.Namespace, doc.Stream)
	}
	if doc.Values["A"] != 5 || doc.Values["B"] != 0.5 || len(doc.Values) != 2 {
		t.Errorf("values: got %v, want map[A:5 B:0.5]", doc.Values)
	}
	if doc.Units["A"] != "Count" || doc.Units["B"] != "Seconds" {
		t.Errorf("units: got %v, want map[A:Count B:Seconds]", doc.Units)
	}
}

func TestParseRejectsInvalidDocuments(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr string
	}{
		{"not JSON", `ReplicatedRecords=5`, "parse EMF line"},
		{"JSON array", `[1]`, "parse EMF line"},
		{"no _aws", `{"StreamName":"s1","A":5}`, "no _aws member"},
		{"no Timestamp", `{"_aws":{"CloudWatchMetrics":[{"Namespace":"NS","Dimensions":[],"Metrics":[]}]}}`, "Timestamp missing"},
		{"no directive", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}`, "got 0 metric directives"},
		{"two directives", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N"},{"Namespace":"N"}]}}`, "got 2 metric directives"},
		{"empty namespace", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"","Dimensions":[],"Metrics":[]}]}}`, "empty Namespace"},
		{"dimension absent", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["StreamName"]],"Metrics":[]}]}}`, "dimension StreamName"},
		{"dimension a number", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["StreamName"]],"Metrics":[]}]},"StreamName":7}`, "dimension StreamName"},
		{"dimension empty", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["StreamName"]],"Metrics":[]}]},"StreamName":""}`, "dimension StreamName"},
		{"metric absent", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"A"}]}]}}`, "metric A"},
		{"metric a string", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"A"}]}]},"A":"5"}`, "metric A"},
		{"metric null", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"A"}]}]},"A":null}`, "metric A"},
		{"metric declared twice", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"A"},{"Name":"A"}]}]},"A":1}`, "declared twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.line))
			if err == nil {
				t.Fatalf("Parse(%s): got %+v, want an error containing %q", tt.line, doc, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%s): got error %q, want it to contain %q", tt.line, err, tt.wantErr)
			}
		})
	}
}

func TestParseLines(t *testing.T) {
	tests := []struct {
		name     string
		out      string
		wantDocs int
		wantErr  string
	}{
		{"empty output", "", 0, ""},
		{"lines with blanks between", validLine + "\n\n" + validLine + "\n", 2, ""},
		{"a bad line is named", validLine + "\n" + `{"half":` + "\n", 0, "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := ParseLines([]byte(tt.out))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseLines: got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLines: got error %v, want nil", err)
			}
			if len(docs) != tt.wantDocs {
				t.Errorf("ParseLines: got %d documents, want %d", len(docs), tt.wantDocs)
			}
		})
	}
}

func TestMirrorRecordsFailsAndBlocks(t *testing.T) {
	errBoom := errors.New("boom")
	in := &cloudwatch.PutMetricDataInput{Namespace: aws.String("NS")}

	failing := &Mirror{Err: errBoom}
	if _, err := failing.PutMetricData(t.Context(), in); !errors.Is(err, errBoom) {
		t.Errorf("PutMetricData with Err set: got %v, want %v", err, errBoom)
	}
	if got := failing.Calls(); len(got) != 1 || got[0] != in {
		t.Errorf("Calls: got %v, want the one input", got)
	}

	blocked := &Mirror{Block: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := blocked.PutMetricData(ctx, in); !errors.Is(err, context.Canceled) {
		t.Errorf("blocked PutMetricData with a cancelled context: got %v, want context.Canceled", err)
	}
}

func TestParseReadsTheSourceRegionDimension(t *testing.T) {
	line := `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"NS","Dimensions":[["StreamName"],["StreamName","SourceRegion"]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},"StreamName":"s1","SourceRegion":"us-east-1","A":5}`
	doc, err := Parse([]byte(line))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if doc.Stream != "s1" || doc.SourceRegion != "us-east-1" {
		t.Errorf("got StreamName %q, SourceRegion %q, want s1, us-east-1", doc.Stream, doc.SourceRegion)
	}
	if _, err := Parse([]byte(strings.Replace(line, `"SourceRegion":"us-east-1",`, "", 1))); err == nil || !strings.Contains(err.Error(), "dimension SourceRegion") {
		t.Errorf("without the SourceRegion member: got error %v, want one naming the dimension", err)
	}
}
