package types

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Kind identifies a CQL type. Kind values equal the protocol v4 [option]
// ids, so a Kind can be written to the wire as is (see [AppendOption]).
//
// There is no separate kind for "text": text and varchar are the same type
// in CQL and both are represented by Varchar, which [Type.String] renders as
// "text" (as ScyllaDB does in system_schema).
type Kind uint16

// The CQL kinds, numbered as the protocol v4 [option] ids.
const (
	Custom    Kind = 0x0000 // custom type; not produced by Parse (no class name is modelled)
	Ascii     Kind = 0x0001 // ascii: 7-bit US-ASCII bytes
	Bigint    Kind = 0x0002 // bigint: 8-byte signed big-endian integer
	Blob      Kind = 0x0003 // blob: arbitrary bytes
	Boolean   Kind = 0x0004 // boolean: 1 byte, zero is false
	Counter   Kind = 0x0005 // counter: 8-byte signed big-endian integer
	Decimal   Kind = 0x0006 // decimal: [int scale] followed by a varint unscaled value
	Double    Kind = 0x0007 // double: 8-byte IEEE 754 binary64
	Float     Kind = 0x0008 // float: 4-byte IEEE 754 binary32
	Int       Kind = 0x0009 // int: 4-byte signed big-endian integer
	Timestamp Kind = 0x000B // timestamp: 8-byte signed milliseconds since the Unix epoch
	UUID      Kind = 0x000C // uuid: 16 bytes, any version
	Varchar   Kind = 0x000D // text (alias varchar): UTF-8 bytes
	Varint    Kind = 0x000E // varint: two's complement big-endian integer of any length
	Timeuuid  Kind = 0x000F // timeuuid: 16-byte version 1 UUID
	Inet      Kind = 0x0010 // inet: 4 (IPv4) or 16 (IPv6) address bytes
	Date      Kind = 0x0011 // date: 4-byte unsigned days, with the Unix epoch at 2^31
	Time      Kind = 0x0012 // time: 8-byte signed nanoseconds since midnight
	Smallint  Kind = 0x0013 // smallint: 2-byte signed big-endian integer
	Tinyint   Kind = 0x0014 // tinyint: 1-byte signed integer
	Duration  Kind = 0x0015 // duration: three zig-zag vints (months, days, nanoseconds)
	List      Kind = 0x0020 // list<e>
	Map       Kind = 0x0021 // map<k, v>
	Set       Kind = 0x0022 // set<e>
	UDT       Kind = 0x0030 // user-defined type: named fields; multi-cell unless frozen
	Tuple     Kind = 0x0031 // tuple<t1, t2, ...>; always frozen
)

// String returns the CQL name of the kind: "int", "text" (for Varchar),
// "list", "tuple" and so on. Unknown kinds render as "kind(0x00NN)".
func (k Kind) String() string {
	switch k {
	case Custom:
		return "custom"
	case Ascii:
		return "ascii"
	case Bigint:
		return "bigint"
	case Blob:
		return "blob"
	case Boolean:
		return "boolean"
	case Counter:
		return "counter"
	case Decimal:
		return "decimal"
	case Double:
		return "double"
	case Float:
		return "float"
	case Int:
		return "int"
	case Timestamp:
		return "timestamp"
	case UUID:
		return "uuid"
	case Varchar:
		return "text"
	case Varint:
		return "varint"
	case Timeuuid:
		return "timeuuid"
	case Inet:
		return "inet"
	case Date:
		return "date"
	case Time:
		return "time"
	case Smallint:
		return "smallint"
	case Tinyint:
		return "tinyint"
	case Duration:
		return "duration"
	case List:
		return "list"
	case Map:
		return "map"
	case Set:
		return "set"
	case Tuple:
		return "tuple"
	case UDT:
		return "udt"
	}
	return fmt.Sprintf("kind(0x%04x)", uint16(k))
}

