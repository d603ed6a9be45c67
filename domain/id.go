package domain

import (
	"fmt"

	"github.com/google/uuid"
)

// IDGenerator returns a fresh, globally unique event id. Each transition
// calls it exactly once, after validation succeeds, so a rejected command
// consumes no id.
//
// It is a function type, not an interface: the contract is a single call,
// and uuid.NewV7 already has this signature, so neither production code nor a
// test (a closure over a counter) needs an adapter. An IDGenerator must not
// be nil, must be safe for concurrent use if actors share it, and must never
// return [uuid.Nil] (rejected with [ErrInvalidEventID]). An error aborts the
// transition with the order unchanged.
type IDGenerator func() (uuid.UUID, error)

// NewUUIDv7Generator returns the production [IDGenerator]: RFC 9562 version 7
// UUIDs. Their millisecond timestamp prefix keeps ids roughly time-ordered,
// which keeps consumer dedup indexes and log scans local. Uniqueness rests on
// 62 random bits per id; within one process the 48-bit millisecond clock plus
// a 12-bit sub-millisecond sequence also makes ids strictly increasing.
// Event ordering must still come from [DomainEvent.Sequence], never from ids.
func NewUUIDv7Generator() IDGenerator { return uuid.NewV7 }

// newEventID calls gen and rejects the nil UUID, the one value a buggy
// generator (say, a zero-valued test stub) is likely to return.
func newEventID(gen IDGenerator) (uuid.UUID, error) {
	id, err := gen()
	if err != nil {
		return uuid.Nil, fmt.Errorf("domain: generate event id: %w", err)
	}
	if id == uuid.Nil {
		return uuid.Nil, invalid("event_id", "generator returned the nil UUID", ErrInvalidEventID)
	}
	return id, nil
}
