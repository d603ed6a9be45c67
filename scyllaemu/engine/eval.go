package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// plan is a statement resolved against the schema. Plans are immutable and
// shared by every execution of a prepared statement.
type plan interface {
	meta() *planMeta
	exec(e *Engine, x *execCtx) (*Result, error)
}

type planMeta struct {
	bind      []Column
	pkIndexes []uint16
	result    []Column
}

func (m *planMeta) meta() *planMeta { return m }

type execCtx struct {
	sess   *Session
	binds  []wire.Value
	params Params
	// stamp is the statement's server time in µs, taken under the store
	// lock: a write's server-side timestamp, or the time a read ran at.
	// now() and the current*() functions derive from it, so a timeuuid
	// from now() carries its write's timestamp.
	stamp int64
	// now is the clock (µs) writes read the current data at (list index
	// operations); lists hands out list element keys, shared by the
	// statements of a batch.
	now   int64
	lists *store.ListKeys
}

// termFn yields a term's serialized value for one execution; unset reports
// a bound UNSET value (the column is left untouched).
type termFn func(x *execCtx) (v []byte, unset bool, err error)

// binder records the column each bind marker stands for while a statement
// is compiled; the result is the PREPARE bind metadata.
type binder struct {
	specs []Column
	ks    string
	table string
}

func newBinder(parsed *cql.Parsed, ks, table string) *binder {
	return &binder{specs: make([]Column, len(parsed.Markers)), ks: ks, table: table}
}

func (b *binder) bind(m *cql.Marker, name string, t *types.Type) {
	if m.Index < len(b.specs) {
		n := name
		if m.Name != "" {
			n = m.Name
		}
		b.specs[m.Index] = Column{Keyspace: b.ks, Table: b.table, Name: n, Type: t}
	}
}

// complete fills markers no clause typed (there should be none) so the
// metadata is always encodable.
func (b *binder) complete() []Column {
	for i := range b.specs {
		if b.specs[i].Type == nil {
			b.specs[i] = Column{Keyspace: b.ks, Table: b.table, Name: fmt.Sprintf("arg%d", i), Type: &types.Type{Kind: types.Blob}}
		}
	}
	return b.specs
}

var (
	typBigint    = &types.Type{Kind: types.Bigint}
	typInt       = &types.Type{Kind: types.Int}
	typBoolean   = &types.Type{Kind: types.Boolean}
	typTimestamp = &types.Type{Kind: types.Timestamp}
	typTimeuuid  = &types.Type{Kind: types.Timeuuid}
	typDuration  = &types.Type{Kind: types.Duration}
)

func constFn(v []byte) termFn {
	return func(*execCtx) ([]byte, bool, error) { return v, false, nil }
}

