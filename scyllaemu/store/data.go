package store

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/google/btree"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// NoDeletion marks the absence of a tombstone: every timestamp is above it.
const NoDeletion int64 = math.MinInt64

// Cell is one column value of a row with its write metadata. Expiry is in
// microseconds since the Unix epoch (0: never), which lets a TTL of one
// second expire exactly rather than on a whole-second boundary.
type Cell struct {
	Value     []byte
	TS        int64
	Expiry    int64
	TTL       int32
	Tombstone bool
	Set       bool
	// Coll holds a multi-cell (non-frozen collection or UDT) column; the
	// fields above other than Set are then unused.
	Coll *Collection
}

// Live reports whether the cell holds a value at now (µs) that no deletion
// at or after its timestamp shadows: for a multi-cell column, whether any
// element does.
func (c *Cell) Live(now, deletion int64) bool {
	if c.Coll != nil {
		d := max(deletion, c.Coll.Deletion)
		for i := range c.Coll.Elems {
			if c.Coll.Elems[i].live(now, d) {
				return true
			}
		}
		return false
	}
	return c.Set && !c.Tombstone && c.TS > deletion && (c.Expiry == 0 || c.Expiry > now)
}

// Row is one clustering row (or a partition's static row, whose CK is nil).
type Row struct {
	CK []([]byte)
	// The row marker is what keeps a row alive without live cells: INSERT
	// writes one, UPDATE does not.
	Marker   Cell
	Deletion int64
	Cells    []Cell
	// after makes a search pivot sort after every row sharing its prefix.
	after bool
}

// RangeTombstone deletes the clustering rows between two bounds.
type RangeTombstone struct {
	Start, End Bound
	TS         int64
}

// Bound is a clustering prefix in clustering order. An empty prefix is
// unbounded.
type Bound struct {
	Prefix    [][]byte
	Inclusive bool
}

// Partition is all data of one partition key.
type Partition struct {
	Key      []byte
	Token    int64
	Deletion int64
	Static   *Row
	// Tables without clustering columns hold their one row in single; the
	// others get a rows tree on first write. Most partitions of a
	// key-value table are tiny, and a tree per partition would triple
	// their memory.
	single *Row
	rows   *btree.BTreeG[*Row]
	ranges []RangeTombstone
}

func partitionLess(a, b *Partition) bool {
	if a.Token != b.Token {
		return a.Token < b.Token
	}
	return bytes.Compare(a.Key, b.Key) < 0
}

// Token returns the partition token of a serialized partition key.
func (t *Table) Token(key []byte) int64 {
	if t.Partitioner != "" {
		if len(key) < 8 {
			return math.MinInt64
		}
		return int64(binary.BigEndian.Uint64(key))
	}
	return types.Murmur3Token(key)
}

// Partition returns the partition with the given serialized key, or nil.
func (t *Table) Partition(key []byte) *Partition {
	p, _ := t.parts.Get(&Partition{Key: key, Token: t.Token(key)})
	return p
}

func (t *Table) partitionForWrite(key []byte) *Partition {
	probe := &Partition{Key: key, Token: t.Token(key)}
	if p, ok := t.parts.Get(probe); ok {
		return p
	}
	probe.Key = append([]byte(nil), key...)
	probe.Deletion = NoDeletion
	t.parts.ReplaceOrInsert(probe)
	return probe
}

// Len is the number of partitions held, live or not.
func (t *Table) Len() int { return t.parts.Len() }

// ScanPartitions calls fn for partitions in token order, starting at the
// first partition at or after (token, key) — after it when exclusive — until
// fn returns false. A nil key starts at the token's first partition.
func (t *Table) ScanPartitions(token int64, key []byte, exclusive bool, fn func(*Partition) bool) {
	pivot := &Partition{Token: token, Key: key}
	t.parts.AscendGreaterOrEqual(pivot, func(p *Partition) bool {
		if exclusive && p.Token == token && bytes.Equal(p.Key, key) {
			return true
		}
		return fn(p)
	})
}

