package types

import (
	"bytes"
	"testing"
)

// fuzzTypes are the types FuzzValidateCompare picks from (by index modulo
// their count). Built per call: the package keeps no mutable globals.
func fuzzTypes() []*Type {
	names := []string{
		"int", "bigint", "tinyint", "smallint", "boolean", "float", "double",
		"decimal", "varint", "counter", "timestamp", "date", "time", "uuid",
		"timeuuid", "inet", "text", "ascii", "blob", "duration",
		"frozen<list<int>>", "frozen<set<text>>", "frozen<map<int, text>>",
		"frozen<list<frozen<map<text, frozen<set<varint>>>>>>",
		"tuple<int, text, decimal>", "frozen<list<frozen<tuple<timeuuid, duration>>>>",
	}
	out := make([]*Type, len(names))
	for i, n := range names {
		out[i] = MustParse(n)
	}
	udt := UDTOf("ks", "u", []string{"a", "b"}, []*Type{Native(Int), MustParse("frozen<list<text>>")}).Freeze()
	return append(out, udt)
}

// FuzzValidateCompare feeds arbitrary bytes to Validate, Format, Compare,
// UnpackCollection and UnpackTuple: none may panic, Compare must be
// antisymmetric and reflexive, and a value that validates must unpack and
// (for lists and maps) re-pack to itself.
func FuzzValidateCompare(f *testing.F) {
	f.Add(uint8(0), i32(1), i32(-1))
	f.Add(uint8(7), dec(2, h("0096")), dec(0, h("01")))
	f.Add(uint8(14), MinTimeUUID(5), MaxTimeUUID(5))
	f.Add(uint8(20), coll(i32(1), i32(2)), coll(i32(1)))
	f.Add(uint8(22), mapv(i32(1), []byte("a")), []byte{})
	f.Add(uint8(24), PackTuple([][]byte{i32(1), nil, dec(1, h("05"))}), PackTuple([][]byte{nil}))
	f.Add(uint8(26), PackTuple([][]byte{i32(1), coll([]byte("x"))}), PackTuple([][]byte{nil}))
	types := fuzzTypes()
	f.Fuzz(func(t *testing.T, sel uint8, a, b []byte) {
		ty := types[int(sel)%len(types)]
		errA := ty.Validate(a)
		_ = ty.Validate(b)
		fa := ty.Format(a)
		_ = ty.Format(b)
		if a == nil && fa != "null" {
			t.Fatalf("Format(nil) = %q", fa)
		}

		cab, cba := ty.Compare(a, b), ty.Compare(b, a)
		if cab != -cba || cab < -1 || cab > 1 {
			t.Fatalf("%s: Compare(%x, %x) = %d, reverse %d", ty, a, b, cab, cba)
		}
		if c := ty.Compare(a, bytes.Clone(a)); c != 0 {
			t.Fatalf("%s: Compare(%x, itself) = %d", ty, a, c)
		}

		elems, errU := UnpackCollection(a)
		_, _ = UnpackTuple(ty, a)
		_, _ = UnpackTuple(types[len(types)-3], a)
		_, _ = SplitPartitionKey(a, int(sel%4)+1)
		_ = Murmur3Token(a)

		if errA == nil && a != nil && ty.IsCollection() {
			if errU != nil {
				t.Fatalf("%s: valid value %x does not unpack: %v", ty, a, errU)
			}
			if ty.Kind != Set && len(a) > 0 {
				if ty.Kind == Map && ty.Elems[0].Kind != Varchar {
					return // keys may not be sorted in arbitrary input
				}
				if ty.Kind == List {
					again, err := PackCollection(ty, elems)
					if err != nil || !bytes.Equal(again, a) {
						t.Fatalf("%s: repack of %x = %x, %v", ty, a, again, err)
					}
				}
			}
		}
	})
}

// FuzzParse checks that Parse never panics and that the canonical text of
// any type it accepts parses back to an equal type with the same text.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"int", "frozen<map<text, frozen<list<int>>>>", "tuple<int, list<int>>", "list<list<int>>", "map<", "frozen<int>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ty, err := Parse(s)
		if err != nil {
			return
		}
		text := ty.String()
		again, err := Parse(text)
		if err != nil || !again.Equal(ty) || again.String() != text {
			t.Fatalf("Parse(%q) = %s, which reparses to %v, %v", s, text, again, err)
		}
		opt := AppendOption(nil, ty)
		if _, n, err := ReadOption(opt); err != nil || n != len(opt) {
			t.Fatalf("ReadOption(AppendOption(%s)) = %d, %v", text, n, err)
		}
	})
}

// FuzzFromLiteral checks that FromLiteral never panics and that whatever it
// returns validates and formats.
func FuzzFromLiteral(f *testing.F) {
	f.Add(uint8(10), uint8(0), "2020-01-02 03:04:05.123+0100")
	f.Add(uint8(19), uint8(6), "1y2mo3w4d5h6m7s8ms9us10ns")
	f.Add(uint8(7), uint8(2), "-1.5e-10")
	f.Add(uint8(11), uint8(0), "-5877641-06-23")
	f.Add(uint8(12), uint8(0), "23:59:59.999999999")
	types := fuzzTypes()
	f.Fuzz(func(t *testing.T, sel, kind uint8, text string) {
		ty := types[int(sel)%len(types)]
		v, err := ty.FromLiteral(LiteralKind(kind%8), text)
		if err != nil {
			_ = err.Error()
			return
		}
		if v == nil {
			t.Fatalf("%s FromLiteral(%d, %q) returned nil without error", ty, kind%8, text)
		}
		if err := ty.Validate(v); err != nil {
			t.Fatalf("%s FromLiteral(%d, %q) = %x, which does not validate: %v", ty, kind%8, text, v, err)
		}
		_ = ty.Format(v)
	})
}