// IsNative reports whether k is a known non-parameterized (scalar) kind.
// Custom is not native.
func (k Kind) IsNative() bool {
	switch k {
	case Ascii, Bigint, Blob, Boolean, Counter, Decimal, Double, Float, Int,
		Timestamp, UUID, Varchar, Varint, Timeuuid, Inet, Date, Time,
		Smallint, Tinyint, Duration:
		return true
	}
	return false
}

// Type is a CQL type.
//
// Elems holds the type parameters: for a list or set, exactly one element
// type; for a map, the key type then the value type; for a tuple, the
// component types (at least one). Native types have no Elems.
//
// Frozen is meaningful for collections only. A non-frozen collection is
// "multi-cell" (its elements are individually updatable cells); a frozen one
// is a single opaque value. Collections nested in another collection or in a
// tuple are always frozen. Tuples are always frozen whatever the flag says
// (Parse sets it). For native types the flag is ignored.
//
// A Type must not be modified once it is in use: it is shared between
// goroutines without synchronisation. Types built by [Parse] and the
// constructors below are well formed; the methods tolerate malformed Types
// (wrong number of Elems) by returning errors or falling back to bytewise
// behaviour, and never panic on them.
type Type struct {
	Kind   Kind
	Elems  []*Type
	Frozen bool
	// A user-defined type (Kind UDT) also carries its keyspace, its name
	// and its field names; Elems are the field types, one per name. A
	// UDT column is multi-cell (each field its own cell) unless frozen.
	Keyspace string
	Name     string
	Fields   []string
}

// UDTOf returns a new non-frozen user-defined type. Field types that are
// collections, tuples or UDTs are frozen (copied): ScyllaDB stores UDT
// fields as single values.
func UDTOf(keyspace, name string, fields []string, fieldTypes []*Type) *Type {
	elems := make([]*Type, len(fieldTypes))
	for i, ft := range fieldTypes {
		elems[i] = ft.Freeze()
	}
	return &Type{Kind: UDT, Keyspace: keyspace, Name: name, Fields: append([]string(nil), fields...), Elems: elems}
}

// IsTupleLike reports whether values of t are serialized as a tuple: a
// tuple or a user-defined type.
func (t *Type) IsTupleLike() bool { return t != nil && (t.Kind == Tuple || t.Kind == UDT) }

// Native returns a new Type of the native kind k (for example Native(Int)).
// It does not check that k is native.
func Native(k Kind) *Type { return &Type{Kind: k} }

// ListOf returns a new non-frozen list<elem>. elem should be frozen if it is
// a collection (see [Type.Freeze]).
func ListOf(elem *Type) *Type { return &Type{Kind: List, Elems: []*Type{elem}} }

// SetOf returns a new non-frozen set<elem>.
func SetOf(elem *Type) *Type { return &Type{Kind: Set, Elems: []*Type{elem}} }

// MapOf returns a new non-frozen map<key, value>.
func MapOf(key, value *Type) *Type { return &Type{Kind: Map, Elems: []*Type{key, value}} }

// TupleOf returns a new tuple of the given components. Tuples are always
// frozen, and so are collections inside them: TupleOf freezes collection
// components (copying them; the arguments are not modified).
func TupleOf(components ...*Type) *Type {
	elems := make([]*Type, len(components))
	for i, c := range components {
		elems[i] = c.Freeze()
	}
	return &Type{Kind: Tuple, Elems: elems, Frozen: true}
}

// Freeze returns t frozen: for a collection or tuple, a copy of t with
// Frozen set on it and, recursively, on every collection it contains (which
// is what CQL's frozen<...> does); for any other type, t itself.
func (t *Type) Freeze() *Type {
	if t == nil || (!t.IsCollection() && t.Kind != Tuple && t.Kind != UDT) {
		return t
	}
	if t.Frozen && t.Kind == UDT {
		return t
	}
	c := &Type{Kind: t.Kind, Frozen: true, Elems: make([]*Type, len(t.Elems)), Keyspace: t.Keyspace, Name: t.Name, Fields: t.Fields}
	for i, e := range t.Elems {
		c.Elems[i] = e.Freeze()
	}
	return c
}

