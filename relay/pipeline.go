// Package relay owns the publish discipline both processors share, as a
// state machine with no I/O and no goroutines: per-aggregate ordering (one
// event of an aggregate in flight at a time, the rest queued behind it),
// retries of transient failures on a backoff schedule, a circuit breaker
// that stops all publishing while the broker is down, and the dead-letter
// decision. Its owner — a processor actor — performs the effects it asks
// for (publish, schedule a timer, write the DLQ) and reports their outcomes
// back, all on the actor's goroutine.
//
// The rules that make a broker outage of any length end with every event
// published and none dead-lettered:
//   - while the breaker is open nothing is published and no attempt is
//     counted; events wait in order;
//   - an event is dead-lettered only for a permanent error, or after
//     MaxAttempts transient failures observed while the breaker stayed
//     closed, i.e. while the broker was acknowledging other events;
//   - an event is finished (and its source acknowledged) only once it is
//     published or its dead-letter entry is written.
package relay

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// Policy says what happens to the later events of an aggregate once one of
// its events is dead-lettered.
type Policy int

const (
	// Continue publishes later events: consumers see a gap in the
	// aggregate's sequence until the DLQ entry is replayed.
	Continue Policy = iota
	// Hold sends later events to the DLQ too (kind "held"), in order, until
	// the aggregate's DLQ entries are replayed or discarded: consumers never
	// see an event after a missing one.
	Hold
)

// ParsePolicy parses "continue" or "hold".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "continue", "":
		return Continue, nil
	case "hold":
		return Hold, nil
	}
	return 0, errors.New(`relay: poison policy must be "continue" or "hold", got "` + s + `"`)
}

func (p Policy) String() string {
	if p == Hold {
		return "hold"
	}
	return "continue"
}

// Dead-letter kinds, stored in dead_letter_queue.error_kind.
const (
	KindPermanent = "permanent" // the broker or the publisher rejected the event itself
	KindExhausted = "exhausted" // MaxAttempts transient failures while the broker was healthy
	KindHeld      = "held"      // queued behind an earlier dead-lettered event (Hold policy)
)

// Failure is why an event goes to the dead-letter queue.
type Failure struct {
	Kind         string
	Err          error
	Attempts     int
	FirstFailure time.Time
	LastFailure  time.Time
}

// Effects are the pipeline's requests to its owner. Each is asynchronous:
// its outcome is reported back through the matching Pipeline method.
type Effects interface {
	// Publish sends rec; report with OnPublished.
	Publish(rec outbox.Record)
	// ScheduleRetry arms a timer; report with OnRetryDue.
	ScheduleRetry(eventID uuid.UUID, after time.Duration)
	// ScheduleProbe arms the breaker timer; report with OnProbeDue.
	ScheduleProbe(after time.Duration)
	// DeadLetter writes rec to the DLQ; report with OnDeadLettered once the
	// write is durable.
	DeadLetter(rec outbox.Record, f Failure)
	// Finished says rec is published or safely dead-lettered: its source
	// may be acknowledged. Called once per Offer of the event.
	Finished(rec outbox.Record, published bool)
}

// Observer receives what metrics and logs need; every method is optional
// to act on.
type Observer interface {
	Published(rec outbox.Record, attempts int)
	PublishFailed(rec outbox.Record, attempt int, err error, permanent bool)
	Retrying(rec outbox.Record, attempt int, delay time.Duration)
	DeadLettered(rec outbox.Record, f Failure)
	BreakerChanged(from, to resilience.BreakerState)
	Duplicate(rec outbox.Record)
}

// Config configures a Pipeline.
type Config struct {
	Retry   resilience.RetryPolicy
	Breaker resilience.BreakerConfig
	Policy  Policy
	// Permanent classifies a publish error; nil treats every error as
	// transient.
	Permanent func(error) bool
}

type state int

const (
	queued        state = iota // behind an earlier event of its aggregate
	ready                      // waiting for the breaker
	publishing                 // sent, no outcome yet
	backoff                    // waiting for its retry timer
	deadLettering              // DLQ write requested
)

