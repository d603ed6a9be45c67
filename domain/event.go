package domain

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"
)

// DomainEvent is a fact about one aggregate, in the shape the outbox needs.
// The storage and relay layers depend only on this interface (through
// [NewEnvelope]), so adding an aggregate means adding event types here, not
// changing them.
type DomainEvent interface {
	// EventID is unique across all events; consumers deduplicate by it.
	EventID() uuid.UUID
	// EventType names the event, e.g. "OrderCreated". Together with
	// AggregateType it selects the payload schema.
	EventType() string
	// AggregateType names the aggregate kind, e.g. "Order".
	AggregateType() string
	// AggregateID identifies the aggregate instance; it is the Kafka key,
	// so one aggregate's events share a partition and stay in order.
	AggregateID() uuid.UUID
	// Sequence is the aggregate version after the change: 1, 2, 3... with
	// no gaps per aggregate.
	Sequence() int64
	// OccurredAt is when the change was made (UTC, millisecond precision).
	OccurredAt() time.Time
	// Payload is the JSON body; it must be deterministic for a given event
	// so a re-publish carries the same bytes.
	Payload() ([]byte, error)
}

// Event types of the Order aggregate.
const (
	EventTypeOrderCreated   = "OrderCreated"
	EventTypeOrderUpdated   = "OrderUpdated"
	EventTypeOrderCancelled = "OrderCancelled"
)

// Compile-time checks that the order events satisfy DomainEvent.
var (
	_ DomainEvent = OrderCreated{}
	_ DomainEvent = OrderUpdated{}
	_ DomainEvent = OrderCancelled{}
)

// eventMeta carries what every order event shares; embedding it supplies the
// DomainEvent metadata methods.
type eventMeta struct {
	id          uuid.UUID
	aggregateID uuid.UUID
	sequence    int64
	at          time.Time
}

// EventID implements [DomainEvent].
func (m eventMeta) EventID() uuid.UUID { return m.id }

// AggregateType implements [DomainEvent]; it is always [AggregateTypeOrder].
func (m eventMeta) AggregateType() string { return AggregateTypeOrder }

// AggregateID implements [DomainEvent]; it is the order id.
func (m eventMeta) AggregateID() uuid.UUID { return m.aggregateID }

// Sequence implements [DomainEvent]; it is the order version after the change.
func (m eventMeta) Sequence() int64 { return m.sequence }

// OccurredAt implements [DomainEvent].
func (m eventMeta) OccurredAt() time.Time { return m.at }

// OrderCreated records the creation of an order. Events are immutable values
// produced only by the [Order] transitions; accessors return copies.
//
// Payload schema (JSON, field order fixed):
//
//	{
//	  "order_id":    string, UUID
//	  "customer_id": string, UUID
//	  "items": [{
//	    "product_id":       string
//	    "quantity":         integer, 1..10000
//	    "unit_price_minor": integer, minor units, 0..1e12
//	    "currency":         string, ISO 4217, same for all items
//	  }, ...]                       1..100 items
//	  "total_minor": integer, sum of quantity*unit_price_minor
//	  "currency":    string, the items' currency
//	  "status":      "pending"
//	  "version":     integer, 1
//	  "occurred_at": string, RFC 3339 UTC, up to millisecond precision
//	}
type OrderCreated struct {
	eventMeta
	customerID uuid.UUID
	items      []Item
}

// EventType implements [DomainEvent]; it returns [EventTypeOrderCreated].
func (e OrderCreated) EventType() string { return EventTypeOrderCreated }

// CustomerID returns the customer who placed the order.
func (e OrderCreated) CustomerID() uuid.UUID { return e.customerID }

// Items returns a copy of the items the order was created with.
func (e OrderCreated) Items() []Item { return slices.Clone(e.items) }

// Total returns the order total at creation.
func (e OrderCreated) Total() Money { return total(e.items) }

// Payload implements [DomainEvent]; see [OrderCreated] for the schema.
func (e OrderCreated) Payload() ([]byte, error) {
	return json.Marshal(newOrderPayload(e.eventMeta, e.customerID, e.items))
}

