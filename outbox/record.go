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
}
