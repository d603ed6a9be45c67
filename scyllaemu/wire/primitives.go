package wire

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
)

// ---- encoding ---------------------------------------------------------------
//
// The Append helpers write the notations of spec section 3. They never emit a
// length prefix that disagrees with the bytes that follow: a [string] or
// [short bytes] longer than 65535 bytes is truncated (strings at a UTF-8
// boundary) rather than wrapping the 16-bit length, which would desynchronise
// the client's parser for the rest of the connection.

// AppendShort appends a [short] (also used for [consistency]).
func AppendShort(dst []byte, v uint16) []byte {
	return append(dst, byte(v>>8), byte(v))
}

// AppendInt appends an [int].
func AppendInt(dst []byte, v int32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// PutInt overwrites the [int] at b[0:4]. Use it to patch a count written
// before it was known, e.g. the rows_count AppendRowsHeader leaves as the
// last 4 bytes it appends.
func PutInt(b []byte, v int32) {
	binary.BigEndian.PutUint32(b, uint32(v))
}

// AppendLong appends a [long].
func AppendLong(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}

// clampShort cuts s to at most 65535 bytes without splitting a UTF-8
// sequence.
func clampShort(s string) string {
	if len(s) <= math.MaxUint16 {
		return s
	}
	n := math.MaxUint16
	for n > 0 && s[n]&0xC0 == 0x80 { // s[n] continues a rune that started before the cut
		n--
	}
	return s[:n]
}

// AppendString appends a [string]. A string longer than 65535 bytes is
// truncated at a UTF-8 boundary rather than wrapping the 16-bit length, which
// would desynchronise the client's parser for the rest of the connection.
func AppendString(dst []byte, s string) []byte {
	s = clampShort(s)
	dst = AppendShort(dst, uint16(len(s)))
	return append(dst, s...)
}

// AppendLongString appends a [long string].
func AppendLongString(dst []byte, s string) []byte {
	dst = AppendInt(dst, int32(len(s)))
	return append(dst, s...)
}

// AppendBytes appends the spec's "bytes" notation ([int] n, n bytes). A nil b
// is written as null (n = -1), an empty non-nil b as a zero-length value.
func AppendBytes(dst []byte, b []byte) []byte {
	if b == nil {
		return AppendInt(dst, -1)
	}
	dst = AppendInt(dst, int32(len(b)))
	return append(dst, b...)
}

// AppendShortBytes appends a [short bytes] (truncated at 65535 bytes).
func AppendShortBytes(dst []byte, b []byte) []byte {
	if len(b) > math.MaxUint16 {
		b = b[:math.MaxUint16]
	}
	dst = AppendShort(dst, uint16(len(b)))
	return append(dst, b...)
}

// AppendValue appends a [value]: null is length -1, unset -2.
func AppendValue(dst []byte, v Value) []byte {
	switch {
	case v.Unset:
		return AppendInt(dst, -2)
	case v.Null:
		return AppendInt(dst, -1)
	}
	dst = AppendInt(dst, int32(len(v.Bytes)))
	return append(dst, v.Bytes...)
}

// AppendStringList appends a [string list] (at most 65535 entries).
func AppendStringList(dst []byte, l []string) []byte {
	if len(l) > math.MaxUint16 {
		l = l[:math.MaxUint16]
	}
	dst = AppendShort(dst, uint16(len(l)))
	for _, s := range l {
		dst = AppendString(dst, s)
	}
	return dst
}

// AppendStringMap appends a [string map] with keys in sorted order, so the
// output is deterministic.
func AppendStringMap(dst []byte, m map[string]string) []byte {
	keys := slices.Sorted(maps.Keys(m))
	if len(keys) > math.MaxUint16 {
		keys = keys[:math.MaxUint16]
	}
	dst = AppendShort(dst, uint16(len(keys)))
	for _, k := range keys {
		dst = AppendString(dst, k)
		dst = AppendString(dst, m[k])
	}
	return dst
}

// AppendStringMultimap appends a [string multimap] with keys in sorted order;
// each value list keeps its order.
func AppendStringMultimap(dst []byte, m map[string][]string) []byte {
	keys := slices.Sorted(maps.Keys(m))
	if len(keys) > math.MaxUint16 {
		keys = keys[:math.MaxUint16]
	}
	dst = AppendShort(dst, uint16(len(keys)))
	for _, k := range keys {
		dst = AppendString(dst, k)
		dst = AppendStringList(dst, m[k])
	}
	return dst
}

// AppendInet appends an [inet]: address size, address, [int] port. IPv4 and
// IPv4-mapped IPv6 addresses are written as 4 bytes (what Cassandra sends
// for IPv4 nodes), other addresses as 16; the zero Addr is written as
// 0.0.0.0 so the frame stays well-formed.
func AppendInet(dst []byte, addr netip.Addr, port int32) []byte {
	addr = addr.Unmap()
	switch {
	case addr.Is4():
		a := addr.As4()
		dst = append(dst, 4)
		dst = append(dst, a[:]...)
	case addr.Is6():
		a := addr.As16()
		dst = append(dst, 16)
		dst = append(dst, a[:]...)
	default:
		dst = append(dst, 4, 0, 0, 0, 0)
	}
	return AppendInt(dst, port)
}

// ---- decoding ---------------------------------------------------------------

// DecodeError reports a truncated or malformed message body. The server
// answers it with a protocol error (0x000A).
type DecodeError struct {
	Op     string // message being decoded, e.g. "EXECUTE"; empty for bare Reader use
	Offset int    // byte offset into the body where decoding failed
	Msg    string
}

func (e *DecodeError) Error() string {
	if e.Op == "" {
		return fmt.Sprintf("wire: malformed body at offset %d: %s", e.Offset, e.Msg)
	}
	return fmt.Sprintf("wire: malformed %s body at offset %d: %s", e.Op, e.Offset, e.Msg)
}

// Reader decodes the notations of spec section 3 from a message body.
//
// Errors are sticky: the first failure is recorded (see Err) and every later
// read returns a zero value, so decoders can read a whole message and check
// once at the end — there is no panic/recover on this path. Methods that
// return []byte return sub-slices of the body (no copy); the *Copy methods
// and the list/map methods allocate.
type Reader struct {
	buf []byte
	off int
	err *DecodeError
}

// NewReader returns a Reader over b.
func NewReader(b []byte) Reader { return Reader{buf: b} }

// Err returns the first decoding failure as a *DecodeError, or nil.
func (r *Reader) Err() error {
	if r.err == nil {
		return nil
	}
	return r.err
}

// Len returns the number of unread bytes (0 after a failure).
func (r *Reader) Len() int { return len(r.buf) - r.off }

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Fail records a semantic error (e.g. an invalid enum value) at the current
// offset, unless an earlier error is already recorded.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = &DecodeError{Offset: r.off, Msg: fmt.Sprintf(format, args...)}
	}
	// Make every later read fail too, without a per-read error check.
	r.buf, r.off = nil, 0
}

