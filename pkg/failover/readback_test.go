package failover

import (
	"context"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
)

func TestReadBackAfterTheSettleTellsWhichRegionsFailoverWon(t *testing.T) {
	// otherRegionWins overwrites s1 as a failover invoked in us-east-1 from
	// the same epoch would, once its write replicated in: epoch 2 again,
	// another request id, its own resume point.
	otherResume := t0.Add(7 * time.Minute)
	otherRegionWins := func(f *fixture) func(context.Context) error {
		return func(context.Context) error {
			cfg := configAt("s1", east1)
			cfg = switched(cfg, east2, t0.Add(2*time.Hour))
			last := &cfg.History[len(cfg.History)-1]
			last.RequestID, last.ResumeFrom = "req-other-region", &otherResume
			f.configs.Put(cfg)
			return nil
		}
	}
	tests := []struct {
		name         string
		settings     func(*Settings)
		during       func(*fixture) func(context.Context) error
		getErr       bool
		wantStatus   string
		wantSettles  []time.Duration
		wantWarning  []string
		wantResume   *time.Time
		wantUnparked bool
	}{
		{
			name:         "its own switch read back: switched",
			wantStatus:   StatusSwitched,
			wantSettles:  []time.Duration{DefaultSwitchSettle},
			wantResume:   ptr(t0.Add(9 * time.Minute)),
			wantUnparked: true,
		},
		{
			name:         "the settle time comes from the settings",
			settings:     func(s *Settings) { s.SwitchSettle = 750 * time.Millisecond },
			wantStatus:   StatusSwitched,
			wantSettles:  []time.Duration{750 * time.Millisecond},
			wantResume:   ptr(t0.Add(9 * time.Minute)),
			wantUnparked: true,
		},
		{
			name:         "another request's switch read back: conflict with the winner's resume point",
			during:       otherRegionWins,
			wantStatus:   StatusConflict,
			wantSettles:  []time.Duration{DefaultSwitchSettle},
			wantWarning:  []string{"s1", "req-other-region", "another failover, in another Region, won"},
			wantResume:   &otherResume,
			wantUnparked: true,
		},
		{
			name: "a cancelled wait leaves the switch unconfirmed",
			during: func(*fixture) func(context.Context) error {
				return func(context.Context) error { return context.Canceled }
			},
			wantStatus:   StatusSwitched,
			wantSettles:  []time.Duration{DefaultSwitchSettle},
			wantWarning:  []string{"not read back", "status action"},
			wantResume:   ptr(t0.Add(9 * time.Minute)),
			wantUnparked: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings()
			s.ReplicatorFunctionName = "kds-crr-replicator"
			if tt.settings != nil {
				tt.settings(&s)
			}
			f := newFixture(s, configAt("s1", east1))
			f.cps.Put(cp("s1", "shardId-000000000000", t0.Add(9*time.Minute), east1, 1))
			zero := int32(0)
			f.lambdas[east2].reserved = &zero
			if tt.during != nil {
				f.duringSettle = tt.during(f)
			}
			r := f.handle(t, inLambda("req-this-call"), `{"targetRegion":"us-east-2","streams":["s1"]}`)
			sr := r.Streams[0]
			if sr.Status != tt.wantStatus {
				t.Errorf("got status %q, want %q\nwarnings: %q", sr.Status, tt.wantStatus, r.Warnings)
			}
			if !equalDurations(f.settles, tt.wantSettles) {
				t.Errorf("got settle waits %v, want %v", f.settles, tt.wantSettles)
			}
			if tt.wantWarning != nil && !hasLine(r.Warnings, tt.wantWarning...) {
				t.Errorf("got warnings %q, want one with %q", r.Warnings, tt.wantWarning)
			}
			if sr.ResumeFrom == nil || !sr.ResumeFrom.Equal(*tt.wantResume) {
				t.Errorf("got resumeFrom %v, want %v", deref(sr.ResumeFrom), *tt.wantResume)
			}
			if unparked := f.lambdas[east2].reserved == nil; unparked != tt.wantUnparked {
				t.Errorf("got us-east-2 replicator unparked %t, want %t", unparked, tt.wantUnparked)
			}
		})
	}
}

func TestReadBackFailureKeepsTheSwitchAndSaysItIsUnconfirmed(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	f.duringSettle = func(context.Context) error {
		f.configs.Delete("s1")
		return nil
	}
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2","streams":["s1"]}`)
	if got := r.Streams[0].Status; got != StatusSwitched {
		t.Errorf("got status %q, want %q", got, StatusSwitched)
	}
	if !hasLine(r.Warnings, "s1", "switch not read back", activeregion.ErrNotFound.Error()) {
		t.Errorf("got warnings %q, want one saying the switch of s1 was not read back", r.Warnings)
	}
}

func TestNoSettleWithoutASwitch(t *testing.T) {
	for _, payload := range []string{
		`{"targetRegion":"us-east-1"}`,
		`{"targetRegion":"us-east-2","dryRun":true}`,
		`{"targetRegion":"us-east-2","expectedEpoch":7}`,
		`{"action":"status"}`,
	} {
		f := newFixture(testSettings(), configAt("s1", east1))
		f.handle(t, context.Background(), payload)
		if len(f.settles) != 0 {
			t.Errorf("%s: got settle waits %v, want none", payload, f.settles)
		}
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTopLevelActiveRegionIsWhereTheStreamsAreActive(t *testing.T) {
	tests := []struct {
		name        string
		cfgs        []activeregion.Config
		payload     string
		want        string
		wantWarning []string
	}{
		{
			name:    "every stream switched",
			cfgs:    []activeregion.Config{configAt("s1", east1), configAt("s2", east1)},
			payload: `{"targetRegion":"us-east-2"}`,
			want:    east2,
		},
		{
			name:    "nothing switched: the Region still active, not the target",
			cfgs:    []activeregion.Config{configAt("s1", east1), configAt("s2", east1)},
			payload: `{"targetRegion":"us-east-2","expectedEpoch":5}`,
			want:    east1,
		},
		{
			name:        "streams left in different Regions: empty, with a warning",
			cfgs:        []activeregion.Config{configAt("s1", east1), configAt("s2", east1, east2, east1)},
			payload:     `{"targetRegion":"us-east-2","expectedEpoch":1}`,
			want:        "",
			wantWarning: []string{"active in different Regions", "us-east-1, us-east-2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testSettings(), tt.cfgs...)
			r := f.handle(t, context.Background(), tt.payload)
			if r.ActiveRegion != tt.want {
				t.Errorf("got activeRegion %q, want %q (streams %v)", r.ActiveRegion, tt.want, statuses(r))
			}
			if tt.wantWarning != nil && !hasLine(r.Warnings, tt.wantWarning...) {
				t.Errorf("got warnings %q, want one with %q", r.Warnings, tt.wantWarning)
			}
		})
	}
}
