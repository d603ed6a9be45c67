package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
)

// Messages of the DlqActor ([NewDlqProps]).

// WriteDeadLetter asks for a record to be written to the dead-letter queue.
// The DlqActor retries a failed write on a timer until it succeeds — an
// entry is never dropped — then sends [*DeadLetterWritten] to ReplyTo.
type WriteDeadLetter struct {
	Record    outbox.Record
	Failure   relay.Failure
	Processor string
	ReplyTo   *actor.PID
}

// DeadLetterWritten tells the processor its record is durably dead-lettered.
type DeadLetterWritten struct {
	EventID uuid.UUID
}

type retryDeadLetter struct{ msg *WriteDeadLetter }

type refreshDLQSize struct{}
