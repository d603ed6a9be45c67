// Package cdc owns reading committed outbox events from the outbox table's
// ScyllaDB CDC log: a scylla-cdc-go Reader configured for the outbox, a
// ChangeConsumerFactory whose consumers turn each logged INSERT into an
// outbox.Record, and per-stream progress that is saved only up to events the
// relay has finished with (published, or safely in the dead-letter queue),
// so a restart resumes without losing anything.
//
// The consumer never returns an error for a publish failure — that would
// stop the whole reader. It hands records to a Sink, which applies
// backpressure by blocking, and learns of completion through an ack.
package cdc

import (
	"context"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// Sink receives records in commit order per CDC stream (and so per
// aggregate). Deliver blocks while the relay cannot take more work; it
// returns only ctx's error. ack must be called exactly once, when the record
// is published or dead-lettered; it may be called from any goroutine.
type Sink interface {
	Deliver(ctx context.Context, rec outbox.Record, ack func()) error
}

// ProgressStore keeps the reader's progress: which generation it reads,
// when it started reading, and where each stream of a generation was read
// to. The relay's store makes every write conditional on its leadership
// epoch, so the writes of a relay that another one has replaced fail (with
// leader.ErrFenced) and change nothing.
type ProgressStore interface {
	CurrentGeneration(ctx context.Context) (time.Time, error)
	StartGeneration(ctx context.Context, gen time.Time) error
	ReadStartTime(ctx context.Context) (time.Time, error)
	SaveReadStartTime(ctx context.Context, start time.Time) error
	StreamProgress(ctx context.Context, gen time.Time, stream []byte) (gocql.UUID, error)
	// SaveStreams saves several streams' positions at once: one round
	// trip per save, whatever the number of streams.
	SaveStreams(ctx context.Context, positions []StreamPosition) error
}

// StreamPosition is where one stream of one generation was read to: every
// change up to At is finished.
type StreamPosition struct {
	Generation time.Time
	Stream     []byte
	At         gocql.UUID
}

// ConsumerFactory creates one consumer per CDC stream. It implements
// scyllacdc.ChangeConsumerFactory. Its per-stream bookkeeping outlives the
// library's consumers: after a reader restart in the same process, a
// re-read change that was already delivered is not delivered again (its
// records are in flight or finished), and the generation barrier knows
// every stream of the old generation.
type ConsumerFactory struct {
	sink  Sink
	store ProgressStore
	// flushMu orders saves: two overlapping flushes could otherwise write
	// an older position after a newer one.
	flushMu sync.Mutex

	mu      sync.Mutex
	streams map[string]*Stream // by stream id
	gen     time.Time          // generation whose streams are being opened
	// changed, while a generation switch waits for the old generation to
	// finish, is closed (and cleared) when a record finishes. It is nil
	// otherwise: records finish far more often than generations switch.
	changed chan struct{}
}

// NewConsumerFactory returns a factory feeding sink whose progress is saved
// in store, by Flush: the library's callbacks save nothing, so a failed
// save always reaches a caller.
func NewConsumerFactory(sink Sink, store ProgressStore) *ConsumerFactory {
	return &ConsumerFactory{sink: sink, store: store, streams: map[string]*Stream{}}
}

// CreateChangeConsumer implements scyllacdc.ChangeConsumerFactory. Its
// consumers do not pause after empty queries: a Reader's do (see cadence).
func (f *ConsumerFactory) CreateChangeConsumer(_ context.Context, in scyllacdc.CreateChangeConsumerInput) (scyllacdc.ChangeConsumer, error) {
	return &consumer{stream: f.OpenStream(in.StreamID)}, nil
}

// pacedFactory is the factory as one Reader hands it to scylla-cdc-go: its
// consumers take the reader's pauses after empty queries.
type pacedFactory struct {
	f     *ConsumerFactory
	pacer *pacer
}

func (p pacedFactory) CreateChangeConsumer(_ context.Context, in scyllacdc.CreateChangeConsumerInput) (scyllacdc.ChangeConsumer, error) {
	return &consumer{stream: p.f.OpenStream(in.StreamID), pacer: p.pacer}, nil
}

// OpenStream starts following a stream of the generation being read: what
// the library does through CreateChangeConsumer, and what the fault
// simulator does directly. A stream opened again (a reader restart) keeps
// its bookkeeping.
func (f *ConsumerFactory) OpenStream(id []byte) *Stream {
	key := fmt.Sprintf("%x", id)
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.streams[key]
	if s == nil {
		s = &Stream{factory: f, id: append([]byte(nil), id...), gen: f.gen}
		f.streams[key] = s
	}
	return s
}

// Flush saves every stream's progress over its finished records, in one
// call to the store: a periodic flush bounds what a crash re-publishes,
// and a graceful shutdown calls it after the in-flight records finished, so
// a restart re-reads nothing. Progress is a cdc$time the reader resumes
// after, so it never passes a change with a record in flight. A failed
// save is returned; the next flush saves the same positions or later ones.
func (f *ConsumerFactory) Flush(ctx context.Context) error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	var positions []StreamPosition
	var saving []*Stream
	for _, s := range f.snapshot() {
		s.mu.Lock()
		at, ok := s.progress.ToSave()
		s.mu.Unlock()
		if ok {
			positions = append(positions, StreamPosition{Generation: s.gen, Stream: s.id, At: at})
			saving = append(saving, s)
		}
	}
	if len(positions) == 0 {
		return nil
	}
	if err := f.store.SaveStreams(ctx, positions); err != nil {
		return fmt.Errorf("cdc: saving the progress of %d streams: %w", len(positions), err)
	}
	for i, s := range saving {
		s.mu.Lock()
		s.progress.Saved(positions[i].At)
		s.mu.Unlock()
	}
	return nil
}

