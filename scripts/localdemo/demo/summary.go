package demo

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/localmapping"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
	"github.com/kinesis-crr/kinesis-crr/pkg/verify"
)

// Summary is the outcome of a run.
type Summary struct {
	Options Options `json:"-"`
	// Result is promisecheck's verdict over everything the CDC task wrote
	// and both streams: the run passes only if it is OK.
	Result promisecheck.Result `json:"result"`
	// Verify is `kdscrr verify`'s check of both streams, which knows only
	// what a deployment knows (no producer's list): the run passes only
	// if it is OK too.
	Verify verify.Report `json:"verify"`
	// Consumer is the consumer application's move at the failover: the
	// run passes only if it missed nothing and re-read no more than the
	// translation promised.
	Consumer  Consumer         `json:"consumer"`
	Regions   [2]RegionSummary `json:"regions"`
	Failovers []Failover       `json:"failovers"`
	Mappings  [2]MappingStats  `json:"mappings"`
	Wall      time.Duration    `json:"wall"`
}

// OK reports a run that kept every promise; echoes are reported, not a
// failure.
func (s Summary) OK() bool { return s.Result.OK() && s.Verify.OK() && s.Consumer.OK() }

// RegionSummary is one Region's share of the verdict.
type RegionSummary struct {
	Region string `json:"region"`
	// Produced counts the changes the CDC task made in this Region (their
	// first generation); Resent the later generations it sent here after
	// a rewind.
	Produced int `json:"produced"`
	Resent   int `json:"resent"`
	// Copies is how many records this Region's stream holds.
	Copies int `json:"copies"`
	// Lost: changes missing from this Region's stream. OutOfOrder: records
	// here whose last copy comes after a later change of their key.
	// Looped: records copied into this stream more often than one copy
	// (or one echo) allows.
	Lost       int `json:"lost"`
	OutOfOrder int `json:"outOfOrder"`
	Looped     int `json:"looped"`
	// Echoes are records of this Region that came back into its own
	// stream, once each: the known cost of a switchover.
	Echoes int `json:"echoes"`
	// Lag is, over the first-generation records produced here and copied
	// to the other Region, the first copy's arrival there minus the
	// record's arrival here.
	LagSamples int           `json:"lagSamples"`
	LagP50     time.Duration `json:"lagP50"`
	LagP99     time.Duration `json:"lagP99"`
	LagMax     time.Duration `json:"lagMax"`
}

// MappingStats is what one Region's event source mapping and replicator did.
type MappingStats struct {
	Region string `json:"region"`
	localmapping.Stats
	Skipped    int64 `json:"skipped"`
	Superseded int64 `json:"superseded"`
	Resent     int64 `json:"resent"`
	Failed     int64 `json:"failed"`
}

type copyKey struct {
	id  string
	gen int
}

