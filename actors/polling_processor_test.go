package actors

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gocql/gocql"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/polling"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// pollingRig is the embedded stack under a polling processor: the real
// stores and publisher, with counters around them.
type pollingRig struct {
	db     *outboxtest.DB
	broker *kafkaemu.Broker
	orders *storage.OrderStore
	store  *countingPollingStore
	start  time.Time
}

func newPollingRig(t *testing.T) *pollingRig {
	t.Helper()
	db := outboxtest.StartDB(t)
	return &pollingRig{db: db,
		broker: outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{"outbox.event.Order"}}),
		orders: storage.NewOrderStore(db.Session, storage.OrderStoreOptions{Keyspace: db.Keyspace}),
		store:  &countingPollingStore{PollingStore: storage.NewPollingStore(db.Session, db.Keyspace)},
		start:  time.Now().Add(-time.Second)}
}

// write saves n new orders, one event each, and returns their event ids.
func (r *pollingRig) write(t *testing.T, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		o, created, err := domain.NewOrder(uuid.New(), uuid.New(), items(1), time.Now(), uuid.NewV7)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.orders.Save(context.Background(), o, created); err != nil {
			t.Fatal(err)
		}
		ids[i] = created.EventID()
	}
	return ids
}

// writeAt inserts n events committed at at (a millisecond apart), as the
// order store would have, and returns their ids.
func (r *pollingRig) writeAt(t *testing.T, at time.Time, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
		committed := at.Add(time.Duration(i) * time.Millisecond)
		err := r.db.Session.Query(`INSERT INTO `+r.db.Keyspace+`.outbox_by_bucket (bucket, committed_at, event_id, aggregate_id, sequence, aggregate_type, event_type, payload, content_type, occurred_at) VALUES (?, ?, ?, ?, 1, 'Order', 'OrderCreated', 0x7b7d, 'application/json', ?)`, nil).
			Bind(storage.BucketOf(committed), gocql.MinTimeUUID(committed), ids[i], uuid.New(), committed).ExecRelease()
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// run spawns a polling processor of the relay name that polls only when
// the test sends it a tick, and waits until it has loaded its cursor.
func (r *pollingRig) run(t *testing.T, sys *System, name string, src PollingSource, maxInFlight int) (*actor.PID, *countingPublisher) {
	t.Helper()
	pub, err := messaging.NewPublisher(messaging.Config{Brokers: r.broker.Brokers(), Timeout: 2 * time.Second}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	counted := &countingPublisher{Publisher: pub, acked: map[uuid.UUID]int{}}
	run := uuid.NewString()
	dlq, err := sys.Spawn(actor.PropsFromFunc(func(actor.Context) {}), "dlq-"+run)
	if err != nil {
		t.Fatal(err)
	}
	src.Store, src.Name, src.StartFrom = r.store, name, r.start
	src.Interval = time.Hour
	props, err := NewPollingProcessorProps(ProcessorConfig{Publisher: counted, DLQ: dlq,
		DeadLetters: storage.NewDeadLetterStore(r.db.Session, r.db.Keyspace), MaxInFlight: maxInFlight}, src)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := sys.Spawn(props, "polling-"+run)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cursor to load", func() bool {
		res, err := sys.Root().RequestFuture(pid, &GetProcessorStatus{}, time.Second).Result()
		return err == nil && res.(*ProcessorStatus).Reading
	})
	return pid, counted
}

// A backlog larger than a poll's limit drains from a single tick: a poll
// that stopped at its limit is followed by the next as soon as there is
// room. A relay name no run has marked anything for looks up the minutes
// of its pre-start rows, and no row.
func TestPollingProcessorDrainsABacklogFromOneTick(t *testing.T) {
	r := newPollingRig(t)
	ids := r.write(t, 60)
	sys, _ := newTestSystem(t)
	pid, pub := r.run(t, sys, "drain", PollingSource{Progress: &memoryCursor{}, Batch: 7, SafetyWindow: time.Second}, 10)
	sys.Root().Send(pid, &pollTick{})
	waitFor(t, "every event published", func() bool { return pub.published(ids) == len(ids) })
	if got := r.store.lookups(); got.rows != 0 || got.minutes == 0 {
		t.Fatalf("%d rows and %d minute lookups, want no row and some minutes looked up", got.rows, got.minutes)
	}
}

