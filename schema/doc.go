// Package schema owns the ScyllaDB schema of scylla-outbox: the CQL that
// creates the keyspace and every table the services read or write, embedded
// from cql/*.cql, and [Apply], which brings a cluster to that schema
// idempotently. Other packages refer to tables through the Table* constants
// rather than spelling names, so a rename happens in one place.
//
// # Applying
//
// [Apply] runs CREATE KEYSPACE/TABLE IF NOT EXISTS for everything, then
// compares the options this package manages (the CDC log TTL and the
// default_time_to_live of the TTL'd tables, see [Options]) with what the
// cluster reports in system_schema and issues ALTER TABLE only for those that
// differ. Re-running with new settings therefore updates them, and re-running
// with the same settings changes nothing, so every process may call Apply at
// start-up without a schema-change storm; concurrent runs are safe because
// ScyllaDB 6.0 and later serialise schema changes through Raft, so two
// CREATE TABLE IF NOT EXISTS cannot produce conflicting tables. Columns are
// never altered: a
// changed table definition needs a migration, not Apply. Replication is
// applied only when the keyspace is created; changing it on a live cluster
// is an operator task (ALTER KEYSPACE followed by a repair).
//
// The keyspace is created WITH tablets = {'enabled': false} unless
// [Options.Tablets]: ScyllaDB before 2025.4 supports CDC only on
// vnode-based keyspaces and refuses to create a CDC log in a tablets
// keyspace. From 2025.4 on, CDC works on tablets too (each table gets its
// own stream sets, which change when its tablets split or merge, and
// scylla-cdc-go follows them), so Options.Tablets creates the keyspace with
// tablets = {'enabled': true} and NetworkTopologyStrategy replication.
// Versions that predate tablets reject the option as an unknown property;
// this schema targets ScyllaDB 6.0 and later.
//
// # Tables
//
// [TableOrders] (orders) holds the current state of each order aggregate,
// one row per order keyed by id. items is the order lines as a JSON array
// ({"product_id", "quantity", "unit_price_minor", "currency"} per line);
// currency and total_minor are derived from items and stored only so that
// ad-hoc queries need not parse JSON; status is "pending" or "cancelled";
// version is the aggregate version (the sequence of its last event).
//
// [TableOutboxMessages] (outbox_messages) is the outbox. Every domain event
// is one row, written in the same logged batch as the orders row it
// describes, so the state change and its event commit together or not at
// all. The partition key is the aggregate id, so all events of one aggregate
// share a CDC stream, whose log is ordered by write time: the order's single
// writer commits its events one after another, and events of one batch
// share a timestamp and are logged in clustering order (sequence ascending),
// so the CDC relay sees each aggregate's events in sequence order.
// CDC is enabled without preimage or postimage, so the log holds exactly one
// row per event (a postimage would add a second row per write, which the
// original design then published twice). Columns: the fields of
// [github.com/scylla-outbox/scylla-outbox/domain.Envelope] (event_id,
// aggregate_type, event_type, payload, content_type, trace_parent,
// occurred_at) plus committed_at, a timeuuid of the write shared by all
// events of one batch. Rows expire after [Options.OutboxTTL];
// the CDC log, the table [TableOutboxCDCLog] that ScyllaDB creates alongside,
// keeps its rows for [Options.CDCLogTTL].
//
// [TableOutboxByBucket] (outbox_by_bucket) is the same events laid out for
// the polling relay, written in the same logged batch. The partition key is
// the commit minute (committed_at in Unix minutes) and rows cluster by
// (committed_at, event_id), so WHERE bucket = ? AND committed_at > ? reads in
// commit order without ALLOW FILTERING. committed_at is the server's now()
// at the moment the batch is applied (the batch carries no client
// timestamp), so each row's committed_at is the instant it became visible
// on its coordinator; the bucket, a partition key, is computed by the
// writer before the batch runs, so committed_at may fall in the minute
// after its bucket by up to the writer's clock skew. On a real cluster a
// row can still become visible on other replicas later than committed_at
// (up to the write timeout for an acknowledged write): a polling relay
// therefore re-reads a safety window behind its cursor and skips what it
// has finished (see [TableRelayFinished]). Rows
// expire after [Options.OutboxTTL].
//
// [TableDeadLetterQueue] (dead_letter_queue) holds events the relay gave up
// on, keyed by event id: the envelope fields, the last error and its kind,
// the failure count, first and last failure times, how often the entry was
// replayed, and which processor failed it. [TableDeadLetterByAggregate]
// (dead_letter_by_aggregate) indexes the same entries by (aggregate_id,
// sequence) so the relay can hold back later events of an aggregate while an
// earlier one is dead-lettered instead of publishing out of order. Both
// expire after [Options.DeadLetterTTL] (default: never), the index with its
// entries, so that an expired entry cannot hold an aggregate forever.
//
// [TableOrderLeases] (order_leases) is the single-writer lease per order:
// owner names the process that may write the order. Leases are taken and
// renewed with lightweight transactions and carry a per-write TTL, so the
// lease of a crashed owner lapses by itself.
//
// [TableRelayCursor] (relay_cursor) stores, per polling relay name, the
// bucket and committed_at every event before which is finished.
// [TableRelayFinished] (relay_finished) remembers, per relay name, the
// event ids it finished (published or dead-lettered), for as long as the
// outbox rows they refer to ([Options.OutboxTTL]): a relay restarted after
// any downtime it can survive still skips what it already published. It
// also holds one row per minute of commit time in which a run marked
// events (under a version-5 id no event id can have) and a row saying that
// minutes are kept, so that a restarted relay looks up only those minutes.
//
// [TableCDCProgress] (cdc_progress) is the per-stream progress of the CDC
// relay, in exactly the layout of scylla-cdc-go's TableBackedProgressManager
// (which would otherwise create it lazily, out of sight). Progress saved
// there is what lets a restarted CDC relay resume where it stopped instead
// of starting from "now" and losing what it had not yet published.
// Since relays run as leader and standbys, they save progress in
// [TableRelayProgress] (relay_progress) instead, and read cdc_progress and
// relay_cursor only where relay_progress has nothing yet (an upgrade).
//
// [TableRelayProgress] (relay_progress) is the fenced state of each relay
// name, one partition per name: the active relay's epoch and identity as
// static columns, the CDC generation, read start and polling cursor as
// static columns, and one row per CDC generation and stream. Every
// progress write is a lightweight transaction conditional on the writer's
// epoch, which is why it all shares one partition.
//
// # Retention
//
// The TTLs bound how long a relay may be down without losing events: the
// CDC relay must resume within [Options.CDCLogTTL] of a write, and the
// polling relay within [Options.OutboxTTL]. scylla-cdc-go also writes its
// progress rows with a TTL (7 days by default), so a CDC relay down longer
// than that loses its saved position as well.
package schema
