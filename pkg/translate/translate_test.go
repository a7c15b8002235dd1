package translate

import (
	"context"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func shard(id string, from, to int64, parents ...string) Shard {
	return Shard{ID: id, StartingHash: big.NewInt(from), EndingHash: big.NewInt(to), Parents: parents}
}

func pt(seq string, sec int, targets ...string) checkpoint.SyncPoint {
	m := map[string]string{}
	for i := 0; i+1 < len(targets); i += 2 {
		m[targets[i]] = targets[i+1]
	}
	return checkpoint.SyncPoint{SequenceNumber: seq, Arrival: t0.Add(time.Duration(sec) * time.Second), Targets: m}
}

// history is a source shard's checkpoint and its trail item.
type history struct {
	cp checkpoint.Checkpoint
	tr checkpoint.Trail
}

func trail(source, last string, points ...checkpoint.SyncPoint) history {
	return history{checkpoint.Checkpoint{ShardID: source, LastSequenceNumber: last}, checkpoint.Trail{ShardID: source, Points: points}}
}

func cps(hs ...history) []checkpoint.Checkpoint {
	var out []checkpoint.Checkpoint
	for _, h := range hs {
		out = append(out, h.cp)
	}
	return out
}

func trails(hs ...history) []checkpoint.Trail {
	var out []checkpoint.Trail
	for _, h := range hs {
		if len(h.tr.Points) > 0 {
			out = append(out, h.tr)
		}
	}
	return out
}

func at(shard, seq string) Position { return Position{ShardID: shard, SequenceNumber: seq} }

// countBySubtraction counts the records in (after, through] as if sequence
// numbers were consecutive: enough to see what range was asked for.
func countBySubtraction(_ context.Context, _ string, after, through string) (int64, error) {
	if through == "" {
		through = "1000"
	}
	a, _ := strconv.ParseInt(after, 10, 64)
	b, _ := strconv.ParseInt(through, 10, 64)
	return b - a, nil
}

type want struct {
	target, kind, seq string
	at                time.Time
	reread            *int64
}

func n(v int64) *int64 { return &v }

func TestTranslateNeverSkipsAndRereadsAtMostWhatItSays(t *testing.T) {
	a0, a1 := shard("a0", 0, 99), shard("a1", 100, 199)
	b0, b1 := shard("b0", 0, 99), shard("b1", 100, 199)
	whole := func(id string, parents ...string) Shard { return shard(id, 0, 199, parents...) }
	skew := DefaultClockSkew
	tests := []struct {
		name         string
		in           Input
		want         []want
		wantWarnings []string
	}{
		{
			name: "a position at a sync point starts right after its target sequence number",
			in: Input{Source: []Shard{a0, a1}, Target: []Shard{b0, b1},
				Positions:   []Position{at("a0", "100"), at("a1", "300")},
				Checkpoints: cps(trail("a0", "120", pt("100", 0, "b0", "9100")), trail("a1", "300", pt("300", 0, "b1", "9300"))), Trails: trails(trail("a0", "120", pt("100", 0, "b0", "9100")), trail("a1", "300", pt("300", 0, "b1", "9300")))},
			want: []want{{"b0", AfterSequenceNumber, "9100", time.Time{}, n(0)}, {"b1", AfterSequenceNumber, "9300", time.Time{}, n(0)}},
		},
		{
			name: "a position in a gap of the trail uses the point before it and counts the records between",
			in: Input{Source: []Shard{a0}, Target: []Shard{b0},
				Positions:   []Position{at("a0", "150")},
				Checkpoints: cps(trail("a0", "300", pt("100", 0, "b0", "9100"), pt("200", 60, "b0", "9200"))), Trails: trails(trail("a0", "300", pt("100", 0, "b0", "9100"), pt("200", 60, "b0", "9200")))},
			want: []want{{"b0", AfterSequenceNumber, "9100", time.Time{}, n(50)}},
		},
		{
			name: "a position older than the trail starts at the trim horizon",
			in: Input{Source: []Shard{a0}, Target: []Shard{b0},
				Positions:   []Position{at("a0", "50")},
				Checkpoints: cps(trail("a0", "300", pt("100", 0, "b0", "9100"))), Trails: trails(trail("a0", "300", pt("100", 0, "b0", "9100")))},
			want:         []want{{"b0", TrimHorizon, "", time.Time{}, nil}},
			wantWarnings: []string{"position 50 is older than its oldest sync point 100"},
		},
		{
			name: "a record processed in part counts as not processed",
			in: Input{Source: []Shard{a0}, Target: []Shard{b0},
				Positions:   []Position{{ShardID: "a0", SequenceNumber: "200", SubSequenceNumber: 3}},
				Checkpoints: cps(trail("a0", "300", pt("100", 0, "b0", "9100"), pt("200", 60, "b0", "9200"))), Trails: trails(trail("a0", "300", pt("100", 0, "b0", "9100"), pt("200", 60, "b0", "9200")))},
			want:         []want{{"b0", AfterSequenceNumber, "9100", time.Time{}, n(100)}},
			wantWarnings: []string{"processed only up to sub-sequence number 3"},
		},
		{
			name: "one source shard feeding two target shards: each by its own sequence number, or by time where it wrote nothing yet",
			in: Input{Source: []Shard{whole("a0")}, Target: []Shard{b0, b1},
				Positions:   []Position{at("a0", "100")},
				Checkpoints: cps(trail("a0", "100", pt("100", 30, "b0", "9100"))), Trails: trails(trail("a0", "100", pt("100", 30, "b0", "9100")))},
			want: []want{{"b0", AfterSequenceNumber, "9100", time.Time{}, n(0)}, {"b1", AtTimestamp, "", t0.Add(30*time.Second - skew), nil}},
		},
		{
			name: "two source shards feeding one target shard: the earlier of their points wins",
			in: Input{Source: []Shard{a0, a1}, Target: []Shard{whole("b0")},
				Positions:   []Position{at("a0", "100"), at("a1", "300")},
				Checkpoints: cps(trail("a0", "100", pt("100", 0, "b0", "9500")), trail("a1", "300", pt("300", 0, "b0", "9400"))), Trails: trails(trail("a0", "100", pt("100", 0, "b0", "9500")), trail("a1", "300", pt("300", 0, "b0", "9400")))},
			want: []want{{"b0", AfterSequenceNumber, "9400", time.Time{}, nil}},
		},
		{
			name: "a resharded source: a finished parent without a lease counts as processed to its end",
			in: Input{Source: []Shard{{ID: "p", StartingHash: big.NewInt(0), EndingHash: big.NewInt(199), Closed: true}, shard("c0", 0, 99, "p"), shard("c1", 100, 199, "p")},
				Target:      []Shard{whole("b0")},
				Positions:   []Position{at("c0", "500"), at("c1", "700")},
				Checkpoints: cps(trail("p", "400", pt("400", 0, "b0", "9400")), trail("c0", "500", pt("500", 10, "b0", "9600")), trail("c1", "700", pt("700", 10, "b0", "9700"))), Trails: trails(trail("p", "400", pt("400", 0, "b0", "9400")), trail("c0", "500", pt("500", 10, "b0", "9600")), trail("c1", "700", pt("700", 10, "b0", "9700")))},
			want: []want{{"b0", AfterSequenceNumber, "9400", time.Time{}, nil}},
		},
		{
			name: "a child not started yet starts at the trim horizon",
			in: Input{Source: []Shard{{ID: "p", StartingHash: big.NewInt(0), EndingHash: big.NewInt(199), Closed: true}, shard("c0", 0, 99, "p"), shard("c1", 100, 199, "p")},
				Target:      []Shard{b0, b1},
				Positions:   []Position{{ShardID: "p", Sentinel: SentinelShardEnd}, at("c0", "500")},
				Checkpoints: cps(trail("p", "400", pt("400", 0, "b0", "9400", "b1", "9450")), trail("c0", "500", pt("500", 10, "b0", "9600"))), Trails: trails(trail("p", "400", pt("400", 0, "b0", "9400", "b1", "9450")), trail("c0", "500", pt("500", 10, "b0", "9600")))},
			// b0's feeders' points differ (9400, 9600): the re-read between
			// them is not counted.
			want:         []want{{"b0", AfterSequenceNumber, "9400", time.Time{}, nil}, {"b1", TrimHorizon, "", time.Time{}, nil}},
			wantWarnings: []string{"source shard c1: no position"},
		},
		{
			name: "a source shard without sync points starts what it feeds at the trim horizon",
			in: Input{Source: []Shard{a0}, Target: []Shard{b0},
				Positions: []Position{at("a0", "100")}},
			want:         []want{{"b0", TrimHorizon, "", time.Time{}, nil}},
			wantWarnings: []string{"no sync points"},
		},
		{
			name: "a consumer ahead of the replicator is told its records may be missing",
			in: Input{Source: []Shard{a0}, Target: []Shard{b0},
				Positions:   []Position{at("a0", "400")},
				Checkpoints: cps(trail("a0", "300", pt("300", 0, "b0", "9300"))), Trails: trails(trail("a0", "300", pt("300", 0, "b0", "9300")))},
			want:         []want{{"b0", AfterSequenceNumber, "9300", time.Time{}, n(100)}},
			wantWarnings: []string{"after the replicator's checkpoint 300"},
		},
		{
			name: "shards without hash ranges match by id",
			in: Input{Source: []Shard{{ID: "s0"}}, Target: []Shard{{ID: "s0"}, {ID: "s1"}},
				Positions:   []Position{at("s0", "100")},
				Checkpoints: cps(trail("s0", "100", pt("100", 0, "s0", "9100"))), Trails: trails(trail("s0", "100", pt("100", 0, "s0", "9100")))},
			want:         []want{{"s0", AfterSequenceNumber, "9100", time.Time{}, n(0)}, {"s1", TrimHorizon, "", time.Time{}, nil}},
			wantWarnings: []string{"has no hash range", "target shard s1: no source shard feeds it"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Count = countBySubtraction
			res, err := Translate(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, p := range res.Positions {
				got = append(got, want{p.TargetShardID, p.StartingPosition, p.SequenceNumber, p.Timestamp, p.MaxReread})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s, want %s", show(got), show(tt.want))
			}
			for _, w := range tt.wantWarnings {
				if !strings.Contains(strings.Join(res.Warnings, "\n"), w) {
					t.Errorf("warnings %q do not say %q", res.Warnings, w)
				}
			}
		})
	}
}

func show(ws []want) string {
	var parts []string
	for _, w := range ws {
		r := "unknown"
		if w.reread != nil {
			r = strconv.FormatInt(*w.reread, 10)
		}
		parts = append(parts, w.target+":"+w.kind+" "+w.seq+" "+w.at.Format(time.RFC3339)+" reread "+r)
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func TestParsePositionTakesSequenceNumbersAndTheKCLSentinels(t *testing.T) {
	for _, tt := range []struct {
		value   string
		want    Position
		wantErr string
	}{
		{"4965", Position{ShardID: "s", SequenceNumber: "4965"}, ""},
		{"SHARD_END", Position{ShardID: "s", Sentinel: SentinelShardEnd}, ""},
		{"TRIM_HORIZON", Position{ShardID: "s", Sentinel: SentinelTrimHorizon}, ""},
		{"latest", Position{}, "neither a sequence number"},
		{"", Position{}, "neither a sequence number"},
	} {
		got, err := ParsePosition("s", tt.value, 0)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: got %v, want an error saying %q", tt.value, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got (%+v, %v), want %+v", tt.value, got, err, tt.want)
		}
	}
}

// With the source stream unlisted, its shards are every one the positions,
// checkpoints and trails name, once each, sorted.
func TestSourceByIDNamesEveryShardOnceSorted(t *testing.T) {
	in := Input{
		Positions:   []Position{{ShardID: "shardId-000000000002"}, {ShardID: "shardId-000000000000"}},
		Checkpoints: []checkpoint.Checkpoint{{ShardID: "shardId-000000000000"}, {ShardID: "shardId-000000000003"}},
		Trails:      []checkpoint.Trail{{ShardID: "shardId-000000000001"}},
	}
	var got []string
	for _, s := range in.SourceByID() {
		if s.StartingHash != nil || len(s.Parents) > 0 {
			t.Errorf("shard %s: got a hash range or parents, want the id alone", s.ID)
		}
		got = append(got, s.ID)
	}
	want := []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
