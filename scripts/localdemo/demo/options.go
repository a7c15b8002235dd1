package demo

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/activeregion"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
)

// Regions of the demo: the first starts active.
var Regions = [2]string{"us-east-1", "us-east-2"}

// Switchover modes (the failover payload's "mode").
const (
	ModeRewind = string(activeregion.ModeRewind)
	ModeDrain  = string(activeregion.ModeDrain)
)

// Bounds of what a run can honour; Validate names the flag at fault.
const (
	// MinDuration is the shortest production time: three phases of a third
	// each, every one producing at least a record. The waits a switch needs
	// (producersMayStartAt, the drain, settledAt) come on top, so a short
	// duration stretches the run rather than failing it.
	MinDuration   = time.Second
	MaxDuration   = time.Hour
	MaxRate       = 5000
	MaxShards     = 64
	MaxKeys       = 100000
	MaxDelay      = 30 * time.Second
	MaxRTT        = 2 * time.Second
	MaxImpairment = 5 * time.Minute
	// DefaultImpairment is how long an impaired Region keeps hanging after
	// the failover call that leaves it has returned.
	DefaultImpairment = 10 * time.Second
)

// Impairment makes a Region hang (localworld.World.Hang) from just before
// the switch that leaves it until For after that call has returned: for
// us-east-1 that is the first failover, for us-east-2 the failback.
type Impairment struct {
	Region string
	For    time.Duration
}

func (i Impairment) String() string { return i.Region + ":" + i.For.String() }

// ParseImpairment reads --impair's REGION[:DURATION].
func ParseImpairment(v string) (Impairment, error) {
	region, dur, hasDur := strings.Cut(strings.TrimSpace(v), ":")
	imp := Impairment{Region: region, For: DefaultImpairment}
	if !slices.Contains(Regions[:], region) {
		return Impairment{}, fmt.Errorf("--impair %q: want REGION[:DURATION] with REGION one of %s, e.g. %s:10s", v, strings.Join(Regions[:], ", "), Regions[0])
	}
	if hasDur {
		d, err := time.ParseDuration(dur)
		if err != nil {
			return Impairment{}, fmt.Errorf("--impair %q: %q is not a Go duration such as 10s", v, dur)
		}
		imp.For = d
	}
	if imp.For <= 0 || imp.For > MaxImpairment {
		return Impairment{}, fmt.Errorf("--impair %q: want a hang of more than 0s and at most %v", v, MaxImpairment)
	}
	return imp, nil
}

// Options shape a run. Start from DefaultOptions or QuickOptions; Run
// refuses options Validate refuses.
type Options struct {
	Stream string
	Shards int
	Keys   int
	// Rate is records per second from the CDC task.
	Rate int
	// Duration is the total production time, split into three equal
	// phases: us-east-1 active, us-east-2 active, us-east-1 active again.
	// The waits of each switch come on top.
	Duration time.Duration
	// CacheTTL is the replicators' ACTIVE_REGION_CACHE_TTL, which the
	// failover functions are given too (the switchover times derive from
	// it); the product's default is 5s.
	CacheTTL time.Duration
	// GlobalTableDelay is how long a write to one Region's replica of the
	// tables takes to reach the other's; 0 is none.
	GlobalTableDelay time.Duration
	// RTT is added to every cross-Region request.
	RTT time.Duration
	// Mode is the switchover mode of both switches: rewind or drain.
	Mode string
	// Impair, if set, hangs a Region around the switch that leaves it.
	Impair *Impairment
	// SwitchSettle is the failover functions' SWITCH_SETTLE; 0 is the
	// product's default (2s).
	SwitchSettle time.Duration
	// ProgressEvery is the interval of the live progress line.
	ProgressEvery time.Duration
	// WaitTimeout bounds each wait of the run: for a drain, for a failback
	// to be accepted, for both mappings to catch up at the end. An
	// impairment's hang comes on top.
	WaitTimeout time.Duration
	// Out receives the story and the progress lines; Log the handlers' logs.
	Out io.Writer
	Log io.Writer
	// Hold, if set, is called after the check with its summary and the
	// deployment's endpoints (Kinesis, DynamoDB and the failover functions'
	// Lambda Invoke endpoint of each Region), while both Regions
	// (emulators, mappings, functions) still run; Run stops them once Hold
	// returns. scripts/demo.sh --keep uses it.
	Hold func(s Summary, e endpoints.File) error
}

