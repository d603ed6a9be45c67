package engine

import (
	"math"
	"sort"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// colRestriction gathers the relations on one key column.
type colRestriction struct {
	col *store.Column
	eq  termFn
	in  []termFn
	// inList is `IN ?`: one bound list value.
	inList       termFn
	lower, upper *boundFn
}

type boundFn struct {
	fn   termFn
	incl bool
}

func (r *colRestriction) isEqOrIn() bool {
	return r != nil && (r.eq != nil || r.in != nil || r.inList != nil)
}

// values returns the =/IN values of the restriction, deduplicated and in
// the column type's order (as ScyllaDB returns IN results).
func (r *colRestriction) values(x *execCtx) ([][]byte, error) {
	var out [][]byte
	switch {
	case r.eq != nil:
		v, unset, err := r.eq(x)
		if err != nil {
			return nil, err
		}
		if unset {
			return nil, invalidf("Invalid unset value for column %s", r.col.Name)
		}
		if v == nil {
			return nil, invalidf("Invalid null value in condition for column %s", r.col.Name)
		}
		return [][]byte{v}, nil
	case r.inList != nil:
		v, unset, err := r.inList(x)
		if err != nil {
			return nil, err
		}
		if unset || v == nil {
			return nil, invalidf("Invalid null value for IN restriction on column %s", r.col.Name)
		}
		if out, err = types.UnpackCollection(v); err != nil {
			return nil, invalidf("Invalid IN list for %s: %v", r.col.Name, err)
		}
	default:
		for _, fn := range r.in {
			v, unset, err := fn(x)
			if err != nil {
				return nil, err
			}
			if unset || v == nil {
				return nil, invalidf("Invalid null value in condition for column %s", r.col.Name)
			}
			out = append(out, v)
		}
	}
	t := r.col.Type
	sort.SliceStable(out, func(i, j int) bool { return t.Compare(out[i], out[j]) < 0 })
	dedup := out[:0]
	for i, v := range out {
		if i == 0 || t.Compare(v, out[i-1]) != 0 {
			dedup = append(dedup, v)
		}
	}
	return dedup, nil
}

// filter is a relation checked row by row (ALLOW FILTERING).
type filter struct {
	col *store.Column
	op  cql.RelOp
	fn  termFn
	in  []termFn
}

// where is a compiled WHERE clause.
type where struct {
	table *store.Table
	pk    []*colRestriction // by position; nil entries are unrestricted
	ck    []*colRestriction
	// ckPrefix is how many leading clustering columns are usable as a slice
	// (EQ/IN, then at most one range).
	ckPrefix     int
	tokenLo      *boundFn
	tokenHi      *boundFn
	filters      []filter
	tuples       []tupleFilter
	needsFilter  bool
	pkRestricted bool // every partition key column has EQ/IN
}

// compileWhere resolves relations. forWrite applies UPDATE/DELETE rules
// (full partition key required; only EQ/IN on the partition key).
func (e *Engine) compileWhere(t *store.Table, rels []cql.Relation, b *binder) (*where, error) {
	w := &where{table: t, pk: make([]*colRestriction, len(t.PK)), ck: make([]*colRestriction, len(t.CK))}
	get := func(c *store.Column) *colRestriction {
		list := w.pk
		if c.Kind == store.Clustering {
			list = w.ck
		}
		if list[c.Position] == nil {
			list[c.Position] = &colRestriction{col: c}
		}
		return list[c.Position]
	}
	for i := range rels {
		rel := &rels[i]
		if rel.Token {
			if err := e.compileTokenRelation(w, rel, b); err != nil {
				return nil, err
			}
			continue
		}
		if len(rel.Columns) > 1 || isTupleOnScalar(t, rel) {
			if err := e.compileTupleRelation(w, rel, b, get); err != nil {
				return nil, err
			}
			continue
		}
		c := t.Column(rel.Columns[0])
		if c == nil {
			return nil, invalidf("Undefined name %s in where clause ('%s')", rel.Columns[0], relString(rel))
		}
		if rel.Key != nil {
			return nil, invalidf("Restrictions on collection elements (%s[...]) are not supported by scyllaemu", c.Name)
		}
		if rel.Op == cql.OpNotIn && c.IsKey() {
			return nil, invalidf("NOT IN is not supported on PRIMARY KEY column %s", c.Name)
		}
		if !c.IsKey() || rel.Op == cql.OpNotIn || rel.Op == cql.OpNeq || rel.Op == cql.OpContains || rel.Op == cql.OpContainsKey || rel.Op == cql.OpLike || rel.Op == cql.OpIsNotNull {
			f, err := e.compileFilter(c, rel, b)
			if err != nil {
				return nil, err
			}
			w.filters = append(w.filters, f)
			w.needsFilter = true
			continue
		}
		r := get(c)
		switch rel.Op {
		case cql.OpEq:
			if r.isEqOrIn() || r.lower != nil || r.upper != nil {
				return nil, invalidf("%s cannot be restricted by more than one relation if it includes an Equal", c.Name)
			}
			fn, err := e.compileTerm(rel.Value, c.Type, c.Name, b)
			if err != nil {
				return nil, err
			}
			r.eq = fn
		case cql.OpIn:
			if r.isEqOrIn() {
				return nil, invalidf("%s cannot be restricted by more than one relation if it includes a IN", c.Name)
			}
			if rel.Value != nil {
				lt := &types.Type{Kind: types.List, Elems: []*types.Type{c.Type}, Frozen: true}
				fn, err := e.compileTerm(rel.Value, lt, "in("+c.Name+")", b)
				if err != nil {
					return nil, err
				}
				r.inList = fn
				continue
			}
			for _, v := range rel.In {
				fn, err := e.compileTerm(v, c.Type, c.Name, b)
				if err != nil {
					return nil, err
				}
				r.in = append(r.in, fn)
			}
		case cql.OpLt, cql.OpLte, cql.OpGt, cql.OpGte:
			if c.Kind == store.PartitionKey {
				f, err := e.compileFilter(c, rel, b)
				if err != nil {
					return nil, err
				}
				w.filters = append(w.filters, f)
				w.needsFilter = true
				continue
			}
			if r.isEqOrIn() {
				return nil, invalidf("%s cannot be restricted by both an equality and an inequality relation", c.Name)
			}
			fn, err := e.compileTerm(rel.Value, c.Type, c.Name, b)
			if err != nil {
				return nil, err
			}
			bf := &boundFn{fn: fn, incl: rel.Op == cql.OpLte || rel.Op == cql.OpGte}
			if rel.Op == cql.OpGt || rel.Op == cql.OpGte {
				if r.lower != nil {
					return nil, invalidf("More than one restriction was found for the start bound on %s", c.Name)
				}
				r.lower = bf
			} else {
				if r.upper != nil {
					return nil, invalidf("More than one restriction was found for the end bound on %s", c.Name)
				}
				r.upper = bf
			}
		}
	}
	w.pkRestricted = true
	for _, r := range w.pk {
		if !r.isEqOrIn() {
			w.pkRestricted = false
		}
	}
	if !w.pkRestricted {
		for _, r := range w.pk {
			if r != nil {
				// A partial partition key cannot locate a partition: it
				// becomes a filter, as ScyllaDB does with ALLOW FILTERING.
				w.needsFilter = true
				w.filters = append(w.filters, restrictionFilters(r)...)
			}
		}
	}
	// The usable clustering slice: EQ/IN columns, then one range; anything
	// after a gap or a range is filtered.
	stop := false
	for i, r := range w.ck {
		if stop || r == nil {
			if r != nil {
				w.needsFilter = true
				w.filters = append(w.filters, restrictionFilters(r)...)
				w.ck[i] = nil
			}
			stop = true
			continue
		}
		w.ckPrefix = i + 1
		if !r.isEqOrIn() {
			stop = true
		}
	}
	return w, nil
}

func restrictionFilters(r *colRestriction) []filter {
	var out []filter
	switch {
	case r.eq != nil:
		out = append(out, filter{col: r.col, op: cql.OpEq, fn: r.eq})
	case r.inList != nil:
		out = append(out, filter{col: r.col, op: cql.OpIn, fn: r.inList})
	case r.in != nil:
		out = append(out, filter{col: r.col, op: cql.OpIn, in: r.in})
	}
	if r.lower != nil {
		op := cql.OpGt
		if r.lower.incl {
			op = cql.OpGte
		}
		out = append(out, filter{col: r.col, op: op, fn: r.lower.fn})
	}
	if r.upper != nil {
		op := cql.OpLt
		if r.upper.incl {
			op = cql.OpLte
		}
		out = append(out, filter{col: r.col, op: op, fn: r.upper.fn})
	}
	return out
}

func (e *Engine) compileFilter(c *store.Column, rel *cql.Relation, b *binder) (filter, error) {
	f := filter{col: c, op: rel.Op}
	var err error
	switch rel.Op {
	case cql.OpIsNotNull:
	case cql.OpIn, cql.OpNotIn:
		if rel.Value != nil {
			lt := &types.Type{Kind: types.List, Elems: []*types.Type{c.Type}, Frozen: true}
			f.fn, err = e.compileTerm(rel.Value, lt, "in("+c.Name+")", b)
			break
		}
		for _, v := range rel.In {
			fn, err := e.compileTerm(v, c.Type, c.Name, b)
			if err != nil {
				return f, err
			}
			f.in = append(f.in, fn)
		}
	case cql.OpContains:
		if !c.Type.IsCollection() {
			return f, invalidf("Cannot use CONTAINS on non-collection column %s", c.Name)
		}
		et := c.Type.Elems[0]
		if c.Type.Kind == types.Map {
			et = c.Type.Elems[1]
		}
		f.fn, err = e.compileTerm(rel.Value, et, c.Name, b)
	case cql.OpContainsKey:
		if c.Type.Kind != types.Map {
			return f, invalidf("Cannot use CONTAINS KEY on non-map column %s", c.Name)
		}
		f.fn, err = e.compileTerm(rel.Value, c.Type.Elems[0], c.Name, b)
	case cql.OpLike:
		return f, invalidf("LIKE restriction is not supported by scyllaemu")
	default:
		f.fn, err = e.compileTerm(rel.Value, c.Type, c.Name, b)
	}
	return f, err
}

func (e *Engine) compileTokenRelation(w *where, rel *cql.Relation, b *binder) error {
	t := w.table
	if len(rel.Columns) != len(t.PK) {
		return invalidf("The token() function must be applied to all partition key components or none of them")
	}
	for i, name := range rel.Columns {
		if name != t.PK[i].Name {
			return invalidf("The token function arguments must be in the partition key order: %s", pkNames(t))
		}
	}
	fn, err := e.compileTerm(rel.Value, typBigint, "partition key token", b)
	if err != nil {
		return err
	}
	switch rel.Op {
	case cql.OpEq:
		w.tokenLo = &boundFn{fn: fn, incl: true}
		w.tokenHi = &boundFn{fn: fn, incl: true}
	case cql.OpGt, cql.OpGte:
		w.tokenLo = &boundFn{fn: fn, incl: rel.Op == cql.OpGte}
	case cql.OpLt, cql.OpLte:
		w.tokenHi = &boundFn{fn: fn, incl: rel.Op == cql.OpLte}
	default:
		return invalidf("Unsupported operator on token()")
	}
	return nil
}

// compileTupleRelation handles (c1, c2) = (..), (c1, c2) IN (..) and
// (c1, c2) > (..) on clustering columns. Equality decomposes into per-column
// equalities; the other forms filter rows, which is exact if slower.
func (e *Engine) compileTupleRelation(w *where, rel *cql.Relation, b *binder, get func(*store.Column) *colRestriction) error {
	t := w.table
	cols := make([]*store.Column, len(rel.Columns))
	for i, n := range rel.Columns {
		c := t.Column(n)
		if c == nil || c.Kind != store.Clustering {
			return invalidf("Multi-column relations can only be applied to clustering columns but was applied to: %s", n)
		}
		cols[i] = c
	}
	tt := &types.Type{Kind: types.Tuple}
	for _, c := range cols {
		tt.Elems = append(tt.Elems, c.Type)
	}
	if rel.Op == cql.OpEq {
		if tl, ok := rel.Value.(*cql.TupleLit); ok && len(tl.Elems) == len(cols) {
			for i, c := range cols {
				fn, err := e.compileTerm(tl.Elems[i], c.Type, c.Name, b)
				if err != nil {
					return err
				}
				get(c).eq = fn
			}
			return nil
		}
	}
	var f tupleFilter
	f.cols = cols
	f.op = rel.Op
	name := "(" + joinNames(cols) + ")"
	if rel.Op == cql.OpIn {
		if rel.Value != nil {
			lt := &types.Type{Kind: types.List, Elems: []*types.Type{tt}, Frozen: true}
			fn, err := e.compileTerm(rel.Value, lt, "in"+name, b)
			if err != nil {
				return err
			}
			f.list = fn
		}
		for _, v := range rel.In {
			fn, err := e.compileTerm(v, tt, name, b)
			if err != nil {
				return err
			}
			f.in = append(f.in, fn)
		}
	} else {
		fn, err := e.compileTerm(rel.Value, tt, name, b)
		if err != nil {
			return err
		}
		f.fn = fn
	}
	w.tuples = append(w.tuples, f)
	return nil
}

func joinNames(cols []*store.Column) string {
	s := ""
	for i, c := range cols {
		if i > 0 {
			s += ", "
		}
		s += c.Name
	}
	return s
}

func pkNames(t *store.Table) string { return "(" + joinNames(t.PK) + ")" }

func relString(rel *cql.Relation) string {
	if len(rel.Columns) == 1 {
		return rel.Columns[0]
	}
	return "(...)"
}

// partitionKeys returns the serialized keys of the partitions the clause
// selects when the partition key is fully restricted, in token order.
func (w *where) partitionKeys(x *execCtx) ([][]byte, error) {
	combos := [][][]byte{nil}
	for _, r := range w.pk {
		vals, err := r.values(x)
		if err != nil {
			return nil, err
		}
		next := make([][][]byte, 0, len(combos)*len(vals))
		for _, c := range combos {
			for _, v := range vals {
				cc := append(append([][]byte(nil), c...), v)
				next = append(next, cc)
			}
		}
		combos = next
	}
	keys := make([][]byte, 0, len(combos))
	for _, c := range combos {
		if len(c) == 1 && len(c[0]) == 0 {
			return nil, invalidf("Key may not be empty")
		}
		keys = append(keys, types.PartitionKeyBytes(c))
	}
	t := w.table
	sort.SliceStable(keys, func(i, j int) bool {
		ti, tj := t.Token(keys[i]), t.Token(keys[j])
		if ti != tj {
			return ti < tj
		}
		return string(keys[i]) < string(keys[j])
	})
	return keys, nil
}

// tokenRange returns the inclusive token bounds of a token() restriction.
func (w *where) tokenRange(x *execCtx) (lo, hi int64, err error) {
	lo, hi = math.MinInt64, math.MaxInt64
	if w.tokenLo != nil {
		v, set, err := evalInt(x, w.tokenLo.fn)
		if err != nil {
			return 0, 0, invalidf("Invalid null value for partition key token")
		}
		if set {
			lo = v
			if !w.tokenLo.incl {
				if v == math.MaxInt64 {
					return 1, 0, nil
				}
				lo = v + 1
			}
		}
	}
	if w.tokenHi != nil {
		v, set, err := evalInt(x, w.tokenHi.fn)
		if err != nil {
			return 0, 0, invalidf("Invalid null value for partition key token")
		}
		if set {
			hi = v
			if !w.tokenHi.incl {
				if v == math.MinInt64 {
					return 1, 0, nil
				}
				hi = v - 1
			}
		}
	}
	return lo, hi, nil
}

// slice is one clustering range in clustering order.
type slice struct{ start, end store.Bound }

// slices returns the clustering ranges of the clause, in clustering order.
func (w *where) slices(x *execCtx) ([]slice, error) {
	prefixes := [][][]byte{nil}
	var rng *colRestriction
	for i := 0; i < w.ckPrefix; i++ {
		r := w.ck[i]
		if !r.isEqOrIn() {
			rng = r
			break
		}
		vals, err := r.values(x)
		if err != nil {
			return nil, err
		}
		next := make([][][]byte, 0, len(prefixes)*len(vals))
		for _, p := range prefixes {
			for _, v := range vals {
				next = append(next, append(append([][]byte(nil), p...), v))
			}
		}
		prefixes = next
	}
	out := make([]slice, 0, len(prefixes))
	for _, p := range prefixes {
		s := slice{start: store.Bound{Prefix: p, Inclusive: true}, end: store.Bound{Prefix: p, Inclusive: true}}
		if rng != nil {
			lo, hi := rng.lower, rng.upper
			if rng.col.Desc {
				lo, hi = hi, lo
			}
			if lo != nil {
				v, unset, err := lo.fn(x)
				if err != nil {
					return nil, err
				}
				if v == nil || unset {
					return nil, invalidf("Invalid null bound for column %s", rng.col.Name)
				}
				s.start = store.Bound{Prefix: append(append([][]byte(nil), p...), v), Inclusive: lo.incl}
			}
			if hi != nil {
				v, unset, err := hi.fn(x)
				if err != nil {
					return nil, err
				}
				if v == nil || unset {
					return nil, invalidf("Invalid null bound for column %s", rng.col.Name)
				}
				s.end = store.Bound{Prefix: append(append([][]byte(nil), p...), v), Inclusive: hi.incl}
			}
		}
		out = append(out, s)
	}
	t := w.table
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].start.Prefix, out[j].start.Prefix
		n := min(len(a), len(b))
		return t.CompareCK(a[:n], b[:n]) < 0
	})
	return out, nil
}