// summarise splits the verdict by Region and measures the replication lag.
func summarise(written []promisecheck.Written, streams map[string][]promisecheck.Copy, res promisecheck.Result) [2]RegionSummary {
	origin := map[copyKey]string{}
	for _, w := range written {
		origin[copyKey{w.ID, w.Gen}] = w.Region
	}
	// The first arrival of every record in every stream, and how many
	// copies of each a stream holds.
	first := map[string]map[copyKey]time.Time{}
	count := map[string]map[copyKey]int{}
	for region, copies := range streams {
		first[region], count[region] = map[copyKey]time.Time{}, map[copyKey]int{}
		for _, c := range copies {
			k := copyKey{c.ID, c.Gen}
			count[region][k]++
			if t, ok := first[region][k]; !ok || c.Arrival.Before(t) {
				first[region][k] = c.Arrival
			}
		}
	}
	var out [2]RegionSummary
	for i, region := range Regions {
		other := Regions[1-i]
		r := RegionSummary{Region: region, Copies: len(streams[region]), OutOfOrder: res.OutOfOrder[region]}
		var lags []time.Duration
		for _, w := range written {
			if w.Region != region {
				continue
			}
			if w.Gen > 0 {
				r.Resent++
				continue
			}
			r.Produced++
			k := copyKey{w.ID, w.Gen}
			here, ok1 := first[region][k]
			there, ok2 := first[other][k]
			if ok1 && ok2 {
				lags = append(lags, there.Sub(here))
			}
		}
		for k, own := range origin {
			if own == region && count[region][k] == 2 {
				r.Echoes++
			}
		}
		for _, l := range res.Lost {
			if strings.HasSuffix(l, " missing from "+region) {
				r.Lost++
			}
		}
		for _, l := range res.Looped {
			if strings.HasSuffix(l, " "+region) {
				r.Looped++
			}
		}
		slices.Sort(lags)
		if n := len(lags); n > 0 {
			r.LagSamples = n
			r.LagP50, r.LagP99, r.LagMax = quantile(lags, 0.5), quantile(lags, 0.99), lags[n-1]
		}
		out[i] = r
	}
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Write prints the summary as the demo's closing table.
func (s Summary) Write(w io.Writer) error {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Summary (every record of both streams read back and checked by pkg/promisecheck)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Region\tproduced\tresent\tstream holds\tlost\tout of order\tlooped\techoes\tlag p50\tlag p99\tlag max\t")
	for _, r := range s.Regions {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n",
			r.Region, r.Produced, r.Resent, r.Copies, r.Lost, r.OutOfOrder, r.Looped, r.Echoes,
			lag(r.LagP50, r.LagSamples), lag(r.LagP99, r.LagSamples), lag(r.LagMax, r.LagSamples))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	fmt.Fprintln(w, "  (lag: records produced in the Region, their first copy's arrival in the other Region's stream)")
	fmt.Fprintln(w)
	for i, f := range s.Failovers {
		fmt.Fprintf(w, "Failover %d: %s → %s, %s mode, invoked in %s at %s, call took %v (%d call(s)), epoch %d, active from %s",
			i+1, f.From, f.To, f.Mode, f.To, stamp(f.CalledAt), f.Took.Round(time.Millisecond), f.Calls, f.Epoch, stamp(f.ActiveSince))
		if f.Impaired != "" {
			fmt.Fprintf(w, "; %s hung during the call", f.Impaired)
		}
		fmt.Fprintln(w)
		if f.SettleWait > 0 {
			fmt.Fprintf(w, "  waited %v before the call for the previous switch's settledAt\n", f.SettleWait.Round(time.Millisecond))
		}
		fmt.Fprintf(w, "  producersMayStartAt %s: producers waited %v after the report; settledAt %s\n",
			stamp(f.ProducersMayStartAt), f.ProducersWait.Round(time.Millisecond), stampOr(f.SettledAt, "-"))
		if f.Mode == ModeRewind {
			fmt.Fprintf(w, "  resumeFrom %s: the CDC task sent %d changes again from there\n", stampOr(f.ResumeFrom, "none (from the earliest)"), f.Resent)
		} else {
			fmt.Fprintf(w, "  resumeFrom %s; drainComplete after %v (%d status calls)\n", stampOr(f.ResumeFrom, "none"), f.DrainWait.Round(time.Millisecond), f.DrainPolls)
		}
		for _, warning := range f.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warning)
		}
	}
	if s.Consumer.From != "" {
		s.Consumer.write(w)
	}
	for _, m := range s.Mappings {
		fmt.Fprintf(w, "Mapping in %s: %d batches, %d records acknowledged; replicator skipped %d (not active), superseded %d, resent %d, failed %d; %d retries, %d read errors\n",
			m.Region, m.Batches, m.Records, m.Skipped, m.Superseded, m.Resent, m.Failed, m.Retries(), m.ReadErrors)
	}
	for _, d := range s.Verify.Directions {
		fmt.Fprintf(w, "Verify (as kdscrr verify) %s → %s: %d checked, %d missing, %d out of order, %d duplicates, %d pending, %d superseded by a rewind\n",
			d.From, d.To, d.Checked, d.Missing, d.OutOfOrder, d.Duplicates, d.Pending, d.Superseded)
	}
	fmt.Fprintf(w, "Wall time %.1fs\n", s.Wall.Seconds())
	if s.OK() {
		fmt.Fprintf(w, "RESULT: OK: 0 lost, 0 out of order, 0 looped, 0 behind a resume point, 0 missed by the consumer; %d echoes (each once, the cost of a switchover)\n", s.Result.Echoes)
		return nil
	}
	fmt.Fprintf(w, "RESULT: FAILED: %s; the consumer missed %d, re-read more than promised on %d shards\n", s.Result, s.Consumer.Missed, len(s.Consumer.OverBound))
	for _, d := range s.Verify.Directions {
		if !d.OK() {
			fmt.Fprintf(w, "  verify %s → %s: %d missing (%s), %d out of order\n", d.From, d.To, d.Missing, strings.Join(d.MissingRecords[:min(10, len(d.MissingRecords))], ", "), d.OutOfOrder)
		}
	}
	for _, list := range []struct {
		what  string
		items []string
	}{{"lost", s.Result.Lost}, {"looped", s.Result.Looped}, {"behind a resume point", s.Result.UnsafeResumes},
		{"missed by the consumer", s.Consumer.MissedRecords}, {"re-read by the consumer beyond the bound", s.Consumer.OverBound}} {
		for _, item := range list.items[:min(10, len(list.items))] {
			fmt.Fprintf(w, "  %s: %s\n", list.what, item)
		}
		if n := len(list.items); n > 10 {
			fmt.Fprintf(w, "  … and %d more %s\n", n-10, list.what)
		}
	}
	return nil
}

func lag(d time.Duration, samples int) string {
	if samples == 0 {
		return "-"
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
