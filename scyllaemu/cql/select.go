package cql

// selectStmt handles SELECT [JSON] [DISTINCT]. Both modifiers are also
// legal column names, and Cql.g resolves that with syntactic predicates
// (`SELECT json FROM t` selects a column). The equivalent here is to try
// taking as many leading modifier words as are present, then fewer, and
// keep the first reading that parses; only statements that actually start
// with these words ever pay for a second attempt.
func (p *parser) selectStmt() (Statement, error) {
	p.next() // SELECT
	mods := 0
	for mods < 2 {
		t := p.peekAt(mods)
		if !t.isKw("json") && !t.isKw("distinct") {
			break
		}
		mods++
	}
	start := p.save()
	var firstErr error
	for take := mods; take >= 0; take-- {
		p.restore(start)
		s, err := p.selectBody(take)
		if err == nil {
			return s, nil
		}
		if firstErr == nil {
			firstErr = err
		} else {
			firstErr = laterError(firstErr, err)
		}
	}
	return nil, firstErr
}

func (p *parser) selectBody(mods int) (*SelectStmt, error) {
	s := &SelectStmt{}
	for i := 0; i < mods; i++ {
		t := p.next()
		// Scylla only knows JSON before DISTINCT; the brief (and Cassandra
		// users) write DISTINCT JSON too, and either order is unambiguous.
		switch {
		case t.text == "json" && !s.JSON:
			s.JSON = true
		case t.text == "distinct" && !s.Distinct:
			s.Distinct = true
		default:
			return nil, p.noViable(t)
		}
	}
	var err error
	if p.acceptSym("*") {
		s.Star = true
	} else {
		for {
			sel, err := p.selector()
			if err != nil {
				return nil, err
			}
			s.Selectors = append(s.Selectors, sel)
			if !p.acceptSym(",") {
				break
			}
		}
	}
	if err := p.expectKw("from"); err != nil {
		return nil, err
	}
	if s.Table, err = p.tableName(); err != nil {
		return nil, err
	}
	if p.acceptKw("where") {
		if s.Where, err = p.where(); err != nil {
			return nil, err
		}
	}
	if p.isKw("group") && p.peekAt(1).isKw("by") {
		p.pos += 2
		if s.GroupBy, err = p.identList(); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("order") {
		if err := p.expectKw("by"); err != nil {
			return nil, err
		}
		for {
			var o Ordering
			if o.Column, err = p.ident(); err != nil {
				return nil, err
			}
			if p.acceptKw("desc") {
				o.Desc = true
			} else {
				p.acceptKw("asc")
			}
			s.OrderBy = append(s.OrderBy, o)
			if !p.acceptSym(",") {
				break
			}
		}
	}
	if p.isKw("per") && p.peekAt(1).isKw("partition") {
		p.pos += 2
		if err := p.expectKw("limit"); err != nil {
			return nil, err
		}
		if s.PerPartitionLimit, err = p.intValue(); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("limit") {
		if s.Limit, err = p.intValue(); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("allow") {
		if err := p.expectKw("filtering"); err != nil {
			return nil, err
		}
		s.AllowFiltering = true
	}
	if p.isKw("bypass") && p.peekAt(1).isKw("cache") {
		p.pos += 2
		s.BypassCache = true
	}
	// gocql appends " USING TIMEOUT <n>ms" to every system-table query, so
	// this sits last, where Cql.g has usingTimeoutServiceLevelClause.
	if err := p.using(&s.Using, useTimeout); err != nil {
		return nil, err
	}
	return s, nil
}

func (p *parser) selector() (Selector, error) {
	var s Selector
	var err error
	if s.Expr, err = p.unaliasedSelector(); err != nil {
		return s, err
	}
	for p.isSym(".") && p.peekAt(1).isIdent() {
		p.next()
		f, _ := p.ident()
		s.Expr = &SelectField{Expr: s.Expr, Field: f}
	}
	if p.isKw("as") && p.peekAt(1).isIdent() {
		p.next()
		s.Alias, _ = p.ident()
	}
	return s, nil
}

// unaliasedSelector is Cql.g's rule of the same name minus the `.field` and
// `[key]` suffixes and non-constant values, which the AST has no place for.
func (p *parser) unaliasedSelector() (SelectExpr, error) {
	t := p.peek()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer p.leave()

	switch {
	case t.isKw("cast") && p.peekAt(1).isSym("("):
		p.pos += 2
		inner, err := p.unaliasedSelector()
		if err != nil {
			return nil, err
		}
		if err := p.expectKw("as"); err != nil {
			return nil, err
		}
		typ, err := p.typeText()
		if err != nil {
			return nil, err
		}
		return &SelectCast{Expr: inner, Type: typ}, p.expectSym(")")
	case t.isKw("count") && p.peekAt(1).isSym("(") && p.peekAt(2).isSym("*"):
		p.pos += 3
		return &CountStar{}, p.expectSym(")")
	case p.isFuncCallAhead():
		f := &SelectFunc{Name: p.funcName()}
		p.next() // (
		if !p.acceptSym(")") {
			for {
				a, err := p.unaliasedSelector()
				if err != nil {
					return nil, err
				}
				f.Args = append(f.Args, a)
				if !p.acceptSym(",") {
					break
				}
			}
			if err := p.expectSym(")"); err != nil {
				return nil, err
			}
		}
		if f.Name == "count" && len(f.Args) == 1 {
			if c, ok := f.Args[0].(*Constant); ok && c.Kind == LitInteger && c.Text == "1" {
				return &CountStar{}, nil
			}
		}
		return f, nil
	case t.isIdent():
		p.next()
		return &ColumnRef{Name: t.text}, nil
	}
	c, err := p.constant()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// where parses `relation [AND relation]*`.
func (p *parser) where() ([]Relation, error) {
	var out []Relation
	for {
		r, err := p.relation()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		if !p.acceptKw("and") {
			return out, nil
		}
	}
}

// relation is Cql.g's relation, without function calls on the left-hand
// side other than token() and without SCYLLA_CLUSTERING_BOUND.
func (p *parser) relation() (Relation, error) {
	var r Relation
	t := p.peek()
	if err := p.enter(t); err != nil {
		return r, err
	}
	defer p.leave()

	var err error
	switch {
	case t.isKw("token"):
		p.next()
		r.Token = true
		if r.Columns, err = p.parenIdentList(); err != nil {
			return r, err
		}
		op, ok := relOp(p.peek())
		if !ok {
			return r, p.noViable(p.peek())
		}
		p.next()
		r.Op = op
		r.Value, err = p.term()
		return r, err

	case t.isSym("("):
		// `(a, b) op ...` or a parenthesised relation `(a = 1)`.
		if n := p.peekAt(2); !p.peekAt(1).isIdent() || !(n.isSym(",") || n.isSym(")")) {
			p.next()
			if r, err = p.relation(); err != nil {
				return r, err
			}
			return r, p.expectSym(")")
		}
		if r.Columns, err = p.parenIdentList(); err != nil {
			return r, err
		}
		return r, p.relationRHS(&r)

	case t.isIdent():
		p.next()
		r.Columns = []string{t.text}
		if p.acceptSym("[") {
			if r.Key, err = p.term(); err != nil {
				return r, err
			}
			if err := p.expectSym("]"); err != nil {
				return r, err
			}
		}
		return r, p.relationRHS(&r)
	}
	return r, p.noViable(t)
}

// relationRHS parses the operator and right-hand side of a column or
// column-tuple relation.
func (p *parser) relationRHS(r *Relation) error {
	t := p.peek()
	var err error
	if op, ok := relOp(t); ok {
		p.next()
		r.Op = op
		r.Value, err = p.term()
		return err
	}
	switch {
	case t.isKw("in"):
		p.next()
		r.Op = OpIn
	case t.isKw("not") && p.peekAt(1).isKw("in"):
		p.pos += 2
		r.Op = OpNotIn
	case t.isKw("contains") && len(r.Columns) == 1 && r.Key == nil:
		p.next()
		r.Op = OpContains
		if p.acceptKw("key") {
			r.Op = OpContainsKey
		}
		r.Value, err = p.term()
		return err
	case t.isKw("is") && len(r.Columns) == 1 && r.Key == nil:
		p.next()
		if err := p.expectKw("not"); err != nil {
			return err
		}
		r.Op = OpIsNotNull
		return p.expectKw("null")
	default:
		return p.noViable(t)
	}
	r.Value, r.In, err = p.inValues()
	return err
}
