package cql

// maxNesting caps recursion through terms, selectors, relations and types.
// Scylla caps expressions at 12; a little more headroom costs nothing, and
// some cap is needed because a Go stack overflow is fatal, not recoverable.
const maxNesting = 32

// Parse parses one CQL statement, optionally followed by semicolons.
func Parse(src string) (*Parsed, error) {
	p := parser{src: src, toks: lex(src)}
	st, err := p.statement()
	if err != nil {
		return nil, err
	}
	for p.acceptSym(";") {
	}
	if t := p.peek(); t.kind != tkEOF {
		return nil, p.mismatch(t, "<EOF>")
	}
	return &Parsed{Stmt: st, Markers: p.markers, Src: src}, nil
}

type parser struct {
	src     string
	toks    []token
	pos     int
	markers []*Marker
	depth   int
}

// state is what backtracking must restore.
type state struct{ pos, markers int }

func (p *parser) save() state { return state{p.pos, len(p.markers)} }

func (p *parser) restore(s state) {
	p.pos = s.pos
	p.markers = p.markers[:s.markers]
}

func (p *parser) peek() *token { return &p.toks[p.pos] }

// peekAt looks n tokens ahead; past the end it keeps returning the final
// EOF/error token, so lookahead never needs its own bounds check.
func (p *parser) peekAt(n int) *token {
	if p.pos+n < len(p.toks) {
		return &p.toks[p.pos+n]
	}
	return &p.toks[len(p.toks)-1]
}

// next consumes a token. It never moves past the final EOF/error token, so
// a loop that forgets to check for EOF stalls on an error instead of
// indexing out of range.
func (p *parser) next() *token {
	t := &p.toks[p.pos]
	if p.pos < len(p.toks)-1 {
		p.pos++
	}
	return t
}

func (t *token) isSym(s string) bool { return t.kind == tkSym && t.text == s }
func (t *token) isKw(k string) bool  { return t.kind == tkWord && t.text == k }

// isIdent reports a token usable as a name: quoted, or an unquoted word that
// is not reserved.
func (t *token) isIdent() bool {
	return t.kind == tkQuoted || (t.kind == tkWord && !isReserved(t.text))
}

func (p *parser) isSym(s string) bool { return p.peek().isSym(s) }
func (p *parser) isKw(k string) bool  { return p.peek().isKw(k) }

func (p *parser) acceptSym(s string) bool {
	if p.peek().isSym(s) {
		p.next()
		return true
	}
	return false
}

