package types

import (
	"bytes"
	"math"
	"testing"
)

func TestPackCollection(t *testing.T) {
	tests := []struct {
		typ   string
		elems [][]byte
		want  []byte
		fmt   string
	}{
		{"list<int>", nil, coll(), "[]"},
		{"list<int>", [][]byte{i32(3), i32(1), i32(3)}, coll(i32(3), i32(1), i32(3)), "[3, 1, 3]"},
		{"frozen<list<text>>", [][]byte{[]byte("b"), {}}, coll([]byte("b"), []byte{}), "['b', '']"},
		// Sets sort with the element comparator and drop duplicates.
		{"set<int>", [][]byte{i32(3), i32(-1), i32(3), i32(0)}, coll(i32(-1), i32(0), i32(3)), "{-1, 0, 3}"},
		{"set<text>", [][]byte{[]byte("b"), []byte("a"), []byte("b")}, coll([]byte("a"), []byte("b")), "{'a', 'b'}"},
		{"set<varint>", [][]byte{h("0001"), h("ff"), h("01")}, coll(h("ff"), h("0001")), "{-1, 1}"}, // first of equal values wins
		{"set<int>", nil, coll(), "{}"},
		{"set<timeuuid>", [][]byte{MaxTimeUUID(0), MinTimeUUID(0)}, coll(MinTimeUUID(0), MaxTimeUUID(0)), ""},
		// Maps sort by key; the later of duplicate keys wins.
		{"map<text, int>", [][]byte{[]byte("b"), i32(2), []byte("a"), i32(1), []byte("b"), i32(3)},
			mapv([]byte("a"), i32(1), []byte("b"), i32(3)), "{'a': 1, 'b': 3}"},
		{"map<int, text>", [][]byte{i32(10), []byte("x"), i32(-10), []byte("it's")},
			mapv(i32(-10), []byte("it's"), i32(10), []byte("x")), "{-10: 'it''s', 10: 'x'}"},
		{"map<int, text>", nil, mapv(), "{}"},
	}
	for _, tc := range tests {
		ty := MustParse(tc.typ)
		in := make([][]byte, len(tc.elems))
		for i := range tc.elems {
			in[i] = bytes.Clone(tc.elems[i])
		}
		got, err := PackCollection(ty, in)
		if err != nil {
			t.Errorf("PackCollection(%s, %x): %v", tc.typ, tc.elems, err)
			continue
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("PackCollection(%s, %x) = %x, want %x", tc.typ, tc.elems, got, tc.want)
		}
		for i := range in {
			if !bytes.Equal(in[i], tc.elems[i]) {
				t.Errorf("PackCollection(%s) modified its input", tc.typ)
			}
		}
		if err := ty.Validate(got); err != nil {
			t.Errorf("PackCollection(%s) result does not validate: %v", tc.typ, err)
		}
		if tc.fmt != "" {
			if f := ty.Format(got); f != tc.fmt {
				t.Errorf("Format(PackCollection(%s)) = %q, want %q", tc.typ, f, tc.fmt)
			}
		}
		back, err := UnpackCollection(got)
		if err != nil {
			t.Errorf("UnpackCollection(%x): %v", got, err)
			continue
		}
		again, err := PackCollection(ty, back)
		if err != nil || !bytes.Equal(again, got) {
			t.Errorf("pack(unpack(%x)) = %x, %v", got, again, err)
		}
	}

	for _, bad := range []struct {
		ty    *Type
		elems [][]byte
	}{
		{MustParse("int"), nil},
		{MustParse("tuple<int>"), nil},
		{nil, nil},
		{&Type{Kind: List}, nil},
		{MustParse("list<int>"), [][]byte{i32(1), nil}},
		{MustParse("set<int>"), [][]byte{nil}},
		{MustParse("map<int, int>"), [][]byte{i32(1)}},
		{MustParse("map<int, int>"), [][]byte{i32(1), nil}},
	} {
		if v, err := PackCollection(bad.ty, bad.elems); err == nil {
			t.Errorf("PackCollection(%v, %x) = %x, want error", bad.ty, bad.elems, v)
		}
	}
}