func (r *Reader) short(what string, need int) {
	r.Fail("truncated %s: need %d bytes, have %d", what, need, r.Len())
}

// Byte reads a [byte].
func (r *Reader) Byte() byte {
	if r.Len() < 1 {
		r.short("[byte]", 1)
		return 0
	}
	b := r.buf[r.off]
	r.off++
	return b
}

// Short reads a [short].
func (r *Reader) Short() uint16 {
	if r.Len() < 2 {
		r.short("[short]", 2)
		return 0
	}
	v := binary.BigEndian.Uint16(r.buf[r.off:])
	r.off += 2
	return v
}

// Int reads an [int].
func (r *Reader) Int() int32 {
	if r.Len() < 4 {
		r.short("[int]", 4)
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.buf[r.off:]))
	r.off += 4
	return v
}

// Long reads a [long].
func (r *Reader) Long() int64 {
	if r.Len() < 8 {
		r.short("[long]", 8)
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.buf[r.off:]))
	r.off += 8
	return v
}

// take returns the next n bytes (n >= 0) as a sub-slice.
func (r *Reader) take(what string, n int) []byte {
	if r.Len() < n {
		r.short(what, n)
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n] // capped so appends by the caller can't clobber the body
	r.off += n
	return b
}

// StringBytes reads a [string] without copying it.
func (r *Reader) StringBytes() []byte {
	n := r.Short()
	return r.take("[string]", int(n))
}

