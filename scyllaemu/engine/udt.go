package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// parseType parses type text in keyspace ks, resolving user types there
// with ScyllaDB's rules and messages. The caller holds the store lock.
func (e *Engine) parseType(ks, text string) (*types.Type, error) {
	var foreign string
	lookup := func(k, name string) *types.Type {
		if k == "" {
			k = ks
		}
		if k != ks {
			foreign = k
		}
		kd := e.st.Keyspaces[k]
		if kd == nil {
			return nil
		}
		return kd.Types[name]
	}
	t, err := types.ParseWith(text, lookup)
	if foreign != "" {
		return nil, invalidf("Statement on keyspace %s cannot refer to a user type in keyspace %s; user types can only be used in the keyspace they are defined in", ks, foreign)
	}
	if err != nil {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "Unknown type "); ok && !strings.Contains(name, ".") && !isNativeName(name) {
			msg = "Unknown type " + ks + "." + name
		}
		return nil, invalidf("%s", msg)
	}
	return t, nil
}

func isNativeName(name string) bool {
	_, err := types.Parse(name)
	return err == nil
}

// udtPlan runs CREATE / ALTER / DROP TYPE under the schema lock.
func (e *Engine) execTypeDDL(stmt cql.Statement, sessKS string) ([]SchemaChange, error) {
	switch s := stmt.(type) {
	case *cql.CreateTypeStmt:
		return e.createType(qualify(s.Name, sessKS), s)
	case *cql.DropTypeStmt:
		return e.dropType(qualify(s.Name, sessKS), s)
	case *cql.AlterTypeStmt:
		return e.alterType(qualify(s.Name, sessKS), s)
	}
	return nil, invalidf("unsupported schema statement")
}

func (e *Engine) typeKeyspace(ks string) (*store.Keyspace, error) {
	if ks == "" {
		return nil, invalidf("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
	}
	if isSystemKeyspace(ks) {
		return nil, unauthorizedf("%s keyspace is not user-modifiable.", ks)
	}
	k := e.st.Keyspaces[ks]
	if k == nil {
		return nil, invalidf("Cannot add type in unknown keyspace %s", ks)
	}
	if k.Types == nil {
		k.Types = map[string]*types.Type{}
	}
	return k, nil
}

func (e *Engine) fieldTypes(ks string, fields []cql.ColumnDef) ([]*types.Type, error) {
	out := make([]*types.Type, len(fields))
	for i, f := range fields {
		ft, err := e.parseType(ks, f.Type)
		if err != nil {
			return nil, err
		}
		if ft.Kind == types.Counter {
			return nil, invalidf("A user type cannot contain counters")
		}
		if ft.Kind == types.UDT && !ft.Frozen {
			return nil, invalidf("A user type cannot contain non-frozen user type fields")
		}
		out[i] = ft
	}
	return out, nil
}

func (e *Engine) createType(ks string, s *cql.CreateTypeStmt) ([]SchemaChange, error) {
	k, err := e.typeKeyspace(ks)
	if err != nil {
		return nil, err
	}
	if k.Types[s.Name.Name] != nil {
		if s.IfNotExists {
			return nil, nil
		}
		return nil, invalidf("A user type of name %s.%s already exists", ks, s.Name.Name)
	}
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		for _, prev := range names[:i] {
			if prev == f.Name {
				return nil, invalidf("Duplicate field name %s in type %s", f.Name, s.Name.Name)
			}
		}
		names[i] = f.Name
	}
	fts, err := e.fieldTypes(ks, s.Fields)
	if err != nil {
		return nil, err
	}
	k.Types[s.Name.Name] = types.UDTOf(ks, s.Name.Name, names, fts)
	e.writeTypeRow(k.Types[s.Name.Name])
	return []SchemaChange{{Change: "CREATED", Target: "TYPE", Keyspace: ks, Name: s.Name.Name}}, nil
}

// usesType reports whether t refers to user type ks.name anywhere.
func usesType(t *types.Type, ks, name string) bool {
	if t == nil {
		return false
	}
	if t.Kind == types.UDT && t.Keyspace == ks && t.Name == name {
		return true
	}
	for _, el := range t.Elems {
		if usesType(el, ks, name) {
			return true
		}
	}
	return false
}

