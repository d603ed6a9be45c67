package engine

import (
	"encoding/binary"
	"math"
	"math/big"
	"strings"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

type selKind int

const (
	selColumn selKind = iota
	selWritetime
	selTTL
	selToken
	selField // a UDT field of a column
	selCountStar
	selCount
	selMin
	selMax
	selSum
	selAvg
)

type selector struct {
	kind  selKind
	field int
	col   *store.Column
	name  string
	typ   *types.Type
}

func (s *selector) aggregate() bool { return s.kind >= selCountStar }

type selectPlan struct {
	planMeta
	t         *store.Table
	w         *where
	sels      []selector
	aggregate bool
	distinct  bool
	reverse   bool
	limit     termFn
	ppl       termFn
	// index serves the query (a global index lookup): the partitions
	// visited are its candidates for indexFilter's value.
	index       *store.Index
	indexFilter *filter
}

func (e *Engine) compileSelect(ks string, parsed *cql.Parsed, s *cql.SelectStmt) (plan, error) {
	t, err := e.resolveTable(ks, s.Table)
	if err != nil {
		return nil, err
	}
	if s.JSON {
		return nil, invalidf("SELECT JSON is not supported by scyllaemu")
	}
	if len(s.GroupBy) > 0 {
		return nil, invalidf("GROUP BY is not supported by scyllaemu")
	}
	b := newBinder(parsed, t.Keyspace, t.Name)
	p := &selectPlan{t: t, distinct: s.Distinct}
	if s.Star {
		for _, c := range t.Columns {
			p.sels = append(p.sels, selector{kind: selColumn, col: c, name: c.Name, typ: c.Type})
		}
	}
	for _, sel := range s.Selectors {
		sl, err := compileSelector(t, sel.Expr)
		if err != nil {
			return nil, err
		}
		if sel.Alias != "" {
			sl.name = sel.Alias
		}
		p.sels = append(p.sels, sl)
	}
	for i := range p.sels {
		if p.sels[i].aggregate() {
			p.aggregate = true
		}
	}
	if p.aggregate {
		for i := range p.sels {
			if !p.sels[i].aggregate() && p.sels[i].kind != selColumn {
				return nil, invalidf("Cannot mix aggregate and non-aggregate selectors other than columns")
			}
		}
	}
	if p.w, err = e.compileWhere(t, s.Where, b); err != nil {
		return nil, err
	}
	if p.distinct {
		for _, sl := range p.sels {
			if sl.kind != selColumn || (sl.col.Kind != store.PartitionKey && sl.col.Kind != store.Static) {
				return nil, invalidf("SELECT DISTINCT queries must only request partition key columns and/or static columns (not %s)", sl.name)
			}
		}
	}
	ckRestricted := false
	for _, r := range p.w.ck {
		if r != nil {
			ckRestricted = true
		}
	}
	ix, ixFilter := chooseIndex(t, p.w)
	if !s.AllowFiltering && ix == nil && (p.w.needsFilter || (!p.w.pkRestricted && (ckRestricted || len(p.w.tuples) > 0))) {
		return nil, invalidf(filteringMsg)
	}
	if ix != nil && ix.Local == nil && !p.w.pkRestricted {
		p.index, p.indexFilter = ix, ixFilter
	}
	if len(s.OrderBy) > 0 {
		if !p.w.pkRestricted {
			return nil, invalidf("ORDER BY is only supported when the partition key is restricted by an EQ or an IN.")
		}
		for i, o := range s.OrderBy {
			c := t.Column(o.Column)
			if c == nil {
				return nil, invalidf("Undefined name %s in order by clause", o.Column)
			}
			if c.Kind != store.Clustering {
				return nil, invalidf("Order by is currently only supported on the clustered columns of the PRIMARY KEY, got %s", o.Column)
			}
			if c.Position != i {
				return nil, invalidf("Order by currently only supports the ordering of columns following their declared order in the PRIMARY KEY")
			}
			rev := o.Desc != c.Desc
			if i == 0 {
				p.reverse = rev
			} else if rev != p.reverse {
				return nil, invalidf("Unsupported order by relation")
			}
		}
	}
	if s.Limit != nil {
		if p.limit, err = e.compileTerm(s.Limit, typInt, "[limit]", b); err != nil {
			return nil, err
		}
	}
	if s.PerPartitionLimit != nil {
		if p.ppl, err = e.compileTerm(s.PerPartitionLimit, typInt, "[per_partition_limit]", b); err != nil {
			return nil, err
		}
	}
	if err := e.compileTimeout(s.Using.Timeout, b); err != nil {
		return nil, err
	}
	p.bind = b.complete()
	p.pkIndexes = pkIndexes(t, s.Where, parsed)
	for _, sl := range p.sels {
		p.result = append(p.result, Column{Keyspace: t.Keyspace, Table: t.Name, Name: sl.name, Type: sl.typ})
	}
	return p, nil
}

func compileSelector(t *store.Table, expr cql.SelectExpr) (selector, error) {
	switch x := expr.(type) {
	case *cql.ColumnRef:
		c := t.Column(x.Name)
		if c == nil {
			return selector{}, noColumn(x.Name)
		}
		return selector{kind: selColumn, col: c, name: c.Name, typ: c.Type}, nil
	case *cql.CountStar:
		return selector{kind: selCountStar, name: "count", typ: typBigint}, nil
	case *cql.SelectCast:
		return selector{}, invalidf("CAST in a selection is not supported by scyllaemu")
	case *cql.SelectField:
		ref, ok := x.Expr.(*cql.ColumnRef)
		if !ok {
			return selector{}, invalidf("Field selection on an expression other than a column is not supported by scyllaemu (%s)", x.Field)
		}
		c := t.Column(ref.Name)
		if c == nil {
			return selector{}, noColumn(ref.Name)
		}
		if c.Type.Kind != types.UDT {
			return selector{}, invalidf("Invalid field selection: %s of type %s is not a user type", c.Name, c.Type)
		}
		i, err := fieldIndex(c.Type, x.Field)
		if err != nil {
			return selector{}, invalidf("%s of type %s has no field %s", c.Name, c.Type, x.Field)
		}
		return selector{kind: selField, col: c, field: i, name: c.Name + "." + x.Field, typ: c.Type.Elems[i]}, nil
	case *cql.SelectFunc:
		name := strings.TrimPrefix(x.Name, "system.")
		argCol := func() (*store.Column, error) {
			if len(x.Args) != 1 {
				return nil, invalidf("Invalid number of arguments for function %s", name)
			}
			ref, ok := x.Args[0].(*cql.ColumnRef)
			if !ok {
				if _, star := x.Args[0].(*cql.CountStar); star && name == "count" {
					return nil, nil
				}
				return nil, invalidf("Function %s requires a column argument", name)
			}
			c := t.Column(ref.Name)
			if c == nil {
				return nil, noColumn(ref.Name)
			}
			return c, nil
		}
		switch name {
		case "writetime", "ttl":
			c, err := argCol()
			if err != nil {
				return selector{}, err
			}
			if c == nil || c.IsKey() {
				return selector{}, invalidf("Cannot use selection function %s on PRIMARY KEY part %s", name, x.Args[0].(*cql.ColumnRef).Name)
			}
			if c.Type.MultiCell() {
				return selector{}, invalidf("Cannot use selection function %s on non-frozen collection %s", name, c.Name)
			}
			if name == "writetime" {
				return selector{kind: selWritetime, col: c, name: "writetime(" + c.Name + ")", typ: typBigint}, nil
			}
			return selector{kind: selTTL, col: c, name: "ttl(" + c.Name + ")", typ: typInt}, nil
		case "token":
			if len(x.Args) != len(t.PK) {
				return selector{}, invalidf("Invalid number of arguments in call to function token: %d required but %d provided", len(t.PK), len(x.Args))
			}
			names := make([]string, len(x.Args))
			for i, a := range x.Args {
				ref, ok := a.(*cql.ColumnRef)
				if !ok || ref.Name != t.PK[i].Name {
					return selector{}, invalidf("Type error: token() arguments must be the partition key columns in order")
				}
				names[i] = ref.Name
			}
			return selector{kind: selToken, name: "system.token(" + strings.Join(names, ", ") + ")", typ: typBigint}, nil
		case "count":
			c, err := argCol()
			if err != nil {
				return selector{}, err
			}
			if c == nil {
				return selector{kind: selCountStar, name: "count", typ: typBigint}, nil
			}
			return selector{kind: selCount, col: c, name: "system.count(" + c.Name + ")", typ: typBigint}, nil
		case "min", "max", "sum", "avg":
			c, err := argCol()
			if err != nil || c == nil {
				return selector{}, invalidf("Invalid argument for %s", name)
			}
			k := map[string]selKind{"min": selMin, "max": selMax, "sum": selSum, "avg": selAvg}[name]
			if (k == selSum || k == selAvg) && !isNumeric(c.Type) {
				return selector{}, invalidf("Invalid call to function %s, none of its type signatures match", name)
			}
			return selector{kind: k, col: c, name: "system." + name + "(" + c.Name + ")", typ: c.Type}, nil
		}
		return selector{}, invalidf("Unknown function '%s'", x.Name)
	}
	return selector{}, invalidf("Unsupported selector")
}

func isNumeric(t *types.Type) bool {
	switch t.Kind {
	case types.Tinyint, types.Smallint, types.Int, types.Bigint, types.Varint, types.Float, types.Double, types.Decimal, types.Counter:
		return true
	}
	return false
}

// pkIndexes are the bind positions of the partition key columns when each
// is bound by a plain `pk = ?`: gocql uses them to route by token.
func pkIndexes(t *store.Table, rels []cql.Relation, parsed *cql.Parsed) []uint16 {
	idx := make([]uint16, len(t.PK))
	found := 0
	for _, rel := range rels {
		if rel.Token || len(rel.Columns) != 1 || rel.Op != cql.OpEq {
			continue
		}
		m, ok := rel.Value.(*cql.Marker)
		if !ok {
			continue
		}
		c := t.Column(rel.Columns[0])
		if c != nil && c.Kind == store.PartitionKey {
			idx[c.Position] = uint16(m.Index)
			found++
		}
	}
	if found != len(t.PK) {
		return nil
	}
	return idx
}

// pagingState is where a page stopped: after clustering row ck of the
// partition key, or after the whole partition when done.
type pagingState struct {
	key   []byte
	ck    [][]byte
	done  bool
	left  int64 // LIMIT rows still to return
	inPPL int64 // rows already returned from key's partition
}

func (ps *pagingState) encode() []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(ps.key)))
	b = append(b, ps.key...)
	if ps.done {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, ps.left)
	b = binary.AppendVarint(b, ps.inPPL)
	b = binary.AppendUvarint(b, uint64(len(ps.ck)))
	for _, c := range ps.ck {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

func decodePagingState(b []byte) (*pagingState, error) {
	bad := invalidf("Invalid value for the paging state")
	ps := &pagingState{}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, bad
	}
	b = b[k:]
	ps.key, b = b[:n], b[n:]
	if len(b) < 1 {
		return nil, bad
	}
	ps.done, b = b[0] == 1, b[1:]
	var v int64
	if v, k = binary.Varint(b); k <= 0 {
		return nil, bad
	}
	ps.left, b = v, b[k:]
	if v, k = binary.Varint(b); k <= 0 {
		return nil, bad
	}
	ps.inPPL, b = v, b[k:]
	cnt, k := binary.Uvarint(b)
	if k <= 0 || cnt > uint64(len(b)) {
		return nil, bad
	}
	b = b[k:]
	for i := uint64(0); i < cnt; i++ {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, bad
		}
		ps.ck = append(ps.ck, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	return ps, nil
}

// selectRun is the state of one page being produced.
type selectRun struct {
	p        *selectPlan
	x        *execCtx
	now      int64
	pageSize int64
	left     int64
	ppl      int64
	rows     [][][]byte
	// slab backs the rows' value slices, rowsPerSlab rows per allocation
	// instead of one each: a CDC read returns thousands of wide rows.
	slab [][]byte
	agg  *aggState
	next *pagingState
	err  error
}

func (p *selectPlan) exec(e *Engine, x *execCtx) (*Result, error) {
	// The read time is taken under the lock, so every write it cannot see
	// is stamped after it (see Engine.writeTimestamp).
	e.st.RLock()
	defer e.st.RUnlock()
	x.stamp = e.readTime()
	run := &selectRun{p: p, x: x, now: x.stamp, left: math.MaxInt64, ppl: math.MaxInt64}
	if v, set, err := evalInt(x, p.limit); err != nil || (set && v <= 0) {
		if err != nil {
			return nil, invalidf("Invalid null value of limit")
		}
		return nil, invalidf("LIMIT must be strictly positive")
	} else if set {
		run.left = v
	}
	if v, set, err := evalInt(x, p.ppl); err != nil || (set && v <= 0) {
		if err != nil {
			return nil, invalidf("Invalid null value of per partition limit")
		}
		return nil, invalidf("PER PARTITION LIMIT must be strictly positive")
	} else if set {
		run.ppl = v
	}
	if x.params.PageSize > 0 && !p.aggregate {
		run.pageSize = int64(x.params.PageSize)
	}
	var resume *pagingState
	if len(x.params.PagingState) > 0 && !p.aggregate {
		var err error
		if resume, err = decodePagingState(x.params.PagingState); err != nil {
			return nil, err
		}
		run.left = resume.left
	}
	if p.aggregate {
		run.agg = newAggState(p.sels)
	}
	t := p.t
	visit := func(part *store.Partition) bool {
		var from [][]byte
		var inPPL int64
		if resume != nil && string(resume.key) == string(part.Key) {
			from, inPPL = resume.ck, resume.inPPL
		}
		return run.partition(part, from, inPPL)
	}
	if p.w.pkRestricted || p.index != nil {
		var keys [][]byte
		var err error
		if p.index != nil {
			keys, err = indexCandidates(x, t, p.index, p.indexFilter)
		} else {
			keys, err = p.w.partitionKeys(x)
		}
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			if resume != nil {
				rt, kt := t.Token(resume.key), t.Token(key)
				if kt < rt || (kt == rt && string(key) < string(resume.key)) {
					continue
				}
				if resume.done && string(key) == string(resume.key) {
					continue
				}
			}
			part := t.Partition(key)
			if part == nil {
				continue
			}
			if !visit(part) {
				break
			}
		}
	} else {
		lo, hi, err := p.w.tokenRange(x)
		if err != nil {
			return nil, err
		}
		if lo <= hi {
			var startKey []byte
			exclusive := false
			if resume != nil {
				lo, startKey, exclusive = t.Token(resume.key), resume.key, resume.done
			}
			t.ScanPartitions(lo, startKey, exclusive, func(part *store.Partition) bool {
				if part.Token > hi {
					return false
				}
				return visit(part)
			})
		}
	}
	if run.err != nil {
		return nil, run.err
	}
	rows := &Rows{Columns: p.result}
	if run.agg != nil {
		rows.Data = [][][]byte{run.agg.result()}
	} else {
		rows.Data = run.rows
		if run.next != nil {
			rows.PagingState = run.next.encode()
		}
	}
	return &Result{Kind: ResultRows, Rows: rows}, nil
}