// StringCopy reads a [string] into a new string.
func (r *Reader) StringCopy() string { return string(r.StringBytes()) }

// LongStringBytes reads a [long string] without copying it.
func (r *Reader) LongStringBytes() []byte {
	n := r.Int()
	if n < 0 {
		if r.err == nil {
			r.Fail("negative [long string] length %d", n)
		}
		return nil
	}
	return r.take("[long string]", int(n))
}

// LongStringCopy reads a [long string] into a new string.
func (r *Reader) LongStringCopy() string { return string(r.LongStringBytes()) }

// Bytes reads the spec's "bytes" notation ([int] n, n bytes). A negative n
// yields nil (null); n = 0 yields an empty non-nil slice, so null and empty
// stay distinguishable.
func (r *Reader) Bytes() []byte {
	n := r.Int()
	if n < 0 {
		return nil
	}
	return r.take("[bytes]", int(n))
}

// ShortBytes reads a [short bytes] without copying it.
func (r *Reader) ShortBytes() []byte {
	n := r.Short()
	return r.take("[short bytes]", int(n))
}

// Value reads a [value]: length -1 is null, -2 unset, anything below -2 is an
// error (spec section 3).
func (r *Reader) Value() Value {
	n := r.Int()
	switch {
	case n >= 0:
		return Value{Bytes: r.take("[value]", int(n))}
	case n == -1:
		return Value{Null: true}
	case n == -2:
		return Value{Unset: true}
	}
	if r.err == nil {
		r.Fail("invalid [value] length %d", n)
	}
	return Value{}
}

// count reads a [short] element count and checks that n elements of at least
// minSize bytes each can fit in what is left, so a forged count can't make
// the caller allocate for elements that aren't there.
func (r *Reader) count(what string, minSize int) int {
	n := int(r.Short())
	if n*minSize > r.Len() {
		if r.err == nil {
			r.Fail("%s count %d cannot fit in the %d remaining bytes", what, n, r.Len())
		}
		return 0
	}
	return n
}

// StringList reads a [string list].
func (r *Reader) StringList() []string {
	n := r.count("[string list]", 2)
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.StringCopy()
	}
	if r.err != nil {
		return nil
	}
	return l
}

// StringMap reads a [string map]. A repeated key keeps its last value.
func (r *Reader) StringMap() map[string]string {
	n := r.count("[string map]", 4)
	if r.err != nil {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := r.StringBytes()
		v := r.StringCopy()
		if r.err != nil {
			return nil
		}
		m[string(k)] = v
	}
	return m
}

// SkipBytesMap consumes a [bytes map] without allocating.
func (r *Reader) SkipBytesMap() {
	n := r.count("[bytes map]", 6)
	for range n {
		r.StringBytes()
		r.Bytes()
	}
}

// Inet reads an [inet]. Sizes other than 4 and 16 are an error.
func (r *Reader) Inet() (netip.Addr, int32) {
	size := r.Byte()
	if r.err != nil {
		return netip.Addr{}, 0
	}
	if size != 4 && size != 16 {
		r.Fail("invalid [inet] address size %d", size)
		return netip.Addr{}, 0
	}
	b := r.take("[inet]", int(size))
	port := r.Int()
	if r.err != nil {
		return netip.Addr{}, 0
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr, port
}
