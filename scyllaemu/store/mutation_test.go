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

// TestPurgeWaitsForTheEarliestExpiry: Purge skips its scan (which blocks
// every query) until something can have expired, and still drops each
// row at the first purge at or after its expiry, whichever write, row or
// cell, carries the earliest one.
func TestPurgeWaitsForTheEarliestExpiry(t *testing.T) {
	const s = 1_000_000 // µs
	type write struct {
		at     int64 // µs
		key    byte
		ttl    int32 // 0: none
		marker bool
	}
	tests := []struct {
		name   string
		writes []write
		purges []int64 // µs
		left   []int   // partitions left after each purge
		next   []int64 // nextExpiry after each purge
	}{
		{"one row: kept before its expiry, dropped at it",
			[]write{{at: 0, key: 1, ttl: 10, marker: true}},
			[]int64{9 * s, 10 * s}, []int{1, 0}, []int64{10 * s, 0}},
		{"the earliest of two rows sets the next scan, then the later one",
			[]write{{at: 0, key: 1, ttl: 100, marker: true}, {at: 0, key: 2, ttl: 10, marker: true}},
			[]int64{10 * s, 50 * s, 100 * s}, []int{1, 1, 0}, []int64{100 * s, 100 * s, 0}},
		{"a write after a purge brings the next scan forward",
			[]write{{at: 0, key: 1, ttl: 100, marker: true}, {at: 20 * s, key: 2, ttl: 5, marker: true}},
			[]int64{25 * s, 100 * s}, []int{1, 0}, []int64{100 * s, 0}},
		{"a row kept alive by a cell without TTL does not bring the next scan back",
			[]write{{at: 0, key: 1, ttl: 10, marker: true}, {at: 1, key: 1}},
			[]int64{10 * s, 20 * s}, []int{1, 1}, []int64{0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := kvTable()
			for i, w := range tc.writes {
				m := &Mutation{Table: tbl, Key: []byte{0, 0, 0, w.key}, TS: int64(i + 1), TTL: w.ttl,
					Rows: []RowWrite{{CK: [][]byte{}, Marker: w.marker, Cells: []CellWrite{{Slot: 0, Value: []byte("v")}}}}}
				tbl.Apply(m, w.at)
			}
			for i, now := range tc.purges {
				tbl.Purge(now)
				if tbl.Len() != tc.left[i] || tbl.nextExpiry != tc.next[i] {
					t.Fatalf("after the purge at %d s: %d partitions, next scan at %d µs; want %d, %d",
						now/s, tbl.Len(), tbl.nextExpiry, tc.left[i], tc.next[i])
				}
			}
		})
	}
}

// BenchmarkPurgeLongTTL is a purge tick over 100,000 rows that expire in a
// day: the outbox tables of a backlog between two expiries.
func BenchmarkPurgeLongTTL(b *testing.B) {
	tbl := kvTable()
	for i := range 100_000 {
		key := []byte{0, byte(i >> 16), byte(i >> 8), byte(i)}
		tbl.Apply(&Mutation{Table: tbl, Key: key, TS: 1, TTL: 86_400,
			Rows: []RowWrite{{CK: [][]byte{}, Marker: true, Cells: []CellWrite{{Slot: 0, Value: []byte("v")}}}}}, 0)
	}
	for b.Loop() {
		tbl.Purge(1_000_000)
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
