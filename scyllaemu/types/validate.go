package types

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxTime is the largest valid time value: 23:59:59.999999999 in
// nanoseconds since midnight.
const MaxTime = 86399999999999

// Validate checks that v is a well-formed serialized value of type t, with
// ScyllaDB's rules:
//
//   - a nil v (NULL) is not validated and yields nil; whether NULL is legal
//     where the value goes is the caller's business;
//   - a 0-byte v is the "empty" value and is valid for every type except
//     duration (ScyllaDB and Cassandra require at least 3 bytes there); for
//     collections and tuples it reads as an empty collection / all-NULL
//     tuple;
//   - fixed sizes: tinyint and boolean 1 byte, smallint 2, int, float and
//     date 4, bigint, counter, timestamp, time and double 8, uuid and
//     timeuuid 16, inet 4 or 16; decimal at least 4 (the [int] scale, the
//     unscaled varint may be empty and then reads as 0), varint at least 1;
//   - timeuuid must be a version 1 UUID; ascii must be 7-bit; text must be
//     valid UTF-8; time must be within [0, MaxTime];
//   - duration is exactly three vints with months and days within 32 bits
//     and all three components of the same sign;
//   - list and set: [int n] then n elements, each an [int len] and len bytes,
//     validated as the element type; map likewise with key then value;
//     NULL (len < 0) elements are rejected, as are trailing bytes;
//   - tuple: a sequence of components, each an [int len] and len bytes,
//     len -1 being a NULL component; fewer components than the type has
//     are allowed (the rest read as NULL), more are an error.
//
// Validate does not allocate unless it returns an error.
func (t *Type) Validate(v []byte) error {
	if t == nil {
		return errors.New("nil type")
	}
	if v == nil {
		return nil
	}
	return t.validate(v, 0)
}

// maxDepth bounds recursion on (malformed) deeply nested Types.
const maxDepth = 100

func sizeError(t *Type, want string, got int) error {
	return fmt.Errorf("Validation failed for type %s: expected %s bytes, got %d", t.Kind, want, got) //nolint:staticcheck // ScyllaDB's capitalisation.
}

func (t *Type) validate(v []byte, depth int) error {
	if depth > maxDepth {
		return errors.New("type nested too deeply")
	}
	if len(v) == 0 {
		if t.Kind == Duration {
			return errors.New("Expected at least 3 bytes for a duration, got 0") //nolint:staticcheck
		}
		return nil
	}
	switch t.Kind {
	case Tinyint, Boolean:
		if len(v) != 1 {
			return sizeError(t, "1", len(v))
		}
	case Smallint:
		if len(v) != 2 {
			return sizeError(t, "2", len(v))
		}
	case Int, Float, Date:
		if len(v) != 4 {
			return sizeError(t, "4", len(v))
		}
	case Bigint, Counter, Timestamp, Double:
		if len(v) != 8 {
			return sizeError(t, "8", len(v))
		}
	case Time:
		if len(v) != 8 {
			return sizeError(t, "8", len(v))
		}
		if n := int64(binary.BigEndian.Uint64(v)); n < 0 || n > MaxTime {
			return fmt.Errorf("Validation failed for type time: %d nanoseconds is outside [0, %d]", n, int64(MaxTime)) //nolint:staticcheck
		}
	case UUID:
		if len(v) != 16 {
			return sizeError(t, "16", len(v))
		}
	case Timeuuid:
		if len(v) != 16 {
			return sizeError(t, "16", len(v))
		}
		if ver := v[6] >> 4; ver != 1 {
			return fmt.Errorf("Unsupported UUID version (%d)", ver) //nolint:staticcheck
		}
	case Inet:
		if len(v) != 4 && len(v) != 16 {
			return sizeError(t, "4 or 16", len(v))
		}
	case Decimal:
		if len(v) < 4 {
			return sizeError(t, "at least 4", len(v))
		}
	case Varint, Blob:
		// Any non-empty value is a valid varint; any value is a valid blob.
	case Ascii:
		for _, c := range v {
			if c >= 0x80 {
				return errors.New("Validation failed - non-ASCII character in an ASCII string") //nolint:staticcheck
			}
		}
	case Varchar:
		if !utf8.Valid(v) {
			return errors.New("Validation failed - non-UTF8 character in a UTF8 string") //nolint:staticcheck
		}
	case Duration:
		if _, _, _, err := decodeDuration(v); err != nil {
			return fmt.Errorf("Validation failed for type duration: %v", err) //nolint:staticcheck
		}
	case List, Set, Map:
		return t.validateCollection(v, depth)
	case Tuple, UDT:
		return t.validateTuple(v, depth)
	default:
		return fmt.Errorf("cannot validate values of type %s", t.Kind)
	}
	return nil
}

