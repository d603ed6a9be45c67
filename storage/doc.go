// Package storage owns access to ScyllaDB for the order side of
// scylla-outbox: connecting ([Config], [NewSession], [Config.ClusterConfig])
// and the [OrderStore] repository, which loads orders, saves each change
// together with its outbox events in one logged batch, and manages the
// per-order leases that keep a single writer per order across processes.
// The tables it uses are defined, and created, by package schema.
//
// # Why one logged batch
//
// The outbox pattern is only correct if the state change and its event
// commit together. [OrderStore.Save] writes the orders row, the
// outbox_messages row (read by the CDC relay) and the outbox_by_bucket row
// (read by the polling relay) in one logged batch, which ScyllaDB applies
// entirely or not at all, even across partitions and tables. It is atomic
// but not isolated: a reader may briefly see some of the batch's rows before
// the others, which the relays do not mind because they read only outbox
// rows.
//
// # Single writer
//
// The batch cannot be conditional (ScyllaDB allows conditions only in
// single-partition batches), so nothing in it stops two processes from
// writing the same order. The lease methods of [OrderStore] provide that
// exclusion instead: the actor that owns an order acquires its lease, renews
// it well within the TTL, and stops writing when renewal fails.
//
// # Errors
//
// Errors start with "storage: " and wrap their cause. Callers branch on
// [ErrNotFound], [ErrCorruptOrder], [ErrInvalidSave] and [ErrLeaseLost] with
// errors.Is, and on [*BatchError] and [*LeaseHeldError] with errors.As.
package storage