// fullCK reports whether every clustering column has an EQ/IN.
func (w *where) fullCK() bool {
	for _, r := range w.ck {
		if !r.isEqOrIn() {
			return false
		}
	}
	return true
}

// rowValue returns column c's value in a row of partition key pk.
type rowSource struct {
	t   *store.Table
	p   *store.Partition
	pk  [][]byte
	r   *store.Row // nil for a static-only row
	now int64
}

func (s *rowSource) value(c *store.Column) []byte {
	switch c.Kind {
	case store.PartitionKey:
		return s.pk[c.Position]
	case store.Clustering:
		if s.r == nil {
			return nil
		}
		return s.r.CK[c.Position]
	case store.Static:
		return s.t.Value(s.p, s.p.Static, c.Slot, s.now)
	default:
		return s.t.Value(s.p, s.r, c.Slot, s.now)
	}
}

func (s *rowSource) cell(c *store.Column) *store.Cell {
	r := s.r
	if c.Kind == store.Static {
		r = s.p.Static
	}
	if cell, ok := s.t.LiveCell(s.p, r, c.Slot, s.now); ok {
		return cell
	}
	return nil
}

// match applies the filters to a row.
func (w *where) match(x *execCtx, s *rowSource) (bool, error) {
	for i := range w.filters {
		ok, err := w.filters[i].match(x, s.value(w.filters[i].col))
		if err != nil || !ok {
			return false, err
		}
	}
	for i := range w.tuples {
		ok, err := w.tuples[i].match(x, s)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (f *filter) match(x *execCtx, v []byte) (bool, error) {
	t := f.col.Type
	if f.op == cql.OpIsNotNull {
		return v != nil, nil
	}
	if f.op == cql.OpIn || f.op == cql.OpNotIn {
		in, err := f.matchIn(x, v)
		// A NULL value matches neither IN nor NOT IN.
		return v != nil && in == (f.op == cql.OpIn), err
	}
	want, unset, err := f.fn(x)
	if err != nil {
		return false, err
	}
	if unset {
		return true, nil
	}
	if want == nil {
		return false, invalidf("Unsupported null value for column %s", f.col.Name)
	}
	if v == nil {
		return false, nil
	}
	switch f.op {
	case cql.OpContains, cql.OpContainsKey:
		elems, err := types.UnpackCollection(v)
		if err != nil {
			return false, nil
		}
		step, off := 1, 0
		et := t.Elems[0]
		if t.Kind == types.Map {
			step = 2
			if f.op == cql.OpContains {
				off = 1
				et = t.Elems[1]
			}
		}
		for i := off; i < len(elems); i += step {
			if et.Compare(elems[i], want) == 0 {
				return true, nil
			}
		}
		return false, nil
	}
	return compareOp(f.op, t.Compare(v, want)), nil
}

func compareOp(op cql.RelOp, c int) bool {
	switch op {
	case cql.OpEq:
		return c == 0
	case cql.OpNeq:
		return c != 0
	case cql.OpLt:
		return c < 0
	case cql.OpLte:
		return c <= 0
	case cql.OpGt:
		return c > 0
	case cql.OpGte:
		return c >= 0
	}
	return false
}

// tupleFilter is a multi-column clustering relation checked per row.
type tupleFilter struct {
	cols []*store.Column
	op   cql.RelOp
	fn   termFn
	in   []termFn
	list termFn
}

func (f *tupleFilter) match(x *execCtx, s *rowSource) (bool, error) {
	if s.r == nil {
		return false, nil
	}
	cmp := func(tv []byte) (int, error) {
		tt := &types.Type{Kind: types.Tuple}
		for _, c := range f.cols {
			tt.Elems = append(tt.Elems, c.Type)
		}
		parts, err := types.UnpackTuple(tt, tv)
		if err != nil {
			return 0, invalidf("invalid tuple: %v", err)
		}
		for i, c := range f.cols {
			if i >= len(parts) || parts[i] == nil {
				return 0, invalidf("Invalid null value in condition for column %s", c.Name)
			}
			if r := c.Type.Compare(s.r.CK[c.Position], parts[i]); r != 0 {
				// Multi-column slices compare in clustering order.
				if c.Desc {
					return -r, nil
				}
				return r, nil
			}
		}
		return 0, nil
	}
	if f.op == cql.OpIn {
		vals, err := inValues(x, f.list, f.in)
		if err != nil {
			return false, err
		}
		for _, v := range vals {
			c, err := cmp(v)
			if err != nil {
				return false, err
			}
			if c == 0 {
				return true, nil
			}
		}
		return false, nil
	}
	v, _, err := f.fn(x)
	if err != nil {
		return false, err
	}
	c, err := cmp(v)
	if err != nil {
		return false, err
	}
	return compareOp(f.op, c), nil
}

// matchIn reports whether v is one of the IN values.
func (f *filter) matchIn(x *execCtx, v []byte) (bool, error) {
	t := f.col.Type
	vals, err := inValues(x, f.fn, f.in)
	if err != nil {
		return false, err
	}
	for _, iv := range vals {
		if v != nil && t.Compare(v, iv) == 0 {
			return true, nil
		}
	}
	return false, nil
}

// isTupleOnScalar spots the one-element multi-column form `(c) > (v)`,
// which the parser cannot tell from `c > (v)` on a tuple column.
func isTupleOnScalar(t *store.Table, rel *cql.Relation) bool {
	if _, ok := rel.Value.(*cql.TupleLit); !ok || len(rel.Columns) != 1 {
		return false
	}
	c := t.Column(rel.Columns[0])
	return c != nil && c.Kind == store.Clustering && c.Type.Kind != types.Tuple
}

// inValues evaluates an IN list: a bound list (`IN ?`) and/or literal items.
func inValues(x *execCtx, list termFn, items []termFn) ([][]byte, error) {
	var vals [][]byte
	if list != nil {
		lv, _, err := list(x)
		if err != nil {
			return nil, err
		}
		vals, _ = types.UnpackCollection(lv)
	}
	for _, fn := range items {
		v, _, err := fn(x)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// tupleSlicesOnly reports whether the clause's multi-column relations are
// all slices of a clustering key prefix starting at its first column, with
// no single-column clustering restriction beside them.
func (w *where) tupleSlicesOnly() bool {
	for _, r := range w.ck {
		if r != nil {
			return false
		}
	}
	for _, f := range w.tuples {
		switch f.op {
		case cql.OpGt, cql.OpGte, cql.OpLt, cql.OpLte:
		default:
			return false
		}
		for i, c := range f.cols {
			if c.Position != i {
				return false
			}
		}
	}
	return true
}

// tupleSlice is the clustering range of multi-column slices, in
// clustering order (the order multi-column relations compare in).
func (w *where) tupleSlice(x *execCtx) (slice, error) {
	var s slice
	for _, f := range w.tuples {
		v, unset, err := f.fn(x)
		if err != nil {
			return s, err
		}
		if unset || v == nil {
			return s, invalidf("Invalid null value in condition for columns (%s)", joinNames(f.cols))
		}
		tt := &types.Type{Kind: types.Tuple}
		for _, c := range f.cols {
			tt.Elems = append(tt.Elems, c.Type)
		}
		parts, err := types.UnpackTuple(tt, v)
		if err != nil {
			return s, invalidf("Invalid tuple for (%s): %v", joinNames(f.cols), err)
		}
		for i, p := range parts {
			if p == nil {
				return s, invalidf("Invalid null value in condition for column %s", f.cols[i].Name)
			}
		}
		b := store.Bound{Prefix: parts, Inclusive: f.op == cql.OpGte || f.op == cql.OpLte}
		if f.op == cql.OpGt || f.op == cql.OpGte {
			s.start = b
		} else {
			s.end = b
		}
	}
	return s, nil
}
