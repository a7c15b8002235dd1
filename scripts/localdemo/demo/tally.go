package demo

import (
	"bytes"
	"encoding/json"
	"sync"
)

// tally reads the replicator's EMF lines (its stdout in Lambda) and adds
// up the metrics the progress line shows, so the demo reports what the
// function itself measured.
type tally struct {
	mu         sync.Mutex
	partial    []byte
	replicated int64
	skipped    int64
	superseded int64
	failed     int64
	resent     int64
	badLines   int64
	// lags are ReplicationLagSeconds since the last take.
	lags []float64
}

// emfCounts are the members of an EMF line the demo reads (names from
// docs/reference.md, Metrics).
type emfCounts struct {
	ReplicatedRecords     float64  `json:"ReplicatedRecords"`
	SkippedRecords        float64  `json:"SkippedRecords"`
	SupersededRecords     float64  `json:"SupersededRecords"`
	FailedRecords         float64  `json:"FailedRecords"`
	ResentRecords         float64  `json:"ResentRecords"`
	ReplicationLagSeconds *float64 `json:"ReplicationLagSeconds"`
}

// Write takes any slicing of the output into writes; only whole lines count.
func (t *tally) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.add(t.partial[:i])
		t.partial = t.partial[i+1:]
	}
	return len(p), nil
}

func (t *tally) add(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	var c emfCounts
	if err := json.Unmarshal(line, &c); err != nil {
		t.badLines++
		return
	}
	t.replicated += int64(c.ReplicatedRecords)
	t.skipped += int64(c.SkippedRecords)
	t.superseded += int64(c.SupersededRecords)
	t.failed += int64(c.FailedRecords)
	t.resent += int64(c.ResentRecords)
	if c.ReplicationLagSeconds != nil && c.ReplicatedRecords > 0 {
		t.lags = append(t.lags, *c.ReplicationLagSeconds)
	}
}

// counts is a snapshot of a tally.
type counts struct {
	Replicated, Skipped, Superseded, Failed, Resent, BadLines int64
}

// take returns the totals and the lags seen since the previous take.
func (t *tally) take() (counts, []float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lags := t.lags
	t.lags = nil
	return counts{t.replicated, t.skipped, t.superseded, t.failed, t.resent, t.badLines}, lags
}