// partition emits the rows of one partition; it returns false to stop.
func (run *selectRun) partition(part *store.Partition, from [][]byte, inPPL int64) bool {
	p, t := run.p, run.p.t
	pk, err := types.SplitPartitionKey(part.Key, len(t.PK))
	if err != nil {
		run.err = err
		return false
	}
	src := &rowSource{t: t, p: part, pk: pk, now: run.now}
	count := inPPL
	if p.distinct {
		if !t.StaticLive(part, run.now) && !t.HasLiveRow(part, run.now) {
			return true
		}
		ok, err := p.w.match(run.x, src)
		if err != nil {
			run.err = err
			return false
		}
		if !ok {
			return true
		}
		return run.emit(src, part.Key, nil, true, &count)
	}
	slices, err := p.w.slices(run.x)
	if err != nil {
		run.err = err
		return false
	}
	if p.reverse {
		for i, j := 0, len(slices)-1; i < j; i, j = i+1, j-1 {
			slices[i], slices[j] = slices[j], slices[i]
		}
	}
	emitted := inPPL > 0 || from != nil
	cont := true
	for _, s := range slices {
		start, end := s.start, s.end
		if from != nil {
			if !p.reverse {
				switch {
				case !t.InRange(from, start, store.Bound{}):
					// from is before this slice: scan it whole.
				case !t.InRange(from, store.Bound{}, end) || sameBound(t, from, end):
					continue
				default:
					start = store.Bound{Prefix: from, Inclusive: false}
				}
			} else {
				switch {
				case !t.InRange(from, store.Bound{}, end):
					// from is after this slice (scanned backwards): scan it whole.
				case !t.InRange(from, start, store.Bound{}) || sameBound(t, from, start):
					continue
				default:
					end = store.Bound{Prefix: from, Inclusive: false}
				}
			}
		}
		t.ScanRows(part, start, end, p.reverse, func(r *store.Row) bool {
			if !t.RowLive(part, r, run.now) {
				return true
			}
			src.r = r
			ok, err := p.w.match(run.x, src)
			if err != nil {
				run.err = err
				cont = false
				return false
			}
			if !ok {
				return true
			}
			emitted = true
			if count >= run.ppl {
				return false
			}
			cont = run.emit(src, part.Key, r.CK, false, &count)
			return cont
		})
		if !cont || count >= run.ppl {
			break
		}
	}
	if !cont {
		return false
	}
	// A partition with only static data still yields a row (clustering
	// columns null) when nothing restricts the clustering columns.
	if !emitted && p.w.ckPrefix == 0 && len(p.w.tuples) == 0 && t.StaticLive(part, run.now) {
		src.r = nil
		ok, err := p.w.match(run.x, src)
		if err != nil {
			run.err = err
			return false
		}
		if ok {
			return run.emit(src, part.Key, nil, true, &count)
		}
	}
	return true
}