func (p *parser) acceptKw(k string) bool {
	if p.peek().isKw(k) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expectSym(s string) error {
	if t := p.peek(); !t.isSym(s) {
		return p.mismatch(t, "'"+s+"'")
	}
	p.next()
	return nil
}

func (p *parser) expectKw(k string) error {
	if t := p.peek(); !t.isKw(k) {
		return p.mismatch(t, kwName(k))
	}
	p.next()
	return nil
}

// kwName spells a keyword the way ANTLR names its token in messages.
func kwName(k string) string {
	b := make([]byte, 0, len(k)+2)
	b = append(b, 'K', '_')
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

func (p *parser) enter(t *token) error {
	if p.depth >= maxNesting {
		// Callers only defer leave() after a successful enter.
		return p.errAt(t, "expression nested too deeply")
	}
	p.depth++
	return nil
}

func (p *parser) leave() { p.depth-- }

// errAt builds a SyntaxError at t. A lexer error token always wins: the
// parser only reaches it when everything before it was fine, so the lexer
// problem is the first one in the text.
func (p *parser) errAt(t *token, msg string) error {
	if t.kind == tkError {
		msg = t.text
	}
	return newSyntaxError(p.src, t.start, msg)
}

func (p *parser) tokText(t *token) string {
	if t.kind == tkEOF {
		return "<EOF>"
	}
	return echo(p.src[t.start:t.end])
}

func (p *parser) mismatch(t *token, expecting string) error {
	return p.errAt(t, "mismatched input '"+p.tokText(t)+"' expecting "+expecting)
}

func (p *parser) noViable(t *token) error {
	return p.errAt(t, "no viable alternative at input '"+p.tokText(t)+"'")
}

func (p *parser) statement() (Statement, error) {
	t := p.peek()
	if t.kind == tkWord {
		switch t.text {
		case "select":
			return p.selectStmt()
		case "insert":
			return p.insertStmt()
		case "update":
			return p.updateStmt()
		case "delete":
			return p.deleteStmt()
		case "begin":
			return p.batchStmt()
		case "use":
			return p.useStmt()
		case "truncate":
			return p.truncateStmt()
		case "create":
			return p.createStmt()
		case "drop":
			return p.dropStmt()
		case "alter":
			return p.alterStmt()
		case "describe", "desc":
			return p.describeStmt()
		case "grant", "revoke":
			return p.unsupported("permissions")
		case "list":
			if n := p.peekAt(1); n.isKw("roles") || n.isKw("users") || n.isKw("all") || n.isKw("permissions") || n.isKw("service") {
				return p.unsupported("roles and users")
			}
		case "attach", "detach":
			return p.unsupported("service levels")
		}
	}
	return nil, p.noViable(t)
}

// ident consumes a column, keyspace, table or property name and returns it
// case-folded: unquoted names were lower-cased by the lexer, quoted names
// keep their case.
func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.isIdent() {
		p.next()
		return t.text, nil
	}
	return "", p.noViable(t)
}

// nameIdent is ident for keyspace and table names, where a bind marker gets
// Scylla's dedicated message instead of a generic one.
func (p *parser) nameIdent(what string) (string, error) {
	if t := p.peek(); t.kind == tkQMark || t.isSym(":") {
		return "", p.errAt(t, "Bind variables cannot be used for "+what+" names")
	}
	return p.ident()
}

func (p *parser) keyspaceName() (string, error) { return p.nameIdent("keyspace") }

func (p *parser) tableName() (TableName, error) {
	first, err := p.nameIdent("table")
	if err != nil {
		return TableName{}, err
	}
	if !p.acceptSym(".") {
		return TableName{Name: first}, nil
	}
	name, err := p.nameIdent("table")
	if err != nil {
		return TableName{}, err
	}
	return TableName{Keyspace: first, Name: name}, nil
}

// identList parses `a, b, c` (at least one).
func (p *parser) identList() ([]string, error) {
	var out []string
	for {
		id, err := p.ident()
		if err != nil {
			return nil, err
		}
		out = append(out, id)
		if !p.acceptSym(",") {
			return out, nil
		}
	}
}

// parenIdentList parses `(a, b, c)`.
func (p *parser) parenIdentList() ([]string, error) {
	if err := p.expectSym("("); err != nil {
		return nil, err
	}
	ids, err := p.identList()
	if err != nil {
		return nil, err
	}
	if err := p.expectSym(")"); err != nil {
		return nil, err
	}
	return ids, nil
}

func (p *parser) ifNotExists() (bool, error) {
	if !p.acceptKw("if") {
		return false, nil
	}
	if err := p.expectKw("not"); err != nil {
		return false, err
	}
	return true, p.expectKw("exists")
}

func (p *parser) ifExists() (bool, error) {
	if !p.acceptKw("if") {
		return false, nil
	}
	return true, p.expectKw("exists")
}

// Which USING objectives a statement accepts, mirroring Cql.g's separate
// using*Clause rules.
const (
	useTTL = 1 << iota
	useTimestamp
	useTimeout
)

// using parses `USING obj [AND obj]*` if present. As in Scylla, repeating an
// objective silently keeps the last one.
func (p *parser) using(u *Using, allowed int) error {
	if !p.acceptKw("using") {
		return nil
	}
	for {
		t := p.peek()
		var err error
		switch {
		case allowed&useTTL != 0 && t.isKw("ttl"):
			p.next()
			u.TTL, err = p.intValue()
		case allowed&useTimestamp != 0 && t.isKw("timestamp"):
			p.next()
			u.Timestamp, err = p.intValue()
		case allowed&useTimeout != 0 && t.isKw("timeout"):
			p.next()
			u.Timeout, err = p.term()
		default:
			return p.noViable(t)
		}
		if err != nil {
			return err
		}
		if !p.acceptKw("and") {
			return nil
		}
	}
}

// intValue is Cql.g's intValue: an INTEGER or a bind marker (LIMIT, TTL,
// TIMESTAMP).
func (p *parser) intValue() (Term, error) {
	t := p.peek()
	switch {
	case t.kind == tkInteger:
		p.next()
		return &Constant{Kind: LitInteger, Text: t.text}, nil
	case t.kind == tkQMark || t.isSym(":"):
		return p.marker()
	}
	return nil, p.noViable(t)
}
