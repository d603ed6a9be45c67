// Package dlqtool is the logic behind `outbox dlq list|show|replay|discard`:
// inspecting the dead-letter queue the relay writes, publishing its entries
// again once their cause is fixed, and discarding the ones that must never
// be published. The CLI only parses flags and wires a
// *storage.DeadLetterStore, a *messaging.Publisher and an output writer into
// these functions.
//
// Replay keeps the relay's guarantees:
//
//   - Order: entries are replayed aggregate by aggregate in sequence order,
//     and an aggregate stops at its first entry that is not published (a
//     failed publish, a refused entry, or an earlier entry that was not
//     selected), so a later event never reaches consumers before an
//     earlier one still in the queue.
//   - No loss: an entry leaves the queue only after the broker has
//     acknowledged its replay. A crash or failure in between leaves it
//     there; replaying it again at worst publishes a duplicate, which
//     consumers drop by event id.
//   - No endless loops: each attempt is counted in replay_count before it
//     is made, and entries at ReplayOptions.MaxReplays are refused, so a
//     poison event that crashes something downstream cannot be replayed
//     forever by a script.
//
// Entries of kind malformed (storage.KindMalformed) are rows the relay
// could not decode into an event; they carry the row's columns as text,
// which Show prints, and may have no aggregate id. Replay refuses them:
// there is nothing to publish. Discard them, writing a corrected row to the
// outbox if the event must still be published; discarding one that has an
// aggregate releases that aggregate from the Hold policy like any other.
//
// The publisher must be the relay's (messaging.Publisher), so a replayed
// event gets the same topic, key and headers as if the relay had published
// it the first time.
//
// Discarding, or replaying, an aggregate's last entries releases it from
// the relay's Hold policy: the relay holds exactly the aggregates that still
// have entries (storage.DeadLetterStore.HeldAggregates).
//
// Run one replay or discard at a time: replay counts are read, incremented
// and written without a lightweight transaction.
package dlqtool
