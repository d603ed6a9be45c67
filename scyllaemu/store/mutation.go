package store

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// CellOp says how a write combines with the cell's current value. Non-frozen
// collections are kept as one cell holding the whole collection, so element
// operations are read-modify-write under the store lock.
type CellOp uint8

const (
	OpSet      CellOp = iota // overwrite (NULL value: delete)
	OpAppend                 // list + v, set/map union
	OpPrepend                // v + list
	OpRemove                 // list/set minus values, map minus keys
	OpSetIndex               // list[Index] = v
	OpDelIndex               // DELETE list[Index]
	OpPutKey                 // map[Key] = v (NULL value: delete the key)
)

// CellWrite is one column of a RowWrite.
type CellWrite struct {
	Slot  int
	Op    CellOp
	Value []byte
	Key   []byte // map key for OpPutKey
	Index int    // list index for OpSetIndex / OpDelIndex
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

// ErrListIndex is returned by Check for a list element write out of range.
var ErrListIndex = errors.New("list index out of bound")

// Check validates what can only be validated against current data (list
// index writes); call it for every mutation of a statement before applying
// any, so a failing statement writes nothing.
func (t *Table) Check(m *Mutation, now int64) error {
	for _, rw := range m.Rows {
		for _, cw := range rw.Cells {
			if cw.Op != OpSetIndex && cw.Op != OpDelIndex {
				continue
			}
			cur := t.currentValue(m.Key, rw.CK, cw.Slot, now)
			elems, err := types.UnpackCollection(cur)
			if err != nil {
				return err
			}
			if cw.Index < 0 || cw.Index >= len(elems) {
				return fmt.Errorf("%w: index %d, size %d", ErrListIndex, cw.Index, len(elems))
			}
		}
	}
	return nil
}

func (t *Table) currentValue(key []byte, ck [][]byte, slot int, now int64) []byte {
	p := t.Partition(key)
	if p == nil {
		return nil
	}
	r := p.Static
	if ck != nil {
		r = p.Row(ck)
	}
	if c, ok := t.LiveCell(p, r, slot, now); ok {
		return c.Value
	}
	return nil
}

// Apply writes m. now (µs) anchors TTL expiry; m.TS orders the write against
// others (last write wins, a tombstone wins a tie).
func (t *Table) Apply(m *Mutation, now int64) {
	p := t.partitionForWrite(m.Key)
	var expiry int64
	if m.TTL > 0 {
		expiry = now + int64(m.TTL)*1_000_000
		t.hasTTL = true
	}
	if m.PartitionDelete && m.TS > p.Deletion {
		p.Deletion = m.TS
	}
	for _, rt := range m.Ranges {
		rt.TS = m.TS
		p.ranges = append(p.ranges, rt)
	}
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
		if rw.Marker {
			mergeCell(&r.Marker, Cell{Value: []byte{}, TS: m.TS, Expiry: expiry, TTL: m.TTL, Set: true})
		}
		if len(rw.Cells) > 0 && len(r.Cells) < len(t.Cells) {
			grown := make([]Cell, len(t.Cells))
			copy(grown, r.Cells)
			r.Cells = grown
		}
		for _, cw := range rw.Cells {
			col := t.Cells[cw.Slot]
			cur := &r.Cells[cw.Slot]
			nc := Cell{TS: m.TS, Expiry: expiry, TTL: m.TTL, Set: true}
			if cw.Op == OpSet || !col.Type.MultiCell() {
				if cw.Value == nil {
					nc.Tombstone, nc.Expiry, nc.TTL = true, 0, 0
				} else {
					nc.Value = bytes.Clone(cw.Value)
				}
				mergeCell(cur, nc)
				continue
			}
			var base []byte
			if cur.Live(now, t.RowDeletion(p, r)) {
				base = cur.Value
			}
			v := applyCollectionOp(col.Type, base, cw)
			if v == nil {
				nc.Tombstone, nc.Expiry, nc.TTL = true, 0, 0
			} else {
				nc.Value = v
			}
			// An element operation builds on the current value, so it must
			// replace it even at an equal timestamp (several element writes
			// in one batch share one timestamp).
			if nc.TS >= cur.TS || !cur.Set {
				*cur = nc
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

// applyCollectionOp returns the new serialized collection, nil when empty
// (CQL has no empty non-frozen collection: it reads as NULL).
func applyCollectionOp(t *types.Type, base []byte, cw CellWrite) []byte {
	cur, _ := types.UnpackCollection(base)
	add, _ := types.UnpackCollection(cw.Value)
	var out [][]byte
	switch cw.Op {
	case OpAppend:
		out = append(cur, add...)
	case OpPrepend:
		out = append(add, cur...)
	case OpRemove:
		out = removeElems(t, cur, add)
	case OpSetIndex:
		out = cur
		if cw.Index >= 0 && cw.Index < len(out) {
			if cw.Value == nil {
				out = append(out[:cw.Index:cw.Index], out[cw.Index+1:]...)
			} else {
				out[cw.Index] = cw.Value
			}
		}
	case OpDelIndex:
		out = cur
		if cw.Index >= 0 && cw.Index < len(out) {
			out = append(out[:cw.Index:cw.Index], out[cw.Index+1:]...)
		}
	case OpPutKey:
		out = removeElems(t, cur, [][]byte{cw.Key})
		if cw.Value != nil {
			out = append(out, cw.Key, cw.Value)
		}
	}
	if len(out) == 0 {
		return nil
	}
	packed, err := types.PackCollection(t, out)
	if err != nil {
		return nil
	}
	return packed
}

// removeElems drops from a flat collection the list values, set elements or
// map keys listed in del.
func removeElems(t *types.Type, cur, del [][]byte) [][]byte {
	cmp := t.Elems[0]
	step := 1
	if t.Kind == types.Map {
		step = 2
	}
	var out [][]byte
	for i := 0; i+step <= len(cur); i += step {
		keep := true
		for _, d := range del {
			if cmp.Compare(cur[i], d) == 0 {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, cur[i:i+step]...)
		}
	}
	return out
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
	if !t.hasTTL {
		return
	}
	var emptyParts []*Partition
	t.parts.Ascend(func(p *Partition) bool {
		var dead []*Row
		p.ascend(func(r *Row) bool {
			if r.Deletion == NoDeletion && !t.RowLive(p, r, now) && !hasTombstone(r) {
				dead = append(dead, r)
			}
			return true
		})
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
}

func hasTombstone(r *Row) bool {
	for i := range r.Cells {
		if r.Cells[i].Set && r.Cells[i].Tombstone {
			return true
		}
	}
	return false
}