// IsCollection reports whether t is a list, set or map (frozen or not).
func (t *Type) IsCollection() bool {
	return t != nil && (t.Kind == List || t.Kind == Set || t.Kind == Map)
}

// MultiCell reports whether t is a non-frozen collection, that is, a
// collection whose elements are stored as separate cells.
func (t *Type) MultiCell() bool { return (t.IsCollection() || t.Kind == UDT) && !t.Frozen }

// Equal reports whether t and o are the same type. Varchar equals Varchar
// whatever text it was parsed from ("text" or "varchar"); a frozen and a
// non-frozen collection are different types; tuples compare equal
// regardless of their Frozen flag since tuples are always frozen. Two nil
// Types are equal.
func (t *Type) Equal(o *Type) bool {
	if t == o {
		return true
	}
	if t == nil || o == nil || t.Kind != o.Kind || len(t.Elems) != len(o.Elems) {
		return false
	}
	if (t.IsCollection() || t.Kind == UDT) && t.Frozen != o.Frozen {
		return false
	}
	if t.Kind == UDT && (t.Keyspace != o.Keyspace || t.Name != o.Name || len(t.Fields) != len(o.Fields)) {
		return false
	}
	for i := range t.Fields {
		if t.Fields[i] != o.Fields[i] {
			return false
		}
	}
	for i := range t.Elems {
		if !t.Elems[i].Equal(o.Elems[i]) {
			return false
		}
	}
	return true
}

// shapeOK reports whether t has the number of Elems its kind requires.
func (t *Type) shapeOK() bool {
	if t == nil {
		return false
	}
	switch t.Kind {
	case List, Set:
		return len(t.Elems) == 1 && t.Elems[0] != nil
	case Map:
		return len(t.Elems) == 2 && t.Elems[0] != nil && t.Elems[1] != nil
	case Tuple:
		for _, e := range t.Elems {
			if e == nil {
				return false
			}
		}
		return len(t.Elems) > 0
	case UDT:
		for _, e := range t.Elems {
			if e == nil {
				return false
			}
		}
		return len(t.Elems) > 0 && len(t.Fields) == len(t.Elems)
	}
	return true
}

// String returns t exactly as ScyllaDB writes it in
// system_schema.columns.type (and as DESCRIBE prints it): "text" for both
// text and varchar, lower-case names, ", " between type parameters, and a
// frozen<...> wrapper around every frozen collection and every tuple:
//
//	int
//	list<int>
//	frozen<map<text, text>>
//	map<text, frozen<set<uuid>>>
//	frozen<tuple<int, frozen<list<text>>>>
//
// A nil Type renders as "<nil>"; a missing type parameter as "?".
func (t *Type) String() string {
	if t == nil {
		return "<nil>"
	}
	return string(t.appendString(nil, false))
}

// appendString appends the canonical text of t. raw selects the rendering
// of a type as written by the user (frozen<> only where set, no implicit
// frozen<> around tuples), used in error messages like ScyllaDB's.
func (t *Type) appendString(dst []byte, raw bool) []byte {
	if t == nil {
		return append(dst, '?')
	}
	if t.Kind.IsNative() || t.Kind == Custom {
		return append(dst, t.Kind.String()...)
	}
	if t.Kind == UDT {
		if t.Frozen {
			dst = append(dst, "frozen<"...)
		}
		dst = AppendIdent(dst, t.Name)
		if t.Frozen {
			dst = append(dst, '>')
		}
		return dst
	}
	if !t.IsCollection() && t.Kind != Tuple {
		return append(dst, t.Kind.String()...)
	}
	frozen := t.Frozen || (t.Kind == Tuple && !raw)
	if frozen {
		dst = append(dst, "frozen<"...)
	}
	dst = append(dst, t.Kind.String()...)
	dst = append(dst, '<')
	n := len(t.Elems)
	if n == 0 {
		dst = append(dst, '?')
	}
	for i, e := range t.Elems {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = e.appendString(dst, raw)
	}
	dst = append(dst, '>')
	if frozen {
		dst = append(dst, '>')
	}
	return dst
}

