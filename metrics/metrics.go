// Package metrics owns the Prometheus instruments of scylla-outbox: their
// names, help strings, label sets and buckets. The help strings are the
// metrics reference; read them with `curl /metrics | grep HELP`.
//
// Nothing here is global. [New] registers every instrument on the registerer
// it is given, so tests use a fresh registry each and a process decides what
// it exposes. Inside the actor system one actor (the metrics actor of
// package actors) is the only caller of the update methods, so components report metrics by sending
// it messages instead of sharing a *Metrics; the methods are nevertheless
// safe for concurrent use, as the Prometheus collectors are.
//
// Label values are small fixed sets. Every label is filled from code
// constants except event_type, which comes from stored data and is therefore
// clamped to the known event types (see [EventTypeLabel]) so that a corrupt
// or foreign outbox row cannot create unbounded series.
package metrics

import (
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scylla-outbox/scylla-outbox/domain"
)

// BreakerState is the circuit breaker state as exported by
// circuit_breaker_state. The numeric values are part of the metric contract
// (dashboards compare against them), so they must never be renumbered.
type BreakerState int

// Circuit breaker states.
const (
	BreakerClosed   BreakerState = 0
	BreakerOpen     BreakerState = 1
	BreakerHalfOpen BreakerState = 2
)

// String returns the label value used by circuit_breaker_transitions_total.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	}
	return "unknown"
}

// Values of the command label of orders_commands_total and
// orders_command_duration_seconds.
const (
	CommandCreate = "create"
	CommandUpdate = "update"
	CommandCancel = "cancel"
	CommandGet    = "get"
)

// Values of the result label of orders_commands_total. They classify the
// reply, so an alert can separate caller mistakes (invalid, not_found,
// exists, cancelled) from contention (conflict) and infrastructure (error).
const (
	ResultOK        = "ok"
	ResultInvalid   = "invalid"
	ResultNotFound  = "not_found"
	ResultExists    = "exists"
	ResultCancelled = "cancelled"
	ResultConflict  = "conflict"
	ResultError     = "error"
)

// EventTypeOther is the event_type label of any event type that is not one
// of the domain's.
const EventTypeOther = "other"

// EventTypeLabel clamps an event type to the fixed event_type label set: the
// domain event types pass through, anything else becomes [EventTypeOther].
// Adding an aggregate means adding its event types here.
func EventTypeLabel(eventType string) string {
	switch eventType {
	case domain.EventTypeOrderCreated, domain.EventTypeOrderUpdated, domain.EventTypeOrderCancelled:
		return eventType
	}
	return EventTypeOther
}

// Metrics holds every instrument. Create it with [New].
type Metrics struct {
	cdcProcessed       *prometheus.CounterVec
	cdcFailed          *prometheus.CounterVec
	cdcDuration        *prometheus.HistogramVec
	retryAttempts      *prometheus.CounterVec
	retrySuccess       *prometheus.CounterVec
	retryFailure       *prometheus.CounterVec
	dlqTotal           prometheus.Counter
	dlqByType          *prometheus.CounterVec
	breakerState       prometheus.Gauge
	breakerTransitions *prometheus.CounterVec
	endToEnd           prometheus.Histogram
	inFlight           prometheus.Gauge
	dlqSize            prometheus.Gauge
	actorRestarts      *prometheus.CounterVec
	published          *prometheus.CounterVec
	duplicates         prometheus.Counter
	republished        *prometheus.CounterVec
	commands           *prometheus.CounterVec
	commandDuration    *prometheus.HistogramVec
	relayActive        *prometheus.GaugeVec
	leadershipChanges  *prometheus.CounterVec

	// newestCommit is the commit time (Unix nanoseconds) of the newest event
	// published so far; outbox_processing_lag_seconds is computed from it at
	// scrape time so that the lag keeps growing while nothing is published.
	newestCommit atomic.Int64
}