// readInt reads a big-endian [int] at b[off:]; ok is false if truncated.
func readInt(b []byte, off int) (int32, bool) {
	if off < 0 || len(b)-off < 4 {
		return 0, false
	}
	return int32(binary.BigEndian.Uint32(b[off:])), true
}

// nextElem reads one element ([int len] and len bytes) at b[off:] and
// returns it and the offset after it. A negative length is returned as a
// nil element with ok true; a truncated element gives ok false.
func nextElem(b []byte, off int) (elem []byte, next int, ok bool) {
	n, ok := readInt(b, off)
	if !ok {
		return nil, 0, false
	}
	off += 4
	if n < 0 {
		return nil, off, true
	}
	if int(n) > len(b)-off {
		return nil, 0, false
	}
	return b[off : off+int(n) : off+int(n)], off + int(n), true
}

func (t *Type) validateCollection(v []byte, depth int) error {
	if !t.shapeOK() {
		return fmt.Errorf("malformed %s type", t.Kind)
	}
	n, ok := readInt(v, 0)
	if !ok {
		return fmt.Errorf("Validation failed for type %s: truncated element count", t) //nolint:staticcheck
	}
	if n < 0 {
		return fmt.Errorf("Validation failed for type %s: negative element count %d", t, n) //nolint:staticcheck
	}
	per := 1
	if t.Kind == Map {
		per = 2
	}
	off := 4
	for i := 0; i < int(n); i++ {
		for j := 0; j < per; j++ {
			l, ok := readInt(v, off)
			if !ok || (l >= 0 && int(l) > len(v)-off-4) {
				return fmt.Errorf("Validation failed for type %s: truncated element %d of %d", t, i, n) //nolint:staticcheck
			}
			if l < 0 {
				return errors.New("null is not supported inside collections")
			}
			off += 4
			e := v[off : off+int(l)]
			off += int(l)
			if err := t.Elems[j].validate(e, depth+1); err != nil {
				return err
			}
		}
	}
	if off != len(v) {
		return fmt.Errorf("Validation failed for type %s: %d bytes remaining after reading all %d elements", t, len(v)-off, n) //nolint:staticcheck
	}
	return nil
}

func (t *Type) validateTuple(v []byte, depth int) error {
	if !t.shapeOK() {
		return errors.New("malformed tuple type")
	}
	off, i := 0, 0
	for off < len(v) {
		e, next, ok := nextElem(v, off)
		if !ok {
			return fmt.Errorf("Validation failed for type %s: truncated component %d", t, i) //nolint:staticcheck
		}
		if l, _ := readInt(v, off); l < -1 {
			return fmt.Errorf("Validation failed for type %s: invalid length %d of component %d", t, l, i) //nolint:staticcheck
		}
		if i >= len(t.Elems) {
			return fmt.Errorf("Value of type %s contained too many fields (expected %d)", t, len(t.Elems)) //nolint:staticcheck
		}
		if e != nil {
			if err := t.Elems[i].validate(e, depth+1); err != nil {
				return err
			}
		}
		off = next
		i++
	}
	return nil
}
