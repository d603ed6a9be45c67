package sim

import (
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// errKind is how a simulated publish failed.
type errKind int

const (
	// unavailable: the broker could not be reached or could not take the
	// record (down, connection lost); it says nothing about the record.
	unavailable errKind = iota
	// retriable: the broker answered and rejected the record with an error
	// worth retrying (it acknowledges other records meanwhile).
	retriable
	// permanent: the record can never be published.
	permanent
)

// publishError is a simulated publish failure. ambiguous ones may have
// been appended.
type publishError struct {
	kind      errKind
	ambiguous bool
	msg       string
}

func (e *publishError) Error() string { return e.msg }

// copyOf is one record as the broker appended it and who sent it.
type copyOf struct {
	id  uuid.UUID
	agg uuid.UUID
	seq int64
	sender
}

// sender is who publishes: the processor's epoch, whether a newer one had
// replaced it, and how many dead-letter entries had been created when the
// index it had last loaded was read (db.dlqCreated).
type sender struct {
	epoch   leader.Epoch
	zombie  bool
	indexed uint64
}

// broker is the simulated producer and Kafka cluster: records of one
// aggregate share a partition, so the log's per-aggregate order is the
// order the relay's sends were appended.
type broker struct {
	w                      *world
	db                     *db
	down, ackLoss, ackSlow windows
	log                    []copyOf
	acks                   uint64 // records acknowledged so far, for the exhaustion check
}

// send publishes rec for a processor and calls done with the outcome,
// later.
func (b *broker) send(rec outbox.Record, by sender, done func(error)) {
	if !validRecord(rec) {
		// messaging.Publisher refuses such a record before sending it.
		b.w.after(time.Millisecond, func() { done(&publishError{kind: permanent, msg: "invalid record"}) })
		return
	}
	b.w.after(b.w.between(time.Millisecond, 20*time.Millisecond), func() { b.arrive(rec, by, done) })
}

func (b *broker) arrive(rec outbox.Record, by sender, done func(error)) {
	now := b.w.now
	reply := b.w.between(time.Millisecond, 20*time.Millisecond)
	if b.down.on(now) {
		b.w.after(reply, func() { done(&publishError{kind: unavailable, msg: "connection refused"}) })
		return
	}
	e := b.db.byID[rec.EventID]
	switch {
	case e != nil && e.poison:
		b.w.after(reply, func() { done(&publishError{kind: permanent, msg: "message too large"}) })
		return
	case e != nil && e.flaky > 0:
		e.flaky--
		e.rejected++
		b.w.after(reply, func() { done(&publishError{kind: retriable, msg: "rejected, retriable"}) })
		return
	}
	b.log = append(b.log, copyOf{id: rec.EventID, agg: rec.AggregateID, seq: rec.Sequence, sender: by})
	if b.ackSlow.on(now) {
		reply += b.w.between(0, 5*time.Second)
	}
	lost := b.ackLoss.on(now) && b.w.chance(0.5)
	b.w.after(reply, func() {
		switch {
		case lost || b.down.on(b.w.now):
			done(&publishError{kind: unavailable, ambiguous: true, msg: "request timed out after it was written"})
		default:
			b.acks++
			done(nil)
		}
	})
}

// validRecord mirrors the publisher's own checks (messaging.checkRecord).
func validRecord(rec outbox.Record) bool {
	return rec.EventID != uuid.Nil && rec.AggregateID != uuid.Nil && rec.EventType != "" && rec.AggregateType != "" && len(rec.Payload) > 0
}
