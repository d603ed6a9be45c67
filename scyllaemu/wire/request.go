package wire

import (
	"math"
	"slices"
)

// Consistency levels ([consistency], spec section 3).
const (
	ConsistencyAny         uint16 = 0x0000
	ConsistencyOne         uint16 = 0x0001
	ConsistencyTwo         uint16 = 0x0002
	ConsistencyThree       uint16 = 0x0003
	ConsistencyQuorum      uint16 = 0x0004
	ConsistencyAll         uint16 = 0x0005
	ConsistencyLocalQuorum uint16 = 0x0006
	ConsistencyEachQuorum  uint16 = 0x0007
	ConsistencySerial      uint16 = 0x0008
	ConsistencyLocalSerial uint16 = 0x0009
	ConsistencyLocalOne    uint16 = 0x000A
)

// QUERY/EXECUTE <flags> bits (spec section 4.1.4); BATCH uses the 0x10, 0x20
// and 0x40 ones.
const (
	QueryFlagValues            = 0x01
	QueryFlagSkipMetadata      = 0x02
	QueryFlagPageSize          = 0x04
	QueryFlagPagingState       = 0x08
	QueryFlagSerialConsistency = 0x10
	QueryFlagDefaultTimestamp  = 0x20
	QueryFlagNamesForValues    = 0x40
	// 0x80 is "with keyspace" in v5 and undefined in v4; it is rejected
	// because it would change the layout of what follows.
)

// Batch types (spec section 4.1.7).
const (
	BatchLogged   = 0
	BatchUnlogged = 1
	BatchCounter  = 2
)

// Value is a bound [value]. Bytes aliases the frame body. A zero-length
// non-null value has a non-nil empty Bytes.
type Value struct {
	Bytes []byte
	Null  bool // length -1
	Unset bool // length -2 (v4): leave the column untouched
}

// QueryParams is the <query_parameters> of QUERY and EXECUTE. Slices alias
// the frame body (Names are copied strings).
type QueryParams struct {
	Consistency  uint16
	Flags        byte // raw flags byte, for anything not broken out below
	Values       []Value
	Names        []string // parallel to Values; only when flag 0x40 (with 0x01) is set
	SkipMetadata bool
	// PageSize is the requested page size in rows; 0 when the flag is
	// absent. Anything <= 0 means "no paging".
	PageSize    int32
	PagingState []byte // nil when absent (or sent as null)
	// SerialConsistency defaults to SERIAL when the flag is absent, as the
	// spec prescribes; Flags tells whether it was sent.
	SerialConsistency uint16
	Timestamp         int64 // microseconds; valid when HasTimestamp
	HasTimestamp      bool
}

// Batch is a decoded BATCH request.
type Batch struct {
	Type        byte // BatchLogged, BatchUnlogged or BatchCounter
	Children    []BatchChild
	Consistency uint16
	Flags       byte // raw flags byte
	// SerialConsistency defaults to SERIAL when the flag is absent.
	SerialConsistency uint16
	Timestamp         int64
	HasTimestamp      bool

	// values is the shared backing array of every child's Values, kept so
	// DecodeBatchInto can reuse it.
	values []Value
}

// BatchChild is one statement of a batch: either Query (kind 0) or ID
// (kind 1, aliasing the body) is set.
type BatchChild struct {
	Query  string
	ID     []byte
	Values []Value
	// Names is always nil: named values in v4 batches are rejected (see
	// DecodeBatchInto). The field is kept so callers can be written against
	// the general shape.
	Names []string
}

// DecodeStartup decodes a STARTUP body ([string map] of options such as
// CQL_VERSION, COMPRESSION, DRIVER_NAME).
func DecodeStartup(body []byte) (map[string]string, error) {
	r := NewReader(body)
	m := r.StringMap()
	return m, opErr(&r, "STARTUP")
}

