package storage

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	env := newEnv(t)
	st := env.store()
	ctx := context.Background()
	o, created := newOrder(t)

	steps := []struct {
		name   string
		change func(t *testing.T) domain.DomainEvent
		status domain.Status
	}{
		{"create", func(*testing.T) domain.DomainEvent { return created }, domain.StatusPending},
		{"update", func(t *testing.T) domain.DomainEvent {
			ev, err := o.UpdateItems(items(3), t0.Add(time.Minute), uuid.NewV7)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}, domain.StatusPending},
		{"cancel", func(t *testing.T) domain.DomainEvent {
			ev, err := o.Cancel("customer changed their mind", t0.Add(2*time.Minute), uuid.NewV7)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}, domain.StatusCancelled},
	}
	for i, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			ev := step.change(t)
			if err := st.Save(ctx, o, ev); err != nil {
				t.Fatalf("Save: %v", err)
			}
			got, err := st.Load(ctx, o.ID())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got.State(), o.State()) {
				t.Errorf("Load() state = %+v\nwant %+v", got.State(), o.State())
			}
			if got.Status() != step.status || got.Version() != int64(i+1) {
				t.Errorf("status %v version %d, want %v %d", got.Status(), got.Version(), step.status, i+1)
			}
		})
	}

	// The row's derived columns are what ad-hoc queries see.
	var (
		currency, status string
		total            int64
	)
	if err := env.s.Query(`SELECT currency, total_minor, status FROM outbox.orders WHERE id = ?`, nil).
		Bind(o.ID()).Scan(&currency, &total, &status); err != nil {
		t.Fatal(err)
	}
	if currency != "EUR" || total != o.Total().Minor || status != "cancelled" {
		t.Errorf("row currency %q total %d status %q; want EUR %d cancelled", currency, total, status, o.Total().Minor)
	}
}

