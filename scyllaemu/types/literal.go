package types

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// LiteralKind is the lexical kind of a CQL constant. The values mirror the
// parser's cql.LitKind one for one (same order, same meaning), so the
// executor can convert with LiteralKind(c.Kind).
type LiteralKind int

// The lexical kinds of CQL constants.
const (
	LitString   LiteralKind = iota // 'text' or $$text$$; Text is already unescaped
	LitInteger                     // 42, -7
	LitFloat                       // 1.5, -2e10, NaN, Infinity, -Infinity
	LitBool                        // true / false, any case
	LitUUID                        // 123e4567-e89b-12d3-a456-426614174000
	LitHex                         // 0xCAFE; Text keeps the 0x prefix
	LitDuration                    // 1h30m, P1D, -500ms
)

// String returns the kind's name as ScyllaDB prints it in error messages:
// STRING, INTEGER, FLOAT, BOOLEAN, UUID, HEX or DURATION.
func (k LiteralKind) String() string {
	switch k {
	case LitString:
		return "STRING"
	case LitInteger:
		return "INTEGER"
	case LitFloat:
		return "FLOAT"
	case LitBool:
		return "BOOLEAN"
	case LitUUID:
		return "UUID"
	case LitHex:
		return "HEX"
	case LitDuration:
		return "DURATION"
	}
	return "LiteralKind(" + strconv.Itoa(int(k)) + ")"
}

// LiteralError is the error returned by [Type.FromLiteral]: the constant
// Text of lexical Kind cannot be converted to Type.
//
// Reason is empty when the kind of constant is not assignable to the type
// at all (a STRING for a uuid column); it says what is wrong otherwise (an
// INTEGER out of the range of a tinyint). Column is never set by this
// package; the executor may set it to the receiving column's name to get
// ScyllaDB's exact wording.
type LiteralError struct {
	Kind   LiteralKind
	Text   string
	Type   *Type
	Reason string
	Column string
}

// Error reads like ScyllaDB's message:
//
//	Invalid STRING constant (abc) for type uuid
//	Invalid STRING constant (abc) for "id" of type uuid      (Column set)
//	Invalid INTEGER constant (300) for type tinyint: out of range [-128, 127]
func (e *LiteralError) Error() string {
	var sb strings.Builder
	sb.WriteString("Invalid ")
	sb.WriteString(e.Kind.String())
	sb.WriteString(" constant (")
	sb.WriteString(e.Text)
	sb.WriteString(") for ")
	if e.Column != "" {
		sb.WriteString(strconv.Quote(e.Column))
		sb.WriteString(" of ")
	}
	sb.WriteString("type ")
	sb.WriteString(e.Type.String())
	if e.Reason != "" {
		sb.WriteString(": ")
		sb.WriteString(e.Reason)
	}
	return sb.String()
}