// New creates the instruments and registers them on reg. It panics if a
// metric of the same name is already registered there, which is a wiring bug
// (two *Metrics on one registry). A nil reg leaves them unregistered.
func New(reg prometheus.Registerer) *Metrics {
	// Commit-to-ack latency through CDC is dominated by the CDC confidence
	// window and poll interval (tens of seconds with library defaults), so
	// its buckets reach 2 min instead of saturating.
	latencyBuckets := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120}
	// Work that is one storage or broker round trip plus local processing.
	fastBuckets := []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	m := &Metrics{
		cdcProcessed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdc_events_processed_total",
			Help: "Outbox events the CDC consumer finished handling (published or skipped as duplicates), by event type.",
		}, []string{"event_type"}),
		cdcFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdc_events_failed_total",
			Help: "Outbox events the CDC consumer could not publish (sent to the dead-letter queue or left for replay), by event type.",
		}, []string{"event_type"}),
		cdcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cdc_processing_duration_seconds",
			Help:    "Time from the CDC consumer receiving an outbox event to finishing with it, retries included, by event type.",
			Buckets: fastBuckets,
		}, []string{"event_type"}),
		retryAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retry_attempts_total",
			Help: "Publish retries (attempts after the first), by event type.",
		}, []string{"event_type"}),
		retrySuccess: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retry_success_total",
			Help: "Events published after at least one retry, by event type.",
		}, []string{"event_type"}),
		retryFailure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retry_failure_total",
			Help: "Events whose retries were exhausted without a successful publish, by event type.",
		}, []string{"event_type"}),
		dlqTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dlq_messages_total",
			Help: "Events written to the dead-letter queue (durably, not merely attempted).",
		}),
		dlqByType: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlq_messages_by_event_type",
			Help: "Events written to the dead-letter queue, by event type.",
		}, []string{"event_type"}),
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "circuit_breaker_state",
			Help: "Broker circuit breaker state: 0 closed (publishing), 1 open (publishing suspended), 2 half-open (probing).",
		}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circuit_breaker_transitions_total",
			Help: "Broker circuit breaker state changes, by from and to state (closed, open, half_open).",
		}, []string{"from", "to"}),
		endToEnd: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "outbox_end_to_end_latency_seconds",
			Help:    "Time from the outbox row's commit in ScyllaDB to the broker acknowledging the published record.",
			Buckets: latencyBuckets,
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outbox_events_in_flight",
			Help: "Events read from CDC and not yet acknowledged by the broker or dead-lettered.",
		}),
		dlqSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outbox_dlq_size",
			Help: "Events currently in the dead-letter queue awaiting replay.",
		}),
		actorRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actor_restarts_total",
			Help: "Actor restarts by a supervisor after a panic, by actor kind (actor path with instance ids removed).",
		}, []string{"actor"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outbox_events_published_total",
			Help: "Events acknowledged by the broker, by processor and event type.",
		}, []string{"processor", "event_type"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_duplicates_total",
			Help: "Events recognised as already published and skipped (for example re-read after a restart).",
		}),
		republished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outbox_republished_total",
			Help: "Publishes of an event that may already be in the broker, so that consumers may receive it twice (same event id), by reason: ambiguous_failure (the previous attempt timed out after it was sent) or restart_recovery (its outcome was lost with a restarted processor).",
		}, []string{"reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_commands_total",
			Help: "Order commands handled, by command (create, update, cancel, get) and result (ok, invalid, not_found, exists, cancelled, conflict, error).",
		}, []string{"command", "result"}),
		commandDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orders_command_duration_seconds",
			Help:    "Time an order actor spent handling a command, storage round trips included and mailbox wait excluded, by command.",
			Buckets: fastBuckets,
		}, []string{"command"}),
		relayActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relay_active",
			Help: "1 while this process is the active relay of its relay name (reading and publishing), 0 while it is a standby, by relay name. Summed over a name's processes it is 1; 0 for long means nobody publishes.",
		}, []string{"relay"}),
		leadershipChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_leadership_changes_total",
			Help: "Times this process became or stopped being the active relay of its relay name, by relay name.",
		}, []string{"relay"}),
	}
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "outbox_processing_lag_seconds",
		Help: "Seconds between now and the commit time of the newest event published; 0 before the first publish. It grows while nothing is published, so read it together with outbox_events_in_flight.",
	}, m.lagSeconds)
	if reg != nil {
		reg.MustRegister(
			m.cdcProcessed, m.cdcFailed, m.cdcDuration,
			m.retryAttempts, m.retrySuccess, m.retryFailure,
			m.dlqTotal, m.dlqByType,
			m.breakerState, m.breakerTransitions,
			m.endToEnd, lag, m.inFlight, m.dlqSize,
			m.actorRestarts, m.published, m.duplicates, m.republished,
			m.commands, m.commandDuration,
			m.relayActive, m.leadershipChanges,
		)
	}
	return m
}

