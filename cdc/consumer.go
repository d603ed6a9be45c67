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
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// Sink receives records in commit order per CDC stream (and so per
// aggregate). Deliver blocks while the relay cannot take more work; it
// returns only ctx's error. ack must be called exactly once, when the record
// is published or dead-lettered; it may be called from any goroutine.
type Sink interface {
	Deliver(ctx context.Context, rec outbox.Record, ack func()) error
}

// ConsumerFactory creates one consumer per CDC stream. It implements
// scyllacdc.ChangeConsumerFactory.
type ConsumerFactory struct {
	sink Sink
	mu   sync.Mutex
	live []*consumer
	// onProgress, if set, observes every saved progress point (tests, lag).
	onProgress func(stream string, at time.Time)
	// onDecodeError reports a log row that is not a valid outbox event;
	// such a row is skipped, since no retry can make it valid.
	onDecodeError func(err error)
}

// NewConsumerFactory returns a factory feeding sink.
func NewConsumerFactory(sink Sink, onDecodeError func(error), onProgress func(stream string, at time.Time)) *ConsumerFactory {
	return &ConsumerFactory{sink: sink, onDecodeError: onDecodeError, onProgress: onProgress}
}

// CreateChangeConsumer implements scyllacdc.ChangeConsumerFactory.
func (f *ConsumerFactory) CreateChangeConsumer(_ context.Context, in scyllacdc.CreateChangeConsumerInput) (scyllacdc.ChangeConsumer, error) {
	c := &consumer{factory: f, reporter: in.ProgressReporter, stream: fmt.Sprintf("%x", []byte(in.StreamID))}
	f.mu.Lock()
	f.live = append(f.live, c)
	f.mu.Unlock()
	return c, nil
}

// Flush saves every stream's progress over its finished records now,
// rather than at the stream's next poll: a graceful shutdown calls it after
// the in-flight records finished, so a restart re-reads nothing.
func (f *ConsumerFactory) Flush(ctx context.Context) error {
	f.mu.Lock()
	live := append([]*consumer(nil), f.live...)
	f.mu.Unlock()
	for _, c := range live {
		if err := c.save(ctx); err != nil {
			return err
		}
	}
	return nil
}

// consumer follows one stream. The library calls Consume, Empty and End
// from the stream's goroutine; acks arrive from the relay's goroutines.
type consumer struct {
	factory  *ConsumerFactory
	reporter *scyllacdc.ProgressReporter
	stream   string
	// saveMu orders saves: two overlapping saves could otherwise write an
	// older position after a newer one.
	saveMu   sync.Mutex
	mu       sync.Mutex // guards progress
	progress StreamProgress
}

var _ scyllacdc.ChangeOrEmptyNotificationConsumer = (*consumer)(nil)

// Consume hands the change's outbox inserts to the sink. Rows that are not
// inserts of an outbox event (updates, deletes, TTL expiry) carry nothing to
// publish.
func (c *consumer) Consume(ctx context.Context, ch scyllacdc.Change) error {
	var recs []outbox.Record
	for _, row := range ch.Delta {
		if row.GetOperation() != scyllacdc.Insert {
			continue
		}
		rec, err := decodeRow(row, ch.Time)
		if err != nil {
			if c.factory.onDecodeError != nil {
				c.factory.onDecodeError(fmt.Errorf("cdc: stream %s at %s: %w", c.stream, ch.Time, err))
			}
			continue
		}
		recs = append(recs, rec)
	}
	c.mu.Lock()
	p := c.progress.Deliver(ch.Time, len(recs))
	c.mu.Unlock()
	for _, rec := range recs {
		if err := c.factory.sink.Deliver(ctx, rec, c.acker(p)); err != nil {
			return err
		}
	}
	return c.save(ctx)
}

// Empty records that a query window held nothing: with nothing pending the
// stream's progress may move to the window's end.
func (c *consumer) Empty(ctx context.Context, ackTime gocql.UUID) error {
	c.mu.Lock()
	c.progress.Empty(ackTime)
	c.mu.Unlock()
	return c.save(ctx)
}

// End saves what is complete; records still in flight will be re-read
// after a restart, which is why consumers must deduplicate by event id.
func (c *consumer) End() error {
	err := c.save(context.Background())
	f := c.factory
	f.mu.Lock()
	for i, live := range f.live {
		if live == c {
			f.live = append(f.live[:i], f.live[i+1:]...)
			break
		}
	}
	f.mu.Unlock()
	return err
}

func (c *consumer) acker(p *PendingChange) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.progress.Finish(p)
			c.mu.Unlock()
		})
	}
}

// save advances the stream's saved progress over the completed prefix of
// pending changes. Progress is a cdc$time the reader resumes after, so it
// must never pass a change with a record still in flight.
func (c *consumer) save(ctx context.Context) error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	at, ok := c.progress.ToSave()
	c.mu.Unlock()
	if !ok {
		return nil
	}
	if err := c.reporter.MarkProgress(ctx, scyllacdc.Progress{LastProcessedRecordTime: at}); err != nil {
		// Saving progress is best effort: the events are safe, and a
		// later save (or a re-read on restart) covers this one.
		return nil
	}
	c.mu.Lock()
	c.progress.Saved(at)
	c.mu.Unlock()
	if c.factory.onProgress != nil {
		c.factory.onProgress(c.stream, at.Time())
	}
	return nil
}

// decodeRow turns an outbox_messages log row into a record.
func decodeRow(row *scyllacdc.ChangeRow, cdcTime gocql.UUID) (outbox.Record, error) {
	var rec outbox.Record
	var err error
	field := func(name string) any {
		v, ok := row.GetValue(name)
		if !ok && err == nil {
			err = fmt.Errorf("column %s missing from the CDC log", name)
		}
		return deref(v)
	}
	aggID, _ := field("aggregate_id").(gocql.UUID)
	evID, _ := field("event_id").(gocql.UUID)
	seq, _ := field("sequence").(int64)
	rec.AggregateID = uuid.UUID(aggID)
	rec.EventID = uuid.UUID(evID)
	rec.Sequence = seq
	rec.AggregateType, _ = field("aggregate_type").(string)
	rec.EventType, _ = field("event_type").(string)
	rec.Payload, _ = field("payload").([]byte)
	rec.ContentType, _ = field("content_type").(string)
	rec.TraceParent, _ = field("trace_parent").(string)
	rec.OccurredAt, _ = field("occurred_at").(time.Time)
	rec.CommittedAt = cdcTime.Time()
	if err != nil {
		return rec, err
	}
	if rec.EventID == uuid.Nil || rec.AggregateID == uuid.Nil || rec.Sequence < 1 || rec.EventType == "" || rec.AggregateType == "" {
		return rec, fmt.Errorf("incomplete outbox row (event %s, aggregate %s, sequence %d)", rec.EventID, rec.AggregateID, rec.Sequence)
	}
	if rec.ContentType == "" {
		rec.ContentType = domain.ContentTypeJSON
	}
	return rec, nil
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
