package checkpoint

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

var trailNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// pts makes one point per age, oldest first, with sequence numbers rising.
func pts(ages ...time.Duration) []SyncPoint {
	out := make([]SyncPoint, len(ages))
	for i, a := range ages {
		out[i] = SyncPoint{SequenceNumber: fmt.Sprint(1000 + i), Arrival: trailNow.Add(-a), Targets: map[string]string{"shardId-000000000000": fmt.Sprint(5000 + i)}}
	}
	return out
}

func seqs(points []SyncPoint) []string {
	out := []string{}
	for _, p := range points {
		out = append(out, p.SequenceNumber)
	}
	return out
}

func TestThinKeepsWhatTheScheduleSays(t *testing.T) {
	s, m, h, d := time.Second, time.Minute, time.Hour, 24*time.Hour
	tests := []struct {
		name   string
		points []SyncPoint
		want   []string
	}{
		{"nothing", nil, []string{}},
		{"one point stays", pts(400 * d), []string{"1000"}},
		{"every 5 s point of the last minute stays", pts(55*s, 50*s, 45*s, 10*s, 5*s, 0), []string{"1000", "1001", "1002", "1003", "1004", "1005"}},
		{"points a second apart keep one per 5 s", pts(9*s, 8*s, 7*s, 6*s, 5*s, 4*s), []string{"1000", "1004", "1005"}},
		{"an hour-old burst keeps its oldest and its bucket", pts(2*h+59*m, 2*h+58*m, 2*h+57*m, 0), []string{"1000", "1003"}},
		{"beyond retention only the newest stays", pts(500*d, 450*d, 400*d, 10*d, 0), []string{"1002", "1003", "1004"}},
		{"the newest always stays", pts(3*s, 2*s), []string{"1000", "1001"}},
		{"the oldest within retention always stays", pts(300*d+h, 300*d, 0), []string{"1000", "1002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqs(Thin(tt.points, trailNow)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestThinDropsDuplicateAndUnreadablePointsAndSortsBySequenceNumber(t *testing.T) {
	p := pts(20*time.Second, 10*time.Second)
	bad := SyncPoint{SequenceNumber: "latest", Arrival: trailNow}
	got := seqs(Thin([]SyncPoint{p[1], bad, p[0], p[1]}, trailNow))
	if want := []string{"1000", "1001"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// The bound holds whatever the history: appended every 5 s, then every
// minute, hour and day, thinned at every append as the replicator does.
func TestATrailAppendedForAYearStaysWithinItsBound(t *testing.T) {
	var trail []SyncPoint
	at, seq, most := trailNow, 1, 0
	for _, phase := range []struct {
		step time.Duration
		n    int
	}{{5 * time.Second, 2000}, {time.Minute, 3000}, {time.Hour, 2000}, {24 * time.Hour, 400}, {5 * time.Second, 100}} {
		for range phase.n {
			at, seq = at.Add(phase.step), seq+1
			trail, _ = AppendToTrail(trail, SyncPoint{SequenceNumber: fmt.Sprint(seq), Arrival: at,
				Targets: map[string]string{"shardId-000000000001": fmt.Sprint(seq * 11)}}, at)
			most = max(most, len(trail))
			if b := TrailBytes(trail); b > MaxTrailBytes {
				t.Fatalf("at %s: %d bytes, want at most %d", at, b, MaxTrailBytes)
			}
		}
	}
	if most > MaxTrailPoints {
		t.Errorf("got up to %d points, want at most %d", most, MaxTrailPoints)
	}
	if newest := trail[len(trail)-1]; newest.SequenceNumber != fmt.Sprint(seq) {
		t.Errorf("newest point %s, want the last appended %d", newest.SequenceNumber, seq)
	}
	t.Logf("up to %d points; at the end %d points, %d bytes", most, len(trail), TrailBytes(trail))
}

func TestThinFitsATrailOfManyTargetShardsIntoTheByteBudget(t *testing.T) {
	var points []SyncPoint
	for i := range 50 {
		targets := map[string]string{}
		for s := range 40 {
			targets[fmt.Sprintf("shardId-%012d", s)] = fmt.Sprintf("4965674023523493918654851346236139353283841423496%05d", i)
		}
		points = append(points, SyncPoint{SequenceNumber: fmt.Sprint(100 + i), Arrival: trailNow.Add(-time.Duration(50-i) * 24 * time.Hour), Targets: targets})
	}
	got := Thin(points, trailNow)
	if b := TrailBytes(got); b > MaxTrailBytes {
		t.Errorf("got %d bytes, want at most %d", b, MaxTrailBytes)
	}
	if got[0].SequenceNumber != "100" || got[len(got)-1].SequenceNumber != "149" {
		t.Errorf("got %v, want the oldest and newest kept", seqs(got))
	}
}

func TestAppendToTrailCarriesTargetsForwardAndOnlyGrowsForward(t *testing.T) {
	t0 := trailNow
	first := SyncPoint{SequenceNumber: "100", Arrival: t0, Targets: map[string]string{"a": "50", "b": "70"}}
	tests := []struct {
		name string
		p    SyncPoint
		want []SyncPoint
	}{
		{"a later point carries earlier target shards", SyncPoint{SequenceNumber: "200", Arrival: t0.Add(10 * time.Second), Targets: map[string]string{"a": "60"}},
			[]SyncPoint{first, {SequenceNumber: "200", Arrival: t0.Add(10 * time.Second), Targets: map[string]string{"a": "60", "b": "70"}}}},
		{"a lower target sequence number never replaces a higher one", SyncPoint{SequenceNumber: "200", Arrival: t0.Add(10 * time.Second), Targets: map[string]string{"b": "9"}},
			[]SyncPoint{first, {SequenceNumber: "200", Arrival: t0.Add(10 * time.Second), Targets: map[string]string{"a": "50", "b": "70"}}}},
		{"a point not after the newest adds nothing", SyncPoint{SequenceNumber: "99", Arrival: t0.Add(10 * time.Second), Targets: map[string]string{"c": "1"}},
			[]SyncPoint{first}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, added := AppendToTrail([]SyncPoint{first}, tt.p, t0.Add(10*time.Second))
			if !reflect.DeepEqual(got, tt.want) || added != (len(tt.want) > 1) {
				t.Errorf("got %+v (added %t), want %+v", got, added, tt.want)
			}
		})
	}
}
