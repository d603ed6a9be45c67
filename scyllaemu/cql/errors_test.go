package cql

import (
	"errors"
	"strings"
	"testing"
)

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string // full Error() text
	}{
		{"SELECT * FORM t", "line 1:9 mismatched input 'FORM' expecting K_FROM"},
		{"SELEC * FROM t", "line 1:0 no viable alternative at input 'SELEC'"},
		{"", "line 1:0 no viable alternative at input '<EOF>'"},
		{";", "line 1:0 no viable alternative at input ';'"},
		{"SELECT * FROM t WHERE a = 1;;x", "line 1:29 mismatched input 'x' expecting <EOF>"},
		{"SELECT * FROM t; SELECT * FROM t", "line 1:17 mismatched input 'SELECT' expecting <EOF>"},
		{"SELECT * FROM t WHERE a = 1 LIMIT", "line 1:33 no viable alternative at input '<EOF>'"},
		{"INSERT INTO t (a, b) VALUES (1, 2;", "line 1:33 mismatched input ';' expecting ')'"},
		{"SELECT * FROM t WHERE from = 1", "line 1:22 no viable alternative at input 'from'"},
		{"SELECT a b FROM t", "line 1:9 mismatched input 'b' expecting K_FROM"},
		{"CREATE TABLE t (select int PRIMARY KEY)", "line 1:16 no viable alternative at input 'select'"},
		{"CREATE TABLE t (a int PRIMARY KEY, b int, PRIMARY KEY (b))", "line 1:42 Multiple PRIMARY KEYs specified (exactly one required)"},
		{"CREATE TABLE t (a int PRIMARY KEY, b int PRIMARY KEY)", "line 1:35 Multiple PRIMARY KEYs specified (exactly one required)"},
		{"CREATE TABLE t ()", "line 1:16 no viable alternative at input ')'"},
		{"CREATE TABLE t (, a int PRIMARY KEY)", "line 1:16 no viable alternative at input ','"},
		{"CREATE TABLE t (a map<int>)", "line 1:25 mismatched input '>' expecting ','"},
		{"CREATE TABLE t (a vector<float, x>)", "line 1:32 mismatched input 'x' expecting INTEGER"},
		{"CREATE INDEX ON t a", "line 1:18 mismatched input 'a' expecting '('"},
		{"UPDATE t SET a = b + 1 WHERE k = 1", "line 1:17 Only expressions of the form X = X +/- <value> are supported."},
		{"UPDATE t SET a = 1 + b WHERE k = 1", "line 1:21 Only expressions of the form X = <value> + X are supported."},
		{"UPDATE t SET a = a WHERE k = 1", "line 1:19 mismatched input 'WHERE' expecting '+' or '-'"},
		{"UPDATE t SET a = 1", "line 1:18 mismatched input '<EOF>' expecting K_WHERE"},
		{"DELETE FROM t", "line 1:13 mismatched input '<EOF>' expecting K_WHERE"},
		{"INSERT INTO t (a) VALUES (1, 2)", "line 1:25 Unmatched column names/values"},
		{"SELECT * FROM ?", "line 1:14 Bind variables cannot be used for table names"},
		{"USE ?", "line 1:4 Bind variables cannot be used for keyspace names"},
		{"SELECT * FROM t WHERE a = 'unterminated", "line 1:26 unterminated string literal"},
		{"SELECT * FROM t\nWHERE a = @", "line 2:10 token recognition error at: '@'"},
		{"SELECT * FROM t\n  WHERE a = 1 AND", "line 2:17 no viable alternative at input '<EOF>'"},
		{"INSERT INTO t (a) VALUES ('é', é)", "line 1:31 token recognition error at: 'é'"},
		// The parser error comes first in the text, so it wins over the
		// later lexer error.
		{"SELECT * FORM t WHERE a = @", "line 1:9 mismatched input 'FORM' expecting K_FROM"},
		{"BEGIN BATCH SELECT * FROM t APPLY BATCH", "line 1:12 mismatched input 'SELECT' expecting K_APPLY"},
		{"BEGIN BATCH INSERT INTO t (a) VALUES (1)", "line 1:40 mismatched input '<EOF>' expecting K_APPLY"},
		{"SELECT * FROM t WHERE a IN (1,", "line 1:30 no viable alternative at input '<EOF>'"},
		{"INSERT INTO t (a) VALUES (())", "line 1:27 no viable alternative at input ')'"},
		{"SELECT * FROM t WHERE a = {'a': }", "line 1:32 no viable alternative at input '}'"},
		{"SELECT * FROM t WHERE a = -x", "line 1:26 no viable alternative at input '-'"},
		{"SELECT * FROM t USING TTL 1", "line 1:22 no viable alternative at input 'TTL'"},
		{"DELETE FROM t USING TTL 1 WHERE k = 1", "line 1:20 no viable alternative at input 'TTL'"},
		{"SELECT * FROM t WHERE token(a) IN (1)", "line 1:31 no viable alternative at input 'IN'"},
		{"SELECT * FROM t WHERE a = 1 ALLOW", "line 1:33 mismatched input '<EOF>' expecting K_FILTERING"},
		{"SELECT * FROM t WHERE (a, b) CONTAINS 1", "line 1:29 no viable alternative at input 'CONTAINS'"},
		{"DESCRIBE KEYSPACE ks WITH", "line 1:25 mismatched input '<EOF>' expecting K_INTERNALS"},
		{"SELECT * FROM t WHERE a = " + strings.Repeat("x", 200),
			"line 1:26 no viable alternative at input '" + strings.Repeat("x", maxTokenEcho) + "...'"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want %q", tt.src, tt.want)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error %T is not *SyntaxError", tt.src, err)
			continue
		}
		if got := err.Error(); got != tt.want {
			t.Errorf("Parse(%q)\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
}

func TestSyntaxErrorFields(t *testing.T) {
	_, err := Parse("SELECT *\n\tFROM t\n\tWHRE a = 1")
	se, ok := err.(*SyntaxError)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	if se.Line != 3 || se.Col != 1 || se.Msg != "mismatched input 'WHRE' expecting <EOF>" {
		t.Fatalf("got %+v", *se)
	}
}

// TestReservedWords checks that reserved words are rejected as bare column
// names but accepted quoted, and that every unreserved keyword from Cql.g
// (and Cassandra's extra ones) works bare.
func TestReservedWords(t *testing.T) {
	reserved := []string{"select", "from", "where", "and", "in", "token", "null", "not", "if", "limit", "order", "by", "primary",
		"set", "table", "keyspace", "with", "using", "true", "false", "nan", "infinity", "is", "asc", "allow", "into", "use"}
	for _, w := range reserved {
		if _, err := Parse("SELECT a FROM t WHERE " + w + " = 1"); err == nil {
			t.Errorf("reserved %q accepted as a column", w)
		}
		if _, err := Parse("CREATE TABLE t (" + w + " int PRIMARY KEY)"); err == nil {
			t.Errorf("reserved %q accepted as a column definition", w)
		}
		if _, err := Parse(`SELECT "` + w + `" FROM t WHERE "` + w + `" = 1`); err != nil {
			t.Errorf("quoted %q: %v", w, err)
		}
	}
	unreserved := []string{"keys", "as", "cluster", "clustering", "compact", "storage", "tables", "type", "types", "values", "map", "list",
		"filtering", "permission", "permissions", "keyspaces", "all", "user", "users", "role", "roles", "superuser", "nosuperuser",
		"login", "nologin", "options", "password", "passwords", "hashed", "exists", "custom", "trigger", "distinct", "contains",
		"internals", "static", "frozen", "tuple", "vector", "function", "functions", "aggregate", "aggregates", "sfunc", "stype",
		"reducefunc", "finalfunc", "initcond", "returns", "language", "called", "input", "json", "cache", "bypass",
		"large_data_guardrails", "like", "per", "partition", "service_level", "attach", "detach", "service_levels", "attached", "for",
		"shares", "group", "timeout", "service", "level", "levels", "prune", "only", "describe", "desc", "execute",
		"mutation_fragments", "effective", "ascii", "bigint", "blob", "boolean", "counter", "decimal", "double", "duration", "float",
		"inet", "int", "smallint", "text", "timestamp", "tinyint", "uuid", "varchar", "varint", "timeuuid", "date", "time", "empty",
		"ttl", "count", "writetime", "key", "cast", "default", "replace", "unset", "ann", "maxwritetime"}
	for _, w := range unreserved {
		for _, q := range []string{
			"SELECT " + w + " FROM " + w + "." + w + " WHERE " + w + " = ? AND " + w + " IN (1) ORDER BY " + w,
			"INSERT INTO " + w + " (" + w + ") VALUES (?)",
			"UPDATE " + w + " SET " + w + " = ?, " + w + " = " + w + " + 1 WHERE " + w + " = 1 IF " + w + " = 1",
			"DELETE " + w + " FROM t WHERE " + w + " = 1",
			"CREATE TABLE " + w + " (" + w + " int PRIMARY KEY) WITH " + w + " = 1",
			"ALTER TABLE t ADD " + w + " " + w,
			"USE " + w,
		} {
			if _, err := Parse(q); err != nil {
				t.Errorf("unreserved %q: Parse(%q): %v", w, q, err)
			}
		}
	}
}