// AppendOption appends the protocol v4 [option] describing t to dst and
// returns the extended slice: the [short] kind id, then for a list or set
// the element's [option], for a map the key's then the value's [option],
// and for a tuple a [short] component count followed by each component's
// [option]. Varchar (text) is written as 0x000D, as ScyllaDB does. Custom
// is written as 0x0000 followed by an empty [string] class name. Frozenness
// is not part of the encoding. A nil or malformed type parameter is written
// as Blob so that the output stays decodable.
func AppendOption(dst []byte, t *Type) []byte {
	if t == nil {
		return binary.BigEndian.AppendUint16(dst, uint16(Blob))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(t.Kind))
	switch t.Kind {
	case Custom:
		dst = binary.BigEndian.AppendUint16(dst, 0)
	case List, Set:
		dst = AppendOption(dst, t.elem(0))
	case Map:
		dst = AppendOption(dst, t.elem(0))
		dst = AppendOption(dst, t.elem(1))
	case Tuple:
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.Elems)))
		for _, e := range t.Elems {
			dst = AppendOption(dst, e)
		}
	case UDT:
		dst = appendShortString(dst, t.Keyspace)
		dst = appendShortString(dst, t.Name)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.Elems)))
		for i, e := range t.Elems {
			name := ""
			if i < len(t.Fields) {
				name = t.Fields[i]
			}
			dst = appendShortString(dst, name)
			dst = AppendOption(dst, e)
		}
	}
	return dst
}

func appendShortString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func readShortString(b []byte) (string, int, bool) {
	if len(b) < 2 {
		return "", 0, false
	}
	l := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+l {
		return "", 0, false
	}
	return string(b[2 : 2+l]), 2 + l, true
}

