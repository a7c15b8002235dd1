package verify

import (
	"fmt"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

const (
	east1 = "us-east-1"
	east2 = "us-east-2"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// rec is a record of shard with sequence number seq that arrived at second
// s; its content is key and body.
func rec(shard string, seq, s int, key, body string) streamread.Record {
	return streamread.Record{Shard: shard, SequenceNumber: fmt.Sprintf("%056d", seq), PartitionKey: key, Data: []byte(body), Arrival: at(s)}
}

// cp is from's checkpoint of shard at sequence number seq.
func cp(region, shard string, seq int) checkpoint.Checkpoint {
	return checkpoint.Checkpoint{SourceRegion: region, ShardID: shard, LastSequenceNumber: fmt.Sprintf("%056d", seq)}
}

// history builds a config from (region, since second, mode) entries.
func history(entries ...activeregion.Epoch) activeregion.Config {
	last := entries[len(entries)-1]
	return activeregion.Config{StreamName: "s", ActiveRegion: last.Region, ActiveSince: last.Since, Epoch: last.Epoch, History: entries}
}

func epoch(n int64, region string, s int, mode activeregion.Mode) activeregion.Epoch {
	return activeregion.Epoch{Epoch: n, Region: region, Since: at(s), Mode: mode}
}

func TestCompareJudgesWhatTheSourceWasResponsibleFor(t *testing.T) {
	east1Only := history(epoch(1, east1, 0, ""))
	rewound := history(epoch(1, east1, 0, ""), epoch(2, east2, 100, activeregion.ModeRewind))
	rewoundFrom60 := history(epoch(1, east1, 0, ""), epoch(2, east2, 100, activeregion.ModeRewind))
	rewoundFrom60.History[1].ResumeFrom = new(at(60))
	drained := history(epoch(1, east1, 0, ""), epoch(2, east2, 100, activeregion.ModeDrain))
	tests := []struct {
		name   string
		cfg    activeregion.Config
		source []streamread.Record
		target []streamread.Record
		cps    []checkpoint.Checkpoint
		want   Direction
	}{
		{
			name:   "every acknowledged record copied in order is checked and nothing else",
			cfg:    east1Only,
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 2, "k", "2"), rec("b", 1, 1, "j", "1")},
			target: []streamread.Record{rec("x", 1, 2, "k", "1"), rec("x", 2, 3, "j", "1"), rec("x", 3, 3, "k", "2")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 2), cp(east1, "b", 1)},
			want:   Direction{Checked: 3},
		},
		{
			name:   "an acknowledged record the target does not hold is missing, named by shard and sequence number",
			cfg:    east1Only,
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 2, "k", "2")},
			target: []streamread.Record{rec("x", 1, 2, "k", "1")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 2)},
			want:   Direction{Checked: 2, Missing: 1, MissingRecords: []string{"a:" + fmt.Sprintf("%056d", 2)}},
		},
		{
			name:   "a record after its shard's checkpoint that the target does not hold yet is pending, not missing",
			cfg:    east1Only,
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 2, "k", "2")},
			target: []streamread.Record{rec("x", 1, 2, "k", "1")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 1)},
			want:   Direction{Checked: 1, Pending: 1},
		},
		{
			name:   "a shard without a checkpoint has acknowledged nothing",
			cfg:    east1Only,
			source: []streamread.Record{rec("a", 1, 1, "k", "1")},
			want:   Direction{Pending: 1},
		},
		{
			name:   "the other Region's checkpoint of a shard with the same id acknowledges nothing here",
			cfg:    east1Only,
			source: []streamread.Record{rec("a", 1, 1, "k", "1")},
			cps:    []checkpoint.Checkpoint{cp(east2, "a", 9)},
			want:   Direction{Pending: 1},
		},
		{
			name:   "a key whose last copies come back in another order is out of order",
			cfg:    east1Only,
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 2, "k", "2"), rec("a", 3, 3, "k", "3")},
			target: []streamread.Record{rec("x", 1, 2, "k", "2"), rec("x", 2, 3, "k", "1"), rec("x", 3, 4, "k", "3")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 3)},
			want:   Direction{Checked: 3, OutOfOrder: 1},
		},
		{
			name:   "a record sent again after a later one is in order by its last copy and counted as a duplicate",
			cfg:    east1Only,
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 2, "k", "2")},
			target: []streamread.Record{rec("x", 1, 2, "k", "2"), rec("x", 2, 3, "k", "1"), rec("x", 3, 4, "k", "2")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 2)},
			want:   Direction{Checked: 2, Duplicates: 1},
		},
		{
			name:   "copies of the other Region's records are not the source's to replicate",
			cfg:    rewound,
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 150, "k", "from-east2")},
			target: []streamread.Record{rec("x", 1, 2, "k", "1")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 1)},
			want:   Direction{Checked: 1},
		},
		{
			name:   "a rewind hands the closed epoch's records the target lacks to the producers",
			cfg:    rewound,
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 50, "k", "2")},
			target: []streamread.Record{rec("x", 1, 2, "k", "1")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 2)},
			want:   Direction{Checked: 1, Superseded: 1},
		},
		{
			name:   "a closed epoch's record that arrived before its rewind's resume point had to be replicated",
			cfg:    rewoundFrom60,
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 50, "k", "2"), rec("a", 3, 70, "k", "3")},
			target: []streamread.Record{rec("x", 1, 2, "k", "1")},
			want:   Direction{Checked: 2, Missing: 1, Superseded: 1, MissingRecords: []string{"a:" + fmt.Sprintf("%056d", 2)}},
		},
		{
			name:   "a drain keeps the closed epoch's records the old Region's to replicate",
			cfg:    drained,
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 50, "k", "2")},
			target: []streamread.Record{rec("x", 1, 2, "k", "1")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 2)},
			want:   Direction{Checked: 2, Missing: 1, MissingRecords: []string{"a:" + fmt.Sprintf("%056d", 2)}},
		},
		{
			name:   "records older than a trimmed history are undecided",
			cfg:    history(epoch(5, east1, 100, activeregion.ModeDrain)),
			source: []streamread.Record{rec("a", 1, 1, "k", "1"), rec("a", 2, 150, "k", "2")},
			target: []streamread.Record{rec("x", 1, 151, "k", "2")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 2)},
			want:   Direction{Checked: 1, Undecided: 1},
		},
		{
			name: "a key that moved to a child shard is ordered by arrival across the shards",
			cfg:  east1Only,
			source: []streamread.Record{
				rec("child", 1, 10, "k", "3"), rec("parent", 1, 1, "k", "1"), rec("parent", 2, 2, "k", "2"),
			},
			target: []streamread.Record{rec("x", 1, 2, "k", "1"), rec("x", 2, 3, "k", "2"), rec("x", 3, 11, "k", "3")},
			cps:    []checkpoint.Checkpoint{cp(east1, "parent", 2), cp(east1, "child", 1)},
			want:   Direction{Checked: 3},
		},
		{
			name:   "the same data under another partition key is not a copy",
			cfg:    east1Only,
			source: []streamread.Record{rec("a", 1, 1, "k", "1")},
			target: []streamread.Record{rec("x", 1, 2, "other", "1")},
			cps:    []checkpoint.Checkpoint{cp(east1, "a", 1)},
			want:   Direction{Checked: 1, Missing: 1, MissingRecords: []string{"a:" + fmt.Sprintf("%056d", 1)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(tt.cfg, east1, east2, tt.source, tt.target, tt.cps)
			tt.want.From, tt.want.To = east1, east2
			if tt.want.MissingRecords == nil {
				tt.want.MissingRecords = []string{}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Compare:\n got %+v\nwant %+v", got, tt.want)
			}
			if got.OK() != (tt.want.Missing == 0 && tt.want.OutOfOrder == 0) {
				t.Errorf("OK() = %v for %+v", got.OK(), got)
			}
		})
	}
}

func TestCompareListsAtMostMaxListedMissingRecordsButCountsThemAll(t *testing.T) {
	var source []streamread.Record
	for i := 1; i <= MaxListed+5; i++ {
		source = append(source, rec("a", i, 1, fmt.Sprint(i), "x"))
	}
	got := Compare(history(epoch(1, east1, 0, "")), east1, east2, source, nil, []checkpoint.Checkpoint{cp(east1, "a", MaxListed+5)})
	if got.Missing != MaxListed+5 || len(got.MissingRecords) != MaxListed {
		t.Fatalf("got %d missing, %d listed; want %d and %d", got.Missing, len(got.MissingRecords), MaxListed+5, MaxListed)
	}
}
