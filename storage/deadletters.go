package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/qb"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/schema"
)

// KindMalformed is the ErrorKind of a source row the relay could not decode
// into a record (relay.KindMalformed has the same value; storage does not
// import relay). Such an entry carries the row's columns in Raw, may have
// no aggregate id, and cannot be replayed: its source row must be fixed and
// written again, or the entry discarded.
const KindMalformed = "malformed"

// DeadLetter is an event the relay gave up on, with its failure history.
type DeadLetter struct {
	outbox.Record
	Error          string
	ErrorKind      string // relay.KindPermanent, KindExhausted, KindHeld or KindMalformed
	FailureCount   int
	FirstFailureAt time.Time
	LastFailureAt  time.Time
	// ReplayCount counts replays that were attempted; the replay tool
	// refuses to loop an event past its limit.
	ReplayCount int
	Processor   string // "cdc" or "polling"
	// Raw is the source row's columns rendered as text, for inspection;
	// set for KindMalformed entries, whose Record holds only what could
	// be decoded.
	Raw map[string]string
}

// DeadLetterFilter narrows List; zero fields match everything.
type DeadLetterFilter struct {
	EventType   string
	AggregateID uuid.UUID
	Kind        string
	Since       time.Time // last failure at or after
	Until       time.Time // last failure before
}

func (f DeadLetterFilter) match(d DeadLetter) bool {
	switch {
	case f.EventType != "" && d.EventType != f.EventType,
		f.AggregateID != uuid.Nil && d.AggregateID != f.AggregateID,
		f.Kind != "" && d.ErrorKind != f.Kind,
		!f.Since.IsZero() && d.LastFailureAt.Before(f.Since),
		!f.Until.IsZero() && !d.LastFailureAt.Before(f.Until):
		return false
	}
	return true
}

type deadLetterRow struct {
	EventID        uuid.UUID         `db:"event_id"`
	AggregateType  string            `db:"aggregate_type"`
	AggregateID    uuid.UUID         `db:"aggregate_id"`
	Sequence       int64             `db:"sequence"`
	EventType      string            `db:"event_type"`
	Payload        []byte            `db:"payload"`
	ContentType    string            `db:"content_type"`
	TraceParent    string            `db:"trace_parent"`
	OccurredAt     time.Time         `db:"occurred_at"`
	Error          string            `db:"error"`
	ErrorKind      string            `db:"error_kind"`
	FailureCount   int               `db:"failure_count"`
	FirstFailureAt time.Time         `db:"first_failure_at"`
	LastFailureAt  time.Time         `db:"last_failure_at"`
	ReplayCount    int               `db:"replay_count"`
	Processor      string            `db:"processor"`
	Raw            map[string]string `db:"raw"`
}

var deadLetterColumns = []string{"event_id", "aggregate_type", "aggregate_id", "sequence", "event_type", "payload",
	"content_type", "trace_parent", "occurred_at", "error", "error_kind", "failure_count", "first_failure_at",
	"last_failure_at", "replay_count", "processor", "raw"}

func (r deadLetterRow) deadLetter() DeadLetter {
	return DeadLetter{
		Record: outbox.Record{Envelope: domain.Envelope{
			EventID: r.EventID, EventType: r.EventType, AggregateType: r.AggregateType, AggregateID: r.AggregateID,
			Sequence: r.Sequence, OccurredAt: r.OccurredAt, ContentType: r.ContentType, TraceParent: r.TraceParent, Payload: r.Payload,
		}},
		Error: r.Error, ErrorKind: r.ErrorKind, FailureCount: r.FailureCount,
		FirstFailureAt: r.FirstFailureAt, LastFailureAt: r.LastFailureAt, ReplayCount: r.ReplayCount, Processor: r.Processor,
		Raw: r.Raw,
	}
}

// DeadLetterStore is the gocqlx repository of dead_letter_queue and its
// per-aggregate index, written together in logged batches.
type DeadLetterStore struct {
	s   gocqlx.Session
	dlq string
	idx string
}

