package actors

import (
	"context"
	"sort"
	"sync"

	"github.com/google/uuid"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// ledger is what the processor owes its source: for every record delivered
// and not yet finished, the acknowledgements to call. It lives outside the
// actor instance (and is guarded by a mutex, since sources deliver from
// their own goroutines) so that a restarted processor can find records
// whose delivery message died with the old instance.
type ledger struct {
	mu        sync.Mutex
	recs      map[uuid.UUID]outbox.Record
	acks      map[uuid.UUID][]ledgerAck
	order     map[uuid.UUID]uint64 // admission order, for recovery
	next      uint64
	credits   chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

// ledgerAck is one delivery's acknowledgement; credited deliveries hold one
// of the ledger's credits until settled.
type ledgerAck struct {
	fn       func()
	credited bool
}

func newLedger(capacity int) *ledger {
	return &ledger{recs: map[uuid.UUID]outbox.Record{}, acks: map[uuid.UUID][]ledgerAck{}, order: map[uuid.UUID]uint64{},
		credits: make(chan struct{}, capacity), closed: make(chan struct{})}
}

// close stops admitting records (graceful shutdown). A source blocked in
// admit stays blocked until its context ends: returning an error would end
// the CDC reader's stream group at once, and with it the consumers that
// still have to save the progress of records finishing during the drain.
func (l *ledger) close() { l.closeOnce.Do(func() { close(l.closed) }) }

// admit blocks until the record may be taken (backpressure) and records its
// acknowledgement.
func (l *ledger) admit(ctx context.Context, rec outbox.Record, ack func()) error {
	select {
	case <-l.closed:
		<-ctx.Done()
		return ctx.Err()
	default:
	}
	select {
	case l.credits <- struct{}{}:
	case <-l.closed:
		<-ctx.Done()
		return ctx.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
	l.mu.Lock()
	l.remember(rec)
	l.acks[rec.EventID] = append(l.acks[rec.EventID], ledgerAck{fn: ack, credited: true})
	l.mu.Unlock()
	return nil
}

// remember records rec and its admission order; the caller holds mu.
func (l *ledger) remember(rec outbox.Record) {
	if _, ok := l.order[rec.EventID]; !ok {
		l.next++
		l.order[rec.EventID] = l.next
	}
	l.recs[rec.EventID] = rec
}

// track records a delivery whose admission the caller controls itself (the
// polling processor takes only what fits), so it holds no credit.
func (l *ledger) track(rec outbox.Record, ack func()) {
	l.mu.Lock()
	l.remember(rec)
	l.acks[rec.EventID] = append(l.acks[rec.EventID], ledgerAck{fn: ack})
	l.mu.Unlock()
}

// settle acknowledges one delivery of the event.
func (l *ledger) settle(id uuid.UUID) {
	l.mu.Lock()
	acks := l.acks[id]
	var ack ledgerAck
	if len(acks) > 0 {
		ack, acks = acks[0], acks[1:]
	}
	if len(acks) == 0 {
		delete(l.acks, id)
		delete(l.recs, id)
		delete(l.order, id)
	} else {
		l.acks[id] = acks
	}
	l.mu.Unlock()
	if ack.fn != nil {
		ack.fn()
	}
	if ack.credited {
		<-l.credits
	}
}

// unsettled is a record with deliveries not yet acknowledged.
type unsettled struct {
	rec        outbox.Record
	deliveries int
}

// outstanding returns the unsettled records in admission order, which is
// each aggregate's sequence order: recovery must offer them that way.
func (l *ledger) outstanding() []unsettled {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]unsettled, 0, len(l.acks))
	for id, acks := range l.acks {
		out = append(out, unsettled{rec: l.recs[id], deliveries: len(acks)})
	}
	sort.Slice(out, func(i, j int) bool { return l.order[out[i].rec.EventID] < l.order[out[j].rec.EventID] })
	return out
}

// size is the number of events with unsettled deliveries.
func (l *ledger) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}
