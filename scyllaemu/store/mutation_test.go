package store

import (
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

func kvTable() *Table {
	return NewTable("ks", "t", [16]byte{}, []*Column{
		{Name: "id", Type: types.MustParse("int"), Kind: PartitionKey},
		{Name: "v", Type: types.MustParse("text"), Kind: Regular},
	})
}

func TestLastWriteWins(t *testing.T) {
	key := []byte{0, 0, 0, 1}
	set := func(ts int64, v []byte) *Mutation {
		return &Mutation{Key: key, TS: ts, Rows: []RowWrite{{CK: [][]byte{}, Cells: []CellWrite{{Slot: 0, Value: v}}}}}
	}
	del := func(ts int64) *Mutation {
		return &Mutation{Key: key, TS: ts, Rows: []RowWrite{{CK: [][]byte{}, Delete: true}}}
	}
	tests := []struct {
		name string
		muts []*Mutation
		want string // "" means no live value
	}{
		{"newer write wins", []*Mutation{set(1, []byte("a")), set(2, []byte("b"))}, "b"},
		{"older write arriving late loses", []*Mutation{set(2, []byte("b")), set(1, []byte("a"))}, "b"},
		{"tie: greater value wins", []*Mutation{set(5, []byte("b")), set(5, []byte("a"))}, "b"},
		{"tie: tombstone beats value", []*Mutation{set(5, []byte("a")), set(5, nil)}, ""},
		{"row delete shadows older cells", []*Mutation{set(1, []byte("a")), del(2)}, ""},
		{"row delete does not shadow newer cells", []*Mutation{del(2), set(3, []byte("c"))}, "c"},
		{"late write under an existing delete stays dead", []*Mutation{del(5), set(4, []byte("x"))}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := kvTable()
			for _, m := range tc.muts {
				m.Table = tbl
				tbl.Apply(m, 0)
			}
			p := tbl.Partition(key)
			var got string
			if c, ok := tbl.LiveCell(p, p.Row([][]byte{}), 0, 0); ok {
				got = string(c.Value)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTTLExpiryAndPurge(t *testing.T) {
	tbl := kvTable()
	key := []byte{0, 0, 0, 2}
	tbl.Apply(&Mutation{Table: tbl, Key: key, TS: 1, TTL: 10,
		Rows: []RowWrite{{CK: [][]byte{}, Marker: true, Cells: []CellWrite{{Slot: 0, Value: []byte("v")}}}}}, 0)
	p := tbl.Partition(key)
	if !tbl.RowLive(p, p.Row([][]byte{}), 9_999_999) {
		t.Fatal("row must live until its TTL")
	}
	if tbl.RowLive(p, p.Row([][]byte{}), 10_000_000) {
		t.Fatal("row must expire at its TTL")
	}
	tbl.Purge(10_000_000)
	if tbl.Len() != 0 {
		t.Fatalf("expired partition not purged: %d left", tbl.Len())
	}
}

// TestRowValuesStayIndependent attacks the shared buffer one row write's
// values are stored in: the caller reusing its write buffers, an append to
// a stored value, and an empty value, which must stay empty and not null.
func TestRowValuesStayIndependent(t *testing.T) {
	tbl := NewTable("ks", "t", [16]byte{}, []*Column{
		{Name: "id", Type: types.MustParse("int"), Kind: PartitionKey},
		{Name: "a", Type: types.MustParse("text"), Kind: Regular},
		{Name: "b", Type: types.MustParse("text"), Kind: Regular},
		{Name: "c", Type: types.MustParse("text"), Kind: Regular},
	})
	key := []byte{0, 0, 0, 3}
	a, b, empty := []byte("first"), []byte("second"), []byte{}
	tbl.Apply(&Mutation{Table: tbl, Key: key, TS: 1, Rows: []RowWrite{{CK: [][]byte{}, Marker: true,
		Cells: []CellWrite{{Slot: 0, Value: a}, {Slot: 1, Value: empty}, {Slot: 2, Value: b}}}}}, 0)
	copy(a, "XXXXX")
	copy(b, "YYYYYY")

	p := tbl.Partition(key)
	r := p.Row([][]byte{})
	value := func(slot int) []byte {
		t.Helper()
		c, ok := tbl.LiveCell(p, r, slot, 0)
		if !ok {
			t.Fatalf("slot %d: no live value", slot)
		}
		return c.Value
	}
	_ = append(value(0), '!')
	tests := []struct {
		slot int
		want string
	}{{0, "first"}, {1, ""}, {2, "second"}}
	for _, tc := range tests {
		if got := value(tc.slot); string(got) != tc.want || got == nil {
			t.Errorf("slot %d = %q (nil %t), want %q", tc.slot, got, got == nil, tc.want)
		}
	}
}
