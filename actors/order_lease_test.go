package actors

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
)

// fakeClock moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// timedStore is a fakeStore whose calls take fake time and whose leases
// expire in fake time, so that a test can tell whether every save landed
// while its writer still held the lease.
type timedStore struct {
	*fakeStore
	clock *fakeClock
	// saveTakes is how long every Save takes.
	saveTakes time.Duration
	// loadSteps script the next Loads: each takes its time, then fails
	// with its error if set.
	loadSteps []loadStep

	mu       sync.Mutex
	expiry   map[uuid.UUID]time.Time
	unleased []int64 // versions saved after the lease had expired
}

type loadStep struct {
	takes time.Duration
	err   error
}

func newTimedStore(clock *fakeClock) *timedStore {
	return &timedStore{fakeStore: newFakeStore(), clock: clock, expiry: map[uuid.UUID]time.Time{}}
}

// use makes the order actor run on s and on s's clock.
func (s *timedStore) use(c *OrderConfig) {
	c.Store = s
	c.leaseClock = s.clock.now
}

// expire drops a lease whose time is up, as the database's TTL does.
func (s *timedStore) expire(id uuid.UUID) {
	s.mu.Lock()
	expired := !s.clock.now().Before(s.expiry[id])
	s.mu.Unlock()
	if expired {
		s.read(func(f *fakeStore) { delete(f.leases, id) })
	}
}

func (s *timedStore) leased(id uuid.UUID, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiry[id] = s.clock.now().Add(ttl)
}

func (s *timedStore) AcquireLease(ctx context.Context, id uuid.UUID, owner string, ttl time.Duration) error {
	s.expire(id)
	if err := s.fakeStore.AcquireLease(ctx, id, owner, ttl); err != nil {
		return err
	}
	s.leased(id, ttl)
	return nil
}

func (s *timedStore) RenewLease(ctx context.Context, id uuid.UUID, owner string, ttl time.Duration) error {
	s.expire(id)
	if err := s.fakeStore.RenewLease(ctx, id, owner, ttl); err != nil {
		return err
	}
	s.leased(id, ttl)
	return nil
}

func (s *timedStore) Load(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
	s.mu.Lock()
	var step loadStep
	if len(s.loadSteps) > 0 {
		step, s.loadSteps = s.loadSteps[0], s.loadSteps[1:]
	}
	s.mu.Unlock()
	s.clock.advance(step.takes)
	if step.err != nil {
		return nil, step.err
	}
	return s.fakeStore.Load(ctx, id)
}

func (s *timedStore) Save(ctx context.Context, o *domain.Order, events ...domain.DomainEvent) error {
	s.clock.advance(s.saveTakes)
	s.expire(o.ID())
	var held bool
	s.read(func(f *fakeStore) { _, held = f.leases[o.ID()] })
	if !held {
		s.mu.Lock()
		s.unleased = append(s.unleased, o.Version())
		s.mu.Unlock()
	}
	return s.fakeStore.Save(ctx, o, events...)
}

// A backlog of commands whose saves together take three lease TTLs: the
// child renews its lease between them instead of waiting for renewal ticks
// queued behind the backlog, so no command is refused and the lease is
// never lost. Storage time is fake, so the renewal ticks of real time play
// no part.
func TestLeaseSurvivesABacklogOfSlowSaves(t *testing.T) {
	sys, _ := newTestSystem(t)
	store := newTimedStore(newFakeClock())
	store.saveTakes = time.Second
	const ttl = 10 * time.Second
	pid := spawnOrders(t, sys, store.fakeStore, func(c *OrderConfig) {
		store.use(c)
		c.LeaseTTL, c.StorageTimeout = ttl, 2*time.Second
	})
	id := mustCreate(t, sys, pid)

	// The first update's save waits until every update is queued, so they
	// form a backlog in the child's mailbox.
	block := make(chan struct{})
	store.read(func(f *fakeStore) { f.saveBlock = block })
	const n = 30
	futures := make([]*actor.Future, n)
	for i := range futures {
		futures[i] = sys.Root().RequestFuture(pid, &UpdateOrder{OrderID: id, Items: items(i + 2)}, 10*time.Second)
	}
	close(block)
	for i, f := range futures {
		res, err := f.Result()
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if r := res.(*OrderResult); r.Err != nil || r.Order.Version != int64(i+2) {
			t.Fatalf("update %d: version %d, err %v", i, r.Order.Version, r.Err)
		}
	}

	store.expire(id)
	store.read(func(f *fakeStore) {
		if f.leases[id] != "test-process" {
			t.Errorf("lease holder %q after the backlog, want test-process", f.leases[id])
		}
		if got := f.orders[id].Version; got != n+1 {
			t.Errorf("stored version %d, want %d", got, n+1)
		}
		if f.renews[id] < n/int(ttl/time.Second) {
			t.Errorf("%d renewals during %d s of saves with a %v lease", f.renews[id], n, ttl)
		}
	})
	if len(store.unleased) != 0 {
		t.Errorf("versions %v saved without a lease", store.unleased)
	}
	if !childAlive(sys, id) {
		t.Error("child stopped")
	}
}

// The lease is checked right before the save, after the load the command
// needed: a load slow enough to leave less than a storage call of lease
// must not be followed by a write, unless a renewal extends the lease.
func TestLeaseIsCheckedRightBeforeTheSave(t *testing.T) {
	tests := []struct {
		name     string
		renewErr error
		wantErr  bool
	}{
		{"renewal extends the lease", nil, false},
		{"renewals fail", errors.New("unavailable"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := newTestSystem(t)
			store := newTimedStore(newFakeClock())
			id := uuid.New()
			o, _, err := domain.NewOrder(id, uuid.New(), items(1), time.Now(), domain.NewUUIDv7Generator())
			if err != nil {
				t.Fatal(err)
			}
			// The child's load when it starts fails, so the command loads
			// again; that load takes 8.5 s of a 10 s lease, and a storage
			// call may take 2 s.
			store.read(func(f *fakeStore) { f.orders[id] = o.State(); f.renewErr = tc.renewErr })
			store.loadSteps = []loadStep{{err: errors.New("timeout")}, {takes: 8500 * time.Millisecond}}
			pid := spawnOrders(t, sys, store.fakeStore, func(c *OrderConfig) {
				store.use(c)
				c.LeaseTTL, c.StorageTimeout = 10*time.Second, 2*time.Second
			})

			res, err := ask(t, sys, pid, &UpdateOrder{OrderID: id, Items: items(2)})
			var saved int
			store.read(func(f *fakeStore) { saved = len(f.saved[id]) })
			if !tc.wantErr {
				if err != nil || res.Order.Version != 2 || saved != 1 {
					t.Fatalf("update: %+v, %v; %d saves, want version 2 saved", res, err, saved)
				}
				return
			}
			var conflict *ConflictError
			if !errors.As(err, &conflict) || saved != 0 {
				t.Fatalf("update: %v, %d saves; want a ConflictError and no save", err, saved)
			}
		})
	}
}
