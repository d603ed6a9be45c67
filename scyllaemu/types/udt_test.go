package types

import (
	"strings"
	"testing"
)

func udtLookup(types ...*Type) UDTLookup {
	return func(ks, name string) *Type {
		for _, t := range types {
			if t.Name == name && (ks == "" || ks == t.Keyspace) {
				return t
			}
		}
		return nil
	}
}

func TestParseUserTypes(t *testing.T) {
	addr := UDTOf("ks", "addr", []string{"street", "zip"}, []*Type{Native(Varchar), Native(Int)})
	quoted := UDTOf("ks", "Point", []string{"x"}, []*Type{Native(Double)})
	lookup := udtLookup(addr, quoted)
	tests := []struct {
		in, out   string
		multiCell bool
		err       string
	}{
		{in: "addr", out: "addr", multiCell: true},
		{in: "ks.addr", out: "addr", multiCell: true},
		{in: "frozen<addr>", out: "frozen<addr>"},
		{in: `"Point"`, out: `"Point"`, multiCell: true},
		{in: "list<frozen<addr>>", out: "list<frozen<addr>>", multiCell: true},
		{in: "tuple<addr, int>", out: "frozen<tuple<frozen<addr>, int>>"},
		{in: "map<text, frozen<addr>>", out: "map<text, frozen<addr>>", multiCell: true},
		{in: "list<addr>", err: "Non-frozen user types or collections are not allowed inside collections"},
		{in: "missing", err: "Unknown type missing"},
		{in: "other.addr", err: "Unknown type other.addr"},
		{in: "point", err: "Unknown type point"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			ty, err := ParseWith(tc.in, lookup)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want error %q", ty, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ty.String() != tc.out || ty.MultiCell() != tc.multiCell {
				t.Fatalf("got %s (multi-cell %v), want %s (%v)", ty, ty.MultiCell(), tc.out, tc.multiCell)
			}
		})
	}
	if addr.Frozen {
		t.Fatal("parsing frozen<addr> modified the looked-up type")
	}
}

func TestUserTypeValues(t *testing.T) {
	addr := UDTOf("ks", "addr", []string{"street", "zip"}, []*Type{Native(Varchar), Native(Int)}).Freeze()
	opt := AppendOption(nil, addr)
	back, n, err := ReadOption(opt)
	if err != nil || n != len(opt) {
		t.Fatalf("ReadOption: %v (%d of %d bytes)", err, n, len(opt))
	}
	back.Frozen = true
	if !back.Equal(addr) {
		t.Fatalf("option round trip: %#v", back)
	}
	full := PackTuple([][]byte{[]byte("Main St"), i32(7)})
	short := PackTuple([][]byte{[]byte("Main St")})
	tests := []struct {
		name string
		v    []byte
		text string
	}{
		{"full", full, "{street: 'Main St', zip: 7}"},
		{"null field", PackTuple([][]byte{nil, i32(7)}), "{street: null, zip: 7}"},
		{"short value", short, "{street: 'Main St', zip: null}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := addr.Validate(tc.v); err != nil {
				t.Fatal(err)
			}
			if got := addr.Format(tc.v); got != tc.text {
				t.Fatalf("Format = %q, want %q", got, tc.text)
			}
		})
	}
	if addr.Compare(short, full) >= 0 {
		t.Fatal("a missing trailing field sorts like a null one, before a value")
	}
	if err := addr.Validate(PackTuple([][]byte{nil, nil, nil})); err == nil {
		t.Fatal("a value with more fields than the type validated")
	}
}
