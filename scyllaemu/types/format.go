package types

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
)

// Format renders v, a serialized value of type t, for display the way
// cqlsh does:
//
//	NULL (nil)         null
//	text, ascii        the raw string; inside a collection or tuple
//	                   single-quoted with ' doubled: 'it''s'
//	blob               0x0102ff ("0x" when empty)
//	boolean            True / False
//	integers, counter  decimal digits
//	varint, decimal    exact decimal text; decimals as Java's
//	                   BigDecimal.toString (1.50, 1E+3, 1.2E-8)
//	float, double      shortest representation that reads back to the
//	                   same value: 1.5, 1e+30, NaN, Infinity, -Infinity
//	uuid, timeuuid     canonical lower-case 8-4-4-4-12
//	timestamp          2020-01-02 03:04:05.123000+0000 (UTC)
//	date               2020-01-02
//	time               03:04:05.000000000
//	inet               1.2.3.4 / 2001:db8::1
//	duration           1h30m, -2d, 1y2mo ("0s" for zero)
//	list, set, map     [1, 2]  {1, 2}  {'a': 1}
//	tuple              (1, 'a', null)
//
// An empty (0-byte) scalar value renders as an empty string ("0x" for a
// blob, a pair of single quotes when quoted), an empty collection as [] or
// {}. Format never panics: a value that does not validate (wrong size, bad
// UTF-8, a malformed collection...) renders as 0x-prefixed hex of the
// whole value.
func (t *Type) Format(v []byte) string {
	return string(t.AppendFormat(nil, v))
}

// AppendFormat appends the [Type.Format] text of v to dst and returns the
// extended slice.
func (t *Type) AppendFormat(dst []byte, v []byte) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	if t == nil {
		return appendHex(dst, v)
	}
	return t.appendFormat(dst, v, false, 0)
}

func appendHex(dst, v []byte) []byte {
	dst = append(dst, "0x"...)
	return hex.AppendEncode(dst, v)
}

// appendQuoted appends s in single quotes, doubling embedded quotes.
func appendQuoted(dst []byte, s []byte) []byte {
	dst = append(dst, '\'')
	for _, c := range s {
		if c == '\'' {
			dst = append(dst, '\'')
		}
		dst = append(dst, c)
	}
	return append(dst, '\'')
}

func (t *Type) appendFormat(dst, v []byte, quoted bool, depth int) []byte {
	if depth > maxDepth || t.validate(v, depth) != nil {
		return appendHex(dst, v)
	}
	if len(v) == 0 {
		switch {
		case t.Kind == Blob:
			return append(dst, "0x"...)
		case t.Kind == List:
			return append(dst, "[]"...)
		case t.Kind == Set || t.Kind == Map:
			return append(dst, "{}"...)
		case t.IsTupleLike():
			return t.appendTuple(dst, v, depth)
		case quoted && (t.Kind == Ascii || t.Kind == Varchar):
			return append(dst, "''"...)
		}
		return dst
	}
	switch t.Kind {
	case Ascii, Varchar:
		if quoted {
			return appendQuoted(dst, v)
		}
		return append(dst, v...)
	case Blob:
		return appendHex(dst, v)
	case Boolean:
		if v[0] != 0 {
			return append(dst, "True"...)
		}
		return append(dst, "False"...)
	case Tinyint:
		return strconv.AppendInt(dst, int64(int8(v[0])), 10)
	case Smallint:
		return strconv.AppendInt(dst, int64(int16(binary.BigEndian.Uint16(v))), 10)
	case Int:
		return strconv.AppendInt(dst, int64(int32(binary.BigEndian.Uint32(v))), 10)
	case Bigint, Counter:
		return strconv.AppendInt(dst, int64(binary.BigEndian.Uint64(v)), 10)
	case Varint:
		return appendVarintText(dst, v)
	case Decimal:
		return appendDecimalText(dst, v)
	case Float:
		return appendFloatText(dst, float64(math.Float32frombits(binary.BigEndian.Uint32(v))), 32)
	case Double:
		return appendFloatText(dst, math.Float64frombits(binary.BigEndian.Uint64(v)), 64)
	case UUID, Timeuuid:
		return appendUUIDText(dst, v)
	case Timestamp:
		return appendTimestampText(dst, int64(binary.BigEndian.Uint64(v)))
	case Date:
		y, m, d := civilFromDays(int64(binary.BigEndian.Uint32(v)) - 1<<31)
		return appendYMD(dst, y, m, d)
	case Time:
		n := int64(binary.BigEndian.Uint64(v))
		dst = append2(dst, int(n/3600e9))
		dst = append(dst, ':')
		dst = append2(dst, int(n/60e9%60))
		dst = append(dst, ':')
		dst = append2(dst, int(n/1e9%60))
		dst = append(dst, '.')
		return appendPadded(dst, n%1e9, 9)
	case Inet:
		var a netip.Addr
		if len(v) == 4 {
			a = netip.AddrFrom4([4]byte(v))
		} else {
			a = netip.AddrFrom16([16]byte(v))
		}
		return a.AppendTo(dst)
	case Duration:
		m, d, n, _ := decodeDuration(v)
		return appendDurationText(dst, m, d, n)
	case List, Set, Map:
		return t.appendCollection(dst, v, depth)
	case Tuple, UDT:
		return t.appendTuple(dst, v, depth)
	}
	return appendHex(dst, v)
}

func append2(dst []byte, n int) []byte {
	return appendPadded(dst, int64(n), 2)
}