// NewDeadLetterStore returns a store for the keyspace's DLQ tables.
func NewDeadLetterStore(s gocqlx.Session, keyspace string) *DeadLetterStore {
	return &DeadLetterStore{s: s, dlq: qualified(keyspace, schema.TableDeadLetterQueue), idx: qualified(keyspace, schema.TableDeadLetterByAggregate)}
}

// Put writes (or overwrites) an entry and its index row atomically. It is
// idempotent per event id, so a retried write after a lost reply is safe.
//
// The event id is required, and so is the aggregate id except for a
// KindMalformed entry, whose source row may lack one: such an entry gets
// no dead_letter_by_aggregate row, because it cannot hold back events of
// an aggregate nobody knows. A missing id fails with ErrInvalidDeadLetter.
func (st *DeadLetterStore) Put(ctx context.Context, d DeadLetter) error {
	switch {
	case d.EventID == uuid.Nil:
		return fmt.Errorf("%w: the event id is required", ErrInvalidDeadLetter)
	case d.AggregateID == uuid.Nil && d.ErrorKind != KindMalformed:
		return fmt.Errorf("%w: event %s: the aggregate id is required unless the kind is %q", ErrInvalidDeadLetter, d.EventID, KindMalformed)
	}
	row := deadLetterRow{
		EventID: d.EventID, AggregateType: d.AggregateType, AggregateID: d.AggregateID, Sequence: d.Sequence,
		EventType: d.EventType, Payload: d.Payload, ContentType: d.ContentType, TraceParent: d.TraceParent,
		OccurredAt: d.OccurredAt, Error: d.Error, ErrorKind: d.ErrorKind, FailureCount: d.FailureCount,
		FirstFailureAt: d.FirstFailureAt, LastFailureAt: d.LastFailureAt, ReplayCount: d.ReplayCount, Processor: d.Processor,
		Raw: d.Raw,
	}
	insDLQ, names := qb.Insert(st.dlq).Columns(deadLetterColumns...).ToCql()
	args, err := bindStruct(st.s, names, &row)
	if err != nil {
		return err
	}
	b := st.s.Session.BatchWithContext(ctx, gocql.LoggedBatch)
	b.Query(insDLQ, args...)
	if d.AggregateID != uuid.Nil {
		b.Query(`INSERT INTO `+st.idx+` (aggregate_id, sequence, event_id) VALUES (?, ?, ?)`, d.AggregateID, d.Sequence, d.EventID)
	}
	if err := st.s.ExecuteBatch(b); err != nil {
		return fmt.Errorf("storage: dead letter %s: %w", d.EventID, err)
	}
	return nil
}

// Get returns one entry, or ErrNotFound.
func (st *DeadLetterStore) Get(ctx context.Context, eventID uuid.UUID) (DeadLetter, error) {
	var row deadLetterRow
	stmt, names := qb.Select(st.dlq).Columns(deadLetterColumns...).Where(qb.Eq("event_id")).ToCql()
	err := st.s.ContextQuery(ctx, stmt, names).Bind(eventID).GetRelease(&row)
	if errors.Is(err, gocql.ErrNotFound) {
		return DeadLetter{}, fmt.Errorf("storage: dead letter %s: %w", eventID, ErrNotFound)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("storage: dead letter %s: %w", eventID, err)
	}
	return row.deadLetter(), nil
}

// List returns the entries matching f, ordered by aggregate and sequence
// (the order a replay must follow). The DLQ is expected to stay small, so
// it is read whole, page by page.
func (st *DeadLetterStore) List(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	stmt, names := qb.Select(st.dlq).Columns(deadLetterColumns...).ToCql()
	iter := st.s.ContextQuery(ctx, stmt, names).PageSize(500).Iter()
	var out []DeadLetter
	var row deadLetterRow
	for iter.StructScan(&row) {
		if d := row.deadLetter(); f.match(d) {
			out = append(out, d)
		}
		row = deadLetterRow{}
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("storage: list dead letters: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].AggregateID != out[j].AggregateID {
			return out[i].AggregateID.String() < out[j].AggregateID.String()
		}
		return out[i].Sequence < out[j].Sequence
	})
	return out, nil
}

