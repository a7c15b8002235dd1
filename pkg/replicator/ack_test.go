package replicator

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestAcknowledgeClaimsOnlyTheDonePrefix(t *testing.T) {
	// W written, S skipped or superseded, F not done.
	tests := []struct {
		name            string
		states          string
		shards          string // shard of each record: a or b
		wantPrefix      int
		wantLastWritten []int
		wantLastDone    []int
		wantRetryFrom   string
	}{
		{"everything written", "WWW", "aaa", 3, []int{2}, []int{2}, ""},
		{"everything skipped names no checkpoint", "SSS", "aaa", 3, nil, []int{2}, ""},
		{"skipped records inside the prefix do not stop it", "WSWS", "aaaa", 4, []int{2}, []int{3}, ""},
		{"a written record after a failure is not claimed", "WFW", "aaa", 1, []int{0}, []int{0}, "s1"},
		{"nothing done", "FWW", "aaa", 0, nil, nil, "s0"},
		{"a shard's checkpoint is its last written record of the prefix", "WWWSF", "ababa", 4, []int{2, 1}, []int{2, 3}, "s4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var records []sourceRecord
			var done, written []bool
			for i, st := range tt.states {
				records = append(records, sourceRecord{
					shardID: "shardId-" + string(tt.shards[i]),
					rec:     &events.KinesisEventRecord{Kinesis: events.KinesisRecord{SequenceNumber: fmt.Sprintf("s%d", i)}},
				})
				done = append(done, st != 'F')
				written = append(written, st == 'W')
			}
			got := acknowledge(records, done, written)
			if got.prefix != tt.wantPrefix || got.retryFrom != tt.wantRetryFrom {
				t.Errorf("got prefix %d, retry from %q; want %d, %q", got.prefix, got.retryFrom, tt.wantPrefix, tt.wantRetryFrom)
			}
			if !slices.Equal(got.lastWritten, tt.wantLastWritten) || !slices.Equal(got.lastDone, tt.wantLastDone) {
				t.Errorf("got last written %v, last done %v; want %v, %v", got.lastWritten, got.lastDone, tt.wantLastWritten, tt.wantLastDone)
			}
		})
	}
}
