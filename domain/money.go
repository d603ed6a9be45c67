package domain

// Money is an amount in the currency's minor unit (cents for EUR or USD, yen
// for JPY). Integer minor units keep arithmetic exact; floats would not.
// The exponent of a currency is not the domain's concern: the currency code
// fixes it, and presentation layers apply it.
type Money struct {
	// Minor is the amount in minor units.
	Minor int64
	// Currency is the ISO 4217 alphabetic code, e.g. "EUR".
	Currency string
}

// Item is one order line.
type Item struct {
	// ProductID identifies the product in the catalogue. Opaque to the
	// domain; 1 to [MaxProductIDLen] bytes of UTF-8.
	ProductID string
	// Quantity is the number of units, 1 to [MaxQuantity].
	Quantity int
	// UnitPrice is the price of one unit, 0 to [MaxUnitPriceMinor] minor
	// units. Zero is allowed for free items.
	UnitPrice Money
}

// Subtotal returns Quantity * UnitPrice. It cannot overflow for an item that
// passed validation.
func (it Item) Subtotal() Money {
	return Money{Minor: int64(it.Quantity) * it.UnitPrice.Minor, Currency: it.UnitPrice.Currency}
}

// total sums the subtotals of items, which must be non-empty and share a
// currency. The limits make overflow impossible for validated items:
// MaxItems * MaxQuantity * MaxUnitPriceMinor = 1e18 < MaxInt64 (about 9.2e18).
func total(items []Item) Money {
	if len(items) == 0 {
		return Money{}
	}
	sum := Money{Currency: items[0].UnitPrice.Currency}
	for _, it := range items {
		sum.Minor += it.Subtotal().Minor
	}
	return sum
}