// DecodeRegister decodes a REGISTER body ([string list] of event types).
func DecodeRegister(body []byte) ([]string, error) {
	r := NewReader(body)
	l := r.StringList()
	return l, opErr(&r, "REGISTER")
}

// DecodeAuthResponse decodes an AUTH_RESPONSE body (a "bytes" token, nil if
// null). The token aliases the body.
func DecodeAuthResponse(body []byte) ([]byte, error) {
	r := NewReader(body)
	t := r.Bytes()
	return t, opErr(&r, "AUTH_RESPONSE")
}

// DecodePrepare decodes a PREPARE body: a [long string] query (v4 has no
// PREPARE flags; those arrived in v5).
func DecodePrepare(body []byte) (string, error) {
	r := NewReader(body)
	q := r.LongStringCopy()
	if err := opErr(&r, "PREPARE"); err != nil {
		return "", err
	}
	return q, nil
}

// DecodeQuery decodes a QUERY body. The query text is copied; see
// DecodeQueryInto for the allocation-free form.
func DecodeQuery(body []byte) (query string, p QueryParams, err error) {
	q, err := DecodeQueryInto(body, &p)
	if err != nil {
		return "", QueryParams{}, err
	}
	return string(q), p, nil
}

// DecodeQueryInto decodes a QUERY body into *p, reusing the capacity of
// p.Values and p.Names. query aliases the body; a statement cache can be
// probed with m[string(query)] without allocating. On error *p is left in
// an unspecified state.
func DecodeQueryInto(body []byte, p *QueryParams) (query []byte, err error) {
	r := NewReader(body)
	query = r.LongStringBytes()
	decodeParams(&r, p)
	if err := opErr(&r, "QUERY"); err != nil {
		return nil, err
	}
	return query, nil
}

// DecodeExecute decodes an EXECUTE body. id aliases the body.
func DecodeExecute(body []byte) (id []byte, p QueryParams, err error) {
	id, err = DecodeExecuteInto(body, &p)
	if err != nil {
		return nil, QueryParams{}, err
	}
	return id, p, nil
}

// DecodeExecuteInto decodes an EXECUTE body into *p, reusing the capacity of
// p.Values and p.Names, so a connection that keeps one QueryParams decodes
// EXECUTE without allocating. id and the values alias the body. On error *p
// is left in an unspecified state.
func DecodeExecuteInto(body []byte, p *QueryParams) (id []byte, err error) {
	r := NewReader(body)
	id = r.ShortBytes()
	decodeParams(&r, p)
	if err := opErr(&r, "EXECUTE"); err != nil {
		return nil, err
	}
	return id, nil
}

// decodeParams reads <query_parameters> (spec section 4.1.4).
func decodeParams(r *Reader, p *QueryParams) {
	vals, names := p.Values[:0], p.Names[:0]
	*p = QueryParams{SerialConsistency: ConsistencySerial}
	p.Consistency = r.Short()
	f := r.Byte()
	p.Flags = f
	if f&0x80 != 0 {
		r.Fail("query flag 0x80 (with_keyspace) does not exist in protocol v4")
	}
	if f&QueryFlagValues != 0 {
		withNames := f&QueryFlagNamesForValues != 0
		minSize := 4
		if withNames {
			minSize = 6
		}
		n := r.count("values", minSize)
		vals = slices.Grow(vals, n)
		if withNames {
			names = slices.Grow(names, n)
		}
		for range n {
			if withNames {
				names = append(names, r.StringCopy())
			}
			vals = append(vals, r.Value())
		}
	}
	p.Values, p.Names = vals, names
	p.SkipMetadata = f&QueryFlagSkipMetadata != 0
	if f&QueryFlagPageSize != 0 {
		p.PageSize = r.Int()
	}
	if f&QueryFlagPagingState != 0 {
		p.PagingState = r.Bytes()
	}
	if f&QueryFlagSerialConsistency != 0 {
		p.SerialConsistency = r.Short()
	}
	if f&QueryFlagDefaultTimestamp != 0 {
		p.Timestamp, p.HasTimestamp = readTimestamp(r)
	}
	// Trailing bytes are ignored, as Cassandra does: the spec reserves the
	// right to append fields a v4 server may not know.
}

