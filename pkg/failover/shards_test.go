package failover

import (
	"context"
	"slices"
	"testing"
	"time"

	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

func TestResumePointAccountsForEveryListedShard(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	const (
		s0 = "shardId-000000000000"
		s1 = "shardId-000000000001"
		s2 = "shardId-000000000002"
		s3 = "shardId-000000000003"
	)
	tests := []struct {
		name         string
		shards       []kinesistypes.Shard
		cps          []checkpoint.Checkpoint
		ignore       string
		wantResume   *time.Time
		wantWarnings [][]string
		noWarning    []string
	}{
		{
			name:         "an open shard without a checkpoint withholds resumeFrom",
			shards:       []kinesistypes.Shard{openShard(s0), openShard(s1)},
			cps:          []checkpoint.Checkpoint{cp("s1", s0, at(10), east1, 1)},
			wantWarnings: [][]string{{s1, "no checkpoint", "withheld", "earliest retained record", "ignoreShards"}},
		},
		{
			name:         "a new child of a split without a checkpoint withholds resumeFrom",
			shards:       []kinesistypes.Shard{closedShard(s0), childShard(s1, s0), childShard(s2, s0)},
			cps:          []checkpoint.Checkpoint{cp("s1", s0, at(10), east1, 1), cp("s1", s1, at(12), east1, 1)},
			wantWarnings: [][]string{{s2, "withheld"}},
		},
		{
			name:         "a closed parent without a checkpoint whose child has none withholds resumeFrom and names both",
			shards:       []kinesistypes.Shard{closedShard(s0), childShard(s1, s0), openShard(s2)},
			cps:          []checkpoint.Checkpoint{cp("s1", s2, at(10), east1, 1)},
			wantWarnings: [][]string{{s0 + ", " + s1, "withheld"}},
		},
		{
			name:       "a closed parent without a checkpoint whose children all have one is settled",
			shards:     []kinesistypes.Shard{closedShard(s0), childShard(s1, s0), childShard(s2, s0)},
			cps:        []checkpoint.Checkpoint{cp("s1", s1, at(10), east1, 1), cp("s1", s2, at(11), east1, 1)},
			wantResume: ptr(at(10)),
		},
		{
			name:       "a merge settles both parents through the child's checkpoint",
			shards:     []kinesistypes.Shard{closedShard(s0), closedShard(s1), childShard(s2, s0, s1)},
			cps:        []checkpoint.Checkpoint{cp("s1", s2, at(10), east1, 1)},
			wantResume: ptr(at(10)),
		},
		{
			name:       "a shard that never received records may be ignored",
			shards:     []kinesistypes.Shard{openShard(s0), openShard(s1)},
			cps:        []checkpoint.Checkpoint{cp("s1", s0, at(10), east1, 1)},
			ignore:     s1,
			wantResume: ptr(at(10)),
			noWarning:  []string{"which has no checkpoint"},
		},
		{
			name:         "ignoring a shard the stream does not have is a warning",
			shards:       []kinesistypes.Shard{openShard(s0)},
			cps:          []checkpoint.Checkpoint{cp("s1", s0, at(10), east1, 1)},
			ignore:       s3,
			wantResume:   ptr(at(10)),
			wantWarnings: [][]string{{s3, "not a shard of the stream in us-east-1"}},
		},
		{
			name:       "a checkpoint of a shard past retention still counts",
			shards:     []kinesistypes.Shard{openShard(s1)},
			cps:        []checkpoint.Checkpoint{cp("s1", s0, at(5), east1, 1), cp("s1", s1, at(10), east1, 1)},
			wantResume: ptr(at(5)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testSettings(), configAt("s1", east1))
			f.cps.Put(tt.cps...)
			f.kinesis[east1].shards = map[string][]kinesistypes.Shard{"s1": tt.shards}
			f.kinesis[east1].pageSize = 1
			payload := `{"targetRegion":"us-east-2","streams":["s1"]}`
			if tt.ignore != "" {
				payload = `{"targetRegion":"us-east-2","streams":["s1"],"ignoreShards":{"s1":["` + tt.ignore + `"]}}`
			}
			r := f.handle(t, context.Background(), payload)
			got := r.Streams[0].ResumeFrom
			if (got == nil) != (tt.wantResume == nil) || (got != nil && !got.Equal(*tt.wantResume)) {
				t.Errorf("got resumeFrom %v, want %v\nwarnings: %q", deref(got), deref(tt.wantResume), r.Warnings)
			}
			if r.Streams[0].ResumeFromUnverified {
				t.Error("got resumeFromUnverified, want the listing to verify it")
			}
			// A status reads the shards again and says the same.
			status := `{"action":"status","streams":["s1"]}`
			if tt.ignore != "" {
				status = `{"action":"status","streams":["s1"],"ignoreShards":{"s1":["` + tt.ignore + `"]}}`
			}
			st := f.handle(t, context.Background(), status)
			if got := st.Streams[0].ResumeFrom; (got == nil) != (tt.wantResume == nil) {
				t.Errorf("status: got resumeFrom %v, want %v", deref(got), deref(tt.wantResume))
			}
			for _, w := range tt.wantWarnings {
				if !hasLine(r.Warnings, w...) {
					t.Errorf("got warnings %q, want one with %q", r.Warnings, w)
				}
			}
			for _, w := range tt.noWarning {
				if hasLine(r.Warnings, w) {
					t.Errorf("got warnings %q, want none with %q", r.Warnings, w)
				}
			}
		})
	}
}