// OrderUpdated records a replacement of a pending order's items. It carries
// the complete new state, not a diff, so applying the latest event is enough.
//
// Payload schema: identical to [OrderCreated], with "version" >= 2 and
// "items" holding the full new item list.
type OrderUpdated struct {
	eventMeta
	customerID uuid.UUID
	items      []Item
}

// EventType implements [DomainEvent]; it returns [EventTypeOrderUpdated].
func (e OrderUpdated) EventType() string { return EventTypeOrderUpdated }

// CustomerID returns the customer who placed the order.
func (e OrderUpdated) CustomerID() uuid.UUID { return e.customerID }

// Items returns a copy of the order's items after the update.
func (e OrderUpdated) Items() []Item { return slices.Clone(e.items) }

// Total returns the order total after the update.
func (e OrderUpdated) Total() Money { return total(e.items) }

// Payload implements [DomainEvent]; see [OrderUpdated] for the schema.
func (e OrderUpdated) Payload() ([]byte, error) {
	return json.Marshal(newOrderPayload(e.eventMeta, e.customerID, e.items))
}

// OrderCancelled records that an order was cancelled. It is the last event of
// its aggregate.
//
// Payload schema (JSON, field order fixed):
//
//	{
//	  "order_id":    string, UUID
//	  "customer_id": string, UUID
//	  "status":      "cancelled"
//	  "reason":      string, possibly empty, at most 512 bytes
//	  "version":     integer, >= 2
//	  "occurred_at": string, RFC 3339 UTC, up to millisecond precision
//	}
type OrderCancelled struct {
	eventMeta
	customerID uuid.UUID
	reason     string
}

// EventType implements [DomainEvent]; it returns [EventTypeOrderCancelled].
func (e OrderCancelled) EventType() string { return EventTypeOrderCancelled }

// CustomerID returns the customer who placed the order.
func (e OrderCancelled) CustomerID() uuid.UUID { return e.customerID }

// Reason returns the cancellation reason.
func (e OrderCancelled) Reason() string { return e.reason }

// Payload implements [DomainEvent]; see [OrderCancelled] for the schema.
func (e OrderCancelled) Payload() ([]byte, error) {
	return json.Marshal(orderCancelledPayload{
		OrderID:    e.aggregateID,
		CustomerID: e.customerID,
		Status:     StatusCancelled.String(),
		Reason:     e.reason,
		Version:    e.sequence,
		OccurredAt: e.at,
	})
}

// The payload structs below are the wire schema. They are separate from the
// domain types so that renaming a Go field can never silently change the
// JSON that consumers in other languages parse. Field order is output order.

type itemPayload struct {
	ProductID      string `json:"product_id"`
	Quantity       int    `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
	Currency       string `json:"currency"`
}

type orderPayload struct {
	OrderID    uuid.UUID     `json:"order_id"`
	CustomerID uuid.UUID     `json:"customer_id"`
	Items      []itemPayload `json:"items"`
	TotalMinor int64         `json:"total_minor"`
	Currency   string        `json:"currency"`
	Status     string        `json:"status"`
	Version    int64         `json:"version"`
	OccurredAt time.Time     `json:"occurred_at"`
}

type orderCancelledPayload struct {
	OrderID    uuid.UUID `json:"order_id"`
	CustomerID uuid.UUID `json:"customer_id"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason"`
	Version    int64     `json:"version"`
	OccurredAt time.Time `json:"occurred_at"`
}

// newOrderPayload builds the shared OrderCreated/OrderUpdated body. Both
// events leave the order pending, so status is fixed.
func newOrderPayload(m eventMeta, customerID uuid.UUID, items []Item) orderPayload {
	p := orderPayload{
		OrderID:    m.aggregateID,
		CustomerID: customerID,
		Items:      make([]itemPayload, len(items)),
		Status:     StatusPending.String(),
		Version:    m.sequence,
		OccurredAt: m.at,
	}
	for i, it := range items {
		p.Items[i] = itemPayload{
			ProductID:      it.ProductID,
			Quantity:       it.Quantity,
			UnitPriceMinor: it.UnitPrice.Minor,
			Currency:       it.UnitPrice.Currency,
		}
	}
	t := total(items)
	p.TotalMinor, p.Currency = t.Minor, t.Currency
	return p
}
