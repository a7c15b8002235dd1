package operator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
)

// defaultReplicaTimeout bounds each read of one Region's table replica and
// each listing of a stream's shards, so a Region that hangs costs that long
// and the other replica answers (Env.ReplicaTimeout).
const defaultReplicaTimeout = 15 * time.Second

// configs reads the config items of streams (every stream when empty) from
// both Regions' replicas and keeps, per stream, the one at the later
// epoch: the replica of the Region just activated may be the only one
// that shows the switch yet. A replica that does not answer is a warning
// while the other does.
func (c *cli) configs(ctx context.Context, s setup, streams []string) (map[string]activeregion.Config, []string, error) {
	type answer struct {
		cfgs []activeregion.Config
		err  error
	}
	answers := make([]answer, len(s.deployment.regions))
	var wg sync.WaitGroup
	for i, r := range s.deployment.regions {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, c.env.ReplicaTimeout)
			defer cancel()
			answers[i].cfgs, answers[i].err = c.configsIn(ctx, s, r, streams)
		})
	}
	wg.Wait()
	out := map[string]activeregion.Config{}
	var warnings []string
	var errs []error
	for i, a := range answers {
		if a.err != nil {
			errs = append(errs, a.err)
			warnings = append(warnings, fmt.Sprintf("the config replica in %s did not answer: %v", s.deployment.regions[i], a.err))
			continue
		}
		for _, cfg := range a.cfgs {
			out[cfg.StreamName] = activeregion.Newer(out[cfg.StreamName], cfg)
		}
	}
	if len(errs) == len(answers) {
		return nil, nil, errors.Join(errs...)
	}
	for _, name := range streams {
		if _, ok := out[name]; !ok {
			return nil, nil, fmt.Errorf("stream %s has no active-Region config item in %s (in either Region): is it deployed?", name, s.common.configTable)
		}
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("the config table %s has no stream", s.common.configTable)
	}
	return out, warnings, nil
}

func (c *cli) configsIn(ctx context.Context, s setup, region string, streams []string) ([]activeregion.Config, error) {
	client, err := s.connector.Region(region).DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	store := activeregion.NewStore(client, s.common.configTable)
	if len(streams) == 0 {
		cfgs, err := store.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("in %s: %w", region, err)
		}
		return cfgs, nil
	}
	var cfgs []activeregion.Config
	for _, name := range streams {
		cfg, err := store.Get(ctx, name)
		switch {
		case errors.Is(err, activeregion.ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("in %s: %w", region, err)
		}
		cfgs = append(cfgs, cfg)
	}
	return cfgs, nil
}

// checkpoints reads region's own checkpoints of stream (fromReplicas).
func (c *cli) checkpoints(ctx context.Context, s setup, stream, region string) ([]checkpoint.Checkpoint, []string, error) {
	return fromReplicas(ctx, c, s, stream, region, "checkpoints", func(ctx context.Context, st *checkpoint.Store) ([]checkpoint.Checkpoint, error) {
		return st.Load(ctx, stream, region)
	})
}

// trails reads region's trails of sync points of stream (trail items of the
// checkpoint table; fromReplicas).
func (c *cli) trails(ctx context.Context, s setup, stream, region string) ([]checkpoint.Trail, []string, error) {
	return fromReplicas(ctx, c, s, stream, region, "sync points", func(ctx context.Context, st *checkpoint.Store) ([]checkpoint.Trail, error) {
		return st.LoadTrails(ctx, stream, region)
	})
}

// fromReplicas reads, with load, what region's replicator writes of stream
// (what names it in warnings) from region's replica of the checkpoint
// table, or, when that one does not answer within the replica timeout,
// from the other Region's.
func fromReplicas[T any](ctx context.Context, c *cli, s setup, stream, region, what string, load func(context.Context, *checkpoint.Store) (T, error)) (T, []string, error) {
	var warnings []string
	var errs []error
	for _, replica := range []string{region, s.deployment.other(region)} {
		v, err := func() (T, error) {
			ctx, cancel := context.WithTimeout(ctx, c.env.ReplicaTimeout)
			defer cancel()
			client, err := s.connector.Region(replica).DynamoDB(ctx)
			if err != nil {
				var zero T
				return zero, err
			}
			return load(ctx, checkpoint.NewStore(client, s.common.checkpointTable))
		}()
		if err == nil {
			return v, warnings, nil
		}
		errs = append(errs, fmt.Errorf("in %s: %w", replica, err))
		warnings = append(warnings, fmt.Sprintf("the %s of %s in %s's replica could not be read (%v); read from %s's, which may be a few seconds behind", what, stream, replica, err, s.deployment.other(replica)))
	}
	var zero T
	return zero, nil, errors.Join(errs...)
}

// oneOrAll is the streams a --stream flag names: that one, or (empty) all.
func oneOrAll(stream string) []string {
	if stream == "" {
		return nil
	}
	return []string{stream}
}

// boundedBy bounds ctx by a --timeout flag; zero is no bound.
func boundedBy(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}
