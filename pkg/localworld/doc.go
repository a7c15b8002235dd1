// Package localworld is two AWS Regions on loopback for tests and the local
// demo, shaped like what production does to the design rather than like one
// shared emulator.
//
// Each Region has its own Kinesis (kinesalite) and its own DynamoDB replica
// (dynalite), every endpoint behind a Go proxy of that Region. What it
// models:
//
//   - Global tables: each successful PutItem, UpdateItem, DeleteItem and
//     BatchWriteItem item reaches the other replica asynchronously, a
//     settable delay after its write (about a second by default), by the
//     item's full state after the write (or its absence). Conflicts resolve
//     last-writer-wins by write time, per item, as global tables do: a
//     replicated write is dropped where the item holds a later one.
//   - Conditions are evaluated by the writing Region's replica alone, so two
//     Regions can both win a conditional write from the same state and then
//     converge on the later one.
//   - Table changes (CreateTable, DeleteTable, UpdateTable) through either
//     Region apply to both replicas at once.
//   - Replication between the replicas can be paused (writes queue, in
//     order) and resumed.
//   - An impaired Region hangs: Hang makes every endpoint of a Region accept
//     connections and read requests without answering until Heal; a client
//     that gives up meanwhile has its request dropped, never applied, and
//     replication into the Region waits.
//   - Cross-Region round trips: every Region has a second set of URLs for
//     callers in the other Region, which adds a settable latency.
//   - Kinesis's per-shard write limits (1,000 records/s and 1 MiB/s of data
//     and partition keys, by default; settable per Region, or off): each
//     open shard has token buckets holding one second of its limit, refilled
//     continuously. A PutRecords entry finds its shard as Kinesis places it
//     (the MD5 of its partition key, or its ExplicitHashKey, against the
//     open shards' hash key ranges, listed once per stream and again after
//     a reshard); entries over their shard's limit are answered
//     ProvisionedThroughputExceededException in their slot, the rest are
//     written by one PutRecords to the emulator, in order, and the answers
//     merged back by index. A PutRecord over the limit is refused whole.
//     KinesisStats counts the entries received, throttled, faulted and
//     written.
//   - Write faults, off by default, drawn from a seed: PutRecords and
//     PutRecord requests answered 500, entries failed in their slot,
//     connections reset before the write or after it (written, and the
//     client cannot know), answers held for a while.
//
// The world enforces no IAM. With Options.RecordCalls it notes instead
// every request its proxies receive (Calls: caller, Regions, operation,
// stream or table), for a test to check against the functions' policies.
//
// A write the proxy has forwarded is finished and replicated even if its
// client gives up meanwhile, as a timed-out DynamoDB write may still have
// happened; a request still held by a hung Region is dropped instead.
//
// What it does not model: DynamoDB Streams; transactions and PartiQL (the
// proxy refuses them); ordering across items beyond each source replica's
// write order; replication lag that varies from write to write; read
// limits (GetRecords' 5 calls and 2 MiB per second per shard) and the
// account's control-plane limits; Kinesis replication (the replicator under
// test is that). Write times come from the host's clock, read by the proxy
// when a write's response comes back, so both replicas share one clock and
// no skew is modelled. Writes sent straight to an emulator, past the
// proxies, are neither replicated nor limited, and the proxies learn each
// table's key schema once, so a table deleted past them must not come back
// under its name with other keys.
package localworld
