package engine

import (
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// evaluated is one statement of a write or batch, bound and turned into
// mutations, with the rows an LWT condition or result refers to.
type evaluated struct {
	it   batchItem
	muts []*store.Mutation
	refs []rowRef
}

func refsOf(evs []evaluated) []rowRef {
	var out []rowRef
	for _, ev := range evs {
		out = append(out, ev.refs...)
	}
	return out
}

// checkCASScope enforces ScyllaDB's rule that a conditional batch touches
// one partition of one table.
func checkCASScope(t *store.Table, refs []rowRef) error {
	var key []byte
	for _, r := range refs {
		if r.t != t {
			return invalidf("BATCH with conditions cannot span multiple tables")
		}
		if key != nil && string(r.key) != string(key) {
			return invalidf("BATCH with conditions cannot span multiple partitions")
		}
		key = r.key
	}
	return nil
}

// buildCASMeta fixes the result columns of a conditional statement. Like
// ScyllaDB (and unlike Cassandra), they do not depend on the outcome: the
// prepared metadata announces them and every execution returns them.
func (p *writePlan) buildCASMeta() {
	if !p.conditional() {
		return
	}
	if p.ifExists || p.ifNotExists {
		p.casCols = p.t.Columns
	} else {
		want := map[*store.Column]bool{}
		for _, c := range p.conds {
			want[c.col] = true
		}
		for _, c := range p.t.Columns {
			if want[c] {
				p.casCols = append(p.casCols, c)
			}
		}
	}
	p.result = casColumns(p.t, p.casCols)
}

func casColumns(t *store.Table, cols []*store.Column) []Column {
	out := make([]Column, 0, 1+len(cols))
	out = append(out, Column{Keyspace: t.Keyspace, Table: t.Name, Name: "[applied]", Type: typBoolean})
	for _, c := range cols {
		out = append(out, Column{Keyspace: t.Keyspace, Table: t.Name, Name: c.Name, Type: c.Type})
	}
	return out
}

// batchCASCols are the result columns of a conditional batch: the primary
// key and every column any statement's result would show, in schema order.
func batchCASCols(plans []*writePlan) []*store.Column {
	t := plans[0].t
	want := map[*store.Column]bool{}
	for _, c := range t.PK {
		want[c] = true
	}
	for _, c := range t.CK {
		want[c] = true
	}
	for _, p := range plans {
		for _, c := range p.casCols {
			want[c] = true
		}
	}
	var out []*store.Column
	for _, c := range t.Columns {
		if want[c] {
			out = append(out, c)
		}
	}
	return out
}

// oldRow is the row an LWT statement found before it ran: nil src when
// there was none, in which case ScyllaDB shows every column as null.
type oldRow struct {
	src *rowSource
	// pk is shown even without a row by a statement on the static row,
	// as ScyllaDB does.
	pk [][]byte
}

func (o oldRow) value(c *store.Column) []byte {
	if o.src == nil {
		if c.Kind == store.PartitionKey && o.pk != nil {
			return o.pk[c.Position]
		}
		return nil
	}
	return o.src.value(c)
}

// casResult is ScyllaDB's LWT result: one row per statement, in statement
// order, each [applied] followed by the statement's old row, whether the
// condition held or not.
func casResult(items []batchItem, olds []oldRow, applied, batch bool) *Result {
	t := items[0].plan.t
	var cols []*store.Column
	if !batch {
		cols = items[0].plan.casCols
	} else {
		plans := make([]*writePlan, len(items))
		for i, it := range items {
			plans[i] = it.plan
		}
		cols = batchCASCols(plans)
	}
	rows := make([][][]byte, len(olds))
	for i, old := range olds {
		row := make([][]byte, 0, 1+len(cols))
		row = append(row, boolBytes(applied))
		for _, c := range cols {
			row = append(row, old.value(c))
		}
		rows[i] = row
	}
	return &Result{Kind: ResultRows, Rows: &Rows{Columns: casColumns(t, cols), Data: rows}}
}

// rowRef names the row an LWT checks.
type rowRef struct {
	t   *store.Table
	key []byte
	ck  [][]byte // nil: the static row / partition
}

// lookup finds the row a statement's conditions are checked against, the
// way ScyllaDB's cas_request does: the row with the statement's clustering
// key; failing that, unless the statement is IF [NOT] EXISTS, the
// partition's static row (so `UPDATE ... IF s = 1` can create a row when
// only the static column matches). A statement without a clustering key
// reads the static row.
func (r rowRef) lookup(now int64, exact bool) oldRow {
	pk, _ := types.SplitPartitionKey(r.key, len(r.t.PK))
	p := r.t.Partition(r.key)
	if r.ck == nil {
		// A statement on the static row: the row exists only if a static
		// cell is live (ScyllaDB: "to materialize a static row, one must
		// explicitly assign at least one static cell").
		if p != nil && r.t.StaticLive(p, now) {
			return oldRow{src: &rowSource{t: r.t, p: p, pk: pk, now: now}}
		}
		return oldRow{pk: pk}
	}
	if p == nil {
		return oldRow{}
	}
	src := &rowSource{t: r.t, p: p, pk: pk, now: now}
	if row := p.Row(r.ck); row != nil && r.t.RowLive(p, row, now) {
		src.r = row
		return oldRow{src: src}
	}
	if !exact && len(r.ck) > 0 && r.t.StaticLive(p, now) {
		return oldRow{src: src}
	}
	return oldRow{}
}

// checkConditions evaluates an LWT's IF clause against the current row and
// returns that row for the result.
func (p *writePlan) checkConditions(x *execCtx, ref rowRef, now int64) (bool, oldRow, error) {
	old := ref.lookup(now, p.ifExists || p.ifNotExists)
	if !p.conditional() {
		return true, old, nil
	}
	applied := true
	switch {
	case p.ifNotExists:
		applied = old.src == nil
	case p.ifExists:
		applied = old.src != nil
	}
	for _, c := range p.conds {
		cur := old.value(c.col)
		if c.field > 0 && cur != nil {
			cur = fieldOf(c.col.Type, cur, c.field-1)
		}
		if c.key != nil && cur != nil {
			cur = elementOf(c.col.Type, cur, c.key, x)
		}
		ok, err := c.holds(x, cur)
		if err != nil {
			return false, old, err
		}
		if !ok {
			applied = false
		}
	}
	return applied, old, nil
}
