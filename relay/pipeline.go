// Package relay owns the publish discipline both processors share, as a
// state machine with no I/O and no goroutines: per-aggregate ordering (one
// event of an aggregate in flight at a time, the rest queued behind it),
// retries of failed publishes on a backoff schedule, a circuit breaker that
// stops all publishing while the broker is down, and the dead-letter
// decision. Its owner — a processor actor, or the fault simulator — performs
// the effects it asks for (publish, schedule a timer, write the DLQ) and
// reports their outcomes back, one at a time.
//
// The rules that make a broker outage of any length end with every event
// published and none dead-lettered, whatever the retry and breaker settings
// and however many events are in flight:
//   - a failure that says the broker could not take the record
//     (Unavailable: unreachable, connection lost, timed out, no leader) is
//     never counted against the event, however often it repeats;
//   - a retriable rejection (Rejected) counts only when the broker
//     acknowledged another event while this attempt was outstanding and the
//     breaker is closed: evidence that the broker works and this event does
//     not. MaxAttempts such failures dead-letter it as exhausted;
//   - while the breaker is open nothing is published; events wait in order;
//   - an event is finished (and its source acknowledged) only once it is
//     published or its dead-letter entry is written.
package relay

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"
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
	KindExhausted = "exhausted" // MaxAttempts retriable rejections while the broker acknowledged others
	KindHeld      = "held"      // queued behind an earlier dead-lettered event (Hold policy)
	KindMalformed = "malformed" // the source row is not a valid event (outbox.Malformed)
)

// Class says what a publish failure means for the event.
type Class int

const (
	// Unavailable: the broker could not be reached or could not take the
	// record right now. It says nothing about the record and never counts
	// toward the dead-letter queue. It is the zero value, so an
	// unclassified error never dead-letters anything.
	Unavailable Class = iota
	// Rejected: the broker answered and refused the record with an error
	// worth retrying. It counts toward MaxAttempts only while the broker
	// acknowledges other records.
	Rejected
	// Permanent: the record can never be published; it is dead-lettered at
	// once.
	Permanent
)

// Republish reasons, for Observer.Republished.
const (
	// RepublishAmbiguous: the previous attempt failed in a way that may
	// have left the record in the broker (a timeout after it was sent).
	RepublishAmbiguous = "ambiguous_failure"
	// RepublishRecovery: the outcome of an attempt was lost with a
	// restarted processor.
	RepublishRecovery = "restart_recovery"
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
	// write is durable. A malformed record carries its raw columns in
	// rec.Malformed.
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
	// Republished reports a publish of a record that may already be in the
	// broker: consumers may see it twice, with the same event id.
	Republished(rec outbox.Record, reason string)
}

// Config configures a Pipeline.
type Config struct {
	Retry   resilience.RetryPolicy
	Breaker resilience.BreakerConfig
	Policy  Policy
	// Classify says what a publish error means; nil makes every error
	// Unavailable (retried until it succeeds, never dead-lettered).
	Classify func(error) Class
	// Ambiguous reports errors after which the record may already be in
	// the broker; nil means none. Publishing such a record again is
	// reported through Observer.Republished.
	Ambiguous func(error) bool
}

type state int

const (
	queued        state = iota // behind an earlier event of its aggregate
	waitingDLQ                 // head of its aggregate, waiting for the dead-letter index to be loaded
	ready                      // waiting for the breaker
	publishing                 // sent, no outcome yet
	backoff                    // waiting for its retry timer
	deadLettering              // DLQ write requested
)

type entry struct {
	rec      outbox.Record
	key      uuid.UUID // rec.OrderKey()
	seq      uint64    // offer order, for a deterministic recovery
	state    state
	attempts int    // counted attempts: rejections while the broker acknowledged others
	failures int    // failures of any class, for the backoff
	sentAcks uint64 // Pipeline.acks when the current attempt was sent
	first    time.Time
	last     time.Time
	failure  Failure // set when dead-lettering
	offers   int     // Offer calls for this event id, each owed a Finished
	// republish is why the next publish may duplicate the record, if it may.
	republish string
	// next is the aggregate's next event; tail, on the aggregate's head
	// only, its last. An aggregate's events are a list through their
	// entries, so a new aggregate costs no allocation.
	next, tail *entry
}

