package activeregion

import (
	"testing"
	"time"
)

func TestDecideFollowsTheEpochOfTheArrivalAndTheModeThatClosedIt(t *testing.T) {
	entries := func(modes ...Mode) Config {
		cfg := activeFrom(east1, at(0), east2, at(time.Hour), east1, at(2*time.Hour))
		for i, m := range modes {
			cfg.History[i+1].Mode = m
		}
		return cfg
	}
	rewound, drained, legacy := entries(ModeRewind, ModeRewind), entries(ModeDrain, ModeDrain), entries("", "")
	trimmed := activeFrom(east1, at(0), east2, at(time.Hour))
	trimmed.History = trimmed.History[1:]
	// A switch stamped ahead by the failover: since is in the future.
	ahead := activeFrom(east1, at(0), east2, at(10*time.Hour))
	ahead.History[1].Mode = ModeRewind
	tests := []struct {
		name    string
		cfg     Config
		region  string
		arrival time.Duration
		want    Decision
	}{
		{"own open epoch is replicated", rewound, east1, 3 * time.Hour, Replicate},
		{"another Region's epoch is skipped", rewound, east2, 3 * time.Hour, Skip},
		{"a replica that arrived in the standby is skipped", rewound, east2, 30 * time.Minute, Skip},
		{"own epoch closed in rewind mode is superseded", rewound, east1, 30 * time.Minute, Supersede},
		{"own epoch closed in drain mode is replicated", drained, east1, 30 * time.Minute, Replicate},
		{"an epoch closed before modes existed drains", legacy, east1, 30 * time.Minute, Replicate},
		{"exactly at a switch belongs to the new epoch", rewound, east2, time.Hour, Supersede},
		{"just before a switch belongs to the old epoch", rewound, east1, time.Hour - time.Nanosecond, Supersede},
		{"a middle epoch closed in rewind mode is superseded", rewound, east2, 90 * time.Minute, Supersede},
		{"records before the first epoch belong to it", rewound, east1, -time.Hour, Supersede},
		{"records before a trimmed history are undecided", trimmed, east2, 30 * time.Minute, Undecided},
		{"a switch stamped ahead supersedes the backlog before its since", ahead, east1, 5 * time.Hour, Supersede},
		{"a switch stamped ahead leaves the standby skipping until its since", ahead, east2, 5 * time.Hour, Skip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Decide(tt.region, at(tt.arrival)); got != tt.want {
				t.Errorf("Decide(%s, %v): got %s, want %s", tt.region, tt.arrival, got, tt.want)
			}
		})
	}
}

func TestNewerPicksTheLaterEpoch(t *testing.T) {
	one := activeFrom(east1, at(0))
	two := activeFrom(east1, at(0), east2, at(time.Hour))
	if got := Newer(one, two); got.Epoch != 2 {
		t.Errorf("Newer(1, 2): got epoch %d, want 2", got.Epoch)
	}
	if got := Newer(two, one); got.Epoch != 2 {
		t.Errorf("Newer(2, 1): got epoch %d, want 2", got.Epoch)
	}
	tie := two
	tie.Reason = "the other replica"
	if got := Newer(two, tie); got.Reason != "" {
		t.Errorf("Newer on a tie: got %q, want the first", got.Reason)
	}
}

func TestPruneHistoryKeepsEveryEpochThatEndedWithinTheRetention(t *testing.T) {
	h := activeFrom(east1, at(0), east2, at(time.Hour), east1, at(2*time.Hour), east2, at(3*time.Hour)).History
	tests := []struct {
		name      string
		now       time.Duration
		retention time.Duration
		limit     int
		wantFirst int64
	}{
		{"all within the retention", 3 * time.Hour, 24 * time.Hour, 100, 1},
		{"an epoch that ended inside the window stays", 3 * time.Hour, 150 * time.Minute, 100, 1},
		{"an epoch that ended before the window goes", 3 * time.Hour, 90 * time.Minute, 100, 2},
		{"the current epoch always stays", 100 * time.Hour, time.Hour, 100, 4},
		{"the limit drops the oldest", 3 * time.Hour, 24 * time.Hour, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PruneHistory(h, at(tt.now), tt.retention, tt.limit)
			if got[0].Epoch != tt.wantFirst || got[len(got)-1].Epoch != 4 {
				t.Errorf("got epochs %d..%d, want %d..4", got[0].Epoch, got[len(got)-1].Epoch, tt.wantFirst)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeRewind, "rewind": ModeRewind, "drain": ModeDrain} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q): got %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("Drain"); err == nil {
		t.Error(`ParseMode("Drain"): got no error, want one (modes are case-sensitive)`)
	}
}

func TestDrainedThroughIsTheLatestOwnEpochEndedByTheArrival(t *testing.T) {
	cfg := activeFrom(east1, at(0), east2, at(time.Hour), east1, at(2*time.Hour), east2, at(3*time.Hour))
	tests := []struct {
		name      string
		region    string
		arrival   time.Duration
		want      int64
		wantFound bool
	}{
		{"nothing ended yet", east1, 30 * time.Minute, 0, false},
		{"the first epoch ended at the first switch", east1, time.Hour, 1, true},
		{"between the failback and the next switch", east1, 150 * time.Minute, 1, true},
		{"after the last switch the latest own epoch counts", east1, 4 * time.Hour, 3, true},
		{"the other Region's epoch ended at the failback", east2, 2 * time.Hour, 2, true},
		{"an open epoch of the other Region has not ended", east2, 90 * time.Minute, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cfg.DrainedThrough(tt.region, at(tt.arrival))
			if got != tt.want || ok != tt.wantFound {
				t.Errorf("got %d, %t; want %d, %t", got, ok, tt.want, tt.wantFound)
			}
		})
	}
}

func TestClosedByIsTheSwitchThatEndedTheArrivalsEpoch(t *testing.T) {
	cfg := activeFrom(east1, at(0), east1, at(30*time.Minute), east2, at(time.Hour))
	trimmed := cfg
	trimmed.History = cfg.History[2:]
	tests := []struct {
		name      string
		cfg       Config
		arrival   time.Duration
		wantEpoch int64
		wantOK    bool
	}{
		{"a record of the open epoch is not closed", cfg, 2 * time.Hour, 0, false},
		{"a record of a closed epoch is closed by the next Region's switch", cfg, 10 * time.Minute, cfg.History[2].Epoch, true},
		{"an epoch that repeated its Region is closed by the other Region", cfg, 40 * time.Minute, cfg.History[2].Epoch, true},
		{"a record before the first epoch belongs to it", cfg, -time.Hour, cfg.History[2].Epoch, true},
		{"a record before a trimmed history is not known to be closed", trimmed, 10 * time.Minute, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.cfg.ClosedBy(at(tt.arrival))
			if ok != tt.wantOK || got.Epoch != tt.wantEpoch {
				t.Errorf("ClosedBy(%v): got epoch %d, %v; want %d, %v", tt.arrival, got.Epoch, ok, tt.wantEpoch, tt.wantOK)
			}
		})
	}
}
