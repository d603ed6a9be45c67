package types

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestFromLiteralRoundTrip(t *testing.T) {
	tests := []struct {
		typ    string
		kind   LiteralKind
		text   string
		want   []byte // serialized value; nil to skip the check
		format string // Format of the value; "" means same as text
	}{
		{"tinyint", LitInteger, "-128", i8(-128), ""},
		{"tinyint", LitInteger, "127", i8(127), ""},
		{"smallint", LitInteger, "-32768", i16(-32768), ""},
		{"int", LitInteger, "-7", i32(-7), ""},
		{"int", LitInteger, "2147483647", i32(math.MaxInt32), ""},
		{"bigint", LitInteger, "-9223372036854775808", i64(math.MinInt64), ""},
		{"counter", LitInteger, "42", i64(42), ""},
		{"varint", LitInteger, "0", h("00"), ""},
		{"varint", LitInteger, "127", h("7f"), ""},
		{"varint", LitInteger, "128", h("0080"), ""},
		{"varint", LitInteger, "-128", h("80"), ""},
		{"varint", LitInteger, "-129", h("ff7f"), ""},
		{"varint", LitInteger, "-9223372036854775809", h("ff7fffffffffffffff"), ""},
		{"varint", LitInteger, "9223372036854775808", h("008000000000000000"), ""},
		{"varint", LitInteger, "-18446744073709551616", h("ff0000000000000000"), ""},
		{"varint", LitInteger, "123456789012345678901234567890", nil, ""},
		{"varint", LitInteger, "-123456789012345678901234567890", nil, ""},
		{"decimal", LitInteger, "-42", dec(0, h("d6")), ""},
		{"decimal", LitFloat, "1.50", dec(2, h("0096")), ""},
		{"decimal", LitFloat, "-0.001", dec(3, h("ff")), ""},
		{"decimal", LitFloat, "1e3", dec(-3, h("01")), "1E+3"},
		{"decimal", LitFloat, "1.2E-8", dec(9, h("0c")), ""},
		{"decimal", LitFloat, "-1.2e+2", dec(-1, h("f4")), "-1.2E+2"},
		{"decimal", LitFloat, "0.000001", dec(6, h("01")), ""},
		{"decimal", LitFloat, "0.0000001", dec(7, h("01")), "1E-7"},
		{"decimal", LitFloat, "123456789012345678901234567890.123", nil, ""},
		{"decimal", LitFloat, ".5", dec(1, h("05")), "0.5"},
		{"float", LitFloat, "1.5", f32(1.5), ""},
		{"float", LitFloat, "0.1", f32(0.1), ""},
		{"float", LitInteger, "3", f32(3), ""},
		{"float", LitFloat, "NaN", u32(0x7fc00000), ""},
		{"float", LitFloat, "-Infinity", f32(float32(math.Inf(-1))), ""},
		{"double", LitFloat, "-2e10", f64(-2e10), "-20000000000"},
		{"double", LitFloat, "1e300", f64(1e300), "1e+300"},
		{"double", LitFloat, "0.1", f64(0.1), ""},
		{"double", LitFloat, "Infinity", f64(math.Inf(1)), ""},
		{"double", LitFloat, "NaN", h("7ff8000000000000"), ""},
		{"double", LitInteger, "-5", f64(-5), ""},
		{"double", LitFloat, "1.25e-7", f64(1.25e-7), "1.25e-07"},
		{"boolean", LitBool, "true", []byte{1}, "True"},
		{"boolean", LitBool, "FALSE", []byte{0}, "False"},
		{"text", LitString, "it's ☕", []byte("it's ☕"), ""},
		{"text", LitString, "", []byte{}, ""},
		{"ascii", LitString, "abc", []byte("abc"), ""},
		{"blob", LitHex, "0xCAFE", h("cafe"), "0xcafe"},
		{"blob", LitHex, "0x", []byte{}, "0x"},
		{"uuid", LitUUID, "123E4567-E89B-42D3-A456-426614174000", h("123e4567e89b42d3a456426614174000"), "123e4567-e89b-42d3-a456-426614174000"},
		{"timeuuid", LitUUID, "c0d5d6e0-3f54-11ee-8000-000000000001", h("c0d5d6e03f5411ee8000000000000001"), ""},
		{"inet", LitString, "1.2.3.4", h("01020304"), ""},
		{"inet", LitString, "2001:db8::1", h("20010db8000000000000000000000001"), ""},
		{"inet", LitString, "::ffff:1.2.3.4", h("00000000000000000000ffff01020304"), ""},
		{"timestamp", LitString, "2020-01-02", i64(1577923200000), "2020-01-02 00:00:00.000000+0000"},
		{"timestamp", LitString, "2020-01-02 03:04", i64(1577934240000), "2020-01-02 03:04:00.000000+0000"},
		{"timestamp", LitString, "2020-01-02 03:04:05", i64(1577934245000), "2020-01-02 03:04:05.000000+0000"},
		{"timestamp", LitString, "2020-01-02T03:04:05.123", i64(1577934245123), "2020-01-02 03:04:05.123000+0000"},
		{"timestamp", LitString, "2020-01-02 03:04:05.1", i64(1577934245100), "2020-01-02 03:04:05.100000+0000"},
		{"timestamp", LitString, "2020-01-02 03:04:05.123456789", i64(1577934245123), "2020-01-02 03:04:05.123000+0000"},
		{"timestamp", LitString, "2020-01-02 03:04:05Z", i64(1577934245000), "2020-01-02 03:04:05.000000+0000"},
		{"timestamp", LitString, "2020-01-02 03:04:05+0000", i64(1577934245000), "2020-01-02 03:04:05.000000+0000"},
		{"timestamp", LitString, "2020-01-02 03:04:05+00:00", i64(1577934245000), "2020-01-02 03:04:05.000000+0000"},
		{"timestamp", LitString, "2020-01-02 03:04:05-0700", i64(1577959445000), "2020-01-02 10:04:05.000000+0000"},
		{"timestamp", LitString, "2020-01-02 03:04:05+01", i64(1577930645000), "2020-01-02 02:04:05.000000+0000"},
		{"timestamp", LitString, "2020-01-02T03:04:05.5 UTC", i64(1577934245500), "2020-01-02 03:04:05.500000+0000"},
		{"timestamp", LitString, "1969-12-31 23:59:59.999", i64(-1), "1969-12-31 23:59:59.999000+0000"},
		{"timestamp", LitString, "1577934245123", i64(1577934245123), "2020-01-02 03:04:05.123000+0000"},
		{"timestamp", LitInteger, "-1", i64(-1), "1969-12-31 23:59:59.999000+0000"},
		{"timestamp", LitInteger, "0", i64(0), "1970-01-01 00:00:00.000000+0000"},
		{"date", LitString, "2020-01-02", u32(1<<31 + 18263), ""},
		{"date", LitString, "1970-01-01", u32(1 << 31), ""},
		{"date", LitString, "1969-12-31", u32(1<<31 - 1), ""},
		{"date", LitString, "2000-02-29", nil, ""},
		{"date", LitString, "-0001-01-01", nil, ""},
		{"date", LitString, "-5877641-06-23", u32(0), ""},
		{"date", LitString, "5881580-07-11", u32(math.MaxUint32), ""},
		{"date", LitString, "2147483648", u32(1 << 31), "1970-01-01"},
		{"date", LitInteger, "2147483649", u32(1<<31 + 1), "1970-01-02"},
		{"time", LitString, "08:12:54", i64(29574000000000), "08:12:54.000000000"},
		{"time", LitString, "08:12:54.123456789", i64(29574123456789), ""},
		{"time", LitString, "23:59:59.999999999", i64(MaxTime), ""},
		{"time", LitString, "00:00:00.5", i64(5e8), "00:00:00.500000000"},
		{"duration", LitDuration, "1h30m", nil, ""},
		{"duration", LitDuration, "2d", nil, ""},
		{"duration", LitDuration, "500ms", nil, ""},
		{"duration", LitDuration, "1y2mo", nil, ""},
		{"duration", LitDuration, "14mo", nil, "1y2mo"},
		{"duration", LitDuration, "3us", nil, ""},
		{"duration", LitDuration, "3µs", nil, "3us"},
		{"duration", LitDuration, "4ns", nil, ""},
		{"duration", LitDuration, "1w", nil, "7d"},
		{"duration", LitDuration, "1W2D", nil, "9d"},
		{"duration", LitDuration, "90m", nil, "1h30m"},
		{"duration", LitDuration, "1MO1M", nil, "1mo1m"},
		{"duration", LitDuration, "-1h", appendDuration(nil, 0, 0, -3600e9), ""},
		{"duration", LitDuration, "1y2mo3w4d5h6m7s8ms9us10ns", nil, "1y2mo25d5h6m7s8ms9us10ns"},
		{"duration", LitDuration, "P1Y2M3DT4H5M6S", appendDuration(nil, 14, 3, 4*3600e9+5*60e9+6e9), "1y2mo3d4h5m6s"},
		{"duration", LitDuration, "P2W", appendDuration(nil, 0, 14, 0), "14d"},
		{"duration", LitDuration, "PT0S", appendDuration(nil, 0, 0, 0), "0s"},
		{"duration", LitDuration, "-P1D", appendDuration(nil, 0, -1, 0), "-1d"},
		{"duration", LitDuration, "P0001-02-03T04:05:06", appendDuration(nil, 14, 3, 4*3600e9+5*60e9+6e9), "1y2mo3d4h5m6s"},
		{"duration", LitDuration, "2147483647mo", appendDuration(nil, math.MaxInt32, 0, 0), "178956970y7mo"},
		{"duration", LitDuration, "9223372036854775807ns", nil, "2562047h47m16s854ms775us807ns"},
	}
	for _, tc := range tests {
		ty := MustParse(tc.typ)
		v, err := ty.FromLiteral(tc.kind, tc.text)
		if err != nil {
			t.Errorf("%s FromLiteral(%v, %q): %v", tc.typ, tc.kind, tc.text, err)
			continue
		}
		if tc.want != nil && !bytes.Equal(v, tc.want) {
			t.Errorf("%s FromLiteral(%v, %q) = %x, want %x", tc.typ, tc.kind, tc.text, v, tc.want)
		}
		if err := ty.Validate(v); err != nil {
			t.Errorf("%s FromLiteral(%v, %q) = %x does not validate: %v", tc.typ, tc.kind, tc.text, v, err)
		}
		want := tc.format
		if want == "" {
			want = tc.text
		}
		if got := ty.Format(v); got != want {
			t.Errorf("%s Format(FromLiteral(%q)) = %q, want %q", tc.typ, tc.text, got, want)
		}
	}
}

