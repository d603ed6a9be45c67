package types

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseString(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical String(); "" means same as in
	}{
		// Every native type, as ScyllaDB writes them in system_schema.
		{"ascii", ""}, {"bigint", ""}, {"blob", ""}, {"boolean", ""},
		{"counter", ""}, {"date", ""}, {"decimal", ""}, {"double", ""},
		{"duration", ""}, {"float", ""}, {"inet", ""}, {"int", ""},
		{"smallint", ""}, {"text", ""}, {"time", ""}, {"timestamp", ""},
		{"timeuuid", ""}, {"tinyint", ""}, {"uuid", ""}, {"varint", ""},
		{"varchar", "text"},
		{"TEXT", "text"},
		{"VarChar", "text"},
		{"  int  ", "int"},

		{"list<int>", ""},
		{"set<timeuuid>", ""},
		{"map<text, text>", ""},
		{"map<text,text>", "map<text, text>"},
		{"MAP < TEXT , INT >", "map<text, int>"},
		{"frozen<map<text, text>>", ""},
		{"frozen<list<varchar>>", "frozen<list<text>>"},
		{"map<text, frozen<set<uuid>>>", ""},
		{"list<frozen<map<int, text>>>", ""},
		{"frozen<list<list<int>>>", "frozen<list<frozen<list<int>>>>"},
		{"frozen<map<frozen<set<int>>, list<text>>>", "frozen<map<frozen<set<int>>, frozen<list<text>>>>"},
		{"frozen<frozen<list<int>>>", "frozen<list<int>>"},

		// Tuples are always frozen, and freeze their components.
		{"tuple<int, text>", "frozen<tuple<int, text>>"},
		{"frozen<tuple<int, text>>", ""},
		{"tuple<int>", "frozen<tuple<int>>"},
		{"tuple<int, list<int>, map<text, int>>", "frozen<tuple<int, frozen<list<int>>, frozen<map<text, int>>>>"},
		{"tuple<tuple<int, text>, uuid>", "frozen<tuple<frozen<tuple<int, text>>, uuid>>"},
		{"list<tuple<int, text>>", "list<frozen<tuple<int, text>>>"},
		{"map<frozen<tuple<int, text>>, int>", ""},

		// Durations are fine as list elements and map values.
		{"list<duration>", ""},
		{"map<int, duration>", ""},
		{"tuple<duration>", "frozen<tuple<duration>>"},
	}
	for _, tc := range tests {
		want := tc.want
		if want == "" {
			want = tc.in
		}
		ty, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := ty.String(); got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, want)
		}
		// The canonical text parses back to an equal type.
		again, err := Parse(want)
		if err != nil {
			t.Errorf("Parse(%q) (canonical): %v", want, err)
			continue
		}
		if !again.Equal(ty) || again.String() != want {
			t.Errorf("round trip of %q: got %v", want, again)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, want string // want: exact error text, or a substring prefixed with "~"
	}{
		{"foo", "Unknown type foo"},
		{"list<Foo>", "Unknown type foo"},
		{"list<list<int>>", "Non-frozen user types or collections are not allowed inside collections: list<list<int>>"},
		{"map<text, set<int>>", "Non-frozen user types or collections are not allowed inside collections: map<text, set<int>>"},
		{"map<list<int>, int>", "Non-frozen user types or collections are not allowed inside collections: map<list<int>, int>"},
		{"set<frozen<list<int>>>", ""},
		{"frozen<int>", "frozen<> is only allowed on collections, tuples, and user-defined types (got int)"},
		{"frozen<varchar>", "frozen<> is only allowed on collections, tuples, and user-defined types (got text)"},
		{"list<counter>", "Counters are not allowed inside collections: list<counter>"},
		{"map<text, counter>", "Counters are not allowed inside collections: map<text, counter>"},
		{"tuple<int, counter>", "Counters are not allowed inside tuples"},
		{"set<duration>", "Durations are not allowed inside sets: set<duration>"},
		{"map<duration, int>", "Durations are not allowed as map keys: map<duration, int>"},
		{"", "~expected a type name"},
		{"   ", "~expected a type name"},
		{"list", "~expected '<'"},
		{"list<>", "~expected a type name"},
		{"list<int", "~expected '>'"},
		{"list<int>>", "~unexpected"},
		{"list<int, int>", "~list takes 1 type parameter(s), got 2"},
		{"map<int>", "~map takes 2 type parameter(s), got 1"},
		{"int<int>", "~int takes no type parameters"},
		{"int int", "~unexpected"},
		{"list<int,>", "~expected a type name"},
		{"tuple<>", "~expected a type name"},
		{"\"text\"", "~Unknown type text"}, // a quoted name is a user type name
		{strings.Repeat("frozen<list<", 40) + "int" + strings.Repeat(">>", 40), "~nested too deeply"},
	}
	for _, tc := range tests {
		ty, err := Parse(tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("Parse(%q): unexpected error %v", tc.in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Parse(%q) = %v, want error %q", tc.in, ty, tc.want)
			continue
		}
		if sub, ok := strings.CutPrefix(tc.want, "~"); ok {
			if !strings.Contains(err.Error(), sub) {
				t.Errorf("Parse(%q) error %q, want it to contain %q", tc.in, err, sub)
			}
		} else if err.Error() != tc.want {
			t.Errorf("Parse(%q) error %q, want %q", tc.in, err, tc.want)
		}
	}
}

