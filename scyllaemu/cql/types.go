package cql

import "strings"

// typeText parses Cql.g's comparatorType and returns it normalised: keywords
// and unquoted names lower-cased, ", " between type arguments, no other
// spaces ("frozen<map<text, int>>"). Quoted UDT names keep their quotes
// ("frozen<\"MyType\">") and Cassandra-style custom class strings keep
// their single quotes, so the executor can tell them from native types.
func (p *parser) typeText() (string, error) {
	var b strings.Builder
	if err := p.typeInto(&b); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (p *parser) typeInto(b *strings.Builder) error {
	t := p.peek()
	if err := p.enter(t); err != nil {
		return err
	}
	defer p.leave()

	switch t.kind {
	case tkString:
		p.next()
		b.WriteString(p.src[t.start:t.end])
		return nil
	case tkQuoted:
		return p.udtName(b)
	case tkWord:
		if p.peekAt(1).isSym("<") {
			switch t.text {
			case "frozen", "list", "set":
				return p.typeArgs(b, 1, false)
			case "map":
				return p.typeArgs(b, 2, false)
			case "tuple":
				return p.typeArgs(b, -1, false)
			case "vector":
				return p.typeArgs(b, 2, true)
			}
		}
		if !isReserved(t.text) {
			return p.udtName(b)
		}
	}
	return p.noViable(t)
}

// typeArgs writes `name<arg, ...>`. want is the exact argument count, or -1
// for one or more; vector's second argument is a dimension, not a type.
func (p *parser) typeArgs(b *strings.Builder, want int, vector bool) error {
	b.WriteString(p.next().text)
	p.next() // <
	b.WriteByte('<')
	for i := 0; ; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		if vector && i == 1 {
			t := p.peek()
			if t.kind != tkInteger {
				return p.mismatch(t, "INTEGER")
			}
			p.next()
			b.WriteString(t.text)
		} else if err := p.typeInto(b); err != nil {
			return err
		}
		if i+1 == want {
			break
		}
		if want < 0 && !p.isSym(",") {
			break
		}
		if err := p.expectSym(","); err != nil {
			return err
		}
	}
	if err := p.expectSym(">"); err != nil {
		return err
	}
	b.WriteByte('>')
	return nil
}

// udtName writes a native type or a possibly keyspace-qualified user type.
func (p *parser) udtName(b *strings.Builder) error {
	p.writeTypeName(b, p.next())
	if p.isSym(".") {
		p.next()
		t := p.peek()
		if !t.isIdent() {
			return p.noViable(t)
		}
		p.next()
		b.WriteByte('.')
		p.writeTypeName(b, t)
	}
	return nil
}

func (p *parser) writeTypeName(b *strings.Builder, t *token) {
	if t.kind == tkQuoted {
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(t.text, `"`, `""`))
		b.WriteByte('"')
		return
	}
	b.WriteString(t.text)
}
