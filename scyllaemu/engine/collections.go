package engine

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// cellOp says how a statement changes one column. Atomic columns only see
// opSet and opDelete; the others are element operations of non-frozen
// collections and UDTs, which the engine turns into concrete element cells
// (resolveCell) the way ScyllaDB's operations build mutations.
type cellOp uint8

const (
	opSet      cellOp = iota // c = v: for a multi-cell column, a tombstone just before the write, then v's elements
	opDelete                 // DELETE c: a tombstone (for multi-cell, at the write's own timestamp)
	opAppend                 // l = l + v, s = s + v, m = m + v
	opPrepend                // l = v + l
	opRemove                 // l = l - v (by value), s = s - v, m = m - keys
	opSetIndex               // l[i] = v (reads the list)
	opDelIndex               // DELETE l[i]
	opSetKey                 // m[k] = v, u.f = v, l[SCYLLA_TIMEUUID_LIST_INDEX(k)] = v
	opDelKey                 // DELETE m[k], DELETE s[e], DELETE u.f
)

// listUUIDIndex is ScyllaDB's function for addressing a list element by
// its timeuuid cell key (scylla-cdc-go's replicator uses it).
const listUUIDIndex = "scylla_timeuuid_list_index"

// compileAssignment compiles one SET item of an UPDATE.
func (e *Engine) compileAssignment(c *store.Column, a cql.Assignment, b *binder) (cellAssign, error) {
	ca := cellAssign{col: c, op: opSet}
	t := c.Type
	var err error
	switch a.Op {
	case cql.AssignSet:
		ca.val, err = e.compileTerm(a.Value, t, c.Name, b)
	case cql.AssignAdd, cql.AssignPrepend, cql.AssignSub:
		form := map[cql.AssignOp]string{cql.AssignAdd: "%[1]s = %[1]s + ?", cql.AssignPrepend: "%[1]s = ? + %[1]s", cql.AssignSub: "%[1]s = %[1]s - ?"}[a.Op]
		switch {
		case t.Kind == types.Counter:
			return ca, invalidf("Counters are not supported by scyllaemu")
		case !t.IsCollection():
			return ca, invalidf("Invalid operation ("+form+") for non collection column %[1]s", c.Name)
		case t.Frozen:
			return ca, invalidf("Invalid operation ("+form+") for frozen collection column %[1]s", c.Name)
		case a.Op == cql.AssignPrepend && t.Kind != types.List:
			return ca, invalidf("Invalid operation ("+form+") for non list column %[1]s", c.Name)
		}
		ca.op = map[cql.AssignOp]cellOp{cql.AssignAdd: opAppend, cql.AssignPrepend: opPrepend, cql.AssignSub: opRemove}[a.Op]
		vt := t.Freeze()
		if a.Op == cql.AssignSub && t.Kind == types.Map {
			vt = &types.Type{Kind: types.Set, Elems: []*types.Type{t.Elems[0]}, Frozen: true}
		}
		ca.val, err = e.compileTerm(a.Value, vt, c.Name, b)
	case cql.AssignElement:
		switch {
		case t.Kind == types.Map && !t.Frozen:
			ca.op = opSetKey
			if ca.key, err = e.compileTerm(a.Key, t.Elems[0], "key("+c.Name+")", b); err != nil {
				return ca, err
			}
			ca.val, err = e.compileTerm(a.Value, t.Elems[1], "value("+c.Name+")", b)
		case t.Kind == types.List && !t.Frozen:
			ca.op = opSetIndex
			if f, ok := a.Key.(*cql.FuncCall); ok && strings.EqualFold(strings.TrimPrefix(f.Name, "system."), listUUIDIndex) {
				if len(f.Args) != 1 {
					return ca, invalidf("Invalid number of arguments in call to function system.%s: 1 required but %d provided", listUUIDIndex, len(f.Args))
				}
				ca.op = opSetKey
				ca.key, err = e.compileTerm(f.Args[0], typTimeuuid, listUUIDIndex+"(arg0)", b)
			} else {
				ca.key, err = e.compileTerm(a.Key, typInt, "idx("+c.Name+")", b)
			}
			if err != nil {
				return ca, err
			}
			ca.val, err = e.compileTerm(a.Value, t.Elems[0], "value("+c.Name+")", b)
		case t.IsCollection() && t.Frozen:
			return ca, invalidf("Invalid operation (%s[?] = ?) for frozen collection column %s", c.Name, c.Name)
		case t.Kind == types.Set:
			return ca, invalidf("Invalid operation (%s[?] = ?) for set column %s", c.Name, c.Name)
		default:
			return ca, invalidf("Invalid operation (%s[?] = ?) for non collection column %s", c.Name, c.Name)
		}
	case cql.AssignFieldSet:
		i, err := udtField(c, a.Field, "(%[1]s.%[2]s = ?)")
		if err != nil {
			return ca, err
		}
		ca.op, ca.field = opSetKey, i
		ca.val, err = e.compileTerm(a.Value, t.Elems[i], c.Name+"."+a.Field, b)
		return ca, err
	case cql.AssignCounterAdd, cql.AssignCounterSub:
		return ca, invalidf("Counters are not supported by scyllaemu")
	default:
		return ca, invalidf("Unsupported assignment on %s", c.Name)
	}
	return ca, err
}

// udtField finds field name of a non-frozen UDT column for a field write.
func udtField(c *store.Column, name, form string) (int, error) {
	t := c.Type
	switch {
	case t.Kind != types.UDT:
		return 0, invalidf("Invalid operation "+form+" for non-UDT column %[1]s", c.Name, name)
	case t.Frozen:
		return 0, invalidf("Invalid operation "+form+" for frozen UDT column %[1]s", c.Name, name)
	}
	for i, f := range t.Fields {
		if f == name {
			return i, nil
		}
	}
	return 0, invalidf("UDT column %s does not have a field named %s", c.Name, name)
}

