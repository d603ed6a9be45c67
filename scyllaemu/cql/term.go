package cql

// term is Cql.g's term: a value, a function call, or a C-style cast.
func (p *parser) term() (Term, error) {
	t := p.peek()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer p.leave()

	switch t.kind {
	case tkString, tkInteger, tkFloat, tkUUID, tkHex, tkDuration:
		return p.constant()
	case tkQMark:
		return p.marker()
	case tkWord:
		switch t.text {
		case "true", "false", "nan", "infinity":
			return p.constant()
		case "null":
			p.next()
			return &Null{}, nil
		}
		if p.isFuncCallAhead() {
			return p.funcCall()
		}
	case tkQuoted:
		if p.isFuncCallAhead() {
			return p.funcCall()
		}
	case tkSym:
		switch t.text {
		case ":":
			return p.marker()
		case "-":
			return p.constant()
		case "[":
			return p.listLit()
		case "{":
			return p.braceLit()
		case "(":
			if p.isCastAhead() {
				return p.cast()
			}
			return p.tupleLit()
		}
	}
	return nil, p.noViable(t)
}

// constant is Cql.g's constant; a '-' is only legal before NaN/Infinity
// because numbers carry their sign from the lexer.
func (p *parser) constant() (*Constant, error) {
	t := p.peek()
	switch t.kind {
	case tkString:
		p.next()
		return &Constant{Kind: LitString, Text: t.text}, nil
	case tkInteger:
		p.next()
		return &Constant{Kind: LitInteger, Text: t.text}, nil
	case tkFloat:
		p.next()
		return &Constant{Kind: LitFloat, Text: t.text}, nil
	case tkUUID:
		p.next()
		return &Constant{Kind: LitUUID, Text: t.text}, nil
	case tkHex:
		p.next()
		return &Constant{Kind: LitHex, Text: t.text}, nil
	case tkDuration:
		p.next()
		return &Constant{Kind: LitDuration, Text: t.text}, nil
	case tkWord:
		switch t.text {
		case "true", "false":
			p.next()
			return &Constant{Kind: LitBool, Text: t.text}, nil
		case "nan":
			p.next()
			return &Constant{Kind: LitFloat, Text: "NaN"}, nil
		case "infinity":
			p.next()
			return &Constant{Kind: LitFloat, Text: "Infinity"}, nil
		}
	case tkSym:
		if t.text == "-" {
			switch n := p.peekAt(1); {
			case n.isKw("nan"):
				// strconv.ParseFloat rejects "-NaN", and the sign of a NaN
				// carries no meaning in CQL anyway.
				p.pos += 2
				return &Constant{Kind: LitFloat, Text: "NaN"}, nil
			case n.isKw("infinity"):
				p.pos += 2
				return &Constant{Kind: LitFloat, Text: "-Infinity"}, nil
			}
		}
	}
	return nil, p.noViable(t)
}

// marker parses `?` or `:name` and numbers it in order of appearance.
func (p *parser) marker() (*Marker, error) {
	t := p.next()
	m := &Marker{Index: len(p.markers)}
	if t.kind != tkQMark {
		if !t.isSym(":") {
			return nil, p.noViable(t)
		}
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		m.Name = name
	}
	p.markers = append(p.markers, m)
	return m, nil
}

// isFuncCallAhead reports `name(` or `ks.name(` at the current position.
func (p *parser) isFuncCallAhead() bool {
	if !isFuncName(p.peek()) {
		return false
	}
	if p.peekAt(1).isSym("(") {
		return true
	}
	return p.peekAt(1).isSym(".") && isFuncName(p.peekAt(2)) && p.peekAt(3).isSym("(")
}

// isFuncName is Cql.g's allowedFunctionName: any identifier plus the
// reserved TOKEN.
func isFuncName(t *token) bool { return t.isIdent() || t.isKw("token") }

// funcName returns the lower-cased (unless quoted) function name, qualified
// as "ks.name" when a keyspace is given.
func (p *parser) funcName() string {
	name := p.next().text
	if p.isSym(".") {
		p.next()
		name += "." + p.next().text
	}
	return name
}

func (p *parser) funcCall() (Term, error) {
	f := &FuncCall{Name: p.funcName()}
	if err := p.expectSym("("); err != nil {
		return nil, err
	}
	if p.acceptSym(")") {
		return f, nil
	}
	for {
		a, err := p.term()
		if err != nil {
			return nil, err
		}
		f.Args = append(f.Args, a)
		if !p.acceptSym(",") {
			break
		}
	}
	return f, p.expectSym(")")
}