// compileTerm type-checks a term against the type of what it is assigned
// to (name is used in messages and bind metadata) and returns its
// evaluator. Constants are converted once here.
func (e *Engine) compileTerm(t cql.Term, typ *types.Type, name string, b *binder) (termFn, error) {
	switch t := t.(type) {
	case *cql.Constant:
		v, err := typ.FromLiteral(types.LiteralKind(t.Kind), t.Text)
		if err != nil {
			return nil, invalidf("Invalid %s constant (%s) for \"%s\" of type %s", types.LiteralKind(t.Kind), t.Text, name, typ)
		}
		return constFn(v), nil
	case *cql.Null:
		return constFn(nil), nil
	case *cql.Marker:
		b.bind(t, name, typ)
		idx := t.Index
		canonical := typ.IsCollection() || typ.IsTupleLike()
		return func(x *execCtx) ([]byte, bool, error) {
			v := x.binds[idx]
			if v.Unset {
				return nil, true, nil
			}
			if v.Null || v.Bytes == nil {
				return nil, false, nil
			}
			if err := typ.Validate(v.Bytes); err != nil {
				return nil, false, invalidf("Exception while binding column %s: %v", name, err)
			}
			if canonical {
				c, err := types.Canonical(typ, v.Bytes)
				if err != nil {
					return nil, false, invalidf("Exception while binding column %s: %v", name, err)
				}
				return c, false, nil
			}
			return v.Bytes, false, nil
		}, nil
	case *cql.ListLit:
		if typ.Kind != types.List && typ.Kind != types.Set {
			return nil, invalidf("Invalid list literal for %s of type %s", name, typ)
		}
		return e.compileCollection(t.Elems, nil, typ, name, b)
	case *cql.SetLit:
		if typ.Kind != types.Set && !(typ.Kind == types.Map && len(t.Elems) == 0) {
			return nil, invalidf("Invalid set literal for %s of type %s", name, typ)
		}
		return e.compileCollection(t.Elems, nil, typ, name, b)
	case *cql.MapLit:
		switch {
		case typ.Kind == types.Map:
			return e.compileCollection(t.Keys, t.Values, typ, name, b)
		case typ.Kind == types.Set && len(t.Keys) == 0:
			return e.compileCollection(nil, nil, typ, name, b)
		}
		return nil, invalidf("Invalid map literal for %s of type %s", name, typ)
	case *cql.UserTypeLit:
		if typ.Kind != types.UDT {
			return nil, invalidf("Invalid user type literal for %s of type %s", name, typ)
		}
		return e.compileUDTValue(t.Fields, t.Values, typ, name, b)
	case *cql.TupleLit:
		if typ.Kind == types.UDT {
			return e.compileUDTValue(nil, t.Elems, typ, name, b)
		}
		if typ.Kind != types.Tuple || len(t.Elems) > len(typ.Elems) {
			return nil, invalidf("Invalid tuple literal for %s of type %s", name, typ)
		}
		fns := make([]termFn, len(t.Elems))
		for i, el := range t.Elems {
			fn, err := e.compileTerm(el, typ.Elems[i], fmt.Sprintf("%s[%d]", name, i), b)
			if err != nil {
				return nil, err
			}
			fns[i] = fn
		}
		return func(x *execCtx) ([]byte, bool, error) {
			vals := make([][]byte, len(typ.Elems))
			for i, fn := range fns {
				v, _, err := fn(x)
				if err != nil {
					return nil, false, err
				}
				vals[i] = v
			}
			return types.PackTuple(vals), false, nil
		}, nil
	case *cql.FuncCall:
		return e.compileFunc(t, typ, name, b)
	case *cql.Cast:
		ct, err := e.parseType(b.ks, t.Type)
		if err != nil {
			return nil, err
		}
		if !ct.Equal(typ) {
			return nil, invalidf("Cannot cast %s to %s for %s", t.Type, typ, name)
		}
		return e.compileTerm(t.Term, typ, name, b)
	}
	return nil, invalidf("Unsupported term for %s", name)
}

func (e *Engine) compileCollection(keys, vals []cql.Term, typ *types.Type, name string, b *binder) (termFn, error) {
	var fns []termFn
	for i, k := range keys {
		fn, err := e.compileTerm(k, typ.Elems[0], name, b)
		if err != nil {
			return nil, err
		}
		fns = append(fns, fn)
		if vals != nil {
			vfn, err := e.compileTerm(vals[i], typ.Elems[1], name, b)
			if err != nil {
				return nil, err
			}
			fns = append(fns, vfn)
		}
	}
	return func(x *execCtx) ([]byte, bool, error) {
		flat := make([][]byte, 0, len(fns))
		for _, fn := range fns {
			v, unset, err := fn(x)
			if err != nil {
				return nil, false, err
			}
			if v == nil || unset {
				return nil, false, invalidf("null is not supported inside collections")
			}
			flat = append(flat, v)
		}
		if len(flat) == 0 && typ.MultiCell() {
			return nil, false, nil
		}
		v, err := types.PackCollection(typ, flat)
		if err != nil {
			return nil, false, invalidf("Invalid collection for %s: %v", name, err)
		}
		return v, false, nil
	}, nil
}