// AppendIdent appends a CQL identifier as ScyllaDB prints it: bare when it
// is lower-case letters, digits and underscores starting with a letter,
// double-quoted (quotes doubled) otherwise.
func AppendIdent(dst []byte, name string) []byte {
	plain := name != ""
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c == '_' || (i > 0 && c >= '0' && c <= '9')) {
			plain = false
			break
		}
	}
	if plain {
		return append(dst, name...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(name); i++ {
		if name[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, name[i])
	}
	return append(dst, '"')
}

// elem returns t.Elems[i], or nil if there is no such element.
func (t *Type) elem(i int) *Type {
	if i < len(t.Elems) {
		return t.Elems[i]
	}
	return nil
}

// ReadOption decodes one protocol v4 [option] from the start of b and
// returns the type and the number of bytes consumed. It is the inverse of
// [AppendOption] up to frozenness, which the encoding does not carry: a
// top-level collection is returned non-frozen, collections nested inside
// collections or tuples are returned frozen, tuples are always frozen. A
// Custom option's class name is skipped. Options nested more than 64 deep
// are rejected.
func ReadOption(b []byte) (*Type, int, error) {
	t, n, err := readOption(b, 0, false)
	if err != nil {
		return nil, 0, err
	}
	return t, n, nil
}

func readOption(b []byte, depth int, frozen bool) (*Type, int, error) {
	if depth > 64 {
		return nil, 0, errors.New("option nested too deeply")
	}
	if len(b) < 2 {
		return nil, 0, errors.New("truncated option")
	}
	k := Kind(binary.BigEndian.Uint16(b))
	n := 2
	switch {
	case k == Custom:
		if len(b) < 4 {
			return nil, 0, errors.New("truncated custom option")
		}
		l := int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+l {
			return nil, 0, errors.New("truncated custom option")
		}
		return &Type{Kind: Custom}, 4 + l, nil
	case k.IsNative():
		return &Type{Kind: k}, n, nil
	case k == List || k == Set || k == Map:
		t := &Type{Kind: k, Frozen: frozen}
		cnt := 1
		if k == Map {
			cnt = 2
		}
		for i := 0; i < cnt; i++ {
			e, m, err := readOption(b[n:], depth+1, true)
			if err != nil {
				return nil, 0, err
			}
			t.Elems = append(t.Elems, e)
			n += m
		}
		return t, n, nil
	case k == UDT:
		ks, n1, ok := readShortString(b[2:])
		if !ok {
			return nil, 0, errors.New("truncated udt option")
		}
		name, n2, ok := readShortString(b[2+n1:])
		if !ok {
			return nil, 0, errors.New("truncated udt option")
		}
		n = 2 + n1 + n2
		if len(b) < n+2 {
			return nil, 0, errors.New("truncated udt option")
		}
		cnt := int(binary.BigEndian.Uint16(b[n:]))
		n += 2
		if cnt == 0 {
			return nil, 0, errors.New("udt option with no fields")
		}
		t := &Type{Kind: UDT, Frozen: frozen, Keyspace: ks, Name: name}
		for i := 0; i < cnt; i++ {
			fname, m, ok := readShortString(b[n:])
			if !ok {
				return nil, 0, errors.New("truncated udt option")
			}
			n += m
			e, m2, err := readOption(b[n:], depth+1, true)
			if err != nil {
				return nil, 0, err
			}
			n += m2
			t.Fields = append(t.Fields, fname)
			t.Elems = append(t.Elems, e)
		}
		return t, n, nil
	case k == Tuple:
		if len(b) < 4 {
			return nil, 0, errors.New("truncated tuple option")
		}
		cnt := int(binary.BigEndian.Uint16(b[2:]))
		n = 4
		if cnt == 0 {
			return nil, 0, errors.New("tuple option with no components")
		}
		t := &Type{Kind: Tuple, Frozen: true, Elems: make([]*Type, 0, min(cnt, len(b)/2))}
		for i := 0; i < cnt; i++ {
			e, m, err := readOption(b[n:], depth+1, true)
			if err != nil {
				return nil, 0, err
			}
			t.Elems = append(t.Elems, e)
			n += m
		}
		return t, n, nil
	}
	return nil, 0, fmt.Errorf("unsupported option id 0x%04x", uint16(k))
}

// Parse parses CQL type text such as "int", "varchar", "frozen<map<text,
// text>>", "list<int>", "map<text, frozen<set<uuid>>>" or "tuple<int, text>".
// Names are case-insensitive and whitespace is allowed around '<', '>' and
// ','. Quoted names and user-defined types are not supported.
//
// Parse applies ScyllaDB's rules and error messages:
//
//   - an unknown name fails with "Unknown type foo";
//   - frozen<> of a non-collection fails ("frozen<> is only allowed on
//     collections, tuples, and user-defined types (got int)");
//   - a non-frozen collection inside a non-frozen collection fails
//     ("Non-frozen user types or collections are not allowed inside
//     collections: list<list<int>>");
//   - counters are rejected inside collections and tuples, durations as set
//     elements and map keys;
//   - frozen<...> freezes every collection it contains, tuples are always
//     frozen and so are the collections inside them.
//
// "counter" parses as a type; whether a counter column is legal in a given
// table is the schema layer's business.
func Parse(s string) (*Type, error) {
	return ParseWith(s, nil)
}

// UDTLookup resolves a user-defined type name (keyspace empty when the
// text did not qualify it) to its type, or nil when there is none.
type UDTLookup func(keyspace, name string) *Type

// ParseWith is Parse with user-defined types: a name that is not a CQL
// type is looked up (names may be double-quoted and keyspace-qualified).
// A bare UDT name is the multi-cell (non-frozen) type, frozen<name> the
// frozen one; UDTs inside collections must be frozen, as in ScyllaDB.
func ParseWith(s string, lookup UDTLookup) (*Type, error) {
	p := typeParser{s: s, lookup: lookup}
	t, err := p.parseType(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("invalid type %q: unexpected %q at offset %d", s, p.s[p.pos:], p.pos)
	}
	if err := prepareType(t); err != nil {
		return nil, err
	}
	return t, nil
}

// MustParse is like Parse but panics on error. It is meant for type text
// that is a compile-time constant (system tables, tests).
func MustParse(s string) *Type {
	t, err := Parse(s)
	if err != nil {
		panic("types.MustParse(" + s + "): " + err.Error())
	}
	return t
}

type typeParser struct {
	s      string
	pos    int
	lookup UDTLookup
}

// name reads a possibly double-quoted identifier: unquoted names are
// lower-cased, quoted ones keep their case ("" is a literal quote).
func (p *typeParser) name() (string, bool) {
	p.skipSpace()
	if p.pos >= len(p.s) || p.s[p.pos] != '"' {
		n := p.ident()
		return n, n != ""
	}
	var b strings.Builder
	i := p.pos + 1
	for i < len(p.s) {
		if p.s[i] == '"' {
			if i+1 < len(p.s) && p.s[i+1] == '"' {
				b.WriteByte('"')
				i += 2
				continue
			}
			p.pos = i + 1
			return b.String(), b.Len() > 0
		}
		b.WriteByte(p.s[i])
		i++
	}
	return "", false
}

// udt parses a user type name at the current position (after at).
func (p *typeParser) udt(at int) (*Type, error) {
	p.pos = at
	first, ok := p.name()
	if !ok {
		return nil, fmt.Errorf("invalid type %q: expected a type name at offset %d", p.s, at)
	}
	ks, name := "", first
	if p.peek() == '.' {
		p.pos++
		if name, ok = p.name(); !ok {
			return nil, fmt.Errorf("invalid type %q: expected a type name at offset %d", p.s, p.pos)
		}
		ks = first
	}
	var found *Type
	if p.lookup != nil {
		found = p.lookup(ks, name)
	}
	if found == nil {
		if ks != "" {
			return nil, fmt.Errorf("Unknown type %s.%s", ks, name) //nolint:staticcheck // ScyllaDB's wording.
		}
		return nil, fmt.Errorf("Unknown type %s", name) //nolint:staticcheck // ScyllaDB's wording.
	}
	cp := *found
	cp.Frozen = false
	return &cp, nil
}

func (p *typeParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			p.pos++
		default:
			return
		}
	}
}