func (e *Engine) dropType(ks string, s *cql.DropTypeStmt) ([]SchemaChange, error) {
	if isSystemKeyspace(ks) {
		return nil, unauthorizedf("%s keyspace is not user-modifiable.", ks)
	}
	k := e.st.Keyspaces[ks]
	if k == nil || k.Types[s.Name.Name] == nil {
		if s.IfExists {
			return nil, nil
		}
		if k == nil {
			return nil, invalidf("Cannot drop type in unknown keyspace %s", ks)
		}
		return nil, invalidf("No user type named %s.%s exists.", ks, s.Name.Name)
	}
	for _, other := range sortedTypes(k) {
		if other.Name != s.Name.Name && usesType(other, ks, s.Name.Name) {
			return nil, invalidf("Cannot drop user type %s.%s as it is still used by user type %s", ks, s.Name.Name, other.Name)
		}
	}
	for _, t := range sortedTables(k) {
		for _, c := range t.Columns {
			if usesType(c.Type, ks, s.Name.Name) {
				return nil, invalidf("Cannot drop user type %s.%s as it is still used by table %s.%s", ks, s.Name.Name, ks, t.Name)
			}
		}
	}
	delete(k.Types, s.Name.Name)
	e.deleteTypeRow(ks, s.Name.Name)
	return []SchemaChange{{Change: "DROPPED", Target: "TYPE", Keyspace: ks, Name: s.Name.Name}}, nil
}

func (e *Engine) alterType(ks string, s *cql.AlterTypeStmt) ([]SchemaChange, error) {
	if isSystemKeyspace(ks) {
		return nil, unauthorizedf("%s keyspace is not user-modifiable.", ks)
	}
	k := e.st.Keyspaces[ks]
	if k == nil {
		return nil, invalidf("Keyspace %s does not exist", ks)
	}
	old := k.Types[s.Name.Name]
	if old == nil {
		return nil, invalidf("No user type named %s.%s exists.", ks, s.Name.Name)
	}
	names := append([]string(nil), old.Fields...)
	fts := append([]*types.Type(nil), old.Elems...)
	switch {
	case s.AlterField != nil:
		return nil, invalidf("Altering of types is not allowed")
	case s.Add != nil:
		for _, n := range names {
			if n == s.Add.Name {
				return nil, invalidf("Cannot add new field %s to type %s.%s: a field of the same name already exists", s.Add.Name, ks, old.Name)
			}
		}
		ft, err := e.fieldTypes(ks, []cql.ColumnDef{*s.Add})
		if err != nil {
			return nil, err
		}
		if usesType(ft[0], ks, old.Name) {
			return nil, invalidf("Cannot add new field %s of type %s to type %s.%s as this would create a circular reference", s.Add.Name, ft[0], ks, old.Name)
		}
		names, fts = append(names, s.Add.Name), append(fts, ft[0])
	default:
		for _, r := range s.Renames {
			i := -1
			for j, n := range names {
				if n == r[0] {
					i = j
				}
			}
			if i < 0 {
				return nil, invalidf("Unknown field %s in type %s.%s", r[0], ks, old.Name)
			}
			names[i] = r[1]
		}
		for i := range names {
			for j := i + 1; j < len(names); j++ {
				if names[i] == names[j] {
					return nil, invalidf("Duplicate field name %s in type %s", names[i], old.Name)
				}
			}
		}
	}
	nt := types.UDTOf(ks, old.Name, names, fts)
	k.Types[old.Name] = nt
	e.writeTypeRow(nt)
	changes := []SchemaChange{{Change: "UPDATED", Target: "TYPE", Keyspace: ks, Name: old.Name}}
	// Types and tables that refer to it see the new definition.
	for _, other := range sortedTypes(k) {
		if other.Name != old.Name && usesType(other, ks, old.Name) {
			k.Types[other.Name] = replaceUDT(other, nt)
			e.writeTypeRow(k.Types[other.Name])
			changes = append(changes, SchemaChange{Change: "UPDATED", Target: "TYPE", Keyspace: ks, Name: other.Name})
		}
	}
	for _, t := range sortedTables(k) {
		touched := false
		for _, c := range t.Columns {
			if usesType(c.Type, ks, old.Name) {
				c.Type = replaceUDT(c.Type, nt)
				touched = true
			}
		}
		if touched {
			e.writeTableRows(t)
			changes = append(changes, SchemaChange{Change: "UPDATED", Target: "TABLE", Keyspace: ks, Name: t.Name})
		}
	}
	return changes, nil
}