// compileFunc handles the scalar functions the drivers and tools use in
// value positions.
func (e *Engine) compileFunc(f *cql.FuncCall, typ *types.Type, name string, b *binder) (termFn, error) {
	fname := strings.TrimPrefix(f.Name, "system.")
	want := func(k types.Kind, ret string) error {
		if typ.Kind != k && !(k == types.Varchar && typ.Kind == types.Ascii) {
			return invalidf("Type error: cannot assign result of function system.%s (type %s) to %s (type %s)", fname, ret, name, typ)
		}
		return nil
	}
	arg := func(i int, t *types.Type) (termFn, error) {
		if i >= len(f.Args) {
			return nil, invalidf("Invalid number of arguments in call to function system.%s", fname)
		}
		return e.compileTerm(f.Args[i], t, fmt.Sprintf("%s(arg%d)", fname, i), b)
	}
	switch fname {
	case "now":
		if err := want(types.Timeuuid, "timeuuid"); err != nil {
			return nil, err
		}
		return func(x *execCtx) ([]byte, bool, error) { return e.randomTimeUUID(x.stamp), false, nil }, nil
	case "uuid":
		if err := want(types.UUID, "uuid"); err != nil {
			return nil, err
		}
		return func(*execCtx) ([]byte, bool, error) { return e.randomUUID(), false, nil }, nil
	case "currenttimestamp":
		if err := want(types.Timestamp, "timestamp"); err != nil {
			return nil, err
		}
		return func(x *execCtx) ([]byte, bool, error) { return be64(x.stamp / 1000), false, nil }, nil
	case "currentdate":
		if err := want(types.Date, "date"); err != nil {
			return nil, err
		}
		return func(x *execCtx) ([]byte, bool, error) {
			days := x.stamp / (86400 * 1e6)
			return be32(uint32(days + 1<<31)), false, nil
		}, nil
	case "mintimeuuid", "maxtimeuuid":
		if err := want(types.Timeuuid, "timeuuid"); err != nil {
			return nil, err
		}
		a, err := arg(0, typTimestamp)
		if err != nil {
			return nil, err
		}
		conv := types.MinTimeUUID
		if fname == "maxtimeuuid" {
			conv = types.MaxTimeUUID
		}
		return func(x *execCtx) ([]byte, bool, error) {
			v, _, err := a(x)
			if err != nil || len(v) != 8 {
				return nil, false, err
			}
			return conv(int64(binary.BigEndian.Uint64(v))), false, nil
		}, nil
	case "totimestamp", "tounixtimestamp":
		want := types.Timestamp
		if fname == "tounixtimestamp" {
			want = types.Bigint
		}
		if typ.Kind != want {
			return nil, invalidf("Type error: cannot assign result of function system.%s to %s (type %s)", fname, name, typ)
		}
		a, err := arg(0, typTimeuuid)
		if err != nil {
			return nil, err
		}
		return func(x *execCtx) ([]byte, bool, error) {
			v, _, err := a(x)
			if err != nil || len(v) != 16 {
				return nil, false, err
			}
			return be64(types.TimeUUIDMicros(v) / 1000), false, nil
		}, nil
	}
	return nil, invalidf("Unknown function %s called", f.Name)
}

// evalInt evaluates an integer option term (TTL, LIMIT, TIMESTAMP).
func evalInt(x *execCtx, fn termFn) (val int64, set bool, err error) {
	if fn == nil {
		return 0, false, nil
	}
	v, unset, err := fn(x)
	if err != nil || unset {
		return 0, false, err
	}
	switch len(v) {
	case 0:
		if v == nil {
			return 0, false, errNull
		}
		return 0, false, nil
	case 4:
		return int64(int32(binary.BigEndian.Uint32(v))), true, nil
	case 8:
		return int64(binary.BigEndian.Uint64(v)), true, nil
	}
	return 0, false, invalidf("invalid integer value")
}

var errNull = errors.New("null")

// compileDurationMillis compiles a USING TIMEOUT term; the emulator does
// not time out, but the value must still be a valid duration.
func (e *Engine) compileTimeout(t cql.Term, b *binder) error {
	if t == nil {
		return nil
	}
	_, err := e.compileTerm(t, typDuration, "[timeout]", b)
	return err
}

func be64(v int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return b[:]
}

func be32(v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return b[:]
}

func boolBytes(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}