func (f *ConsumerFactory) snapshot() []*Stream {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*Stream, 0, len(f.streams))
	for _, s := range f.streams {
		out = append(out, s)
	}
	return out
}

// SwitchReady reports whether the reader may move to the generation that
// starts at gen: no record of an older generation's streams is unfinished.
// Moving on earlier would make the new generation durable (StartGeneration)
// while old records are in flight, and a restart would never read them
// again.
func (f *ConsumerFactory) SwitchReady(gen time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.streams {
		if s.gen.Before(gen) && s.unfinished() {
			return false
		}
	}
	return true
}

// GenerationStarted records that gen is now the generation being read:
// streams opened from now on belong to it, and older generations' streams
// are forgotten.
func (f *ConsumerFactory) GenerationStarted(gen time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen = gen
	for id, s := range f.streams {
		if s.gen.Before(gen) {
			delete(f.streams, id)
		}
	}
}

// awaitSwitch blocks until SwitchReady(gen), saving the old streams'
// progress as their records finish, or until ctx ends.
func (f *ConsumerFactory) awaitSwitch(ctx context.Context, gen time.Time) error {
	for {
		f.mu.Lock()
		if f.changed == nil {
			f.changed = make(chan struct{})
		}
		changed := f.changed
		f.mu.Unlock()
		if f.SwitchReady(gen) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("cdc: waiting for the records of the generation before %s: %w", gen.UTC().Format(time.RFC3339Nano), ctx.Err())
		}
	}
}

func (f *ConsumerFactory) finished() {
	f.mu.Lock()
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
	f.mu.Unlock()
}

// consumer adapts a Stream to the library's ChangeConsumer: it decodes the
// change's rows, and paces its stream group's queries if pacer is set.
type consumer struct {
	stream  *Stream
	pacer   *pacer
	columns columnIndex
	// recs is reused from change to change: the sink takes records by
	// value, so none outlives Consume.
	recs []outbox.Record
}

var _ scyllacdc.ChangeOrEmptyNotificationConsumer = (*consumer)(nil)

// Consume decodes the change's outbox inserts. Rows that are not inserts
// (updates, deletes, TTL expiry) carry no event. A row that does not decode
// becomes a malformed record, which the relay dead-letters.
func (c *consumer) Consume(ctx context.Context, ch scyllacdc.Change) error {
	if c.pacer != nil {
		c.pacer.read()
	}
	recs := c.recs[:0]
	for i, row := range ch.Delta {
		if row.GetOperation() != scyllacdc.Insert {
			continue
		}
		recs = append(recs, decodeRow(row, ch.StreamID, ch.Time, i, &c.columns))
	}
	err := c.stream.Consume(ctx, ch.Time, recs)
	clear(recs) // the payloads are the sink's now, not this buffer's
	c.recs = recs[:0]
	return err
}