// appendPadded appends the non-negative n zero-padded to width digits.
func appendPadded(dst []byte, n int64, width int) []byte {
	var buf [20]byte
	s := strconv.AppendInt(buf[:0], n, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func appendYMD(dst []byte, y int64, m, d int) []byte {
	if y < 0 {
		dst = append(dst, '-')
		y = -y
	}
	dst = appendPadded(dst, y, 4)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	return append2(dst, d)
}

// appendTimestampText appends ms since the epoch as cqlsh does:
// "2020-01-02 03:04:05.123000+0000".
func appendTimestampText(dst []byte, ms int64) []byte {
	days := floorDiv(ms, 86400000)
	rem := ms - days*86400000
	y, m, d := civilFromDays(days)
	dst = appendYMD(dst, y, m, d)
	dst = append(dst, ' ')
	dst = append2(dst, int(rem/3600000))
	dst = append(dst, ':')
	dst = append2(dst, int(rem/60000%60))
	dst = append(dst, ':')
	dst = append2(dst, int(rem/1000%60))
	dst = append(dst, '.')
	dst = appendPadded(dst, rem%1000*1000, 6)
	return append(dst, "+0000"...)
}

func appendUUIDText(dst, v []byte) []byte {
	dst = hex.AppendEncode(dst, v[0:4])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, v[4:6])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, v[6:8])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, v[8:10])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, v[10:16])
}

// appendFloatText appends the shortest representation of f that parses
// back to the same float of the given size: plain notation for magnitudes
// in [1e-4, 1e21), exponent notation otherwise, and NaN, Infinity,
// -Infinity for the special values.
func appendFloatText(dst []byte, f float64, bitSize int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-4 && a < 1e21) {
		return strconv.AppendFloat(dst, f, 'f', -1, bitSize)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bitSize)
}

// appendVarintText appends the decimal text of a two's complement
// big-endian integer.
func appendVarintText(dst, v []byte) []byte {
	if len(v) <= 8 {
		n := int64(0)
		if len(v) > 0 && v[0]&0x80 != 0 {
			n = -1
		}
		for _, c := range v {
			n = n<<8 | int64(c)
		}
		return strconv.AppendInt(dst, n, 10)
	}
	return VarintInt(v).Append(dst, 10)
}

// appendDecimalText appends a serialized decimal the way Java's
// BigDecimal.toString does: plain notation when the scale is non-negative
// and the adjusted exponent is at least -6, scientific notation ("1.23E+5",
// "1E-7") otherwise. The output length is bounded by the size of the
// unscaled value whatever the scale.
func appendDecimalText(dst, v []byte) []byte {
	scale := int64(int32(binary.BigEndian.Uint32(v)))
	var coeff []byte
	neg := false
	if u := v[4:]; len(u) <= 8 {
		var buf [24]byte
		coeff = appendVarintText(buf[:0], u)
	} else {
		coeff = VarintInt(u).Append(nil, 10)
	}
	if coeff[0] == '-' {
		neg = true
		coeff = coeff[1:]
	}
	if neg {
		dst = append(dst, '-')
	}
	adjusted := -scale + int64(len(coeff)-1)
	if scale >= 0 && adjusted >= -6 {
		switch {
		case scale == 0:
			return append(dst, coeff...)
		case int64(len(coeff)) > scale:
			p := len(coeff) - int(scale)
			dst = append(dst, coeff[:p]...)
			dst = append(dst, '.')
			return append(dst, coeff[p:]...)
		default:
			dst = append(dst, "0."...)
			for i := int64(len(coeff)); i < scale; i++ {
				dst = append(dst, '0')
			}
			return append(dst, coeff...)
		}
	}
	dst = append(dst, coeff[0])
	if len(coeff) > 1 {
		dst = append(dst, '.')
		dst = append(dst, coeff[1:]...)
	}
	dst = append(dst, 'E')
	if adjusted >= 0 {
		dst = append(dst, '+')
	}
	return strconv.AppendInt(dst, adjusted, 10)
}

func (t *Type) appendCollection(dst, v []byte, depth int) []byte {
	elems, err := UnpackCollection(v)
	if err != nil {
		return appendHex(dst, v)
	}
	lb, rb := byte('{'), byte('}')
	if t.Kind == List {
		lb, rb = '[', ']'
	}
	dst = append(dst, lb)
	for i, e := range elems {
		switch {
		case t.Kind == Map && i%2 == 1:
			dst = append(dst, ": "...)
			dst = t.Elems[1].appendFormat(dst, e, true, depth+1)
			continue
		case i > 0:
			dst = append(dst, ", "...)
		}
		dst = t.Elems[0].appendFormat(dst, e, true, depth+1)
	}
	return append(dst, rb)
}

func (t *Type) appendTuple(dst, v []byte, depth int) []byte {
	comps, err := UnpackTuple(t, v)
	if err != nil {
		return appendHex(dst, v)
	}
	udt := t.Kind == UDT
	if udt {
		dst = append(dst, '{')
	} else {
		dst = append(dst, '(')
	}
	for i, c := range comps {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		if udt {
			dst = AppendIdent(dst, t.Fields[i])
			dst = append(dst, ": "...)
		}
		if c == nil {
			dst = append(dst, "null"...)
			continue
		}
		dst = t.Elems[i].appendFormat(dst, c, true, depth+1)
	}
	if udt {
		return append(dst, '}')
	}
	return append(dst, ')')
}
