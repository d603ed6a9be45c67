package domain

import "errors"

// Sentinel errors. Each validation failure is a [*ValidationError] wrapping
// exactly one of these, so errors.Is(err, ErrInvalidQuantity) works no matter
// which item or field failed.
var (
	// ErrInvalidOrderID reports a nil order id.
	ErrInvalidOrderID = errors.New("domain: invalid order id")
	// ErrInvalidCustomerID reports a nil customer id.
	ErrInvalidCustomerID = errors.New("domain: invalid customer id")
	// ErrNoItems reports an order without items; an empty order has no
	// meaning and no total currency.
	ErrNoItems = errors.New("domain: order has no items")
	// ErrTooManyItems reports more than [MaxItems] items.
	ErrTooManyItems = errors.New("domain: order has too many items")
	// ErrInvalidProductID reports a product id that is empty, longer than
	// [MaxProductIDLen] bytes, or not valid UTF-8.
	ErrInvalidProductID = errors.New("domain: invalid product id")
	// ErrInvalidQuantity reports a quantity outside [1, MaxQuantity].
	ErrInvalidQuantity = errors.New("domain: invalid quantity")
	// ErrInvalidUnitPrice reports a unit price outside
	// [0, MaxUnitPriceMinor].
	ErrInvalidUnitPrice = errors.New("domain: invalid unit price")
	// ErrInvalidCurrency reports a currency that is not three upper-case
	// ASCII letters (the ISO 4217 alphabetic code shape).
	ErrInvalidCurrency = errors.New("domain: invalid currency")
	// ErrCurrencyMismatch reports items priced in different currencies; an
	// order has one total, so it has one currency.
	ErrCurrencyMismatch = errors.New("domain: currency mismatch")
	// ErrInvalidReason reports a cancellation reason longer than
	// [MaxReasonLen] bytes or not valid UTF-8.
	ErrInvalidReason = errors.New("domain: invalid reason")
	// ErrInvalidTime reports a zero timestamp or one JSON cannot represent
	// (year outside 1..9999).
	ErrInvalidTime = errors.New("domain: invalid time")
	// ErrInvalidStatus reports an unknown [Status].
	ErrInvalidStatus = errors.New("domain: invalid status")
	// ErrInvalidVersion reports a persisted version below 1; a stored order
	// has been created at least once.
	ErrInvalidVersion = errors.New("domain: invalid version")
	// ErrInvalidEventID reports an [IDGenerator] that returned the nil UUID,
	// which would defeat consumer deduplication.
	ErrInvalidEventID = errors.New("domain: invalid event id")
	// ErrInvalidEvent reports a [DomainEvent] that cannot be put in an
	// [Envelope], typically a malformed event from another aggregate.
	ErrInvalidEvent = errors.New("domain: invalid event")

	// ErrOrderCancelled reports a change attempted on a cancelled order.
	// Cancelled is terminal. It is not a [*ValidationError]: the input may be
	// fine, the state forbids it. A caller retrying a cancel may treat it as
	// success.
	ErrOrderCancelled = errors.New("domain: order is cancelled")
)

// ValidationError describes the first invalid field found. It wraps one
// sentinel error (Err) so callers can branch on the kind of failure without
// parsing Field.
type ValidationError struct {
	// Field is the offending field, named as in the JSON payloads, with an
	// index for items: "customer_id", "items", "items[3].quantity".
	Field string
	// Reason is a human-readable explanation. It never echoes unbounded
	// input, so it is safe to log and to return to API clients.
	Reason string
	// Err is the sentinel this failure is an instance of.
	Err error
}

// Error implements error.
func (e *ValidationError) Error() string {
	return "domain: invalid " + e.Field + ": " + e.Reason
}

// Unwrap returns the sentinel so errors.Is sees through the field detail.
func (e *ValidationError) Unwrap() error { return e.Err }

func invalid(field, reason string, sentinel error) error {
	return &ValidationError{Field: field, Reason: reason, Err: sentinel}
}