// replaceUDT returns t with every use of nt's type replaced by nt, keeping
// each use's frozenness.
func replaceUDT(t *types.Type, nt *types.Type) *types.Type {
	if t.Kind == types.UDT && t.Keyspace == nt.Keyspace && t.Name == nt.Name {
		cp := *nt
		cp.Frozen = t.Frozen
		return &cp
	}
	if len(t.Elems) == 0 {
		return t
	}
	cp := *t
	cp.Elems = make([]*types.Type, len(t.Elems))
	for i, el := range t.Elems {
		cp.Elems[i] = replaceUDT(el, nt)
	}
	return &cp
}

func sortedTypes(k *store.Keyspace) []*types.Type {
	out := make([]*types.Type, 0, len(k.Types))
	for _, t := range k.Types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedTables(k *store.Keyspace) []*store.Table {
	out := make([]*store.Table, 0, len(k.Tables))
	for _, t := range k.Tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var textListType = &types.Type{Kind: types.List, Elems: []*types.Type{{Kind: types.Varchar}}, Frozen: true}

func (e *Engine) writeTypeRow(t *types.Type) {
	tbl := e.st.Table("system_schema", "types")
	names := make([][]byte, len(t.Fields))
	fts := make([][]byte, len(t.Elems))
	for i := range t.Fields {
		names[i] = []byte(t.Fields[i])
		fts[i] = []byte(t.Elems[i].String())
	}
	e.put(tbl, map[string][]byte{
		"keyspace_name": []byte(t.Keyspace),
		"type_name":     []byte(t.Name),
		"field_names":   mustPack(textListType, names),
		"field_types":   mustPack(textListType, fts),
	})
}

func (e *Engine) deleteTypeRow(ks, name string) {
	tbl := e.st.Table("system_schema", "types")
	b := store.Bound{Prefix: [][]byte{[]byte(name)}, Inclusive: true}
	m := &store.Mutation{Table: tbl, Key: types.PartitionKeyBytes([][]byte{[]byte(ks)}), TS: e.writeTimestamp(),
		Ranges: []store.RangeTombstone{{Start: b, End: b}}}
	tbl.Apply(m, e.nowMicros())
}

// compileUDTValue compiles a UDT literal, `{field: value, ...}` or the
// tuple form `(value, ...)`, into a serialized UDT value; fields left out
// are null.
func (e *Engine) compileUDTValue(fields []string, vals []cql.Term, typ *types.Type, name string, b *binder) (termFn, error) {
	fns := make([]termFn, len(typ.Elems))
	if fields == nil {
		if len(vals) > len(typ.Elems) {
			return nil, invalidf("Invalid tuple literal for %s: too many elements. Type %s expects %d but got %d", name, typ, len(typ.Elems), len(vals))
		}
		for i, v := range vals {
			fn, err := e.compileTerm(v, typ.Elems[i], name+"."+typ.Fields[i], b)
			if err != nil {
				return nil, err
			}
			fns[i] = fn
		}
	} else {
		for i, f := range fields {
			idx := -1
			for j, tf := range typ.Fields {
				if tf == f {
					idx = j
				}
			}
			if idx < 0 {
				return nil, invalidf("Unknown field '%s' in value of user defined type %s", f, typ.Name)
			}
			if fns[idx] != nil {
				return nil, invalidf("Invalid user type literal for %s: field %s is specified twice", name, f)
			}
			fn, err := e.compileTerm(vals[i], typ.Elems[idx], name+"."+f, b)
			if err != nil {
				return nil, err
			}
			fns[idx] = fn
		}
	}
	return func(x *execCtx) ([]byte, bool, error) {
		out := make([][]byte, len(fns))
		for i, fn := range fns {
			if fn == nil {
				continue
			}
			v, unset, err := fn(x)
			if err != nil {
				return nil, false, err
			}
			if unset {
				return nil, false, invalidf("Invalid unset value for field '%s' of user defined type %s", typ.Fields[i], typ.Name)
			}
			out[i] = v
		}
		return types.PackTuple(out), false, nil
	}, nil
}

// fieldOf returns field i of a serialized UDT value, nil when null.
func fieldOf(t *types.Type, v []byte, i int) []byte {
	fields, err := types.UnpackTuple(t, v)
	if err != nil || i >= len(fields) {
		return nil
	}
	return fields[i]
}

func fieldIndex(t *types.Type, name string) (int, error) {
	for i, f := range t.Fields {
		if f == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("field %s not found", name)
}
