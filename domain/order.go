package domain

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// AggregateTypeOrder is the [DomainEvent.AggregateType] of order events.
const AggregateTypeOrder = "Order"

// Status is the lifecycle state of an [Order]. The zero value is deliberately
// invalid, so an uninitialised status is caught rather than read as pending.
type Status uint8

// Order statuses. Pending is the only state that accepts changes; Cancelled
// is terminal.
const (
	StatusPending   Status = 1
	StatusCancelled Status = 2
)

// String returns the wire name used in payloads and accepted by
// [ParseStatus]: "pending" or "cancelled".
func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusCancelled:
		return "cancelled"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

func (s Status) valid() bool { return s == StatusPending || s == StatusCancelled }

// ParseStatus is the inverse of [Status.String], for storage that persists
// the wire name. Unknown names return [ErrInvalidStatus].
func ParseStatus(s string) (Status, error) {
	switch s {
	case "pending":
		return StatusPending, nil
	case "cancelled":
		return StatusCancelled, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrInvalidStatus, s)
}

// Order is the order aggregate. Its fields are unexported so the only ways to
// change an order are the transitions that also emit the event describing the
// change; an Order mutated any other way would drift from the event stream
// consumers see. Storage reads it with [Order.State] and rebuilds it with
// [Rehydrate].
//
// An Order is not safe for concurrent use; the owning actor serialises
// access.
type Order struct {
	id         uuid.UUID
	customerID uuid.UUID
	items      []Item
	status     Status
	version    int64
	createdAt  time.Time
	updatedAt  time.Time
}

