// Package domain owns the business rules of scylla-outbox: the Order
// aggregate, its state machine, its validation rules, and the events each
// state change emits, together with the aggregate-agnostic [Envelope] in
// which those events travel through the outbox.
//
// The package is pure: it performs no I/O, reads no clock and draws no
// randomness of its own. Time is passed in as a parameter and event ids come
// from a caller-supplied [IDGenerator], so every transition is deterministic
// under test and the actor that drives it decides where time and ids come
// from.
//
// # Outbox contract
//
// Every successful transition returns the new aggregate state and exactly one
// event, and mutates nothing when it fails. The caller persists both in one
// logged batch (the order row from [Order.State], the outbox row from
// [NewEnvelope]); that atomicity is what makes the outbox pattern correct, so
// a caller must never persist one without the other.
//
// Events of one aggregate are totally ordered by [DomainEvent.Sequence], which
// equals the aggregate version after the change (1 for creation, then +1 per
// change). The relay keys Kafka records by aggregate id so that order survives
// partitioning; consumers deduplicate by [DomainEvent.EventID] and may discard
// any event whose sequence is not greater than the last one they applied.
//
// # Time
//
// Timestamps are normalised to UTC at millisecond precision on the way in.
// CQL timestamps hold milliseconds, so normalising here makes the order row,
// the event payload and an order rebuilt by [Rehydrate] agree exactly instead
// of differing in the sub-millisecond digits. Timestamps are informational:
// ordering comes from versions, never from clocks, so the domain does not
// reject a clock that runs backwards between transitions.
//
// # Errors
//
// Invalid input is reported as a [*ValidationError] that names the offending
// field using the JSON payload names (for example "items[3].quantity") and
// wraps one of the package's sentinel errors, so callers branch with
// [errors.Is] on the sentinel or [errors.As] for the field. Validation stops
// at the first problem. Illegal transitions wrap [ErrOrderCancelled].
package domain