func sameBound(t *store.Table, ck [][]byte, b store.Bound) bool {
	return len(b.Prefix) == len(ck) && b.Inclusive && t.CompareCK(ck, b.Prefix) == 0
}

// emit adds a row (or folds it into the aggregate) and decides whether the
// page or the limit is full.
func (run *selectRun) emit(src *rowSource, key []byte, ck [][]byte, partitionDone bool, count *int64) bool {
	*count++
	run.left--
	if run.agg != nil {
		run.agg.add(src)
		return run.left > 0
	}
	n := len(run.p.sels)
	if len(run.slab) < n {
		run.slab = make([][]byte, n*rowsPerSlab)
	}
	row := run.slab[:n:n]
	run.slab = run.slab[n:]
	for i := range run.p.sels {
		row[i] = run.p.sels[i].value(src)
	}
	run.rows = append(run.rows, row)
	if run.left <= 0 {
		return false
	}
	if run.pageSize > 0 && int64(len(run.rows)) >= run.pageSize {
		run.next = &pagingState{key: key, ck: cloneCK(ck), done: partitionDone || *count >= run.ppl, left: run.left, inPPL: *count}
		return false
	}
	return true
}

const rowsPerSlab = 64

func cloneCK(ck [][]byte) [][]byte {
	if ck == nil {
		return nil
	}
	out := make([][]byte, len(ck))
	for i, c := range ck {
		out[i] = append([]byte{}, c...)
	}
	return out
}