// FromLiteral converts a CQL constant to the serialized value of type t.
// kind and text are as produced by the lexer: strings already unescaped,
// integers possibly with a leading '-', floats possibly NaN, Infinity or
// -Infinity, hex blobs with their 0x prefix, booleans in any case.
//
// Which kinds a type accepts follows ScyllaDB
// (cql3/expr/prepare_expr.cc, untyped_constant_test_assignment):
//
//	STRING    ascii, text, inet, timestamp, date, time
//	INTEGER   tinyint, smallint, int, bigint, counter, varint, decimal,
//	          float, double, timestamp, date
//	FLOAT     float, double, decimal
//	BOOLEAN   boolean
//	UUID      uuid, timeuuid (which must then be version 1)
//	HEX       blob
//	DURATION  duration
//
// Any other combination, and any collection or tuple type, fails with a
// *LiteralError with an empty Reason. Conversion failures (out of range,
// bad format) fail with a *LiteralError carrying a Reason.
//
// Conversions:
//   - integers are range-checked for their type (tinyint -128..127 and so
//     on); an INTEGER for a timestamp is milliseconds since the Unix epoch,
//     for a date the raw unsigned day number (2^31 is 1970-01-01);
//   - floats: a float constant that overflows a float is an error;
//     NaN/Infinity are not decimals;
//   - a decimal keeps the scale of the constant ("1.50" has scale 2);
//   - timestamp strings: "yyyy-mm-dd", optionally followed by ' ' or 'T'
//     and "hh:mm", "hh:mm:ss" or "hh:mm:ss.f" (1 to 9 fraction digits,
//     truncated to milliseconds), optionally followed by a zone: "Z",
//     "UTC", "GMT", "+hh", "+hhmm", "+hh:mm" (or '-'); no zone means UTC.
//     An integer string is milliseconds since the epoch; "now" is the
//     current time;
//   - date strings: "yyyy-mm-dd" (the year may have any number of digits
//     and a '-' sign) or an integer string, the raw unsigned day number;
//   - time strings: "hh:mm:ss" with an optional fraction of 1 to 9 digits;
//   - inet strings: IPv4 (4 bytes) or IPv6 (16 bytes) text without zone;
//   - durations: see the standard ("1h30m", "1y2mo", "1w", "500ms", "3us",
//     "4ns"), ISO 8601 ("P1Y2M3DT4H5M6S", "P2W") and ISO 8601 alternative
//     ("P0001-02-03T04:05:06") forms, optionally negative ("-1h").
func (t *Type) FromLiteral(kind LiteralKind, text string) ([]byte, error) {
	if t == nil {
		return nil, errors.New("nil type")
	}
	fail := func(reason string) ([]byte, error) {
		return nil, &LiteralError{Kind: kind, Text: text, Type: t, Reason: reason}
	}
	notAssignable := func() ([]byte, error) { return fail("") }

	switch kind {
	case LitString:
		switch t.Kind {
		case Ascii:
			for i := 0; i < len(text); i++ {
				if text[i] >= 0x80 {
					return fail("non-ASCII character in an ASCII string")
				}
			}
			return []byte(text), nil
		case Varchar:
			if !utf8.ValidString(text) {
				return fail("non-UTF8 character in a UTF8 string")
			}
			return []byte(text), nil
		case Inet:
			b, err := parseInet(text)
			if err != nil {
				return fail(err.Error())
			}
			return b, nil
		case Timestamp:
			ms, err := parseTimestamp(text)
			if err != nil {
				return fail(err.Error())
			}
			return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(ms)), nil
		case Date:
			d, err := parseDate(text)
			if err != nil {
				return fail(err.Error())
			}
			return binary.BigEndian.AppendUint32(make([]byte, 0, 4), d), nil
		case Time:
			n, err := parseTime(text)
			if err != nil {
				return fail(err.Error())
			}
			return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(n)), nil
		}
		return notAssignable()

	case LitInteger:
		switch t.Kind {
		case Tinyint, Smallint, Int, Bigint, Counter, Timestamp:
			bitSize := 64
			switch t.Kind {
			case Tinyint:
				bitSize = 8
			case Smallint:
				bitSize = 16
			case Int:
				bitSize = 32
			}
			n, err := strconv.ParseInt(text, 10, bitSize)
			if err != nil {
				if errors.Is(err, strconv.ErrRange) {
					lo, hi := int64(-1)<<(bitSize-1), int64(uint64(1)<<(bitSize-1)-1)
					return fail("out of range [" + strconv.FormatInt(lo, 10) + ", " + strconv.FormatInt(hi, 10) + "]")
				}
				return fail("invalid number format")
			}
			return appendFixedInt(nil, n, bitSize/8), nil
		case Varint:
			z, ok := new(big.Int).SetString(text, 10)
			if !ok || !isIntegerText(text) {
				return fail("invalid number format")
			}
			return AppendVarint(nil, z), nil
		case Decimal:
			v, err := parseDecimal(text)
			if err != nil {
				return fail(err.Error())
			}
			return v, nil
		case Float, Double:
			return floatLiteral(t, text, fail)
		case Date:
			if !isIntegerText(text) {
				return fail("invalid number format")
			}
			n, err := strconv.ParseInt(text, 10, 64)
			if err != nil || n < 0 || n > math.MaxUint32 {
				return fail("unable to make unsigned int (for date) from " + text)
			}
			return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(n)), nil
		}
		return notAssignable()

	case LitFloat:
		switch t.Kind {
		case Float, Double:
			return floatLiteral(t, text, fail)
		case Decimal:
			v, err := parseDecimal(text)
			if err != nil {
				return fail(err.Error())
			}
			return v, nil
		}
		return notAssignable()

	case LitBool:
		if t.Kind != Boolean {
			return notAssignable()
		}
		switch strings.ToLower(text) {
		case "true":
			return []byte{1}, nil
		case "false":
			return []byte{0}, nil
		}
		return fail("invalid boolean")

	case LitUUID:
		if t.Kind != UUID && t.Kind != Timeuuid {
			return notAssignable()
		}
		u, ok := parseUUID(text)
		if !ok {
			return fail("invalid UUID")
		}
		if t.Kind == Timeuuid && u[6]>>4 != 1 {
			return fail("Unsupported UUID version (" + strconv.Itoa(int(u[6]>>4)) + ")")
		}
		return u, nil

	case LitHex:
		if t.Kind != Blob {
			return notAssignable()
		}
		if len(text) < 2 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X') {
			return fail("hex constant must start with 0x")
		}
		h := text[2:]
		if len(h)%2 != 0 {
			return fail("an hex string representing bytes must have an even length")
		}
		b := make([]byte, len(h)/2)
		if _, err := hex.Decode(b, []byte(h)); err != nil {
			return fail("non-hex character in hex string")
		}
		return b, nil

	case LitDuration:
		if t.Kind != Duration {
			return notAssignable()
		}
		m, d, n, err := parseDurationLiteral(text)
		if err != nil {
			return fail(err.Error())
		}
		return appendDuration(nil, m, d, n), nil
	}
	return notAssignable()
}

