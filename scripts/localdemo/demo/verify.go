package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// cdcRecord is the payload the producer writes: a change-data-capture row
// with its key, commit timestamp and a producer-wide sequence number.
type cdcRecord struct {
	ID              string `json:"id"`
	Key             string `json:"key"`
	Op              string `json:"op"`
	CommitTimestamp string `json:"CommitTimestamp"`
	Seq             int64  `json:"seq"`
}

// streamRecord is one record as found in a stream at the end of the run.
type streamRecord struct {
	Shard   string
	Arrival time.Time
	Seq     int64
	Key     string
}

// produced is what the producer wrote: which Region each seq went to, and
// its commit timestamp.
type produced struct {
	Seq       int64
	Key       string
	Region    string
	Committed time.Time
}

// RegionSummary describes the records produced in one Region and what
// became of them.
type RegionSummary struct {
	Region string `json:"region"`
	// Produced is the number of records the producer wrote in this Region.
	Produced int `json:"produced"`
	// Replicated is how many of them are in the other Region's stream.
	Replicated int `json:"replicated"`
	// Duplicates are copies in the other Region beyond the first.
	Duplicates int `json:"duplicates"`
	// OrderViolations counts records whose last copy in the other Region
	// comes after the last copy of a later record of the same key.
	OrderViolations int `json:"orderViolations"`
	// Lost is Produced minus Replicated: must be 0.
	Lost int `json:"lost"`
	// Lag is the arrival in the other Region minus the arrival here, over
	// the first copy of each replicated record.
	LagP50 time.Duration `json:"lagP50"`
	LagP99 time.Duration `json:"lagP99"`
	LagMax time.Duration `json:"lagMax"`
	// Echoes are copies of this Region's records that came back into this
	// Region's own stream. Each must come from a switchover window: the
	// record arrived here before a switch and its replica arrived in the
	// other Region after it. EchoesOutsideWindows and records echoed more
	// than once (MultipleEchoes) are loops.
	Echoes               int `json:"echoes"`
	EchoesOutsideWindows int `json:"echoesOutsideWindows"`
	MultipleEchoes       int `json:"multipleEchoes"`
}

// verify compares what was produced with what both streams hold. switches
// are the switchover times; slack widens each window for clock rounding
// (emulator arrival times have millisecond precision).
func verify(regions [2]string, prod map[int64]produced, streams map[string][]streamRecord, switches []time.Time, slack time.Duration) ([2]RegionSummary, error) {
	var out [2]RegionSummary
	for i, region := range regions {
		other := regions[1-i]
		s := RegionSummary{Region: region}

		// The original of each record: its first copy in its own Region.
		originals := map[int64]streamRecord{}
		echoCopies := map[int64][]streamRecord{}
		for _, r := range streams[region] {
			p, ok := prod[r.Seq]
			if !ok {
				return out, fmt.Errorf("stream in %s holds seq %d that was never produced", region, r.Seq)
			}
			if p.Region != region {
				continue
			}
			if _, seen := originals[r.Seq]; !seen {
				originals[r.Seq] = r
				continue
			}
			echoCopies[r.Seq] = append(echoCopies[r.Seq], r)
		}

		// Copies in the other Region, in stream order per key (a key lives
		// in one shard, so shard order is key order).
		copies := map[int64][]streamRecord{}
		lastPos := map[int64]int{}
		byKey := map[string][]int64{}
		for pos, r := range streams[other] {
			p := prod[r.Seq]
			if p.Region != region {
				continue
			}
			copies[r.Seq] = append(copies[r.Seq], r)
			lastPos[r.Seq] = pos
			byKey[r.Key] = append(byKey[r.Key], r.Seq)
		}

		var lags []time.Duration
		for seq, p := range prod {
			if p.Region != region {
				continue
			}
			s.Produced++
			orig, inSource := originals[seq]
			if !inSource {
				return out, fmt.Errorf("seq %d was produced in %s but is not in its stream", seq, region)
			}
			c := copies[seq]
			if len(c) == 0 {
				s.Lost++
				continue
			}
			s.Replicated++
			s.Duplicates += len(c) - 1
			lags = append(lags, c[0].Arrival.Sub(orig.Arrival))

			if echoes := echoCopies[seq]; len(echoes) > 0 {
				s.Echoes += len(echoes)
				if len(echoes) > 1 {
					s.MultipleEchoes++
				}
				if !inWindow(orig.Arrival, c[0].Arrival, switches, slack) {
					s.EchoesOutsideWindows += len(echoes)
				}
			}
		}

		for _, seqs := range byKey {
			// Keep each record's last copy, ordered by where it landed.
			seen := map[int64]bool{}
			var last []int64
			for _, seq := range seqs {
				if !seen[seq] {
					seen[seq] = true
					last = append(last, seq)
				}
			}
			sort.Slice(last, func(a, b int) bool { return lastPos[last[a]] < lastPos[last[b]] })
			highest := int64(-1)
			for _, seq := range last {
				if seq < highest {
					s.OrderViolations++
					continue
				}
				highest = seq
			}
		}

		slices.Sort(lags)
		s.LagP50, s.LagP99, s.LagMax = percentile(lags, 0.50), percentile(lags, 0.99), percentile(lags, 1)
		out[i] = s
	}
	return out, nil
}

