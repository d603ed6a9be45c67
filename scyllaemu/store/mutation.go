package store

import (
	"bytes"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// CellWrite is one column of a RowWrite: an atomic cell (Value; nil
// writes a tombstone), or for a multi-cell column the concrete element
// changes in Coll. A multi-cell column written with Value and no Coll is
// overwritten with that serialized value (internal tables use this).
type CellWrite struct {
	Slot  int
	Value []byte
	Coll  *CollWrite
}

// RowWrite is the part of a mutation touching one row. CK is nil for the
// static row.
type RowWrite struct {
	CK     [][]byte
	Marker bool // INSERT writes a row marker
	Delete bool // DELETE of the whole row
	Cells  []CellWrite
}

// Mutation is every change one statement makes to one partition, all with
// one timestamp and TTL — the unit CDC logs as one change.
type Mutation struct {
	Table           *Table
	Key             []byte
	TS              int64
	TTL             int32
	PartitionDelete bool
	Ranges          []RangeTombstone
	Rows            []RowWrite
}

// Apply writes m. now (µs) anchors TTL expiry; m.TS orders the write against
// others (last write wins, a tombstone wins a tie).
func (t *Table) Apply(m *Mutation, now int64) {
	p := t.partitionForWrite(m.Key)
	var expiry int64
	if m.TTL > 0 {
		expiry = now + int64(m.TTL)*1_000_000
		t.hasTTL = true
		if t.nextExpiry == 0 || expiry < t.nextExpiry {
			t.nextExpiry = expiry
		}
	}
	if m.PartitionDelete && m.TS > p.Deletion {
		p.Deletion = m.TS
	}
	for _, rt := range m.Ranges {
		rt.TS = m.TS
		p.ranges = append(p.ranges, rt)
	}
	indexed := len(t.Indexes) > 0
	var touched []*Row
	for i := range m.Rows {
		rw := &m.Rows[i]
		var r *Row
		if rw.CK == nil {
			if p.Static == nil {
				p.Static = &Row{Deletion: NoDeletion}
			}
			r = p.Static
		} else {
			r = p.Row(rw.CK)
			if r == nil {
				r = &Row{CK: cloneKey(rw.CK), Deletion: NoDeletion}
				t.insertRow(p, r)
			}
		}
		if rw.Delete && m.TS > r.Deletion {
			r.Deletion = m.TS
		}
		if indexed {
			touched = append(touched, r)
		}
		if rw.Marker {
			mergeCell(&r.Marker, Cell{Value: []byte{}, TS: m.TS, Expiry: expiry, TTL: m.TTL, Set: true})
		}
		if len(rw.Cells) > 0 && len(r.Cells) < len(t.Cells) {
			grown := make([]Cell, len(t.Cells))
			copy(grown, r.Cells)
			r.Cells = grown
		}
		values := valueArena(t, rw.Cells)
		for _, cw := range rw.Cells {
			col := t.Cells[cw.Slot]
			cur := &r.Cells[cw.Slot]
			if col.Type.MultiCell() {
				w := cw.Coll
				if w == nil {
					var keys ListKeys
					elems, _ := ElemsOf(col.Type, cw.Value, func() []byte { return keys.Append(m.TS) })
					w = &CollWrite{HasTomb: true, Tomb: m.TS - 1, Elems: elems}
				}
				applyColl(KeyType(col.Type), cur, w, m.TS, expiry, m.TTL)
				continue
			}
			nc := Cell{TS: m.TS, Expiry: expiry, TTL: m.TTL, Set: true}
			if cw.Value == nil {
				nc.Tombstone, nc.Expiry, nc.TTL = true, 0, 0
			} else {
				nc.Value, values = carve(values, cw.Value)
			}
			mergeCell(cur, nc)
		}
	}
	if indexed {
		pk, _ := types.SplitPartitionKey(m.Key, len(t.PK))
		for _, ix := range t.Indexes {
			if ix.Local != nil {
				continue
			}
			for _, r := range touched {
				t.indexRow(ix, p, pk, r, now)
			}
		}
	}
}

// mergeCell reconciles a write with the stored cell: newer timestamp wins;
// on a tie a tombstone wins, then the greater value (Cassandra's rule, which
// makes replicas converge regardless of arrival order).
func mergeCell(cur *Cell, nc Cell) {
	if !cur.Set || nc.TS > cur.TS {
		*cur = nc
		return
	}
	if nc.TS < cur.TS {
		return
	}
	switch {
	case nc.Tombstone && !cur.Tombstone:
		*cur = nc
	case !nc.Tombstone && !cur.Tombstone:
		if c := bytes.Compare(nc.Value, cur.Value); c > 0 || (c == 0 && nc.Expiry > cur.Expiry) {
			*cur = nc
		}
	}
}

// valueArena returns one buffer sized for the atomic values a row write
// stores. Copying them into it instead of cloning each makes one heap
// object per written row rather than one per cell: a backlog of CDC log
// rows (two dozen cells each) otherwise costs the garbage collector millions
// of objects to mark on every cycle. A cell overwritten later keeps its
// row-mates' buffer alive, at most one row's worth of bytes.
func valueArena(t *Table, cells []CellWrite) []byte {
	n := 0
	for _, cw := range cells {
		if cw.Value != nil && !t.Cells[cw.Slot].Type.MultiCell() {
			n += len(cw.Value)
		}
	}
	return make([]byte, 0, n)
}

// carve copies v to the end of arena and returns the copy, capped so that
// appending to it can never reach a row-mate's bytes. An empty v stays a
// non-nil (empty, not null) value.
func carve(arena, v []byte) (value, rest []byte) {
	start := len(arena)
	arena = append(arena, v...)
	return arena[start:len(arena):len(arena)], arena
}

func cloneKey(ck [][]byte) [][]byte {
	out := make([][]byte, len(ck))
	for i, c := range ck {
		out[i] = bytes.Clone(c)
	}
	return out
}

// Purge drops data that can never be read again: expired cells and rows or
// partitions left with nothing live and no tombstone. Tombstones are kept
// (there is no gc_grace expiry yet), so deletes still shadow late writes.
func (t *Table) Purge(now int64) {
	if !t.hasTTL || now < t.nextExpiry {
		return
	}
	next := int64(0)
	ahead := func(r *Row) {
		if e := nextExpiryOf(r, now); e != 0 && (next == 0 || e < next) {
			next = e
		}
	}
	var emptyParts []*Partition
	t.parts.Ascend(func(p *Partition) bool {
		var dead []*Row
		p.ascend(func(r *Row) bool {
			if r.Deletion == NoDeletion && !t.RowLive(p, r, now) && !hasTombstone(r) {
				dead = append(dead, r)
			} else {
				ahead(r)
			}
			return true
		})
		if p.Static != nil {
			ahead(p.Static)
		}
		for _, r := range dead {
			p.deleteRow(r)
		}
		if p.Rows() == 0 && p.Deletion == NoDeletion && len(p.ranges) == 0 &&
			(p.Static == nil || (!t.RowLive(p, p.Static, now) && !hasTombstone(p.Static))) {
			emptyParts = append(emptyParts, p)
		}
		return true
	})
	for _, p := range emptyParts {
		t.parts.Delete(p)
	}
	t.nextExpiry = next
	t.hasTTL = next != 0
}

// nextExpiryOf is the earliest expiry after now among r's marker, cells
// and collection elements (0: none).
func nextExpiryOf(r *Row, now int64) int64 {
	next := int64(0)
	at := func(e int64) {
		if e > now && (next == 0 || e < next) {
			next = e
		}
	}
	at(r.Marker.Expiry)
	for i := range r.Cells {
		c := &r.Cells[i]
		at(c.Expiry)
		if c.Coll != nil {
			for j := range c.Coll.Elems {
				at(c.Coll.Elems[j].Expiry)
			}
		}
	}
	return next
}

func hasTombstone(r *Row) bool {
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Set && c.Tombstone {
			return true
		}
		if c.Coll != nil {
			if c.Coll.Deletion != NoDeletion {
				return true
			}
			for j := range c.Coll.Elems {
				if c.Coll.Elems[j].Tombstone {
					return true
				}
			}
		}
	}
	return false
}
