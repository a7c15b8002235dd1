package activeregion

import (
	"testing"
	"time"
)

func TestTimingOfASwitchover(t *testing.T) {
	tm := Timing{CacheTTL: 5 * time.Second}
	start := at(0)
	tests := []struct {
		name string
		got  time.Time
		want time.Time
	}{
		{"a write lease runs the TTL plus the grace", tm.WriteUntil(start), at(7 * time.Second)},
		{"old writes land by the lease of a read just before visibility, plus a margin", tm.OldWritesLandBy(start), at(8 * time.Second)},
		{"the hold outlasts the TTL of any read from before visibility", tm.HoldUntil(start), at(6 * time.Second)},
		{"drain mode starts the epoch just after the write", tm.Since(start, ModeDrain, time.Time{}), at(SwitchLead)},
		{"rewind mode starts it after every old write has landed", tm.Since(start, ModeRewind, time.Time{}), at(SwitchLead + 8*time.Second)},
		{"a forced switch waits for the previous one", tm.Since(start, ModeDrain, at(time.Minute)), at(time.Minute)},
		{"a settle time before since does not move it", tm.Since(start, ModeRewind, at(time.Second)), at(SwitchLead + 8*time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.got.Equal(tt.want) {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func TestVisibleByOrPrefersTheRecordedTimeAndIsBounded(t *testing.T) {
	recorded := at(200 * time.Millisecond)
	tests := []struct {
		name     string
		e        Epoch
		observed time.Time
		want     time.Time
	}{
		{"recorded", Epoch{Since: at(time.Second), VisibleBy: &recorded}, at(time.Minute), recorded},
		{"not recorded yet: the read that showed it", Epoch{Since: at(time.Second)}, at(2 * time.Second), at(2 * time.Second)},
		{"never recorded: bounded by the write timeout", Epoch{Since: at(time.Second)}, at(time.Hour), at(time.Second + SwitchWriteTimeout)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.VisibleByOr(tt.observed); !got.Equal(tt.want) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSettledAt(t *testing.T) {
	tm := Timing{CacheTTL: 5 * time.Second}
	stored := at(42 * time.Second)
	visible := at(0)
	tests := []struct {
		name string
		e    Epoch
		want time.Time
	}{
		{"stored", Epoch{Since: at(time.Second), SettledAt: &stored}, stored},
		{"from the recorded visibility", Epoch{Since: at(time.Second), VisibleBy: &visible}, at(8 * time.Second)},
		{"never before since", Epoch{Since: at(time.Minute), VisibleBy: &visible}, at(time.Minute)},
		{"unrecorded: from the bound on the write", Epoch{Since: at(time.Second)}, at(time.Second + SwitchWriteTimeout + 8*time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tm.SettledAt(tt.e); !got.Equal(tt.want) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestProducersMayStartOnlyOnceTheSwitchIsReadable(t *testing.T) {
	tm := Timing{CacheTTL: 5 * time.Second}
	fast, slow := at(10*time.Millisecond), at(3*time.Second)
	tests := []struct {
		name string
		e    Epoch
		want time.Time
	}{
		{"rewind: when settled", Epoch{Since: at(9 * time.Second), Mode: ModeRewind, VisibleBy: &fast}, at(9 * time.Second)},
		{"drain, a fast write: since, or the visibility plus the skew margin", Epoch{Since: at(time.Second), Mode: ModeDrain, VisibleBy: &fast}, at(time.Second + 10*time.Millisecond)},
		{"drain, a write slower than the lead: not before it was visible", Epoch{Since: at(time.Second), Mode: ModeDrain, VisibleBy: &slow}, at(4 * time.Second)},
		{"drain, visibility never recorded: its bound", Epoch{Since: at(time.Second), Mode: ModeDrain}, at(time.Second + SwitchWriteTimeout + HoldMargin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tm.ProducersMayStartAt(tt.e); !got.Equal(tt.want) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