// Empty implements scyllacdc.ChangeOrEmptyNotificationConsumer: it records
// the empty window, then pauses the stream group before its next query.
func (c *consumer) Empty(ctx context.Context, ackTime gocql.UUID) error {
	err := c.stream.Empty(ctx, ackTime)
	if c.pacer != nil {
		c.pacer.pause(ctx, ackTime)
	}
	return err
}

// End implements scyllacdc.ChangeConsumer.
func (c *consumer) End() error { return c.stream.End() }

// Stream follows one CDC stream: it hands each logged outbox insert to the
// sink and keeps the stream's progress over finished records, which the
// factory's Flush saves. Consume, Empty and End come from the stream's
// reader goroutine; acks arrive from the relay's goroutines.
type Stream struct {
	factory  *ConsumerFactory
	id       []byte
	gen      time.Time
	mu       sync.Mutex // guards progress
	progress StreamProgress
}

// Consume hands the records of the change logged at `at` to the sink. A
// change delivered before (re-read after a reader restart) is not
// delivered again.
func (s *Stream) Consume(ctx context.Context, at gocql.UUID, recs []outbox.Record) error {
	s.mu.Lock()
	fresh := s.progress.Fresh(at)
	s.mu.Unlock()
	if !fresh {
		return nil
	}
	d := &delivery{s: s, change: PendingChange{Time: at, left: len(recs)}}
	d.acked = d.one[:]
	if len(recs) > len(d.one) {
		d.acked = make([]atomic.Bool, len(recs))
	}
	for i, rec := range recs {
		if err := s.factory.sink.Deliver(ctx, rec, d.acker(i)); err != nil {
			// Not committed: the change is delivered again, whole,
			// when it is read again.
			return err
		}
	}
	s.mu.Lock()
	s.progress.Commit(&d.change)
	s.mu.Unlock()
	return nil
}

// delivery is one change handed to the sink: its progress entry and which
// of its records were acknowledged, in one allocation for the usual change
// of one record (with the acknowledgement's closure, two; a PendingChange,
// a sync.Once and a closure per record were four).
type delivery struct {
	s      *Stream
	change PendingChange
	acked  []atomic.Bool // by record
	one    [1]atomic.Bool
}

// acker is the acknowledgement of record i; a second call does nothing,
// so a misbehaving sink cannot finish a change whose records are in
// flight.
func (d *delivery) acker(i int) func() {
	return func() {
		if !d.acked[i].CompareAndSwap(false, true) {
			return
		}
		d.s.mu.Lock()
		d.s.progress.Finish(&d.change)
		d.s.mu.Unlock()
		d.s.factory.finished()
	}
}

// Empty records that a query window held nothing: with nothing pending the
// stream's progress may move to the window's end.
func (s *Stream) Empty(_ context.Context, at gocql.UUID) error {
	s.mu.Lock()
	s.progress.Empty(at)
	s.mu.Unlock()
	return nil
}

// End is the end of the stream's reader. Records still in flight keep
// their bookkeeping: a reader restarted in this process does not deliver
// them again, and a new process re-reads them.
func (s *Stream) End() error { return nil }

func (s *Stream) unfinished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress.Unfinished()
}

// malformedID namespaces the ids derived for log rows without an event id.
var malformedID = uuid.MustParse("6f1c1a3e-2d4b-5b8e-9a61-0c2f6d0e8a47")

