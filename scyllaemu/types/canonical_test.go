package types

import (
	"bytes"
	"testing"
)

func TestCanonicalSortsSetsAndMapsAtEveryLevel(t *testing.T) {
	text := func(s string) []byte { return []byte(s) }
	raw := func(elems ...[]byte) []byte { b, _ := packElems(elems, len(elems)); return b }
	rawMap := func(kv ...[]byte) []byte { b, _ := packElems(kv, len(kv)/2); return b }
	tests := []struct {
		typ  string
		in   []byte
		want []byte
	}{
		{"frozen<set<text>>", raw(text("b"), text("a"), text("b")), raw(text("a"), text("b"))},
		{"frozen<map<text, text>>", rawMap(text("y"), text("2"), text("x"), text("1")), rawMap(text("x"), text("1"), text("y"), text("2"))},
		{"frozen<list<frozen<set<text>>>>", raw(raw(text("b"), text("a"))), raw(raw(text("a"), text("b")))},
		{"list<text>", raw(text("b"), text("a")), raw(text("b"), text("a"))},
		{"text", text("zz"), text("zz")},
	}
	for _, tc := range tests {
		got, err := Canonical(MustParse(tc.typ), tc.in)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got % x (%v), want % x", tc.typ, got, err, tc.want)
		}
	}
}