func TestUnpackCollection(t *testing.T) {
	got, err := UnpackCollection(coll(i32(1), []byte{}, []byte("abc")))
	if err != nil || len(got) != 3 || !bytes.Equal(got[0], i32(1)) || got[1] == nil || len(got[1]) != 0 || string(got[2]) != "abc" {
		t.Fatalf("UnpackCollection = %x, %v", got, err)
	}
	// Elements alias the input but appending to one cannot clobber it.
	v := coll([]byte("ab"), []byte("cd"))
	els, _ := UnpackCollection(v)
	_ = append(els[0], 'X')
	if !bytes.Equal(v, coll([]byte("ab"), []byte("cd"))) {
		t.Error("append to an element overwrote the input")
	}
	if got, err := UnpackCollection([]byte{}); err != nil || got == nil || len(got) != 0 {
		t.Errorf("UnpackCollection(empty) = %v, %v", got, err)
	}
	if got, err := UnpackCollection(nil); err != nil || len(got) != 0 {
		t.Errorf("UnpackCollection(nil) = %v, %v", got, err)
	}
	for _, bad := range [][]byte{
		{0, 0, 0},
		i32(-1),
		i32(1),
		i32(math.MaxInt32),
		coll(nil),
		append(coll(i32(1)), 0),
		coll(i32(1))[:7],
		append(i32(1), i32(math.MaxInt32)...),
		append(i32(2), append(i32(0), i32(-5)...)...),
	} {
		if got, err := UnpackCollection(bad); err == nil {
			t.Errorf("UnpackCollection(%x) = %x, want error", bad, got)
		}
	}
}

func TestTuplePackUnpack(t *testing.T) {
	ty := MustParse("tuple<int, text, list<int>>")
	elems := [][]byte{i32(7), nil, coll(i32(1), i32(2))}
	v := PackTuple(elems)
	want := append(append(append(i32(4), i32(7)...), i32(-1)...), append(i32(int32(len(elems[2]))), elems[2]...)...)
	if !bytes.Equal(v, want) {
		t.Fatalf("PackTuple = %x, want %x", v, want)
	}
	if err := ty.Validate(v); err != nil {
		t.Fatal(err)
	}
	got, err := UnpackTuple(ty, v)
	if err != nil || len(got) != 3 || !bytes.Equal(got[0], i32(7)) || got[1] != nil || !bytes.Equal(got[2], elems[2]) {
		t.Fatalf("UnpackTuple = %x, %v", got, err)
	}
	if f := ty.Format(v); f != "(7, null, [1, 2])" {
		t.Errorf("Format = %q", f)
	}
	// Shorter values read missing components as NULL.
	got, err = UnpackTuple(ty, PackTuple([][]byte{i32(1)}))
	if err != nil || len(got) != 3 || got[1] != nil || got[2] != nil {
		t.Errorf("short tuple = %x, %v", got, err)
	}
	got, err = UnpackTuple(ty, []byte{})
	if err != nil || len(got) != 3 || got[0] != nil {
		t.Errorf("empty tuple = %x, %v", got, err)
	}
	// An empty component is not NULL.
	got, _ = UnpackTuple(ty, PackTuple([][]byte{{}}))
	if got[0] == nil || len(got[0]) != 0 {
		t.Errorf("empty component = %#v", got[0])
	}
	if len(PackTuple(nil)) != 0 {
		t.Error("PackTuple(nil) not empty")
	}
	for _, bad := range [][]byte{
		PackTuple([][]byte{nil, nil, nil, nil}),
		{0, 0, 0},
		i32(5),
		append(i32(-2), 0),
	} {
		if got, err := UnpackTuple(ty, bad); err == nil {
			t.Errorf("UnpackTuple(%x) = %x, want error", bad, got)
		}
	}
	for _, badType := range []*Type{nil, MustParse("list<int>"), {Kind: Tuple}} {
		if _, err := UnpackTuple(badType, v); err == nil {
			t.Errorf("UnpackTuple with type %v succeeded", badType)
		}
	}
}
