package domain

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits enforced on every order. They bound the size of an outbox row and a
// Kafka record, and together they make the order total unable to overflow
// int64 (see [Order.Total]).
const (
	// MaxItems is the maximum number of items in an order.
	MaxItems = 100
	// MaxQuantity is the maximum quantity of one item.
	MaxQuantity = 10_000
	// MaxProductIDLen is the maximum length of a product id in bytes.
	MaxProductIDLen = 64
	// MaxUnitPriceMinor is the maximum unit price in minor units
	// (10 billion in a two-decimal currency).
	MaxUnitPriceMinor int64 = 1_000_000_000_000
	// MaxReasonLen is the maximum length of a cancellation reason in bytes.
	MaxReasonLen = 512
)

func validateIDs(id, customerID uuid.UUID) error {
	if id == uuid.Nil {
		return invalid("order_id", "must not be the nil UUID", ErrInvalidOrderID)
	}
	if customerID == uuid.Nil {
		return invalid("customer_id", "must not be the nil UUID", ErrInvalidCustomerID)
	}
	return nil
}

// validateItems checks items in order and stops at the first problem, naming
// the item by index.
func validateItems(items []Item) error {
	if len(items) == 0 {
		return invalid("items", "must contain at least one item", ErrNoItems)
	}
	if len(items) > MaxItems {
		return invalid("items", "must contain at most "+strconv.Itoa(MaxItems)+" items, got "+strconv.Itoa(len(items)), ErrTooManyItems)
	}
	currency := items[0].UnitPrice.Currency
	for i, it := range items {
		field := "items[" + strconv.Itoa(i) + "]."
		switch {
		case it.ProductID == "":
			return invalid(field+"product_id", "must not be empty", ErrInvalidProductID)
		case len(it.ProductID) > MaxProductIDLen:
			return invalid(field+"product_id", "must be at most "+strconv.Itoa(MaxProductIDLen)+" bytes, got "+strconv.Itoa(len(it.ProductID)), ErrInvalidProductID)
		case !utf8.ValidString(it.ProductID):
			// JSON would silently replace the bad bytes, making the
			// payload disagree with the stored row.
			return invalid(field+"product_id", "must be valid UTF-8", ErrInvalidProductID)
		case it.Quantity < 1 || it.Quantity > MaxQuantity:
			return invalid(field+"quantity", "must be between 1 and "+strconv.Itoa(MaxQuantity)+", got "+strconv.Itoa(it.Quantity), ErrInvalidQuantity)
		case it.UnitPrice.Minor < 0 || it.UnitPrice.Minor > MaxUnitPriceMinor:
			return invalid(field+"unit_price_minor", "must be between 0 and "+strconv.FormatInt(MaxUnitPriceMinor, 10)+", got "+strconv.FormatInt(it.UnitPrice.Minor, 10), ErrInvalidUnitPrice)
		case !validCurrency(it.UnitPrice.Currency):
			return invalid(field+"currency", "must be three upper-case ASCII letters", ErrInvalidCurrency)
		case it.UnitPrice.Currency != currency:
			return invalid(field+"currency", "must match items[0].currency "+currency+", got "+it.UnitPrice.Currency, ErrCurrencyMismatch)
		}
	}
	return nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := range len(c) {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

func validateReason(reason string) error {
	if len(reason) > MaxReasonLen {
		return invalid("reason", "must be at most "+strconv.Itoa(MaxReasonLen)+" bytes, got "+strconv.Itoa(len(reason)), ErrInvalidReason)
	}
	if !utf8.ValidString(reason) {
		return invalid("reason", "must be valid UTF-8", ErrInvalidReason)
	}
	return nil
}

// normalizeTime converts t to UTC at millisecond precision (see the package
// documentation for why) and rejects times a payload cannot carry: the zero
// time is almost always a caller bug, and encoding/json refuses years outside
// 1..9999, which would otherwise surface only after the order had changed.
// The error is a [*ValidationError] for field wrapping sentinel.
func normalizeTime(field string, t time.Time, sentinel error) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, invalid(field, "must not be the zero time", sentinel)
	}
	n := t.UTC().Truncate(time.Millisecond)
	if y := n.Year(); y < 1 || y > 9999 {
		return time.Time{}, invalid(field, "year must be between 1 and 9999, got "+strconv.Itoa(y), sentinel)
	}
	return n, nil
}
