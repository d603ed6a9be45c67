package cql

func (p *parser) useStmt() (Statement, error) {
	p.next() // USE
	ks, err := p.keyspaceName()
	if err != nil {
		return nil, err
	}
	return &UseStmt{Keyspace: ks}, nil
}

func (p *parser) truncateStmt() (Statement, error) {
	p.next() // TRUNCATE
	if t := p.peek(); t.isKw("table") || t.isKw("columnfamily") {
		p.next()
	}
	tn, err := p.tableName()
	if err != nil {
		return nil, err
	}
	s := &TruncateStmt{Table: tn}
	return s, p.using(&s.Using, useTimeout)
}

// isKeyspaceKw accepts SCHEMA as Cassandra does; in Scylla's lexer the
// K_SCHEMA rule shadows that alternative of K_KEYSPACE.
func isKeyspaceKw(t *token) bool { return t.isKw("keyspace") || t.isKw("schema") }

func isTableKw(t *token) bool { return t.isKw("table") || t.isKw("columnfamily") }

func (p *parser) createStmt() (Statement, error) {
	p.next() // CREATE
	switch t := p.peek(); {
	case isKeyspaceKw(t):
		p.next()
		return p.createKeyspace()
	case isTableKw(t):
		p.next()
		return p.createTable()
	case t.isKw("type"):
		p.next()
		return p.createType()
	case t.isKw("index"):
		p.next()
		return p.createIndex(false)
	case t.isKw("custom") && p.peekAt(1).isKw("index"):
		p.pos += 2
		return p.createIndex(true)
	default:
		if f := unsupportedAfterCreate(p); f != "" {
			return p.unsupported(f)
		}
		return nil, p.noViable(t)
	}
}

// unsupported consumes the rest of a statement the emulator knows by its
// first words only.
func (p *parser) unsupported(feature string) (Statement, error) {
	for p.peek().kind != tkEOF && p.peek().kind != tkError {
		p.next()
	}
	if t := p.peek(); t.kind == tkError {
		return nil, p.errAt(t, t.text)
	}
	return &UnsupportedStmt{Feature: feature}, nil
}

// unsupportedAfterCreate names the feature of CREATE/ALTER/DROP statements
// of ScyllaDB's grammar that the emulator does not implement.
func unsupportedAfterCreate(p *parser) string {
	t := p.peek()
	switch {
	case t.isKw("materialized") && p.peekAt(1).isKw("view"):
		return "materialized views"
	case t.isKw("function"), t.isKw("or") && p.peekAt(1).isKw("replace"):
		return "user-defined functions"
	case t.isKw("aggregate"):
		return "user-defined aggregates"
	case t.isKw("trigger"):
		return "triggers"
	case t.isKw("role"), t.isKw("user"):
		return "roles and users"
	case t.isKw("service") && p.peekAt(1).isKw("level"):
		return "service levels"
	}
	return ""
}

