package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// Collection is the stored form of a non-frozen (multi-cell) collection or
// user-defined type column, as ScyllaDB keeps it: a collection tombstone
// plus one cell per element, each with its own timestamp and TTL. Element
// keys are the set element, the map key, a timeuuid for a list, and the
// field index (a big-endian smallint) for a UDT.
type Collection struct {
	// Deletion is the collection tombstone: elements written at or before
	// it are dead. NoDeletion when there is none.
	Deletion int64
	// Elems are in key order (see KeyType).
	Elems []Elem
}

// Elem is one cell of a multi-cell column.
type Elem struct {
	Key, Value []byte
	TS, Expiry int64
	TTL        int32
	Tombstone  bool
}

func (e *Elem) live(now, deletion int64) bool {
	return !e.Tombstone && e.TS > deletion && (e.Expiry == 0 || e.Expiry > now)
}

// CollWrite is the concrete change a statement makes to a multi-cell
// column: an optional collection tombstone and element cells, all at the
// mutation's timestamp and TTL (the tombstone at Tomb).
type CollWrite struct {
	HasTomb bool
	Tomb    int64
	Elems   []ElemWrite
}

// ElemWrite is one element cell written; Dead writes an element tombstone.
type ElemWrite struct {
	Key, Value []byte
	Dead       bool
}

// KeyType is the type that orders the element keys of multi-cell type t.
func KeyType(t *types.Type) *types.Type {
	switch t.Kind {
	case types.List:
		return typTimeuuid
	case types.UDT:
		return typSmallint
	}
	return t.Elems[0]
}

var (
	typTimeuuid = types.Native(types.Timeuuid)
	typSmallint = types.Native(types.Smallint)
)

// FieldKey is the element key of UDT field i.
func FieldKey(i int) []byte {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(int16(i)))
	return b[:]
}

// liveElems returns the live elements of c under row deletion d.
func (c *Collection) liveElems(now, d int64) []Elem {
	if c == nil {
		return nil
	}
	d = max(d, c.Deletion)
	var out []Elem
	for i := range c.Elems {
		if c.Elems[i].live(now, d) {
			out = append(out, c.Elems[i])
		}
	}
	return out
}

// CollectionValue serializes the live elements of a multi-cell column of
// type t as a client reads it (a list's values in key order, a set's
// elements, a map's pairs, a UDT's fields with nulls for absent ones); nil
// when nothing is live, because CQL has no empty non-frozen collection.
func CollectionValue(t *types.Type, c *Collection, now, d int64) []byte {
	return packElems(t, c.liveElems(now, d), false)
}

// LogValue is CollectionValue in the form CDC log columns use: a list as
// a map from its timeuuid keys to the values.
func LogValue(t *types.Type, c *Collection, now, d int64) []byte {
	return packElems(t, c.liveElems(now, d), true)
}

func packElems(t *types.Type, elems []Elem, logForm bool) []byte {
	if len(elems) == 0 {
		return nil
	}
	var flat [][]byte
	switch t.Kind {
	case types.UDT:
		fields := make([][]byte, len(t.Elems))
		for _, e := range elems {
			i := int(int16(binary.BigEndian.Uint16(e.Key)))
			if i >= 0 && i < len(fields) {
				fields[i] = e.Value
			}
		}
		return types.PackTuple(fields)
	case types.List:
		if logForm {
			for _, e := range elems {
				flat = append(flat, e.Key, e.Value)
			}
			v, _ := types.PackCollection(listLogType(t), flat)
			return v
		}
		for _, e := range elems {
			flat = append(flat, e.Value)
		}
	case types.Set:
		for _, e := range elems {
			flat = append(flat, e.Key)
		}
	default:
		for _, e := range elems {
			flat = append(flat, e.Key, e.Value)
		}
	}
	v, _ := types.PackCollection(t, flat)
	return v
}

func listLogType(t *types.Type) *types.Type {
	return &types.Type{Kind: types.Map, Elems: []*types.Type{typTimeuuid, t.Elems[0]}, Frozen: true}
}

// ElemsOf splits a serialized value of multi-cell type t into element
// writes: what overwriting the column with v writes after its tombstone.
// List elements get keys from keys (one per element, in order). A UDT's
// null fields write nothing.
func ElemsOf(t *types.Type, v []byte, keys func() []byte) ([]ElemWrite, error) {
	if v == nil {
		return nil, nil
	}
	if t.Kind == types.UDT {
		fields, err := types.UnpackTuple(t, v)
		if err != nil {
			return nil, err
		}
		var out []ElemWrite
		for i, f := range fields {
			if f != nil {
				out = append(out, ElemWrite{Key: FieldKey(i), Value: f})
			}
		}
		return out, nil
	}
	flat, err := types.UnpackCollection(v)
	if err != nil {
		return nil, err
	}
	var out []ElemWrite
	switch t.Kind {
	case types.List:
		for _, e := range flat {
			out = append(out, ElemWrite{Key: keys(), Value: e})
		}
	case types.Set:
		for _, e := range flat {
			out = append(out, ElemWrite{Key: e, Value: []byte{}})
		}
	case types.Map:
		if len(flat)%2 != 0 {
			return nil, errors.New("malformed map value")
		}
		for i := 0; i < len(flat); i += 2 {
			out = append(out, ElemWrite{Key: flat[i], Value: flat[i+1]})
		}
	}
	return out, nil
}

