package sim

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/leader"
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
	// finalSave is the save a stopping processor makes, after the saves
	// under way.
	finalSave() error
}

// progressInterval is the processor's ProgressInterval.
const progressInterval = 100 * time.Millisecond

// process is one incarnation of a relay's processor: the state a crash or
// a stop loses. Its messages model the processor actor's mailbox: each
// runs a little after it is sent, and a panic drops the one being handled.
// In runs with two relays it runs in a node, under the epoch its node
// took; otherwise in the lone relay, which takes an epoch as it starts.
type process struct {
	r     *run
	node  *node // nil: the run's lone relay
	epoch leader.Epoch
	pipe  *relay.Pipeline
	led   *ledger
	src   source
	// alive: the actor handles messages. A crash ends it with the
	// relay; a stop ends it while the relay goes on.
	alive bool
	// halted: fenced; it reads, publishes and dead-letters nothing more.
	halted bool
	// closing: intake stopped (draining, fenced).
	closing bool
	// draining: a graceful stop waits for what is in flight; drained:
	// that wait ended, and clean: with nothing left in flight and the
	// final save applied.
	draining, drained, clean bool
	// inbox holds records delivered by the source and not yet offered.
	inbox      []outbox.Record
	waking     bool
	panicky    bool // the next message panics
	loadingDLQ bool
	// indexed is db.dlqCreated when the dead-letter index it loaded last
	// was read.
	indexed uint64
	// dlq is the relay process's DlqActor.
	dlq *dlqActor
}

func (r *run) startProcess(n *node, e leader.Epoch) *process {
	p := &process{r: r, node: n, epoch: e, alive: true, led: newLedger(r.s.MaxInFlight)}
	if n != nil {
		p.dlq = n.dlq
	} else {
		p.dlq = newDLQActor(r, r.w.after, func() bool { return p.alive })
	}
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
	r.processorStarted(p)
	p.refreshDLQ()
	p.dlqLater()
	p.src.start()
	p.saveLater()
	return p
}

// after schedules an action of the process's relay: a paused relay runs
// it when it resumes, a dead one never.
func (p *process) after(d time.Duration, fn func()) {
	if p.node != nil {
		p.node.after(d, fn)
		return
	}
	p.r.w.after(d, fn)
}

// up reports whether the relay process it runs in is alive: its
// background work (database writes under way, the DlqActor) outlives the
// processor actor, not the process.
func (p *process) up() bool {
	if p.node != nil {
		return p.node.alive
	}
	return p.alive
}

// saveLater and heldLater model repeating timers: each tick is a message
// (a panic may drop one), the timer goes on.
func (p *process) saveLater() {
	p.after(progressInterval, func() {
		if p.alive {
			p.handle(p.src.saveProgress)
			p.saveLater()
		}
	})
}

func (p *process) dlqLater() {
	p.after(p.r.s.DLQRefresh, func() {
		if p.alive {
			p.handle(p.refreshDLQ)
			p.dlqLater()
		}
	})
}

// dlqRetry is the processor's delay before retrying a failed load of the
// dead-letter index.
const dlqRetry = time.Second

// drainTimeout is the processor's DrainTimeout.
const drainTimeout = 10 * time.Second

// fenced is processorCore.fenced: a progress write was rejected, or the
// DlqActor refused a dead letter whose epoch check failed, so this
// processor reads, publishes and dead-letters nothing more and tells its
// relay, which stops it. Either means a newer epoch was taken.
func (p *process) fenced(err error, why string) {
	if p.halted {
		return
	}
	p.halted, p.closing = true, true
	p.r.trace("fenced", p.epoch, why, err)
	if p.node == nil {
		p.r.violate("the lone relay's processor of epoch %d was fenced (%s): %v", p.epoch, why, err)
		return
	}
	if p.epoch >= p.r.newest {
		p.r.violate("the processor of epoch %d was fenced (%s), yet no newer epoch was taken: %v", p.epoch, why, err)
	}
	n := p.node
	n.tell(func() {
		if n.proc == p {
			n.fence("fenced: " + why)
		}
	})
}