// readyLine holds the events waiting for the breaker, oldest first. It is
// consumed from the front by an index and compacted when it must grow, so
// that publishing as events arrive reuses one array: popping by reslicing
// lost the array's front and allocated anew whenever the line refilled.
type readyLine struct {
	items []*entry
	head  int
}

func (q *readyLine) len() int { return len(q.items) - q.head }

func (q *readyLine) push(e *entry) {
	if len(q.items) == cap(q.items) && q.head > 0 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, e)
}

// pushFront puts e back at the front: it keeps its place in the line.
func (q *readyLine) pushFront(e *entry) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = e
		return
	}
	q.items = append(q.items, nil)
	copy(q.items[1:], q.items)
	q.items[0] = e
}

func (q *readyLine) pop() *entry {
	e := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return e
}

func (q *readyLine) reset() {
	clear(q.items)
	q.items, q.head = q.items[:0], 0
}

// hold is a held aggregate: its events from sequence from on go to the DLQ.
type hold struct {
	from int64
	// durable is the tick at which this pipeline's latest entry for the
	// aggregate became durable (0 for one it only loaded), heldPending
	// while one is being written: no load can have seen that one.
	durable uint64
}

const heldPending = math.MaxUint64

// Pipeline is the state machine. It is not safe for concurrent use.
type Pipeline struct {
	cfg     Config
	fx      Effects
	obs     Observer
	now     func() time.Time
	rnd     *rand.Rand
	breaker *resilience.Breaker

	entries map[uuid.UUID]*entry
	// aggs holds each aggregate's head, the only one of its events that
	// may be published; the rest follow it in offer order (entry.next).
	aggs  map[uuid.UUID]*entry
	ready readyLine
	// free holds finished entries for reuse: an event in flight costs no
	// allocation of its own, and the list is never longer than the most
	// events ever in flight.
	free  []*entry
	probe bool // a probe timer is armed
	seq   uint64
	// acks counts broker acknowledgements: an attempt during which it did
	// not move saw no evidence that the broker works.
	acks uint64

	// What the pipeline knows of the dead-letter queue. dead maps the
	// events in it to the tick at which this pipeline's write of them
	// became durable (0 for loaded ones): one read again after a restart is
	// finished without publishing it. held (Hold policy) maps each held
	// aggregate to its lowest dead-lettered sequence. loaded is false until
	// the first load; heads that arrive before it wait in waiting.
	dead    map[uuid.UUID]uint64
	held    map[uuid.UUID]hold
	tick    uint64
	loaded  bool
	waiting []*entry
}

