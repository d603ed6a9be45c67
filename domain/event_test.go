package domain

import (
	"errors"
	"testing"
	"time"
)

// The golden payloads are the wire contract with consumers: a diff here is a
// breaking change for them, not a test to update casually.
func TestPayloadGolden(t *testing.T) {
	ids := seqIDs()
	o, created, err := NewOrder(testOrderID, testCustomerID, twoItems(), t0, ids)
	if err != nil {
		t.Fatal(err)
	}
	updated, err := o.UpdateItems([]Item{{ProductID: `sku-"3"&<x>`, Quantity: 10000, UnitPrice: eur(0)}}, t0.Add(90*time.Second), ids)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := o.Cancel("out of stock: \"sku-3\"", time.Date(2025, 3, 4, 5, 8, 0, 0, time.UTC), ids)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   DomainEvent
		want string
	}{
		{
			name: "OrderCreated",
			ev:   created,
			want: `{"order_id":"0190f7a6-0000-7000-8000-000000000001","customer_id":"0190f7a6-0000-7000-8000-0000000000c1",` +
				`"items":[{"product_id":"sku-1","quantity":2,"unit_price_minor":1250,"currency":"EUR"},` +
				`{"product_id":"sku-2","quantity":1,"unit_price_minor":999,"currency":"EUR"}],` +
				`"total_minor":3499,"currency":"EUR","status":"pending","version":1,"occurred_at":"2025-03-04T05:06:07.123Z"}`,
		},
		{
			name: "OrderUpdated",
			ev:   updated,
			want: `{"order_id":"0190f7a6-0000-7000-8000-000000000001","customer_id":"0190f7a6-0000-7000-8000-0000000000c1",` +
				`"items":[{"product_id":"sku-\"3\"\u0026\u003cx\u003e","quantity":10000,"unit_price_minor":0,"currency":"EUR"}],` +
				`"total_minor":0,"currency":"EUR","status":"pending","version":2,"occurred_at":"2025-03-04T05:07:37.123Z"}`,
		},
		{
			name: "OrderCancelled",
			ev:   cancelled,
			want: `{"order_id":"0190f7a6-0000-7000-8000-000000000001","customer_id":"0190f7a6-0000-7000-8000-0000000000c1",` +
				`"status":"cancelled","reason":"out of stock: \"sku-3\"","version":3,"occurred_at":"2025-03-04T05:08:00Z"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ev.EventType() != tc.name {
				t.Errorf("EventType() = %q, want %q", tc.ev.EventType(), tc.name)
			}
			got, err := tc.ev.Payload()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Payload() =\n%s\nwant\n%s", got, tc.want)
			}
			// Deterministic: a re-marshal yields the same bytes.
			again, _ := tc.ev.Payload()
			if string(again) != string(got) {
				t.Errorf("Payload() not deterministic")
			}
		})
	}
	if cancelled.Reason() != "out of stock: \"sku-3\"" || cancelled.CustomerID() != testCustomerID {
		t.Errorf("OrderCancelled accessors = %q, %s", cancelled.Reason(), cancelled.CustomerID())
	}
	if updated.CustomerID() != testCustomerID {
		t.Errorf("OrderUpdated.CustomerID() = %s", updated.CustomerID())
	}
}

func TestOrderCancelledIsNotValidationError(t *testing.T) {
	o, _ := mustNewOrder(t)
	if _, err := o.Cancel("", t0, seqIDs()); err != nil {
		t.Fatal(err)
	}
	_, err := o.Cancel("", t0, seqIDs())
	var ve *ValidationError
	if !errors.Is(err, ErrOrderCancelled) || errors.As(err, &ve) {
		t.Errorf("err = %#v, want bare ErrOrderCancelled wrap", err)
	}
}