// A relay restarted with a window that re-reads everything a previous run
// published publishes none of it again: the previous run recorded its
// minutes, then its marks. Another relay name publishes all of it, having
// looked no row up.
func TestPollingProcessorRestartSkipsWhatAPreviousRunFinished(t *testing.T) {
	r := newPollingRig(t)
	old := r.write(t, 30)
	sys, _ := newTestSystem(t)
	first, pub := r.run(t, sys, "relay", PollingSource{Progress: &memoryCursor{}, SafetyWindow: time.Second}, 100)
	sys.Root().Send(first, &pollTick{})
	waitFor(t, "the first run to publish", func() bool { return pub.published(old) == len(old) })
	// Stopping saves the cursor and records the finished events.
	if err := sys.Root().StopFuture(first).Wait(); err != nil {
		t.Fatal(err)
	}
	fresh := r.write(t, 1)
	cases := []struct {
		relay     string
		want      []uuid.UUID // published by the second run
		wantNot   []uuid.UUID
		wantLooks bool // rows looked up in relay_finished
	}{
		{"relay", fresh, old, true},
		{"other", append(append([]uuid.UUID{}, old...), fresh...), nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.relay, func(t *testing.T) {
			before := r.store.lookups()
			// A window of an hour re-reads everything from the start.
			pid, pub := r.run(t, sys, tc.relay, PollingSource{Progress: &memoryCursor{}, SafetyWindow: time.Hour}, 100)
			sys.Root().Send(pid, &pollTick{})
			waitFor(t, "the fresh event published", func() bool { return pub.published(tc.want) == len(tc.want) })
			waitFor(t, "nothing in flight", func() bool {
				res, err := sys.Root().RequestFuture(pid, &GetProcessorStatus{}, time.Second).Result()
				return err == nil && res.(*ProcessorStatus).InFlight == 0
			})
			if n := pub.published(tc.wantNot); n != 0 {
				t.Fatalf("%d events a previous run finished published again", n)
			}
			if looked := r.store.lookups().rows > before.rows; looked != tc.wantLooks {
				t.Fatalf("rows looked up: %v, want %v", looked, tc.wantLooks)
			}
		})
	}
}

// A relay upgraded from a version that marked events finished without
// recording their minutes (a saved cursor, MinutesKept not recorded)
// checks every row committed before its start against the marks, records
// the minutes of those it finds, and records minutes as kept once its
// cursor has passed its start; the run after it trusts the minutes and
// publishes none of the old version's events either, though they lie in a
// minute in which the new version itself finished nothing.
func TestPollingProcessorAfterAVersionWithoutMinutes(t *testing.T) {
	r := newPollingRig(t)
	ctx := context.Background()
	oldAt := time.Now().Add(-3 * time.Minute)
	old := r.writeAt(t, oldAt, 20)
	// The old version published them and marked them, and nothing else.
	if err := r.store.MarkFinished(ctx, "relay", old...); err != nil {
		t.Fatal(err)
	}
	saved := &memoryCursor{at: oldAt.Add(-time.Second)}
	sys, _ := newTestSystem(t)
	for run := range 2 {
		fresh := r.write(t, 1)
		before := r.store.lookups()
		// A window of an hour re-reads everything from the start.
		pid, pub := r.run(t, sys, "relay", PollingSource{Progress: saved, SafetyWindow: time.Hour}, 100)
		sys.Root().Send(pid, &pollTick{})
		waitFor(t, "the fresh event published", func() bool { return pub.published(fresh) == 1 })
		waitFor(t, "minutes kept", func() bool {
			kept, err := r.store.MinutesKept(ctx, "relay")
			return err == nil && kept
		})
		if err := sys.Root().StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
		if n := pub.published(old); n != 0 {
			t.Fatalf("run %d: %d events the old version finished published again", run, n)
		}
		if got := r.store.lookups(); got.rows-before.rows < len(old) {
			t.Fatalf("run %d: %d rows looked up, want at least the %d the old version finished", run, got.rows-before.rows, len(old))
		}
	}
}

// countingPollingStore counts the lookups of what previous runs finished.
type countingPollingStore struct {
	*storage.PollingStore
	mu            sync.Mutex
	rows, minutes int
}

type lookupCount struct{ rows, minutes int }

func (s *countingPollingStore) lookups() lookupCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	return lookupCount{s.rows, s.minutes}
}

func (s *countingPollingStore) Finished(ctx context.Context, name string, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	s.mu.Lock()
	s.rows += len(ids)
	s.mu.Unlock()
	return s.PollingStore.Finished(ctx, name, ids)
}

func (s *countingPollingStore) MarkedMinutes(ctx context.Context, name string, ms []polling.Minute) (map[polling.Minute]bool, error) {
	s.mu.Lock()
	s.minutes += len(ms)
	s.mu.Unlock()
	return s.PollingStore.MarkedMinutes(ctx, name, ms)
}

// countingPublisher counts the broker's acknowledgements per event.
type countingPublisher struct {
	*messaging.Publisher
	mu    sync.Mutex
	acked map[uuid.UUID]int
}

func (p *countingPublisher) Publish(rec outbox.Record, done func(error)) {
	p.Publisher.Publish(rec, func(err error) {
		if err == nil {
			p.mu.Lock()
			p.acked[rec.EventID]++
			p.mu.Unlock()
		}
		done(err)
	})
}

// published is how many of ids the broker acknowledged.
func (p *countingPublisher) published(ids []uuid.UUID) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, id := range ids {
		if p.acked[id] > 0 {
			n++
		}
	}
	return n
}

// memoryCursor is a CursorStore in memory: the fencing of the relay's
// store is not what these tests are about.
type memoryCursor struct {
	mu sync.Mutex
	at time.Time
}

func (c *memoryCursor) Cursor(context.Context) (time.Time, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at, !c.at.IsZero(), nil
}

func (c *memoryCursor) SaveCursor(_ context.Context, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = at
	return nil
}