func TestTypePredicatesAndEqual(t *testing.T) {
	tests := []struct {
		in                   string
		collection, multi    bool
		kind                 Kind
		nElems               int
		frozenFlagAfterParse bool
	}{
		{"int", false, false, Int, 0, false},
		{"list<int>", true, true, List, 1, false},
		{"frozen<list<int>>", true, false, List, 1, true},
		{"set<int>", true, true, Set, 1, false},
		{"map<int, text>", true, true, Map, 2, false},
		{"frozen<map<int, text>>", true, false, Map, 2, true},
		{"tuple<int, text, uuid>", false, false, Tuple, 3, true},
	}
	for _, tc := range tests {
		ty := MustParse(tc.in)
		if ty.IsCollection() != tc.collection || ty.MultiCell() != tc.multi || ty.Kind != tc.kind ||
			len(ty.Elems) != tc.nElems || ty.Frozen != tc.frozenFlagAfterParse {
			t.Errorf("%s: got collection=%v multi=%v kind=%v elems=%d frozen=%v", tc.in,
				ty.IsCollection(), ty.MultiCell(), ty.Kind, len(ty.Elems), ty.Frozen)
		}
	}

	eq := [][2]string{
		{"text", "varchar"},
		{"map<text, frozen<set<int>>>", "map<varchar, frozen<set<int>>>"},
		{"tuple<int, list<int>>", "frozen<tuple<int, frozen<list<int>>>>"},
	}
	for _, p := range eq {
		if !MustParse(p[0]).Equal(MustParse(p[1])) {
			t.Errorf("%s should equal %s", p[0], p[1])
		}
	}
	ne := [][2]string{
		{"text", "ascii"},
		{"list<int>", "frozen<list<int>>"},
		{"list<int>", "set<int>"},
		{"map<int, int>", "map<int, text>"},
		{"tuple<int>", "tuple<int, int>"},
		{"timeuuid", "uuid"},
	}
	for _, p := range ne {
		if MustParse(p[0]).Equal(MustParse(p[1])) {
			t.Errorf("%s should not equal %s", p[0], p[1])
		}
	}
	var nilType *Type
	if !nilType.Equal(nil) || nilType.Equal(Native(Int)) || Native(Int).Equal(nil) {
		t.Error("nil Equal semantics")
	}
	if nilType.String() != "<nil>" {
		t.Errorf("nil String = %q", nilType.String())
	}
	// A tuple built without the Frozen flag still is a (frozen) tuple.
	if !(&Type{Kind: Tuple, Elems: []*Type{Native(Int)}}).Equal(MustParse("tuple<int>")) {
		t.Error("tuple Frozen flag should not matter")
	}
}