func readTimestamp(r *Reader) (int64, bool) {
	ts := r.Long()
	// Cassandra rejects only Long.MIN_VALUE (its "no timestamp" sentinel);
	// negative timestamps are otherwise accepted in practice.
	if ts == math.MinInt64 && r.err == nil {
		r.Fail("out of bound timestamp %d", ts)
	}
	return ts, true
}

// DecodeBatch decodes a BATCH body. Query strings are copied; IDs and values
// alias the body.
func DecodeBatch(body []byte) (Batch, error) {
	var b Batch
	if err := DecodeBatchInto(body, &b); err != nil {
		return Batch{}, err
	}
	return b, nil
}

// DecodeBatchInto decodes a BATCH body into *b, reusing the capacity of
// b.Children and of the (shared) backing array of the children's Values: all
// values of a batch live in one array, each child's Values being a capped
// window of it. Only kind-0 query strings allocate.
//
// The 0x40 "names for values" flag is rejected: in v4 it comes after the
// values it would describe, which makes the message unparseable
// (CASSANDRA-10246; gocql refuses to send it below v6).
func DecodeBatchInto(body []byte, b *Batch) error {
	r := NewReader(body)
	children, vals := b.Children[:0], b.values[:0]
	*b = Batch{}
	b.Type = r.Byte()
	if b.Type > BatchCounter && r.err == nil {
		r.Fail("invalid batch type %d", b.Type)
	}
	// Smallest child: kind, empty [short bytes] id, zero value count.
	n := r.count("batch statements", 5)
	children = slices.Grow(children, n)
	for i := range n {
		children = children[:i+1]
		c := &children[i]
		*c = BatchChild{}
		switch kind := r.Byte(); kind {
		case 0:
			c.Query = r.LongStringCopy()
		case 1:
			c.ID = r.ShortBytes()
		default:
			if r.err == nil {
				r.Fail("invalid batch statement kind %d", kind)
			}
		}
		nv := r.count("batch values", 4)
		start := len(vals)
		for range nv {
			vals = append(vals, r.Value())
		}
		// Provisional: vals may still move; only the length matters until
		// the fix-up below.
		c.Values = vals[start:]
		if r.err != nil {
			break
		}
	}
	b.Consistency = r.Short()
	b.Flags = r.Byte()
	b.SerialConsistency = ConsistencySerial
	if b.Flags&QueryFlagNamesForValues != 0 && r.err == nil {
		r.Fail("named values in BATCH are not supported (CASSANDRA-10246)")
	}
	if b.Flags&0x80 != 0 && r.err == nil {
		r.Fail("batch flag 0x80 (with_keyspace) does not exist in protocol v4")
	}
	if b.Flags&QueryFlagSerialConsistency != 0 {
		b.SerialConsistency = r.Short()
	}
	if b.Flags&QueryFlagDefaultTimestamp != 0 {
		b.Timestamp, b.HasTimestamp = readTimestamp(&r)
	}
	if err := opErr(&r, "BATCH"); err != nil {
		b.Children, b.values = children[:0], vals[:0]
		return err
	}
	off := 0
	for i := range children {
		k := len(children[i].Values)
		if k == 0 {
			children[i].Values = nil
			continue
		}
		// Capped so appending to one child's Values can't overwrite the next.
		children[i].Values = vals[off : off+k : off+k]
		off += k
	}
	b.Children, b.values = children, vals
	return nil
}

// opErr returns r's error labelled with the message name.
func opErr(r *Reader, op string) error {
	if r.err == nil {
		return nil
	}
	r.err.Op = op
	return r.err
}