func (s *selector) value(src *rowSource) []byte {
	switch s.kind {
	case selColumn:
		return src.value(s.col)
	case selField:
		if v := src.value(s.col); v != nil {
			return fieldOf(s.col.Type, v, s.field)
		}
	case selWritetime:
		if c := src.cell(s.col); c != nil {
			return be64(c.TS)
		}
	case selTTL:
		if c := src.cell(s.col); c != nil && c.Expiry > 0 {
			left := (c.Expiry - src.now + 999_999) / 1_000_000
			return be32(uint32(int32(left)))
		}
	case selToken:
		return be64(src.t.Token(src.p.Key))
	}
	return nil
}

// aggState folds rows for aggregate selections.
type aggState struct {
	sels  []selector
	count []int64
	best  [][]byte
	sum   []numSum
	first [][]byte
	seen  bool
}

func newAggState(sels []selector) *aggState {
	return &aggState{sels: sels, count: make([]int64, len(sels)), best: make([][]byte, len(sels)),
		sum: make([]numSum, len(sels)), first: make([][]byte, len(sels))}
}

func (a *aggState) add(src *rowSource) {
	for i := range a.sels {
		s := &a.sels[i]
		switch s.kind {
		case selCountStar:
			a.count[i]++
		case selColumn:
			if !a.seen {
				a.first[i] = src.value(s.col)
			}
		default:
			v := src.value(s.col)
			if v == nil {
				continue
			}
			a.count[i]++
			switch s.kind {
			case selMin:
				if a.best[i] == nil || s.typ.Compare(v, a.best[i]) < 0 {
					a.best[i] = v
				}
			case selMax:
				if a.best[i] == nil || s.typ.Compare(v, a.best[i]) > 0 {
					a.best[i] = v
				}
			case selSum, selAvg:
				a.sum[i].add(s.typ, v)
			}
		}
	}
	a.seen = true
}

