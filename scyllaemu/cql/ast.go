package cql

// The AST is deliberately close to the CQL grammar: the parser only checks
// syntax, and every semantic check (does the column exist, does the literal fit
// its type) is left to the executor, which knows the schema. That keeps error
// codes right: a syntax problem is 0x2000, a semantic one 0x2200.

// Statement is any parsed CQL statement.
type Statement interface{ stmt() }

// Parsed is the result of Parse: the statement and its bind markers in the
// order they appear in the text. Markers[i].Index == i.
type Parsed struct {
	Stmt    Statement
	Markers []*Marker
	// Src is the statement text as given to Parse.
	Src string
}

// TableName is an optionally keyspace-qualified table (or keyspace) name.
// Names are already case-folded: unquoted identifiers are lower-cased,
// quoted ones keep their case with the quotes removed.
type TableName struct {
	Keyspace string // empty when not qualified
	Name     string
}

// Property is one `name = value` of a WITH clause. Value is a *Constant or a
// *MapLit (e.g. replication = {...}, cdc = {...}, caching = {...}).
type Property struct {
	Name  string
	Value Term
}

type UseStmt struct{ Keyspace string }

type CreateKeyspaceStmt struct {
	Name        string
	IfNotExists bool
	Properties  []Property
}

type DropKeyspaceStmt struct {
	Name     string
	IfExists bool
}

// ColumnDef is a column in CREATE TABLE or ALTER TABLE ADD. Type is the type
// text normalised to lower case with single spaces after commas, e.g.
// "frozen<map<text, int>>"; the executor parses it.
type ColumnDef struct {
	Name       string
	Type       string
	Static     bool
	PrimaryKey bool // declared inline: `id uuid PRIMARY KEY`
}

type ClusteringOrder struct {
	Column string
	Desc   bool
}

type CreateTableStmt struct {
	Table           TableName
	IfNotExists     bool
	Columns         []ColumnDef
	PartitionKey    []string // from PRIMARY KEY (...); empty when declared inline
	Clustering      []string
	ClusteringOrder []ClusteringOrder
	CompactStorage  bool
	Properties      []Property
}

type DropTableStmt struct {
	Table    TableName
	IfExists bool
}

// AlterTableStmt covers ALTER TABLE t WITH ..., ADD col type [, ...] / ADD (..),
// DROP col [, ...] / DROP (..). Exactly one of the three is set.
type AlterTableStmt struct {
	Table      TableName
	Properties []Property
	Add        []ColumnDef
	Drop       []string
}

// CreateTypeStmt is CREATE TYPE [IF NOT EXISTS] [ks.]name (field type, ...);
// Fields reuse ColumnDef (Name and Type only). (Added by the parser.)
type CreateTypeStmt struct {
	Name        TableName
	IfNotExists bool
	Fields      []ColumnDef
}

// DropTypeStmt is DROP TYPE [IF EXISTS] [ks.]name.
type DropTypeStmt struct {
	Name     TableName
	IfExists bool
}

// AlterTypeStmt is ALTER TYPE name ADD field type, RENAME f TO g [AND ...],
// or ALTER field TYPE type (AlterField set; ScyllaDB refuses it).
type AlterTypeStmt struct {
	Name       TableName
	Add        *ColumnDef
	Renames    [][2]string
	AlterField *ColumnDef
}

// IndexTarget is one column of CREATE INDEX: Kind is "" (the column, or a
// collection's values), "keys", "values", "entries" or "full". (Added by
// the parser.)
type IndexTarget struct {
	Column string
	Kind   string
}

// CreateIndexStmt is CREATE [CUSTOM] INDEX [IF NOT EXISTS] [name] ON
// [ks.]table (target) or, for a local index, ((pk, ...), target).
// (Added by the parser.)
type CreateIndexStmt struct {
	Name        string
	IfNotExists bool
	Table       TableName
	Partition   []string // the local index's partition key columns
	Targets     []IndexTarget
	Custom      bool
	Using       string
	Properties  []Property
}

// DropIndexStmt is DROP INDEX [IF EXISTS] [ks.]name.
type DropIndexStmt struct {
	Name     TableName
	IfExists bool
}

// UnsupportedStmt is a statement of ScyllaDB's grammar for a feature the
// emulator does not implement (materialized views, functions, roles...);
// Feature names it. The rest of the statement is not parsed. (Added by the
// parser.)
type UnsupportedStmt struct {
	Feature string
}

type TruncateStmt struct {
	Table TableName
	Using Using // USING TIMEOUT only (added by the parser: Scylla accepts it)
}

// Using holds USING TTL / TIMESTAMP / TIMEOUT; nil fields were not given.
// Timeout is a *Constant of kind LitDuration or a *Marker.
type Using struct {
	TTL       Term
	Timestamp Term
	Timeout   Term
}

