package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// dlqActor models the relay's DlqActor (actors.NewDLQProps): one per relay
// process, it outlives the processors it writes for. Entries are keyed by
// event id: a request for an entry still pending replaces the request it
// holds, so the latest sender is answered (and, if the entry waits for a
// retry, it is tried at once). An attempt is two steps, as the actor's
// background write is: the writer's epoch is checked (the request's
// Fence, FencedProgress.Check: a conditional no-op in the epoch store,
// read at its instant), then the entry is written. A check that a newer
// epoch fails drops the entry, unwritten and not retried, and tells the
// sender (DeadLetterFenced), which fences itself; a check or write that
// fails otherwise is retried on a doubling timer.
type dlqActor struct {
	r *run
	// after and up are the relay process's: its scheduling (frozen while
	// it is paused) and whether it is alive.
	after   func(time.Duration, func())
	up      func() bool
	pending map[uuid.UUID]*dlqEntry
	tokens  uint64
}

// dlqRequest is a WriteDeadLetter: the record, its failure kind, and the
// processor that asked (ReplyTo; its epoch is what Fence checks).
type dlqRequest struct {
	p    *process
	rec  outbox.Record
	kind string
}

// dlqEntry is a dead letter not yet written.
type dlqEntry struct {
	req      dlqRequest
	writing  bool   // an attempt is in flight; else a retry is armed
	token    uint64 // of the attempt in flight or the retry armed
	failures int
}

// dlqCheck is what an attempt's check saw: whether it ran and passed, and
// the newest epoch in the store at its instant (recorded for the
// invariants, whatever the check concluded).
type dlqCheck struct {
	passed bool
	saw    leader.Epoch
}

func newDLQActor(r *run, after func(time.Duration, func()), up func() bool) *dlqActor {
	return &dlqActor{r: r, after: after, up: up, pending: map[uuid.UUID]*dlqEntry{}}
}

// accept is the actor handling a WriteDeadLetter, a mailbox delay after it
// was sent.
func (a *dlqActor) accept(q dlqRequest) {
	a.after(a.r.w.between(0, 2*time.Millisecond), func() {
		id := q.rec.EventID
		if e := a.pending[id]; e != nil {
			e.req = q
			if !e.writing {
				a.attempt(e)
			}
			return
		}
		e := &dlqEntry{req: q}
		a.pending[id] = e
		a.attempt(e)
	})
}

// attempt checks the epoch of the request the entry holds now, then
// writes; an attempt whose process died meanwhile has no outcome.
func (a *dlqActor) attempt(e *dlqEntry) {
	a.tokens++
	tok := a.tokens
	e.writing, e.token = true, tok
	q := e.req
	a.after(a.r.w.between(time.Millisecond, 5*time.Millisecond), func() {
		if !a.up() {
			return
		}
		var ck dlqCheck
		if !a.r.broken.deadLetterFence {
			ck.saw = a.r.db.epoch
			if err := a.r.db.checkEpoch(q.p.epoch); err != nil {
				a.done(q.rec.EventID, tok, err)
				return
			}
			ck.passed = true
		}
		gap := 10 * time.Millisecond
		if a.r.broken.checkGap > 0 {
			gap = a.r.broken.checkGap
		}
		a.after(a.r.w.between(time.Millisecond, gap), func() {
			if !a.up() {
				return
			}
			err := errFault
			if !a.r.db.dlqFail.on(a.r.w.now) {
				err = a.r.putDeadLetter(q, ck)
			}
			a.done(q.rec.EventID, tok, err)
		})
	})
}

// done is the actor handling an attempt's outcome. It answers the sender
// of the latest request.
func (a *dlqActor) done(id uuid.UUID, tok uint64, err error) {
	e := a.pending[id]
	if e == nil || !e.writing || e.token != tok {
		return
	}
	e.writing = false
	q := e.req
	switch {
	case errors.Is(err, leader.ErrFenced):
		delete(a.pending, id)
		a.r.fencedDeadLetters++
		a.r.trace("dead-letter-fenced", q.rec.AggregateID.String()[:4], q.rec.Sequence, "epoch", q.p.epoch, "holder", a.r.db.epoch)
		q.p.message(func() { q.p.fenced(err, "its dead letter was refused") })
	case err != nil:
		e.failures++
		a.tokens++
		retry := a.tokens
		e.token = retry
		a.after(min(200*time.Millisecond<<min(e.failures-1, 16), 30*time.Second), func() {
			if a.pending[id] == e && !e.writing && e.token == retry {
				a.attempt(e)
			}
		})
	default:
		delete(a.pending, id)
		a.r.trace("dead-letter", q.rec.AggregateID.String()[:4], q.rec.Sequence, q.kind, "epoch", q.p.epoch)
		q.p.message(func() { q.p.pipe.OnDeadLettered(id) })
	}
}

// putDeadLetter writes the request's entry and checks the fencing: an
// entry created for an epoch a newer one has replaced must have passed its
// check before that newer epoch was taken (check and write are two steps,
// and nothing fences the write itself); it is marked raced.
func (r *run) putDeadLetter(q dlqRequest, ck dlqCheck) error {
	_, exists := r.db.dlq[q.rec.EventID]
	stale := q.p.epoch < r.db.epoch && !exists
	dl := deadLetter{rec: q.rec, kind: q.kind, at: r.w.now, epoch: q.p.epoch, raced: stale && ck.passed && ck.saw == q.p.epoch}
	if err := r.db.putDeadLetter(dl); err != nil {
		return err
	}
	if stale && !dl.raced {
		how := "no check made"
		if ck.passed {
			how = fmt.Sprintf("its check passed with epoch %d taken", ck.saw)
		}
		r.violate("dead letter of %s (seq %d) written under epoch %d after epoch %d was taken, with no check of the epoch passed before it (%s)",
			q.rec.EventID, q.rec.Sequence, q.p.epoch, r.db.epoch, how)
	}
	return nil
}