// isIntegerText reports whether s is an optional '-' followed by decimal
// digits.
func isIntegerText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && digits(s) == len(s)
}

// appendFixedInt appends n as a big-endian integer of size bytes.
func appendFixedInt(dst []byte, n int64, size int) []byte {
	for i := size - 1; i >= 0; i-- {
		dst = append(dst, byte(n>>(8*i)))
	}
	return dst
}

func floatLiteral(t *Type, text string, fail func(string) ([]byte, error)) ([]byte, error) {
	bitSize := 64
	if t.Kind == Float {
		bitSize = 32
	}
	lower := strings.ToLower(strings.TrimPrefix(text, "-"))
	special := lower == "nan" || lower == "infinity"
	if !special && !isDecimalText(text) {
		return fail("invalid number format")
	}
	f, err := strconv.ParseFloat(text, bitSize)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && f != 0 {
			return fail("out of range for type " + t.Kind.String())
		}
		if !errors.Is(err, strconv.ErrRange) {
			return fail("invalid number format")
		}
	}
	if bitSize == 32 {
		bits := math.Float32bits(float32(f))
		if math.IsNaN(f) {
			bits = 0x7fc00000 // canonical NaN, as Java's floatToIntBits
		}
		return binary.BigEndian.AppendUint32(make([]byte, 0, 4), bits), nil
	}
	bits := math.Float64bits(f)
	if math.IsNaN(f) {
		bits = 0x7ff8000000000000 // canonical NaN, as Java's doubleToLongBits
	}
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), bits), nil
}

// isDecimalText reports whether s is [-]digits[.digits][(e|E)[+-]digits]
// (at least one digit in the mantissa), the number syntax of CQL.
func isDecimalText(s string) bool {
	_, _, _, ok := splitDecimal(s)
	return ok
}

// splitDecimal splits [-]int[.frac][(e|E)[+-]exp].
func splitDecimal(s string) (neg bool, mant string, fracDigits int, expOK bool) {
	if strings.HasPrefix(s, "-") {
		neg = true
		s = s[1:]
	}
	i := digits(s)
	intPart := s[:i]
	s = s[i:]
	frac := ""
	if strings.HasPrefix(s, ".") {
		s = s[1:]
		j := digits(s)
		frac = s[:j]
		s = s[j:]
	}
	if intPart == "" && frac == "" {
		return false, "", 0, false
	}
	if s != "" {
		if s[0] != 'e' && s[0] != 'E' {
			return false, "", 0, false
		}
		s = s[1:]
		if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
			s = s[1:]
		}
		if s == "" || digits(s) != len(s) {
			return false, "", 0, false
		}
	}
	return neg, intPart + frac, len(frac), true
}

// parseDecimal converts decimal or integer text to a serialized decimal,
// keeping the scale of the text like Java's new BigDecimal(String).
func parseDecimal(text string) ([]byte, error) {
	neg, mant, fracDigits, ok := splitDecimal(text)
	if !ok {
		return nil, errors.New("invalid number format")
	}
	scale := int64(fracDigits)
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		exp, err := strconv.ParseInt(strings.TrimPrefix(text[i+1:], "+"), 10, 64)
		if err != nil {
			return nil, errors.New("exponent out of range")
		}
		scale -= exp
	}
	if scale != int64(int32(scale)) {
		return nil, errors.New("scale out of range")
	}
	z, _ := new(big.Int).SetString(mant, 10)
	if neg {
		z.Neg(z)
	}
	dst := binary.BigEndian.AppendUint32(make([]byte, 0, 8), uint32(int32(scale)))
	return AppendVarint(dst, z), nil
}

