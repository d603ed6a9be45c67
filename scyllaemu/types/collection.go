package types

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// PackCollection serializes a list, set or map of type t in the protocol v4
// layout (an [int n] count, then n elements, each an [int len] followed by
// len bytes) from elements that are already serialized values of the
// element types. elems are not validated; a nil (NULL) element is an error,
// a 0-byte element is kept.
//
//   - list: the order of elems is kept;
//   - set: elems are sorted with the element type's comparator
//     ([Type.Compare]) and elements comparing equal are collapsed, the first
//     occurrence winning;
//   - map: elems alternate key, value (len(elems) must be even); pairs are
//     sorted by key with the key type's comparator and, for keys comparing
//     equal, the later pair wins (as in an INSERT of {k: 1, k: 2}).
//
// The frozenness of t does not matter: both forms serialize alike. The
// result never aliases elems, and is never nil (an empty collection is the
// 4-byte count 0).
func PackCollection(t *Type, elems [][]byte) ([]byte, error) {
	if !t.IsCollection() || !t.shapeOK() {
		return nil, fmt.Errorf("PackCollection: %s is not a collection type", t)
	}
	for _, e := range elems {
		if e == nil {
			return nil, errors.New("null is not supported inside collections")
		}
	}
	switch t.Kind {
	case List:
		return packElems(elems, len(elems))
	case Set:
		idx := make([]int, len(elems))
		for i := range idx {
			idx[i] = i
		}
		et := t.Elems[0]
		slices.SortStableFunc(idx, func(i, j int) int { return et.Compare(elems[i], elems[j]) })
		out := make([][]byte, 0, len(elems))
		for n, i := range idx {
			if n > 0 && et.Compare(out[len(out)-1], elems[i]) == 0 {
				continue // first occurrence wins
			}
			out = append(out, elems[i])
		}
		return packElems(out, len(out))
	default: // Map
		if len(elems)%2 != 0 {
			return nil, fmt.Errorf("PackCollection: %d map elements, want an even number (key, value, ...)", len(elems))
		}
		idx := make([]int, len(elems)/2)
		for i := range idx {
			idx[i] = i
		}
		kt := t.Elems[0]
		slices.SortStableFunc(idx, func(i, j int) int { return kt.Compare(elems[2*i], elems[2*j]) })
		out := make([][]byte, 0, len(elems))
		for _, i := range idx {
			if len(out) > 0 && kt.Compare(out[len(out)-2], elems[2*i]) == 0 {
				// Stable sort keeps input order among equal keys: the
				// later pair replaces the earlier one.
				out[len(out)-2], out[len(out)-1] = elems[2*i], elems[2*i+1]
				continue
			}
			out = append(out, elems[2*i], elems[2*i+1])
		}
		return packElems(out, len(out)/2)
	}
}

// packElems writes [int count] followed by each element as an [int len]
// and the element's bytes.
func packElems(elems [][]byte, count int) ([]byte, error) {
	if count > math.MaxInt32 {
		return nil, errors.New("too many collection elements")
	}
	size := 4
	for _, e := range elems {
		if len(e) > math.MaxInt32 {
			return nil, errors.New("collection element too large")
		}
		size += 4 + len(e)
	}
	b := make([]byte, 0, size)
	b = binary.BigEndian.AppendUint32(b, uint32(count))
	for _, e := range elems {
		b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
		b = append(b, e...)
	}
	return b, nil
}

