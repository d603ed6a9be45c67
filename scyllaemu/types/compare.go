package types

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"math/big"
)

// Compare returns -1, 0 or +1 as a sorts before, equal to or after b under
// ScyllaDB's comparator for type t. This is the order of clustering keys
// (before any DESC reversal), of set elements and map keys, and the order
// used by CQL relational operators.
//
// nil (NULL) and 0-byte (empty) values compare equal to each other and
// before every other value, for every type but counter (where, as in
// ScyllaDB, empty reads as 0) and tuple (where an empty value reads as all
// components NULL). Per type:
//
//   - tinyint, smallint, int, bigint, counter, timestamp, time: signed
//     integers; date: unsigned 32-bit (its encoding is days + 2^31);
//   - varint and decimal: by numeric value (so decimal 1.0 equals 1.00);
//   - float and double: like Java's Float.compare/Double.compare: -0 < +0,
//     NaN equals NaN and is greater than +Infinity;
//   - ascii, text, blob, inet, duration: unsigned bytewise, a proper prefix
//     first;
//   - boolean: false < true (any non-zero byte is true);
//   - timeuuid: the 60-bit timestamp first, then bytes 8..15 compared as
//     SIGNED bytes (Cassandra's legacy order, which ScyllaDB keeps and
//     scylla-cdc-go relies on);
//   - uuid: the version nibble first; two version 1 UUIDs then compare by
//     timestamp and then bytes 8..15 as UNSIGNED bytes (ScyllaDB's
//     utils::uuid_tri_compare_timeuuid, which differs from timeuuid here);
//     other versions bytewise;
//   - list and set: element-wise with the element comparator (a NULL element
//     first), a proper prefix first; map: key then value, pair by pair, then
//     the shorter map first;
//   - tuple: component-wise, a NULL component before any value; missing
//     trailing components compare like NULLs, and trailing NULLs are
//     ignored (ScyllaDB's rule for tuples that grew).
//
// Malformed values never make Compare panic: a value of the wrong size for
// a fixed-size type, or a collection or tuple that does not parse, falls back
// to an unsigned bytewise comparison. Compare does not allocate, except for
// decimals of different scales.
func (t *Type) Compare(a, b []byte) int {
	return t.compare(a, b, 0)
}