// OrderState is the persisted form of an [Order]: plain data that storage
// writes and reads without knowing the rules. Its field meanings match the
// Order accessors.
type OrderState struct {
	ID         uuid.UUID
	CustomerID uuid.UUID
	Items      []Item
	Status     Status
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// NewOrder creates a pending order at version 1 and returns it with the
// [OrderCreated] event (sequence 1). now becomes both CreatedAt and
// UpdatedAt. items is copied, so the caller may reuse the slice.
//
// Errors: a [*ValidationError] wrapping [ErrInvalidOrderID],
// [ErrInvalidCustomerID], [ErrInvalidTime] or any item sentinel (see
// [MaxItems] for the limits), or the error of newID.
func NewOrder(id, customerID uuid.UUID, items []Item, now time.Time, newID IDGenerator) (*Order, OrderCreated, error) {
	if err := validateIDs(id, customerID); err != nil {
		return nil, OrderCreated{}, err
	}
	if err := validateItems(items); err != nil {
		return nil, OrderCreated{}, err
	}
	at, err := normalizeTime("occurred_at", now, ErrInvalidTime)
	if err != nil {
		return nil, OrderCreated{}, err
	}
	eventID, err := newEventID(newID)
	if err != nil {
		return nil, OrderCreated{}, err
	}
	o := &Order{
		id:         id,
		customerID: customerID,
		items:      slices.Clone(items),
		status:     StatusPending,
		version:    1,
		createdAt:  at,
		updatedAt:  at,
	}
	return o, OrderCreated{o.meta(eventID), o.customerID, slices.Clone(o.items)}, nil
}

// UpdateItems replaces the order's items and returns the [OrderUpdated]
// event carrying the complete new item list. Replacing rather than patching
// keeps every event self-contained, so a consumer that missed one still
// converges. An update to identical items is still a change: it bumps the
// version and emits an event, because the command was accepted.
//
// Errors: [ErrOrderCancelled] (checked first), then the item and time
// validation errors of [NewOrder], then the error of newID. On error the
// order is unchanged.
func (o *Order) UpdateItems(items []Item, now time.Time, newID IDGenerator) (OrderUpdated, error) {
	if o.status == StatusCancelled {
		return OrderUpdated{}, fmt.Errorf("domain: update items of order %s: %w", o.id, ErrOrderCancelled)
	}
	if err := validateItems(items); err != nil {
		return OrderUpdated{}, err
	}
	at, err := normalizeTime("occurred_at", now, ErrInvalidTime)
	if err != nil {
		return OrderUpdated{}, err
	}
	eventID, err := newEventID(newID)
	if err != nil {
		return OrderUpdated{}, err
	}
	o.items = slices.Clone(items)
	o.version++
	o.updatedAt = at
	return OrderUpdated{o.meta(eventID), o.customerID, slices.Clone(o.items)}, nil
}

// Cancel moves the order to the terminal Cancelled state and returns the
// [OrderCancelled] event. reason is free text for humans, may be empty, and
// is at most [MaxReasonLen] bytes of UTF-8.
//
// Errors: [ErrOrderCancelled] if already cancelled (callers wanting an
// idempotent cancel treat it as success), a [*ValidationError] wrapping
// [ErrInvalidReason] or [ErrInvalidTime], or the error of newID. On error the
// order is unchanged.
func (o *Order) Cancel(reason string, now time.Time, newID IDGenerator) (OrderCancelled, error) {
	if o.status == StatusCancelled {
		return OrderCancelled{}, fmt.Errorf("domain: cancel order %s: %w", o.id, ErrOrderCancelled)
	}
	if err := validateReason(reason); err != nil {
		return OrderCancelled{}, err
	}
	at, err := normalizeTime("occurred_at", now, ErrInvalidTime)
	if err != nil {
		return OrderCancelled{}, err
	}
	eventID, err := newEventID(newID)
	if err != nil {
		return OrderCancelled{}, err
	}
	o.status = StatusCancelled
	o.version++
	o.updatedAt = at
	return OrderCancelled{o.meta(eventID), o.customerID, reason}, nil
}

// meta stamps an event with the order's post-change version and time.
func (o *Order) meta(eventID uuid.UUID) eventMeta {
	return eventMeta{id: eventID, aggregateID: o.id, sequence: o.version, at: o.updatedAt}
}

// ID returns the order id.
func (o *Order) ID() uuid.UUID { return o.id }

// CustomerID returns the id of the customer who placed the order.
func (o *Order) CustomerID() uuid.UUID { return o.customerID }

// Items returns a copy of the order's items.
func (o *Order) Items() []Item { return slices.Clone(o.items) }

// Status returns the lifecycle state.
func (o *Order) Status() Status { return o.status }

// Version returns the number of changes applied, which is also the sequence
// of the last event emitted: 1 after creation, +1 per change. Storage can use
// it for optimistic concurrency (write if the stored version is Version-1).
func (o *Order) Version() int64 { return o.version }

// CreatedAt returns the creation time (UTC, millisecond precision).
func (o *Order) CreatedAt() time.Time { return o.createdAt }

// UpdatedAt returns the time of the last change (UTC, millisecond
// precision); it equals CreatedAt at version 1.
func (o *Order) UpdatedAt() time.Time { return o.updatedAt }

// Total returns the sum of the item subtotals in the order's currency. The
// item limits make overflow impossible: MaxItems * MaxQuantity *
// MaxUnitPriceMinor = 1e18 < MaxInt64.
func (o *Order) Total() Money { return total(o.items) }

// State returns the persisted form of the order. Items are copied, so
// mutating the result does not affect the order.
func (o *Order) State() OrderState {
	return OrderState{
		ID:         o.id,
		CustomerID: o.customerID,
		Items:      slices.Clone(o.items),
		Status:     o.status,
		Version:    o.version,
		CreatedAt:  o.createdAt,
		UpdatedAt:  o.updatedAt,
	}
}

// Rehydrate rebuilds an order from its persisted state without emitting an
// event: the events for that state were emitted when it was first reached.
// Rehydrate(o.State()) is equivalent to o.
//
// It enforces the same invariants as the transitions (ids, items, a known
// status, version >= 1, valid timestamps) so that every *Order in the program
// is one the domain could have produced; a row that fails is corrupt, not a
// business error. The flip side: tightening a limit requires migrating rows
// that exceed it. Times are normalised to UTC milliseconds.
func Rehydrate(s OrderState) (*Order, error) {
	if err := validateIDs(s.ID, s.CustomerID); err != nil {
		return nil, err
	}
	if err := validateItems(s.Items); err != nil {
		return nil, err
	}
	if !s.Status.valid() {
		return nil, invalid("status", "unknown status "+s.Status.String(), ErrInvalidStatus)
	}
	if s.Version < 1 {
		return nil, invalid("version", "must be at least 1, got "+strconv.FormatInt(s.Version, 10), ErrInvalidVersion)
	}
	created, err := normalizeTime("created_at", s.CreatedAt, ErrInvalidTime)
	if err != nil {
		return nil, err
	}
	updated, err := normalizeTime("updated_at", s.UpdatedAt, ErrInvalidTime)
	if err != nil {
		return nil, err
	}
	return &Order{
		id:         s.ID,
		customerID: s.CustomerID,
		items:      slices.Clone(s.Items),
		status:     s.Status,
		version:    s.Version,
		createdAt:  created,
		updatedAt:  updated,
	}, nil
}