type entry struct {
	rec      outbox.Record
	state    state
	attempts int // counted attempts (while the broker was healthy)
	first    time.Time
	last     time.Time
	lastErr  error
	failure  Failure // set when dead-lettering
	offers   int     // Offer calls for this event id, each owed a Finished
}

// Pipeline is the state machine. It is not safe for concurrent use.
type Pipeline struct {
	cfg     Config
	fx      Effects
	obs     Observer
	now     func() time.Time
	rnd     *rand.Rand
	breaker *resilience.Breaker

	entries map[uuid.UUID]*entry
	// aggs holds each aggregate's events in offer order; the head is the
	// only one that may be published.
	aggs  map[uuid.UUID][]*entry
	ready []*entry
	held  map[uuid.UUID]bool
	probe bool // a probe timer is armed
}

// New returns an empty pipeline with a closed breaker.
func New(cfg Config, fx Effects, obs Observer, now func() time.Time, rnd *rand.Rand) *Pipeline {
	p := &Pipeline{cfg: cfg, fx: fx, obs: obs, now: now, rnd: rnd,
		breaker: resilience.NewBreaker(cfg.Breaker),
		entries: map[uuid.UUID]*entry{}, aggs: map[uuid.UUID][]*entry{}, held: map[uuid.UUID]bool{}}
	p.breaker.OnTransition = func(from, to resilience.BreakerState) {
		if obs != nil {
			obs.BreakerChanged(from, to)
		}
	}
	return p
}

// InFlight is the number of offered events not yet finished.
func (p *Pipeline) InFlight() int { return len(p.entries) }

// Offers is how many times the event was offered and not yet finished
// (0 when it is not in flight).
func (p *Pipeline) Offers(eventID uuid.UUID) int {
	if e := p.entries[eventID]; e != nil {
		return e.offers
	}
	return 0
}

// Breaker is the breaker's state.
func (p *Pipeline) Breaker() resilience.BreakerState { return p.breaker.State() }

// Offer takes an event. An event already in flight (a re-read after a
// restart, a poll overlap) is not published twice; it finishes with the
// first.
func (p *Pipeline) Offer(rec outbox.Record) {
	if e := p.entries[rec.EventID]; e != nil {
		e.offers++
		if p.obs != nil {
			p.obs.Duplicate(rec)
		}
		return
	}
	e := &entry{rec: rec, offers: 1}
	p.entries[rec.EventID] = e
	q := append(p.aggs[rec.AggregateID], e)
	p.aggs[rec.AggregateID] = q
	if len(q) == 1 {
		p.activate(e)
	}
	p.pump()
}

// SetHeld marks an aggregate as having DLQ entries (Hold policy), as loaded
// from the dead_letter_by_aggregate table at start and on refresh.
func (p *Pipeline) SetHeld(aggregate uuid.UUID, held bool) {
	if held {
		p.held[aggregate] = true
	} else {
		delete(p.held, aggregate)
	}
}

// Held lists the aggregates currently held.
func (p *Pipeline) Held() []uuid.UUID {
	out := make([]uuid.UUID, 0, len(p.held))
	for a := range p.held {
		out = append(out, a)
	}
	return out
}

func (p *Pipeline) activate(e *entry) {
	if p.cfg.Policy == Hold && p.held[e.rec.AggregateID] {
		p.deadLetter(e, KindHeld, errors.New("held: an earlier event of this aggregate is in the dead-letter queue"))
		return
	}
	e.state = ready
	p.ready = append(p.ready, e)
}

// pump publishes ready events while the breaker allows.
func (p *Pipeline) pump() {
	for len(p.ready) > 0 {
		now := p.now()
		if !p.breaker.Allow(now) {
			if p.breaker.State() == resilience.Open && !p.probe {
				p.probe = true
				p.fx.ScheduleProbe(max(p.breaker.ProbeAt().Sub(now), 0))
			}
			return
		}
		e := p.ready[0]
		p.ready = p.ready[1:]
		e.state = publishing
		p.fx.Publish(e.rec)
	}
}