func isIdentByte(c byte, first bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
}

func (p *typeParser) ident() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && isIdentByte(p.s[p.pos], p.pos == start) {
		p.pos++
	}
	return strings.ToLower(p.s[start:p.pos])
}

// peek returns the next non-space byte, or 0 at the end of input.
func (p *typeParser) peek() byte {
	p.skipSpace()
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *typeParser) expect(c byte) error {
	if p.peek() != c {
		if p.pos >= len(p.s) {
			return fmt.Errorf("invalid type %q: expected %q at end of input", p.s, c)
		}
		return fmt.Errorf("invalid type %q: expected %q at offset %d", p.s, c, p.pos)
	}
	p.pos++
	return nil
}

// nativeKind maps a lower-case CQL type name to its native kind.
func nativeKind(name string) (Kind, bool) {
	switch name {
	case "ascii":
		return Ascii, true
	case "bigint":
		return Bigint, true
	case "blob":
		return Blob, true
	case "boolean":
		return Boolean, true
	case "counter":
		return Counter, true
	case "decimal":
		return Decimal, true
	case "double":
		return Double, true
	case "duration":
		return Duration, true
	case "float":
		return Float, true
	case "inet":
		return Inet, true
	case "int":
		return Int, true
	case "smallint":
		return Smallint, true
	case "text", "varchar":
		return Varchar, true
	case "timestamp":
		return Timestamp, true
	case "tinyint":
		return Tinyint, true
	case "uuid":
		return UUID, true
	case "varint":
		return Varint, true
	case "timeuuid":
		return Timeuuid, true
	case "date":
		return Date, true
	case "time":
		return Time, true
	}
	return 0, false
}

