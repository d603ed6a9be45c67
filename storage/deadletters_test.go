package storage

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/schema"
)

// malformed is a dead letter as the relay writes it for a source row it
// could not decode: a derived event id, the columns as text, and only
// what could be decoded of the record.
func malformed(agg uuid.UUID, raw map[string]string) DeadLetter {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return DeadLetter{
		Record:    outbox.Record{Envelope: domain.Envelope{EventID: uuid.New(), AggregateID: agg, Sequence: 4}},
		Error:     "relay: row has no aggregate_id",
		ErrorKind: KindMalformed, FailureCount: 1, FirstFailureAt: now, LastFailureAt: now, Processor: "cdc",
		Raw: raw,
	}
}

func TestDeadLetterStoreMalformedEntries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dlq := NewDeadLetterStore(e.s, testKeyspace)

	raw := map[string]string{"aggregate_id": "null", "sequence": "4", "payload": "0x7b7d", "event_type": "Order\nCreated"}
	orphan := malformed(uuid.Nil, raw)
	agg := uuid.New()
	known := malformed(agg, map[string]string{"payload": "0xff"})
	for _, d := range []DeadLetter{orphan, known} {
		if err := dlq.Put(ctx, d); err != nil {
			t.Fatalf("Put %s: %v", d.EventID, err)
		}
	}

	got, err := dlq.Get(ctx, orphan.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AggregateID != uuid.Nil || got.ErrorKind != KindMalformed || !reflect.DeepEqual(got.Raw, raw) {
		t.Errorf("Get = aggregate %s kind %q raw %v; want no aggregate, kind %q, raw %v", got.AggregateID, got.ErrorKind, got.Raw, KindMalformed, raw)
	}
	if n, err := dlq.Count(ctx); err != nil || n != 2 {
		t.Errorf("Count = %d, %v; want 2", n, err)
	}
	if l, err := dlq.List(ctx, DeadLetterFilter{Kind: KindMalformed}); err != nil || len(l) != 2 {
		t.Errorf("List(kind malformed) = %d entries, %v; want 2", len(l), err)
	}
	// Only the entry with an aggregate holds one back.
	events, held, err := dlq.Index(ctx)
	if _, ok := held[agg]; err != nil || len(held) != 1 || !ok || !events[known.EventID] || events[orphan.EventID] {
		t.Errorf("Index = %v, %v, %v; want only the entry with aggregate %s", events, held, err, agg)
	}

	for _, d := range []DeadLetter{orphan, known} {
		if err := dlq.Delete(ctx, d); err != nil {
			t.Fatalf("Delete %s: %v", d.EventID, err)
		}
		if ok, err := dlq.Exists(ctx, d.EventID); err != nil || ok {
			t.Errorf("Exists(%s) after Delete = %v, %v", d.EventID, ok, err)
		}
	}
	if events, held, err := dlq.Index(ctx); err != nil || len(held) != 0 || len(events) != 0 {
		t.Errorf("Index after deleting both = %v, %v, %v; want none", events, held, err)
	}
}

func TestDeadLetterStorePutRejectsMissingIDs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dlq := NewDeadLetterStore(e.s, testKeyspace)
	noEvent := malformed(uuid.New(), nil)
	noEvent.EventID = uuid.Nil
	noAggregate := malformed(uuid.Nil, nil)
	noAggregate.ErrorKind = "permanent"
	tests := []struct {
		name string
		d    DeadLetter
	}{
		{"no event id", noEvent},
		{"no aggregate id and not malformed", noAggregate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := dlq.Put(ctx, tc.d); !errors.Is(err, ErrInvalidDeadLetter) {
				t.Fatalf("Put = %v, want ErrInvalidDeadLetter", err)
			}
		})
	}
	if n, err := dlq.Count(ctx); err != nil || n != 0 {
		t.Errorf("Count = %d, %v; rejected entries must write nothing", n, err)
	}
}

func TestDeadLetterStoreExists(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dlq := NewDeadLetterStore(e.s, testKeyspace)
	d := malformed(uuid.New(), nil)
	if ok, err := dlq.Exists(ctx, d.EventID); err != nil || ok {
		t.Fatalf("Exists before Put = %v, %v", ok, err)
	}
	if err := dlq.Put(ctx, d); err != nil {
		t.Fatal(err)
	}
	if ok, err := dlq.Exists(ctx, d.EventID); err != nil || !ok {
		t.Fatalf("Exists after Put = %v, %v", ok, err)
	}
}

// TestDeadLetterStoreOnUpgradedTable: a dead_letter_queue created by a
// release without the raw column keeps its entries through schema.Apply,
// which adds the column, and then stores raw columns.
func TestDeadLetterStoreOnUpgradedTable(t *testing.T) {
	ctx := context.Background()
	s := outboxtest.StartDB(t, outboxtest.WithoutSchema()).Session
	for _, stmt := range []string{
		`CREATE KEYSPACE ` + testKeyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		// The table as the first release created it.
		`CREATE TABLE ` + testKeyspace + `.dead_letter_queue (event_id uuid PRIMARY KEY, aggregate_type text, aggregate_id uuid,
			sequence bigint, event_type text, payload blob, content_type text, trace_parent text, occurred_at timestamp,
			error text, error_kind text, failure_count int, first_failure_at timestamp, last_failure_at timestamp,
			replay_count int, processor text)`,
	} {
		if err := s.Session.Query(stmt).Exec(); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	old, agg := uuid.New(), uuid.New()
	if err := s.Session.Query(`INSERT INTO `+testKeyspace+`.dead_letter_queue (event_id, aggregate_id, sequence, error_kind) VALUES (?, ?, 1, 'permanent')`,
		old, agg).Exec(); err != nil {
		t.Fatal(err)
	}
	if err := schema.Apply(ctx, s.Session, schema.Options{Keyspace: testKeyspace}); err != nil {
		t.Fatalf("schema.Apply on the old table: %v", err)
	}

	dlq := NewDeadLetterStore(s, testKeyspace)
	got, err := dlq.Get(ctx, old)
	if err != nil || got.AggregateID != agg || got.Raw != nil {
		t.Fatalf("old entry after the upgrade = %+v, %v", got, err)
	}
	d := malformed(uuid.Nil, map[string]string{"sequence": "x"})
	if err := dlq.Put(ctx, d); err != nil {
		t.Fatalf("Put with raw columns after the upgrade: %v", err)
	}
	if got, err := dlq.Get(ctx, d.EventID); err != nil || got.Raw["sequence"] != "x" {
		t.Fatalf("Get = raw %v, %v", got.Raw, err)
	}
}
