package cql

const useAll = useTTL | useTimestamp | useTimeout

func (p *parser) insertStmt() (Statement, error) {
	p.next() // INSERT
	if err := p.expectKw("into"); err != nil {
		return nil, err
	}
	s := &InsertStmt{}
	var err error
	if s.Table, err = p.tableName(); err != nil {
		return nil, err
	}
	switch t := p.peek(); {
	case t.isSym("("):
		p.next()
		if s.Columns, err = p.identList(); err != nil {
			return nil, err
		}
		if err := p.expectSym(")"); err != nil {
			return nil, err
		}
		if err := p.expectKw("values"); err != nil {
			return nil, err
		}
		open := p.peek()
		if err := p.expectSym("("); err != nil {
			return nil, err
		}
		if s.Values, err = p.termList(")"); err != nil {
			return nil, err
		}
		if len(s.Values) != len(s.Columns) {
			return nil, p.errAt(open, "Unmatched column names/values")
		}
	case t.isKw("json"):
		p.next()
		switch v := p.peek(); {
		case v.kind == tkString:
			p.next()
			s.JSON = &Constant{Kind: LitString, Text: v.text}
		case v.kind == tkQMark || v.isSym(":"):
			if s.JSON, err = p.marker(); err != nil {
				return nil, err
			}
		default:
			return nil, p.noViable(v)
		}
		if p.acceptKw("default") {
			if p.acceptKw("unset") {
				s.DefaultUnset = true
			} else if err := p.expectKw("null"); err != nil {
				return nil, err
			}
		}
	default:
		return nil, p.noViable(t)
	}
	// Cql.g wants IF NOT EXISTS before USING; either order is accepted
	// because nothing else can follow and people write both.
	usingSeen := false
	for {
		switch {
		case !s.IfNotExists && p.isKw("if"):
			if s.IfNotExists, err = p.ifNotExists(); err != nil {
				return nil, err
			}
		case !usingSeen && p.isKw("using"):
			usingSeen = true
			if err := p.using(&s.Using, useAll); err != nil {
				return nil, err
			}
		default:
			return s, nil
		}
	}
}

func (p *parser) updateStmt() (Statement, error) {
	p.next() // UPDATE
	s := &UpdateStmt{}
	var err error
	if s.Table, err = p.tableName(); err != nil {
		return nil, err
	}
	if err := p.using(&s.Using, useAll); err != nil {
		return nil, err
	}
	if err := p.expectKw("set"); err != nil {
		return nil, err
	}
	for {
		a, err := p.assignment()
		if err != nil {
			return nil, err
		}
		s.Set = append(s.Set, a)
		if !p.acceptSym(",") {
			break
		}
	}
	if err := p.expectKw("where"); err != nil {
		return nil, err
	}
	if s.Where, err = p.where(); err != nil {
		return nil, err
	}
	if s.IfExists, s.Conditions, err = p.ifClause(); err != nil {
		return nil, err
	}
	return s, nil
}

// assignment parses one SET item, following Cql.g's columnOperation plus
// the `c += v` / `c -= v` shorthand.
func (p *parser) assignment() (Assignment, error) {
	var a Assignment
	var err error
	if a.Column, err = p.ident(); err != nil {
		return a, err
	}
	t := p.peek()
	switch {
	case t.isSym("["):
		p.next()
		a.Op = AssignElement
		if k := p.peek(); k.isKw("scylla_timeuuid_list_index") && p.peekAt(1).isSym("(") {
			// Cql.g's special form addressing a list cell by its key.
			p.pos += 2
			arg, err := p.term()
			if err != nil {
				return a, err
			}
			if err := p.expectSym(")"); err != nil {
				return a, err
			}
			a.Key = &FuncCall{Name: "scylla_timeuuid_list_index", Args: []Term{arg}}
		} else if a.Key, err = p.term(); err != nil {
			return a, err
		}
		if err := p.expectSym("]"); err != nil {
			return a, err
		}
		if err := p.expectSym("="); err != nil {
			return a, err
		}
		a.Value, err = p.term()
		return a, err
	case t.isSym("."):
		p.next()
		a.Op = AssignFieldSet
		if a.Field, err = p.ident(); err != nil {
			return a, err
		}
		if err := p.expectSym("="); err != nil {
			return a, err
		}
		a.Value, err = p.term()
		return a, err
	case (t.isSym("+") || t.isSym("-")) && p.peekAt(1).isSym("="):
		p.pos += 2
		a.Op = AssignCounterAdd
		if t.text == "-" {
			a.Op = AssignCounterSub
		}
		a.Value, err = p.term()
		return a, err
	case t.isSym("="):
		p.next()
	default:
		return a, p.noViable(t)
	}

	// After '=' comes either `term [+ c]` or `c (+|-) term`. An identifier
	// is never a term by itself, so a name not followed by '(' (or
	// '.name(') is the column.
	if p.peek().isIdent() && !p.isFuncCallAhead() {
		self := p.peek()
		p.next()
		if self.text != a.Column {
			return a, p.errAt(self, "Only expressions of the form X = X +/- <value> are supported.")
		}
		op := p.peek()
		switch {
		case op.isSym("+"):
			p.next()
			a.Op = AssignAdd
		case op.isSym("-"):
			p.next()
			a.Op = AssignSub
		case op.kind == tkInteger && op.text[0] == '-':
			// `c = c -1` lexes as c, =, c, -1 (see lexNumber).
			p.next()
			a.Op = AssignAdd
			a.Value = &Constant{Kind: LitInteger, Text: op.text}
			return a, nil
		default:
			return a, p.mismatch(op, "'+' or '-'")
		}
		a.Value, err = p.term()
		return a, err
	}
	if a.Value, err = p.term(); err != nil {
		return a, err
	}
	if !p.acceptSym("+") {
		a.Op = AssignSet
		return a, nil
	}
	self := p.peek()
	if !self.isIdent() {
		return a, p.noViable(self)
	}
	p.next()
	if self.text != a.Column {
		return a, p.errAt(self, "Only expressions of the form X = <value> + X are supported.")
	}
	a.Op = AssignPrepend
	return a, nil
}

