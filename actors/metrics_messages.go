package actors

import (
	"time"

	"github.com/scylla-outbox/scylla-outbox/metrics"
)

// Messages of the metrics actor ([NewMetricsProps]). Every one except
// [*GetMetricsAddr] is fire-and-forget: send it with Send, never as a
// request, and expect no reply. Reporting must never slow the reporter, and
// a metric lost while the metrics actor is down is an acceptable price.
// Event types are clamped to a fixed label set (see
// [metrics.EventTypeLabel]); the other string fields must come from code
// constants so that label sets stay small.

// EventFailed reports that the CDC consumer gave up publishing an event.
type EventFailed struct {
	EventType string
}

// EventsPublished reports broker acknowledgements a processor learned
// together, at AckedAt. Each also counts its event as processed
// (cdc_events_processed_total and cdc_processing_duration_seconds, the
// tutorial's names). One message per batch, not per event: under load a
// message per event cost the relay an allocation, a mailbox push and often
// a goroutine to run the metrics actor, for every event.
type EventsPublished struct {
	Processor string
	AckedAt   time.Time
	Events    []AckedEvent
}

// AckedEvent is one event of [EventsPublished]. CommittedAt is the outbox
// row's commit time (zero if unknown: the event is counted without a
// latency).
type AckedEvent struct {
	EventType   string
	CommittedAt time.Time
}

// DuplicateSkipped reports an event recognised as already published.
type DuplicateSkipped struct{}

// EventRepublished reports a publish that may duplicate an event already in
// the broker.
type EventRepublished struct{ Reason string }

// RetryAttempted reports one publish retry.
type RetryAttempted struct {
	EventType string
}

// RetrySucceeded reports a publish that succeeded after retrying.
type RetrySucceeded struct {
	EventType string
}

// RetryExhausted reports a publish whose retries ran out.
type RetryExhausted struct {
	EventType string
}

// BreakerTransition reports a circuit breaker state change.
type BreakerTransition struct {
	From, To metrics.BreakerState
}

// DLQWritten reports an event durably written to the dead-letter queue.
type DLQWritten struct {
	EventType string
}

// DLQSize reports how many events wait in the dead-letter queue.
type DLQSize struct {
	N int
}

// InFlight reports how many events are read and not yet settled.
type InFlight struct {
	N int
}

// ActorRestarted reports a supervisor restart; Actor is an [ActorKind].
// [System.OnRestart] is the usual source.
type ActorRestarted struct {
	Actor string
}

// CommandHandled reports an order command: Command and Result are the
// metrics.Command* and metrics.Result* constants.
type CommandHandled struct {
	Command  string
	Result   string
	Duration time.Duration
}

// GetMetricsAddr asks for the address the /metrics server listens on.
// Reply: [*MetricsAddr].
type GetMetricsAddr struct{}

// MetricsAddr is the reply to [*GetMetricsAddr]; Addr is empty when the
// actor serves no HTTP (none configured, or the listener failed).
type MetricsAddr struct {
	Addr string
}

// RelayActive sets relay_active for a relay name (0 for a standby).
type RelayActive struct {
	Relay  string
	Active bool
}

// LeadershipChanged reports that this relay became (Active) or stopped
// being the relay name's active relay.
type LeadershipChanged struct {
	Relay  string
	Active bool
}
