package sim

import (
	"context"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// source is where a relay process reads: the CDC log or outbox_by_bucket.
type source interface {
	start()
	// finished is the processor's hook for a finished record.
	finished(rec outbox.Record)
	// creditsFreed wakes readers blocked on the in-flight limit.
	creditsFreed()
	// saveProgress is the periodic save of finished records' progress.
	saveProgress()
	// restarted is the source's part of a processor restart.
	restarted()
}

// progressInterval is the processor's ProgressInterval.
const progressInterval = 100 * time.Millisecond

// process is one incarnation of a relay process: the state a crash loses.
// Its messages model the processor actor's mailbox: each runs a little
// after it is sent, and a panic drops the one being handled.
type process struct {
	r     *run
	alive bool
	pipe  *relay.Pipeline
	led   *ledger
	src   source
	// inbox holds records delivered by the source and not yet offered.
	inbox      []outbox.Record
	waking     bool
	panicky    bool // the next message panics
	loadingDLQ bool
}

func (r *run) startProcess() *process {
	p := &process{r: r, alive: true, led: newLedger(r.s.MaxInFlight)}
	p.pipe = relay.New(relay.Config{Retry: r.s.Retry, Breaker: r.s.Breaker, Policy: r.s.Policy,
		Classify: classify,
		Ambiguous: func(err error) bool {
			pe, ok := err.(*publishError)
			return ok && pe.ambiguous
		},
	}, p, p, func() time.Time { return r.w.now }, r.w.rnd)
	if r.s.Processor == "cdc" {
		p.src = &cdcSource{p: p}
	} else {
		p.src = &pollSource{p: p}
	}
	p.refreshDLQ()
	p.dlqLater()
	p.src.start()
	p.saveLater()
	return p
}

// saveLater and heldLater model repeating timers: each tick is a message
// (a panic may drop one), the timer goes on.
func (p *process) saveLater() {
	p.r.w.after(progressInterval, func() {
		if p.alive {
			p.handle(p.src.saveProgress)
			p.saveLater()
		}
	})
}

func (p *process) dlqLater() {
	p.r.w.after(p.r.s.DLQRefresh, func() {
		if p.alive {
			p.handle(p.refreshDLQ)
			p.dlqLater()
		}
	})
}

// dlqRetry is the processor's delay before retrying a failed load of the
// dead-letter index.
const dlqRetry = time.Second

// classify maps the simulated errors as app's classifyPublishError maps the
// publisher's.
func classify(err error) relay.Class {
	pe, ok := err.(*publishError)
	switch {
	case !ok:
		return relay.Rejected
	case pe.kind == permanent:
		return relay.Permanent
	case pe.kind == retriable:
		return relay.Rejected
	}
	return relay.Unavailable
}

// message delivers fn to the actor a little later, unless the process died
// or the actor panics on it.
func (p *process) message(fn func()) {
	p.r.w.after(p.r.w.between(0, 2*time.Millisecond), func() { p.handle(fn) })
}

func (p *process) timer(d time.Duration, fn func()) {
	p.r.w.after(d, func() { p.handle(fn) })
}

func (p *process) handle(fn func()) {
	if !p.alive {
		return
	}
	if p.panicky {
		// The supervisor restarts the actor and drops the message it
		// panicked on; the restarted actor recovers.
		p.panicky = false
		p.r.panics++
		p.recover()
		return
	}
	fn()
	p.r.checkBounds(p)
}

// deliver is the sink: the ledger records the delivery, the inbox wakes
// the actor once for a batch.
func (p *process) deliver(rec outbox.Record, ack func(), credited bool) {
	p.led.add(rec, ack, credited)
	p.inbox = append(p.inbox, rec)
	if !p.waking {
		p.waking = true
		p.r.w.after(p.r.w.between(0, 2*time.Millisecond), func() {
			if !p.alive {
				return
			}
			if p.panicky {
				// The actor takes the batch and dies with it.
				p.inbox, p.waking = nil, false
				p.panicky = false
				p.r.panics++
				p.recover()
				return
			}
			recs := p.inbox
			p.r.trace("offer-batch", len(recs))
			p.inbox, p.waking = nil, false
			for _, rec := range recs {
				p.pipe.Offer(rec)
			}
			p.r.checkBounds(p)
		})
	}
}

// recover is what a restarted processor actor does: re-issue effects whose
// outcome may be lost, re-offer records whose delivery died with it.
func (p *process) recover() {
	p.loadingDLQ = false
	p.src.restarted()
	p.pipe.Recover()
	for _, u := range p.led.outstanding() {
		for i := p.pipe.Offers(u.rec.EventID); i < u.deliveries; i++ {
			p.pipe.Offer(u.rec)
		}
	}
}

// refreshDLQ loads the dead-letter index, one load at a time, as the
// processor does at start, every DLQRefresh, and dlqRetry after a failed
// load.
func (p *process) refreshDLQ() {
	if p.loadingDLQ {
		return
	}
	p.loadingDLQ = true
	mark := p.pipe.DLQLoadStarted()
	p.r.w.after(p.r.w.between(time.Millisecond, p.r.s.DLQLoadMax), func() {
		if !p.alive {
			return
		}
		if p.r.db.dlqLoadFail.on(p.r.w.now) {
			p.message(func() { p.loadingDLQ = false })
			p.timer(dlqRetry, p.refreshDLQ)
			return
		}
		d := p.r.db.deadLetterIndex()
		p.message(func() {
			p.loadingDLQ = false
			p.pipe.DLQLoaded(d, mark)
		})
	})
}

// relay.Effects

func (p *process) Publish(rec outbox.Record) {
	p.r.trace("publish", rec.AggregateID.String()[:4], rec.Sequence)
	p.r.published[rec.EventID]++
	p.r.broker.send(rec, func(err error) {
		p.r.trace("outcome", rec.AggregateID.String()[:4], rec.Sequence, err)
		p.message(func() { p.pipe.OnPublished(rec.EventID, err) })
	})
}

func (p *process) ScheduleRetry(id uuid.UUID, after time.Duration) {
	p.timer(after, func() { p.pipe.OnRetryDue(id) })
}

func (p *process) ScheduleProbe(after time.Duration) {
	p.timer(after, p.pipe.OnProbeDue)
}

// DeadLetter models the DlqActor: write, retry a failed write on a
// doubling timer, reply once written.
func (p *process) DeadLetter(rec outbox.Record, f relay.Failure) { p.writeDeadLetter(rec, f.Kind, 0) }

func (p *process) writeDeadLetter(rec outbox.Record, kind string, failures int) {
	p.r.w.after(p.r.w.between(time.Millisecond, 10*time.Millisecond), func() {
		if !p.alive {
			return
		}
		err := errFault
		if !p.r.db.dlqFail.on(p.r.w.now) {
			err = p.r.db.putDeadLetter(rec, kind)
		}
		if err != nil {
			delay := min(200*time.Millisecond<<min(failures, 16), 30*time.Second)
			p.r.w.after(delay, func() {
				if p.alive {
					p.writeDeadLetter(rec, kind, failures+1)
				}
			})
			return
		}
		p.r.trace("dead-letter", rec.AggregateID.String()[:4], rec.Sequence, kind)
		p.message(func() { p.pipe.OnDeadLettered(rec.EventID) })
	})
}

func (p *process) Finished(rec outbox.Record, _ bool) {
	if p.led.settle(rec.EventID) {
		p.src.creditsFreed()
	}
	p.src.finished(rec)
}

// relay.Observer

func (p *process) Published(outbox.Record, int)                  {}
func (p *process) PublishFailed(outbox.Record, int, error, bool) {}
func (p *process) Retrying(outbox.Record, int, time.Duration)    {}
func (p *process) DeadLettered(outbox.Record, relay.Failure)     {}
func (p *process) BreakerChanged(_, _ resilience.BreakerState)   {}
func (p *process) Duplicate(outbox.Record)                       {}
func (p *process) Republished(rec outbox.Record, _ string)       { p.r.republished[rec.EventID]++ }

// ledger models the processor's ledger: what it owes its source, and the
// credits of the in-flight limit (CDC deliveries hold one each).
type ledger struct {
	recs  map[uuid.UUID]outbox.Record
	acks  map[uuid.UUID][]ledgerAck
	order map[uuid.UUID]uint64
	next  uint64
	limit int
	used  int
}

type ledgerAck struct {
	fn       func()
	credited bool
}

func newLedger(limit int) *ledger {
	return &ledger{recs: map[uuid.UUID]outbox.Record{}, acks: map[uuid.UUID][]ledgerAck{}, order: map[uuid.UUID]uint64{}, limit: limit}
}

// room says whether n more credited deliveries fit; a change larger than
// the whole limit is let through alone, as the blocking sink would.
func (l *ledger) room(n int) bool { return l.used+n <= max(l.limit, n) || l.used == 0 }

func (l *ledger) add(rec outbox.Record, ack func(), credited bool) {
	if _, ok := l.order[rec.EventID]; !ok {
		l.next++
		l.order[rec.EventID] = l.next
	}
	l.recs[rec.EventID] = rec
	l.acks[rec.EventID] = append(l.acks[rec.EventID], ledgerAck{fn: ack, credited: credited})
	if credited {
		l.used++
	}
}

// settle acknowledges one delivery; it reports whether a credit was freed.
func (l *ledger) settle(id uuid.UUID) bool {
	acks := l.acks[id]
	if len(acks) == 0 {
		return false
	}
	a := acks[0]
	if len(acks) == 1 {
		delete(l.acks, id)
		delete(l.recs, id)
		delete(l.order, id)
	} else {
		l.acks[id] = acks[1:]
	}
	if a.fn != nil {
		a.fn()
	}
	if a.credited {
		l.used--
	}
	return a.credited
}

type unsettled struct {
	rec        outbox.Record
	deliveries int
}

func (l *ledger) outstanding() []unsettled {
	out := make([]unsettled, 0, len(l.acks))
	for id, acks := range l.acks {
		out = append(out, unsettled{rec: l.recs[id], deliveries: len(acks)})
	}
	sort.Slice(out, func(i, j int) bool { return l.order[out[i].rec.EventID] < l.order[out[j].rec.EventID] })
	return out
}

var background = context.Background()
