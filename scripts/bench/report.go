package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
)

// conditions are what a reader needs to compare two runs' figures.
type conditions struct {
	RTT                string `json:"rtt"`
	Shards             int    `json:"shards"`
	ShardRecordsPerSec int    `json:"shardRecordsPerSecond"`
	ShardBytesPerSec   int    `json:"shardBytesPerSecond"`
	BacklogRecords     int    `json:"backlogRecords"`
	LoadDuration       string `json:"loadDuration"`
	BatchSize          int    `json:"batchSize"`
	Ordering           string `json:"ordering"`
	Seed               uint64 `json:"seed"`
	Quick              bool   `json:"quick"`
	ChaosFaults        string `json:"chaosFaults"`
}

func conditionsOf(o options) conditions {
	f := chaosFaults(o)
	return conditions{
		RTT: o.rtt.String(), Shards: o.shards,
		ShardRecordsPerSec: localworld.DefaultShardRecordsPerSecond, ShardBytesPerSec: localworld.DefaultShardBytesPerSecond,
		BacklogRecords: o.records, LoadDuration: o.duration.String(), BatchSize: 500, Ordering: o.ordering, Seed: o.seed, Quick: o.quick,
		ChaosFaults: fmt.Sprintf("%.0f%% requests 500, %.0f%% entries InternalFailure, %.0f%% resets, %.0f%% stalls of %v, %.0f%% invocations killed within %v",
			f.RequestErrorRate*100, f.EntryErrorRate*100, f.ResetRate*100, f.StallRate*100, f.Stall, killRate*100, killWindow),
	}
}

func writeJSON(w io.Writer, o options, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"conditions": conditionsOf(o), "results": results}); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

func writeTable(w io.Writer, o options, results []Result) error {
	c := conditionsOf(o)
	fmt.Fprintf(w, "round trip %s, %d shard(s) of %d records/s and %d bytes/s, batches of %d, ORDERING=%s, backlog %d records, loads of %s, seed %d\n",
		c.RTT, c.Shards, c.ShardRecordsPerSec, c.ShardBytesPerSec, c.BatchSize, c.Ordering, c.BacklogRecords, c.LoadDuration, c.Seed)
	fmt.Fprintf(w, "chaos: %s\n\n", c.ChaosFaults)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trecords\tlimit/s\tefficiency\tattempts/rec\tthrottled\tdup/rec\tresent\tredelivered\tlag p50\tlag p99\tbilled ms/1k\twrites/1k\tkilled\tlost\torder\t")
	for _, r := range results {
		lost := fmt.Sprint(r.Lost)
		if !r.Complete {
			lost += " (incomplete)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%d\t%.3f\t%d\t%d\t%s\t%s\t%.0f\t%.1f\t%d\t%s\t%d\t\n",
			r.Scenario, r.Records, r.LimitPerSecond, r.Efficiency, r.AttemptsPerRecord, r.Throttled, r.DuplicatesPerRecord,
			r.ResentRecords, r.RedeliveredRecords, seconds(r.LagP50), seconds(r.LagP99), r.BilledMsPer1000, r.TableWritesPer1000, r.Killed, lost, r.OrderViolations)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}