// ListKeys hands out the timeuuid keys of list elements written by one
// statement or batch, like ScyllaDB: appended elements get keys at the
// write timestamp, in order; prepended ones get keys mirrored before
// 2010-01-01, so that a later prepend sorts first. Two statements of one
// batch never reuse a key.
type ListKeys struct {
	appendSeq  uint64
	prependSeq uint64
}

// listReference is ScyllaDB's precision_time REFERENCE_TIME (2010-01-01
// UTC) in microseconds.
const listReference = 1262304000000000

// Append returns the key of the next appended element at timestamp ts.
func (k *ListKeys) Append(ts int64) []byte {
	k.appendSeq++
	return listKey(ts, k.appendSeq)
}

// Prepend returns the keys of n elements prepended at timestamp ts, in
// list order.
func (k *ListKeys) Prepend(ts int64, n int) [][]byte {
	if k.prependSeq == 0 {
		k.prependSeq = 1 << 40
	}
	k.prependSeq -= uint64(n)
	out := make([][]byte, n)
	for i := range out {
		out[i] = listKey(2*listReference-ts, k.prependSeq+uint64(i))
	}
	return out
}

func listKey(micros int64, seq uint64) []byte {
	var lsb [8]byte
	binary.BigEndian.PutUint64(lsb[:], seq&(1<<62-1))
	return types.TimeUUIDFromMicros(micros, lsb)
}

// ErrListIndex is wrapped by the error for a list element write whose
// index is out of range.
var ErrListIndex = errors.New("list index out of bound")

// ListIndexKey returns the key of the idx-th live element of list column
// slot in the row, as a write by index reads it (before the statement).
func (t *Table) ListIndexKey(key []byte, ck [][]byte, slot int, idx int, now int64) ([]byte, error) {
	elems := t.currentElems(key, ck, slot, now)
	if idx < 0 || idx >= len(elems) {
		return nil, fmt.Errorf("%w: List index %d out of bound, list has size %d", ErrListIndex, idx, len(elems))
	}
	return elems[idx].Key, nil
}

// ListKeysOf returns the keys of the live elements of list column slot
// whose value is in vals (compared with the element type), for `l = l - [...]`.
func (t *Table) ListKeysOf(key []byte, ck [][]byte, slot int, vals [][]byte, now int64) [][]byte {
	et := t.Cells[slot].Type.Elems[0]
	var out [][]byte
	for _, e := range t.currentElems(key, ck, slot, now) {
		for _, v := range vals {
			if et.Compare(e.Value, v) == 0 {
				out = append(out, e.Key)
				break
			}
		}
	}
	return out
}

func (t *Table) currentElems(key []byte, ck [][]byte, slot int, now int64) []Elem {
	p := t.Partition(key)
	if p == nil {
		return nil
	}
	r := p.Static
	if ck != nil {
		r = p.Row(ck)
	}
	if r == nil || slot >= len(r.Cells) {
		return nil
	}
	c := &r.Cells[slot]
	if c.Coll == nil {
		return nil
	}
	return c.Coll.liveElems(now, t.RowDeletion(p, r))
}

// applyColl merges a concrete multi-cell write into cell cur.
func applyColl(kt *types.Type, cur *Cell, w *CollWrite, ts, expiry int64, ttl int32) {
	cur.Set = true
	if cur.Coll == nil {
		cur.Coll = &Collection{Deletion: NoDeletion}
	}
	c := cur.Coll
	if w.HasTomb && w.Tomb > c.Deletion {
		c.Deletion = w.Tomb
		// Cells under the tombstone can never be read again.
		kept := c.Elems[:0]
		for _, e := range c.Elems {
			if e.TS > c.Deletion {
				kept = append(kept, e)
			}
		}
		clear(c.Elems[len(kept):])
		c.Elems = kept
	}
	for _, ew := range w.Elems {
		ne := Elem{Key: bytes.Clone(ew.Key), TS: ts, Expiry: expiry, TTL: ttl}
		if ew.Dead {
			ne.Tombstone, ne.Expiry, ne.TTL = true, 0, 0
		} else {
			ne.Value = bytes.Clone(ew.Value)
		}
		if ne.TS <= c.Deletion {
			continue
		}
		i := sort.Search(len(c.Elems), func(i int) bool { return kt.Compare(c.Elems[i].Key, ew.Key) >= 0 })
		if i < len(c.Elems) && kt.Compare(c.Elems[i].Key, ew.Key) == 0 {
			mergeElem(&c.Elems[i], ne)
			continue
		}
		c.Elems = append(c.Elems, Elem{})
		copy(c.Elems[i+1:], c.Elems[i:])
		c.Elems[i] = ne
	}
}

// mergeElem reconciles element cells like mergeCell does atomic cells.
func mergeElem(cur *Elem, ne Elem) {
	switch {
	case ne.TS > cur.TS:
		*cur = ne
	case ne.TS < cur.TS:
	case ne.Tombstone && !cur.Tombstone:
		*cur = ne
	case !ne.Tombstone && !cur.Tombstone:
		if c := bytes.Compare(ne.Value, cur.Value); c > 0 || (c == 0 && ne.Expiry > cur.Expiry) {
			*cur = ne
		}
	}
}
