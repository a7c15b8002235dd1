package promisecheck

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func w(id, key string, keySeq, gen int, region string, commit time.Duration) Written {
	return Written{Payload: Payload{ID: id, Key: key, KeySeq: keySeq, Gen: gen}, Region: region, Commit: t0.Add(commit)}
}

func c(id, key string, keySeq, gen int) Copy {
	return Copy{Payload: Payload{ID: id, Key: key, KeySeq: keySeq, Gen: gen}, Shard: "shardId-0"}
}

const (
	a = "us-east-1"
	b = "us-east-2"
)

func TestCheckFindsEveryBrokenPromise(t *testing.T) {
	two := []Written{w("x1", "k", 1, 0, a, time.Second), w("x2", "k", 2, 0, a, 2*time.Second)}
	resume := t0.Add(2 * time.Second)
	tests := []struct {
		name      string
		written   []Written
		streams   map[string][]Copy
		failovers []Failover
		want      string
	}{
		{"a clean run", two, map[string][]Copy{a: {c("x1", "k", 1, 0), c("x2", "k", 2, 0)}, b: {c("x1", "k", 1, 0), c("x2", "k", 2, 0)}}, nil,
			"0 lost, 0 out of order, 0 looped, 0 behind a resume point, 0 echoes"},
		{"a record missing from the other Region", two, map[string][]Copy{a: {c("x1", "k", 1, 0), c("x2", "k", 2, 0)}, b: {c("x1", "k", 1, 0)}}, nil,
			"1 lost, 0 out of order, 0 looped, 0 behind a resume point, 0 echoes"},
		{"an old copy after a newer change", two, map[string][]Copy{a: {c("x1", "k", 1, 0), c("x2", "k", 2, 0)}, b: {c("x2", "k", 2, 0), c("x1", "k", 1, 0)}}, nil,
			"0 lost, 1 out of order, 0 looped, 0 behind a resume point, 0 echoes"},
		{"a resent duplicate after the original keeps the last copies in order", two, map[string][]Copy{a: {c("x1", "k", 1, 0), c("x2", "k", 2, 0)}, b: {c("x1", "k", 1, 0), c("x2", "k", 2, 0), c("x2", "k", 2, 1)}},
			nil, "0 lost, 0 out of order, 0 looped, 0 behind a resume point, 0 echoes"},
		{"one echo is counted, not a loop", two, map[string][]Copy{a: {c("x1", "k", 1, 0), c("x1", "k", 1, 0), c("x2", "k", 2, 0)}, b: {c("x1", "k", 1, 0), c("x2", "k", 2, 0)}}, nil,
			"0 lost, 0 out of order, 0 looped, 0 behind a resume point, 1 echoes"},
		{"a second copy in the other Region is a loop", two, map[string][]Copy{a: {c("x1", "k", 1, 0), c("x2", "k", 2, 0)}, b: {c("x1", "k", 1, 0), c("x1", "k", 1, 0), c("x2", "k", 2, 0)}}, nil,
			"0 lost, 0 out of order, 1 looped, 0 behind a resume point, 0 echoes"},
		{"a record before the resume point never replicated, though resent", two,
			map[string][]Copy{a: {c("x1", "k", 1, 0), c("x2", "k", 2, 0)}, b: {c("x1", "k", 1, 1), c("x2", "k", 2, 0)}},
			[]Failover{{From: a, To: b, ResumeFrom: &resume}},
			"0 lost, 0 out of order, 0 looped, 1 behind a resume point, 0 echoes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.written, tt.streams, tt.failovers)
			if got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if got.OK() != (tt.want == fmt.Sprintf("0 lost, 0 out of order, 0 looped, 0 behind a resume point, %d echoes", got.Echoes)) {
				t.Errorf("got OK %t for %s", got.OK(), got)
			}
		})
	}
}
