package domain

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestNewOrderValidation(t *testing.T) {
	item := func(mut func(*Item)) []Item {
		items := twoItems()
		mut(&items[1])
		return items
	}
	many := func(n int) []Item {
		items := make([]Item, n)
		for i := range items {
			items[i] = Item{ProductID: "p", Quantity: 1, UnitPrice: eur(1)}
		}
		return items
	}
	tests := []struct {
		name       string
		id, cust   uuid.UUID
		items      []Item
		now        time.Time
		wantErr    error
		wantField  string
		wantReason string // substring
	}{
		{"nil order id", uuid.Nil, testCustomerID, twoItems(), t0, ErrInvalidOrderID, "order_id", "nil UUID"},
		{"nil customer id", testOrderID, uuid.Nil, twoItems(), t0, ErrInvalidCustomerID, "customer_id", "nil UUID"},
		{"nil items", testOrderID, testCustomerID, nil, t0, ErrNoItems, "items", "at least one"},
		{"empty items", testOrderID, testCustomerID, []Item{}, t0, ErrNoItems, "items", "at least one"},
		{"too many items", testOrderID, testCustomerID, many(MaxItems + 1), t0, ErrTooManyItems, "items", "got 101"},
		{"empty product id", testOrderID, testCustomerID, item(func(it *Item) { it.ProductID = "" }), t0, ErrInvalidProductID, "items[1].product_id", "empty"},
		{"product id too long", testOrderID, testCustomerID, item(func(it *Item) { it.ProductID = strings.Repeat("x", MaxProductIDLen+1) }), t0, ErrInvalidProductID, "items[1].product_id", "got 65"},
		{"product id invalid utf8", testOrderID, testCustomerID, item(func(it *Item) { it.ProductID = "a\xffb" }), t0, ErrInvalidProductID, "items[1].product_id", "UTF-8"},
		{"zero quantity", testOrderID, testCustomerID, item(func(it *Item) { it.Quantity = 0 }), t0, ErrInvalidQuantity, "items[1].quantity", "got 0"},
		{"negative quantity", testOrderID, testCustomerID, item(func(it *Item) { it.Quantity = -3 }), t0, ErrInvalidQuantity, "items[1].quantity", "got -3"},
		{"quantity too large", testOrderID, testCustomerID, item(func(it *Item) { it.Quantity = MaxQuantity + 1 }), t0, ErrInvalidQuantity, "items[1].quantity", "got 10001"},
		{"negative unit price", testOrderID, testCustomerID, item(func(it *Item) { it.UnitPrice.Minor = -1 }), t0, ErrInvalidUnitPrice, "items[1].unit_price_minor", "got -1"},
		{"unit price too large", testOrderID, testCustomerID, item(func(it *Item) { it.UnitPrice.Minor = MaxUnitPriceMinor + 1 }), t0, ErrInvalidUnitPrice, "items[1].unit_price_minor", "got 1000000000001"},
		{"empty currency", testOrderID, testCustomerID, item(func(it *Item) { it.UnitPrice.Currency = "" }), t0, ErrInvalidCurrency, "items[1].currency", "three upper-case"},
		{"lower-case currency", testOrderID, testCustomerID, item(func(it *Item) { it.UnitPrice.Currency = "eur" }), t0, ErrInvalidCurrency, "items[1].currency", "three upper-case"},
		{"long currency", testOrderID, testCustomerID, item(func(it *Item) { it.UnitPrice.Currency = "EURO" }), t0, ErrInvalidCurrency, "items[1].currency", "three upper-case"},
		{"currency mismatch", testOrderID, testCustomerID, item(func(it *Item) { it.UnitPrice.Currency = "USD" }), t0, ErrCurrencyMismatch, "items[1].currency", "match items[0].currency EUR, got USD"},
		{"zero time", testOrderID, testCustomerID, twoItems(), time.Time{}, ErrInvalidTime, "occurred_at", "zero time"},
		{"year beyond json", testOrderID, testCustomerID, twoItems(), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ErrInvalidTime, "occurred_at", "got 10000"},
		// Validation stops at the first problem, in field order.
		{"first problem wins", uuid.Nil, uuid.Nil, nil, time.Time{}, ErrInvalidOrderID, "order_id", ""},
		{"first bad item wins", testOrderID, testCustomerID, []Item{{ProductID: "a", Quantity: 1, UnitPrice: eur(1)}, {Quantity: 0}, {Quantity: 0}}, t0, ErrInvalidProductID, "items[1].product_id", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			gen := func() (uuid.UUID, error) { calls++; return eid(1), nil }
			o, ev, err := NewOrder(tc.id, tc.cust, tc.items, tc.now, gen)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want errors.Is %v", err, tc.wantErr)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %T, want *ValidationError", err)
			}
			if ve.Field != tc.wantField {
				t.Errorf("Field = %q, want %q", ve.Field, tc.wantField)
			}
			if !strings.Contains(ve.Reason, tc.wantReason) {
				t.Errorf("Reason = %q, want it to contain %q", ve.Reason, tc.wantReason)
			}
			if want := "domain: invalid " + ve.Field + ": " + ve.Reason; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if o != nil || ev.EventID() != uuid.Nil {
				t.Errorf("got order %v / event %v on error", o, ev)
			}
			if calls != 0 {
				t.Errorf("IDGenerator called %d times on a rejected command", calls)
			}
		})
	}
}

