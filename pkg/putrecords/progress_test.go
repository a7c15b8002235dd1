package putrecords

import (
	"context"
	"reflect"
	"testing"
)

// A caller checkpoints what Progress reports as written, so a record it
// reports must be in the target with that position and stay written; and a
// Write that ends in its first round reports nothing (its result says it).
func TestProgressReportsOnlyWhatStaysWritten(t *testing.T) {
	// Keys of records r0..r5: A B A B A C.
	keys := []string{"A", "B", "A", "B", "A", "C"}
	tests := []struct {
		name       string
		entryCodes map[string][]string
		// wantWritten is, per Progress call, the records it reports
		// written.
		wantWritten [][]int
	}{
		{
			name:        "one clean round: no call",
			wantWritten: nil,
		},
		{
			name:       "a throttled first record: its key's later copies are out of order and not reported",
			entryCodes: map[string][]string{"r0": {throttled}},
			// r2 and r4 are written after r0 failed: not yet written.
			wantWritten: [][]int{{1, 3, 5}},
		},
		{
			name:        "failing twice: each round reports what it added",
			entryCodes:  map[string][]string{"r1": {throttled, throttled}, "r4": {internal}},
			wantWritten: [][]int{{0, 2, 5}, {0, 2, 4, 5}},
		},
		{
			name:        "a round that writes nothing reports nothing",
			entryCodes:  map[string][]string{"r0": {throttled, throttled}, "r1": {throttled, throttled}, "r5": {throttled, throttled}},
			wantWritten: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.entryCodes = tt.entryCodes
			recs := records(keys...)
			var got [][]int
			b := Batch{Stream: "s1", Records: recs, Progress: func(outcomes []Outcome) {
				var written []int
				for i, o := range outcomes {
					if !o.Written {
						continue
					}
					written = append(written, i)
					if o.TargetSequenceNumber != f.lastSeqOf(recs[i]) {
						t.Errorf("record %d reported at %q, its last copy is at %q", i, o.TargetSequenceNumber, f.lastSeqOf(recs[i]))
					}
				}
				got = append(got, written)
			}}
			res := NewWriter(f, Options{Sleep: noSleep}).Write(context.Background(), b)
			if !reflect.DeepEqual(got, tt.wantWritten) {
				t.Errorf("Progress reported %v, want %v", got, tt.wantWritten)
			}
			for _, written := range got {
				for _, i := range written {
					if !res.Outcomes[i].Written {
						t.Errorf("record %d was reported written and is not written in the result", i)
					}
				}
			}
			checkLastCopiesInOrder(t, f, recs, res)
		})
	}
}

// lastSeqOf is the sequence number of rec's last copy in the fake stream.
func (f *fakeKinesis) lastSeqOf(rec Record) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastSeq[string(rec.Data)]
}
