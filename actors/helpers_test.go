package actors

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scylla-outbox/scylla-outbox/domain"
)

// newTestSystem starts a System whose logs are observed, and shuts it down
// when the test ends.
func newTestSystem(t *testing.T, opts ...SystemOption) (*System, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	sys := NewSystem(zap.New(core), opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sys.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return sys, logs
}

// spawnOrders spawns the order actor over store with test-friendly
// defaults that edit may change.
func spawnOrders(t *testing.T, sys *System, store *fakeStore, edit func(*OrderConfig)) *actor.PID {
	t.Helper()
	cfg := OrderConfig{
		Store:          store,
		Owner:          "test-process",
		LeaseTTL:       10 * time.Second,
		StorageTimeout: 2 * time.Second,
		IdleTimeout:    time.Minute,
		Logger:         zap.NewNop(),
	}
	store.classifiers(&cfg)
	if edit != nil {
		edit(&cfg)
	}
	props, err := NewOrderProps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := sys.Spawn(props, "orders", Drainable())
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func items(quantity int) []domain.Item {
	return []domain.Item{{ProductID: "sku-1", Quantity: quantity, UnitPrice: domain.Money{Minor: 250, Currency: "EUR"}}}
}

func ask(t *testing.T, sys *System, pid *actor.PID, cmd OrderCommand) (*OrderResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return AskOrder(ctx, sys.Root(), pid, cmd)
}

func mustCreate(t *testing.T, sys *System, pid *actor.PID) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := ask(t, sys, pid, &CreateOrder{OrderID: id, CustomerID: uuid.New(), Items: items(1)}); err != nil {
		t.Fatalf("create: %v", err)
	}
	return id
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// childAlive reports whether the child actor of order id is registered.
func childAlive(sys *System, id uuid.UUID) bool {
	as := sys.ActorSystem()
	_, ok := as.ProcessRegistry.GetLocal("orders/order$" + id.String())
	return ok
}

// logged returns the observed entries with message msg whose fields
// include want.
func logged(logs *observer.ObservedLogs, msg string, want map[string]any) []observer.LoggedEntry {
	return logs.FilterMessage(msg).Filter(func(e observer.LoggedEntry) bool {
		got := e.ContextMap()
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	}).All()
}

// observerCore returns a core recording every level, and its records.
func observerCore() (zapcore.Core, *observer.ObservedLogs) {
	return observer.New(zap.DebugLevel)
}
