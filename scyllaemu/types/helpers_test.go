package types

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"strings"
	"testing"
)

// Serialization helpers for tests.

func i8(n int8) []byte   { return []byte{byte(n)} }
func i16(n int16) []byte { return binary.BigEndian.AppendUint16(nil, uint16(n)) }
func i32(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
func i64(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }
func u32(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}
func f32(f float32) []byte { return u32(math.Float32bits(f)) }
func f64(f float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)) }

// h decodes hex, ignoring spaces and dashes.
func h(s string) []byte {
	s = strings.NewReplacer(" ", "", "-", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

// coll builds a v4 collection from raw elements; a nil element is written
// as length -1.
func coll(elems ...[]byte) []byte {
	b := i32(int32(len(elems)))
	for _, e := range elems {
		if e == nil {
			b = append(b, i32(-1)...)
			continue
		}
		b = append(b, i32(int32(len(e)))...)
		b = append(b, e...)
	}
	return b
}

// mapv builds a v4 map from alternating key, value elements.
func mapv(kv ...[]byte) []byte {
	b := i32(int32(len(kv) / 2))
	for _, e := range kv {
		b = append(b, i32(int32(len(e)))...)
		b = append(b, e...)
	}
	return b
}

// lit converts a literal or fails the test.
func lit(t testing.TB, typ string, kind LiteralKind, text string) []byte {
	t.Helper()
	v, err := MustParse(typ).FromLiteral(kind, text)
	if err != nil {
		t.Fatalf("FromLiteral(%s, %v, %q): %v", typ, kind, text, err)
	}
	return v
}

// dec builds a serialized decimal from a scale and a small unscaled value.
func dec(scale int32, unscaled []byte) []byte {
	return append(i32(scale), unscaled...)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
