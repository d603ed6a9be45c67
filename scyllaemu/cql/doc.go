// Package cql owns the CQL text front end of scyllaemu: a hand-written lexer
// and recursive-descent parser that turn a query string into the AST in
// ast.go, or into a *SyntaxError worded like ScyllaDB's ANTLR errors.
//
// The grammar follows ScyllaDB's cql3/Cql.g for every statement shape the
// real drivers (gocql, gocqlx/qb, scylla-cdc-go) and this project send, plus
// a few Cassandra spellings where accepting them costs nothing. Only syntax
// is checked here; everything that needs the schema is the executor's job.
//
// Parse runs on every QUERY and PREPARE frame, so the implementation avoids
// regexp, reflection and fmt on the success path, and it must never panic:
// every loop consumes a token or stops, every lookahead is bounds-checked,
// and nesting depth is capped so hostile input cannot exhaust the stack.
package cql