func (a *aggState) result() [][]byte {
	out := make([][]byte, len(a.sels))
	for i := range a.sels {
		s := &a.sels[i]
		switch s.kind {
		case selCountStar, selCount:
			out[i] = be64(a.count[i])
		case selColumn:
			out[i] = a.first[i]
		case selMin, selMax:
			out[i] = a.best[i]
		case selSum:
			out[i] = a.sum[i].result(s.typ, 1)
		case selAvg:
			out[i] = a.sum[i].result(s.typ, max(a.count[i], 1))
		}
	}
	return out
}

// numSum accumulates sum() and avg() the way ScyllaDB computes them:
// integer types (varint included) exactly, as integers; decimal exactly,
// at the largest scale of its inputs (as a decimal addition keeps it);
// float and double in double precision.
type numSum struct {
	i     big.Int // integer types; decimal: the unscaled value
	scale int32   // decimal
	f     float64 // float, double
}

func (s *numSum) add(t *types.Type, v []byte) {
	switch t.Kind {
	case types.Tinyint:
		s.i.Add(&s.i, big.NewInt(int64(int8(v[0]))))
	case types.Smallint:
		s.i.Add(&s.i, big.NewInt(int64(int16(binary.BigEndian.Uint16(v)))))
	case types.Int:
		s.i.Add(&s.i, big.NewInt(int64(int32(binary.BigEndian.Uint32(v)))))
	case types.Bigint, types.Counter:
		s.i.Add(&s.i, big.NewInt(int64(binary.BigEndian.Uint64(v))))
	case types.Varint:
		s.i.Add(&s.i, types.VarintInt(v))
	case types.Decimal:
		if len(v) < 4 {
			return
		}
		scale, unscaled := int32(binary.BigEndian.Uint32(v)), types.VarintInt(v[4:])
		switch {
		case scale > s.scale:
			s.i.Mul(&s.i, pow10(scale-s.scale))
			s.scale = scale
		case scale < s.scale:
			unscaled.Mul(unscaled, pow10(s.scale-scale))
		}
		s.i.Add(&s.i, unscaled)
	case types.Float:
		s.f += float64(math.Float32frombits(binary.BigEndian.Uint32(v)))
	case types.Double:
		s.f += math.Float64frombits(binary.BigEndian.Uint64(v))
	}
}