// behindResumePoint counts the records a failover's resume point claims
// are replicated but were not yet in the target when the report was made:
// records produced in f.From, committed at or before f.ResumeFrom, whose
// first copy in f.To arrived after f.ReportedAt. A CDC task restarting at
// the resume point would never send them again, so each is a loss. Arrival
// times are truncated to the millisecond, which only makes them earlier.
func behindResumePoint(f Failover, prod map[int64]produced, target []streamRecord) int {
	if f.ResumeFrom == nil {
		return 0
	}
	firstArrival := map[int64]time.Time{}
	for _, r := range target {
		if _, seen := firstArrival[r.Seq]; !seen {
			firstArrival[r.Seq] = r.Arrival
		}
	}
	n := 0
	for seq, p := range prod {
		if p.Region != f.From || p.Committed.After(*f.ResumeFrom) {
			continue
		}
		if arrived, ok := firstArrival[seq]; !ok || arrived.After(f.ReportedAt) {
			n++
		}
	}
	return n
}

// inWindow reports whether some switch falls between a record's arrival in
// its own Region and its replica's arrival in the other: only then may the
// other Region, newly active, replicate the replica back.
func inWindow(arrived, replicaArrived time.Time, switches []time.Time, slack time.Duration) bool {
	for _, s := range switches {
		if !arrived.After(s.Add(slack)) && !replicaArrived.Before(s.Add(-slack)) {
			return true
		}
	}
	return false
}

// percentile of sorted durations, nearest rank; zero when empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// streamReader is what reading a whole stream back needs.
type streamReader interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

var _ streamReader = (*kinesis.Client)(nil)

// readStream reads every record of stream, shard after shard, each shard in
// order.
func readStream(ctx context.Context, client streamReader, stream string) ([]streamRecord, error) {
	shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, fmt.Errorf("list shards of %s: %w", stream, err)
	}
	var out []streamRecord
	for _, shard := range shards.Shards {
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName:        aws.String(stream),
			ShardId:           shard.ShardId,
			ShardIteratorType: "TRIM_HORIZON",
		})
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", stream, aws.ToString(shard.ShardId), err)
		}
		iterator := it.ShardIterator
		for iterator != nil {
			page, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iterator, Limit: aws.Int32(10000)})
			if err != nil {
				return nil, fmt.Errorf("read %s/%s: %w", stream, aws.ToString(shard.ShardId), err)
			}
			for _, r := range page.Records {
				var row cdcRecord
				if err := json.Unmarshal(r.Data, &row); err != nil {
					return nil, fmt.Errorf("record %s of %s/%s is not a demo record: %w",
						aws.ToString(r.SequenceNumber), stream, aws.ToString(shard.ShardId), err)
				}
				out = append(out, streamRecord{
					Shard:   aws.ToString(shard.ShardId),
					Arrival: aws.ToTime(r.ApproximateArrivalTimestamp),
					Seq:     row.Seq,
					Key:     row.Key,
				})
			}
			if len(page.Records) == 0 {
				break
			}
			iterator = page.NextShardIterator
		}
	}
	return out, nil
}