// createIndex parses the rest of CREATE [CUSTOM] INDEX.
func (p *parser) createIndex(custom bool) (Statement, error) {
	s := &CreateIndexStmt{Custom: custom}
	var err error
	if s.IfNotExists, err = p.ifNotExists(); err != nil {
		return nil, err
	}
	if !p.isKw("on") {
		if s.Name, err = p.ident(); err != nil {
			return nil, err
		}
	}
	if err := p.expectKw("on"); err != nil {
		return nil, err
	}
	if s.Table, err = p.tableName(); err != nil {
		return nil, err
	}
	if err := p.expectSym("("); err != nil {
		return nil, err
	}
	if p.isSym(")") {
		p.next()
	} else {
		if p.isSym("(") {
			// ((pk, ...), target): a local index.
			if s.Partition, err = p.parenIdentList(); err != nil {
				return nil, err
			}
			if err := p.expectSym(","); err != nil {
				return nil, err
			}
		}
		for {
			tg, err := p.indexTarget()
			if err != nil {
				return nil, err
			}
			s.Targets = append(s.Targets, tg)
			if !p.acceptSym(",") {
				break
			}
		}
		if err := p.expectSym(")"); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("using") {
		t := p.peek()
		if t.kind != tkString {
			return nil, p.mismatch(t, "STRING_LITERAL")
		}
		p.next()
		s.Using = t.text
		if p.acceptKw("with") {
			if s.Properties, err = p.properties(); err != nil {
				return nil, err
			}
		}
	} else if p.acceptKw("with") {
		if s.Properties, err = p.properties(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (p *parser) indexTarget() (IndexTarget, error) {
	t := p.peek()
	for _, k := range []string{"keys", "values", "entries", "full"} {
		if t.isKw(k) && p.peekAt(1).isSym("(") {
			p.pos += 2
			col, err := p.ident()
			if err != nil {
				return IndexTarget{}, err
			}
			return IndexTarget{Column: col, Kind: k}, p.expectSym(")")
		}
	}
	col, err := p.ident()
	return IndexTarget{Column: col}, err
}

func (p *parser) createType() (Statement, error) {
	s := &CreateTypeStmt{}
	var err error
	if s.IfNotExists, err = p.ifNotExists(); err != nil {
		return nil, err
	}
	if s.Name, err = p.typeName(); err != nil {
		return nil, err
	}
	if err := p.expectSym("("); err != nil {
		return nil, err
	}
	for {
		var f ColumnDef
		if f.Name, err = p.ident(); err != nil {
			return nil, err
		}
		if f.Type, err = p.typeText(); err != nil {
			return nil, err
		}
		s.Fields = append(s.Fields, f)
		if !p.acceptSym(",") {
			break
		}
	}
	return s, p.expectSym(")")
}

// typeName parses a possibly keyspace-qualified user type name.
func (p *parser) typeName() (TableName, error) {
	first, err := p.nameIdent("type")
	if err != nil {
		return TableName{}, err
	}
	if !p.acceptSym(".") {
		return TableName{Name: first}, nil
	}
	name, err := p.nameIdent("type")
	if err != nil {
		return TableName{}, err
	}
	return TableName{Keyspace: first, Name: name}, nil
}

func (p *parser) alterType() (Statement, error) {
	s := &AlterTypeStmt{}
	var err error
	if s.Name, err = p.typeName(); err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case t.isKw("add"):
		p.next()
		var f ColumnDef
		if f.Name, err = p.ident(); err != nil {
			return nil, err
		}
		if f.Type, err = p.typeText(); err != nil {
			return nil, err
		}
		s.Add = &f
	case t.isKw("alter"):
		p.next()
		var f ColumnDef
		if f.Name, err = p.ident(); err != nil {
			return nil, err
		}
		if err := p.expectKw("type"); err != nil {
			return nil, err
		}
		if f.Type, err = p.typeText(); err != nil {
			return nil, err
		}
		s.AlterField = &f
	case t.isKw("rename"):
		p.next()
		for {
			from, err := p.ident()
			if err != nil {
				return nil, err
			}
			if err := p.expectKw("to"); err != nil {
				return nil, err
			}
			to, err := p.ident()
			if err != nil {
				return nil, err
			}
			s.Renames = append(s.Renames, [2]string{from, to})
			if !p.acceptKw("and") {
				break
			}
		}
	default:
		return nil, p.noViable(t)
	}
	return s, nil
}

func (p *parser) createKeyspace() (Statement, error) {
	s := &CreateKeyspaceStmt{}
	var err error
	if s.IfNotExists, err = p.ifNotExists(); err != nil {
		return nil, err
	}
	if s.Name, err = p.keyspaceName(); err != nil {
		return nil, err
	}
	if p.acceptKw("with") {
		if s.Properties, err = p.properties(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (p *parser) createTable() (Statement, error) {
	s := &CreateTableStmt{}
	var err error
	if s.IfNotExists, err = p.ifNotExists(); err != nil {
		return nil, err
	}
	if s.Table, err = p.tableName(); err != nil {
		return nil, err
	}
	if err := p.expectSym("("); err != nil {
		return nil, err
	}
	pkSeen := false
	for {
		// Cql.g allows empty entries (`( ',' cfamColumns? )*`), which is
		// what makes a trailing comma legal.
		if (len(s.Columns) > 0 || pkSeen) && p.acceptSym(",") {
			continue
		}
		if p.isSym(")") && (len(s.Columns) > 0 || pkSeen) {
			break
		}
		t := p.peek()
		if t.isKw("primary") {
			if pkSeen {
				return nil, p.errAt(t, "Multiple PRIMARY KEYs specified (exactly one required)")
			}
			pkSeen = true
			p.next()
			if err := p.expectKw("key"); err != nil {
				return nil, err
			}
			if s.PartitionKey, s.Clustering, err = p.primaryKeyDef(); err != nil {
				return nil, err
			}
		} else {
			cd, err := p.columnDef(true)
			if err != nil {
				return nil, err
			}
			if cd.PrimaryKey {
				if pkSeen {
					return nil, p.errAt(t, "Multiple PRIMARY KEYs specified (exactly one required)")
				}
				pkSeen = true
			}
			s.Columns = append(s.Columns, cd)
		}
		if !p.isSym(",") {
			break
		}
	}
	if err := p.expectSym(")"); err != nil {
		return nil, err
	}
	if !p.acceptKw("with") {
		return s, nil
	}
	for {
		t := p.peek()
		switch {
		case t.isKw("compact") && p.peekAt(1).isKw("storage"):
			p.pos += 2
			s.CompactStorage = true
		case t.isKw("clustering") && p.peekAt(1).isKw("order"):
			p.pos += 2
			if err := p.expectKw("by"); err != nil {
				return nil, err
			}
			if s.ClusteringOrder, err = p.clusteringOrder(); err != nil {
				return nil, err
			}
		default:
			prop, err := p.property()
			if err != nil {
				return nil, err
			}
			s.Properties = append(s.Properties, prop)
		}
		if !p.acceptKw("and") {
			return s, nil
		}
	}
}

// primaryKeyDef parses `((a, b), c, d)` or `(a, c, d)` after PRIMARY KEY.
func (p *parser) primaryKeyDef() (partition, clustering []string, err error) {
	if err = p.expectSym("("); err != nil {
		return nil, nil, err
	}
	if p.isSym("(") {
		if partition, err = p.parenIdentList(); err != nil {
			return nil, nil, err
		}
	} else {
		id, err := p.ident()
		if err != nil {
			return nil, nil, err
		}
		partition = []string{id}
	}
	for p.acceptSym(",") {
		id, err := p.ident()
		if err != nil {
			return nil, nil, err
		}
		clustering = append(clustering, id)
	}
	return partition, clustering, p.expectSym(")")
}

// columnDef parses `name type [STATIC] [PRIMARY KEY]`; the inline primary
// key is only legal in CREATE TABLE.
func (p *parser) columnDef(allowPK bool) (ColumnDef, error) {
	var cd ColumnDef
	var err error
	if cd.Name, err = p.ident(); err != nil {
		return cd, err
	}
	if cd.Type, err = p.typeText(); err != nil {
		return cd, err
	}
	cd.Static = p.acceptKw("static")
	if allowPK && p.acceptKw("primary") {
		if err := p.expectKw("key"); err != nil {
			return cd, err
		}
		cd.PrimaryKey = true
	}
	return cd, nil
}

// clusteringOrder parses `(c DESC, d ASC)`. Cql.g requires the direction;
// defaulting it to ASC is a harmless leniency.
func (p *parser) clusteringOrder() ([]ClusteringOrder, error) {
	if err := p.expectSym("("); err != nil {
		return nil, err
	}
	var out []ClusteringOrder
	for {
		id, err := p.ident()
		if err != nil {
			return nil, err
		}
		o := ClusteringOrder{Column: id}
		if p.acceptKw("desc") {
			o.Desc = true
		} else {
			p.acceptKw("asc")
		}
		out = append(out, o)
		if !p.acceptSym(",") {
			break
		}
	}
	return out, p.expectSym(")")
}

// properties parses `name = value [AND name = value]*`.
func (p *parser) properties() ([]Property, error) {
	var out []Property
	for {
		prop, err := p.property()
		if err != nil {
			return nil, err
		}
		out = append(out, prop)
		if !p.acceptKw("and") {
			return out, nil
		}
	}
}

// property parses one `name = value`. As in Cql.g's propertyValue, a bare
// unreserved keyword (caching = ALL) or NULL is taken as its text, so the
// value is always a *Constant or a *MapLit.
func (p *parser) property() (Property, error) {
	var prop Property
	var err error
	if prop.Name, err = p.ident(); err != nil {
		return prop, err
	}
	if err := p.expectSym("="); err != nil {
		return prop, err
	}
	t := p.peek()
	switch {
	case t.isSym("{"):
		m, err := p.mapLiteral()
		if err != nil {
			return prop, err
		}
		prop.Value = m
	case t.isKw("null"):
		p.next()
		prop.Value = &Constant{Kind: LitString, Text: "null"}
	case t.kind == tkWord && !isReserved(t.text):
		p.next()
		prop.Value = &Constant{Kind: LitString, Text: t.text}
	default:
		c, err := p.constant()
		if err != nil {
			return prop, err
		}
		prop.Value = c
	}
	return prop, nil
}

func (p *parser) dropStmt() (Statement, error) {
	p.next() // DROP
	t := p.peek()
	switch {
	case isKeyspaceKw(t):
		p.next()
		s := &DropKeyspaceStmt{}
		var err error
		if s.IfExists, err = p.ifExists(); err != nil {
			return nil, err
		}
		if s.Name, err = p.keyspaceName(); err != nil {
			return nil, err
		}
		return s, nil
	case isTableKw(t):
		p.next()
		s := &DropTableStmt{}
		var err error
		if s.IfExists, err = p.ifExists(); err != nil {
			return nil, err
		}
		if s.Table, err = p.tableName(); err != nil {
			return nil, err
		}
		return s, nil
	case t.isKw("index"):
		p.next()
		s := &DropIndexStmt{}
		var err error
		if s.IfExists, err = p.ifExists(); err != nil {
			return nil, err
		}
		if s.Name, err = p.typeName(); err != nil {
			return nil, err
		}
		return s, nil
	case t.isKw("type"):
		p.next()
		s := &DropTypeStmt{}
		var err error
		if s.IfExists, err = p.ifExists(); err != nil {
			return nil, err
		}
		if s.Name, err = p.typeName(); err != nil {
			return nil, err
		}
		return s, nil
	}
	if f := unsupportedAfterCreate(p); f != "" {
		return p.unsupported(f)
	}
	return nil, p.noViable(t)
}

func (p *parser) alterStmt() (Statement, error) {
	p.next() // ALTER
	if t := p.peek(); t.isKw("type") {
		p.next()
		return p.alterType()
	} else if isKeyspaceKw(t) {
		return p.unsupported("ALTER KEYSPACE")
	} else if f := unsupportedAfterCreate(p); f != "" {
		return p.unsupported(f)
	} else if !isTableKw(t) {
		return nil, p.noViable(t)
	}
	p.next()
	s := &AlterTableStmt{}
	var err error
	if s.Table, err = p.tableName(); err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case t.isKw("with"):
		p.next()
		s.Properties, err = p.properties()
	case t.isKw("add"):
		p.next()
		s.Add, err = p.alterAdd()
	case t.isKw("drop"):
		p.next()
		if p.isSym("(") {
			s.Drop, err = p.parenIdentList()
		} else {
			// Cql.g takes exactly one unparenthesised column; Cassandra
			// takes a comma list, and accepting it is unambiguous.
			s.Drop, err = p.identList()
		}
	default:
		return nil, p.noViable(t)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (p *parser) alterAdd() ([]ColumnDef, error) {
	paren := p.acceptSym("(")
	var out []ColumnDef
	for {
		cd, err := p.columnDef(false)
		if err != nil {
			return nil, err
		}
		out = append(out, cd)
		if !p.acceptSym(",") {
			break
		}
	}
	if paren {
		return out, p.expectSym(")")
	}
	return out, nil
}

// describeStmt parses every DESCRIBE form of Cql.g. Kind is the lower-cased
// text after DESCRIBE with synonyms folded (COLUMNFAMILY -> "table",
// COLUMNFAMILIES -> "tables"); "full schema", "only keyspace" and
// "materialized view" keep both words; a bare `DESCRIBE name` has Kind "".
// Keyspace names go in Name.Name; a missing name (DESCRIBE KEYSPACE) leaves
// Name empty, meaning the session's keyspace.
func (p *parser) describeStmt() (Statement, error) {
	p.next() // DESCRIBE | DESC
	s := &DescribeStmt{}
	t := p.peek()
	var err error
	// Kinds that are unreserved words only count as kinds when what follows
	// fits; otherwise the word is the name of the thing to describe.
	endsHere := func(n *token) bool { return n.kind == tkEOF || n.isSym(";") || n.isKw("with") }
	switch {
	case t.isKw("cluster") && endsHere(p.peekAt(1)),
		t.isKw("schema"),
		t.isKw("keyspaces") && endsHere(p.peekAt(1)),
		t.isKw("types") && endsHere(p.peekAt(1)),
		t.isKw("functions") && endsHere(p.peekAt(1)),
		t.isKw("aggregates") && endsHere(p.peekAt(1)):
		p.next()
		s.Kind = t.text
	case t.isKw("tables") && endsHere(p.peekAt(1)), t.isKw("columnfamilies") && endsHere(p.peekAt(1)):
		p.next()
		s.Kind = "tables"
	case t.isKw("full") && p.peekAt(1).isKw("schema"):
		p.pos += 2
		s.Kind = "full schema"
	case t.isKw("only") && isKeyspaceKw(p.peekAt(1)), isKeyspaceKw(t):
		s.Kind = "keyspace"
		if t.isKw("only") {
			p.next()
			s.Kind = "only keyspace"
		}
		p.next()
		if p.peek().isIdent() || p.peek().kind == tkQMark {
			if s.Name.Name, err = p.keyspaceName(); err != nil {
				return nil, err
			}
		}
	case isTableKw(t), t.isKw("index"):
		p.next()
		s.Kind = t.text
		if t.text == "columnfamily" {
			s.Kind = "table"
		}
		if s.Name, err = p.tableName(); err != nil {
			return nil, err
		}
	case t.isKw("materialized"):
		p.next()
		if err := p.expectKw("view"); err != nil {
			return nil, err
		}
		s.Kind = "materialized view"
		if s.Name, err = p.tableName(); err != nil {
			return nil, err
		}
	case (t.isKw("type") || t.isKw("function") || t.isKw("aggregate")) && p.peekAt(1).isIdent():
		p.next()
		s.Kind = t.text
		if s.Name, err = p.tableName(); err != nil {
			return nil, err
		}
	default:
		if s.Name, err = p.tableName(); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("with") {
		if err := p.expectKw("internals"); err != nil {
			return nil, err
		}
		s.Internals = true
		if p.acceptKw("and") {
			if err := p.expectKw("passwords"); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}