func TestValidationBoundariesAccepted(t *testing.T) {
	maxItems := make([]Item, MaxItems)
	for i := range maxItems {
		maxItems[i] = Item{ProductID: strings.Repeat("p", MaxProductIDLen), Quantity: MaxQuantity, UnitPrice: eur(MaxUnitPriceMinor)}
	}
	tests := []struct {
		name  string
		items []Item
		want  Money
	}{
		{"one free item", []Item{{ProductID: "gift", Quantity: 1, UnitPrice: eur(0)}}, eur(0)},
		{"multibyte product id at limit", []Item{{ProductID: strings.Repeat("é", MaxProductIDLen/2), Quantity: 1, UnitPrice: eur(5)}}, eur(5)},
		// All limits at once: the total must not overflow int64.
		{"every limit at max", maxItems, eur(MaxItems * MaxQuantity * MaxUnitPriceMinor)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, ev, err := NewOrder(testOrderID, testCustomerID, tc.items, t0, seqIDs())
			if err != nil {
				t.Fatalf("NewOrder: %v", err)
			}
			if got := o.Total(); got != tc.want {
				t.Errorf("Order.Total() = %+v, want %+v", got, tc.want)
			}
			if got := ev.Total(); got != tc.want {
				t.Errorf("OrderCreated.Total() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCancelReasonValidation(t *testing.T) {
	tests := []struct {
		name    string
		reason  string
		wantErr error
	}{
		{"empty is allowed", "", nil},
		{"at limit", strings.Repeat("r", MaxReasonLen), nil},
		{"too long", strings.Repeat("r", MaxReasonLen+1), ErrInvalidReason},
		{"invalid utf8", "bad \xc3", ErrInvalidReason},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := mustNewOrder(t)
			_, err := o.Cancel(tc.reason, t0, seqIDs())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil {
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "reason" {
				t.Errorf("err = %#v, want *ValidationError for field reason", err)
			}
			if o.Status() != StatusPending || o.Version() != 1 {
				t.Errorf("order changed by a rejected cancel: status %v version %d", o.Status(), o.Version())
			}
		})
	}
}

func TestTransitionsRejectInvalidTime(t *testing.T) {
	tests := []struct {
		name string
		now  time.Time
	}{
		{"zero", time.Time{}},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := mustNewOrder(t)
			var ve *ValidationError
			if _, err := o.UpdateItems(twoItems(), tc.now, seqIDs()); !errors.Is(err, ErrInvalidTime) || !errors.As(err, &ve) || ve.Field != "occurred_at" {
				t.Errorf("UpdateItems err = %v", err)
			}
			if _, err := o.Cancel("", tc.now, seqIDs()); !errors.Is(err, ErrInvalidTime) || !errors.As(err, &ve) || ve.Field != "occurred_at" {
				t.Errorf("Cancel err = %v", err)
			}
			if o.Version() != 1 || o.Status() != StatusPending {
				t.Errorf("order changed: version %d status %v", o.Version(), o.Status())
			}
		})
	}
}

func TestZeroValues(t *testing.T) {
	var o Order
	if got := o.Total(); got != (Money{}) {
		t.Errorf("zero Order Total() = %+v, want zero Money", got)
	}
	if o.Status().valid() {
		t.Errorf("zero Status %v is valid", o.Status())
	}
}
