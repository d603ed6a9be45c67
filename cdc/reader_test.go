package cdc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// sink collects deliveries; it acks those accept says yes to.
type sink struct {
	mu     sync.Mutex
	recs   []outbox.Record
	unack  []func()
	accept func(outbox.Record) bool
}

func (s *sink) Deliver(ctx context.Context, rec outbox.Record, ack func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, rec)
	if s.accept == nil || s.accept(rec) {
		ack()
	} else {
		s.unack = append(s.unack, ack)
	}
	return nil
}

func (s *sink) snapshot() []outbox.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]outbox.Record(nil), s.recs...)
}

type env struct {
	session  *gocql.Session
	store    *storage.OrderStore
	progress cdc.ProgressStore
}

func setup(t *testing.T) env {
	t.Helper()
	db := outboxtest.StartDB(t, outboxtest.WithEmulator(scyllaemu.Options{Vnodes: 4}))
	store := storage.NewOrderStore(db.Session, storage.OrderStoreOptions{Keyspace: db.Keyspace})
	relays := storage.NewRelayProgress(db.Session, db.Keyspace, storage.RelayProgressOptions{})
	epoch, err := relays.Acquire(context.Background(), "test-relay", "test")
	if err != nil {
		t.Fatal(err)
	}
	return env{session: db.Session.Session, store: store, progress: relays.Fenced("test-relay", epoch)}
}

// writeOrders creates n orders with `updates` item updates each.
func writeOrders(t *testing.T, store *storage.OrderStore, n, updates int) map[uuid.UUID][]uuid.UUID {
	t.Helper()
	ctx := context.Background()
	gen := domain.NewUUIDv7Generator()
	events := map[uuid.UUID][]uuid.UUID{}
	items := []domain.Item{{ProductID: "p", Quantity: 1, UnitPrice: domain.Money{Minor: 100, Currency: "EUR"}}}
	for i := 0; i < n; i++ {
		o, created, err := domain.NewOrder(uuid.New(), uuid.New(), items, time.Now(), gen)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Save(ctx, o, created); err != nil {
			t.Fatal(err)
		}
		events[o.ID()] = append(events[o.ID()], created.EventID())
		for u := 0; u < updates; u++ {
			ev, err := o.UpdateItems(items, time.Now(), gen)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Save(ctx, o, ev); err != nil {
				t.Fatal(err)
			}
			events[o.ID()] = append(events[o.ID()], ev.EventID())
		}
	}
	return events
}

func readerConfig() cdc.ReaderConfig {
	return cdc.LowLatency(cdc.ReaderConfig{
		Keyspace: "outbox", Table: schema.TableOutboxMessages,
		Consistency: gocql.One, ChangeAgeLimit: time.Minute,
	})
}

// runUntil runs a reader until cond holds, saves its progress and stops
// it.
func runUntil(t *testing.T, e env, s *sink, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	factory := cdc.NewConsumerFactory(s, e.progress)
	r, err := cdc.NewReader(ctx, e.session, readerConfig(), factory)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out; %d records delivered", len(s.snapshot()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := factory.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
}

func TestReaderDeliversEveryEventInOrder(t *testing.T) {
	e := setup(t)
	want := writeOrders(t, e.store, 10, 4)
	s := &sink{}
	runUntil(t, e, s, func() bool { return len(s.snapshot()) >= 50 })
	got := map[uuid.UUID][]uuid.UUID{}
	for _, rec := range s.snapshot() {
		if rec.AggregateType != "Order" || rec.ContentType != domain.ContentTypeJSON || len(rec.Payload) == 0 || rec.CommittedAt.IsZero() {
			t.Fatalf("incomplete record: %+v", rec)
		}
		if n := len(got[rec.AggregateID]); int64(n+1) != rec.Sequence {
			t.Fatalf("aggregate %s: sequence %d delivered after %d events", rec.AggregateID, rec.Sequence, n)
		}
		got[rec.AggregateID] = append(got[rec.AggregateID], rec.EventID)
	}
	for agg, ids := range want {
		if len(got[agg]) != len(ids) {
			t.Fatalf("aggregate %s: %d of %d events", agg, len(got[agg]), len(ids))
		}
		for i := range ids {
			if got[agg][i] != ids[i] {
				t.Fatalf("aggregate %s event %d: got %s want %s", agg, i, got[agg][i], ids[i])
			}
		}
	}
}

// Progress must never pass an event that is still in flight: a relay that
// restarts re-reads it.
func TestProgressStopsAtTheFirstUnackedEvent(t *testing.T) {
	e := setup(t)
	writeOrders(t, e.store, 6, 2)
	var held uuid.UUID
	first := &sink{}
	first.accept = func(rec outbox.Record) bool {
		if held == uuid.Nil && rec.Sequence == 2 {
			held = rec.EventID
		}
		return rec.EventID != held
	}
	runUntil(t, e, first, func() bool { return len(first.snapshot()) >= 18 })
	if held == uuid.Nil {
		t.Fatal("no event was held back")
	}

	second := &sink{}
	runUntil(t, e, second, func() bool {
		for _, rec := range second.snapshot() {
			if rec.EventID == held {
				return true
			}
		}
		return false
	})
	// Acked events of other streams, and earlier ones of the same stream,
	// are not delivered again.
	if n := len(second.snapshot()); n >= 18 {
		t.Fatalf("restart re-delivered %d events: progress of acked events was not saved", n)
	}
}

// Resolved fills exactly the zero windows, with the values the reader
// runs with: the low-latency profile's stay, set windows stay, and the
// idle delays (zero: off) are left alone.
func TestReaderConfigResolved(t *testing.T) {
	low := cdc.LowLatency(cdc.ReaderConfig{})
	tests := []struct {
		name string
		in   cdc.ReaderConfig
		want cdc.ReaderConfig
	}{
		{"zero: the defaults", cdc.ReaderConfig{}, cdc.ReaderConfig{
			ConfidenceWindow: cdc.DefaultConfidenceWindow, QueryWindow: 30 * time.Second,
			PostNonEmptyQueryDelay: 10 * time.Second, PostEmptyQueryDelay: cdc.DefaultPostEmptyQueryDelay,
			PostFailedQueryDelay: time.Second, ChangeAgeLimit: time.Minute}},
		{"low latency: its windows, the library's change age limit", low, func() cdc.ReaderConfig {
			c := low
			c.ChangeAgeLimit = time.Minute
			return c
		}()},
		{"set windows are kept", cdc.ReaderConfig{ConfidenceWindow: time.Minute, ChangeAgeLimit: time.Hour}, cdc.ReaderConfig{
			ConfidenceWindow: time.Minute, QueryWindow: 30 * time.Second,
			PostNonEmptyQueryDelay: 10 * time.Second, PostEmptyQueryDelay: cdc.DefaultPostEmptyQueryDelay,
			PostFailedQueryDelay: time.Second, ChangeAgeLimit: time.Hour}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.Resolved(); got != tc.want {
				t.Errorf("Resolved:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