// AppendVarint appends z as a varint value: the minimal two's complement
// big-endian form.
func AppendVarint(dst []byte, z *big.Int) []byte {
	if z.IsInt64() {
		n := z.Int64()
		size := 1
		for size < 8 && (n < -(1<<(8*size-1)) || n >= 1<<(8*size-1)) {
			size++
		}
		return appendFixedInt(dst, n, size)
	}
	if z.Sign() > 0 {
		b := z.Bytes()
		if b[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		return append(dst, b...)
	}
	// Negative: two's complement of |z| in enough bytes for the sign bit.
	m := new(big.Int).Neg(z)
	m.Sub(m, big.NewInt(1)) // |z| - 1, whose bitwise complement is z
	b := m.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		dst = append(dst, 0xff)
	}
	for _, c := range b {
		dst = append(dst, ^c)
	}
	return dst
}

// parseUUID parses the canonical 8-4-4-4-12 hex form, any case.
func parseUUID(s string) ([]byte, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, false
	}
	u := make([]byte, 16)
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func parseInet(s string) ([]byte, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return nil, errors.New("unable to parse inet address '" + s + "'")
	}
	if a.Is4() {
		b := a.As4()
		return b[:], nil
	}
	b := a.As16()
	return b[:], nil
}

// daysFromCivil returns the number of days from 1970-01-01 to the given
// proleptic Gregorian date (Howard Hinnant's algorithm).
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func daysInMonth(y int64, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// num parses a run of 1..maxLen digits at the start of s.
func num(s string, maxLen int) (n int, rest string, ok bool) {
	i := digits(s)
	if i == 0 || i > maxLen {
		return 0, s, false
	}
	n, _ = strconv.Atoi(s[:i])
	return n, s[i:], true
}

// parseYMD parses "y-m-d" at the start of s with a year of yearDigits
// digits (0 meaning any number, with an optional '-' sign), validating the
// calendar date.
func parseYMD(s string, yearDigits int) (y int64, m, d int, rest string, err error) {
	orig := s
	bad := errors.New("unable to parse date '" + orig + "'")
	neg := false
	if yearDigits == 0 && strings.HasPrefix(s, "-") {
		neg = true
		s = s[1:]
	}
	i := digits(s)
	if i == 0 || (yearDigits != 0 && i != yearDigits) || i > 18 {
		return 0, 0, 0, "", bad
	}
	y, _ = strconv.ParseInt(s[:i], 10, 64)
	if neg {
		y = -y
	}
	s = s[i:]
	if !strings.HasPrefix(s, "-") {
		return 0, 0, 0, "", bad
	}
	var ok bool
	if m, s, ok = num(s[1:], 2); !ok || !strings.HasPrefix(s, "-") {
		return 0, 0, 0, "", bad
	}
	if d, s, ok = num(s[1:], 2); !ok {
		return 0, 0, 0, "", bad
	}
	if m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m) {
		return 0, 0, 0, "", errors.New("invalid date '" + orig + "'")
	}
	return y, m, d, s, nil
}

// parseTimestamp parses a timestamp string to milliseconds since the epoch.
func parseTimestamp(text string) (int64, error) {
	s := strings.TrimSpace(text)
	if strings.EqualFold(s, "now") {
		return time.Now().UnixMilli(), nil
	}
	if isIntegerText(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, errors.New("timestamp out of range")
		}
		return n, nil
	}
	bad := errors.New("unable to parse date '" + text + "'")
	y, mo, d, s, err := parseYMD(s, 4)
	if err != nil {
		return 0, bad
	}
	var h, mi, sec, ms int
	if len(s) > 0 && (s[0] == ' ' || s[0] == 'T' || s[0] == 't') && len(s) > 1 && isDigit(s[1]) {
		var ok bool
		if h, s, ok = num(s[1:], 2); !ok || !strings.HasPrefix(s, ":") {
			return 0, bad
		}
		if mi, s, ok = num(s[1:], 2); !ok {
			return 0, bad
		}
		if strings.HasPrefix(s, ":") {
			if sec, s, ok = num(s[1:], 2); !ok {
				return 0, bad
			}
			if strings.HasPrefix(s, ".") {
				n := digits(s[1:])
				if n == 0 || n > 9 {
					return 0, bad
				}
				frac := s[1 : 1+n]
				for len(frac) < 3 {
					frac += "0"
				}
				ms, _ = strconv.Atoi(frac[:3])
				s = s[1+n:]
			}
		}
		if h > 23 || mi > 59 || sec > 59 {
			return 0, bad
		}
	}
	off, err := parseZone(s)
	if err != nil {
		return 0, errors.New("unable to parse date '" + text + "': " + err.Error())
	}
	days := daysFromCivil(y, mo, d)
	return ((days*24+int64(h))*60+int64(mi)-off)*60000 + int64(sec)*1000 + int64(ms), nil
}