// compareCK orders clustering keys in clustering order. Where one key is a
// prefix of the other, the shorter sorts first unless it carries after.
func (t *Table) compareCK(a []([]byte), aAfter bool, b []([]byte), bAfter bool) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		col := t.CK[i]
		c := col.Type.Compare(a[i], b[i])
		if c != 0 {
			if col.Desc {
				return -c
			}
			return c
		}
	}
	switch {
	case len(a) == len(b):
		switch {
		case aAfter == bAfter:
			return 0
		case aAfter:
			return 1
		default:
			return -1
		}
	case len(a) < len(b):
		if aAfter {
			return 1
		}
		return -1
	default:
		if bAfter {
			return -1
		}
		return 1
	}
}

func (t *Table) rowLess(a, b *Row) bool { return t.compareCK(a.CK, a.after, b.CK, b.after) < 0 }

// comparePrefix compares a full clustering key with a bound prefix over the
// prefix's length only.
func (t *Table) comparePrefix(ck, prefix []([]byte)) int {
	for i := range prefix {
		col := t.CK[i]
		c := col.Type.Compare(ck[i], prefix[i])
		if c != 0 {
			if col.Desc {
				return -c
			}
			return c
		}
	}
	return 0
}

// InRange reports whether ck lies within [start, end] in clustering order.
func (t *Table) InRange(ck []([]byte), start, end Bound) bool {
	if len(start.Prefix) > 0 {
		c := t.comparePrefix(ck, start.Prefix)
		if c < 0 || (c == 0 && !start.Inclusive) {
			return false
		}
	}
	if len(end.Prefix) > 0 {
		c := t.comparePrefix(ck, end.Prefix)
		if c > 0 || (c == 0 && !end.Inclusive) {
			return false
		}
	}
	return true
}

// Rows returns the number of clustering rows held, live or not.
func (p *Partition) Rows() int {
	switch {
	case p.rows != nil:
		return p.rows.Len()
	case p.single != nil:
		return 1
	}
	return 0
}

// ascend visits every clustering row in order until fn returns false.
func (p *Partition) ascend(fn func(*Row) bool) {
	switch {
	case p.rows != nil:
		p.rows.Ascend(fn)
	case p.single != nil:
		fn(p.single)
	}
}

func (t *Table) insertRow(p *Partition, r *Row) {
	if len(t.CK) == 0 {
		p.single = r
		return
	}
	if p.rows == nil {
		p.rows = btree.NewWithFreeListG(16, t.rowLess, t.rowFree)
	}
	p.rows.ReplaceOrInsert(r)
}

func (p *Partition) deleteRow(r *Row) {
	if p.rows != nil {
		p.rows.Delete(r)
	} else if p.single == r {
		p.single = nil
	}
}

// ScanRows calls fn for the partition's clustering rows within [start, end]
// in clustering order (reversed when reverse) until fn returns false.
func (t *Table) ScanRows(p *Partition, start, end Bound, reverse bool, fn func(*Row) bool) {
	if p.rows == nil {
		if p.single != nil {
			fn(p.single)
		}
		return
	}
	if !reverse {
		visit := func(r *Row) bool {
			if len(end.Prefix) > 0 {
				c := t.comparePrefix(r.CK, end.Prefix)
				if c > 0 || (c == 0 && !end.Inclusive) {
					return false
				}
			}
			return fn(r)
		}
		if len(start.Prefix) == 0 {
			p.rows.Ascend(visit)
			return
		}
		p.rows.AscendGreaterOrEqual(&Row{CK: start.Prefix, after: !start.Inclusive}, visit)
		return
	}
	visit := func(r *Row) bool {
		if len(start.Prefix) > 0 {
			c := t.comparePrefix(r.CK, start.Prefix)
			if c < 0 || (c == 0 && !start.Inclusive) {
				return false
			}
		}
		return fn(r)
	}
	if len(end.Prefix) == 0 {
		p.rows.Descend(visit)
		return
	}
	// A pivot sorting after (inclusive) or before (exclusive) every row with
	// the end prefix; DescendLessOrEqual may return the pivot-equal row only
	// when the pivot is a full key, which the prefix check then filters.
	p.rows.DescendLessOrEqual(&Row{CK: end.Prefix, after: end.Inclusive}, func(r *Row) bool {
		if len(end.Prefix) > 0 {
			c := t.comparePrefix(r.CK, end.Prefix)
			if c > 0 || (c == 0 && !end.Inclusive) {
				return true
			}
		}
		return visit(r)
	})
}

