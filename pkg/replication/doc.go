// Package replication writes one shard's batch of source records to the target
// stream with PutRecords, in order and with retries, and reports the prefix of
// the batch that is safely in the target.
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
//   - Safe checkpoint. Result.Prefix counts only the leading run of written
//     records; the caller checkpoints its last record and reports the next one
//     as the batch item failure.
//
// Requests for different keys run concurrently; a request waits for every
// earlier request that shares a key with it, because two in-flight requests
// carrying the same key could land in either order.
package replication
