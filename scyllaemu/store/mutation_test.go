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