// decodeRow turns an outbox_messages log row into a record. A row that is
// not a valid event comes back as a malformed record holding the row's
// columns as text; one without an event id gets an id derived from its
// place in the log (stream, cdc$time, position), the same on every read.
func decodeRow(row *scyllacdc.ChangeRow, stream []byte, cdcTime gocql.UUID, pos int, ix *columnIndex) outbox.Record {
	var rec outbox.Record
	var missing []string
	data := row.GetRawData()
	at := ix.of(row.Columns())
	field := func(c eventColumn) any {
		i := at[c]
		if i < 0 {
			missing = append(missing, eventColumns[c])
			return nil
		}
		return data[i]
	}
	rec.AggregateID = uuid.UUID(valueOf[gocql.UUID](field(colAggregateID)))
	rec.EventID = uuid.UUID(valueOf[gocql.UUID](field(colEventID)))
	rec.Sequence = valueOf[int64](field(colSequence))
	rec.AggregateType = valueOf[string](field(colAggregateType))
	rec.EventType = valueOf[string](field(colEventType))
	rec.Payload = valueOf[[]byte](field(colPayload))
	rec.ContentType = valueOf[string](field(colContentType))
	rec.TraceParent = valueOf[string](field(colTraceParent))
	rec.OccurredAt = valueOf[time.Time](field(colOccurredAt))
	rec.CommittedAt = cdcTime.Time()
	err := rec.Validate()
	if len(missing) > 0 {
		err = fmt.Errorf("columns missing from the CDC log: %s", strings.Join(missing, ", "))
	}
	if err == nil {
		return rec
	}
	if rec.EventID == uuid.Nil {
		rec.EventID = uuid.NewSHA1(malformedID, []byte(fmt.Sprintf("%x/%s/%d", stream, cdcTime, pos)))
	}
	rec.Malformed = &outbox.Malformed{Reason: err.Error(), Raw: rawColumns(row)}
	return rec
}

// eventColumn names a column decodeRow reads, as an index into
// eventColumns.
type eventColumn int

const (
	colAggregateID eventColumn = iota
	colEventID
	colSequence
	colAggregateType
	colEventType
	colPayload
	colContentType
	colTraceParent
	colOccurredAt
	numEventColumns
)

// eventColumns are the log columns a record is decoded from.
var eventColumns = [numEventColumns]string{"aggregate_id", "event_id", "sequence", "aggregate_type", "event_type",
	"payload", "content_type", "trace_parent", "occurred_at"}

// columnIndex remembers where the event columns sit in the rows of one
// query: every row of a query shares its column list, so they are looked
// up by name once per query instead of nine times per row.
type columnIndex struct {
	cols []gocql.ColumnInfo
	at   [numEventColumns]int // -1: not in the log
}

// of returns the positions of the event columns in cols.
func (ix *columnIndex) of(cols []gocql.ColumnInfo) *[numEventColumns]int {
	if len(cols) > 0 && len(cols) == len(ix.cols) && &cols[0] == &ix.cols[0] {
		return &ix.at
	}
	ix.cols = cols
	for c, name := range eventColumns {
		ix.at[c] = -1
		for i, col := range cols {
			if col.Name == name {
				ix.at[c] = i
				break
			}
		}
	}
	return &ix.at
}

// outboxColumns are the columns of an outbox_messages log row worth showing.
var outboxColumns = []string{"aggregate_id", "sequence", "event_id", "aggregate_type", "event_type", "payload",
	"content_type", "trace_parent", "occurred_at", "committed_at"}

// rawColumns renders a row's columns as text for the dead-letter queue.
func rawColumns(row *scyllacdc.ChangeRow) map[string]string {
	raw := make(map[string]string, len(outboxColumns))
	for _, name := range outboxColumns {
		v, ok := row.GetValue(name)
		if !ok {
			continue
		}
		switch v := deref(v).(type) {
		case nil:
			raw[name] = "null"
		case []byte:
			raw[name] = "0x" + hex.EncodeToString(v)
		default:
			raw[name] = fmt.Sprint(v)
		}
	}
	return raw
}

// valueOf is a column value of type T, or T's zero value for a null or a
// value of another type. scylla-cdc-go returns a nullable value as a
// pointer (nil for null) and a blob as a slice; unwrapping them by type
// instead of through reflection saves an allocation per column.
func valueOf[T any](v any) T {
	switch v := v.(type) {
	case *T:
		if v != nil {
			return *v
		}
	case T:
		return v
	}
	var zero T
	return zero
}

// deref unwraps the pointers scylla-cdc-go returns for nullable values.
func deref(v any) any {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil
	}
	return rv.Interface()
}