// drain is the graceful stop (the processor's Drain): intake stops, what
// is in flight finishes (or the drain timeout ends the wait), progress is
// saved, and the processor stops.
func (p *process) drain() {
	if !p.alive || p.draining {
		return
	}
	p.draining, p.closing = true, true
	p.r.trace("drain", p.epoch, "in-flight", p.pipe.InFlight())
	p.timer(drainTimeout, p.endDrain)
	p.drainCheck()
}

// drainCheck ends a drain once nothing is in flight, records admitted and
// not yet offered included (processorCore.answerDrainers).
func (p *process) drainCheck() {
	if p.draining && !p.drained && p.pipe.InFlight() == 0 && p.led.size() == 0 {
		p.endDrain()
	}
}

func (p *process) endDrain() {
	if !p.draining || p.drained {
		return
	}
	p.drained = true
	empty := p.pipe.InFlight() == 0 && p.led.size() == 0
	p.stop(func(saved bool) {
		// A zombie that drains is no handover, even if it had nothing
		// to save.
		p.clean = empty && saved && p.epoch == p.r.newest
		p.r.trace("drained", p.epoch, "clean", p.clean)
	})
}

// stop ends the processor actor: it handles no message from now on, saves
// the progress of what it finished as it stops (a write a newer epoch
// rejects if it was replaced), and its relay hears that it stopped. Work
// it had in flight is read again by whoever reads next.
func (p *process) stop(saved func(bool)) {
	if !p.alive {
		return
	}
	p.alive, p.closing = false, true
	if src, ok := p.src.(*cdcSource); ok && src.lib != nil {
		src.lib.stop(false)
	}
	// After any save already under way (they take at most 10 ms): the
	// processor waits for its background work before its final save.
	p.after(p.r.w.between(10*time.Millisecond, 20*time.Millisecond), func() {
		err := p.src.finalSave()
		if errors.Is(err, leader.ErrFenced) {
			p.r.trace("final-save-rejected", p.epoch)
		}
		if saved != nil {
			saved(err == nil)
		}
		if n := p.node; n != nil {
			n.tell(func() { n.processorStopped(p) })
		}
	})
}

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
	p.after(p.r.w.between(0, 2*time.Millisecond), func() { p.handle(fn) })
}

func (p *process) timer(d time.Duration, fn func()) {
	p.after(d, func() { p.handle(fn) })
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
	p.drainCheck()
}

// deliver is the sink: the ledger records the delivery, the inbox wakes
// the actor once for a batch.
func (p *process) deliver(rec outbox.Record, ack func(), credited bool) {
	p.led.add(rec, ack, credited)
	p.inbox = append(p.inbox, rec)
	if !p.waking {
		p.waking = true
		p.after(p.r.w.between(0, 2*time.Millisecond), func() {
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
			p.drainCheck()
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
	p.after(p.r.w.between(time.Millisecond, p.r.s.DLQLoadMax), func() {
		if !p.alive {
			return
		}
		if p.r.db.dlqLoadFail.on(p.r.w.now) {
			p.message(func() { p.loadingDLQ = false })
			p.timer(dlqRetry, p.refreshDLQ)
			return
		}
		d, n := p.r.db.deadLetterIndex(), p.r.db.dlqCreated
		p.message(func() {
			p.loadingDLQ = false
			p.indexed = n
			p.pipe.DLQLoaded(d, mark)
		})
	})
}

// relay.Effects

func (p *process) Publish(rec outbox.Record) {
	if p.halted {
		return
	}
	p.r.trace("publish", rec.AggregateID.String()[:4], rec.Sequence, "epoch", p.epoch)
	zombie := p.r.publishing(p, rec)
	p.r.broker.send(rec, sender{epoch: p.epoch, zombie: zombie, indexed: p.indexed}, func(err error) {
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

// DeadLetter sends the relay's DlqActor a WriteDeadLetter, fenced by this
// processor's epoch.
func (p *process) DeadLetter(rec outbox.Record, f relay.Failure) {
	if p.halted {
		return
	}
	p.dlq.accept(dlqRequest{p: p, rec: rec, kind: f.Kind})
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

func (l *ledger) size() int { return len(l.acks) }

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
