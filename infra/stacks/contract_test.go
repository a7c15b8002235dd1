package stacks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
)

// lambdaEnv is the environment a deployed function sees: the template's
// variables plus what Lambda sets itself.
func lambdaEnv(t *testing.T, tpl map[string]any, function, region string) func(string) string {
	t.Helper()
	vars := functionNamed(t, tpl, function).Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	return func(key string) string {
		switch key {
		case "AWS_REGION":
			return region
		case "AWS_LAMBDA_FUNCTION_NAME":
			return function
		}
		v, _ := vars[key].(string)
		return v
	}
}

// TestDeployedConfigurationIsAcceptedByTheFunctions feeds the synthesized
// environments and the seed payload to the functions' own parsers, so a
// change on either side of the contract fails here rather than at deploy.
func TestDeployedConfigurationIsAcceptedByTheFunctions(t *testing.T) {
	for _, name := range []string{"default", "mixed"} {
		for _, region := range []string{"us-east-1", "us-east-2"} {
			t.Run(name+"/"+region, func(t *testing.T) {
				s := deployment(t, name)
				tpl := s.region(region)

				rs, err := replicator.SettingsFromEnv(lambdaEnv(t, tpl, stacks.ReplicatorFunctionName, region))
				if err != nil {
					t.Fatalf("replicator settings: %v", err)
				}
				if rs.TargetRegion != s.settings.OtherRegion(region) {
					t.Errorf("replicator target: got %s, want %s", rs.TargetRegion, s.settings.OtherRegion(region))
				}

				fs, err := failover.SettingsFromEnv(lambdaEnv(t, tpl, stacks.FailoverFunctionName, region))
				if err != nil {
					t.Fatalf("failover settings: %v", err)
				}
				// The switchover times derive from the cache TTL: the
				// failover function must work with the replicators' value.
				if fs.CacheTTL != rs.CacheTTL || fs.CacheTTL != s.settings.ActiveRegionCacheTTL {
					t.Errorf("cache TTL: failover got %s, replicator %s, want both %s", fs.CacheTTL, rs.CacheTTL, s.settings.ActiveRegionCacheTTL)
				}
				if want := s.settings.HistoryRetention(); fs.HistoryRetention != want || want < 24*time.Hour {
					t.Errorf("history retention: failover got %s, want %s (the longest stream retention, at least 24h)", fs.HistoryRetention, want)
				}

				_, _, request := seedParts(t, tpl)
				req, err := failover.DecodeRequest([]byte(request), fs)
				if err != nil {
					t.Fatalf("failover rejects the seed request %s: %v", request, err)
				}
				if req.Action != failover.ActionInit || req.TargetRegion != s.settings.PrimaryRegion {
					t.Errorf("seed request: got %s to %s, want init to %s", req.Action, req.TargetRegion, s.settings.PrimaryRegion)
				}
			})
		}
	}
}

// TestSeedEventsOfTheTemplateAreServedByTheFailoverFunction sends the
// synthesized seed's properties to the failover handler as CloudFormation
// would, on create, update and delete, so a property the handler refuses
// fails here instead of failing the deployment.
func TestSeedEventsOfTheTemplateAreServedByTheFailoverFunction(t *testing.T) {
	s := deployment(t, "mixed")
	region := s.settings.SecondaryRegion
	tpl := s.region(region)
	seed, _, _ := seedParts(t, tpl)
	fs, err := failover.SettingsFromEnv(lambdaEnv(t, tpl, stacks.FailoverFunctionName, region))
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]any{}
	for k, v := range seed.Properties {
		// CloudFormation resolves intrinsics and hands every value over
		// as a string.
		props[k] = render(v)
	}
	configs := &memoryConfigs{items: map[string]activeregion.Config{}}
	h := failover.NewHandler(fs, failover.Clients{}, failover.WithStores(configs, noCheckpoints{}))
	for _, requestType := range []string{"Create", "Update", "Delete"} {
		event := map[string]any{
			"RequestType":        requestType,
			"RequestId":          "b7d2c1e4-" + requestType,
			"StackId":            "arn:aws:cloudformation:" + region + ":" + testAccount + ":stack/" + stacks.RegionStackName(region) + "/1",
			"LogicalResourceId":  seed.LogicalID,
			"ResourceType":       seedType,
			"ServiceToken":       props["ServiceToken"],
			"ResponseURL":        "https://cloudformation-custom-resource-response.example/" + requestType,
			"ResourceProperties": props,
		}
		if requestType != "Create" {
			event["PhysicalResourceId"] = failover.SeedPhysicalResourceID
		}
		if requestType == "Update" {
			event["OldResourceProperties"] = props
		}
		payload, _ := json.Marshal(event)
		r, err := h.Handle(context.Background(), payload)
		if err != nil {
			t.Fatalf("%s: got error %v, want the seed served", requestType, err)
		}
		if r.PhysicalResourceID != failover.SeedPhysicalResourceID {
			t.Errorf("%s: got PhysicalResourceId %q, want %q", requestType, r.PhysicalResourceID, failover.SeedPhysicalResourceID)
		}
	}
	for _, name := range s.settings.StreamNames() {
		if cfg, ok := configs.items[name]; !ok || cfg.ActiveRegion != s.settings.PrimaryRegion {
			t.Errorf("stream %s: got config %+v (present %v), want it active in %s", name, cfg, ok, s.settings.PrimaryRegion)
		}
	}
}