// DefaultOptions is the full-length run.
var DefaultOptions = Options{
	Stream:           "orders",
	Shards:           4,
	Keys:             200,
	Rate:             200,
	Duration:         3 * time.Minute,
	CacheTTL:         activeregion.DefaultCacheTTL,
	GlobalTableDelay: time.Second,
	RTT:              20 * time.Millisecond,
	Mode:             ModeRewind,
	ProgressEvery:    time.Second,
	WaitTimeout:      2 * time.Minute,
}

// QuickOptions is the run of about a minute (--quick).
var QuickOptions = func() Options {
	o := DefaultOptions
	o.Rate = 100
	o.Duration = 30 * time.Second
	return o
}()

// Validate refuses what a run cannot honour, naming the flag at fault.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case o.Duration <= 0:
		bad("--duration %v: want a positive Go duration of at least %v, such as 45s", o.Duration, MinDuration)
	case o.Duration < MinDuration:
		bad("--duration %v: too short: at least %v (three phases of production, one per switch)", o.Duration, MinDuration)
	case o.Duration > MaxDuration:
		bad("--duration %v: at most %v", o.Duration, MaxDuration)
	}
	switch {
	case o.Rate <= 0 || o.Rate > MaxRate:
		bad("--rate %d: want 1 to %d records per second", o.Rate, MaxRate)
	case o.Duration > 0 && o.perPhase() < 1:
		bad("--rate %d with --duration %v: a phase of %v would produce no record; raise either", o.Rate, o.Duration, o.phase())
	}
	if o.Shards < 1 || o.Shards > MaxShards {
		bad("--shards %d: want 1 to %d", o.Shards, MaxShards)
	}
	if o.Keys < 1 || o.Keys > MaxKeys {
		bad("--keys %d: want 1 to %d", o.Keys, MaxKeys)
	}
	if o.CacheTTL < 0 || o.CacheTTL > activeregion.MaxCacheTTL {
		bad("--cache-ttl %v: want 0s to %v (the replicators' ACTIVE_REGION_CACHE_TTL)", o.CacheTTL, activeregion.MaxCacheTTL)
	}
	if o.GlobalTableDelay < 0 || o.GlobalTableDelay > MaxDelay {
		bad("--gt-delay %v: want 0s to %v (the global tables' replication delay)", o.GlobalTableDelay, MaxDelay)
	}
	if o.RTT < 0 || o.RTT > MaxRTT {
		bad("--rtt %v: want 0s to %v (added to every cross-Region request)", o.RTT, MaxRTT)
	}
	if o.Mode != ModeRewind && o.Mode != ModeDrain {
		bad("--mode %q: want %s or %s", o.Mode, ModeRewind, ModeDrain)
	}
	if o.Impair != nil {
		if _, err := ParseImpairment(o.Impair.String()); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Stream == "" {
		bad("stream name is empty")
	}
	if o.SwitchSettle < 0 {
		bad("SwitchSettle %v: want zero (the default) or more", o.SwitchSettle)
	}
	return errors.Join(errs...)
}

func (o Options) phase() time.Duration { return o.Duration / 3 }

// consumerLag is ConsumerLag, or a quarter of a phase when that is
// shorter: a short run's consumer still processes part of the first phase
// before it stops, and is still behind the tip when it does.
func (o Options) consumerLag() time.Duration { return min(ConsumerLag, o.phase()/4) }

func (o Options) perPhase() int { return int(float64(o.Rate) * o.phase().Seconds()) }

func (o Options) withDefaults() Options {
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = DefaultOptions.ProgressEvery
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultOptions.WaitTimeout
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// worldDelay is GlobalTableDelay as localworld takes it (its zero is a
// default, not none).
func (o Options) worldDelay() time.Duration {
	if o.GlobalTableDelay == 0 {
		return localworld.NoDelay
	}
	return o.GlobalTableDelay
}
