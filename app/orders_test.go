package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/zap/zaptest"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// orderProcess is one application process: its own session, actor system
// and lease owner, on a shared database.
type orderProcess struct {
	sys   *actors.System
	pid   *actor.PID
	store *storage.OrderStore
}

func startOrderProcess(t *testing.T, addr, owner string) *orderProcess {
	t.Helper()
	ctx := context.Background()
	s, err := storage.NewSession(ctx, storage.Config{Hosts: []string{addr}, Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	store := storage.NewOrderStore(s, storage.OrderStoreOptions{Keyspace: "outbox"})
	sys := actors.NewSystem(zaptest.NewLogger(t))
	cfg := OrderActorConfig(store)
	cfg.Owner = owner
	props, err := actors.NewOrderProps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := sys.Spawn(props, "orders", actors.Drainable())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sys.Shutdown(ctx)
	})
	return &orderProcess{sys: sys, pid: pid, store: store}
}

func startDatabase(t *testing.T) string {
	t.Helper()
	srv, err := scyllaemu.Start(context.Background(), scyllaemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s, err := storage.NewSession(context.Background(), storage.Config{Hosts: []string{srv.Addr()}, Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := schema.Apply(context.Background(), s.Session, schema.Options{Keyspace: "outbox"}); err != nil {
		t.Fatal(err)
	}
	return srv.Addr()
}

func (p *orderProcess) ask(t *testing.T, cmd actors.OrderCommand) (*actors.OrderResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return actors.AskOrder(ctx, p.sys.Root(), p.pid, cmd)
}

var oneItem = []domain.Item{{ProductID: "sku-1", Quantity: 1, UnitPrice: domain.Money{Minor: 250, Currency: "EUR"}}}

// 50 concurrent updates of one order through the real store produce
// versions 1..51, each stored with exactly one outbox event.
func TestConcurrentUpdatesOfOneOrderAreSerialised(t *testing.T) {
	addr := startDatabase(t)
	p := startOrderProcess(t, addr, "process-a")
	created, err := p.ask(t, &actors.CreateOrder{CustomerID: uuid.New(), Items: oneItem})
	if err != nil {
		t.Fatal(err)
	}
	id := created.Order.ID
	var wg sync.WaitGroup
	versions := make(chan int64, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(q int) {
			defer wg.Done()
			items := []domain.Item{{ProductID: "sku-1", Quantity: q + 1, UnitPrice: domain.Money{Minor: 250, Currency: "EUR"}}}
			res, err := p.ask(t, &actors.UpdateOrder{OrderID: id, Items: items})
			if err != nil {
				t.Error(err)
				return
			}
			if res.Event.Sequence() != res.Order.Version {
				t.Errorf("event sequence %d for version %d", res.Event.Sequence(), res.Order.Version)
			}
			versions <- res.Order.Version
		}(i)
	}
	wg.Wait()
	close(versions)
	seen := map[int64]bool{}
	for v := range versions {
		if seen[v] {
			t.Fatalf("version %d assigned twice", v)
		}
		seen[v] = true
	}
	for v := int64(2); v <= 51; v++ {
		if !seen[v] {
			t.Fatalf("version %d missing", v)
		}
	}
	stored, err := p.store.Load(context.Background(), id)
	if err != nil || stored.Version() != 51 {
		t.Fatalf("stored version %v, err %v", stored, err)
	}
}

// 50 orders created at once on the real store each get their own child and
// version 1. (That their saves really overlap is proved in package actors
// with a store that blocks until 50 saves are in flight together.)
func TestDifferentOrdersProceedIndependently(t *testing.T) {
	addr := startDatabase(t)
	p := startOrderProcess(t, addr, "process-a")
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := p.ask(t, &actors.CreateOrder{CustomerID: uuid.New(), Items: oneItem})
			if err != nil || res.Order.Version != 1 {
				t.Errorf("create: %v %v", res, err)
			}
		}()
	}
	wg.Wait()
}

// Two processes writing one order: the lease makes the second one's
// commands fail with a conflict the caller can branch on, and no version is
// written twice.
func TestSecondProcessGetsAConflict(t *testing.T) {
	addr := startDatabase(t)
	a := startOrderProcess(t, addr, "process-a")
	b := startOrderProcess(t, addr, "process-b")
	created, err := a.ask(t, &actors.CreateOrder{CustomerID: uuid.New(), Items: oneItem})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.ask(t, &actors.UpdateOrder{OrderID: created.Order.ID, Items: oneItem})
	var conflict *actors.ConflictError
	if !errors.Is(err, actors.ErrOrderBusy) || !errors.As(err, &conflict) {
		t.Fatalf("second process: want a conflict, got %v", err)
	}
	var held *storage.LeaseHeldError
	if !errors.As(err, &held) || held.Owner != "process-a" {
		t.Fatalf("the conflict must name the owner, got %v", err)
	}
	if _, err := a.ask(t, &actors.UpdateOrder{OrderID: created.Order.ID, Items: oneItem}); err != nil {
		t.Fatalf("the owner keeps writing: %v", err)
	}
}