// OnPublished reports a publish outcome.
func (p *Pipeline) OnPublished(eventID uuid.UUID, err error) {
	e := p.entries[eventID]
	if e == nil || e.state != publishing {
		return
	}
	now := p.now()
	if err == nil {
		p.breaker.Success()
		if p.obs != nil {
			p.obs.Published(e.rec, e.attempts+1)
		}
		p.finish(e, true)
		p.pump()
		return
	}
	if e.first.IsZero() {
		e.first = now
	}
	e.last, e.lastErr = now, err
	if p.cfg.Permanent != nil && p.cfg.Permanent(err) {
		// A rejected event says nothing about the broker's health.
		p.breaker.Release()
		if p.obs != nil {
			p.obs.PublishFailed(e.rec, e.attempts+1, err, true)
		}
		e.attempts++
		p.deadLetter(e, KindPermanent, err)
		p.pump()
		return
	}
	p.breaker.Failure(now)
	if p.obs != nil {
		p.obs.PublishFailed(e.rec, e.attempts+1, err, false)
	}
	if p.breaker.State() != resilience.Closed {
		// The broker is down (or was, when the probe failed): this attempt
		// is not the event's fault and is not counted. It keeps its place
		// at the front of the line.
		e.state = ready
		p.ready = append([]*entry{e}, p.ready...)
		p.pump()
		return
	}
	e.attempts++
	if p.cfg.Retry.Exhausted(e.attempts) {
		p.deadLetter(e, KindExhausted, err)
		p.pump()
		return
	}
	delay := p.cfg.Retry.Backoff(e.attempts, p.rnd)
	e.state = backoff
	if p.obs != nil {
		p.obs.Retrying(e.rec, e.attempts, delay)
	}
	p.fx.ScheduleRetry(eventID, delay)
}

// OnRetryDue reports a retry timer.
func (p *Pipeline) OnRetryDue(eventID uuid.UUID) {
	e := p.entries[eventID]
	if e == nil || e.state != backoff {
		return
	}
	e.state = ready
	p.ready = append(p.ready, e)
	p.pump()
}

// OnProbeDue reports the breaker timer.
func (p *Pipeline) OnProbeDue() {
	p.probe = false
	p.pump()
}

// OnDeadLettered reports a durable DLQ write.
func (p *Pipeline) OnDeadLettered(eventID uuid.UUID) {
	e := p.entries[eventID]
	if e == nil || e.state != deadLettering {
		return
	}
	p.finish(e, false)
	p.pump()
}

func (p *Pipeline) deadLetter(e *entry, kind string, err error) {
	e.state = deadLettering
	if p.cfg.Policy == Hold {
		p.held[e.rec.AggregateID] = true
	}
	f := Failure{Kind: kind, Err: err, Attempts: e.attempts, FirstFailure: e.first, LastFailure: e.last}
	if f.FirstFailure.IsZero() {
		f.FirstFailure, f.LastFailure = p.now(), p.now()
	}
	e.failure = f
	if p.obs != nil {
		p.obs.DeadLettered(e.rec, f)
	}
	p.fx.DeadLetter(e.rec, f)
}

func (p *Pipeline) finish(e *entry, published bool) {
	delete(p.entries, e.rec.EventID)
	agg := e.rec.AggregateID
	q := p.aggs[agg]
	if len(q) > 0 && q[0] == e {
		q = q[1:]
	}
	if len(q) == 0 {
		delete(p.aggs, agg)
	} else {
		p.aggs[agg] = q
		p.activate(q[0])
	}
	for i := 0; i < e.offers; i++ {
		p.fx.Finished(e.rec, published)
	}
}

// Recover re-issues every effect whose outcome may have been lost — after
// the owning actor restarted, a publish result, timer or DLQ reply may have
// been dropped. Events that were being published are published again
// (at-least-once: consumers deduplicate by event id).
func (p *Pipeline) Recover() {
	p.probe = false
	p.ready = p.ready[:0]
	for _, q := range p.aggs {
		if len(q) == 0 {
			continue
		}
		e := q[0]
		switch e.state {
		case deadLettering:
			p.fx.DeadLetter(e.rec, e.failure)
		default:
			e.state = ready
			p.ready = append(p.ready, e)
		}
	}
	// Probes in flight before the restart will never report.
	p.breaker.ResetProbes()
	p.pump()
}