// New returns an empty pipeline with a closed breaker. It publishes nothing
// until DLQLoaded reports what the dead-letter queue holds.
func New(cfg Config, fx Effects, obs Observer, now func() time.Time, rnd *rand.Rand) *Pipeline {
	p := &Pipeline{cfg: cfg, fx: fx, obs: obs, now: now, rnd: rnd,
		breaker: resilience.NewBreaker(cfg.Breaker),
		entries: map[uuid.UUID]*entry{}, aggs: map[uuid.UUID]*entry{},
		dead: map[uuid.UUID]uint64{}, held: map[uuid.UUID]hold{}}
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
// first. A record that is malformed, or not a valid envelope, is
// dead-lettered as malformed in its aggregate's turn.
func (p *Pipeline) Offer(rec outbox.Record) {
	if e := p.entries[rec.EventID]; e != nil {
		e.offers++
		if p.obs != nil {
			p.obs.Duplicate(rec)
		}
		return
	}
	if rec.Malformed == nil {
		if err := rec.Validate(); err != nil {
			rec.Malformed = &outbox.Malformed{Reason: err.Error()}
		}
	}
	p.seq++
	var e *entry
	if n := len(p.free); n > 0 {
		e, p.free = p.free[n-1], p.free[:n-1]
	} else {
		e = &entry{}
	}
	*e = entry{rec: rec, key: rec.OrderKey(), seq: p.seq, offers: 1}
	p.entries[rec.EventID] = e
	if head := p.aggs[e.key]; head != nil {
		head.tail.next = e
		head.tail = e
	} else {
		e.tail = e
		p.aggs[e.key] = e
		p.activate(e)
	}
	p.pump()
}

// DeadLetters is what the pipeline must know of the dead-letter queue: the
// events in it, and each aggregate's lowest dead-lettered sequence.
type DeadLetters struct {
	Events map[uuid.UUID]bool
	From   map[uuid.UUID]int64
}

// DLQLoadStarted marks the start of a load of the dead-letter index; pass
// the mark to DLQLoaded with the load's result.
func (p *Pipeline) DLQLoadStarted() uint64 { return p.tick }

// DLQLoaded applies a load of the dead-letter index started at mark. Until
// the first load nothing is published: an event read again after a restart
// may already be in the DLQ (publishing it would put it after its
// successors), and under the Hold policy an aggregate's held state must be
// known. A load never forgets an entry it could not have seen: what this
// pipeline dead-lettered is dropped (replayed or discarded) only if its
// write was durable before the load started.
func (p *Pipeline) DLQLoaded(d DeadLetters, mark uint64) {
	for id, at := range p.dead {
		if !d.Events[id] && at <= mark {
			delete(p.dead, id)
		}
	}
	for id := range d.Events {
		if _, ok := p.dead[id]; !ok {
			p.dead[id] = 0
		}
	}
	if p.cfg.Policy == Hold {
		p.loadHeld(d.From, mark)
	}
	if p.loaded {
		return
	}
	p.loaded = true
	waiting := p.waiting
	p.waiting = nil
	for _, e := range waiting {
		p.activate(e)
	}
	p.pump()
}

func (p *Pipeline) loadHeld(held map[uuid.UUID]int64, mark uint64) {
	for a, h := range p.held {
		from, loaded := held[a]
		switch {
		case !loaded && h.durable <= mark:
			delete(p.held, a)
		case loaded && h.durable <= mark:
			p.held[a] = hold{from: from, durable: h.durable}
		case loaded && from < h.from:
			h.from = from
			p.held[a] = h
		}
	}
	for a, from := range held {
		if _, ok := p.held[a]; !ok {
			p.held[a] = hold{from: from}
		}
	}
}

func (p *Pipeline) isDead(id uuid.UUID) bool {
	_, ok := p.dead[id]
	return ok
}

// Held reports whether an event of the aggregate with the given sequence
// must wait in the DLQ (Hold policy): one of the aggregate's events at or
// before it is dead-lettered.
func (p *Pipeline) Held(aggregate uuid.UUID, sequence int64) bool {
	h, ok := p.held[aggregate]
	return ok && sequence >= h.from
}

// DLQKnown reports whether the dead-letter index was loaded.
func (p *Pipeline) DLQKnown() bool { return p.loaded }

// activate decides what the new head of an aggregate does.
func (p *Pipeline) activate(e *entry) {
	if !p.loaded {
		e.state = waitingDLQ
		p.waiting = append(p.waiting, e)
		return
	}
	switch {
	case p.isDead(e.rec.EventID):
		// Dead-lettered before a restart, and read again: finished.
		if p.obs != nil {
			p.obs.Duplicate(e.rec)
		}
		p.finish(e, false)
	case e.rec.Malformed != nil:
		p.deadLetter(e, KindMalformed, errors.New(e.rec.Malformed.Reason))
	case p.cfg.Policy == Hold && p.Held(e.key, e.rec.Sequence):
		p.deadLetter(e, KindHeld, errors.New("held: an earlier event of this aggregate is in the dead-letter queue"))
	default:
		e.state = ready
		p.ready.push(e)
	}
}

// pump publishes ready events while the breaker allows.
func (p *Pipeline) pump() {
	if p.ready.len() == 0 {
		return
	}
	// One reading for the whole batch: pump runs without yielding, and
	// reading the clock per event cost more than the rest of this loop.
	now := p.now()
	for p.ready.len() > 0 {
		if !p.breaker.Allow(now) {
			if p.breaker.State() == resilience.Open && !p.probe {
				p.probe = true
				p.fx.ScheduleProbe(max(p.breaker.ProbeAt().Sub(now), 0))
			}
			return
		}
		e := p.ready.pop()
		e.state = publishing
		e.sentAcks = p.acks
		if e.republish != "" && p.obs != nil {
			p.obs.Republished(e.rec, e.republish)
		}
		e.republish = ""
		p.fx.Publish(e.rec)
	}
}

// OnPublished reports a publish outcome.
func (p *Pipeline) OnPublished(eventID uuid.UUID, err error) {
	e := p.entries[eventID]
	if e == nil || e.state != publishing {
		return
	}
	if err == nil {
		p.acks++
		p.breaker.Success()
		if p.obs != nil {
			p.obs.Published(e.rec, e.failures+1)
		}
		p.finish(e, true)
		p.pump()
		return
	}
	now := p.now()
	if e.first.IsZero() {
		e.first = now
	}
	e.last = now
	e.failures++
	if p.cfg.Ambiguous != nil && p.cfg.Ambiguous(err) {
		e.republish = RepublishAmbiguous
	}
	class := Unavailable
	if p.cfg.Classify != nil {
		class = p.cfg.Classify(err)
	}
	if p.obs != nil {
		p.obs.PublishFailed(e.rec, e.failures, err, class == Permanent)
	}
	switch class {
	case Permanent:
		// A rejected event says nothing about the broker's health.
		p.breaker.Release()
		e.attempts++
		p.deadLetter(e, KindPermanent, err)
		p.pump()
		return
	case Rejected:
		// The broker answered: it is up, and this record is the problem —
		// if the broker acknowledged another record meanwhile.
		p.breaker.Release()
		if p.acks > e.sentAcks && p.breaker.State() == resilience.Closed {
			e.attempts++
			if p.cfg.Retry.Exhausted(e.attempts) {
				p.deadLetter(e, KindExhausted, err)
				p.pump()
				return
			}
		}
	default:
		p.breaker.Failure(now)
	}
	if class == Unavailable && p.breaker.State() != resilience.Closed {
		// The broker is down (or was, when the probe failed): the event
		// keeps its place at the front of the line until the breaker lets
		// traffic through again.
		e.state = ready
		p.ready.pushFront(e)
		p.pump()
		return
	}
	delay := p.cfg.Retry.Backoff(e.failures, p.rnd)
	e.state = backoff
	if p.obs != nil {
		p.obs.Retrying(e.rec, e.failures, delay)
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
	p.ready.push(e)
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
	p.tick++
	p.dead[eventID] = p.tick
	if p.cfg.Policy == Hold {
		h := p.held[e.key]
		h.durable = p.tick
		p.held[e.key] = h
	}
	p.finish(e, false)
	p.pump()
}

func (p *Pipeline) deadLetter(e *entry, kind string, err error) {
	e.state = deadLettering
	if p.cfg.Policy == Hold {
		h, ok := p.held[e.key]
		if !ok || e.rec.Sequence < h.from {
			h.from = e.rec.Sequence
		}
		h.durable = heldPending
		p.held[e.key] = h
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

// finish ends e, the head of its aggregate, and activates the next one.
func (p *Pipeline) finish(e *entry, published bool) {
	delete(p.entries, e.rec.EventID)
	if next := e.next; next == nil {
		delete(p.aggs, e.key)
	} else {
		next.tail = e.tail
		p.aggs[e.key] = next
		p.activate(next)
	}
	for i := 0; i < e.offers; i++ {
		p.fx.Finished(e.rec, published)
	}
	// Nothing refers to e any more: the maps, the lines and the timers
	// know events by id.
	*e = entry{}
	p.free = append(p.free, e)
}

// Recover re-issues every effect whose outcome may have been lost — after
// the owning actor restarted, a publish result, timer or DLQ reply may have
// been dropped. Events that were being published are published again
// (at-least-once: consumers deduplicate by event id), in offer order.
func (p *Pipeline) Recover() {
	p.probe = false
	p.ready.reset()
	heads := make([]*entry, 0, len(p.aggs))
	for _, head := range p.aggs {
		if head.state != waitingDLQ {
			heads = append(heads, head)
		}
	}
	sort.Slice(heads, func(i, j int) bool { return heads[i].seq < heads[j].seq })
	for _, e := range heads {
		switch e.state {
		case deadLettering:
			p.fx.DeadLetter(e.rec, e.failure)
		case publishing:
			e.republish = RepublishRecovery
			fallthrough
		default:
			e.state = ready
			p.ready.push(e)
		}
	}
	// Probes in flight before the restart will never report.
	p.breaker.ResetProbes()
	p.pump()
}