func (m *Metrics) lagSeconds() float64 {
	ns := m.newestCommit.Load()
	if ns == 0 {
		return 0
	}
	return math.Max(0, time.Since(time.Unix(0, ns)).Seconds())
}

// EventProcessed records that the CDC consumer finished with an event after d.
func (m *Metrics) EventProcessed(eventType string, d time.Duration) {
	et := EventTypeLabel(eventType)
	m.cdcProcessed.WithLabelValues(et).Inc()
	m.cdcDuration.WithLabelValues(et).Observe(d.Seconds())
}

// EventFailed records that the CDC consumer gave up publishing an event.
func (m *Metrics) EventFailed(eventType string) {
	m.cdcFailed.WithLabelValues(EventTypeLabel(eventType)).Inc()
}

// EventPublished records a broker acknowledgement. A zero committedAt (commit
// time unknown) counts the event without observing latency or lag.
func (m *Metrics) EventPublished(processor, eventType string, committedAt, ackedAt time.Time) {
	m.published.WithLabelValues(processor, EventTypeLabel(eventType)).Inc()
	if committedAt.IsZero() {
		return
	}
	// Clock skew between the database and this host can make the
	// difference negative; a negative latency would corrupt the histogram.
	m.endToEnd.Observe(math.Max(0, ackedAt.Sub(committedAt).Seconds()))
	ns := committedAt.UnixNano()
	for {
		cur := m.newestCommit.Load()
		if ns <= cur || m.newestCommit.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// DuplicateSkipped records an event recognised as already published.
func (m *Metrics) DuplicateSkipped() { m.duplicates.Inc() }

// Republished records a publish that may duplicate an event already in the
// broker, with its reason (relay.RepublishAmbiguous, relay.RepublishRecovery).
func (m *Metrics) Republished(reason string) { m.republished.WithLabelValues(reason).Inc() }

// RetryAttempted records one publish retry.
func (m *Metrics) RetryAttempted(eventType string) {
	m.retryAttempts.WithLabelValues(EventTypeLabel(eventType)).Inc()
}

// RetrySucceeded records a publish that succeeded after retrying.
func (m *Metrics) RetrySucceeded(eventType string) {
	m.retrySuccess.WithLabelValues(EventTypeLabel(eventType)).Inc()
}

// RetryExhausted records a publish whose retries ran out.
func (m *Metrics) RetryExhausted(eventType string) {
	m.retryFailure.WithLabelValues(EventTypeLabel(eventType)).Inc()
}

// BreakerTransition records a circuit breaker state change and sets the
// current state.
func (m *Metrics) BreakerTransition(from, to BreakerState) {
	m.breakerState.Set(float64(to))
	m.breakerTransitions.WithLabelValues(from.String(), to.String()).Inc()
}

// DLQWritten records an event durably written to the dead-letter queue.
func (m *Metrics) DLQWritten(eventType string) {
	m.dlqTotal.Inc()
	m.dlqByType.WithLabelValues(EventTypeLabel(eventType)).Inc()
}

// SetDLQSize sets the number of events waiting in the dead-letter queue.
func (m *Metrics) SetDLQSize(n int) { m.dlqSize.Set(float64(n)) }

// SetRelayActive sets whether this process is relay's active relay.
func (m *Metrics) SetRelayActive(relay string, active bool) {
	v := 0.0
	if active {
		v = 1
	}
	m.relayActive.WithLabelValues(relay).Set(v)
}

// LeadershipChanged records that this process became (active) or stopped
// being relay's active relay.
func (m *Metrics) LeadershipChanged(relay string, active bool) {
	m.SetRelayActive(relay, active)
	m.leadershipChanges.WithLabelValues(relay).Inc()
}

// SetInFlight sets the number of events read and not yet settled.
func (m *Metrics) SetInFlight(n int) { m.inFlight.Set(float64(n)) }

// ActorRestarted records a supervisor restart of an actor of the given kind.
func (m *Metrics) ActorRestarted(actorKind string) {
	m.actorRestarts.WithLabelValues(actorKind).Inc()
}

// CommandHandled records an order command with its result label (one of the
// Result constants) and handling time.
func (m *Metrics) CommandHandled(command, result string, d time.Duration) {
	m.commands.WithLabelValues(command, result).Inc()
	m.commandDuration.WithLabelValues(command).Observe(d.Seconds())
}

// Handler serves the metrics of g in the Prometheus exposition format. A
// collector that fails is skipped rather than failing the whole scrape, so
// one broken collector does not blind every dashboard.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