// memoryConfigs holds config items in memory for the seed contract test,
// which is about the event's shape, not about DynamoDB (pkg/failover tests
// the seed on the emulator).
type memoryConfigs struct {
	mu    sync.Mutex
	items map[string]activeregion.Config
}

func (m *memoryConfigs) Get(_ context.Context, stream string) (activeregion.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, ok := m.items[stream]
	if !ok {
		return activeregion.Config{}, fmt.Errorf("stream %s: %w", stream, activeregion.ErrNotFound)
	}
	return cfg, nil
}

// List is what the seed reads to create new streams where the others are
// active.
func (m *memoryConfigs) List(context.Context) ([]activeregion.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cfgs []activeregion.Config
	for _, c := range m.items {
		cfgs = append(cfgs, c)
	}
	slices.SortFunc(cfgs, func(a, b activeregion.Config) int { return strings.Compare(a.StreamName, b.StreamName) })
	return cfgs, nil
}

func (m *memoryConfigs) Create(_ context.Context, cfg activeregion.Config) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.items[cfg.StreamName]; ok {
		return false, nil
	}
	m.items[cfg.StreamName] = cfg
	return true, nil
}

func (m *memoryConfigs) Switch(context.Context, string, activeregion.Switch) (activeregion.Config, error) {
	return activeregion.Config{}, errors.New("the seed never switches the active Region")
}

// RecordVisibility is activeregion.Store's: it sets v's times on the
// current history entry while that is still v.Epoch written by v.RequestID.
func (m *memoryConfigs) RecordVisibility(_ context.Context, stream string, v activeregion.Visibility) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, ok := m.items[stream]
	if !ok {
		return false, fmt.Errorf("record visibility of stream %s epoch %d: %w", stream, v.Epoch, activeregion.ErrNotFound)
	}
	if len(cfg.History) == 0 || cfg.Epoch != v.Epoch || cfg.History[len(cfg.History)-1].RequestID != v.RequestID {
		return false, nil
	}
	// A copy, so that items handed out by Get before stay as they were.
	cfg.History = slices.Clone(cfg.History)
	last := &cfg.History[len(cfg.History)-1]
	visible, settled := v.VisibleBy.UTC(), v.SettledAt.UTC()
	last.VisibleBy, last.SettledAt = &visible, &settled
	last.ResumeFrom = nil
	if v.ResumeFrom != nil {
		from := v.ResumeFrom.UTC()
		last.ResumeFrom = &from
	}
	m.items[stream] = cfg
	return true, nil
}

func TestMemoryConfigsRecordVisibilityOnlyOnTheEntryItNames(t *testing.T) {
	since := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	visible, settled, from := since.Add(time.Second), since.Add(20*time.Second), since.Add(-time.Minute)
	item := activeregion.Config{StreamName: "s1", ActiveRegion: "us-east-2", ActiveSince: since, Epoch: 2, History: []activeregion.Epoch{
		{Region: "us-east-1", Since: since.Add(-time.Hour), Epoch: 1},
		{Region: "us-east-2", Since: since, Epoch: 2, RequestID: "req-2"},
	}}
	tests := []struct {
		name   string
		stream string
		v      activeregion.Visibility
		want   bool
	}{
		{"current entry", "s1", activeregion.Visibility{Epoch: 2, RequestID: "req-2", VisibleBy: visible, SettledAt: settled, ResumeFrom: &from}, true},
		{"stale epoch", "s1", activeregion.Visibility{Epoch: 1, RequestID: "req-2", VisibleBy: visible, SettledAt: settled}, false},
		{"another request", "s1", activeregion.Visibility{Epoch: 2, RequestID: "req-other", VisibleBy: visible, SettledAt: settled}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memoryConfigs{items: map[string]activeregion.Config{"s1": item}}
			before, _ := m.Get(context.Background(), "s1")
			got, err := m.RecordVisibility(context.Background(), tt.stream, tt.v)
			if err != nil || got != tt.want {
				t.Fatalf("got (%v, %v), want (%v, nil)", got, err, tt.want)
			}
			after, _ := m.Get(context.Background(), "s1")
			last := after.History[len(after.History)-1]
			if !tt.want {
				if !reflect.DeepEqual(after, item) {
					t.Errorf("got item %+v, want it unchanged", after)
				}
				return
			}
			if last.VisibleBy == nil || !last.VisibleBy.Equal(visible) || last.SettledAt == nil || !last.SettledAt.Equal(settled) ||
				last.ResumeFrom == nil || !last.ResumeFrom.Equal(from) {
				t.Errorf("got last entry %+v, want visibleBy %s, settledAt %s, resumeFrom %s", last, visible, settled, from)
			}
			if !reflect.DeepEqual(after.History[0], item.History[0]) || before.History[1].VisibleBy != nil {
				t.Errorf("got history %+v (earlier read %+v), want only the current entry of the stored item changed", after.History, before.History)
			}
		})
	}
	m := &memoryConfigs{items: map[string]activeregion.Config{}}
	if _, err := m.RecordVisibility(context.Background(), "missing", activeregion.Visibility{Epoch: 1}); !errors.Is(err, activeregion.ErrNotFound) {
		t.Errorf("missing stream: got %v, want activeregion.ErrNotFound", err)
	}
}

type noCheckpoints struct{}

func (noCheckpoints) Load(context.Context, string, string) ([]checkpoint.Checkpoint, error) {
	return nil, nil
}
