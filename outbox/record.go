// Package outbox owns the relay's vocabulary, shared by the CDC reader, the
// polling reader, the publisher, the dead-letter queue and the processor
// actors: a Record is one committed outbox event on its way to the broker.
// It is plain data with no I/O.
package outbox

import (
	"time"

	"github.com/scylla-outbox/scylla-outbox/domain"
)

// Record is an outbox event as the relay sees it: the envelope that was
// written in the order's batch, plus when that batch committed. Consumers
// deduplicate on EventID; ordering holds per AggregateID by Sequence.
type Record struct {
	domain.Envelope
	// CommittedAt is the commit time of the batch that wrote the event
	// (the CDC log's cdc$time, or outbox committed_at); end-to-end latency
	// and processing lag are measured from it.
	CommittedAt time.Time
	// Malformed is set by a source for a row it could not read as an
	// event; the Envelope then holds what could be read. The relay
	// dead-letters such a record (kind malformed) instead of publishing it,
	// so the row is never skipped silently and never blocks its source.
	Malformed *Malformed
}

// Malformed describes a source row that is not a valid outbox event.
type Malformed struct {
	// Reason says what is wrong with the row.
	Reason string
	// Raw holds the row's columns rendered as text, for inspection in the
	// dead-letter queue.
	Raw map[string]string
}

// OrderKey is what the relay orders the record by: its aggregate, or the
// record alone when a malformed row has no aggregate id.
func (r Record) OrderKey() [16]byte {
	if r.AggregateID == [16]byte{} {
		return r.EventID
	}
	return r.AggregateID
}
