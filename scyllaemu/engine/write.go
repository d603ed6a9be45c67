package engine

import (
	"fmt"
	"math"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cdc"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// maxTTL is ScyllaDB's limit: 20 years.
const maxTTL = 20 * 365 * 24 * 60 * 60

type writeKind int

const (
	kindInsert writeKind = iota
	kindUpdate
	kindDelete
)

type cellAssign struct {
	col   *store.Column
	op    cellOp
	val   termFn
	key   termFn // map key, set element, list index or list timeuuid key
	field int    // UDT field index
}

type condition struct {
	col   *store.Column
	key   termFn
	field int // UDT field index + 1; 0 for the whole column
	op    cql.RelOp
	val   termFn
	in    []termFn
}

type writePlan struct {
	planMeta
	kind        writeKind
	t           *store.Table
	w           *where
	insertPK    []termFn
	insertCK    []termFn
	cells       []cellAssign
	ttl, ts     termFn
	ifNotExists bool
	ifExists    bool
	conds       []condition
	// casCols are the columns an LWT result shows after [applied]: every
	// column for IF [NOT] EXISTS, else the columns its conditions name.
	casCols []*store.Column
	// tupleRange is a DELETE whose clustering range is given by
	// multi-column slices.
	tupleRange bool
	// rowLevel is false when the statement touches only static columns (or
	// deletes a partition/range), so it needs no full clustering key.
	rowLevel bool
}

func (p *writePlan) conditional() bool { return p.ifNotExists || p.ifExists || len(p.conds) > 0 }

func (e *Engine) compileUsing(u cql.Using, b *binder, p *writePlan) error {
	var err error
	if u.TTL != nil {
		if p.ttl, err = e.compileTerm(u.TTL, typInt, "[ttl]", b); err != nil {
			return err
		}
	}
	if u.Timestamp != nil {
		if p.ts, err = e.compileTerm(u.Timestamp, typBigint, "[timestamp]", b); err != nil {
			return err
		}
	}
	return e.compileTimeout(u.Timeout, b)
}

func (e *Engine) compileInsert(ks string, b *binder, s *cql.InsertStmt) (*writePlan, error) {
	t, err := e.resolveWritable(ks, s.Table)
	if err != nil {
		return nil, err
	}
	if s.JSON != nil {
		return nil, invalidf("INSERT JSON is not supported by scyllaemu")
	}
	b.ks, b.table = t.Keyspace, t.Name
	p := &writePlan{kind: kindInsert, t: t, ifNotExists: s.IfNotExists, rowLevel: true,
		insertPK: make([]termFn, len(t.PK)), insertCK: make([]termFn, len(t.CK))}
	seen := map[string]bool{}
	for i, name := range s.Columns {
		c := t.Column(name)
		if c == nil {
			return nil, invalidf("Unknown identifier %s", name)
		}
		if seen[name] {
			return nil, invalidf("Multiple definitions found for column %s", name)
		}
		seen[name] = true
		fn, err := e.compileTerm(s.Values[i], c.Type, c.Name, b)
		if err != nil {
			return nil, err
		}
		switch c.Kind {
		case store.PartitionKey:
			p.insertPK[c.Position] = fn
		case store.Clustering:
			p.insertCK[c.Position] = fn
		default:
			p.cells = append(p.cells, cellAssign{col: c, op: opSet, val: fn})
		}
	}
	for _, c := range t.PK {
		if p.insertPK[c.Position] == nil {
			return nil, invalidf("Missing mandatory PRIMARY KEY part %s", c.Name)
		}
	}
	ckGiven := 0
	for _, c := range t.CK {
		if p.insertCK[c.Position] != nil {
			ckGiven++
		}
	}
	if ckGiven == 0 && len(t.CK) > 0 && allStatic(p.cells) {
		// Only static columns: ScyllaDB writes the static row and no
		// clustering row (and so no row marker).
		p.rowLevel, p.insertCK = false, nil
	} else {
		for _, c := range t.CK {
			if p.insertCK[c.Position] == nil {
				return nil, invalidf("Missing mandatory PRIMARY KEY part %s", c.Name)
			}
		}
	}
	if err := e.compileUsing(s.Using, b, p); err != nil {
		return nil, err
	}
	if p.ifNotExists && p.ts != nil {
		return nil, invalidf("Cannot provide custom timestamp for conditional updates")
	}
	p.pkIndexes = insertPKIndexes(t, s)
	p.buildCASMeta()
	return p, nil
}

func insertPKIndexes(t *store.Table, s *cql.InsertStmt) []uint16 {
	idx := make([]uint16, len(t.PK))
	found := 0
	for i, name := range s.Columns {
		c := t.Column(name)
		if m, ok := s.Values[i].(*cql.Marker); ok && c != nil && c.Kind == store.PartitionKey {
			idx[c.Position] = uint16(m.Index)
			found++
		}
	}
	if found != len(t.PK) {
		return nil
	}
	return idx
}

func (e *Engine) compileUpdate(ks string, b *binder, s *cql.UpdateStmt) (*writePlan, error) {
	t, err := e.resolveWritable(ks, s.Table)
	if err != nil {
		return nil, err
	}
	b.ks, b.table = t.Keyspace, t.Name
	p := &writePlan{kind: kindUpdate, t: t, ifExists: s.IfExists}
	if err := e.compileUsing(s.Using, b, p); err != nil {
		return nil, err
	}
	for _, a := range s.Set {
		c := t.Column(a.Column)
		if c == nil {
			return nil, invalidf("Unknown identifier %s", a.Column)
		}
		if c.IsKey() {
			return nil, invalidf("PRIMARY KEY part %s found in SET part", c.Name)
		}
		if c.Kind == store.Regular {
			p.rowLevel = true
		}
		ca, err := e.compileAssignment(c, a, b)
		if err != nil {
			return nil, err
		}
		p.cells = append(p.cells, ca)
	}
	if err := e.compileWriteWhere(p, s.Where, b); err != nil {
		return nil, err
	}
	if err := e.compileConditions(p, s.Conditions, b); err != nil {
		return nil, err
	}
	p.pkIndexes = pkIndexes(t, s.Where, nil)
	p.buildCASMeta()
	return p, nil
}

func (e *Engine) compileDelete(ks string, b *binder, s *cql.DeleteStmt) (*writePlan, error) {
	t, err := e.resolveWritable(ks, s.Table)
	if err != nil {
		return nil, err
	}
	b.ks, b.table = t.Keyspace, t.Name
	p := &writePlan{kind: kindDelete, t: t, ifExists: s.IfExists}
	if s.Using.TTL != nil {
		return nil, invalidf("Cannot provide TTL on DELETE")
	}
	if err := e.compileUsing(s.Using, b, p); err != nil {
		return nil, err
	}
	for _, d := range s.Columns {
		c := t.Column(d.Column)
		if c == nil {
			return nil, invalidf("Unknown identifier %s", d.Column)
		}
		if c.IsKey() {
			return nil, invalidf("Invalid identifier %s for deletion (should not be a PRIMARY KEY part)", c.Name)
		}
		if c.Kind == store.Regular {
			p.rowLevel = true
		}
		ca, err := e.compileDeletion(c, d, b)
		if err != nil {
			return nil, err
		}
		p.cells = append(p.cells, ca)
	}
	if err := e.compileWriteWhere(p, s.Where, b); err != nil {
		return nil, err
	}
	if err := e.compileConditions(p, s.Conditions, b); err != nil {
		return nil, err
	}
	if p.conditional() && len(t.CK) > 0 && !p.w.fullCK() {
		for _, ca := range p.cells {
			if ca.col.Kind != store.Static {
				return nil, invalidf("DELETE statements must restrict all PRIMARY KEY columns with equality relations in order to delete non static columns")
			}
		}
		if len(p.cells) == 0 {
			return nil, invalidf("DELETE statements must restrict all PRIMARY KEY columns with equality relations in order to delete non static columns")
		}
		for _, c := range p.conds {
			if c.col.Kind != store.Static {
				return nil, invalidf("DELETE statements must restrict all PRIMARY KEY columns with equality relations in order to use IF condition on non static columns")
			}
		}
	}
	p.pkIndexes = pkIndexes(t, s.Where, nil)
	p.buildCASMeta()
	return p, nil
}

// compileWriteWhere enforces the WHERE rules of UPDATE and DELETE.
func (e *Engine) compileWriteWhere(p *writePlan, rels []cql.Relation, b *binder) error {
	w, err := e.compileWhere(p.t, rels, b)
	if err != nil {
		return err
	}
	for _, f := range w.filters {
		if !f.col.IsKey() {
			return invalidf("Non PRIMARY KEY columns found in where clause: %s ", f.col.Name)
		}
	}
	if w.tokenLo != nil || w.tokenHi != nil {
		return invalidf("The token function cannot be used in WHERE clauses for UPDATE and DELETE statements")
	}
	var missing []string
	for i, r := range w.pk {
		if !r.isEqOrIn() {
			missing = append(missing, p.t.PK[i].Name)
		}
	}
	// A DELETE of a clustering range may bound it with multi-column
	// slices: (c1, c2) > (?, ?).
	p.tupleRange = len(w.tuples) > 0 && p.kind == kindDelete && len(p.cells) == 0 && w.tupleSlicesOnly()
	if len(missing) > 0 || w.needsFilter || (len(w.tuples) > 0 && !p.tupleRange) {
		if len(missing) > 0 {
			return invalidf("Some partition key parts are missing: %s", joinStrings(missing))
		}
		if len(w.tuples) > 0 && p.kind == kindUpdate {
			return invalidf("Slice restrictions are not supported on the clustering columns in UPDATE statements")
		}
		if len(w.tuples) > 0 {
			return invalidf("Multi-column relations in DELETE statements must be slices of the clustering key starting at its first column")
		}
		return invalidf("Only EQ and IN relation are supported on the partition key (unless you use the token() function)")
	}
	full := w.fullCK() && !p.tupleRange
	switch p.kind {
	case kindUpdate:
		if !full && (p.rowLevel || len(p.t.CK) > 0 && !allStatic(p.cells)) {
			var names []string
			for i, r := range w.ck {
				if !r.isEqOrIn() {
					names = append(names, p.t.CK[i].Name)
				}
			}
			if len(w.ck) > 0 && w.ck[0] != nil && !w.ck[0].isEqOrIn() {
				return invalidf("Slice restrictions are not supported on the clustering columns in UPDATE statements")
			}
			return invalidf("Some clustering keys are missing: %s", joinStrings(names))
		}
		if p.rowLevel || len(p.t.CK) == 0 {
			p.rowLevel = true
		}
	case kindDelete:
		if len(p.cells) > 0 && !full && p.rowLevel {
			return invalidf("Range deletions are not supported for specific columns")
		}
		if len(p.cells) == 0 && full {
			p.rowLevel = true
		}
	}
	p.w = w
	return nil
}

func allStatic(cells []cellAssign) bool {
	for _, c := range cells {
		if c.col.Kind != store.Static {
			return false
		}
	}
	return len(cells) > 0
}

func joinStrings(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

func (e *Engine) compileConditions(p *writePlan, conds []cql.Condition, b *binder) error {
	for _, c := range conds {
		col := p.t.Column(c.Column)
		if col == nil {
			return invalidf("Unknown identifier %s", c.Column)
		}
		if col.IsKey() {
			return invalidf("PRIMARY KEY column '%s' cannot have IF conditions", col.Name)
		}
		cd := condition{col: col, op: c.Op}
		vt := col.Type
		var err error
		if c.Field != "" {
			if col.Type.Kind != types.UDT {
				return invalidf("Invalid field selection: %s of type %s is not a user type", col.Name, col.Type)
			}
			i, ferr := fieldIndex(col.Type, c.Field)
			if ferr != nil {
				return invalidf("%s of type %s has no field %s", col.Name, col.Type, c.Field)
			}
			cd.field, vt = i+1, col.Type.Elems[i]
		}
		if c.Key != nil {
			switch col.Type.Kind {
			case types.Map:
				if cd.key, err = e.compileTerm(c.Key, col.Type.Elems[0], "key("+col.Name+")", b); err != nil {
					return err
				}
				vt = col.Type.Elems[1]
			case types.List:
				if cd.key, err = e.compileTerm(c.Key, typInt, "idx("+col.Name+")", b); err != nil {
					return err
				}
				vt = col.Type.Elems[0]
			default:
				return invalidf("Invalid element access on non-collection column %s", col.Name)
			}
		}
		if c.Op == cql.OpIn || c.Op == cql.OpNotIn {
			for _, v := range c.In {
				fn, err := e.compileTerm(v, vt, col.Name, b)
				if err != nil {
					return err
				}
				cd.in = append(cd.in, fn)
			}
			if c.Value != nil {
				lt := &types.Type{Kind: types.List, Elems: []*types.Type{vt}, Frozen: true}
				if cd.val, err = e.compileTerm(c.Value, lt, "in("+col.Name+")", b); err != nil {
					return err
				}
			}
		} else if cd.val, err = e.compileTerm(c.Value, vt, col.Name, b); err != nil {
			return err
		}
		p.conds = append(p.conds, cd)
	}
	if p.conditional() && p.ts != nil {
		return invalidf("Cannot provide custom timestamp for conditional updates")
	}
	return nil
}

func (p *writePlan) exec(e *Engine, x *execCtx) (*Result, error) {
	return e.execBatch([]batchItem{{plan: p, binds: x.binds}}, x.params, false)
}

type batchItem struct {
	plan  *writePlan
	binds []wire.Value
}

// mutations evaluates the statement into store mutations at timestamp ts.
// It also returns the rows an LWT condition refers to.
func (p *writePlan) mutations(x *execCtx, defaultTS int64) ([]*store.Mutation, []rowRef, error) {
	t := p.t
	ts := defaultTS
	if v, set, err := evalInt(x, p.ts); err != nil {
		return nil, nil, invalidf("Invalid null value of timestamp")
	} else if set {
		if v == math.MinInt64 {
			return nil, nil, invalidf("Invalid timestamp value")
		}
		ts = v
	}
	ttl := t.Opts.DefaultTTL
	if v, set, err := evalInt(x, p.ttl); err != nil {
		return nil, nil, invalidf("Invalid null value of TTL")
	} else if set {
		if v < 0 {
			return nil, nil, invalidf("A TTL must be greater or equal to 0, but was %d", v)
		}
		if v > maxTTL {
			return nil, nil, invalidf("ttl is too large. requested (%d) maximum (%d)", v, maxTTL)
		}
		ttl = int32(v)
	}
	var keys [][]byte
	var cks [][][]byte
	var ranges []slice
	if p.kind == kindInsert {
		pk := make([][]byte, len(p.insertPK))
		for i, fn := range p.insertPK {
			v, unset, err := fn(x)
			if err != nil {
				return nil, nil, err
			}
			if v == nil || unset {
				return nil, nil, invalidf("Invalid null value in condition for column %s", t.PK[i].Name)
			}
			pk[i] = v
		}
		if len(pk) == 1 && len(pk[0]) == 0 {
			return nil, nil, invalidf("Key may not be empty")
		}
		keys = [][]byte{types.PartitionKeyBytes(pk)}
		ck := make([][]byte, len(p.insertCK))
		for i, fn := range p.insertCK {
			v, unset, err := fn(x)
			if err != nil {
				return nil, nil, err
			}
			if v == nil || unset {
				return nil, nil, invalidf("Invalid null value in condition for column %s", t.CK[i].Name)
			}
			ck[i] = v
		}
		if len(ck) > 0 {
			cks = [][][]byte{ck}
		}
		if !p.rowLevel {
			cks = nil
		}
	} else {
		var err error
		if keys, err = p.w.partitionKeys(x); err != nil {
			return nil, nil, err
		}
		if p.tupleRange {
			sl, err := p.w.tupleSlice(x)
			if err != nil {
				return nil, nil, err
			}
			ranges = []slice{sl}
		} else if len(t.CK) > 0 && (p.rowLevel || p.w.ckPrefix > 0) {
			sl, err := p.w.slices(x)
			if err != nil {
				return nil, nil, err
			}
			if p.w.fullCK() {
				for _, s := range sl {
					cks = append(cks, s.start.Prefix)
				}
			} else {
				ranges = sl
			}
		}
	}
	if p.conditional() && (len(keys) > 1 || len(cks) > 1) {
		what := "updates"
		if p.kind == kindDelete {
			what = "deletions"
		}
		if len(keys) > 1 {
			return nil, nil, invalidf("IN on the partition key is not supported with conditional %s", what)
		}
		return nil, nil, invalidf("IN on the clustering key columns is not supported with conditional %s", what)
	}
	var static, regular []pendingWrite
	for i := range p.cells {
		pw, unset, err := p.cells[i].eval(x)
		if err != nil {
			return nil, nil, err
		}
		if unset {
			continue
		}
		if pw.col.Kind == store.Static {
			static = append(static, pw)
		} else {
			regular = append(regular, pw)
		}
	}
	resolve := func(pws []pendingWrite, key []byte, ck [][]byte) ([]store.CellWrite, error) {
		out := make([]store.CellWrite, 0, len(pws))
		for _, pw := range pws {
			cw, err := resolveCell(x, t, pw, key, ck, ts, x.now)
			if err != nil {
				return nil, err
			}
			out = append(out, cw)
		}
		return out, nil
	}
	var muts []*store.Mutation
	var refs []rowRef
	for _, key := range keys {
		m := &store.Mutation{Table: t, Key: key, TS: ts, TTL: ttl}
		if p.kind == kindDelete {
			m.TTL = 0
		}
		if len(static) > 0 {
			cells, err := resolve(static, key, nil)
			if err != nil {
				return nil, nil, err
			}
			m.Rows = append(m.Rows, store.RowWrite{Cells: cells})
		}
		switch {
		case p.kind == kindDelete && len(p.cells) == 0 && len(cks) == 0 && len(ranges) == 0:
			m.PartitionDelete = true
		case p.kind == kindDelete && len(p.cells) == 0 && len(ranges) > 0:
			for _, s := range ranges {
				m.Ranges = append(m.Ranges, store.RangeTombstone{Start: s.start, End: s.end})
			}
		case len(cks) > 0 || (len(t.CK) == 0 && p.rowLevel):
			ckList := cks
			if len(t.CK) == 0 {
				ckList = [][][]byte{{}}
			}
			for _, ck := range ckList {
				cells, err := resolve(regular, key, ck)
				if err != nil {
					return nil, nil, err
				}
				rw := store.RowWrite{CK: ck, Marker: p.kind == kindInsert, Delete: p.kind == kindDelete && len(p.cells) == 0, Cells: cells}
				if len(cells) > 0 || rw.Marker || rw.Delete {
					m.Rows = append(m.Rows, rw)
				}
			}
		}
		if len(m.Rows) > 0 || m.PartitionDelete || len(m.Ranges) > 0 {
			muts = append(muts, m)
		}
		var ck [][]byte
		if len(cks) > 0 {
			ck = cks[0]
		} else if len(t.CK) == 0 {
			ck = [][]byte{}
		}
		refs = append(refs, rowRef{t: t, key: key, ck: ck})
	}
	return muts, refs, nil
}

// execBatch evaluates every statement, then under the store's write lock
// checks LWT conditions and CDC write times and applies base and log
// mutations together.
func (e *Engine) execBatch(items []batchItem, params Params, batch bool) (*Result, error) {
	// Evaluation reads the schema (slots, TTL defaults), which ALTER may
	// change, so the whole statement runs under the write lock. The server
	// stamp is taken under it too: stamped earlier, a write could be
	// overtaken by a read at a later time that does not see it.
	e.st.Lock()
	defer e.st.Unlock()
	stamp := e.writeTimestamp()
	ts := stamp
	if params.HasTimestamp {
		ts = params.Timestamp
	}
	conditional := false
	for _, it := range items {
		if it.plan.conditional() {
			conditional = true
		}
		if err := e.checkConsistency(it.plan.t, params.Consistency); err != nil {
			return nil, err
		}
	}
	now := e.nowMicros()
	lists := &store.ListKeys{}
	evs := make([]evaluated, 0, len(items))
	for _, it := range items {
		x := &execCtx{binds: it.binds, params: params, stamp: stamp, now: now, lists: lists}
		muts, refs, err := it.plan.mutations(x, ts)
		if err != nil {
			return nil, err
		}
		evs = append(evs, evaluated{it: it, muts: muts, refs: refs})
	}
	if conditional {
		if err := checkCASScope(evs[0].it.plan.t, refsOf(evs)); err != nil {
			return nil, err
		}
	}
	var cas *Result
	if conditional {
		applied := true
		olds := make([]oldRow, len(evs))
		for i, ev := range evs {
			x := &execCtx{binds: ev.it.binds, params: params, stamp: stamp}
			ok, old, err := ev.it.plan.checkConditions(x, ev.refs[0], now)
			if err != nil {
				return nil, err
			}
			applied = applied && ok
			olds[i] = old
		}
		cas = casResult(items, olds, applied, batch)
		if !applied {
			return cas, nil
		}
	}
	var all []*store.Mutation
	for _, ev := range evs {
		all = append(all, ev.muts...)
	}
	if err := e.applyLocked(all, now, stamp); err != nil {
		return nil, err
	}
	if cas != nil {
		return cas, nil
	}
	return &Result{Kind: ResultVoid}, nil
}

// applyLocked applies mutations and their CDC log rows; the caller holds the
// write lock. Nothing is written unless every check passes.
func (e *Engine) applyLocked(muts []*store.Mutation, now, stamp int64) error {
	clock := time.UnixMicro(now)
	type groupKey struct {
		t   *store.Table
		key string
	}
	var order []groupKey
	groups := map[groupKey][]*store.Mutation{}
	for _, m := range muts {
		if m.Table.CDCLog == nil {
			continue
		}
		streams := e.gens
		if h := e.streamsOf(m.Table); h != nil {
			streams = h
		}
		if err := streams.CheckWriteTime(m.TS, clock); err != nil {
			return invalidf("%s", trimSentinel(err))
		}
		k := groupKey{m.Table, string(m.Key)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], m)
	}
	// Images read the base before any of the write is applied, as
	// ScyllaDB's preimage query does.
	snaps := make([]*cdc.Snapshot, len(order))
	for i, k := range order {
		snaps[i] = cdc.Snap(k.t, groups[k], now)
	}
	for _, m := range muts {
		m.Table.Apply(m, now)
	}
	logged := muts
	for i, k := range order {
		for _, lm := range e.logger.Log(k.t, groups[k], snaps[i], e.streamsOf(k.t)) {
			e.maxCDCWrite = max(e.maxCDCWrite, lm.TS)
			lm.Table.Apply(lm, now)
			logged = append(logged[:len(logged):len(logged)], lm)
		}
	}
	e.logMutations(stamp, now, logged)
	return nil
}

func trimSentinel(err error) string {
	msg := err.Error()
	prefix := "cdc: write timestamp outside the known generations: "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}

func elementOf(t *types.Type, coll []byte, keyFn termFn, x *execCtx) []byte {
	k, _, err := keyFn(x)
	if err != nil || k == nil {
		return nil
	}
	elems, err := types.UnpackCollection(coll)
	if err != nil {
		return nil
	}
	if t.Kind == types.Map {
		for i := 0; i+1 < len(elems); i += 2 {
			if t.Elems[0].Compare(elems[i], k) == 0 {
				return elems[i+1]
			}
		}
		return nil
	}
	if len(k) == 4 {
		idx := int(int32(uint32(k[0])<<24 | uint32(k[1])<<16 | uint32(k[2])<<8 | uint32(k[3])))
		if idx >= 0 && idx < len(elems) {
			return elems[idx]
		}
	}
	return nil
}

func (c *condition) holds(x *execCtx, cur []byte) (bool, error) {
	t := c.col.Type
	if c.field > 0 {
		t = t.Elems[c.field-1]
	}
	if c.key != nil {
		if t.Kind == types.Map {
			t = t.Elems[1]
		} else {
			t = t.Elems[0]
		}
	}
	if c.op == cql.OpIn || c.op == cql.OpNotIn {
		in, err := c.matchIn(x, t, cur)
		return in == (c.op == cql.OpIn), err
	}
	want, unset, err := c.val(x)
	if err != nil {
		return false, err
	}
	if unset {
		return false, invalidf("Invalid 'unset' value in condition")
	}
	switch {
	case want == nil && cur == nil:
		return c.op == cql.OpEq || c.op == cql.OpLte || c.op == cql.OpGte, nil
	case want == nil:
		if c.op == cql.OpEq {
			return false, nil
		}
		if c.op == cql.OpNeq {
			return true, nil
		}
		return false, invalidf("Invalid comparison with null for operator %v", c.op)
	case cur == nil:
		return c.op == cql.OpNeq, nil
	}
	return compareOp(c.op, t.Compare(cur, want)), nil
}

// checkConsistency fails like a one-node cluster would when the
// consistency level needs more replicas than are alive.
func (e *Engine) checkConsistency(t *store.Table, cl uint16) error {
	ks := e.st.Keyspaces[t.Keyspace]
	if ks == nil || isSystemKeyspace(t.Keyspace) {
		return nil
	}
	rf := replicationFactor(ks.Replication)
	var required int
	switch cl {
	case 0x0000, 0x0001, 0x000A: // ANY, ONE, LOCAL_ONE
		required = 1
	case 0x0002:
		required = 2
	case 0x0003:
		required = 3
	case 0x0004, 0x0006, 0x0007, 0x0008, 0x0009: // QUORUM, LOCAL_QUORUM, EACH_QUORUM, SERIAL, LOCAL_SERIAL
		required = rf/2 + 1
	case 0x0005: // ALL
		required = rf
	default:
		required = 1
	}
	if required > 1 {
		return &Error{Code: wire.Unavailable, Consistency: cl, Required: int32(required), Alive: 1,
			Msg: fmt.Sprintf("Cannot achieve consistency level for cl %s. Requires %d, alive 1", consistencyName(cl), required)}
	}
	return nil
}

func consistencyName(cl uint16) string {
	names := map[uint16]string{0: "ANY", 1: "ONE", 2: "TWO", 3: "THREE", 4: "QUORUM", 5: "ALL", 6: "LOCAL_QUORUM", 7: "EACH_QUORUM", 8: "SERIAL", 9: "LOCAL_SERIAL", 10: "LOCAL_ONE"}
	if n, ok := names[cl]; ok {
		return n
	}
	return fmt.Sprint(cl)
}

// matchIn reports whether cur is one of the IN values (NULL matches NULL).
func (c *condition) matchIn(x *execCtx, t *types.Type, cur []byte) (bool, error) {
	vals, err := inValues(x, c.val, c.in)
	if err != nil {
		return false, err
	}
	for _, v := range vals {
		if (v == nil && cur == nil) || (v != nil && cur != nil && t.Compare(cur, v) == 0) {
			return true, nil
		}
	}
	return false, nil
}
