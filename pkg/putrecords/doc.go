// Package putrecords writes one shard's batch of source records to the
// target stream with PutRecords, in order per partition key, paced to what
// each target shard admits and with retries, and reports per record whether
// it is in the target.
//
// It keeps three of the product's promises (docs/reference.md):
//
//   - No loss. A record counts as written only when a PutRecords response
//     entry says so. Anything uncertain (a request error, a request cut at the
//     deadline, a malformed response) counts as not written, so the caller
//     never checkpoints past it and the event source mapping retries it.
//     Records the target can never accept are marked Permanent, never dropped.
//   - Per-key order. PutRecords handles each entry on its own and, as its API
//     reference says, does not guarantee ordering across failures: entry i can
//     be throttled while entry i+1 of the same partition key is written. So a
//     failed record of key K holds back every later record of K, and later
//     records of K that were written anyway are written again after it; the
//     last copy of each record is then in source order (OrderingKey).
//     OrderingStrict sends at most one record per key per request, so no
//     record is ever written before every earlier record of its key.
//   - Nothing claimed that is not written. Result.Outcomes says, per record,
//     whether it is written; the caller acknowledges from that (the
//     replicator's rule is pkg/replicator/ack.go, over written and skipped
//     records).
//
// Requests for different keys run concurrently; a request waits for every
// earlier request that shares a key with it, because two in-flight requests
// carrying the same key could land in either order.
//
// Pacing (Options.Shards). Retrying refused entries on a timer makes the
// timer, not the target, set the pace: a backlog drained at a shard's limit
// cost nearly two attempts per record. With a ShardLister the Writer keeps,
// for each target shard, an estimate of what the shard admits to it and a
// token bucket of one second of that estimate. A record's shard is the one
// whose hash key range holds the MD5 of its partition key (the ranges come
// from ListShards, cached a minute per stream; Writer.PrefetchShards renews
// them ahead of the Writes). A request takes its
// entries' budget when it starts; an entry whose shard has none waits for a
// later round, with every later record of its key (same key, same shard), so
// waiting never reorders a key and never makes a duplicate. Rounds wait for
// budget through Options.Sleep within the same stop rules as a backoff. The
// estimate starts at the documented limit and is capped there; a throttle
// cuts it by the share of the reply's entries the shard refused (at most by
// half) and empties the bucket, and it grows back by 5 % of the limit per
// second (adjustRate). Other writers share a shard, so the estimate is what
// this writer sees admitted, not the shard's capacity. A throttle on a paced
// shard is retried on budget, without the backoff; every other failure still
// backs off. Without a lister, or when listing fails, the Writer writes
// unpaced, as before.
package putrecords