type InsertStmt struct {
	Table       TableName
	Columns     []string
	Values      []Term // same length as Columns; the parser checks it
	IfNotExists bool
	Using       Using
	JSON        Term // INSERT ... JSON '...'; Columns/Values are then empty
	// DefaultUnset is INSERT ... JSON ... DEFAULT UNSET: columns missing
	// from the JSON are left untouched instead of being set to null.
	// (Added by the parser.)
	DefaultUnset bool
}

// AssignOp says how an UPDATE assignment combines with the current value.
type AssignOp int

const (
	AssignSet        AssignOp = iota // c = v
	AssignAdd                        // c = c + v
	AssignPrepend                    // c = v + c
	AssignSub                        // c = c - v
	AssignElement                    // c[k] = v
	AssignFieldSet                   // c.field = v (UDT; parsed, executor may reject)
	AssignCounterAdd                 // c += v (shorthand accepted by Scylla)
	AssignCounterSub                 // c -= v
)

type Assignment struct {
	Column string
	Op     AssignOp
	Key    Term   // element key/index for AssignElement
	Field  string // for AssignFieldSet
	Value  Term
}

type UpdateStmt struct {
	Table      TableName
	Using      Using
	Set        []Assignment
	Where      []Relation
	IfExists   bool
	Conditions []Condition // IF c = v AND ...
}

// DeleteTarget is a column to delete, optionally one element of a collection
// (DELETE m['k'] FROM ...).
type DeleteTarget struct {
	Column string
	Key    Term
	Field  string // DELETE u.field FROM ... (UDT; added by the parser)
}

type DeleteStmt struct {
	Table      TableName
	Columns    []DeleteTarget // empty: delete the whole row / partition / range
	Using      Using
	Where      []Relation
	IfExists   bool
	Conditions []Condition
}

type BatchType int

const (
	BatchLogged BatchType = iota
	BatchUnlogged
	BatchCounter
)

type BatchStmt struct {
	Type       BatchType
	Using      Using
	Statements []Statement // *InsertStmt, *UpdateStmt, *DeleteStmt
}

// Selector is one item of a SELECT list.
type Selector struct {
	Expr  SelectExpr
	Alias string
}

// SelectExpr is *ColumnRef, *SelectFunc, *CountStar, or a Term (*Constant).
type SelectExpr interface{ selectExpr() }

type ColumnRef struct{ Name string }

// SelectFunc is a function call in a SELECT list: writetime(c), ttl(c),
// token(a, b), count(c), max(c), toTimestamp(c), cast... Name is lower-cased.
type SelectFunc struct {
	Name string
	Args []SelectExpr
}

// SelectField is a UDT field selection `expr.field`. (Added by the parser.)
type SelectField struct {
	Expr  SelectExpr
	Field string
}

// CountStar is COUNT(*) (or COUNT(1)).
type CountStar struct{}

// SelectCast is CAST(expr AS type) in a SELECT list; Type is normalised as
// in ColumnDef. (Added by the parser: the other SelectExprs cannot hold a
// type.)
type SelectCast struct {
	Expr SelectExpr
	Type string
}

type Ordering struct {
	Column string
	Desc   bool
}

type SelectStmt struct {
	Table             TableName
	Distinct          bool
	JSON              bool
	Star              bool // SELECT *; Selectors is then empty
	Selectors         []Selector
	Where             []Relation
	GroupBy           []string
	OrderBy           []Ordering
	PerPartitionLimit Term
	Limit             Term
	AllowFiltering    bool
	BypassCache       bool
	Using             Using // USING TIMEOUT only
}

// RelOp is a WHERE/IF comparison operator.
type RelOp int

const (
	OpEq RelOp = iota
	OpLt
	OpLte
	OpGt
	OpGte
	OpNeq
	OpIn
	OpContains
	OpContainsKey
	OpLike
	OpIsNotNull
	OpNotIn // c NOT IN (...) / NOT IN ?; shaped like OpIn (added by the parser)
)

// Relation is one WHERE term.
//   - `c op v`:               Columns = [c]
//   - `token(a, b) op v`:     Token = true, Columns = [a, b]
//   - `(a, b) op (v1, v2)`:   Columns = [a, b], Value is a *TupleLit or *Marker
//   - `c IN (v1, v2)`:        In = [v1, v2];   `c IN ?`: Value = *Marker
//   - `(a, b) IN ((..),(..))`: In holds *TupleLit
//   - `c IS NOT NULL`:        Op = OpIsNotNull, Value = nil
//   - `m[k] op v`:            Columns = [m], Key = k (added by the parser)
//
// `c IN ()` has a non-nil, empty In, so it can be told from `c IN ?`.
type Relation struct {
	Columns []string
	Token   bool
	Op      RelOp
	Value   Term
	In      []Term
	Key     Term
}

