package replicator

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
)

// TestFixturesThroughTheLambdaHandler pushes real Lambda Kinesis event JSON
// through the same decode → handler → encode path the runtime uses.
func TestFixturesThroughTheLambdaHandler(t *testing.T) {
	tests := []struct {
		file          string
		wantWritten   int
		wantFallbacks float64
		wantErr       string
	}{
		{file: "kinesis-event.json", wantWritten: 4},
		{file: "kinesis-event-efo.json", wantWritten: 4},
		{file: "kinesis-event-binary-payload.json", wantWritten: 4, wantFallbacks: 1},
		{file: "kinesis-event-two-streams.json", wantErr: "one batch must come from one stream"},
		{file: "kinesis-event-no-sequence-number.json", wantErr: "sequenceNumber"},
		{file: "kinesis-event-not-kinesis.json", wantErr: "eventSourceARN"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, testSettings(), usEast1Active())
			out, err := lambda.NewHandler(h.handler.Handle).Invoke(context.Background(), payload)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if h.target.requests() != 0 {
					t.Fatal("a malformed event wrote records")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var resp struct {
				BatchItemFailures []map[string]string `json:"batchItemFailures"`
			}
			if err := json.Unmarshal(out, &resp); err != nil || resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("got response %s (%v), want {\"batchItemFailures\":[]}", out, err)
			}
			if got := len(h.target.written); got != tt.wantWritten {
				t.Fatalf("got %d records written, want %d", got, tt.wantWritten)
			}
			if got := h.metricsOf(t).Values["CommitTimestampFallbacks"]; got != tt.wantFallbacks {
				t.Fatalf("got CommitTimestampFallbacks %v, want %v", got, tt.wantFallbacks)
			}
		})
	}
}