// parseType parses one type. The result carries Frozen only where the
// input says frozen<...>; prepareType applies the implicit freezing.
func (p *typeParser) parseType(depth int) (*Type, error) {
	if depth > 64 {
		return nil, fmt.Errorf("invalid type %q: nested too deeply", p.s)
	}
	p.skipSpace()
	at := p.pos
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		return p.udt(at)
	}
	name := p.ident()
	if p.peek() == '.' {
		return p.udt(at)
	}
	if name == "" {
		if p.pos >= len(p.s) {
			return nil, fmt.Errorf("invalid type %q: expected a type name at end of input", p.s)
		}
		return nil, fmt.Errorf("invalid type %q: expected a type name at offset %d", p.s, at)
	}
	if k, ok := nativeKind(name); ok {
		if p.peek() == '<' {
			return nil, fmt.Errorf("invalid type %q: %s takes no type parameters", p.s, name)
		}
		return &Type{Kind: k}, nil
	}
	var kind Kind
	switch name {
	case "frozen":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		inner, err := p.parseType(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
		if !inner.IsCollection() && inner.Kind != Tuple && inner.Kind != UDT {
			return nil, fmt.Errorf("frozen<> is only allowed on collections, tuples, and user-defined types (got %s)", inner.appendString(nil, true))
		}
		freezeRaw(inner)
		return inner, nil
	case "list":
		kind = List
	case "set":
		kind = Set
	case "map":
		kind = Map
	case "tuple":
		kind = Tuple
	default:
		if p.peek() == '<' {
			return nil, fmt.Errorf("Unknown type %s", name) //nolint:staticcheck // ScyllaDB's wording.
		}
		return p.udt(at)
	}
	if err := p.expect('<'); err != nil {
		return nil, err
	}
	t := &Type{Kind: kind}
	for {
		e, err := p.parseType(depth + 1)
		if err != nil {
			return nil, err
		}
		t.Elems = append(t.Elems, e)
		if p.peek() != ',' {
			break
		}
		p.pos++
	}
	if err := p.expect('>'); err != nil {
		return nil, err
	}
	want := 0
	switch kind {
	case List, Set:
		want = 1
	case Map:
		want = 2
	}
	if want != 0 && len(t.Elems) != want {
		return nil, fmt.Errorf("invalid type %q: %s takes %d type parameter(s), got %d", p.s, name, want, len(t.Elems))
	}
	return t, nil
}

// freezeRaw marks t and every collection or tuple inside it as frozen, the
// way ScyllaDB's raw types freeze recursively under frozen<...>.
func freezeRaw(t *Type) {
	if t.Kind == UDT {
		// Its fields are frozen already; the type itself was copied by
		// the parser, so marking it is safe.
		t.Frozen = true
		return
	}
	if t.IsCollection() || t.Kind == Tuple {
		t.Frozen = true
		for _, e := range t.Elems {
			freezeRaw(e)
		}
	}
}

// prepareType checks the ScyllaDB restrictions on a freshly parsed type and
// applies implicit freezing of tuples and of everything inside them.
func prepareType(t *Type) error {
	switch t.Kind {
	case List, Set, Map:
		raw := func() string { return string(t.appendString(nil, true)) }
		for _, e := range t.Elems {
			if e.Kind == Counter {
				return fmt.Errorf("Counters are not allowed inside collections: %s", raw()) //nolint:staticcheck
			}
		}
		if t.Kind == Set && t.Elems[0].Kind == Duration {
			return fmt.Errorf("Durations are not allowed inside sets: %s", raw()) //nolint:staticcheck
		}
		if t.Kind == Map && t.Elems[0].Kind == Duration {
			return fmt.Errorf("Durations are not allowed as map keys: %s", raw()) //nolint:staticcheck
		}
		if !t.Frozen {
			for _, e := range t.Elems {
				if (e.IsCollection() || e.Kind == UDT) && !e.Frozen {
					return fmt.Errorf("Non-frozen user types or collections are not allowed inside collections: %s", raw()) //nolint:staticcheck
				}
			}
		}
		for _, e := range t.Elems {
			if err := prepareType(e); err != nil {
				return err
			}
		}
	case Tuple:
		for _, e := range t.Elems {
			if e.Kind == Counter {
				return errors.New("Counters are not allowed inside tuples") //nolint:staticcheck
			}
		}
		freezeRaw(t)
		for _, e := range t.Elems {
			if err := prepareType(e); err != nil {
				return err
			}
		}
	}
	return nil
}
