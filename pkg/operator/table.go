package operator

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/lag"
	"github.com/kinesis-crr/kinesis-crr/pkg/verify"
)

// tableWriter renders the table form: sections of aligned columns, for a
// terminal. Times are UTC with milliseconds, the precision producers
// resume at.
type tableWriter struct {
	out io.Writer
	tw  *tabwriter.Writer
	err error
}

func newTableWriter(out io.Writer) *tableWriter {
	return &tableWriter{out: out}
}

// line prints a line outside any table.
func (w *tableWriter) line(format string, args ...any) {
	w.endTable()
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.out, format+"\n", args...)
	}
}

// row prints a table row; consecutive rows align.
func (w *tableWriter) row(cells ...string) {
	if w.tw == nil {
		w.tw = tabwriter.NewWriter(w.out, 0, 0, 2, ' ', 0)
	}
	if w.err == nil {
		_, w.err = fmt.Fprintln(w.tw, strings.Join(cells, "\t"))
	}
}

func (w *tableWriter) endTable() {
	if w.tw != nil {
		if err := w.tw.Flush(); err != nil && w.err == nil {
			w.err = err
		}
		w.tw = nil
	}
}

func (w *tableWriter) flush() error {
	w.endTable()
	return w.err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func stampOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return stamp(*t)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func boolOr(b *bool, none string) string {
	if b == nil {
		return none
	}
	if *b {
		return "yes"
	}
	return "no"
}

func seconds(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + "s" }

func secondsOr(f *float64, none string) string {
	if f == nil {
		return none
	}
	return seconds(*f)
}

// streams renders a report's streams, their shards and its warnings.
func (w *tableWriter) streams(rep failover.Report) {
	w.row("STREAM", "STATUS", "ACTIVE", "EPOCH", "MODE", "ACTIVE SINCE", "RESUME FROM", "PRODUCERS MAY START", "SETTLED AT", "DRAINED")
	for _, st := range rep.Streams {
		resume := stampOr(st.ResumeFrom, "none")
		if st.ResumeFromUnverified {
			resume += " (unverified)"
		}
		w.row(st.StreamName, st.Status, st.ActiveRegion, strconv.FormatInt(st.Epoch, 10), orDash(string(st.Mode)), stamp(st.ActiveSince),
			resume, stampOr(st.ProducersMayStartAt, "-"), stampOr(st.SettledAt, "-"), boolOr(st.DrainComplete, "-"))
	}
	for _, st := range rep.Streams {
		if len(st.Shards) == 0 {
			continue
		}
		w.line("")
		w.line("Checkpoints of %s:", st.StreamName)
		w.row("  SHARD", "REGION", "EPOCH", "LAST REPLICATED", "UPDATED", "DRAINED EPOCH", "NOTE", "LAST SEQUENCE NUMBER")
		for _, sh := range st.Shards {
			var note []string
			if sh.Ignored {
				note = append(note, "ignored")
			}
			if sh.DrainComplete != nil {
				note = append(note, "drain "+map[bool]string{true: "complete", false: "pending"}[*sh.DrainComplete])
			}
			drained := "-"
			if sh.DrainedEpoch > 0 {
				drained = strconv.FormatInt(sh.DrainedEpoch, 10)
			}
			w.row("  "+sh.ShardID, orDash(sh.SourceRegion), strconv.FormatInt(sh.CheckpointEpoch, 10), stamp(sh.LastReplicatedTimestamp),
				stamp(sh.UpdatedAt), drained, orDash(strings.Join(note, ", ")), orDash(sh.LastSequenceNumber))
		}
	}
}

// consumerPositions renders where consumers of each stream resume in its
// active Region (a consumer that had caught up with the old Region).
func (w *tableWriter) consumerPositions(rep failover.Report) {
	for _, st := range rep.Streams {
		if len(st.ConsumerPositions) == 0 {
			continue
		}
		w.line("")
		w.line("Consumers of %s resume in %s at (having caught up in %s):", st.StreamName, st.ActiveRegion, orDash(st.PreviousRegion))
		w.row("  SHARD", "START", "POSITION")
		for _, p := range st.ConsumerPositions {
			at := p.SequenceNumber
			if at == "" {
				at = stamp(p.Timestamp)
			}
			w.row("  "+p.TargetShardID, p.StartingPosition, at)
		}
		for _, m := range st.ConsumerPositionWarnings {
			w.line("  note: %s", m)
		}
	}
}

func (w *tableWriter) warnings(warnings []string) {
	if len(warnings) == 0 {
		return
	}
	w.line("")
	w.line("Warnings:")
	for _, m := range warnings {
		w.line("  - %s", m)
	}
}

// statusReport renders status as region's failover function gave it.
func (w *tableWriter) statusReport(region string, rep failover.Report) {
	w.line("Status from %s:", region)
	w.streams(rep)
	w.consumerPositions(rep)
	w.warnings(rep.Warnings)
	w.line("")
}

// failoverReport renders a failover: the summary an operator acts on
// first, then the details.
func (w *tableWriter) failoverReport(to string, rep failover.Report, took time.Duration) {
	counts := map[string][]string{}
	for _, st := range rep.Streams {
		counts[st.Status] = append(counts[st.Status], st.StreamName)
	}
	verb := "Failed over"
	if rep.DryRun {
		verb = "Dry run (nothing changed) of a failover"
	}
	w.line("%s to %s (answered in %v).", verb, to, took.Round(time.Millisecond))
	for _, status := range []string{failover.StatusSwitched, failover.StatusDryRun, failover.StatusAlreadyActive, failover.StatusStaleEpoch, failover.StatusConflict, failover.StatusFailed} {
		if names := counts[status]; len(names) > 0 {
			w.line("  %-15s %s", status+":", strings.Join(names, ", "))
		}
	}
	if rep.LogStreamStart != nil || rep.ProducersMayStartAt != nil {
		w.line("Producers in %s resume from %s and may start at %s.", to, stampOr(rep.LogStreamStart, "the earliest record"), stampOr(rep.ProducersMayStartAt, "once"))
	}
	for _, st := range rep.Streams {
		if st.Mode == "drain" && st.DrainComplete != nil && !*st.DrainComplete {
			w.line("  %s: producers that need per-key order wait until status shows the drain complete.", st.StreamName)
		}
	}
	w.warnings(rep.Warnings)
	w.line("")
	w.line("Details:")
	w.streams(rep)
	w.consumerPositions(rep)
	if len(rep.Actions) > 0 {
		w.line("")
		w.line("Actions:")
		for _, a := range rep.Actions {
			w.line("  - %s", a)
		}
	}
}

// lagReport renders lag.
func (w *tableWriter) lagReport(streams []lag.Stream) {
	w.row("STREAM", "SOURCE", "EPOCH", "RPO", "REPLICATION LAG", "ITERATOR AGE", "UNREPLICATED", "CHECKPOINT AGE", "CLOUDWATCH LAG")
	for _, st := range streams {
		cw := "-"
		if st.CloudWatch != nil {
			cw = secondsOr(st.CloudWatch.ReplicationLagSeconds, "no data")
		}
		w.row(st.Stream, st.SourceRegion, strconv.FormatInt(st.Epoch, 10), seconds(st.RPOSeconds), seconds(st.ReplicationLagSeconds),
			seconds(st.IteratorAgeSeconds), strconv.Itoa(st.Unreplicated), secondsOr(st.CheckpointAgeSeconds, "none"), cw)
	}
	for _, st := range streams {
		w.line("")
		w.line("Shards of %s in %s:", st.Stream, st.SourceRegion)
		w.row("  SHARD", "RPO", "REPLICATION LAG", "ITERATOR AGE", "UNREPLICATED", "CHECKPOINT AGE", "LAST REPLICATED", "OLDEST UNREPLICATED")
		for _, sh := range st.Shards {
			n := strconv.Itoa(sh.Unreplicated)
			if sh.UnreplicatedAtLeast {
				n = "≥" + n
			}
			w.row("  "+sh.ShardID, seconds(sh.RPOSeconds), seconds(sh.ReplicationLagSeconds), seconds(sh.IteratorAgeSeconds), n,
				secondsOr(sh.CheckpointAgeSeconds, "none"), stampOr(sh.LastReplicatedTimestamp, "-"), stampOr(sh.OldestUnreplicated, "-"))
		}
		w.warnings(st.Warnings)
	}
}

// verifyReport renders verify.
func (w *tableWriter) verifyReport(reps []verify.Report) {
	for i, r := range reps {
		if i > 0 {
			w.line("")
		}
		verdict := "complete"
		if !r.OK() {
			verdict = "NOT COMPLETE"
		}
		until := "now"
		if !r.Until.IsZero() {
			until = stamp(r.Until)
		}
		w.line("%s: %s (records that arrived from %s to %s; active %s, epoch %d)", r.Stream, verdict, stamp(r.Since), until, r.ActiveRegion, r.Epoch)
		w.row("  DIRECTION", "CHECKED", "MISSING", "OUT OF ORDER", "DUPLICATES", "PENDING", "SUPERSEDED", "UNDECIDED")
		for _, d := range r.Directions {
			w.row("  "+d.From+" → "+d.To, strconv.Itoa(d.Checked), strconv.Itoa(d.Missing), strconv.Itoa(d.OutOfOrder),
				strconv.Itoa(d.Duplicates), strconv.Itoa(d.Pending), strconv.Itoa(d.Superseded), strconv.Itoa(d.Undecided))
		}
		for _, d := range r.Directions {
			if d.Missing == 0 {
				continue
			}
			more := ""
			if d.Missing > len(d.MissingRecords) {
				more = fmt.Sprintf(" (the first %d of %d)", len(d.MissingRecords), d.Missing)
			}
			w.line("  missing from %s%s, as shard:sequence number in %s:", d.To, more, d.From)
			for _, m := range d.MissingRecords {
				w.line("    %s", m)
			}
		}
		for _, rr := range r.Read {
			w.line("  read %d records from %d shards in %s", rr.Records, rr.Shards, rr.Region)
		}
	}
}
