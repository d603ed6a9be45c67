package types

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	v1 := h("c0d5d6e0-3f54-11ee-8000-000000000001") // version 1
	v4 := h("123e4567-e89b-42d3-a456-426614174000") // version 4
	badDur := appendUvint(appendUvint(appendUvint(nil, zigzag(1)), zigzag(-1)), zigzag(0))
	bigMonths := appendUvint(appendUvint(appendUvint(nil, zigzag(1<<32)), zigzag(0)), zigzag(0))

	tests := []struct {
		typ  string
		good [][]byte
		bad  [][]byte
	}{
		{"tinyint", [][]byte{{}, {0x80}}, [][]byte{{1, 2}}},
		{"smallint", [][]byte{{}, {1, 2}}, [][]byte{{1}, {1, 2, 3}}},
		{"int", [][]byte{{}, i32(-1)}, [][]byte{{1, 2, 3}, {1, 2, 3, 4, 5}}},
		{"bigint", [][]byte{{}, i64(1)}, [][]byte{i32(1)}},
		{"counter", [][]byte{{}, i64(1)}, [][]byte{i32(1)}},
		{"timestamp", [][]byte{{}, i64(-1)}, [][]byte{{1}}},
		{"boolean", [][]byte{{}, {0}, {1}, {2}}, [][]byte{{0, 0}}},
		{"float", [][]byte{{}, f32(1)}, [][]byte{f64(1)}},
		{"double", [][]byte{{}, f64(1)}, [][]byte{f32(1)}},
		{"date", [][]byte{{}, u32(1 << 31)}, [][]byte{i64(0)}},
		{"time", [][]byte{{}, i64(0), i64(MaxTime)}, [][]byte{i64(-1), i64(MaxTime + 1), i32(0)}},
		{"uuid", [][]byte{{}, v1, v4}, [][]byte{v1[:15], append(v1, 0)}},
		{"timeuuid", [][]byte{{}, v1, MinTimeUUID(0), MaxTimeUUID(0)}, [][]byte{v4, v1[:15]}},
		{"inet", [][]byte{{}, {1, 2, 3, 4}, make([]byte, 16)}, [][]byte{{1, 2, 3}, make([]byte, 5), make([]byte, 17)}},
		{"decimal", [][]byte{{}, i32(0), dec(2, []byte{0x96})}, [][]byte{{0}, {0, 0, 0}}},
		{"varint", [][]byte{{}, {0}, {0xff, 0xff}, make([]byte, 100)}, nil},
		{"blob", [][]byte{{}, {0xff}}, nil},
		{"ascii", [][]byte{{}, []byte("abc\x7f")}, [][]byte{[]byte("caf\xc3\xa9"), {0x80}}},
		{"text", [][]byte{{}, []byte("café ☕")}, [][]byte{{0xff}, []byte("a\xc3")}},
		{"duration", [][]byte{{0, 0, 0}, lit(t, "duration", LitDuration, "-1h"), lit(t, "duration", LitDuration, "1y2mo3d")},
			[][]byte{{}, {0, 0}, {0, 0, 0, 0}, {0xff, 0, 0}, badDur, bigMonths}},
		{"list<int>", [][]byte{{}, coll(), coll(i32(1), i32(2)), coll(i32(1), []byte{})},
			[][]byte{{0, 0, 0}, i32(-1), coll(i32(1), nil), coll(i32(1))[:7], append(coll(i32(1)), 0), coll([]byte{1, 2})}},
		{"set<text>", [][]byte{coll([]byte("a"))}, [][]byte{coll([]byte{0xff}), i32(2)}},
		{"map<text, int>", [][]byte{{}, mapv([]byte("a"), i32(1)), mapv([]byte("a"), []byte{})},
			[][]byte{mapv([]byte("a"), i32(1))[:12], mapv([]byte("a"), []byte{1}), append(i32(1), coll(nil)[4:]...), coll([]byte("a"))}},
		{"frozen<list<frozen<set<int>>>>", [][]byte{coll(coll(i32(1)), coll())}, [][]byte{coll(coll([]byte{1}))}},
		{"tuple<int, text>", [][]byte{{}, PackTuple([][]byte{i32(1), []byte("a")}), PackTuple([][]byte{nil, nil}), PackTuple([][]byte{i32(1)}), PackTuple([][]byte{{}, {}})},
			[][]byte{PackTuple([][]byte{i32(1), []byte("a"), nil}), PackTuple([][]byte{{1}, nil}), {0, 0, 0}, append(i32(-2), 0), append(i32(5), 1, 2)}},
	}
	for _, tc := range tests {
		ty := MustParse(tc.typ)
		for _, v := range tc.good {
			if err := ty.Validate(v); err != nil {
				t.Errorf("%s.Validate(%x): %v", tc.typ, v, err)
			}
		}
		for _, v := range tc.bad {
			if err := ty.Validate(v); err == nil {
				t.Errorf("%s.Validate(%x) = nil, want error", tc.typ, v)
			}
		}
		if err := ty.Validate(nil); err != nil {
			t.Errorf("%s.Validate(nil) = %v, want nil (NULL is not validated)", tc.typ, err)
		}
	}
}

func TestValidateMessages(t *testing.T) {
	tests := []struct {
		typ  string
		v    []byte
		want string
	}{
		{"int", []byte{1}, "Validation failed for type int: expected 4 bytes, got 1"},
		{"timeuuid", h("123e4567-e89b-42d3-a456-426614174000"), "Unsupported UUID version (4)"},
		{"ascii", []byte{0x80}, "non-ASCII"},
		{"text", []byte{0xff}, "non-UTF8"},
		{"list<int>", coll(nil), "null is not supported inside collections"},
		{"list<int>", append(coll(i32(1)), 9), "1 bytes remaining"},
		{"tuple<int>", PackTuple([][]byte{i32(1), i32(2)}), "too many fields"},
		{"duration", nil, ""},
		{"duration", []byte{}, "at least 3 bytes"},
	}
	for _, tc := range tests {
		err := MustParse(tc.typ).Validate(tc.v)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s.Validate(%x) = %v", tc.typ, tc.v, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s.Validate(%x) = %v, want %q", tc.typ, tc.v, err, tc.want)
		}
	}
	var nilType *Type
	if nilType.Validate([]byte{1}) == nil {
		t.Error("nil type must not validate")
	}
	// Malformed types do not panic.
	for _, ty := range []*Type{{Kind: List}, {Kind: Map, Elems: []*Type{Native(Int)}}, {Kind: Tuple}, {Kind: Kind(0x99)}} {
		if ty.Validate(coll(i32(1))) == nil {
			t.Errorf("malformed %v validated", ty)
		}
	}
}

func TestValidateNoAllocs(t *testing.T) {
	cases := []struct {
		typ string
		v   []byte
	}{
		{"int", i32(5)},
		{"bigint", i64(5)},
		{"text", []byte("hello, world ☕")},
		{"ascii", []byte("hello")},
		{"timeuuid", MinTimeUUID(1)},
		{"uuid", RandomUUID()},
		{"time", i64(5)},
		{"varint", []byte{1, 2, 3}},
		{"duration", lit(t, "duration", LitDuration, "1h")},
		{"list<int>", coll(i32(1), i32(2))},
		{"map<text, int>", mapv([]byte("a"), i32(1))},
		{"tuple<int, text>", PackTuple([][]byte{i32(1), []byte("a")})},
	}
	for _, c := range cases {
		ty := MustParse(c.typ)
		if n := testing.AllocsPerRun(100, func() {
			if err := ty.Validate(c.v); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s.Validate allocates %v times", c.typ, n)
		}
	}
}
