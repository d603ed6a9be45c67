package store

import (
	"encoding/binary"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// IndexKind says what of a column a secondary index indexes.
type IndexKind uint8

const (
	// IndexValues indexes a column's value; for a non-frozen collection,
	// its elements' values (a set's elements).
	IndexValues IndexKind = iota
	// IndexKeys indexes a non-frozen map's keys.
	IndexKeys
	// IndexEntries indexes a non-frozen map's (key, value) pairs.
	IndexEntries
	// IndexFull indexes a frozen collection's whole value.
	IndexFull
)

// Index is a secondary index. A global index keeps, for each indexed
// value, the partitions that held it when written: a query by value visits
// only those and checks each row, so entries left behind by overwrites and
// deletes cost a check, never a wrong result. A local index (Local set:
// the table's partition key) is queried within one partition and needs no
// structure.
type Index struct {
	Name   string
	Column *Column
	Kind   IndexKind
	Local  []*Column
	// Target is the index target as system_schema.indexes shows it.
	Target string

	entries map[string]map[string]struct{}
}

// AddIndex attaches an index to the table and builds it from the rows
// already there (live at now).
func (t *Table) AddIndex(ix *Index, now int64) {
	t.Indexes = append(t.Indexes, ix)
	if ix.Local != nil {
		return
	}
	ix.entries = map[string]map[string]struct{}{}
	t.parts.Ascend(func(p *Partition) bool {
		pk, _ := types.SplitPartitionKey(p.Key, len(t.PK))
		if p.Static != nil {
			t.indexRow(ix, p, pk, p.Static, now)
		}
		p.ascend(func(r *Row) bool {
			t.indexRow(ix, p, pk, r, now)
			return true
		})
		return true
	})
}

// DropIndex detaches the named index.
func (t *Table) DropIndex(name string) {
	for i, ix := range t.Indexes {
		if ix.Name == name {
			t.Indexes = append(t.Indexes[:i:i], t.Indexes[i+1:]...)
			return
		}
	}
}

// Candidates returns the keys of the partitions that may hold value v of a
// global index, in no particular order.
func (ix *Index) Candidates(v []byte) [][]byte {
	set := ix.entries[string(v)]
	out := make([][]byte, 0, len(set))
	for k := range set {
		out = append(out, []byte(k))
	}
	return out
}

// EntryValue is the value an entries() index keys a map entry by.
func EntryValue(key, value []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(key)))
	b = append(b, key...)
	return append(b, value...)
}

// indexRow records the values row r of partition p holds for ix.
func (t *Table) indexRow(ix *Index, p *Partition, pk [][]byte, r *Row, now int64) {
	c := ix.Column
	var vals [][]byte
	switch c.Kind {
	case PartitionKey:
		vals = [][]byte{pk[c.Position]}
	case Clustering:
		if r.CK == nil || !t.RowLive(p, r, now) {
			return
		}
		vals = [][]byte{r.CK[c.Position]}
	default:
		if (c.Kind == Static) != (r.CK == nil) || c.Slot >= len(r.Cells) {
			return
		}
		cell := &r.Cells[c.Slot]
		if cell.Coll == nil {
			if v := t.Value(p, r, c.Slot, now); v != nil {
				vals = [][]byte{v}
			}
			break
		}
		for _, e := range cell.Coll.liveElems(now, t.RowDeletion(p, r)) {
			switch {
			case ix.Kind == IndexKeys || c.Type.Kind == types.Set:
				vals = append(vals, e.Key)
			case ix.Kind == IndexEntries:
				vals = append(vals, EntryValue(e.Key, e.Value))
			default:
				vals = append(vals, e.Value)
			}
		}
	}
	for _, v := range vals {
		set := ix.entries[string(v)]
		if set == nil {
			set = map[string]struct{}{}
			ix.entries[string(v)] = set
		}
		set[string(p.Key)] = struct{}{}
	}
}
