package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gocql/gocql"
	"github.com/google/uuid"
	"go.uber.org/zap/zaptest"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
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
	return startOrderProcessOn(t, addr, owner, nil)
}

// startOrderProcessOn is startOrderProcess with the order actor's store
// wrapped by wrap, if set.
func startOrderProcessOn(t *testing.T, addr, owner string, wrap func(*storage.OrderStore) actors.OrderStore) *orderProcess {
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
	if wrap != nil {
		cfg.Store = wrap(store)
	}
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
		if err := sys.Shutdown(ctx); err != nil {
			t.Errorf("shut down the actor system: %v", err)
		}
	})
	return &orderProcess{sys: sys, pid: pid, store: store}
}

func startDatabase(t *testing.T) string {
	t.Helper()
	return outboxtest.StartDB(t).Addr
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

// faultyStore fails the first Save of each scripted version with the
// script's error, after applying it or without.
type faultyStore struct {
	*storage.OrderStore
	mu     sync.Mutex
	faults map[int64]saveFault
}

type saveFault struct {
	applied bool
	err     error
}

func (s *faultyStore) Save(ctx context.Context, o *domain.Order, events ...domain.DomainEvent) error {
	s.mu.Lock()
	f, scripted := s.faults[o.Version()]
	delete(s.faults, o.Version())
	s.mu.Unlock()
	if !scripted {
		return s.OrderStore.Save(ctx, o, events...)
	}
	if f.applied {
		if err := s.OrderStore.Save(ctx, o, events...); err != nil {
			return err
		}
	}
	return &storage.BatchError{OrderID: o.ID(), Version: o.Version(), Events: len(events), Err: f.err}
}

// unavailableError is the coordinator's refusal for lack of replicas,
// which it answers before writing anything.
type unavailableError struct{}

func (unavailableError) Code() int       { return gocql.ErrCodeUnavailable }
func (unavailableError) Message() string { return "cannot achieve consistency level" }
func (unavailableError) Error() string   { return "unavailable: cannot achieve consistency level" }

// A save that timed out is settled by the order's child: read back and, if
// it did not land, sent again with the same event. The command succeeds,
// and the outbox holds one event per sequence, the one the reply named. A
// save the database refused is not settled: the command fails and the next
// one takes its version.
func TestFailedSaveLeavesOneEventPerSequence(t *testing.T) {
	tests := []struct {
		name    string
		fault   saveFault
		refused bool
	}{
		{"timed out after it was applied", saveFault{applied: true, err: gocql.ErrTimeoutNoResponse}, false},
		{"timed out before it was applied", saveFault{err: gocql.ErrTimeoutNoResponse}, false},
		{"refused", saveFault{err: unavailableError{}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := startDatabase(t)
			p := startOrderProcessOn(t, addr, "process-a", func(s *storage.OrderStore) actors.OrderStore {
				return &faultyStore{OrderStore: s, faults: map[int64]saveFault{2: tc.fault}}
			})
			created, err := p.ask(t, &actors.CreateOrder{CustomerID: uuid.New(), Items: oneItem})
			if err != nil {
				t.Fatal(err)
			}
			id := created.Order.ID
			replies := map[int64]uuid.UUID{1: created.Event.EventID()}
			for i, q := range []int{2, 3} {
				items := []domain.Item{{ProductID: "sku-1", Quantity: q, UnitPrice: domain.Money{Minor: 250, Currency: "EUR"}}}
				res, err := p.ask(t, &actors.UpdateOrder{OrderID: id, Items: items})
				if i == 0 && tc.refused {
					var be *storage.BatchError
					if !errors.As(err, &be) || errors.Is(err, actors.ErrSaveAmbiguous) {
						t.Fatalf("update to quantity %d: %v, want the refusal", q, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("update to quantity %d: %v", q, err)
				}
				replies[res.Event.Sequence()] = res.Event.EventID()
			}
			want := int64(3)
			if tc.refused {
				want = 2
			}
			if len(replies) != int(want) {
				t.Fatalf("replies %v, want sequences 1..%d", replies, want)
			}

			s, err := storage.NewSession(context.Background(), storage.Config{Hosts: []string{addr}, Consistency: "ONE"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, table := range []string{"outbox.outbox_by_bucket", "outbox.outbox_messages_scylla_cdc_log"} {
				iter := s.Query(`SELECT aggregate_id, sequence, event_id FROM `+table, nil).Iter()
				var agg, ev uuid.UUID
				var seq int64
				rows := 0
				for iter.Scan(&agg, &seq, &ev) {
					if agg != id {
						continue
					}
					rows++
					if replies[seq] != ev {
						t.Errorf("%s: sequence %d stored as event %s, the reply named %s", table, seq, ev, replies[seq])
					}
				}
				if err := iter.Close(); err != nil {
					t.Fatal(err)
				}
				if rows != int(want) {
					t.Errorf("%s: %d rows, want one per sequence 1..%d", table, rows, want)
				}
			}
			stored, err := p.store.Load(context.Background(), id)
			if err != nil || stored.Version() != want || stored.Items()[0].Quantity != 3 {
				t.Errorf("stored order %+v, %v; want version %d with quantity 3", stored, err, want)
			}
		})
	}
}
