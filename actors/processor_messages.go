package actors

import (
	"time"

	"github.com/google/uuid"
)

// Messages shared by the CDC and polling processors
// ([NewCDCProcessorProps], [NewPollingProcessorProps]).
//
// Received from outside:
//   - [*GetProcessorStatus]: reply [*ProcessorStatus].
//   - [*Drain] (from [System.Shutdown]): stop intake, finish in-flight
//     records within the drain timeout, save progress; reply [*Drained],
//     whose Err says what progress could not be saved.
//   - [*DeadLetterWritten] (from the DlqActor): the record is durably in
//     the DLQ and finishes.
//
// Sent to its parent (the relay's leader actor):
//   - [*ProcessorFenced]: a progress write was rejected because another
//     relay of the same name has taken a newer epoch; the processor has
//     stopped reading and publishes nothing more.
//
// The rest are the processor's own: records from its source, publisher
// callbacks and timers, all funnelled through its mailbox so the pipeline
// is only ever touched by the actor.

// GetProcessorStatus asks for a snapshot. Reply: [*ProcessorStatus].
type GetProcessorStatus struct{}

// ProcessorStatus is a processor's state, as /status shows it.
type ProcessorStatus struct {
	Processor string `json:"processor"`
	InFlight  int    `json:"in_flight"`
	Breaker   string `json:"breaker"`
	// Lag is now minus the commit time of the last published event.
	Lag           time.Duration   `json:"lag_ns"`
	LastPublished *PublishedEvent `json:"last_published,omitempty"`
	// Reading is false while the source is down (CDC reader restarting).
	Reading bool `json:"reading"`
}

// PublishedEvent identifies the last published event.
type PublishedEvent struct {
	EventID     uuid.UUID `json:"event_id"`
	AggregateID uuid.UUID `json:"aggregate_id"`
	Sequence    int64     `json:"sequence"`
	EventType   string    `json:"event_type"`
	CommittedAt time.Time `json:"committed_at"`
}

// ProcessorFenced tells the processor's parent that a newer epoch rejected
// one of its progress writes (Err wraps leader.ErrFenced). The processor
// reads and publishes nothing more; the parent stops it.
type ProcessorFenced struct{ Err error }

// progressFenced carries a rejected save made off the actor's goroutine.
type progressFenced struct{ err error }

// recordsArrived and publishResults wake the actor to take its inbox.
type recordsArrived struct{}

type publishResults struct{}

type publishResult struct {
	eventID uuid.UUID
	err     error
}

type retryDue struct{ eventID uuid.UUID }

type probeDue struct{}

type refreshDLQ struct{}

type dlqLoaded struct {
	events map[uuid.UUID]bool
	from   map[uuid.UUID]int64 // aggregate → lowest dead-lettered sequence
	mark   uint64              // relay.Pipeline.DLQLoadStarted when the load began
	err    error
}

type drainTimeout struct{}

type reportGauges struct{}

type saveProgress struct{}