func TestShardsAreListedInTheRegionFailedAwayFromOrElseHere(t *testing.T) {
	tests := []struct {
		name           string
		east1Down      bool
		east2Down      bool
		wantResume     bool
		wantUnverified bool
		wantWarning    []string
	}{
		{name: "the source Region lists them", wantResume: false},
		// Another stream's shards: they could withhold, they cannot confirm.
		{name: "the own Region stands in, unverified", east1Down: true, wantResume: true, wantUnverified: true,
			wantWarning: []string{"could not be listed in us-east-1", "listed in us-east-2 instead", "same shard IDs", "on-demand"}},
		{name: "without any listing resumeFrom is unverified", east1Down: true, east2Down: true, wantResume: true, wantUnverified: true,
			wantWarning: []string{"could not be listed in us-east-1", "nor in us-east-2", "UNVERIFIED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testSettings(), configAt("s1", east1))
			f.cps.Put(cp("s1", "shardId-000000000000", t0.Add(10*time.Minute), east1, 1))
			// The source Region has a second shard without a checkpoint; the
			// own Region's stream has only the one.
			f.kinesis[east1].shards = map[string][]kinesistypes.Shard{"s1": {openShard("shardId-000000000000"), openShard("shardId-000000000001")}}
			if tt.east1Down {
				f.kinesis[east1].err = errRegionDown
			}
			if tt.east2Down {
				f.kinesis[east2].err = errRegionDown
			}
			r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2","streams":["s1"]}`)
			sr := r.Streams[0]
			if got := sr.ResumeFrom != nil; got != tt.wantResume {
				t.Errorf("got resumeFrom %v, want one: %t\nwarnings: %q", deref(sr.ResumeFrom), tt.wantResume, r.Warnings)
			}
			if sr.ResumeFromUnverified != tt.wantUnverified {
				t.Errorf("got resumeFromUnverified %t, want %t", sr.ResumeFromUnverified, tt.wantUnverified)
			}
			if tt.wantWarning != nil && !hasLine(r.Warnings, tt.wantWarning...) {
				t.Errorf("got warnings %q, want one with %q", r.Warnings, tt.wantWarning)
			}
			if f.kinesis[east1].calls == 0 {
				t.Error("got no ListShards call in us-east-1, want the Region failed away from asked first")
			}
		})
	}
}

func TestIdleShardAdviceWithoutAListingWarnsAboutClosedParents(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	f.cps.Put(
		cp("s1", "shardId-000000000000", t0.Add(10*time.Minute), east1, 1),
		cp("s1", "shardId-000000000001", t0.Add(time.Hour), east1, 1),
	)
	for _, k := range f.kinesis {
		k.err = errRegionDown
	}
	r := f.handle(t, context.Background(), `{"targetRegion":"us-east-2","streams":["s1"],"dryRun":true}`)
	if !hasLine(r.Warnings, "shardId-000000000000", "never a closed parent whose children have no checkpoint") {
		t.Errorf("got warnings %q, want the ignoreShards advice to rule out closed parents of unreplicated children", r.Warnings)
	}
	f.kinesis[east1].err = nil
	r = f.handle(t, context.Background(), `{"targetRegion":"us-east-2","streams":["s1"],"dryRun":true}`)
	if !hasLine(r.Warnings, "shardId-000000000000", "if they are idle or closed") || hasLine(r.Warnings, "never a closed parent") {
		t.Errorf("got warnings %q, want the plain advice once the shards are listed", r.Warnings)
	}
}

// The stored resume point is the checkpoints' minimum at the switch; every
// later report checks it again against the shards of the Region left, which
// may have gained a shard without a checkpoint since.
func TestStatusAndRetriesCheckTheStoredResumePointAgainstTheShards(t *testing.T) {
	f := newFixture(testSettings(), configAt("s1", east1))
	f.cps.Put(cp("s1", "shardId-000000000000", t0.Add(10*time.Minute), east1, 1))
	f.handle(t, context.Background(), `{"targetRegion":"us-east-2","streams":["s1"]}`)
	if !slices.ContainsFunc(f.configs.item("s1").History, func(e activeregion.Epoch) bool { return e.ResumeFrom != nil }) {
		t.Fatal("got no stored resumeFrom, want the switch's")
	}
	f.kinesis[east1].shards = map[string][]kinesistypes.Shard{"s1": {openShard("shardId-000000000000"), openShard("shardId-000000000001")}}
	for _, payload := range []string{`{"targetRegion":"us-east-2","streams":["s1"]}`, `{"action":"status"}`} {
		r := f.handle(t, context.Background(), payload)
		if got := r.Streams[0].ResumeFrom; got != nil {
			t.Errorf("%s: got resumeFrom %s, want it withheld now that shardId-000000000001 has none", payload, stamp(*got))
		}
	}
}
