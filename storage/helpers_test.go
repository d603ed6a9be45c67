package storage

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
)

const testKeyspace = outboxtest.DefaultKeyspace

// testEnv is an emulator with the schema applied and a session on it.
type testEnv struct {
	addr string
	s    gocqlx.Session
}

func newEnv(t *testing.T) testEnv {
	t.Helper()
	db := outboxtest.StartDB(t)
	return testEnv{addr: db.Addr, s: db.Session}
}

func (e testEnv) store(opts ...func(*OrderStoreOptions)) *OrderStore {
	o := OrderStoreOptions{Keyspace: testKeyspace}
	for _, f := range opts {
		f(&o)
	}
	return NewOrderStore(e.s, o)
}

func eur(minor int64) domain.Money { return domain.Money{Minor: minor, Currency: "EUR"} }

func items(n int) []domain.Item {
	out := make([]domain.Item, n)
	for i := range out {
		out[i] = domain.Item{ProductID: "sku-" + string(rune('a'+i)), Quantity: i + 1, UnitPrice: eur(int64(100 * (i + 1)))}
	}
	return out
}

// t0 has sub-millisecond digits and a zone, which storage must not lose
// or change beyond what the domain normalises.
var t0 = time.Date(2025, 3, 4, 6, 6, 7, 123_456_789, time.FixedZone("CET", 3600))

func newOrder(t *testing.T) (*domain.Order, domain.OrderCreated) {
	t.Helper()
	o, ev, err := domain.NewOrder(uuid.New(), uuid.New(), items(2), t0, uuid.NewV7)
	if err != nil {
		t.Fatalf("NewOrder: %v", err)
	}
	return o, ev
}