// RowDeletion is the newest deletion timestamp covering r: the partition
// tombstone, the row's own, and any range tombstone containing it.
func (t *Table) RowDeletion(p *Partition, r *Row) int64 {
	d := max(p.Deletion, r.Deletion)
	if r.CK != nil {
		for i := range p.ranges {
			rt := &p.ranges[i]
			if rt.TS > d && t.InRange(r.CK, rt.Start, rt.End) {
				d = rt.TS
			}
		}
	}
	return d
}

// RowLive reports whether a clustering row exists at now: a live marker or a
// live cell, or for the static row any live cell.
func (t *Table) RowLive(p *Partition, r *Row, now int64) bool {
	d := t.RowDeletion(p, r)
	if r.Marker.Live(now, d) {
		return true
	}
	for i := range r.Cells {
		if r.Cells[i].Live(now, d) && i < len(t.Cells) && t.Cells[i] != nil {
			return true
		}
	}
	return false
}

// Value returns the value of column slot in row r at now as a client
// reads it, nil when null.
func (t *Table) Value(p *Partition, r *Row, slot int, now int64) []byte {
	if r == nil || slot >= len(r.Cells) {
		return nil
	}
	c := &r.Cells[slot]
	d := t.RowDeletion(p, r)
	if c.Coll != nil {
		return CollectionValue(t.Cells[slot].Type, c.Coll, now, d)
	}
	if !c.Live(now, d) {
		return nil
	}
	return c.Value
}

// LogValue is Value in the form a CDC log column holds it (a non-frozen
// list as a map from its timeuuid keys).
func (t *Table) LogValue(p *Partition, r *Row, slot int, now int64) []byte {
	if r == nil || slot >= len(r.Cells) {
		return nil
	}
	c := &r.Cells[slot]
	if c.Coll != nil {
		return LogValue(t.Cells[slot].Type, c.Coll, now, t.RowDeletion(p, r))
	}
	return t.Value(p, r, slot, now)
}

// LiveCell returns the cell of column slot when it is live at now.
func (t *Table) LiveCell(p *Partition, r *Row, slot int, now int64) (*Cell, bool) {
	if r == nil || slot >= len(r.Cells) {
		return nil, false
	}
	c := &r.Cells[slot]
	if !c.Live(now, t.RowDeletion(p, r)) {
		return nil, false
	}
	return c, true
}

// StaticLive reports whether the partition's static row has a live cell.
func (t *Table) StaticLive(p *Partition, now int64) bool {
	return p.Static != nil && t.RowLive(p, p.Static, now)
}

// Row returns the clustering row with exactly ck, or nil.
func (p *Partition) Row(ck [][]byte) *Row {
	if p.rows == nil {
		if len(ck) == 0 {
			return p.single
		}
		return nil
	}
	r, _ := p.rows.Get(&Row{CK: ck})
	return r
}

// HasLiveRow reports whether any clustering row of p is live at now.
func (t *Table) HasLiveRow(p *Partition, now int64) bool {
	live := false
	p.ascend(func(r *Row) bool {
		live = t.RowLive(p, r, now)
		return !live
	})
	return live
}

// CompareCK orders two full clustering keys in clustering order.
func (t *Table) CompareCK(a, b [][]byte) int { return t.compareCK(a, false, b, false) }
