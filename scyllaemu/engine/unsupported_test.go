package engine_test

import (
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// TestUnsupportedFeatures checks that what the emulator does not implement
// is refused with an error that says so, rather than half-done: an
// Invalid error naming scyllaemu, except DESCRIBE, which must be a syntax
// error for gocql to fall back to building schema text itself.
func TestUnsupportedFeatures(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TABLE ks.t (k int, c int, v int, d duration, u frozen<list<int>>, PRIMARY KEY (k, c))`)
	tests := []struct {
		stmt string
		code int32
		msg  string
	}{
		{`CREATE MATERIALIZED VIEW ks.mv AS SELECT * FROM ks.t WHERE v IS NOT NULL PRIMARY KEY (v, k, c)`, wire.Invalid, "materialized views are not supported by scyllaemu"},
		{`CREATE FUNCTION ks.f (x int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE lua AS 'return x'`, wire.Invalid, "user-defined functions are not supported by scyllaemu"},
		{`CREATE AGGREGATE ks.a (int) SFUNC f STYPE int`, wire.Invalid, "user-defined aggregates are not supported by scyllaemu"},
		{`CREATE TRIGGER tr ON ks.t USING 'x'`, wire.Invalid, "triggers are not supported by scyllaemu"},
		{`CREATE ROLE r`, wire.Invalid, "roles and users are not supported by scyllaemu"},
		{`LIST ROLES`, wire.Invalid, "roles and users are not supported by scyllaemu"},
		{`GRANT SELECT ON ks.t TO r`, wire.Invalid, "permissions are not supported by scyllaemu"},
		{`CREATE SERVICE LEVEL sl`, wire.Invalid, "service levels are not supported by scyllaemu"},
		{`ALTER KEYSPACE ks WITH durable_writes = false`, wire.Invalid, "ALTER KEYSPACE are not supported by scyllaemu"},
		{`DESCRIBE KEYSPACE ks`, wire.SyntaxError, "DESCRIBE statements are not supported by scyllaemu"},
		{`CREATE TABLE ks.n (k int PRIMARY KEY, n counter)`, wire.Invalid, "Counter columns are not supported by scyllaemu"},
		{`CREATE TABLE ks.n (k int, c int, PRIMARY KEY (k, c)) WITH COMPACT STORAGE`, wire.Invalid, "COMPACT STORAGE is not supported by scyllaemu"},
		{`CREATE INDEX ON ks.t (v) WITH OPTIONS = {'a': 'b'}`, wire.Invalid, "Index options are not supported by scyllaemu"},
		{`CREATE INDEX ON ks.t (d)`, wire.Invalid, "Secondary indexes are not supported on duration columns (column d)"},
		{`SELECT JSON * FROM ks.t`, wire.Invalid, "SELECT JSON is not supported by scyllaemu"},
		{`INSERT INTO ks.t JSON '{"k": 1, "c": 1}'`, wire.Invalid, "INSERT JSON is not supported by scyllaemu"},
		{`SELECT k, count(*) FROM ks.t GROUP BY k`, wire.Invalid, "GROUP BY is not supported by scyllaemu"},
		{`SELECT CAST(v AS text) FROM ks.t`, wire.Invalid, "CAST in a selection is not supported by scyllaemu"},
		{`SELECT * FROM ks.t WHERE k = 1 AND u[0] = 1 ALLOW FILTERING`, wire.Invalid, "Restrictions on collection elements (u[...]) are not supported by scyllaemu"},
		{`SELECT * FROM ks.t WHERE v LIKE 'a%' ALLOW FILTERING`, wire.Invalid, "LIKE restriction is not supported by scyllaemu"},
		{`BEGIN COUNTER BATCH UPDATE ks.t SET v = 1 WHERE k = 1 AND c = 1; APPLY BATCH`, wire.Invalid, "Counter batches are not supported by scyllaemu"},
	}
	for _, tc := range tests {
		t.Run(tc.stmt, func(t *testing.T) {
			_, err := h.run(tc.stmt)
			wantError(t, err, tc.code, tc.msg)
		})
	}
}
