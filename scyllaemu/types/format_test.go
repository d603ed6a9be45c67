package types

import (
	"math"
	"testing"
)

func TestFormat(t *testing.T) {
	empty := []byte{}
	tests := []struct {
		typ  string
		v    []byte
		want string
	}{
		{"int", nil, "null"},
		{"list<int>", nil, "null"},
		{"int", empty, ""},
		{"text", empty, ""},
		{"blob", empty, "0x"},
		{"list<int>", empty, "[]"},
		{"set<int>", empty, "{}"},
		{"map<int, int>", empty, "{}"},
		{"tuple<int, text>", empty, "(null, null)"},
		{"boolean", []byte{2}, "True"},
		{"tinyint", i8(-5), "-5"},
		{"smallint", i16(-300), "-300"},
		{"bigint", i64(math.MinInt64), "-9223372036854775808"},
		{"counter", i64(12), "12"},
		{"varint", h("ff"), "-1"},
		{"varint", h("ffffffffffffffffffff"), "-1"},
		{"varint", h("0100000000000000000000"), "1208925819614629174706176"},
		{"varint", h("ff00000000000000000000"), "-1208925819614629174706176"},
		{"decimal", i32(3), "0.000"},
		{"decimal", dec(0, h("00")), "0"},
		{"decimal", dec(2, h("00")), "0.00"},
		{"decimal", dec(-2, h("00")), "0E+2"},
		{"decimal", dec(3, h("d6")), "-0.042"},
		{"decimal", dec(1, h("0100000000000000000000")), "120892581961462917470617.6"},
		{"decimal", dec(math.MaxInt32, h("01")), "1E-2147483647"},
		{"decimal", dec(math.MinInt32, h("ff")), "-1E+2147483648"},
		{"decimal", dec(-1, h("7b")), "1.23E+3"},
		{"float", f32(1e30), "1e+30"},
		{"float", f32(float32(math.Copysign(0, -1))), "-0"},
		{"float", f32(16777216), "16777216"},
		{"double", f64(100), "100"},
		{"double", f64(0.0001), "0.0001"},
		{"double", f64(0.00001), "1e-05"},
		{"double", f64(1e21), "1e+21"},
		{"double", h("7ff8000000000001"), "NaN"},
		{"uuid", h("123E4567E89B42D3A456426614174000"), "123e4567-e89b-42d3-a456-426614174000"},
		{"timestamp", i64(math.MaxInt64), "292278994-08-17 07:12:55.807000+0000"},
		{"timestamp", i64(math.MinInt64), "-292275055-05-16 16:47:04.192000+0000"},
		{"timestamp", i64(-62135596800001), "0000-12-31 23:59:59.999000+0000"},
		{"timestamp", i64(-62167219200001), "-0001-12-31 23:59:59.999000+0000"},
		{"date", u32(0), "-5877641-06-23"},
		{"date", u32(math.MaxUint32), "5881580-07-11"},
		{"time", i64(0), "00:00:00.000000000"},
		{"inet", h("7f000001"), "127.0.0.1"},
		{"inet", h("00000000000000000000000000000001"), "::1"},
		{"duration", appendDuration(nil, -14, -3, -1), "-1y2mo3d1ns"},
		{"duration", appendDuration(nil, 0, 0, math.MinInt64), "-2562047h47m16s854ms775us808ns"},

		// Collections quote strings, including empty ones; nested values.
		{"list<text>", coll([]byte("it's"), empty), "['it''s', '']"},
		{"set<ascii>", coll([]byte("a")), "{'a'}"},
		{"list<int>", coll(i32(1), empty), "[1, ]"},
		{"list<blob>", coll(empty, h("01")), "[0x, 0x01]"},
		{"map<text, frozen<list<int>>>", mapv([]byte("k"), coll(i32(1), i32(2))), "{'k': [1, 2]}"},
		{"map<int, boolean>", mapv(i32(1), []byte{1}, i32(2), []byte{0}), "{1: True, 2: False}"},
		{"list<frozen<tuple<int, text>>>", coll(PackTuple([][]byte{i32(1), []byte("a")}), PackTuple([][]byte{nil, nil})), "[(1, 'a'), (null, null)]"},
		{"tuple<text, frozen<set<uuid>>>", PackTuple([][]byte{[]byte("x"), coll(h("123e4567e89b42d3a456426614174000"))}), "('x', {123e4567-e89b-42d3-a456-426614174000})"},
		{"list<timestamp>", coll(i64(0)), "[1970-01-01 00:00:00.000000+0000]"},

		// Malformed values are shown as hex, never panic.
		{"int", []byte{1, 2, 3}, "0x010203"},
		{"text", []byte{0xff}, "0xff"},
		{"timeuuid", h("123e4567e89b42d3a456426614174000"), "0x123e4567e89b42d3a456426614174000"},
		{"time", i64(-1), "0xffffffffffffffff"},
		{"duration", []byte{0xff}, "0xff"},
		{"list<int>", coll(i32(1))[:6], "0x000000010000"},
		{"list<int>", coll([]byte{1}), "0x000000010000000101"},
		{"tuple<int>", PackTuple([][]byte{i32(1), i32(2)}), "0x000000040000000100000004" + "00000002"},
	}
	for _, tc := range tests {
		if got := MustParse(tc.typ).Format(tc.v); got != tc.want {
			t.Errorf("%s.Format(%x) = %q, want %q", tc.typ, tc.v, got, tc.want)
		}
	}
	var nilType *Type
	if got := nilType.Format([]byte{1}); got != "0x01" {
		t.Errorf("nil type Format = %q", got)
	}
	if got := (&Type{Kind: List}).Format(coll()); got != "0x00000000" {
		t.Errorf("malformed type Format = %q", got)
	}
	if got := string(MustParse("int").AppendFormat([]byte("x="), i32(5))); got != "x=5" {
		t.Errorf("AppendFormat = %q", got)
	}
}

// Values produced by FromLiteral and formatted read back to the same value.
func TestFormatReparses(t *testing.T) {
	tests := []struct {
		typ  string
		kind LiteralKind
		text string
	}{
		{"double", LitFloat, "1.7976931348623157e+308"},
		{"double", LitFloat, "5e-324"},
		{"double", LitFloat, "0.30000000000000004"},
		{"float", LitFloat, "3.4028235e+38"},
		{"float", LitFloat, "1.1754944e-38"},
		{"decimal", LitFloat, "-1.000000000000000000000000000001E-30"},
		{"decimal", LitFloat, "1234.5E+300"},
		{"varint", LitInteger, "-340282366920938463463374607431768211456"},
		{"duration", LitDuration, "-1y1mo1d1h1m1s1ms1us1ns"},
	}
	for _, tc := range tests {
		ty := MustParse(tc.typ)
		v := lit(t, tc.typ, tc.kind, tc.text)
		text := ty.Format(v)
		back, err := ty.FromLiteral(tc.kind, text)
		if err != nil {
			t.Errorf("%s: Format gave %q which does not parse: %v", tc.typ, text, err)
			continue
		}
		if ty.Compare(v, back) != 0 {
			t.Errorf("%s: %q -> %x -> %q -> %x", tc.typ, tc.text, v, text, back)
		}
	}
}