func (t *Type) compare(a, b []byte, depth int) int {
	if t == nil || depth > maxDepth {
		return bytes.Compare(a, b)
	}
	if t.Kind == Counter {
		if (len(a) == 0 || len(a) == 8) && (len(b) == 0 || len(b) == 8) {
			return cmp.Compare(counterValue(a), counterValue(b))
		}
		return bytes.Compare(a, b)
	}
	if (len(a) == 0 || len(b) == 0) && !t.IsTupleLike() {
		return cmp.Compare(len(a), len(b))
	}
	switch t.Kind {
	case Tinyint:
		if len(a) == 1 && len(b) == 1 {
			return cmp.Compare(int8(a[0]), int8(b[0]))
		}
	case Smallint:
		if len(a) == 2 && len(b) == 2 {
			return cmp.Compare(int16(binary.BigEndian.Uint16(a)), int16(binary.BigEndian.Uint16(b)))
		}
	case Int:
		if len(a) == 4 && len(b) == 4 {
			return cmp.Compare(int32(binary.BigEndian.Uint32(a)), int32(binary.BigEndian.Uint32(b)))
		}
	case Bigint, Timestamp, Time:
		if len(a) == 8 && len(b) == 8 {
			return cmp.Compare(int64(binary.BigEndian.Uint64(a)), int64(binary.BigEndian.Uint64(b)))
		}
	case Date:
		if len(a) == 4 && len(b) == 4 {
			return cmp.Compare(binary.BigEndian.Uint32(a), binary.BigEndian.Uint32(b))
		}
	case Boolean:
		if len(a) == 1 && len(b) == 1 {
			return cmp.Compare(b2i(a[0] != 0), b2i(b[0] != 0))
		}
	case Float:
		if len(a) == 4 && len(b) == 4 {
			return javaFloatCompare(
				float64(math.Float32frombits(binary.BigEndian.Uint32(a))),
				float64(math.Float32frombits(binary.BigEndian.Uint32(b))))
		}
	case Double:
		if len(a) == 8 && len(b) == 8 {
			return javaFloatCompare(
				math.Float64frombits(binary.BigEndian.Uint64(a)),
				math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case Varint:
		return compareVarint(a, b)
	case Decimal:
		if len(a) >= 4 && len(b) >= 4 {
			return compareDecimal(a, b)
		}
	case Timeuuid:
		if len(a) == 16 && len(b) == 16 {
			return compareTimeuuid(a, b)
		}
	case UUID:
		if len(a) == 16 && len(b) == 16 {
			return compareUUID(a, b)
		}
	case List, Set:
		if t.shapeOK() {
			if c, ok := t.Elems[0].compareListlike(a, b, depth); ok {
				return c
			}
		}
	case Map:
		if t.shapeOK() {
			if c, ok := t.compareMap(a, b, depth); ok {
				return c
			}
		}
	case Tuple, UDT:
		if t.shapeOK() {
			if c, ok := t.compareTuple(a, b, depth); ok {
				return c
			}
		}
	}
	// ascii, text, blob, inet, duration, custom, and every malformed value.
	return bytes.Compare(a, b)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func counterValue(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// javaFloatCompare orders like Java's Double.compare: NaN is equal to itself
// and greater than everything, -0 is less than +0.
func javaFloatCompare(x, y float64) int {
	xn, yn := x != x, y != y
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	case yn:
		return -1
	case x < y:
		return -1
	case x > y:
		return 1
	}
	// Equal, possibly +0 vs -0.
	return cmp.Compare(b2i(!math.Signbit(x)), b2i(!math.Signbit(y)))
}

// varintSign returns -1, 0 or +1, the sign of a two's complement big-endian
// integer; an empty slice is 0.
func varintSign(v []byte) int {
	if len(v) == 0 {
		return 0
	}
	if v[0]&0x80 != 0 {
		return -1
	}
	for _, c := range v {
		if c != 0 {
			return 1
		}
	}
	return 0
}

// compareVarint compares two two's complement big-endian integers of any
// lengths (empty reads as 0) without allocating: the shorter one is
// sign-extended, then the bytes compare unsigned after flipping the sign
// bit of the first.
func compareVarint(a, b []byte) int {
	na, nb := len(a), len(b)
	n := max(na, nb)
	ext := func(v []byte, i int) byte { // byte i of v sign-extended to n bytes
		pad := n - len(v)
		if i >= pad {
			return v[i-pad]
		}
		if len(v) > 0 && v[0]&0x80 != 0 {
			return 0xff
		}
		return 0
	}
	for i := 0; i < n; i++ {
		x, y := ext(a, i), ext(b, i)
		if i == 0 {
			x ^= 0x80
			y ^= 0x80
		}
		if x != y {
			return cmp.Compare(x, y)
		}
	}
	return 0
}

// VarintInt decodes a varint value: a two's complement big-endian integer.
func VarintInt(v []byte) *big.Int {
	z := new(big.Int)
	if len(v) == 0 {
		return z
	}
	if v[0]&0x80 == 0 {
		return z.SetBytes(v)
	}
	// Negative: -(^v + 1).
	inv := make([]byte, len(v))
	for i, c := range v {
		inv[i] = ^c
	}
	z.SetBytes(inv)
	z.Add(z, big.NewInt(1))
	return z.Neg(z)
}

// decimalDigits returns the number of decimal digits of |x| (1 for 0).
func decimalDigits(x *big.Int) int64 {
	s := x.Text(10)
	if s[0] == '-' {
		return int64(len(s) - 1)
	}
	return int64(len(s))
}

// compareDecimal compares two serialized decimals (both at least 4 bytes) by
// numeric value. Equal scales compare the unscaled varints directly without
// allocating; otherwise the orders of magnitude decide, and only when they
// are equal is the value with the smaller scale rescaled, by at most the
// number of digits of the values, so that adversarial scales (±2^31)
// cannot blow up.
func compareDecimal(a, b []byte) int {
	sa, sb := int64(int32(binary.BigEndian.Uint32(a))), int64(int32(binary.BigEndian.Uint32(b)))
	ua, ub := a[4:], b[4:]
	ga, gb := varintSign(ua), varintSign(ub)
	if ga != gb {
		return cmp.Compare(ga, gb)
	}
	if ga == 0 {
		return 0
	}
	if sa == sb {
		return compareVarint(ua, ub)
	}
	ma, mb := VarintInt(ua), VarintInt(ub)
	ma.Abs(ma)
	mb.Abs(mb)
	// |x| = m × 10^-s with 10^(d-1) <= m < 10^d, so 10^(d-s-1) <= |x| < 10^(d-s).
	oa, ob := decimalDigits(ma)-sa, decimalDigits(mb)-sb
	var c int
	if oa != ob {
		c = cmp.Compare(oa, ob)
	} else {
		// oa == ob implies |sa - sb| equals the difference in digit counts.
		ten := big.NewInt(10)
		if sa < sb {
			ma.Mul(ma, new(big.Int).Exp(ten, big.NewInt(sb-sa), nil))
		} else {
			mb.Mul(mb, new(big.Int).Exp(ten, big.NewInt(sa-sb), nil))
		}
		c = ma.Cmp(mb)
	}
	if ga < 0 {
		c = -c
	}
	return c
}

// uuidTimestamp returns the 60-bit timestamp of a version 1 UUID, reordered
// from the time_low, time_mid and time_hi_and_version fields, with the
// version nibble masked off.
func uuidTimestamp(v []byte) uint64 {
	return uint64(v[6]&0x0f)<<56 | uint64(v[7])<<48 |
		uint64(v[4])<<40 | uint64(v[5])<<32 |
		uint64(binary.BigEndian.Uint32(v[0:4]))
}

// compareTimeuuid is ScyllaDB's utils::timeuuid_tri_compare: timestamp, then
// the clock sequence and node bytes as signed bytes.
func compareTimeuuid(a, b []byte) int {
	if c := cmp.Compare(uuidTimestamp(a), uuidTimestamp(b)); c != 0 {
		return c
	}
	const flip = 0x8080808080808080
	return cmp.Compare(binary.BigEndian.Uint64(a[8:])^flip, binary.BigEndian.Uint64(b[8:])^flip)
}

// compareUUID is ScyllaDB's uuid_type_impl comparator.
func compareUUID(a, b []byte) int {
	va, vb := a[6]>>4, b[6]>>4
	if va != vb {
		return cmp.Compare(va, vb)
	}
	if va == 1 {
		if c := cmp.Compare(uuidTimestamp(a), uuidTimestamp(b)); c != 0 {
			return c
		}
		return cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]))
	}
	return bytes.Compare(a, b)
}

