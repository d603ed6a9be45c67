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
	mu      sync.Mutex
	entries map[uuid.UUID]*ledgerEntry
	// free holds settled entries for reuse, under mu: a record in flight
	// costs no allocation of its own, and the list is never longer than
	// the most records ever unsettled.
	free      []*ledgerEntry
	next      uint64
	credits   chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

// ledgerEntry is one event's unsettled deliveries: one map entry per event,
// since the ledger is on every record's path.
type ledgerEntry struct {
	rec   outbox.Record
	order uint64 // admission order, for recovery
	acks  []ledgerAck
	// first backs acks for the usual single delivery, saving an
	// allocation per record.
	first [1]ledgerAck
}

// ledgerAck is one delivery's acknowledgement; credited deliveries hold one
// of the ledger's credits until settled.
type ledgerAck struct {
	fn       func()
	credited bool
}

func newLedger(capacity int) *ledger {
	return &ledger{entries: map[uuid.UUID]*ledgerEntry{}, credits: make(chan struct{}, capacity), closed: make(chan struct{})}
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
	// A credit is free unless the relay is behind: taking it without the
	// three-way select below saves most of admit's cost.
	select {
	case l.credits <- struct{}{}:
	default:
		select {
		case l.credits <- struct{}{}:
		case <-l.closed:
			<-ctx.Done()
			return ctx.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.mu.Lock()
	l.remember(rec, ledgerAck{fn: ack, credited: true})
	l.mu.Unlock()
	return nil
}

// remember records a delivery of rec, and rec's admission order if it is
// new; the caller holds mu.
func (l *ledger) remember(rec outbox.Record, ack ledgerAck) {
	e := l.entries[rec.EventID]
	if e == nil {
		l.next++
		if n := len(l.free); n > 0 {
			e, l.free = l.free[n-1], l.free[:n-1]
		} else {
			e = &ledgerEntry{}
		}
		e.order = l.next
		e.acks = e.first[:0]
		l.entries[rec.EventID] = e
	}
	e.rec = rec
	e.acks = append(e.acks, ack)
}

// track records a delivery whose admission the caller controls itself (the
// polling processor takes only what fits), so it holds no credit.
func (l *ledger) track(rec outbox.Record, ack func()) {
	l.mu.Lock()
	l.remember(rec, ledgerAck{fn: ack})
	l.mu.Unlock()
}

// settle acknowledges one delivery of the event.
func (l *ledger) settle(id uuid.UUID) {
	l.mu.Lock()
	var ack ledgerAck
	if e := l.entries[id]; e != nil {
		ack = e.acks[0]
		e.acks = e.acks[1:]
		if len(e.acks) == 0 {
			delete(l.entries, id)
			*e = ledgerEntry{}
			l.free = append(l.free, e)
		}
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
	entries := make([]*ledgerEntry, 0, len(l.entries))
	for _, e := range l.entries {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].order < entries[j].order })
	out := make([]unsettled, len(entries))
	for i, e := range entries {
		out[i] = unsettled{rec: e.rec, deliveries: len(e.acks)}
	}
	return out
}

// size is the number of events with unsettled deliveries.
func (l *ledger) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
