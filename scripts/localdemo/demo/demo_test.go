package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
	"github.com/kinesis-crr/kinesis-crr/pkg/localdeploy"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
	"github.com/kinesis-crr/kinesis-crr/pkg/translate"
	"github.com/kinesis-crr/kinesis-crr/pkg/verify"
)

// TestRunKeepsEveryPromiseAcrossFailoverAndFailback runs the whole story,
// shortened, on the modelled world (two DynamoDB replicas 1s apart, a
// cross-Region round trip) with the real handlers, in both switchover modes
// and with either Region hanging around the switch that leaves it.
func TestRunKeepsEveryPromiseAcrossFailoverAndFailback(t *testing.T) {
	// The hangs end 5s after the call, not at the end of a write lease
	// the new Region's replicator took on a fence read held by the hang
	// (TTL 1s + 2s after the call): a write cut by a lease ending just as
	// the Region answers again may land anyway and be written again, a
	// duplicate promisecheck counts as looped (see docs/local.md).
	cases := []struct {
		name   string
		mode   string
		impair *Impairment
	}{
		{name: "rewind", mode: ModeRewind},
		{name: "drain", mode: ModeDrain},
		{name: "rewind, us-east-1 hangs at the failover", mode: ModeRewind, impair: &Impairment{Region: Regions[0], For: 5 * time.Second}},
		{name: "drain, us-east-2 hangs at the failback", mode: ModeDrain, impair: &Impairment{Region: Regions[1], For: 5 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			o := QuickOptions
			o.Shards, o.Keys, o.Rate = 2, 20, 100
			o.Duration = 6 * time.Second
			o.CacheTTL = time.Second
			o.GlobalTableDelay = time.Second
			o.SwitchSettle = time.Second
			o.Mode, o.Impair = tc.mode, tc.impair
			var out bytes.Buffer
			o.Out, o.Log = &out, &testWriter{t}
			sum, err := Run(ctx, o)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
			if err := sum.Write(&out); err != nil {
				t.Fatal(err)
			}
			t.Log(out.String())

			if !sum.OK() {
				t.Errorf("got %s, want a run that keeps every promise", sum.Result)
			}
			// kdscrr verify's check, which knows only what a deployment
			// knows, agrees in every mode and impairment.
			if len(sum.Verify.Directions) != 2 {
				t.Errorf("verify: got %d directions, want 2", len(sum.Verify.Directions))
			}
			for _, d := range sum.Verify.Directions {
				if d.Checked == 0 || !d.OK() || d.Pending != 0 {
					t.Errorf("verify %s → %s: got %+v, want records checked, none missing, out of order or pending", d.From, d.To, d)
				}
			}
			for _, r := range sum.Regions {
				if r.Produced == 0 || r.Lost != 0 {
					t.Errorf("%s: got %d produced, %d lost, want some and none", r.Region, r.Produced, r.Lost)
				}
			}
			// The consumer moved at the failover, missed nothing and
			// re-read no more than the translation promised.
			c := sum.Consumer
			if c.From != Regions[0] || c.To != Regions[1] || c.ProcessedFrom == 0 || c.ProcessedTo == 0 || len(c.Starts) != o.Shards {
				t.Errorf("consumer: got %s → %s, %d processed there and %d here, %d starts; want %s → %s, some processed in each, %d starts",
					c.From, c.To, c.ProcessedFrom, c.ProcessedTo, len(c.Starts), Regions[0], Regions[1], o.Shards)
			}
			if c.Missed != 0 {
				t.Errorf("consumer: got %d missed (%q), want 0", c.Missed, c.MissedRecords)
			}
			if len(c.OverBound) != 0 || (len(c.Unbounded) == 0 && int64(c.Reread) > c.Promised) {
				t.Errorf("consumer: got %d re-read, over the bound on %q; want at most the %d promised", c.Reread, c.OverBound, c.Promised)
			}
			if got := len(sum.Failovers); got != 2 {
				t.Fatalf("got %d failovers, want 2", got)
			}
			for i, want := range []struct {
				from, to string
				epoch    int64
			}{{Regions[0], Regions[1], 2}, {Regions[1], Regions[0], 3}} {
				f := sum.Failovers[i]
				if f.From != want.from || f.To != want.to || f.Epoch != want.epoch || f.Mode != tc.mode {
					t.Errorf("failover %d: got %s → %s epoch %d %s, want %s → %s epoch %d %s", i+1, f.From, f.To, f.Epoch, f.Mode, want.from, want.to, want.epoch, tc.mode)
				}
				if f.ProducersMayStartAt.IsZero() || f.SettledAt == nil {
					t.Errorf("failover %d: got producersMayStartAt %v, settledAt %v, want both", i+1, f.ProducersMayStartAt, f.SettledAt)
				}
				switch tc.mode {
				case ModeRewind:
					if f.Resent == 0 {
						t.Errorf("failover %d: the CDC task resent nothing from resumeFrom %v", i+1, f.ResumeFrom)
					}
				case ModeDrain:
					if f.DrainPolls == 0 || f.Resent != 0 {
						t.Errorf("failover %d: got %d status calls for the drain and %d resent, want some and none", i+1, f.DrainPolls, f.Resent)
					}
				}
				hung := ""
				if tc.impair != nil && tc.impair.Region == f.From {
					hung = f.From
				}
				if f.Impaired != hung {
					t.Errorf("failover %d: got %q hung during the call, want %q", i+1, f.Impaired, hung)
				}
			}
			if !strings.Contains(out.String(), "RESULT: OK: ") {
				t.Errorf("got output without the OK result line:\n%s", out.String())
			}
		})
	}
}

