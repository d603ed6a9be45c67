package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
)

// The fake's errors stand in for storage.ErrNotFound, *storage.LeaseHeldError
// and storage.ErrLeaseLost.
var (
	errFakeNotFound  = errors.New("fake: not found")
	errFakeLeaseLost = errors.New("fake: lease lost")
)

type fakeLeaseHeldError struct{ holder string }

func (e *fakeLeaseHeldError) Error() string { return "fake: lease held by " + e.holder }

// fakeStore is an in-memory OrderStore with the optimistic version check a
// real store makes, call counters, and hooks for fault injection.
type fakeStore struct {
	mu       sync.Mutex
	orders   map[uuid.UUID]domain.OrderState
	leases   map[uuid.UUID]string
	saved    map[uuid.UUID][]savedEvent // per order, in the order applied
	acquires map[uuid.UUID]int
	renews   map[uuid.UUID]int
	releases map[uuid.UUID]int
	// saveErrs fail the next Saves, one error each.
	saveErrs []error
	// renewErr, when set, fails every RenewLease.
	renewErr error
	// gate, when set, holds every Save until gate.want are in flight.
	gate *saveGate
	// saveBlock, when set, holds every Save until it is closed.
	saveBlock chan struct{}
}

type savedEvent struct {
	version  int64
	quantity int
	event    domain.DomainEvent
}

type saveGate struct {
	want     int
	inFlight int
	maxSeen  int
	open     chan struct{}
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		orders:   map[uuid.UUID]domain.OrderState{},
		leases:   map[uuid.UUID]string{},
		saved:    map[uuid.UUID][]savedEvent{},
		acquires: map[uuid.UUID]int{},
		renews:   map[uuid.UUID]int{},
		releases: map[uuid.UUID]int{},
	}
}

func (f *fakeStore) classifiers(cfg *OrderConfig) {
	cfg.IsNotFound = func(err error) bool { return errors.Is(err, errFakeNotFound) }
	cfg.IsLeaseHeld = func(err error) bool { var e *fakeLeaseHeldError; return errors.As(err, &e) }
	cfg.IsLeaseLost = func(err error) bool { return errors.Is(err, errFakeLeaseLost) }
}

func (f *fakeStore) Load(_ context.Context, id uuid.UUID) (*domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.orders[id]
	if !ok {
		return nil, errFakeNotFound
	}
	return domain.Rehydrate(s)
}

func (f *fakeStore) Save(ctx context.Context, o *domain.Order, events ...domain.DomainEvent) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.saveErrs) > 0 {
		err := f.saveErrs[0]
		f.saveErrs = f.saveErrs[1:]
		return err
	}
	if got, want := f.orders[o.ID()].Version, o.Version()-1; got != want {
		return fmt.Errorf("fake: version conflict: stored %d, saving %d", got, o.Version())
	}
	if len(events) != 1 || events[0].Sequence() != o.Version() {
		return fmt.Errorf("fake: want one event with sequence %d, got %d events", o.Version(), len(events))
	}
	f.orders[o.ID()] = o.State()
	f.saved[o.ID()] = append(f.saved[o.ID()], savedEvent{o.Version(), o.Items()[0].Quantity, events[0]})
	return nil
}

func (f *fakeStore) wait(ctx context.Context) error {
	f.mu.Lock()
	g, block := f.gate, f.saveBlock
	if g != nil {
		g.inFlight++
		g.maxSeen = max(g.maxSeen, g.inFlight)
		if g.inFlight == g.want {
			close(g.open)
		}
	}
	f.mu.Unlock()
	if g != nil {
		defer func() { f.mu.Lock(); g.inFlight--; f.mu.Unlock() }()
		select {
		case <-g.open:
		case <-ctx.Done():
			return fmt.Errorf("fake: save gate: %w", ctx.Err())
		}
	}
	if block != nil {
		<-block
	}
	return nil
}

func (f *fakeStore) AcquireLease(_ context.Context, id uuid.UUID, owner string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acquires[id]++
	if h, ok := f.leases[id]; ok && h != owner {
		return &fakeLeaseHeldError{holder: h}
	}
	f.leases[id] = owner
	return nil
}

func (f *fakeStore) RenewLease(_ context.Context, id uuid.UUID, owner string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renews[id]++
	if f.renewErr != nil {
		return f.renewErr
	}
	if f.leases[id] != owner {
		return errFakeLeaseLost
	}
	return nil
}

func (f *fakeStore) ReleaseLease(_ context.Context, id uuid.UUID, owner string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases[id]++
	if f.leases[id] != owner {
		return errFakeLeaseLost
	}
	delete(f.leases, id)
	return nil
}

// read runs fn under the store's lock, for assertions.
func (f *fakeStore) read(fn func(f *fakeStore)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeStore) count(m func(f *fakeStore) map[uuid.UUID]int, id uuid.UUID) int {
	var n int
	f.read(func(f *fakeStore) { n = m(f)[id] })
	return n
}

func acquires(f *fakeStore) map[uuid.UUID]int { return f.acquires }
func renews(f *fakeStore) map[uuid.UUID]int   { return f.renews }
func releases(f *fakeStore) map[uuid.UUID]int { return f.releases }
