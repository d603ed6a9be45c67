package actors

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
)

// Messages of the DlqActor ([NewDLQProps]).

// WriteDeadLetter asks for a record to be written to the dead-letter queue.
// The DlqActor retries a failed write on a timer until it succeeds — an
// entry is never dropped — then sends [*DeadLetterWritten] to ReplyTo.
// Sending it again for an event id still being written replaces the
// request (the latest ReplyTo is answered) and retries a write waiting for
// its timer at once.
type WriteDeadLetter struct {
	Record    outbox.Record
	Failure   relay.Failure
	Processor string
	// Raw is the source row's columns as text, for a row the relay could
	// not decode (Failure.Kind relay.KindMalformed); nil otherwise.
	Raw     map[string]string
	ReplyTo *actor.PID
	// Fence, if set, is checked just before each write attempt: a dead
	// letter lives outside the progress partition, so it cannot be made
	// conditional on the writer's epoch itself. When it fails with
	// leader.ErrFenced the entry is dropped (the newer leader reads the
	// event again) and ReplyTo gets [*DeadLetterFenced] instead.
	Fence func(context.Context) error
}

// DeadLetterFenced tells the processor its dead letter was not written: a
// newer epoch holds the relay, so this processor is a stale leader.
type DeadLetterFenced struct {
	EventID uuid.UUID
	Err     error
}

// DeadLetterWritten tells the processor its record is durably dead-lettered.
type DeadLetterWritten struct {
	EventID uuid.UUID
}

// GetDLQStatus asks the DlqActor for a snapshot. Reply: [*DLQStatus].
type GetDLQStatus struct{}

// DLQStatus is the DlqActor's state. Size is what the actor reports to
// the MetricsActor, so reading it costs no query.
type DLQStatus struct {
	// Size is the number of entries in the queue; valid once SizeKnown
	// (after the first successful count).
	Size      int
	SizeKnown bool
	// Pending entries are not durably written yet: Writing are being
	// written, Waiting wait for their retry timer, the rest for a writer.
	Pending, Writing, Waiting int
}

// The DlqActor's own messages: timers and the outcomes of its background
// work. Each carries the token of the job or timer that sent it, so that
// one outliving a restart (or superseded) is recognised and ignored.

// retryDeadLetter is an entry's retry timer firing.
type retryDeadLetter struct {
	eventID uuid.UUID
	token   uint64
}

// deadLetterWriteDone is the outcome of one write attempt.
type deadLetterWriteDone struct {
	eventID uuid.UUID
	token   uint64
	// checked: the attempt asked whether the entry existed; isNew is the
	// answer's negation.
	checked, isNew bool
	err            error
}

// refreshDLQSize asks for the queue to be counted again.
type refreshDLQSize struct{}

// dlqCounted is the outcome of a count.
type dlqCounted struct {
	token uint64
	n     int
	err   error
}