func TestRunHoldsTheWorldForKeep(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := QuickOptions
	o.Shards, o.Keys, o.Rate, o.Duration = 1, 5, 30, time.Second
	o.CacheTTL, o.SwitchSettle = 0, time.Second
	o.Log = &testWriter{t}
	var kept endpoints.File
	o.Hold = func(s Summary, e endpoints.File) error {
		kept = e
		if err := e.Validate(); err != nil {
			t.Errorf("got endpoints %+v that the operator CLI refuses: %v", e, err)
		}
		for _, r := range Regions {
			ep, ok := e[r]
			if !ok || ep.Lambda == "" {
				t.Errorf("endpoints of %s: got %+v, want a Lambda endpoint", r, ep)
				continue
			}
			// The failover functions answer over the Invoke API while held,
			// with the story's end: back in the first Region at epoch 3.
			out, err := lambda.NewFromConfig(localaws.Config(r), func(lo *lambda.Options) { lo.BaseEndpoint = aws.String(ep.Lambda) }).
				Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(localdeploy.FailoverFunction), Payload: []byte(`{"action":"status","streams":["` + o.Stream + `"]}`)})
			if err != nil {
				t.Errorf("status in %s over %s: %v", r, ep.Lambda, err)
				continue
			}
			var rep failover.Report
			if err := json.Unmarshal(out.Payload, &rep); err != nil || out.FunctionError != nil {
				t.Errorf("status in %s: got %s (function error %q), want a report", r, out.Payload, aws.ToString(out.FunctionError))
				continue
			}
			if len(rep.Streams) != 1 || rep.Streams[0].ActiveRegion != Regions[0] || rep.Streams[0].Epoch != 3 {
				t.Errorf("status in %s: got %+v, want %s active in %s at epoch 3", r, rep.Streams, o.Stream, Regions[0])
			}
		}
		if !s.OK() {
			t.Errorf("held a failed run: %s", s.Result)
		}
		return nil
	}
	if _, err := Run(ctx, o); err != nil {
		t.Fatal(err)
	}
	if kept == nil {
		t.Fatal("Hold was not called")
	}
	for r, ep := range kept {
		for _, u := range []string{ep.Kinesis, ep.DynamoDB, ep.Lambda} {
			if resp, err := http.Get(u); err == nil {
				resp.Body.Close()
				t.Errorf("%s: %s still answers after Run returned", r, u)
			}
		}
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
		flag string
	}{
		{"zero duration", func(o *Options) { o.Duration = 0 }, "--duration"},
		{"negative duration", func(o *Options) { o.Duration = -time.Second }, "--duration"},
		{"duration too short", func(o *Options) { o.Duration = 999 * time.Millisecond }, "--duration"},
		{"no rate", func(o *Options) { o.Rate = 0 }, "--rate"},
		{"a phase without a record", func(o *Options) { o.Rate, o.Duration = 1, 2*time.Second }, "--rate"},
		{"no shards", func(o *Options) { o.Shards = 0 }, "--shards"},
		{"no keys", func(o *Options) { o.Keys = -1 }, "--keys"},
		{"TTL too long", func(o *Options) { o.CacheTTL = 31 * time.Second }, "--cache-ttl"},
		{"negative TTL", func(o *Options) { o.CacheTTL = -time.Second }, "--cache-ttl"},
		{"negative delay", func(o *Options) { o.GlobalTableDelay = -time.Second }, "--gt-delay"},
		{"negative round trip", func(o *Options) { o.RTT = -time.Millisecond }, "--rtt"},
		{"unknown mode", func(o *Options) { o.Mode = "replay" }, "--mode"},
		{"unknown Region", func(o *Options) { o.Impair = &Impairment{Region: "eu-west-1", For: time.Second} }, "--impair"},
		{"no hang", func(o *Options) { o.Impair = &Impairment{Region: Regions[0]} }, "--impair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := QuickOptions
			tc.edit(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.flag) {
				t.Errorf("got %v, want an error naming %s", err, tc.flag)
			}
		})
	}
	for _, d := range []time.Duration{time.Second, 6 * time.Second, 45 * time.Second, 3 * time.Minute} {
		o := DefaultOptions
		o.Duration = d
		if err := o.Validate(); err != nil {
			t.Errorf("--duration %v: got %v, want it accepted", d, err)
		}
	}
	o := DefaultOptions
	o.GlobalTableDelay, o.RTT, o.CacheTTL, o.Mode = 0, 0, 0, ModeDrain
	o.Impair = &Impairment{Region: Regions[1], For: time.Minute}
	if err := o.Validate(); err != nil {
		t.Errorf("got %v for zero delays, drain mode and an impairment, want them accepted", err)
	}
}

