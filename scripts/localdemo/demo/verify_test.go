package demo

import (
	"strings"
	"testing"
	"time"
)

func TestVerifyFindsLossDisorderAndLoops(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	east1, east2 := Regions[0], Regions[1]
	switchAt := at(1000)
	prod := map[int64]produced{
		1: {Seq: 1, Key: "a", Region: east1}, 2: {Seq: 2, Key: "a", Region: east1}, 3: {Seq: 3, Key: "b", Region: east1},
		4: {Seq: 4, Key: "a", Region: east2},
	}
	originals := map[string][]streamRecord{
		east1: {{Seq: 1, Key: "a", Arrival: at(0)}, {Seq: 2, Key: "a", Arrival: at(900)}, {Seq: 3, Key: "b", Arrival: at(950)}},
		east2: {{Seq: 4, Key: "a", Arrival: at(1100)}},
	}
	replica := func(seq int64, key string, ms int) streamRecord {
		return streamRecord{Seq: seq, Key: key, Arrival: at(ms)}
	}
	with := func(extra map[string][]streamRecord) map[string][]streamRecord {
		out := map[string][]streamRecord{}
		for r, recs := range originals {
			out[r] = append(append([]streamRecord{}, recs...), extra[r]...)
		}
		return out
	}
	tests := []struct {
		name  string
		extra map[string][]streamRecord
		check func(t *testing.T, s [2]RegionSummary)
	}{
		{"everything replicated once", map[string][]streamRecord{
			east2: {replica(1, "a", 50), replica(2, "a", 950), replica(3, "b", 990)},
			east1: {replica(4, "a", 1150)},
		}, func(t *testing.T, s [2]RegionSummary) {
			want := RegionSummary{Region: east1, Produced: 3, Replicated: 3, LagP50: 50 * time.Millisecond, LagP99: 50 * time.Millisecond, LagMax: 50 * time.Millisecond}
			if s[0] != want {
				t.Errorf("got %+v, want %+v", s[0], want)
			}
		}},
		{"a record missing in the target is lost", map[string][]streamRecord{
			east2: {replica(1, "a", 50), replica(3, "b", 990)},
			east1: {replica(4, "a", 1150)},
		}, func(t *testing.T, s [2]RegionSummary) {
			if s[0].Lost != 1 || s[0].Replicated != 2 {
				t.Errorf("got lost %d, replicated %d, want 1 and 2", s[0].Lost, s[0].Replicated)
			}
		}},
		{"last copies out of key order", map[string][]streamRecord{
			east2: {replica(1, "a", 50), replica(2, "a", 950), replica(1, "a", 960), replica(3, "b", 990)},
			east1: {replica(4, "a", 1150)},
		}, func(t *testing.T, s [2]RegionSummary) {
			if s[0].OrderViolations != 1 || s[0].Duplicates != 1 {
				t.Errorf("got %d violations, %d duplicates, want 1 and 1", s[0].OrderViolations, s[0].Duplicates)
			}
		}},
		{"a resent run restores the order of last copies", map[string][]streamRecord{
			east2: {replica(1, "a", 50), replica(2, "a", 950), replica(1, "a", 960), replica(2, "a", 970), replica(3, "b", 990)},
			east1: {replica(4, "a", 1150)},
		}, func(t *testing.T, s [2]RegionSummary) {
			if s[0].OrderViolations != 0 || s[0].Duplicates != 2 {
				t.Errorf("got %d violations, %d duplicates, want 0 and 2", s[0].OrderViolations, s[0].Duplicates)
			}
		}},
		{"a record in flight at the switch echoes once", map[string][]streamRecord{
			east2: {replica(1, "a", 50), replica(2, "a", 1020), replica(3, "b", 990)},
			east1: {replica(4, "a", 1150), replica(2, "a", 1080)},
		}, func(t *testing.T, s [2]RegionSummary) {
			if s[0].Echoes != 1 || s[0].EchoesOutsideWindows != 0 || s[0].MultipleEchoes != 0 {
				t.Errorf("got %+v, want one echo inside the window", s[0])
			}
		}},
		{"an echo without a switch in flight is a loop", map[string][]streamRecord{
			east2: {replica(1, "a", 50), replica(2, "a", 950), replica(3, "b", 990)},
			east1: {replica(4, "a", 1150), replica(1, "a", 100)},
		}, func(t *testing.T, s [2]RegionSummary) {
			if s[0].EchoesOutsideWindows != 1 {
				t.Errorf("got %+v, want one echo outside the windows", s[0])
			}
		}},
		{"a record echoed twice is a loop", map[string][]streamRecord{
			east2: {replica(1, "a", 50), replica(2, "a", 1020), replica(3, "b", 990)},
			east1: {replica(4, "a", 1150), replica(2, "a", 1080), replica(2, "a", 1300)},
		}, func(t *testing.T, s [2]RegionSummary) {
			if s[0].MultipleEchoes != 1 {
				t.Errorf("got %+v, want one record echoed more than once", s[0])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verify(Regions, prod, with(tt.extra), []time.Time{switchAt}, 5*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
		})
	}
}

func TestVerifyRejectsRecordsNobodyProduced(t *testing.T) {
	streams := map[string][]streamRecord{Regions[0]: {{Seq: 99, Key: "x"}}}
	_, err := verify(Regions, map[int64]produced{}, streams, nil, 0)
	if err == nil || !strings.Contains(err.Error(), "never produced") {
		t.Fatalf("got error %v, want one naming a record never produced", err)
	}
}

func TestBehindResumePointCountsRecordsTheResumePointSkips(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	east1, east2 := Regions[0], Regions[1]
	prod := map[int64]produced{
		1: {Seq: 1, Region: east1, Committed: at(0)},
		2: {Seq: 2, Region: east1, Committed: at(100)},
		3: {Seq: 3, Region: east1, Committed: at(200)},
		4: {Seq: 4, Region: east2, Committed: at(50)},
	}
	resume := at(100)
	f := Failover{From: east1, To: east2, ResumeFrom: &resume, ReportedAt: at(500)}
	tests := []struct {
		name   string
		target []streamRecord
		want   int
	}{
		{"all behind the resume point were there", []streamRecord{{Seq: 1, Arrival: at(30)}, {Seq: 2, Arrival: at(130)}}, 0},
		{"a record after the resume point may come later", []streamRecord{{Seq: 1, Arrival: at(30)}, {Seq: 2, Arrival: at(130)}, {Seq: 3, Arrival: at(900)}}, 0},
		{"a record behind it that arrived after the report", []streamRecord{{Seq: 1, Arrival: at(30)}, {Seq: 2, Arrival: at(600)}}, 1},
		{"a record behind it that never arrived", []streamRecord{{Seq: 2, Arrival: at(130)}}, 1},
		{"the first copy counts", []streamRecord{{Seq: 1, Arrival: at(30)}, {Seq: 2, Arrival: at(130)}, {Seq: 2, Arrival: at(700)}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := behindResumePoint(f, prod, tt.target); got != tt.want {
				t.Errorf("got %d records behind the resume point, want %d", got, tt.want)
			}
		})
	}
	if got := behindResumePoint(Failover{From: east1, To: east2, ReportedAt: at(500)}, prod, nil); got != 0 {
		t.Errorf("got %d without a resume point, want 0", got)
	}
}

func TestSummaryFailsOnAnyLossDisorderOrLoop(t *testing.T) {
	tests := []struct {
		name      string
		region    RegionSummary
		failovers []Failover
		wantOK    bool
	}{
		{"clean", RegionSummary{Echoes: 3}, []Failover{{}}, true},
		{"lost", RegionSummary{Lost: 1}, nil, false},
		{"reordered", RegionSummary{OrderViolations: 1}, nil, false},
		{"echo outside a window", RegionSummary{EchoesOutsideWindows: 1}, nil, false},
		{"echoed twice", RegionSummary{MultipleEchoes: 1}, nil, false},
		{"unsafe resume point", RegionSummary{}, []Failover{{}, {BehindResumePoint: 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summary{Regions: [2]RegionSummary{tt.region, {}}, Failovers: tt.failovers}
			if got := s.OK(); got != tt.wantOK {
				t.Errorf("got OK %v, want %v", got, tt.wantOK)
			}
		})
	}
}