func TestFromLiteralNow(t *testing.T) {
	before := time.Now().UnixMilli()
	v := lit(t, "timestamp", LitString, "NOW")
	after := time.Now().UnixMilli()
	if ms := int64(i64Value(v)); ms < before || ms > after {
		t.Errorf("now = %d, want within [%d, %d]", ms, before, after)
	}
}

func i64Value(v []byte) int64 {
	var n int64
	for _, c := range v {
		n = n<<8 | int64(c)
	}
	return n
}

func TestFromLiteralErrors(t *testing.T) {
	tests := []struct {
		typ  string
		kind LiteralKind
		text string
		want string // exact Error(), or a substring if prefixed with "~"
	}{
		// Kinds a type does not accept (ScyllaDB's assignment rules).
		{"uuid", LitString, "abc", "Invalid STRING constant (abc) for type uuid"},
		{"blob", LitString, "abc", "Invalid STRING constant (abc) for type blob"},
		{"int", LitString, "1", "Invalid STRING constant (1) for type int"},
		{"text", LitInteger, "1", "Invalid INTEGER constant (1) for type text"},
		{"time", LitInteger, "1", "Invalid INTEGER constant (1) for type time"},
		{"duration", LitInteger, "1", "Invalid INTEGER constant (1) for type duration"},
		{"boolean", LitInteger, "1", "Invalid INTEGER constant (1) for type boolean"},
		{"int", LitFloat, "1.5", "Invalid FLOAT constant (1.5) for type int"},
		{"text", LitBool, "true", "Invalid BOOLEAN constant (true) for type text"},
		{"text", LitUUID, "123e4567-e89b-42d3-a456-426614174000", "Invalid UUID constant (123e4567-e89b-42d3-a456-426614174000) for type text"},
		{"text", LitHex, "0x00", "Invalid HEX constant (0x00) for type text"},
		{"int", LitHex, "0x00000001", "Invalid HEX constant (0x00000001) for type int"},
		{"text", LitDuration, "1h", "Invalid DURATION constant (1h) for type text"},
		{"list<int>", LitInteger, "1", "Invalid INTEGER constant (1) for type list<int>"},
		{"tuple<int>", LitInteger, "1", "Invalid INTEGER constant (1) for type frozen<tuple<int>>"},
		{"int", LiteralKind(99), "x", "~LiteralKind(99)"},

		// Conversion failures.
		{"tinyint", LitInteger, "300", "Invalid INTEGER constant (300) for type tinyint: out of range [-128, 127]"},
		{"tinyint", LitInteger, "-129", "~out of range"},
		{"smallint", LitInteger, "32768", "~out of range [-32768, 32767]"},
		{"int", LitInteger, "2147483648", "~out of range"},
		{"bigint", LitInteger, "9223372036854775808", "~out of range"},
		{"int", LitInteger, "12a", "~invalid number format"},
		{"varint", LitInteger, "+5", "~invalid number format"},
		{"varint", LitInteger, "0x10", "~invalid number format"},
		{"float", LitFloat, "1e39", "~out of range"},
		{"float", LitFloat, "abc", "~invalid number format"},
		{"double", LitFloat, "0x1p-2", "~invalid number format"},
		{"decimal", LitFloat, "NaN", "~invalid number format"},
		{"decimal", LitFloat, "1e99999999999", "~scale out of range"},
		{"decimal", LitFloat, "1e-2147483649", "~scale out of range"},
		{"boolean", LitBool, "yes", "~invalid boolean"},
		{"ascii", LitString, "café", "~non-ASCII"},
		{"text", LitString, "a\xff", "~non-UTF8"},
		{"uuid", LitUUID, "123e4567-e89b-42d3-a456-42661417400", "~invalid UUID"},
		{"uuid", LitUUID, "123e4567-e89b-42d3-a456-42661417400g", "~invalid UUID"},
		{"timeuuid", LitUUID, "123e4567-e89b-42d3-a456-426614174000", "Invalid UUID constant (123e4567-e89b-42d3-a456-426614174000) for type timeuuid: Unsupported UUID version (4)"},
		{"blob", LitHex, "0xabc", "~even length"},
		{"blob", LitHex, "0xzz", "~non-hex"},
		{"blob", LitHex, "cafe", "~0x"},
		{"inet", LitString, "1.2.3", "~unable to parse inet"},
		{"inet", LitString, "fe80::1%eth0", "~unable to parse inet"},
		{"timestamp", LitString, "2020-13-01", "~unable to parse date"},
		{"timestamp", LitString, "2020-02-30", "~unable to parse date"},
		{"timestamp", LitString, "20-01-01", "~unable to parse date"},
		{"timestamp", LitString, "2020-01-01 24:00", "~unable to parse date"},
		{"timestamp", LitString, "2020-01-01 10:00:00.1234567890", "~unable to parse date"},
		{"timestamp", LitString, "2020-01-01 10:00 PST", "~unable to parse timezone"},
		{"timestamp", LitString, "2020-01-01 10:00+25", "~unable to parse timezone"},
		{"timestamp", LitString, "yesterday", "~unable to parse date"},
		{"timestamp", LitString, "99999999999999999999", "~out of range"},
		{"date", LitString, "2020-02-30", "~unable to coerce"},
		{"date", LitString, "2020-01-02 10:00", "~unable to coerce"},
		{"date", LitString, "5881580-07-12", "~out of the supported range"},
		{"date", LitString, "4294967296", "~unable to make unsigned int"},
		{"date", LitInteger, "-1", "~unable to make unsigned int"},
		{"time", LitString, "24:00:00", "~Hour out of bounds (24)"},
		{"time", LitString, "10:60:00", "~Minute out of bounds"},
		{"time", LitString, "10:00:60", "~Second out of bounds"},
		{"time", LitString, "10:00", "~hh:mm:ss"},
		{"time", LitString, "10:00:00.1234567890", "~hh:mm:ss"},
		{"time", LitString, "10:00:00x", "~hh:mm:ss"},
		{"duration", LitDuration, "1h1h", "~The hours are specified multiple times"},
		{"duration", LitDuration, "1m1h", "~The minutes should be after hours"},
		{"duration", LitDuration, "1x", "~Unable to convert '1x' to a duration"},
		{"duration", LitDuration, "h", "~Unable to convert"},
		{"duration", LitDuration, "", "~Unable to convert"},
		{"duration", LitDuration, "-", "~Unable to convert"},
		{"duration", LitDuration, "P1Y1Y", "~Unable to convert"},
		{"duration", LitDuration, "P1W2D", "~Unable to convert"},
		{"duration", LitDuration, "P0001-02-03", "~Unable to convert"},
		{"duration", LitDuration, "2147483648mo", "~The number of months must be less than or equal to 2147483647"},
		{"duration", LitDuration, "99999999999999999999ns", "~The count for the nanoseconds is out of range"},
		{"duration", LitDuration, "9223372036854775807ns1ns", "~The number of nanoseconds must be less than or equal to 0"},
		{"duration", LitDuration, "2562048h", "~The number of hours must be less than or equal to 2562047"},
	}
	for _, tc := range tests {
		ty := MustParse(tc.typ)
		v, err := ty.FromLiteral(tc.kind, tc.text)
		if err == nil {
			t.Errorf("%s FromLiteral(%v, %q) = %x, want error %q", tc.typ, tc.kind, tc.text, v, tc.want)
			continue
		}
		var le *LiteralError
		if !errors.As(err, &le) || le.Kind != tc.kind || le.Text != tc.text || !le.Type.Equal(ty) {
			t.Errorf("%s FromLiteral(%v, %q): error %#v is not a matching *LiteralError", tc.typ, tc.kind, tc.text, err)
		}
		if sub, ok := strings.CutPrefix(tc.want, "~"); ok {
			if !strings.Contains(err.Error(), sub) {
				t.Errorf("%s FromLiteral(%v, %q) error %q, want it to contain %q", tc.typ, tc.kind, tc.text, err, sub)
			}
		} else if err.Error() != tc.want {
			t.Errorf("%s FromLiteral(%v, %q) error %q, want %q", tc.typ, tc.kind, tc.text, err, tc.want)
		}
	}

	e := &LiteralError{Kind: LitString, Text: "abc", Type: MustParse("uuid"), Column: "id"}
	if got, want := e.Error(), `Invalid STRING constant (abc) for "id" of type uuid`; got != want {
		t.Errorf("LiteralError with column = %q, want %q", got, want)
	}
	var nilType *Type
	if _, err := nilType.FromLiteral(LitInteger, "1"); err == nil {
		t.Error("nil type accepted a literal")
	}
}

// The lexical kinds must stay in step with the parser's cql.LitKind.
func TestLiteralKindNames(t *testing.T) {
	names := []string{"STRING", "INTEGER", "FLOAT", "BOOLEAN", "UUID", "HEX", "DURATION"}
	for i, n := range names {
		if got := LiteralKind(i).String(); got != n {
			t.Errorf("LiteralKind(%d) = %s, want %s", i, got, n)
		}
	}
	if LitString != 0 || LitDuration != 6 {
		t.Error("LiteralKind values moved")
	}
}