// Exists reports whether an entry is in the queue, reading only its key:
// the DlqActor asks before writing an entry, to know whether the write adds
// one to the queue's size.
func (st *DeadLetterStore) Exists(ctx context.Context, eventID uuid.UUID) (bool, error) {
	var id uuid.UUID
	err := st.s.ContextQuery(ctx, `SELECT event_id FROM `+st.dlq+` WHERE event_id = ?`, nil).Bind(eventID).GetRelease(&id)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("storage: dead letter %s: %w", eventID, err)
	}
	return true, nil
}

// Count is the number of entries. It scans the whole table: call it
// rarely (the DlqActor counts at start and on a slow refresh).
func (st *DeadLetterStore) Count(ctx context.Context) (int, error) {
	var n int
	if err := st.s.ContextQuery(ctx, `SELECT COUNT(*) FROM `+st.dlq, nil).GetRelease(&n); err != nil {
		return 0, fmt.Errorf("storage: count dead letters: %w", err)
	}
	return n, nil
}

// Delete removes an entry and its index row atomically: after a replay
// was acknowledged by the broker, or on discard.
func (st *DeadLetterStore) Delete(ctx context.Context, d DeadLetter) error {
	b := st.s.Session.BatchWithContext(ctx, gocql.LoggedBatch)
	b.Query(`DELETE FROM `+st.dlq+` WHERE event_id = ?`, d.EventID)
	if d.AggregateID != uuid.Nil { // a malformed entry may have no aggregate, and then no index row
		b.Query(`DELETE FROM `+st.idx+` WHERE aggregate_id = ? AND sequence = ?`, d.AggregateID, d.Sequence)
	}
	if err := st.s.ExecuteBatch(b); err != nil {
		return fmt.Errorf("storage: delete dead letter %s: %w", d.EventID, err)
	}
	return nil
}

// SetReplayCount records a replay attempt before it is made, so a crash
// mid-replay still counts towards the loop limit.
func (st *DeadLetterStore) SetReplayCount(ctx context.Context, eventID uuid.UUID, n int) error {
	err := st.s.ContextQuery(ctx, `UPDATE `+st.dlq+` SET replay_count = ? WHERE event_id = ?`, nil).Bind(n, eventID).ExecRelease()
	if err != nil {
		return fmt.Errorf("storage: dead letter %s replay count: %w", eventID, err)
	}
	return nil
}

// Index returns what the relay must know of the queue: the events in it
// (that have an aggregate), and each aggregate's lowest dead-lettered
// sequence — under the hold policy that event and every later one of the
// aggregate wait; earlier ones, read again after a restart, do not. It reads
// the whole per-aggregate index: the queue is expected to stay small.
func (st *DeadLetterStore) Index(ctx context.Context) (events map[uuid.UUID]bool, from map[uuid.UUID]int64, err error) {
	iter := st.s.ContextQuery(ctx, `SELECT aggregate_id, sequence, event_id FROM `+st.idx, nil).PageSize(1000).Iter()
	events, from = map[uuid.UUID]bool{}, map[uuid.UUID]int64{}
	var agg, id uuid.UUID
	var seq int64
	for iter.Scan(&agg, &seq, &id) {
		events[id] = true
		// Rows cluster by sequence: an aggregate's first row is its lowest.
		if _, seen := from[agg]; !seen {
			from[agg] = seq
		}
	}
	if err := iter.Close(); err != nil {
		return nil, nil, fmt.Errorf("storage: dead-letter index: %w", err)
	}
	return events, from, nil
}
