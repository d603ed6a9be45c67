package engine

import (
	"encoding/json"
	"sort"
	"strconv"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// createIndex runs CREATE INDEX: a global index on one column (its value,
// or a collection's keys, values or entries, or a frozen collection's full
// value), or a local index ((pk), column) queried within a partition.
// ScyllaDB's vector and custom index classes are refused.
func (e *Engine) createIndex(ksName string, s *cql.CreateIndexStmt) ([]SchemaChange, error) {
	t, err := e.resolveTable(ksName, s.Table)
	if err != nil {
		return nil, err
	}
	if t.Base != nil && t.Base.CDCLog == t {
		return nil, invalidf("Secondary indexes are not supported on CDC log tables")
	}
	if s.Custom || s.Using != "" {
		return nil, invalidf("Custom index classes are not supported by scyllaemu (USING '%s')", s.Using)
	}
	if len(s.Properties) > 0 {
		return nil, invalidf("Index options are not supported by scyllaemu")
	}
	if len(s.Targets) != 1 {
		return nil, invalidf("Only CUSTOM indexes support multiple columns")
	}
	tg := s.Targets[0]
	c := t.Column(tg.Column)
	if c == nil {
		return nil, invalidf("No column definition found for column %s", tg.Column)
	}
	ix := &store.Index{Column: c}
	switch tg.Kind {
	case "", "values":
		ix.Kind, ix.Target = store.IndexValues, c.Name
		if tg.Kind == "values" {
			if !c.Type.MultiCell() || c.Type.Kind == types.UDT {
				return nil, invalidf("Cannot create index on values() of column %s: it is not a non-frozen collection", c.Name)
			}
			ix.Target = "values(" + c.Name + ")"
		} else if c.Type.MultiCell() && c.Type.Kind != types.UDT {
			ix.Target = "values(" + c.Name + ")"
		}
	case "keys", "entries":
		if c.Type.Kind != types.Map || !c.Type.MultiCell() {
			return nil, invalidf("Cannot create index on %s of column %s with non-map type", tg.Kind, c.Name)
		}
		ix.Kind, ix.Target = store.IndexKeys, "keys("+c.Name+")"
		if tg.Kind == "entries" {
			ix.Kind, ix.Target = store.IndexEntries, "entries("+c.Name+")"
		}
	case "full":
		if !c.Type.IsCollection() || !c.Type.Frozen {
			return nil, invalidf("full() indexes can only be created on frozen collections")
		}
		ix.Kind, ix.Target = store.IndexFull, "full("+c.Name+")"
	}
	if c.Type.Kind == types.UDT && c.Type.MultiCell() {
		return nil, invalidf("Secondary indexes are not supported on non-frozen UDTs (column %s)", c.Name)
	}
	if c.Type.Kind == types.Duration {
		return nil, invalidf("Secondary indexes are not supported on duration columns (column %s)", c.Name)
	}
	if c.Kind == store.PartitionKey && len(t.PK) == 1 && s.Partition == nil {
		return nil, invalidf("Cannot create secondary index on the only partition key column %s", c.Name)
	}
	if s.Partition != nil {
		if len(s.Partition) != len(t.PK) {
			return nil, invalidf("Local index definition must contain full partition key only. Redundant column: %s", tg.Column)
		}
		for i, n := range s.Partition {
			if n != t.PK[i].Name {
				return nil, invalidf("Local index definition must contain full partition key only. Redundant column: %s", n)
			}
		}
		if c.IsKey() && c.Kind == store.PartitionKey {
			return nil, invalidf("Cannot create a local index on a partition key column %s", c.Name)
		}
		ix.Local = t.PK
		pk := make([]string, len(t.PK))
		for i, p := range t.PK {
			pk[i] = p.Name
		}
		target, _ := json.Marshal(map[string][]string{"pk": pk, "ck": {ix.Target}})
		ix.Target = string(target)
	}
	ks := e.st.Keyspaces[t.Keyspace]
	name := s.Name
	if name == "" {
		name = availableIndexName(ks, t.Name+"_"+c.Name+"_idx")
	}
	if !validName.MatchString(name) {
		return nil, invalidf("Index name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore characters (got \"%s\")", name)
	}
	for _, other := range sortedTables(ks) {
		for _, ox := range other.Indexes {
			if ox.Name == name {
				if s.IfNotExists {
					return nil, nil
				}
				return nil, &Error{Code: wire.Invalid, Msg: "Index " + name + " already exists"}
			}
			if other == t && ox.Target == ix.Target {
				if s.IfNotExists {
					return nil, nil
				}
				return nil, invalidf("Index %s is a duplicate of existing index %s", name, ox.Name)
			}
		}
	}
	if ks.Tables[name+"_index"] != nil {
		return nil, invalidf("Index %s cannot be created, because table %s_index already exists", name, name)
	}
	ix.Name = name
	t.AddIndex(ix, e.nowMicros())
	e.writeIndexRows(t)
	return []SchemaChange{{Change: "UPDATED", Target: "TABLE", Keyspace: t.Keyspace, Name: t.Name}}, nil
}

// availableIndexName is ScyllaDB's name for an unnamed index: base, or
// base_1, base_2... when an index of the keyspace or a table (the index's
// view, base_index) has it already. Two indexes on one column (keys and
// entries of a map) thus both get a name.
func availableIndexName(ks *store.Keyspace, base string) string {
	taken := map[string]bool{}
	for _, t := range ks.Tables {
		for _, ix := range t.Indexes {
			taken[ix.Name] = true
		}
	}
	name := base
	for i := 1; taken[name] || ks.Tables[name+"_index"] != nil; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	return name
}

func (e *Engine) dropIndex(ksName string, s *cql.DropIndexStmt) ([]SchemaChange, error) {
	if isSystemKeyspace(ksName) {
		return nil, unauthorizedf("%s keyspace is not user-modifiable.", ksName)
	}
	ks := e.st.Keyspaces[ksName]
	if ks != nil {
		for _, t := range sortedTables(ks) {
			for _, ix := range t.Indexes {
				if ix.Name == s.Name.Name {
					t.DropIndex(ix.Name)
					e.deleteIndexRow(t, ix.Name)
					return []SchemaChange{{Change: "UPDATED", Target: "TABLE", Keyspace: t.Keyspace, Name: t.Name}}, nil
				}
			}
		}
	}
	if s.IfExists {
		return nil, nil
	}
	if ks == nil {
		return nil, noKeyspace(ksName)
	}
	return nil, invalidf("Index '%s' could not be found in any of the tables of keyspace '%s'", s.Name.Name, ksName)
}

// writeIndexRows describes a table's indexes in system_schema.indexes.
func (e *Engine) writeIndexRows(t *store.Table) {
	tbl := e.st.Table("system_schema", "indexes")
	for _, ix := range t.Indexes {
		e.put(tbl, map[string][]byte{
			"keyspace_name": []byte(t.Keyspace),
			"table_name":    []byte(t.Name),
			"index_name":    []byte(ix.Name),
			"kind":          []byte("COMPOSITES"),
			"options":       textMap(map[string]string{"target": ix.Target}),
		})
	}
}

func (e *Engine) deleteIndexRow(t *store.Table, name string) {
	tbl := e.st.Table("system_schema", "indexes")
	b := store.Bound{Prefix: [][]byte{[]byte(t.Name), []byte(name)}, Inclusive: true}
	m := &store.Mutation{Table: tbl, Key: types.PartitionKeyBytes([][]byte{[]byte(t.Keyspace)}), TS: e.writeTimestamp(),
		Ranges: []store.RangeTombstone{{Start: b, End: b}}}
	tbl.Apply(m, e.nowMicros())
}

// chooseIndex picks the index that serves a query whose WHERE clause needs
// filtering: an equality (or CONTAINS / CONTAINS KEY) on an indexed column,
// with nothing else to filter: ScyllaDB still demands ALLOW FILTERING for
// any other restriction. A local index also needs the whole partition key
// restricted. It returns the index and the restriction it serves.
func chooseIndex(t *store.Table, w *where) (*store.Index, *filter) {
	cands := make([]*filter, 0, len(w.filters)+1)
	for i := range w.filters {
		cands = append(cands, &w.filters[i])
	}
	// Without the partition key, an equality on the first clustering
	// column is a slice ScyllaDB cannot use, but an index on it can.
	if !w.pkRestricted && w.ckPrefix == 1 && w.ck[0].eq != nil {
		cands = append(cands, &filter{col: w.ck[0].col, op: cql.OpEq, fn: w.ck[0].eq})
	}
	for _, f := range cands {
		for _, ix := range t.Indexes {
			if ix.Column != f.col || !indexServes(ix, f.op) {
				continue
			}
			if ix.Local != nil && !w.pkRestricted {
				continue
			}
			others := len(w.tuples)
			for j := range w.filters {
				if &w.filters[j] != f && !(ix.Local == nil && w.filters[j].col.Kind == store.PartitionKey && w.pkRestricted) {
					others++
				}
			}
			if w.ckPrefix > 0 && f.col.Kind != store.Clustering {
				others++
			}
			if others > 0 {
				continue
			}
			return ix, f
		}
	}
	return nil, nil
}

func indexServes(ix *store.Index, op cql.RelOp) bool {
	switch ix.Kind {
	case store.IndexKeys:
		return op == cql.OpContainsKey
	case store.IndexValues:
		if ix.Column.Type.MultiCell() {
			return op == cql.OpContains
		}
		return op == cql.OpEq
	case store.IndexFull:
		return op == cql.OpEq
	}
	return false
}

// indexCandidates returns the partitions a global index lookup visits, in
// token order.
func indexCandidates(x *execCtx, t *store.Table, ix *store.Index, f *filter) ([][]byte, error) {
	v, unset, err := f.fn(x)
	if err != nil {
		return nil, err
	}
	if unset || v == nil {
		return nil, invalidf("Unsupported null value for indexed column %s", f.col.Name)
	}
	keys := ix.Candidates(v)
	sort.Slice(keys, func(i, j int) bool {
		ti, tj := t.Token(keys[i]), t.Token(keys[j])
		if ti != tj {
			return ti < tj
		}
		return string(keys[i]) < string(keys[j])
	})
	return keys, nil
}