// parseZone parses the optional zone suffix of a timestamp and returns its
// offset from UTC in minutes.
func parseZone(s string) (int64, error) {
	z := strings.TrimSpace(s)
	switch strings.ToLower(z) {
	case "", "z", "utc", "gmt":
		return 0, nil
	}
	if z[0] != '+' && z[0] != '-' {
		return 0, errors.New("unable to parse timezone '" + s + "'")
	}
	sign := int64(1)
	if z[0] == '-' {
		sign = -1
	}
	r := z[1:]
	if len(r) < 2 || digits(r[:2]) != 2 {
		return 0, errors.New("unable to parse timezone '" + s + "'")
	}
	h, _ := strconv.Atoi(r[:2])
	r = strings.TrimPrefix(r[2:], ":")
	m := 0
	if r != "" {
		if len(r) != 2 || digits(r) != 2 {
			return 0, errors.New("unable to parse timezone '" + s + "'")
		}
		m, _ = strconv.Atoi(r)
	}
	if h > 23 || m > 59 {
		return 0, errors.New("unable to parse timezone '" + s + "'")
	}
	return sign * int64(h*60+m), nil
}

// parseDate parses a date string to its serialized unsigned day number.
func parseDate(text string) (uint32, error) {
	s := text
	if isIntegerText(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > math.MaxUint32 {
			return 0, errors.New("unable to make unsigned int (for date) from " + text)
		}
		return uint32(n), nil
	}
	y, m, d, rest, err := parseYMD(s, 0)
	if err != nil || rest != "" {
		return 0, errors.New("unable to coerce '" + text + "' to a formatted date (long)")
	}
	if y > 1e7 || y < -1e7 {
		return 0, errors.New("input date " + text + " is out of the supported range")
	}
	days := daysFromCivil(y, m, d)
	if days < math.MinInt32 || days > math.MaxInt32 {
		return 0, errors.New("input date " + text + " is out of the supported range")
	}
	return uint32(days + 1<<31), nil
}

// parseTime parses "hh:mm:ss[.fffffffff]" to nanoseconds since midnight.
func parseTime(text string) (int64, error) {
	bad := errors.New("Timestamp format must be hh:mm:ss[.fffffffff]") //nolint:staticcheck // ScyllaDB's wording.
	h, s, ok := num(text, 2)
	if !ok || !strings.HasPrefix(s, ":") {
		return 0, bad
	}
	m, s, ok := num(s[1:], 2)
	if !ok || !strings.HasPrefix(s, ":") {
		return 0, bad
	}
	sec, s, ok := num(s[1:], 2)
	if !ok {
		return 0, bad
	}
	var nanos int64
	if strings.HasPrefix(s, ".") {
		n := digits(s[1:])
		if n == 0 || n > 9 || 1+n != len(s) {
			return 0, bad
		}
		frac := s[1:] + strings.Repeat("0", 9-n)
		nanos, _ = strconv.ParseInt(frac, 10, 64)
		s = ""
	}
	if s != "" {
		return 0, bad
	}
	if h > 23 {
		return 0, errors.New("Hour out of bounds (" + strconv.Itoa(h) + ").") //nolint:staticcheck
	}
	if m > 59 {
		return 0, errors.New("Minute out of bounds (" + strconv.Itoa(m) + ").") //nolint:staticcheck
	}
	if sec > 59 {
		return 0, errors.New("Second out of bounds (" + strconv.Itoa(sec) + ").") //nolint:staticcheck
	}
	return ((int64(h)*60+int64(m))*60+int64(sec))*1e9 + nanos, nil
}