// compareListlike compares two serialized lists or sets whose elements are
// of type elem. ok is false if either value is malformed.
func (elem *Type) compareListlike(a, b []byte, depth int) (c int, ok bool) {
	na, ok1 := readInt(a, 0)
	nb, ok2 := readInt(b, 0)
	if !ok1 || !ok2 || na < 0 || nb < 0 {
		return 0, false
	}
	oa, ob := 4, 4
	for i := 0; i < int(min(na, nb)); i++ {
		var ea, eb []byte
		if ea, oa, ok1 = nextElem(a, oa); !ok1 {
			return 0, false
		}
		if eb, ob, ok2 = nextElem(b, ob); !ok2 {
			return 0, false
		}
		if c := compareNullable(elem, ea, eb, depth); c != 0 {
			return c, true
		}
	}
	return cmp.Compare(na, nb), true
}

// compareNullable compares two elements where nil is NULL, which sorts
// before any value, including the empty value.
func compareNullable(t *Type, a, b []byte, depth int) int {
	if a == nil || b == nil {
		return cmp.Compare(b2i(a != nil), b2i(b != nil))
	}
	return t.compare(a, b, depth+1)
}

func (t *Type) compareMap(a, b []byte, depth int) (c int, ok bool) {
	na, ok1 := readInt(a, 0)
	nb, ok2 := readInt(b, 0)
	if !ok1 || !ok2 || na < 0 || nb < 0 {
		return 0, false
	}
	oa, ob := 4, 4
	for i := 0; i < int(min(na, nb)); i++ {
		for j := 0; j < 2; j++ {
			var ea, eb []byte
			if ea, oa, ok1 = nextElem(a, oa); !ok1 {
				return 0, false
			}
			if eb, ob, ok2 = nextElem(b, ob); !ok2 {
				return 0, false
			}
			if c := compareNullable(t.Elems[j], ea, eb, depth); c != 0 {
				return c, true
			}
		}
	}
	return cmp.Compare(na, nb), true
}

func (t *Type) compareTuple(a, b []byte, depth int) (c int, ok bool) {
	oa, ob := 0, 0
	for i := 0; i < len(t.Elems); i++ {
		moreA, moreB := oa < len(a), ob < len(b)
		if !moreA && !moreB {
			return 0, true
		}
		var ea, eb []byte
		if moreA {
			if ea, oa, ok = nextElem(a, oa); !ok {
				return 0, false
			}
		}
		if moreB {
			if eb, ob, ok = nextElem(b, ob); !ok {
				return 0, false
			}
		}
		// A missing component compares like a NULL one.
		if c := compareNullable(t.Elems[i], ea, eb, depth); c != 0 {
			return c, true
		}
	}
	if oa != len(a) || ob != len(b) {
		return 0, false // too many components
	}
	return 0, true
}