func (p *parser) deleteStmt() (Statement, error) {
	p.next() // DELETE
	s := &DeleteStmt{}
	var err error
	if !p.isKw("from") {
		for {
			var d DeleteTarget
			if d.Column, err = p.ident(); err != nil {
				return nil, err
			}
			switch {
			case p.acceptSym("["):
				if d.Key, err = p.term(); err != nil {
					return nil, err
				}
				if err := p.expectSym("]"); err != nil {
					return nil, err
				}
			case p.acceptSym("."):
				if d.Field, err = p.ident(); err != nil {
					return nil, err
				}
			}
			s.Columns = append(s.Columns, d)
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
	if err := p.using(&s.Using, useTimestamp|useTimeout); err != nil {
		return nil, err
	}
	if err := p.expectKw("where"); err != nil {
		return nil, err
	}
	if s.Where, err = p.where(); err != nil {
		return nil, err
	}
	if s.IfExists, s.Conditions, err = p.ifClause(); err != nil {
		return nil, err
	}
	return s, nil
}

// ifClause parses `IF EXISTS` or `IF cond [AND cond]*` if present. EXISTS
// is unreserved, so `IF exists = 1` is a condition on a column named exists.
func (p *parser) ifClause() (bool, []Condition, error) {
	if !p.acceptKw("if") {
		return false, nil, nil
	}
	if p.isKw("exists") && !startsConditionOp(p.peekAt(1)) {
		p.next()
		return true, nil, nil
	}
	var conds []Condition
	for {
		c, err := p.condition()
		if err != nil {
			return false, nil, err
		}
		conds = append(conds, c)
		if !p.acceptKw("and") {
			return false, conds, nil
		}
	}
}

func startsConditionOp(t *token) bool {
	if t.kind == tkSym {
		switch t.text {
		case "=", "<", "<=", ">", ">=", "!=", "[", ".":
			return true
		}
	}
	return t.isKw("in") || t.isKw("not") || t.isKw("like")
}

// condition is Cql.g's columnCondition.
func (p *parser) condition() (Condition, error) {
	var c Condition
	var err error
	if c.Column, err = p.ident(); err != nil {
		return c, err
	}
	switch {
	case p.acceptSym("["):
		if c.Key, err = p.term(); err != nil {
			return c, err
		}
		if err := p.expectSym("]"); err != nil {
			return c, err
		}
	case p.acceptSym("."):
		if c.Field, err = p.ident(); err != nil {
			return c, err
		}
	}
	t := p.peek()
	if op, ok := relOp(t); ok {
		p.next()
		c.Op = op
		c.Value, err = p.term()
		return c, err
	}
	switch {
	case t.isKw("in"):
		p.next()
		c.Op = OpIn
	case t.isKw("not") && p.peekAt(1).isKw("in"):
		p.pos += 2
		c.Op = OpNotIn
	default:
		return c, p.noViable(t)
	}
	c.Value, c.In, err = p.inValues()
	return c, err
}

// inValues parses what follows IN: a marker, or a parenthesised and
// possibly empty list of terms.
func (p *parser) inValues() (Term, []Term, error) {
	if t := p.peek(); t.kind == tkQMark || t.isSym(":") {
		m, err := p.marker()
		return m, nil, err
	}
	if err := p.expectSym("("); err != nil {
		return nil, nil, err
	}
	in, err := p.termList(")")
	if err == nil && in == nil {
		// Keep `IN ()` distinguishable from `IN ?` (In nil, Value set).
		in = []Term{}
	}
	return nil, in, err
}

// relOp maps a comparison token to its operator.
func relOp(t *token) (RelOp, bool) {
	if t.kind == tkSym {
		switch t.text {
		case "=":
			return OpEq, true
		case "<":
			return OpLt, true
		case "<=":
			return OpLte, true
		case ">":
			return OpGt, true
		case ">=":
			return OpGte, true
		case "!=":
			return OpNeq, true
		}
	}
	if t.isKw("like") {
		return OpLike, true
	}
	return 0, false
}

func (p *parser) batchStmt() (Statement, error) {
	p.next() // BEGIN
	s := &BatchStmt{}
	switch {
	case p.acceptKw("unlogged"):
		s.Type = BatchUnlogged
	case p.acceptKw("counter"):
		s.Type = BatchCounter
	}
	if err := p.expectKw("batch"); err != nil {
		return nil, err
	}
	if err := p.using(&s.Using, useAll); err != nil {
		return nil, err
	}
	for !p.isKw("apply") {
		var st Statement
		var err error
		switch t := p.peek(); {
		case t.isKw("insert"):
			st, err = p.insertStmt()
		case t.isKw("update"):
			st, err = p.updateStmt()
		case t.isKw("delete"):
			st, err = p.deleteStmt()
		default:
			return nil, p.mismatch(t, "K_APPLY")
		}
		if err != nil {
			return nil, err
		}
		s.Statements = append(s.Statements, st)
		p.acceptSym(";")
	}
	p.next() // APPLY
	if err := p.expectKw("batch"); err != nil {
		return nil, err
	}
	return s, nil
}