// result is the sum divided by n (1 for sum()): integers truncate toward
// zero, a decimal keeps its scale and rounds half to even, as ScyllaDB's
// avg does.
func (s *numSum) result(t *types.Type, n int64) []byte {
	q := new(big.Int).Quo(&s.i, big.NewInt(n))
	switch t.Kind {
	case types.Tinyint:
		return []byte{byte(q.Int64())}
	case types.Smallint:
		return binary.BigEndian.AppendUint16(nil, uint16(q.Int64()))
	case types.Int:
		return be32(uint32(q.Int64()))
	case types.Bigint, types.Counter:
		return be64(q.Int64())
	case types.Varint:
		return types.AppendVarint(nil, q)
	case types.Decimal:
		r := new(big.Rat).SetFrac(&s.i, big.NewInt(n))
		return append(be32(uint32(s.scale)), types.AppendVarint(nil, roundHalfEven(r))...)
	case types.Float:
		return be32(math.Float32bits(float32(s.f / float64(n))))
	default:
		return be64(int64(math.Float64bits(s.f / float64(n))))
	}
}

func pow10(n int32) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// roundHalfEven rounds r to the nearest integer, ties to even.
func roundHalfEven(r *big.Rat) *big.Int {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	twice := new(big.Int).Abs(m)
	twice.Lsh(twice, 1)
	if c := twice.Cmp(r.Denom()); c > 0 || c == 0 && q.Bit(0) == 1 {
		if r.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}
