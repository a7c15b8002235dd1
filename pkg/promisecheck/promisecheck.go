// Package promisecheck checks the promises (docs/reference.md) end to end, over what
// a CDC producer wrote into two Regions and what both Regions' streams hold
// afterwards: nothing lost, the last copies of every key in order, at most
// one echo of any record, and every failover's resume point safe. The local
// demo and the end-to-end tests judge their runs with it.
package promisecheck

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// Payload is the body of every record a CDC producer of the local world
// writes: one change of a key, sent again with a higher Gen when the
// producer rewinds to a resume point.
type Payload struct {
	ID              string `json:"id"`
	Key             string `json:"key"`
	KeySeq          int    `json:"keySeq"`
	Gen             int    `json:"gen"`
	CommitTimestamp string `json:"CommitTimestamp"`
}

// Written is one record as the producer wrote it.
type Written struct {
	Payload
	Region string
	Commit time.Time
}

// Copy is one record as found in a Region's stream.
type Copy struct {
	Payload
	Shard   string
	Arrival time.Time
}

// Failover is one switch as its report gave it: every record written into
// From and committed before ResumeFrom must have reached To from From.
type Failover struct {
	From, To   string
	ResumeFrom *time.Time
}

// Result counts what broke a promise; a run keeps them all when every
// count is zero.
type Result struct {
	// Lost are changes missing from a Region's stream at the end.
	Lost []string `json:"lost"`
	// OutOfOrder counts, per Region, records whose last copy comes after
	// the last copy of a later change of the same key.
	OutOfOrder map[string]int `json:"outOfOrder"`
	// Looped are records copied into the other Region more than once, or
	// back into their own more than once: replicated again beyond one echo.
	Looped []string `json:"looped"`
	// UnsafeResumes are records committed before a failover's resume point
	// that the new Region never received from the old one.
	UnsafeResumes []string `json:"unsafeResumes"`
	// Echoes are copies of records that came back into their own Region's
	// stream, once each: the known cost of a switchover.
	Echoes int `json:"echoes"`
	// Copies is how many records each Region's stream holds.
	Copies map[string]int `json:"copies"`
}

// OK reports a run that kept every promise.
func (r Result) OK() bool {
	n := len(r.Lost) + len(r.Looped) + len(r.UnsafeResumes)
	for _, v := range r.OutOfOrder {
		n += v
	}
	return n == 0
}

// String is the one-line verdict.
func (r Result) String() string {
	outOfOrder := 0
	for _, v := range r.OutOfOrder {
		outOfOrder += v
	}
	return fmt.Sprintf("%d lost, %d out of order, %d looped, %d behind a resume point, %d echoes",
		len(r.Lost), outOfOrder, len(r.Looped), len(r.UnsafeResumes), r.Echoes)
}

type copyKey struct {
	id  string
	gen int
}

// Check judges a run: written is everything the producer wrote, streams
// each Region's records in stream order per shard, failovers the switches.
func Check(written []Written, streams map[string][]Copy, failovers []Failover) Result {
	res := Result{OutOfOrder: map[string]int{}, Copies: map[string]int{}}
	origin := map[copyKey]string{}
	logical := map[string]bool{}
	for _, w := range written {
		origin[copyKey{w.ID, w.Gen}] = w.Region
		logical[w.ID] = true
	}
	regions := slices.Sorted(maps.Keys(streams))
	counts := map[string]map[copyKey]int{}
	for _, region := range regions {
		copies := streams[region]
		res.Copies[region] = len(copies)
		counts[region] = map[copyKey]int{}
		seen := map[string]bool{}
		for _, c := range copies {
			counts[region][copyKey{c.ID, c.Gen}]++
			seen[c.ID] = true
		}
		for _, id := range slices.Sorted(maps.Keys(logical)) {
			if !seen[id] {
				res.Lost = append(res.Lost, fmt.Sprintf("%s missing from %s", id, region))
			}
		}
		res.OutOfOrder[region] = outOfOrder(copies)
	}
	for _, k := range sortedKeys(origin) {
		own := origin[k]
		for _, region := range regions {
			n := counts[region][k]
			switch {
			case region != own && n > 1:
				res.Looped = append(res.Looped, fmt.Sprintf("%s gen %d ×%d in %s", k.id, k.gen, n, region))
			case region == own && n > 2:
				res.Looped = append(res.Looped, fmt.Sprintf("%s gen %d ×%d in its own %s", k.id, k.gen, n, region))
			case region == own && n == 2:
				res.Echoes++
			}
		}
	}
	for _, f := range failovers {
		if f.ResumeFrom == nil {
			continue
		}
		for _, w := range written {
			if w.Region == f.From && w.Commit.Before(*f.ResumeFrom) && counts[f.To][copyKey{w.ID, w.Gen}] == 0 {
				res.UnsafeResumes = append(res.UnsafeResumes, fmt.Sprintf("%s gen %d committed %s, before %s→%s's resumeFrom %s",
					w.ID, w.Gen, w.Commit.UTC().Format(time.RFC3339Nano), f.From, f.To, f.ResumeFrom.UTC().Format(time.RFC3339Nano)))
			}
		}
	}
	return res
}

// outOfOrder counts, per key, changes whose last copy comes after the last
// copy of a later change of the key. Copies are in stream order per shard
// and a key lives in one shard.
func outOfOrder(copies []Copy) int {
	type change struct {
		key string
		seq int
	}
	last := map[change]int{} // position of each change's last copy
	for pos, c := range copies {
		last[change{c.Key, c.KeySeq}] = pos
	}
	byPos := make([]change, 0, len(last))
	for k := range last {
		byPos = append(byPos, k)
	}
	slices.SortFunc(byPos, func(a, b change) int { return cmp.Compare(last[a], last[b]) })
	highest := map[string]int{}
	n := 0
	for _, c := range byPos {
		if h, ok := highest[c.key]; ok && c.seq < h {
			n++
			continue
		}
		highest[c.key] = c.seq
	}
	return n
}

// ReadStream reads every record of stream, shard after shard, each shard in
// order, decoding Payload bodies.
func ReadStream(ctx context.Context, client streamread.API, stream string) ([]Copy, error) {
	shards, err := streamread.Shards(ctx, client, stream)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	var out []Copy
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		_, err := streamread.Shard(ctx, client, stream, id, streamread.Window{}, func(r streamread.Record) error {
			var p Payload
			if err := json.Unmarshal(r.Data, &p); err != nil {
				return fmt.Errorf("record %s is not a CDC payload: %w", r.SequenceNumber, err)
			}
			out = append(out, Copy{Payload: p, Shard: id, Arrival: r.Arrival})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read stream %s shard %s: %w", stream, id, err)
		}
	}
	return out, nil
}

func sortedKeys(m map[copyKey]string) []copyKey {
	keys := make([]copyKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b copyKey) int { return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.gen, b.gen)) })
	return keys
}