// Condition is one LWT IF term: `c op v`, `c[k] op v`, `c IN (...)`.
type Condition struct {
	Column string
	Key    Term   // element access c[k]
	Field  string // UDT field access c.f (added by the parser)
	Op     RelOp
	Value  Term
	In     []Term
}

// DescribeStmt is the raw `DESCRIBE KEYSPACE ks WITH INTERNALS` that gocql
// sends; any other DESCRIBE form is also parsed, with Kind naming what follows
// DESCRIBE (lower-cased: "keyspace", "table", "keyspaces", "tables", ...).
// Synonyms are folded (COLUMNFAMILY is "table"); two-word forms keep both
// words ("full schema", "only keyspace", "materialized view"); a bare
// `DESCRIBE name` has Kind "". A keyspace name is stored in Name.Name, and
// is empty for `DESCRIBE KEYSPACE` without a name (the current keyspace).
type DescribeStmt struct {
	Kind      string
	Name      TableName
	Internals bool
}

// Term is a value expression: *Constant, *Marker, *ListLit, *SetLit, *MapLit,
// *TupleLit, *FuncCall, *Null, *Cast, *Negate is not used (negative numbers
// are folded into Constant.Text).
type Term interface{ term() }

// LitKind is the lexical kind of a constant.
type LitKind int

const (
	LitString   LitKind = iota // 'text' or $$text$$ (Text is unescaped)
	LitInteger                 // 42, -7
	LitFloat                   // 1.5, -2e10, NaN, Infinity, -Infinity
	LitBool                    // true / false (Text lower-cased)
	LitUUID                    // 123e4567-e89b-12d3-a456-426614174000
	LitHex                     // 0xCAFE (Text keeps the 0x prefix)
	LitDuration                // 1h30m, P1D, 500ms (Text as written)
)

type Constant struct {
	Kind LitKind
	Text string
}

// Null is the NULL literal.
type Null struct{}

// Marker is a bind marker: `?` (Name empty) or `:name`. Index is its position
// among all markers of the statement, starting at 0; a name that repeats
// still gets a new index. Name is case-folded like any identifier.
type Marker struct {
	Index int
	Name  string
}

type ListLit struct{ Elems []Term }
type SetLit struct{ Elems []Term }
type MapLit struct {
	Keys   []Term
	Values []Term
}
type TupleLit struct{ Elems []Term }

// UserTypeLit is a UDT literal {field: term, ...}. (Added by the parser.)
type UserTypeLit struct {
	Fields []string
	Values []Term
}

// FuncCall is a function in a value position: now(), uuid(),
// minTimeuuid(?), maxTimeuuid('2020-01-01'), toTimestamp(now()), token(?)...
// Name is lower-cased (quoted names keep their case) and is "ks.name" when
// keyspace-qualified.
type FuncCall struct {
	Name string
	Args []Term
}

// Cast is `(type) term`, e.g. (int)?; Type as in ColumnDef.
type Cast struct {
	Type string
	Term Term
}

func (*UseStmt) stmt()            {}
func (*CreateKeyspaceStmt) stmt() {}
func (*DropKeyspaceStmt) stmt()   {}
func (*CreateTableStmt) stmt()    {}
func (*DropTableStmt) stmt()      {}
func (*AlterTableStmt) stmt()     {}
func (*TruncateStmt) stmt()       {}
func (*InsertStmt) stmt()         {}
func (*UpdateStmt) stmt()         {}
func (*DeleteStmt) stmt()         {}
func (*BatchStmt) stmt()          {}
func (*SelectStmt) stmt()         {}
func (*DescribeStmt) stmt()       {}
func (*CreateTypeStmt) stmt()     {}
func (*DropTypeStmt) stmt()       {}
func (*AlterTypeStmt) stmt()      {}
func (*CreateIndexStmt) stmt()    {}
func (*DropIndexStmt) stmt()      {}
func (*UnsupportedStmt) stmt()    {}

func (*ColumnRef) selectExpr()   {}
func (*SelectFunc) selectExpr()  {}
func (*CountStar) selectExpr()   {}
func (*SelectCast) selectExpr()  {}
func (*SelectField) selectExpr() {}
func (*Constant) selectExpr()    {}

func (*Constant) term()    {}
func (*Null) term()        {}
func (*Marker) term()      {}
func (*ListLit) term()     {}
func (*SetLit) term()      {}
func (*MapLit) term()      {}
func (*TupleLit) term()    {}
func (*UserTypeLit) term() {}
func (*FuncCall) term()    {}
func (*Cast) term()        {}