// isCastAhead tells `(type) term` from a tuple literal. A type is a name, a
// parameterised type, or a keyspace-qualified UDT; a bare identifier is
// never a term on its own, so `(name)` can only be a cast.
func (p *parser) isCastAhead() bool {
	t := p.peekAt(1)
	if t.kind != tkQuoted && t.kind != tkWord {
		return false
	}
	switch t.text {
	case "true", "false", "null", "nan", "infinity":
		if t.kind == tkWord {
			return false
		}
	}
	n := p.peekAt(2)
	if n.isSym(")") || n.isSym("<") {
		return true
	}
	return n.isSym(".") && p.peekAt(4).isSym(")")
}

func (p *parser) cast() (Term, error) {
	p.next() // (
	typ, err := p.typeText()
	if err != nil {
		return nil, err
	}
	if err := p.expectSym(")"); err != nil {
		return nil, err
	}
	v, err := p.term()
	if err != nil {
		return nil, err
	}
	return &Cast{Type: typ, Term: v}, nil
}

func (p *parser) tupleLit() (Term, error) {
	p.next() // (
	elems, err := p.termList(")")
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return nil, p.noViable(&p.toks[p.pos-1])
	}
	return &TupleLit{Elems: elems}, nil
}

func (p *parser) listLit() (Term, error) {
	p.next() // [
	elems, err := p.termList("]")
	if err != nil {
		return nil, err
	}
	return &ListLit{Elems: elems}, nil
}

// termList parses `term (, term)* close` or just `close`, the opening
// bracket already consumed.
func (p *parser) termList(close string) ([]Term, error) {
	if p.acceptSym(close) {
		return nil, nil
	}
	var out []Term
	for {
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if !p.acceptSym(",") {
			break
		}
	}
	return out, p.expectSym(close)
}

// braceLit parses a set or map literal. `{}` is ambiguous; it becomes an
// empty *MapLit and the executor reinterprets it against the column type.
func (p *parser) braceLit() (Term, error) {
	p.next() // {
	if p.acceptSym("}") {
		return &MapLit{}, nil
	}
	if p.peek().isIdent() && p.peekAt(1).isSym(":") {
		return p.userTypeLit()
	}
	first, err := p.term()
	if err != nil {
		return nil, err
	}
	if !p.isSym(":") {
		s := &SetLit{Elems: []Term{first}}
		for p.acceptSym(",") {
			v, err := p.term()
			if err != nil {
				return nil, err
			}
			s.Elems = append(s.Elems, v)
		}
		return s, p.expectSym("}")
	}
	m := &MapLit{}
	k := first
	for {
		if err := p.expectSym(":"); err != nil {
			return nil, err
		}
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		m.Keys = append(m.Keys, k)
		m.Values = append(m.Values, v)
		if !p.acceptSym(",") {
			break
		}
		if k, err = p.term(); err != nil {
			return nil, err
		}
	}
	return m, p.expectSym("}")
}

// userTypeLit parses `field: term, ...}` after the opening brace. A bare
// identifier is never a term, so `{name:` can only start a UDT literal.
func (p *parser) userTypeLit() (Term, error) {
	u := &UserTypeLit{}
	for {
		f, err := p.ident()
		if err != nil {
			return nil, err
		}
		if err := p.expectSym(":"); err != nil {
			return nil, err
		}
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		u.Fields = append(u.Fields, f)
		u.Values = append(u.Values, v)
		if !p.acceptSym(",") {
			break
		}
	}
	return u, p.expectSym("}")
}

// mapLiteral is the strict map form used by WITH properties: `{}` or
// `{k: v, ...}`, never a set.
func (p *parser) mapLiteral() (*MapLit, error) {
	if err := p.expectSym("{"); err != nil {
		return nil, err
	}
	m := &MapLit{}
	if p.acceptSym("}") {
		return m, nil
	}
	for {
		k, err := p.term()
		if err != nil {
			return nil, err
		}
		if err := p.expectSym(":"); err != nil {
			return nil, err
		}
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		m.Keys = append(m.Keys, k)
		m.Values = append(m.Values, v)
		if !p.acceptSym(",") {
			break
		}
	}
	return m, p.expectSym("}")
}
