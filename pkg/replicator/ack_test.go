package replicator

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/putrecords"
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

// seqRecords are records of one shard with the given sequence numbers.
func seqRecords(seqs ...string) []sourceRecord {
	out := make([]sourceRecord, len(seqs))
	for i, s := range seqs {
		out[i] = sourceRecord{shardID: "shardId-a", rec: &events.KinesisEventRecord{Kinesis: events.KinesisRecord{SequenceNumber: s}}}
	}
	return out
}

func TestCoveredByLeavesOutOnlyWhatTheCheckpointCovers(t *testing.T) {
	R, S := activeregion.Replicate, activeregion.Skip
	at := func(seq string) checkpoint.Checkpoint { return checkpoint.Checkpoint{LastSequenceNumber: seq} }
	beyond := func(seq, from string, places ...int) checkpoint.Checkpoint {
		written := make([]bool, 8)
		for _, k := range places {
			written[k] = true
		}
		return checkpoint.Checkpoint{LastSequenceNumber: seq, WrittenBeyond: checkpoint.NewWrittenBeyond(from, written)}
	}
	tests := []struct {
		name      string
		seqs      []string
		keys      string // partition key of each record
		decisions []activeregion.Decision
		stored    checkpoint.Checkpoint
		want      []bool
	}{
		{"a batch after the checkpoint: nothing", []string{"11", "12"}, "ab", []activeregion.Decision{R, R}, at("10"), []bool{false, false}},
		{"up to and with the checkpoint's record", []string{"9", "10", "11"}, "abc", []activeregion.Decision{R, R, R}, at("10"), []bool{true, true, false}},
		{"numeric, not bytewise: 9 is before 10", []string{"9", "100"}, "ab", []activeregion.Decision{R, R}, at("10"), []bool{true, false}},
		{"records decided otherwise are not counted as covered", []string{"9", "10"}, "ab", []activeregion.Decision{S, R}, at("10"), []bool{false, true}},
		{"an uncomparable stored number covers nothing", []string{"9", "10"}, "ab", []activeregion.Decision{R, R}, at("x"), []bool{false, false}},
		{"the places named beyond, counted from From", []string{"10", "11", "12", "13", "14"}, "abcde", []activeregion.Decision{R, R, R, R, R}, beyond("10", "11", 1, 3), []bool{true, false, true, false, true}},
		{"a delivery without From (it never comes: From is where the mapping resumes): the places mean nothing", []string{"13", "14"}, "de", []activeregion.Decision{R, R}, beyond("10", "11", 1, 2), []bool{false, false}},
		{"never a record after an uncovered one of its key", []string{"11", "12", "13"}, "aaa", []activeregion.Decision{R, R, R}, beyond("10", "11", 2), []bool{false, false, false}},
		{"a record decided otherwise still takes its place", []string{"11", "12", "13"}, "abc", []activeregion.Decision{R, S, R}, beyond("10", "11", 2), []bool{false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := seqRecords(tt.seqs...)
			for i := range records {
				records[i].rec.Kinesis.PartitionKey = string(tt.keys[i])
			}
			if got := coveredBy(records, tt.decisions, tt.stored); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWrittenBeyondNamesWhatFollowsThePrefix(t *testing.T) {
	records := seqRecords("10", "11", "12", "13", "14")
	tests := []struct {
		name     string
		prefix   int
		written  []bool
		wantFrom string
		want     []int // places named
	}{
		{"nothing written after the prefix", 2, []bool{true, true, false, false, false}, "", nil},
		{"written after the first record left", 1, []bool{true, false, true, false, true}, "11", []int{1, 3}},
		{"the whole batch done", 5, []bool{true, true, true, true, true}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wb := writtenBeyond(records, acknowledgment{prefix: tt.prefix}, tt.written, "shardId-a")
			if tt.want == nil {
				if wb != nil {
					t.Fatalf("got %+v, want nil", wb)
				}
				return
			}
			var got []int
			for k := range 8 {
				if wb.Has(k) {
					got = append(got, k)
				}
			}
			if wb.From != tt.wantFrom || !slices.Equal(got, tt.want) {
				t.Errorf("got from %s places %v, want from %s places %v", wb.From, got, tt.wantFrom, tt.want)
			}
		})
	}
}

func TestProgressCountsCoveredRecordsDoneAndInTheTarget(t *testing.T) {
	R, S := activeregion.Replicate, activeregion.Skip
	written := &putrecords.Outcome{Written: true}
	failed := &putrecords.Outcome{Err: putrecords.ErrDeadline}
	done, wrote := progress(
		[]activeregion.Decision{R, R, S, R, R},
		[]bool{true, false, false, false, false},
		[]*putrecords.Outcome{nil, written, nil, failed, nil},
	)
	if want := []bool{true, true, true, false, false}; !slices.Equal(done, want) {
		t.Errorf("done: got %v, want %v", done, want)
	}
	if want := []bool{true, true, false, false, false}; !slices.Equal(wrote, want) {
		t.Errorf("in the target: got %v, want %v", wrote, want)
	}
}