func TestParseImpairment(t *testing.T) {
	for in, want := range map[string]Impairment{
		"us-east-1":        {Region: "us-east-1", For: DefaultImpairment},
		"us-east-2:30s":    {Region: "us-east-2", For: 30 * time.Second},
		" us-east-1:1m30s": {Region: "us-east-1", For: 90 * time.Second},
	} {
		got, err := ParseImpairment(in)
		if err != nil || got != want {
			t.Errorf("ParseImpairment(%q): got %+v, %v, want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "us-east-3", "us-east-1:", "us-east-1:soon", "us-east-1:0s", "us-east-1:-5s", "us-east-1:1h"} {
		if _, err := ParseImpairment(in); err == nil || !strings.Contains(err.Error(), "--impair") {
			t.Errorf("ParseImpairment(%q): got %v, want an error naming --impair", in, err)
		}
	}
}

func TestSummariseSplitsTheVerdictAndMeasuresLag(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	change := func(id, key string, seq, gen int) promisecheck.Payload {
		return promisecheck.Payload{ID: id, Key: key, KeySeq: seq, Gen: gen}
	}
	a, b := Regions[0], Regions[1]
	written := []promisecheck.Written{
		{Payload: change("k1#1", "k1", 1, 0), Region: a, Commit: t0},
		{Payload: change("k1#2", "k1", 2, 0), Region: a, Commit: t0.Add(time.Second)},
		{Payload: change("k1#2", "k1", 2, 1), Region: b, Commit: t0.Add(time.Second)},
		{Payload: change("k2#1", "k2", 1, 0), Region: b, Commit: t0.Add(2 * time.Second)},
	}
	at := func(p promisecheck.Payload, d time.Duration) promisecheck.Copy {
		return promisecheck.Copy{Payload: p, Shard: "shardId-0", Arrival: t0.Add(d)}
	}
	streams := map[string][]promisecheck.Copy{
		a: {
			// k1#1 came back once, before the next change of its key: an echo.
			at(written[0].Payload, 0), at(written[0].Payload, 500*time.Millisecond),
			at(written[1].Payload, time.Second), at(written[3].Payload, 2300*time.Millisecond),
			at(written[2].Payload, 5*time.Second),
		},
		b: {
			at(written[0].Payload, 100*time.Millisecond), at(written[1].Payload, 1300*time.Millisecond),
			at(written[2].Payload, 4*time.Second), at(written[3].Payload, 2*time.Second),
		},
	}
	res := promisecheck.Check(written, streams, nil)
	got := summarise(written, streams, res)
	if !res.OK() || res.Echoes != 1 {
		t.Fatalf("got %s, want OK with 1 echo", res)
	}
	wantA := RegionSummary{Region: a, Produced: 2, Copies: 5, Echoes: 1, LagSamples: 2, LagP50: 100 * time.Millisecond, LagP99: 300 * time.Millisecond, LagMax: 300 * time.Millisecond}
	wantB := RegionSummary{Region: b, Produced: 1, Resent: 1, Copies: 4, LagSamples: 1, LagP50: 300 * time.Millisecond, LagP99: 300 * time.Millisecond, LagMax: 300 * time.Millisecond}
	if got[0] != wantA || got[1] != wantB {
		t.Errorf("got\n  %+v\n  %+v\nwant\n  %+v\n  %+v", got[0], got[1], wantA, wantB)
	}

	// k2#1 missing from us-east-1: lost there, and the summary says so.
	streams[a] = slices.Delete(slices.Clone(streams[a]), 3, 4)
	res = promisecheck.Check(written, streams, nil)
	got = summarise(written, streams, res)
	if got[0].Lost != 1 || got[1].Lost != 0 {
		t.Errorf("got lost %d in %s and %d in %s, want 1 and 0", got[0].Lost, a, got[1].Lost, b)
	}
	var out bytes.Buffer
	if err := (Summary{Result: res, Regions: got}).Write(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "RESULT: FAILED: 1 lost") || !strings.Contains(out.String(), "k2#1 missing from us-east-1") {
		t.Errorf("got summary without the failure and what was lost:\n%s", out.String())
	}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	if testing.Verbose() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func TestTallyAddsLinesSplitAcrossWrites(t *testing.T) {
	tl := &tally{}
	lines := `{"StreamName":"s","ReplicatedRecords":3,"SkippedRecords":1,"ReplicationLagSeconds":0.5}
{"StreamName":"s","ReplicatedRecords":0,"SkippedRecords":4,"SupersededRecords":2,"ReplicationLagSeconds":9}
not json
{"StreamName":"s","ReplicatedRecords":2,"ResentRecords":1,"FailedRecords":1,"ReplicationLagSeconds":0.25}
`
	for chunk := range strings.SplitSeq(lines, "R") {
		if _, err := tl.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
		_, _ = tl.Write([]byte("R"))
	}
	// The split put an R after the last newline: an unfinished line.
	got, lags := tl.take()
	want := counts{Replicated: 5, Skipped: 5, Superseded: 2, Failed: 1, Resent: 1, BadLines: 1}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if len(lags) != 2 || lags[0] != 0.5 || lags[1] != 0.25 {
		t.Errorf("got lags %v, want [0.5 0.25] (none from a batch that replicated nothing)", lags)
	}
	if _, again := tl.take(); len(again) != 0 {
		t.Errorf("got lags %v on the second take, want none", again)
	}
}

func TestASummaryFailsWhenVerifyFindsARecordMissing(t *testing.T) {
	s := Summary{Verify: verify.Report{Directions: []verify.Direction{
		{From: Regions[0], To: Regions[1], Checked: 10},
		{From: Regions[1], To: Regions[0], Checked: 5, Missing: 1, MissingRecords: []string{"shardId-000000000001:49"}},
	}}}
	if s.OK() {
		t.Fatal("a run whose verify found a record missing is OK")
	}
	var out bytes.Buffer
	if err := s.Write(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RESULT: FAILED", "verify us-east-2 → us-east-1: 1 missing (shardId-000000000001:49)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary does not say %q:\n%s", want, out.String())
		}
	}
}

func TestASummaryFailsWhenTheConsumerMissedARecord(t *testing.T) {
	var two int64 = 2
	s := Summary{Consumer: Consumer{From: Regions[0], To: Regions[1], Missed: 1, MissedRecords: []string{"k7#3 gen 0 on shardId-000000000001"},
		Reread: 2, Promised: 2, Starts: []translate.Start{{TargetShardID: "shardId-000000000001", StartingPosition: translate.AfterSequenceNumber, MaxReread: &two}}}}
	if s.OK() {
		t.Fatal("a run whose consumer missed a record is OK")
	}
	var out bytes.Buffer
	if err := s.Write(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Consumer: moved us-east-1 → us-east-2 at the failover, 1 missed, 2 re-read (promised at most 2)",
		"RESULT: FAILED", "missed by the consumer: k7#3 gen 0 on shardId-000000000001",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary does not say %q:\n%s", want, out.String())
		}
	}
}
