package actors

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/metrics"
)

func TestConcurrentCommandsOnOneOrderAreAppliedOneAtATime(t *testing.T) {
	sys, _ := newTestSystem(t)
	store := newFakeStore()
	pid := spawnOrders(t, sys, store, nil)
	id := mustCreate(t, sys, pid)

	const n = 50
	var wg sync.WaitGroup
	versions := make([]int64, n) // versions[q-2]: version the update with quantity q produced
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			q := i + 2 // distinct quantities tell the updates apart
			res, err := ask(t, sys, pid, &UpdateOrder{OrderID: id, Items: items(q)})
			if err != nil {
				errs <- err
				return
			}
			if res.Event.Sequence() != res.Order.Version || res.Order.Items[0].Quantity != q {
				t.Errorf("reply to quantity %d: event sequence %d, order %+v", q, res.Event.Sequence(), res.Order)
			}
			versions[i] = res.Order.Version
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("update: %v", err)
	}

	got := slices.Sorted(slices.Values(versions))
	for i, v := range got {
		if v != int64(i+2) {
			t.Fatalf("reply versions %v, want 2..%d each once", got, n+1)
		}
	}
	store.read(func(f *fakeStore) {
		saved := f.saved[id]
		if len(saved) != n+1 {
			t.Fatalf("%d saves, want %d", len(saved), n+1)
		}
		for i, s := range saved {
			// Apply order is version order: the i-th save carries version
			// i+1, and it is the update whose reply said so.
			if s.version != int64(i+1) || s.event.Sequence() != s.version {
				t.Fatalf("save %d has version %d, event sequence %d", i, s.version, s.event.Sequence())
			}
			if i > 0 && versions[s.quantity-2] != s.version {
				t.Errorf("save %d (quantity %d) has version %d, its reply said %d", i, s.quantity, s.version, versions[s.quantity-2])
			}
		}
		if f.orders[id].Version != n+1 {
			t.Errorf("stored version %d, want %d", f.orders[id].Version, n+1)
		}
	})
}

func TestDifferentOrdersProceedInParallel(t *testing.T) {
	sys, _ := newTestSystem(t)
	store := newFakeStore()
	const n = 50
	// Every Save blocks until n are in flight at once; were the orders
	// serialised, the first would time out after StorageTimeout instead.
	store.gate = &saveGate{want: n, open: make(chan struct{})}
	pid := spawnOrders(t, sys, store, func(c *OrderConfig) { c.StorageTimeout = 3 * time.Second })

	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			id := uuid.New()
			res, err := ask(t, sys, pid, &CreateOrder{OrderID: id, CustomerID: uuid.New(), Items: items(1)})
			if err != nil {
				t.Errorf("create %s: %v", id, err)
				return
			}
			if res.Order.ID != id || res.Order.Version != 1 || res.Event.EventType() != domain.EventTypeOrderCreated {
				t.Errorf("create %s: %+v", id, res)
			}
		})
	}
	wg.Wait()
	store.read(func(f *fakeStore) {
		if f.gate.maxSeen != n {
			t.Errorf("at most %d saves in flight at once, want %d", f.gate.maxSeen, n)
		}
	})
}