func TestConstructors(t *testing.T) {
	tests := []struct {
		ty   *Type
		want string
	}{
		{Native(Varchar), "text"},
		{ListOf(Native(Int)), "list<int>"},
		{SetOf(MapOf(Native(Int), Native(Int)).Freeze()), "set<frozen<map<int, int>>>"},
		{MapOf(Native(Varchar), ListOf(Native(Int)).Freeze()), "map<text, frozen<list<int>>>"},
		{TupleOf(Native(Int), ListOf(Native(Varchar))), "frozen<tuple<int, frozen<list<text>>>>"},
		{ListOf(ListOf(Native(Int))).Freeze(), "frozen<list<frozen<list<int>>>>"},
		{Native(Int).Freeze(), "int"},
	}
	for _, tc := range tests {
		if got := tc.ty.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
		if !tc.ty.Equal(MustParse(tc.want)) {
			t.Errorf("%q: constructor type differs from parsed type", tc.want)
		}
	}
	// Freeze does not modify its receiver.
	l := ListOf(ListOf(Native(Int)))
	_ = l.Freeze()
	if l.Frozen || l.Elems[0].Frozen {
		t.Error("Freeze modified its receiver")
	}
}

func TestKindString(t *testing.T) {
	if Varchar.String() != "text" || Kind(0x99).String() != "kind(0x0099)" || Tuple.String() != "tuple" {
		t.Error("Kind.String")
	}
	if !Duration.IsNative() || List.IsNative() || Custom.IsNative() {
		t.Error("Kind.IsNative")
	}
}

func TestAppendOption(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{"int", []byte{0x00, 0x09}},
		{"text", []byte{0x00, 0x0D}},
		{"varchar", []byte{0x00, 0x0D}},
		{"ascii", []byte{0x00, 0x01}},
		{"timeuuid", []byte{0x00, 0x0F}},
		{"duration", []byte{0x00, 0x15}},
		{"list<int>", []byte{0x00, 0x20, 0x00, 0x09}},
		{"frozen<set<uuid>>", []byte{0x00, 0x22, 0x00, 0x0C}},
		{"map<text, bigint>", []byte{0x00, 0x21, 0x00, 0x0D, 0x00, 0x02}},
		{"map<text, frozen<list<int>>>", []byte{0x00, 0x21, 0x00, 0x0D, 0x00, 0x20, 0x00, 0x09}},
		{"tuple<int, text>", []byte{0x00, 0x31, 0x00, 0x02, 0x00, 0x09, 0x00, 0x0D}},
		{"tuple<int, list<blob>>", []byte{0x00, 0x31, 0x00, 0x02, 0x00, 0x09, 0x00, 0x20, 0x00, 0x03}},
	}
	for _, tc := range tests {
		ty := MustParse(tc.in)
		got := AppendOption([]byte{0xAA}, ty)
		if !bytes.Equal(got[1:], tc.want) || got[0] != 0xAA {
			t.Errorf("AppendOption(%s) = %x, want %x", tc.in, got[1:], tc.want)
		}
		back, n, err := ReadOption(append(got[1:], 0xFF))
		if err != nil || n != len(tc.want) {
			t.Errorf("ReadOption(%x) = %v, %d, %v", got[1:], back, n, err)
			continue
		}
		// Frozenness is not encoded: top-level collections come back
		// non-frozen, nested ones frozen.
		want := ty
		if ty.IsCollection() && ty.Frozen {
			want = MustParse(strings.TrimSuffix(strings.TrimPrefix(tc.in, "frozen<"), ">"))
		}
		if !back.Equal(want) {
			t.Errorf("ReadOption(AppendOption(%s)) = %v", tc.in, back)
		}
	}
	if got := AppendOption(nil, &Type{Kind: Custom}); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Errorf("custom option = %x", got)
	}
	for _, bad := range [][]byte{{}, {0}, {0, 0x20}, {0, 0x21, 0, 9}, {0, 0x31, 0, 0}, {0, 0x31, 0, 2, 0, 9}, {0, 0x30}, {0, 0, 0, 5, 'a'}} {
		if ty, _, err := ReadOption(bad); err == nil {
			t.Errorf("ReadOption(%x) = %v, want error", bad, ty)
		}
	}
}