func TestLoadErrors(t *testing.T) {
	env := newEnv(t)
	st := env.store()
	ctx := context.Background()

	if _, err := st.Load(ctx, uuid.New()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load(missing) = %v, want ErrNotFound", err)
	}

	corrupt := []struct {
		name, items, status string
		version             int64
		wantDomain          bool
	}{
		{"bad json", `[{`, "pending", 1, false},
		{"unknown status", `[{"product_id":"p","quantity":1,"unit_price_minor":1,"currency":"EUR"}]`, "shipped", 1, false},
		{"invalid item", `[{"product_id":"p","quantity":0,"unit_price_minor":1,"currency":"EUR"}]`, "pending", 1, true},
		{"version zero", `[{"product_id":"p","quantity":1,"unit_price_minor":1,"currency":"EUR"}]`, "pending", 0, true},
	}
	for _, c := range corrupt {
		t.Run(c.name, func(t *testing.T) {
			id := uuid.New()
			if err := env.s.Query(`INSERT INTO outbox.orders (id, customer_id, items, status, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, nil).
				Bind(id, uuid.New(), c.items, c.status, c.version, t0, t0).Exec(); err != nil {
				t.Fatal(err)
			}
			_, err := st.Load(ctx, id)
			if !errors.Is(err, ErrCorruptOrder) {
				t.Fatalf("Load = %v, want ErrCorruptOrder", err)
			}
			var ve *domain.ValidationError
			if c.wantDomain != errors.As(err, &ve) {
				t.Errorf("Load = %v: wraps *domain.ValidationError = %v, want %v", err, !c.wantDomain, c.wantDomain)
			}
		})
	}
}

func TestSaveWritesOneOutboxAndBucketRowPerEvent(t *testing.T) {
	env := newEnv(t)
	commitAt := time.Date(2031, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	st := env.store(func(o *OrderStoreOptions) { o.Clock = func() time.Time { return commitAt } })
	const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := ContextWithTraceParent(context.Background(), trace)

	o, created := newOrder(t)
	if err := st.Save(ctx, o, created); err != nil {
		t.Fatal(err)
	}
	// Two transitions saved together: one batch, three events in all.
	updated, err := o.UpdateItems(items(1), t0.Add(time.Second), uuid.NewV7)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := o.Cancel("", t0.Add(2*time.Second), uuid.NewV7)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, o, updated, cancelled); err != nil {
		t.Fatal(err)
	}
	events := []domain.DomainEvent{created, updated, cancelled}

	var outbox []outboxRow
	if err := env.s.Query(`SELECT * FROM outbox.outbox_messages WHERE aggregate_id = ?`, nil).
		Bind(o.ID()).Select(&outbox); err != nil {
		t.Fatal(err)
	}
	// The store's clock names the bucket; committed_at is the server's
	// (TestSaveIsStampedByTheServer).
	var bucket []outboxRow
	if err := env.s.Query(`SELECT * FROM outbox.outbox_by_bucket WHERE bucket = ?`, nil).
		Bind(BucketOf(commitAt)).Select(&bucket); err != nil {
		t.Fatal(err)
	}
	if len(outbox) != len(events) || len(bucket) != len(events) {
		t.Fatalf("got %d outbox rows and %d bucket rows, want %d each", len(outbox), len(bucket), len(events))
	}
	byID := map[uuid.UUID]outboxRow{}
	for _, r := range bucket {
		if _, dup := byID[r.EventID]; dup {
			t.Errorf("event %s has two bucket rows", r.EventID)
		}
		byID[r.EventID] = r
	}
	for i, ev := range events {
		env, err := domain.NewEnvelope(ev)
		if err != nil {
			t.Fatal(err)
		}
		got := outbox[i] // clustered by sequence
		want := outboxRow{
			AggregateID: env.AggregateID, Sequence: env.Sequence, EventID: env.EventID,
			AggregateType: env.AggregateType, EventType: env.EventType, Payload: env.Payload,
			ContentType: env.ContentType, TraceParent: trace, OccurredAt: env.OccurredAt,
			CommittedAt: got.CommittedAt,
		}
		if !reflect.DeepEqual(got, want) || got.CommittedAt.Version() != 1 {
			t.Errorf("outbox row %d = %+v\nwant %+v with a timeuuid committed_at", i, got, want)
		}
		b, ok := byID[env.EventID]
		want.Bucket, want.CommittedAt = BucketOf(commitAt), b.CommittedAt
		if !ok || !reflect.DeepEqual(b, want) || b.CommittedAt.Version() != 1 {
			t.Errorf("bucket row for event %d = %+v (found %v)\nwant %+v with a timeuuid committed_at", i, b, ok, want)
		}
	}
	if !bytes.Contains(outbox[2].Payload, []byte(`"status":"cancelled"`)) {
		t.Errorf("cancel payload = %s", outbox[2].Payload)
	}

	// The CDC log has one row per event: no pre- or postimage rows that a
	// relay could publish twice.
	var logged int
	if err := env.s.Query(`SELECT COUNT(*) FROM outbox.outbox_messages_scylla_cdc_log`, nil).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged != len(events) {
		t.Errorf("CDC log rows = %d, want %d", logged, len(events))
	}
}

// TestSaveIsStampedByTheServer runs a server whose clock is an hour ahead
// of this process and stands still, and a store whose clock is behind it:
// the write timestamps, the CDC log times and every committed_at are the
// server's, only the bucket is the store's. A batch stamped by the client
// would be refused, being older than the server's CDC generation. Leases
// and loads work as before on that server.
func TestSaveIsStampedByTheServer(t *testing.T) {
	server := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	client := server.Add(-90 * time.Second)
	s := outboxtest.StartDB(t, outboxtest.WithEmulator(scyllaemu.Options{Clock: func() time.Time { return server }})).Session
	st := NewOrderStore(s, OrderStoreOptions{Keyspace: testKeyspace, Clock: func() time.Time { return client }})
	ctx := context.Background()

	o, created := newOrder(t)
	if err := st.AcquireLease(ctx, o.ID(), "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, o, created); err != nil {
		t.Fatalf("Save: %v", err)
	}
	updated, err := o.UpdateItems(items(1), t0.Add(time.Second), uuid.NewV7)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := o.Cancel("", t0.Add(2*time.Second), uuid.NewV7)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, o, updated, cancelled); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := st.Load(ctx, o.ID())
	if err != nil || !reflect.DeepEqual(got.State(), o.State()) {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, o.State())
	}

	var writes []int64
	var committed []gocql.UUID
	iter := s.Query(`SELECT WRITETIME(event_type), committed_at FROM outbox.outbox_messages WHERE aggregate_id = ?`, nil).Bind(o.ID()).Iter()
	var wt int64
	var at gocql.UUID
	for iter.Scan(&wt, &at) {
		writes, committed = append(writes, wt), append(committed, at)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	iter = s.Query(`SELECT "cdc$time" FROM outbox.outbox_messages_scylla_cdc_log`, nil).Iter()
	var logged []time.Time
	for iter.Scan(&at) {
		logged = append(logged, at.Time())
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	iter = s.Query(`SELECT committed_at FROM outbox.outbox_by_bucket WHERE bucket = ?`, nil).Bind(BucketOf(client)).Iter()
	for iter.Scan(&at) {
		committed = append(committed, at)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}

	if len(writes) != 3 || len(logged) != 3 || len(committed) != 6 {
		t.Fatalf("%d outbox rows, %d log rows, %d rows in all with the store's bucket; want 3, 3 and 6", len(writes), len(logged), len(committed))
	}
	// The server's clock stands still, so its stamps are its time (write
	// timestamps are made unique by adding microseconds).
	for i, w := range writes {
		if w < server.UnixMicro() || w > server.Add(time.Millisecond).UnixMicro() {
			t.Errorf("outbox row %d: write time %v, want the server's %v", i, time.UnixMicro(w), server)
		}
	}
	for i, l := range logged {
		if l.Before(server) || l.After(server.Add(time.Millisecond)) {
			t.Errorf("CDC log row %d: cdc$time %v, want the server's %v", i, l, server)
		}
	}
	for i, c := range committed {
		if c.Time().Before(server) || c.Time().After(server.Add(time.Millisecond)) {
			t.Errorf("row %d: committed_at %v, want the server's %v", i, c.Time(), server)
		}
	}
	// now() is the write's own instant: committed_at is the row's write time.
	for i, w := range writes {
		if got := committed[i].Time().UnixMicro(); got != w {
			t.Errorf("outbox row %d: committed_at %v, write time %v", i, committed[i].Time(), time.UnixMicro(w))
		}
	}

	// Leases on that server, with the driver's default timestamps.
	var held *LeaseHeldError
	steps := []struct {
		name string
		do   func() error
		ok   func(error) bool
	}{
		{"b is refused", func() error { return st.AcquireLease(ctx, o.ID(), "b", time.Minute) }, func(err error) bool { return errors.As(err, &held) && held.Owner == "a" }},
		{"a renews", func() error { return st.RenewLease(ctx, o.ID(), "a", time.Minute) }, func(err error) bool { return err == nil }},
		{"a releases", func() error { return st.ReleaseLease(ctx, o.ID(), "a") }, func(err error) bool { return err == nil }},
		{"a cannot renew", func() error { return st.RenewLease(ctx, o.ID(), "a", time.Minute) }, is(ErrLeaseLost)},
		{"b acquires", func() error { return st.AcquireLease(ctx, o.ID(), "b", time.Minute) }, func(err error) bool { return err == nil }},
	}
	for _, step := range steps {
		if err := step.do(); !step.ok(err) {
			t.Errorf("%s: %v", step.name, err)
		}
	}
}

func TestSaveRejectsInconsistentEvents(t *testing.T) {
	env := newEnv(t)
	st := env.store()
	ctx := context.Background()

	o, created := newOrder(t)
	_, otherCreated := newOrder(t)
	updated := func() (*domain.Order, domain.OrderCreated, domain.OrderUpdated) {
		o, c := newOrder(t)
		u, err := o.UpdateItems(items(1), t0, uuid.NewV7)
		if err != nil {
			t.Fatal(err)
		}
		return o, c, u
	}
	o2, c2, u2 := updated()
	// A generator that repeats itself: two events with one id.
	same := uuid.New()
	repeat := func() (uuid.UUID, error) { return same, nil }
	o3, c3, err := domain.NewOrder(uuid.New(), uuid.New(), items(1), t0, repeat)
	if err != nil {
		t.Fatal(err)
	}
	u3, err := o3.UpdateItems(items(2), t0, repeat)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		order  *domain.Order
		events []domain.DomainEvent
		want   string
	}{
		{"nil order", nil, []domain.DomainEvent{created}, "nil order"},
		{"no events", o, nil, "no events"},
		{"nil event", o, []domain.DomainEvent{nil}, "is nil"},
		{"other aggregate", o, []domain.DomainEvent{otherCreated}, "belongs to Order " + otherCreated.AggregateID().String()},
		{"stale event", o2, []domain.DomainEvent{c2}, "has sequence 1, want 2"},
		{"duplicate sequence", o2, []domain.DomainEvent{u2, u2}, "has sequence 2, want 1"},
		{"wrong order", o2, []domain.DomainEvent{u2, c2}, "has sequence 2, want 1"},
		{"repeated event id", o3, []domain.DomainEvent{c3, u3}, "repeats event id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := st.Save(ctx, tt.order, tt.events...)
			if !errors.Is(err, ErrInvalidSave) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Save = %v, want ErrInvalidSave containing %q", err, tt.want)
			}
			if tt.order != nil {
				if _, err := st.Load(ctx, tt.order.ID()); !errors.Is(err, ErrNotFound) {
					t.Errorf("after rejected Save, Load = %v, want ErrNotFound", err)
				}
			}
		})
	}
	var n int
	if err := env.s.Query(`SELECT COUNT(*) FROM outbox.outbox_messages`, nil).Scan(&n); err != nil || n != 0 {
		t.Errorf("outbox rows after rejected saves: %d (err %v), want 0", n, err)
	}
}

// TestBatchAtomicity makes the DATABASE reject a batch whose order row is
// fine: the second event's outbox row binds a NULL partition key (a nil
// aggregate id binds as NULL). Save's validation would have caught this,
// so the test goes through saveBatch, the code path Save ends in.
func TestBatchAtomicity(t *testing.T) {
	env := newEnv(t)
	st := env.store()
	ctx := context.Background()
	o, created := newOrder(t)

	order, err := newOrderRow(o)
	if err != nil {
		t.Fatal(err)
	}
	env0, err := domain.NewEnvelope(created)
	if err != nil {
		t.Fatal(err)
	}
	good := outboxRow{
		Bucket: BucketOf(time.Now()), AggregateID: o.ID(), Sequence: 1, EventID: env0.EventID,
		AggregateType: env0.AggregateType, EventType: env0.EventType, Payload: env0.Payload,
		ContentType: env0.ContentType, OccurredAt: env0.OccurredAt,
	}
	bad := good
	bad.AggregateID = uuid.Nil
	bad.Sequence = 2
	bad.EventID = uuid.New()

	err = st.saveBatch(ctx, order, []outboxRow{good, bad}, time.Now().UnixMicro())
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("saveBatch = %v, want *BatchError", err)
	}
	t.Logf("database rejected the batch: %v", err)
	if be.OrderID != o.ID() || be.Events != 2 || be.MaybeApplied() {
		t.Errorf("BatchError = %+v, MaybeApplied %v; want order %s, 2 events, definitely not applied", be, be.MaybeApplied(), o.ID())
	}
	var re gocql.RequestError
	if !errors.As(err, &re) || re.Code() != gocql.ErrCodeInvalid {
		t.Errorf("cause = %v, want an Invalid request error from the database", err)
	}

	// Nothing of the batch exists: not the order, not the valid event.
	if _, err := st.Load(ctx, o.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after failed batch = %v, want ErrNotFound", err)
	}
	for _, q := range []string{
		`SELECT COUNT(*) FROM outbox.outbox_messages`,
		`SELECT COUNT(*) FROM outbox.outbox_by_bucket`,
		`SELECT COUNT(*) FROM outbox.outbox_messages_scylla_cdc_log`,
	} {
		var n int
		if err := env.s.Query(q, nil).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s = %d (err %v), want 0", q, n, err)
		}
	}

	// The same rows without the bad one go through: the failure was the
	// NULL key, not something else about the batch.
	if err := st.saveBatch(ctx, order, []outboxRow{good}, time.Now().UnixMicro()); err != nil {
		t.Fatalf("saveBatch(good) = %v", err)
	}
	if _, err := st.Load(ctx, o.ID()); err != nil {
		t.Errorf("Load after good batch = %v", err)
	}
}

func TestBatchErrorMaybeApplied(t *testing.T) {
	// Failures after the batch may have reached a coordinator: unknown.
	for _, err := range []error{context.DeadlineExceeded, gocql.ErrTimeoutNoResponse, gocql.ErrConnectionClosed, &gocql.RequestErrWriteTimeout{WriteType: "BATCH_LOG"}} {
		if !(&BatchError{Err: err}).MaybeApplied() {
			t.Errorf("MaybeApplied(%v) = false, want true", err)
		}
	}

	// A real refusal: consistency THREE on a one-replica keyspace is
	// Unavailable, which the coordinator reports before writing.
	env := newEnv(t)
	s, err := NewSession(context.Background(), Config{Hosts: []string{env.addr}, Consistency: "three"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := NewOrderStore(s, OrderStoreOptions{Keyspace: testKeyspace})
	o, created := newOrder(t)
	err = st.Save(context.Background(), o, created)
	var be *BatchError
	var ue *gocql.RequestErrUnavailable
	if !errors.As(err, &be) || !errors.As(err, &ue) {
		t.Fatalf("Save at THREE = %v, want *BatchError wrapping Unavailable", err)
	}
	if be.MaybeApplied() {
		t.Errorf("MaybeApplied(%v) = true, want false", err)
	}
	if !strings.Contains(err.Error(), o.ID().String()) {
		t.Errorf("error %q does not name the order", err)
	}
}

func TestBucketOf(t *testing.T) {
	tests := []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(59, 999), 0},
		{time.Unix(60, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-60, 0), -1},
		{time.Date(2025, 1, 1, 0, 0, 30, 0, time.FixedZone("X", 7200)), time.Date(2024, 12, 31, 22, 0, 0, 0, time.UTC).Unix() / 60},
	}
	for _, tt := range tests {
		if got := BucketOf(tt.t); got != tt.want {
			t.Errorf("BucketOf(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

func TestInvalidStoreKeyspace(t *testing.T) {
	st := NewOrderStore(gocqlx.Session{}, OrderStoreOptions{Keyspace: "Bad-Name"})
	ctx := context.Background()
	for name, err := range map[string]error{
		"Load":    func() error { _, err := st.Load(ctx, uuid.New()); return err }(),
		"Save":    st.Save(ctx, nil),
		"Acquire": st.AcquireLease(ctx, uuid.New(), "a", time.Second),
		"Renew":   st.RenewLease(ctx, uuid.New(), "a", time.Second),
		"Release": st.ReleaseLease(ctx, uuid.New(), "a"),
	} {
		if err == nil || !strings.Contains(err.Error(), "OrderStoreOptions.Keyspace") {
			t.Errorf("%s = %v, want the keyspace error", name, err)
		}
	}
}

// A batch held up in the network beyond its timeout and applied after a
// later version of the order must not roll the order row back: the row
// keeps the writer's (monotonic) timestamp while the outbox rows take the
// server's.
func TestLateBatchDoesNotRollTheOrderBack(t *testing.T) {
	env := newEnv(t)
	st := env.store()
	ctx := context.Background()
	o, created := newOrder(t)
	first, err := newOrderRow(o)
	if err != nil {
		t.Fatal(err)
	}
	firstStamp := st.nextStamp(time.Now())
	if err := st.Save(ctx, o, created); err != nil {
		t.Fatal(err)
	}
	updated, err := o.UpdateItems(items(2), t0.Add(time.Second), uuid.NewV7)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, o, updated); err != nil {
		t.Fatal(err)
	}
	// The first version's batch arrives now, with the stamp it was sent with.
	if err := st.saveBatch(ctx, first, nil, firstStamp); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(ctx, o.ID())
	if err != nil || got.Version() != 2 {
		t.Fatalf("order at version %d (%v), want 2: a late batch rolled it back", got.Version(), err)
	}
}

// The order's next writer may run on a clock behind the previous one's (a
// lease handed to another process, a process restarted after its clock
// stepped back). Its save must still supersede the stored row: were it
// stamped by its own clock alone, the write would lose last-write-wins
// while its event landed, and the next load would build that version again
// under a new event id.
func TestSaveSupersedesARowStampedByAClockAhead(t *testing.T) {
	for _, skew := range []time.Duration{time.Millisecond, 30 * time.Second, time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			env := newEnv(t)
			ctx := context.Background()
			ahead := env.store(func(o *OrderStoreOptions) { o.Clock = func() time.Time { return time.Now().Add(skew) } })
			behind := env.store()
			o, created := newOrder(t)
			if err := ahead.Save(ctx, o, created); err != nil {
				t.Fatal(err)
			}
			loaded, err := behind.Load(ctx, o.ID())
			if err != nil {
				t.Fatal(err)
			}
			updated, err := loaded.UpdateItems(items(2), t0.Add(time.Second), uuid.NewV7)
			if err != nil {
				t.Fatal(err)
			}
			if err := behind.Save(ctx, loaded, updated); err != nil {
				t.Fatal(err)
			}
			got, err := ahead.Load(ctx, o.ID())
			if err != nil || got.Version() != 2 {
				t.Fatalf("order at version %d (%v), want 2: the save of a writer %s behind was lost", got.Version(), err, skew)
			}
		})
	}
}
