package engine

import (
	"strings"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// compile resolves a parsed statement against the current schema.
func (e *Engine) compile(ks string, parsed *cql.Parsed) (plan, error) {
	switch s := parsed.Stmt.(type) {
	case *cql.UseStmt:
		return &usePlan{keyspace: s.Keyspace}, nil
	case *cql.CreateKeyspaceStmt, *cql.DropKeyspaceStmt, *cql.CreateTableStmt,
		*cql.DropTableStmt, *cql.AlterTableStmt, *cql.TruncateStmt,
		*cql.CreateTypeStmt, *cql.DropTypeStmt, *cql.AlterTypeStmt,
		*cql.CreateIndexStmt, *cql.DropIndexStmt:
		return &ddlPlan{stmt: s, src: parsed.Src, keyspace: ks}, nil
	case *cql.UnsupportedStmt:
		return nil, invalidf("%s are not supported by scyllaemu", s.Feature)
	case *cql.DescribeStmt:
		// gocql treats a syntax error as "DESCRIBE unsupported" and builds
		// its schema text client-side, which is all it needs.
		return nil, &Error{Code: wire.SyntaxError, Msg: "DESCRIBE statements are not supported by scyllaemu"}
	}
	e.st.RLock()
	defer e.st.RUnlock()
	switch s := parsed.Stmt.(type) {
	case *cql.SelectStmt:
		return e.compileSelect(ks, parsed, s)
	case *cql.InsertStmt, *cql.UpdateStmt, *cql.DeleteStmt:
		b := newBinder(parsed, "", "")
		p, err := e.compileWrite(ks, b, s)
		if err != nil {
			return nil, err
		}
		p.bind = b.complete()
		return p, nil
	case *cql.BatchStmt:
		return e.compileTextBatch(ks, parsed, s)
	}
	return nil, invalidf("Unsupported statement")
}

func (e *Engine) compileWrite(ks string, b *binder, s cql.Statement) (*writePlan, error) {
	switch s := s.(type) {
	case *cql.InsertStmt:
		return e.compileInsert(ks, b, s)
	case *cql.UpdateStmt:
		return e.compileUpdate(ks, b, s)
	case *cql.DeleteStmt:
		return e.compileDelete(ks, b, s)
	}
	return nil, invalidf("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.")
}

// textBatchPlan is a BEGIN BATCH ... APPLY BATCH query: its markers are
// numbered across all child statements.
type textBatchPlan struct {
	planMeta
	items []*writePlan
	ts    termFn
}

func (e *Engine) compileTextBatch(ks string, parsed *cql.Parsed, s *cql.BatchStmt) (plan, error) {
	if s.Type == cql.BatchCounter {
		return nil, invalidf("Counter batches are not supported by scyllaemu")
	}
	b := newBinder(parsed, "", "")
	p := &textBatchPlan{}
	if s.Using.TTL != nil {
		return nil, invalidf("Global TTL on the BATCH statement is not supported.")
	}
	if s.Using.Timestamp != nil {
		fn, err := e.compileTerm(s.Using.Timestamp, typBigint, "[timestamp]", b)
		if err != nil {
			return nil, err
		}
		p.ts = fn
	}
	if err := e.compileTimeout(s.Using.Timeout, b); err != nil {
		return nil, err
	}
	for _, child := range s.Statements {
		wp, err := e.compileWrite(ks, b, child)
		if err != nil {
			return nil, err
		}
		if p.ts != nil && wp.ts != nil {
			return nil, invalidf("Timestamp must be set either on BATCH or individual statements")
		}
		p.items = append(p.items, wp)
	}
	for _, wp := range p.items {
		if wp.conditional() {
			for _, other := range p.items {
				if other.t != wp.t {
					return nil, invalidf("BATCH with conditions cannot span multiple tables")
				}
			}
			p.result = casColumns(p.items[0].t, batchCASCols(p.items))
			break
		}
	}
	p.bind = b.complete()
	return p, nil
}

func (p *textBatchPlan) exec(e *Engine, x *execCtx) (*Result, error) {
	params := x.params
	if v, set, err := evalInt(x, p.ts); err != nil {
		return nil, invalidf("Invalid null value of timestamp")
	} else if set {
		params.Timestamp, params.HasTimestamp = v, true
	}
	items := make([]batchItem, len(p.items))
	for i, wp := range p.items {
		items[i] = batchItem{plan: wp, binds: x.binds}
	}
	return e.execBatch(items, params, true)
}

type usePlan struct {
	planMeta
	keyspace string
}

func (p *usePlan) exec(e *Engine, x *execCtx) (*Result, error) {
	e.st.RLock()
	_, ok := e.st.Keyspaces[p.keyspace]
	e.st.RUnlock()
	if !ok {
		return nil, invalidf("Keyspace '%s' does not exist", p.keyspace)
	}
	x.sess.Keyspace = p.keyspace
	return &Result{Kind: ResultSetKeyspace, Keyspace: p.keyspace}, nil
}

// resolveTable finds a table; the caller holds at least the read lock.
func (e *Engine) resolveTable(sessKS string, name cql.TableName) (*store.Table, error) {
	ks := name.Keyspace
	if ks == "" {
		ks = sessKS
	}
	if ks == "" {
		return nil, invalidf("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
	}
	k := e.st.Keyspaces[ks]
	if k == nil {
		return nil, noKeyspace(ks)
	}
	t := k.Tables[name.Name]
	if t == nil {
		return nil, noTable(ks, name.Name)
	}
	return t, nil
}

// resolveWritable is resolveTable for DML, which system keyspaces refuse.
func (e *Engine) resolveWritable(sessKS string, name cql.TableName) (*store.Table, error) {
	t, err := e.resolveTable(sessKS, name)
	if err != nil {
		return nil, err
	}
	if isSystemKeyspace(t.Keyspace) {
		return nil, unauthorizedf("%s keyspace is not user-modifiable.", t.Keyspace)
	}
	return t, nil
}

func isSystemKeyspace(ks string) bool {
	return ks == "system" || strings.HasPrefix(ks, "system_")
}
