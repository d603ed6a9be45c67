package domain

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	testOrderID    = uuid.MustParse("0190f7a6-0000-7000-8000-000000000001")
	testCustomerID = uuid.MustParse("0190f7a6-0000-7000-8000-0000000000c1")
	// t0 has sub-millisecond digits and a non-UTC zone so tests see the
	// normalisation to UTC milliseconds.
	t0 = time.Date(2025, 3, 4, 6, 6, 7, 123_456_789, time.FixedZone("CET", 3600))
	// t0Norm is t0 as the domain stores it.
	t0Norm = time.Date(2025, 3, 4, 5, 6, 7, 123_000_000, time.UTC)
)

// seqIDs returns a deterministic IDGenerator yielding ...0001, ...0002, ...
func seqIDs() IDGenerator {
	var n byte
	return func() (uuid.UUID, error) {
		n++
		return uuid.UUID{0: 0xee, 15: n}, nil
	}
}

func eid(n byte) uuid.UUID { return uuid.UUID{0: 0xee, 15: n} }

func eur(minor int64) Money { return Money{Minor: minor, Currency: "EUR"} }

func twoItems() []Item {
	return []Item{
		{ProductID: "sku-1", Quantity: 2, UnitPrice: eur(1250)},
		{ProductID: "sku-2", Quantity: 1, UnitPrice: eur(999)},
	}
}

func mustNewOrder(t *testing.T) (*Order, OrderCreated) {
	t.Helper()
	o, ev, err := NewOrder(testOrderID, testCustomerID, twoItems(), t0, seqIDs())
	if err != nil {
		t.Fatalf("NewOrder: %v", err)
	}
	return o, ev
}