// compileDeletion compiles one column of a DELETE: the column, one
// element (m[k], l[i], s[e]) or one UDT field.
func (e *Engine) compileDeletion(c *store.Column, d cql.DeleteTarget, b *binder) (cellAssign, error) {
	ca := cellAssign{col: c, op: opDelete, val: constFn(nil)}
	t := c.Type
	var err error
	switch {
	case d.Field != "":
		if t.Kind != types.UDT {
			return ca, invalidf("Invalid field deletion operation for non-UDT column %s", c.Name)
		}
		if t.Frozen {
			return ca, invalidf("Frozen UDT column %s does not support field deletion", c.Name)
		}
		i, err := udtField(c, d.Field, "(DELETE %[1]s.%[2]s)")
		if err != nil {
			return ca, err
		}
		ca.op, ca.field = opDelKey, i
	case d.Key != nil:
		switch {
		case !t.IsCollection():
			return ca, invalidf("Invalid deletion operation for non collection column %s", c.Name)
		case t.Frozen:
			return ca, invalidf("Invalid deletion operation for frozen collection column %s", c.Name)
		case t.Kind == types.List:
			ca.op = opDelIndex
			ca.key, err = e.compileTerm(d.Key, typInt, "idx("+c.Name+")", b)
		default:
			ca.op = opDelKey
			ca.key, err = e.compileTerm(d.Key, t.Elems[0], "key("+c.Name+")", b)
		}
	}
	return ca, err
}

// pendingWrite is an evaluated cellAssign, waiting for the row it applies
// to (element operations on lists read the row).
type pendingWrite struct {
	col   *store.Column
	op    cellOp
	value []byte
	key   []byte
	field int
}

func (ca *cellAssign) eval(x *execCtx) (pendingWrite, bool, error) {
	pw := pendingWrite{col: ca.col, op: ca.op, field: ca.field}
	v, unset, err := ca.val(x)
	if err != nil || unset {
		return pw, unset, err
	}
	pw.value = v
	if ca.key != nil {
		k, unset, err := ca.key(x)
		if err != nil {
			return pw, false, err
		}
		if unset {
			return pw, false, invalidf("Invalid unset value for %s element", ca.col.Name)
		}
		if k == nil {
			if ca.col.Type.Kind == types.Map {
				return pw, false, invalidf("Invalid null map key")
			}
			return pw, false, invalidf("Invalid null value for %s element", ca.col.Name)
		}
		pw.key = k
	}
	return pw, false, nil
}

// resolveCell turns a pending write into the concrete cells it writes in
// the row (key, ck) at timestamp ts, reading the row for list index and
// list value-removal operations as ScyllaDB does (before the statement).
func resolveCell(x *execCtx, t *store.Table, pw pendingWrite, key []byte, ck [][]byte, ts, now int64) (store.CellWrite, error) {
	c := pw.col
	cw := store.CellWrite{Slot: c.Slot}
	if !c.Type.MultiCell() {
		cw.Value = pw.value
		return cw, nil
	}
	ct := c.Type
	w := &store.CollWrite{}
	cw.Coll = w
	switch pw.op {
	case opSet:
		w.HasTomb, w.Tomb = true, ts-1
		elems, err := store.ElemsOf(ct, pw.value, func() []byte { return x.lists.Append(ts) })
		if err != nil {
			return cw, invalidf("Invalid value for %s: %v", c.Name, err)
		}
		w.Elems = elems
	case opDelete:
		w.HasTomb, w.Tomb = true, ts
	case opAppend:
		elems, err := store.ElemsOf(ct, pw.value, func() []byte { return x.lists.Append(ts) })
		if err != nil {
			return cw, invalidf("Invalid value for %s: %v", c.Name, err)
		}
		w.Elems = elems
	case opPrepend:
		vals, err := types.UnpackCollection(pw.value)
		if err != nil {
			return cw, invalidf("Invalid value for %s: %v", c.Name, err)
		}
		for i, k := range x.lists.Prepend(ts, len(vals)) {
			w.Elems = append(w.Elems, store.ElemWrite{Key: k, Value: vals[i]})
		}
	case opRemove:
		vals, err := types.UnpackCollection(pw.value)
		if err != nil {
			return cw, invalidf("Invalid value for %s: %v", c.Name, err)
		}
		keys := vals
		if ct.Kind == types.List {
			keys = t.ListKeysOf(key, ck, c.Slot, vals, now)
		}
		for _, k := range keys {
			w.Elems = append(w.Elems, store.ElemWrite{Key: k, Dead: true})
		}
	case opSetIndex, opDelIndex:
		idx := int(int32(binary.BigEndian.Uint32(pw.key)))
		k, err := t.ListIndexKey(key, ck, c.Slot, idx, now)
		if err != nil {
			if errors.Is(err, store.ErrListIndex) {
				return cw, invalidf("%s", strings.TrimPrefix(err.Error(), store.ErrListIndex.Error()+": "))
			}
			return cw, err
		}
		w.Elems = []store.ElemWrite{{Key: k, Value: pw.value, Dead: pw.op == opDelIndex || pw.value == nil}}
	case opSetKey, opDelKey:
		k := pw.key
		if ct.Kind == types.UDT {
			k = store.FieldKey(pw.field)
		}
		w.Elems = []store.ElemWrite{{Key: k, Value: pw.value, Dead: pw.op == opDelKey || pw.value == nil}}
	}
	return cw, nil
}