// UnpackCollection splits a serialized list, set or map (protocol v4 layout)
// into its elements; for a map the result alternates key, value. The
// element slices alias v (with their capacity clipped, so appending to one
// cannot overwrite v). A 0-byte v is the empty collection and gives an
// empty result.
//
// The layout does not say whether the [int] count is of elements (list,
// set) or of key/value pairs (map), but it is never ambiguous: every
// element takes at least 4 bytes, so if count elements do not use up v,
// UnpackCollection reads count more and v is a map if they use it up
// exactly. Callers that know the type should still check it (a map always
// yields an even number of elements, which a list may too) or use
// [Type.Validate].
//
// It fails, and never panics, on a negative count, a truncated element, a
// NULL (negative length) element and trailing bytes.
func UnpackCollection(v []byte) ([][]byte, error) {
	if len(v) == 0 {
		return [][]byte{}, nil
	}
	n, ok := readInt(v, 0)
	if !ok {
		return nil, errors.New("truncated collection: missing element count")
	}
	if n < 0 {
		return nil, fmt.Errorf("invalid collection element count %d", n)
	}
	// Each element needs at least 4 bytes: bound the allocation by the input.
	out := make([][]byte, 0, min(int(n), (len(v)-4)/4))
	off := 4
	for round := 0; round < 2; round++ {
		for i := 0; i < int(n); i++ {
			l, ok := readInt(v, off)
			if !ok {
				return nil, fmt.Errorf("truncated collection: element %d of %d missing", len(out), n)
			}
			if l < 0 {
				return nil, errors.New("null is not supported inside collections")
			}
			e, next, ok := nextElem(v, off)
			if !ok {
				return nil, fmt.Errorf("truncated collection: element %d of %d is %d bytes, %d left", len(out), n, l, len(v)-off-4)
			}
			out = append(out, e)
			off = next
		}
		if off == len(v) {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%d bytes remaining after reading all %d collection elements", len(v)-off, n)
}

// PackTuple serializes tuple components, each as an [int len] followed by
// len bytes, a nil component (NULL) as length -1. The components are not
// validated.
func PackTuple(elems [][]byte) []byte {
	size := 0
	for _, e := range elems {
		size += 4 + len(e)
	}
	b := make([]byte, 0, size)
	for _, e := range elems {
		if e == nil {
			b = binary.BigEndian.AppendUint32(b, math.MaxUint32) // -1
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
		b = append(b, e...)
	}
	return b
}

// UnpackTuple splits a serialized tuple of type t into exactly len(t.Elems)
// components, nil for a NULL component. Components missing at the end of v
// (a tuple value shorter than its type, or a 0-byte v) are returned as nil.
// Component slices alias v with their capacity clipped. It fails, and never
// panics, if t is not a tuple type, on a truncated component, on a length
// below -1 and on more components than t has.
func UnpackTuple(t *Type, v []byte) ([][]byte, error) {
	if !t.IsTupleLike() || !t.shapeOK() {
		return nil, fmt.Errorf("UnpackTuple: %s is not a tuple type", t)
	}
	out := make([][]byte, len(t.Elems))
	off := 0
	for i := 0; off < len(v); i++ {
		if i >= len(t.Elems) {
			return nil, fmt.Errorf("value of type %s contains too many components (expected %d)", t, len(t.Elems))
		}
		l, ok := readInt(v, off)
		if !ok {
			return nil, fmt.Errorf("truncated tuple component %d", i)
		}
		if l < -1 {
			return nil, fmt.Errorf("invalid length %d of tuple component %d", l, i)
		}
		e, next, ok := nextElem(v, off)
		if !ok {
			return nil, fmt.Errorf("truncated tuple component %d", i)
		}
		out[i] = e
		off = next
	}
	return out, nil
}

// Canonical returns v (a valid, non-null value of t) in the form the
// server stores: set elements and map keys sorted and deduplicated, at
// every nesting level. A client may serialize a set or map in any order
// (gocql marshals Go maps in iteration order); ScyllaDB re-serializes bound
// collections, so equal values compare, hash and route equal. Values of
// other types are returned unchanged.
func Canonical(t *Type, v []byte) ([]byte, error) {
	if len(v) == 0 || !t.hasCollection() {
		return v, nil
	}
	switch t.Kind {
	case List, Set, Map:
		elems, err := UnpackCollection(v)
		if err != nil {
			return nil, err
		}
		for i, e := range elems {
			et := t.Elems[0]
			if t.Kind == Map && i%2 == 1 {
				et = t.Elems[1]
			}
			if elems[i], err = Canonical(et, e); err != nil {
				return nil, err
			}
		}
		return PackCollection(t, elems)
	case Tuple, UDT:
		parts, err := UnpackTuple(t, v)
		if err != nil {
			return nil, err
		}
		for i, p := range parts {
			if i < len(t.Elems) {
				if parts[i], err = Canonical(t.Elems[i], p); err != nil {
					return nil, err
				}
			}
		}
		return PackTuple(parts), nil
	}
	return v, nil
}

// hasCollection reports whether t is or contains a collection.
func (t *Type) hasCollection() bool {
	if t.IsCollection() {
		return true
	}
	for _, e := range t.Elems {
		if e.hasCollection() {
			return true
		}
	}
	return false
}