func TestCommandResults(t *testing.T) {
	sys, _ := newTestSystem(t)
	store := newFakeStore()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	pid := spawnOrders(t, sys, store, func(c *OrderConfig) { c.Clock = func() time.Time { return now } })
	existing := mustCreate(t, sys, pid)
	cancelled := mustCreate(t, sys, pid)
	if _, err := ask(t, sys, pid, &CancelOrder{OrderID: cancelled, Reason: "changed my mind"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		cmd         OrderCommand
		wantErr     error // errors.Is target; nil for success
		wantVersion int64
		wantEvent   string
	}{
		{"get", &GetOrder{OrderID: existing}, nil, 1, ""},
		{"update", &UpdateOrder{OrderID: existing, Items: items(3)}, nil, 2, domain.EventTypeOrderUpdated},
		{"create without id gets one", &CreateOrder{CustomerID: uuid.New(), Items: items(1)}, nil, 1, domain.EventTypeOrderCreated},
		{"create existing", &CreateOrder{OrderID: existing, CustomerID: uuid.New(), Items: items(1)}, ErrOrderExists, 0, ""},
		{"update missing", &UpdateOrder{OrderID: uuid.New(), Items: items(1)}, ErrOrderNotFound, 0, ""},
		{"get missing", &GetOrder{OrderID: uuid.New()}, ErrOrderNotFound, 0, ""},
		{"cancel missing", &CancelOrder{OrderID: uuid.New()}, ErrOrderNotFound, 0, ""},
		{"invalid items", &UpdateOrder{OrderID: existing, Items: items(0)}, domain.ErrInvalidQuantity, 0, ""},
		{"no customer", &CreateOrder{OrderID: uuid.New(), Items: items(1)}, domain.ErrInvalidCustomerID, 0, ""},
		{"nil order id", &UpdateOrder{Items: items(1)}, domain.ErrInvalidOrderID, 0, ""},
		{"update cancelled", &UpdateOrder{OrderID: cancelled, Items: items(1)}, domain.ErrOrderCancelled, 0, ""},
		{"cancel cancelled", &CancelOrder{OrderID: cancelled}, domain.ErrOrderCancelled, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ask(t, sys, pid, tc.cmd)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || res == nil || !errors.Is(res.Err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if res.Event != nil || res.Order.Version != 0 {
					t.Errorf("failed command returned %+v", res)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Order.Version != tc.wantVersion || res.Order.ID == uuid.Nil {
				t.Errorf("order %+v, want version %d", res.Order, tc.wantVersion)
			}
			if tc.wantEvent == "" {
				if res.Event != nil {
					t.Errorf("event %v, want none", res.Event)
				}
				return
			}
			// Time comes from the injected clock, event ids are UUIDv7.
			if ev := res.Event; ev == nil || ev.EventType() != tc.wantEvent || !ev.OccurredAt().Equal(now) ||
				ev.EventID().Version() != 7 || !res.Order.UpdatedAt.Equal(now) {
				t.Errorf("event %v, order %+v, want %s at %v", ev, res.Order, tc.wantEvent, now)
			}
		})
	}
}

func TestIdleChildReleasesLeaseAndStops(t *testing.T) {
	sys, _ := newTestSystem(t)
	store := newFakeStore()
	// Renewal ticks (every 200 ms) come more often than the idle timeout:
	// they must not keep the child alive.
	pid := spawnOrders(t, sys, store, func(c *OrderConfig) {
		c.LeaseTTL = 600 * time.Millisecond
		c.StorageTimeout = 100 * time.Millisecond
		c.IdleTimeout = 500 * time.Millisecond
	})
	id := mustCreate(t, sys, pid)
	began := time.Now()

	waitFor(t, "the idle child to release its lease", func() bool { return store.count(releases, id) == 1 })
	waitFor(t, "the idle child to stop", func() bool { return !childAlive(sys, id) })
	if idle := time.Since(began); idle < 400*time.Millisecond {
		t.Errorf("child stopped after %v, before its idle timeout", idle)
	}
	store.read(func(f *fakeStore) {
		if _, held := f.leases[id]; held {
			t.Error("lease still held")
		}
		if f.renews[id] == 0 {
			t.Error("lease never renewed while the child lived")
		}
	})

	// A later command gets a fresh child that takes the lease again.
	res, err := ask(t, sys, pid, &GetOrder{OrderID: id})
	if err != nil || res.Order.Version != 1 {
		t.Fatalf("get after idle stop: %+v, %v", res, err)
	}
	if n := store.count(acquires, id); n != 2 {
		t.Errorf("%d lease acquisitions, want 2", n)
	}
}

func TestLeaseHeldByAnotherOwnerIsAConflict(t *testing.T) {
	tests := []struct {
		name string
		cmd  func(id uuid.UUID) OrderCommand
	}{
		{"create", func(id uuid.UUID) OrderCommand {
			return &CreateOrder{OrderID: id, CustomerID: uuid.New(), Items: items(1)}
		}},
		{"update", func(id uuid.UUID) OrderCommand { return &UpdateOrder{OrderID: id, Items: items(1)} }},
		{"cancel", func(id uuid.UUID) OrderCommand { return &CancelOrder{OrderID: id} }},
		{"get", func(id uuid.UUID) OrderCommand { return &GetOrder{OrderID: id} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := newTestSystem(t)
			store := newFakeStore()
			pid := spawnOrders(t, sys, store, nil)
			id := uuid.New()
			store.read(func(f *fakeStore) { f.leases[id] = "other-process" })

			_, err := ask(t, sys, pid, tc.cmd(id))
			var conflict *ConflictError
			var held *fakeLeaseHeldError
			if !errors.As(err, &conflict) || !errors.Is(err, ErrOrderBusy) || !errors.As(err, &held) ||
				conflict.OrderID != id || held.holder != "other-process" {
				t.Fatalf("err = %v, want a ConflictError wrapping the holder's lease error", err)
			}
			waitFor(t, "the refused child to stop", func() bool { return !childAlive(sys, id) })
			store.read(func(f *fakeStore) {
				if f.releases[id] != 0 || f.leases[id] != "other-process" {
					t.Errorf("child released a lease it never held (releases %d, holder %q)", f.releases[id], f.leases[id])
				}
			})

			// Once the other owner lets go, the order is ours to serve.
			store.read(func(f *fakeStore) { delete(f.leases, id) })
			if _, err := ask(t, sys, pid, &GetOrder{OrderID: id}); !errors.Is(err, ErrOrderNotFound) {
				t.Errorf("get after release: %v, want ErrOrderNotFound", err)
			}
		})
	}
}

func TestLeaseRenewalAndLoss(t *testing.T) {
	tests := []struct {
		name        string
		fault       func(f *fakeStore, id uuid.UUID)
		wantCause   string
		wantRelease int // a child that may still hold the lease releases it
	}{
		{"lease taken over", func(f *fakeStore, id uuid.UUID) { f.leases[id] = "thief" }, "fake: lease lost", 0},
		{"renewals fail until expiry", func(f *fakeStore, _ uuid.UUID) { f.renewErr = errors.New("unavailable") }, "lease expiring after failed renewals", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := newTestSystem(t)
			core, logs := observerCore()
			store := newFakeStore()
			pid := spawnOrders(t, sys, store, func(c *OrderConfig) {
				c.LeaseTTL = 300 * time.Millisecond // renewed every 100 ms
				c.StorageTimeout = 100 * time.Millisecond
				c.Logger = zap.New(core)
			})
			id := mustCreate(t, sys, pid)
			waitFor(t, "three renewals", func() bool { return store.count(renews, id) >= 3 })
			if !childAlive(sys, id) {
				t.Fatal("renewing child stopped")
			}

			store.read(func(f *fakeStore) { tc.fault(f, id) })
			waitFor(t, "the child to stop after losing its lease", func() bool { return !childAlive(sys, id) })
			lost := logs.FilterMessage("order lease lost; refusing commands and stopping").All()
			if len(lost) != 1 || !strings.Contains(lost[0].ContextMap()["error"].(string), tc.wantCause) ||
				lost[0].ContextMap()["order_id"] != id.String() {
				t.Errorf("lease-lost log lines: %v", lost)
			}
			if n := store.count(releases, id); n != tc.wantRelease {
				t.Errorf("%d releases, want %d", n, tc.wantRelease)
			}
		})
	}
}

func TestShutdownDrainsQueuedCommands(t *testing.T) {
	core, _ := observerCore()
	sys := NewSystem(zap.New(core))
	store := newFakeStore()
	pid := spawnOrders(t, sys, store, nil)
	id := mustCreate(t, sys, pid)

	// Hold the child inside a Save so that the next commands queue up in
	// its mailbox; stopping it outright would discard them. The requests
	// are enqueued before Shutdown starts, so the drain comes after them.
	block := make(chan struct{})
	store.read(func(f *fakeStore) { f.saveBlock = block })
	const n = 5
	futures := make([]*actor.Future, n)
	for i := range futures {
		futures[i] = sys.Root().RequestFuture(pid, &UpdateOrder{OrderID: id, Items: items(i + 2)}, 10*time.Second)
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- sys.Shutdown(context.Background()) }()
	close(block)
	for i, f := range futures {
		res, err := f.Result()
		if err != nil {
			t.Fatalf("queued update %d: %v", i, err)
		}
		if r := res.(*OrderResult); r.Err != nil || r.Order.Version != int64(i+2) {
			t.Errorf("queued update %d: %+v", i, r)
		}
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	store.read(func(f *fakeStore) {
		if f.orders[id].Version != n+1 || f.releases[id] != 1 {
			t.Errorf("after shutdown: version %d, releases %d", f.orders[id].Version, f.releases[id])
		}
	})
	if _, err := sys.Spawn(nil, "late"); !errors.Is(err, ErrSystemStopped) {
		t.Errorf("spawn after shutdown: %v", err)
	}
}

func TestResultLabel(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, metrics.ResultOK},
		{&ConflictError{Err: errors.New("held")}, metrics.ResultConflict},
		{&domain.ValidationError{Field: "items", Err: domain.ErrNoItems}, metrics.ResultInvalid},
		{domain.ErrOrderCancelled, metrics.ResultCancelled},
		{ErrOrderNotFound, metrics.ResultNotFound},
		{ErrOrderExists, metrics.ResultExists},
		{errors.New("timeout"), metrics.ResultError},
	}
	for _, tc := range tests {
		if got := resultLabel(tc.err); got != tc.want {
			t.Errorf("resultLabel(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestNewOrderPropsValidates(t *testing.T) {
	valid := func() OrderConfig {
		c := OrderConfig{Store: newFakeStore()}
		newFakeStore().classifiers(&c)
		return c
	}
	tests := []struct {
		name string
		edit func(*OrderConfig)
		ok   bool
	}{
		{"defaults", func(*OrderConfig) {}, true},
		{"no store", func(c *OrderConfig) { c.Store = nil }, false},
		{"no classifier", func(c *OrderConfig) { c.IsLeaseLost = nil }, false},
		{"negative ttl", func(c *OrderConfig) { c.LeaseTTL = -time.Second }, false},
		{"storage timeout too long for ttl", func(c *OrderConfig) { c.LeaseTTL, c.StorageTimeout = 10*time.Second, 5*time.Second }, false},
		{"storage timeout just fits", func(c *OrderConfig) { c.LeaseTTL, c.StorageTimeout = 10*time.Second, 4*time.Second }, true},
	}
	for _, tc := range tests {
		c := valid()
		tc.edit(&c)
		if _, err := NewOrderProps(c); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
