package engine_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

func created(target, ks, name string) engine.SchemaChange {
	return engine.SchemaChange{Change: "CREATED", Target: target, Keyspace: ks, Name: name}
}

func updated(target, ks, name string) engine.SchemaChange {
	return engine.SchemaChange{Change: "UPDATED", Target: target, Keyspace: ks, Name: name}
}

func dropped(target, ks, name string) engine.SchemaChange {
	return engine.SchemaChange{Change: "DROPPED", Target: target, Keyspace: ks, Name: name}
}

// TestDDL runs each schema statement on a fresh engine prepared by setup
// and checks the schema changes it announces (the first is also its
// result), or its error, and then what a query shows.
func TestDDL(t *testing.T) {
	const (
		table    = `CREATE TABLE ks.t (k int PRIMARY KEY, v int)`
		cdcTable = `CREATE TABLE ks.t (k int PRIMARY KEY, v int) WITH cdc = {'enabled': true}`
		udt      = `CREATE TYPE ks.addr (street text, zip int)`
	)
	type check struct {
		q    string
		want []string
	}
	tests := []struct {
		name    string
		setup   []string
		stmt    string
		changes []engine.SchemaChange // nil with code 0: a void result
		code    int32
		msg     string
		check   *check
	}{
		// Keyspaces.
		{name: "create keyspace", stmt: createKS,
			changes: []engine.SchemaChange{created("KEYSPACE", "ks", "")},
			check:   &check{`SELECT keyspace_name, durable_writes FROM system_schema.keyspaces WHERE keyspace_name = 'ks'`, []string{"ks, True"}}},
		{name: "create keyspace twice", setup: []string{createKS}, stmt: createKS,
			code: wire.AlreadyExists, msg: "Keyspace ks already exists"},
		{name: "create keyspace if not exists", setup: []string{createKS},
			stmt: `CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`},
		{name: "keyspace without replication", stmt: `CREATE KEYSPACE ks WITH durable_writes = true`,
			code: wire.ConfigError, msg: "Missing mandatory option 'replication'"},
		{name: "unknown replication class", stmt: `CREATE KEYSPACE ks WITH replication = {'class': 'Nope'}`,
			code: wire.ConfigError, msg: "Unable to find replication strategy class 'org.apache.cassandra.locator.Nope'"},
		{name: "SimpleStrategy without a factor", stmt: `CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy'}`,
			code: wire.ConfigError, msg: "SimpleStrategy requires a replication_factor strategy option."},
		{name: "unknown keyspace property", stmt: `CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND colour = 'red'`,
			code: wire.SyntaxError, msg: "Unknown property 'colour'"},
		{name: "system keyspace names are reserved", stmt: `CREATE KEYSPACE system_x WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
			code: wire.Unauthorized, msg: "system_x keyspace is not user-modifiable."},
		{name: "drop keyspace", setup: []string{createKS, cdcTable}, stmt: `DROP KEYSPACE ks`,
			changes: []engine.SchemaChange{dropped("KEYSPACE", "ks", "")},
			check:   &check{`SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks'`, []string{}}},
		{name: "drop missing keyspace", stmt: `DROP KEYSPACE nope`,
			code: wire.ConfigError, msg: "Cannot drop non existing keyspace 'nope'."},
		{name: "drop missing keyspace if exists", stmt: `DROP KEYSPACE IF EXISTS nope`},
		{name: "drop a system keyspace", stmt: `DROP KEYSPACE system`,
			code: wire.Unauthorized, msg: "system keyspace is not user-modifiable."},
		{name: "alter keyspace", setup: []string{createKS}, stmt: `ALTER KEYSPACE ks WITH durable_writes = false`,
			code: wire.Invalid, msg: "ALTER KEYSPACE are not supported by scyllaemu"},

		// Tables.
		{name: "create table", setup: []string{createKS}, stmt: table,
			changes: []engine.SchemaChange{created("TABLE", "ks", "t")},
			check:   &check{`SELECT column_name, kind, type FROM system_schema.columns WHERE keyspace_name = 'ks' AND table_name = 't'`, []string{"k, partition_key, int", "v, regular, int"}}},
		{name: "create table with CDC creates its log", setup: []string{createKS}, stmt: cdcTable,
			changes: []engine.SchemaChange{created("TABLE", "ks", "t"), created("TABLE", "ks", "t_scylla_cdc_log")},
			check:   &check{`SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks'`, []string{"t", "t_scylla_cdc_log"}}},
		{name: "create table twice", setup: []string{createKS, table}, stmt: table,
			code: wire.AlreadyExists, msg: "Table ks.t already exists"},
		{name: "create table if not exists", setup: []string{createKS, table}, stmt: `CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY)`},
		{name: "table in a missing keyspace", stmt: table,
			code: wire.Invalid, msg: "Cannot add table 't' to non existing keyspace 'ks'."},
		{name: "table without a keyspace", stmt: `CREATE TABLE t (k int PRIMARY KEY)`,
			code: wire.Invalid, msg: "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename"},
		{name: "no primary key", setup: []string{createKS}, stmt: `CREATE TABLE ks.t (k int, v int)`,
			code: wire.Invalid, msg: "No PRIMARY KEY specified (exactly one required)"},
		// ScyllaDB's parser refuses this one, hence a syntax error.
		{name: "two primary keys", setup: []string{createKS}, stmt: `CREATE TABLE ks.t (k int PRIMARY KEY, v int, PRIMARY KEY (v))`,
			code: wire.SyntaxError, msg: "Multiple PRIMARY KEYs specified (exactly one required)"},
		{name: "unknown key column", setup: []string{createKS}, stmt: `CREATE TABLE ks.t (k int, PRIMARY KEY (k, c))`,
			code: wire.Invalid, msg: "Unknown definition c referenced in PRIMARY KEY"},
		{name: "static column without clustering", setup: []string{createKS}, stmt: `CREATE TABLE ks.t (k int PRIMARY KEY, s int STATIC)`,
			code: wire.Invalid, msg: "Static columns are only useful (and thus allowed) if the table has at least one clustering column"},
		{name: "non-frozen collection in the key", setup: []string{createKS}, stmt: `CREATE TABLE ks.t (k list<int> PRIMARY KEY)`,
			code: wire.Invalid, msg: "Invalid non-frozen collection type for PRIMARY KEY component k"},
		{name: "clustering order of another column", setup: []string{createKS},
			stmt: `CREATE TABLE ks.t (k int, c int, v int, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (v DESC)`,
			code: wire.Invalid, msg: "Only clustering key columns can be defined in CLUSTERING ORDER directive"},
		{name: "unknown table property", setup: []string{createKS}, stmt: `CREATE TABLE ks.t (k int PRIMARY KEY) WITH colour = 'red'`,
			code: wire.SyntaxError, msg: "Unknown property 'colour'"},
		{name: "unknown CDC option", setup: []string{createKS}, stmt: `CREATE TABLE ks.t (k int PRIMARY KEY) WITH cdc = {'enabled': true, 'colour': 'red'}`,
			code: wire.ConfigError, msg: "Invalid CDC option: colour"},
		{name: "default TTL out of range", setup: []string{createKS}, stmt: `CREATE TABLE ks.t (k int PRIMARY KEY) WITH default_time_to_live = -1`,
			code: wire.ConfigError, msg: "default_time_to_live must be between 0 and 630720000, got -1"},
		{name: "drop table with CDC drops its log", setup: []string{createKS, cdcTable}, stmt: `DROP TABLE ks.t`,
			changes: []engine.SchemaChange{dropped("TABLE", "ks", "t"), dropped("TABLE", "ks", "t_scylla_cdc_log")},
			check:   &check{`SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks'`, []string{}}},
		{name: "drop missing table", setup: []string{createKS}, stmt: `DROP TABLE ks.nope`,
			code: wire.Invalid, msg: "Cannot drop non existing table 'nope' in keyspace 'ks'."},
		{name: "drop table of a missing keyspace", stmt: `DROP TABLE nope.t`,
			code: wire.Invalid, msg: "Keyspace nope does not exist"},
		{name: "drop missing table if exists", setup: []string{createKS}, stmt: `DROP TABLE IF EXISTS ks.nope`},
		{name: "drop a CDC log table", setup: []string{createKS, cdcTable}, stmt: `DROP TABLE ks.t_scylla_cdc_log`,
			code: wire.Invalid, msg: "Cannot drop CDC log table ks.t_scylla_cdc_log: disable CDC on ks.t instead"},
		{name: "alter table add", setup: []string{createKS, table}, stmt: `ALTER TABLE ks.t ADD w text`,
			changes: []engine.SchemaChange{updated("TABLE", "ks", "t")},
			check:   &check{`SELECT column_name FROM system_schema.columns WHERE keyspace_name = 'ks' AND table_name = 't'`, []string{"k", "v", "w"}}},
		{name: "alter table add an existing column", setup: []string{createKS, table}, stmt: `ALTER TABLE ks.t ADD v text`,
			code: wire.Invalid, msg: "Invalid column name v because it conflicts with an existing column"},
		{name: "alter table drop", setup: []string{createKS, table}, stmt: `ALTER TABLE ks.t DROP v`,
			changes: []engine.SchemaChange{updated("TABLE", "ks", "t")},
			check:   &check{`SELECT column_name FROM system_schema.columns WHERE keyspace_name = 'ks' AND table_name = 't'`, []string{"k"}}},
		{name: "alter table drop a key column", setup: []string{createKS, table}, stmt: `ALTER TABLE ks.t DROP k`,
			code: wire.Invalid, msg: "Cannot drop PRIMARY KEY part k"},
		{name: "alter table drop a missing column", setup: []string{createKS, table}, stmt: `ALTER TABLE ks.t DROP nope`,
			code: wire.Invalid, msg: "Column nope was not found in table t"},
		{name: "alter table enables CDC", setup: []string{createKS, table}, stmt: `ALTER TABLE ks.t WITH cdc = {'enabled': true}`,
			changes: []engine.SchemaChange{updated("TABLE", "ks", "t"), created("TABLE", "ks", "t_scylla_cdc_log")}},
		{name: "alter table disables CDC", setup: []string{createKS, cdcTable}, stmt: `ALTER TABLE ks.t WITH cdc = {'enabled': false}`,
			changes: []engine.SchemaChange{updated("TABLE", "ks", "t"), dropped("TABLE", "ks", "t_scylla_cdc_log")}},
		{name: "alter a missing table", setup: []string{createKS}, stmt: `ALTER TABLE ks.nope ADD w int`,
			code: wire.Invalid, msg: "unconfigured table nope"},
		{name: "truncate", setup: []string{createKS, table, `INSERT INTO ks.t (k, v) VALUES (1, 1)`}, stmt: `TRUNCATE ks.t`,
			check: &check{`SELECT k FROM ks.t`, []string{}}},
		{name: "truncate a missing table", setup: []string{createKS}, stmt: `TRUNCATE ks.nope`,
			code: wire.Invalid, msg: "unconfigured table nope"},
		{name: "write to a system table", stmt: `INSERT INTO system.local (key) VALUES ('x')`,
			code: wire.Unauthorized, msg: "system keyspace is not user-modifiable."},

		// User-defined types.
		{name: "create type", setup: []string{createKS}, stmt: udt,
			changes: []engine.SchemaChange{created("TYPE", "ks", "addr")},
			check:   &check{`SELECT field_names, field_types FROM system_schema.types WHERE keyspace_name = 'ks' AND type_name = 'addr'`, []string{"['street', 'zip'], ['text', 'int']"}}},
		{name: "create type twice", setup: []string{createKS, udt}, stmt: udt,
			code: wire.Invalid, msg: "A user type of name ks.addr already exists"},
		{name: "type in a missing keyspace", stmt: udt,
			code: wire.Invalid, msg: "Cannot add type in unknown keyspace ks"},
		{name: "type with a duplicate field", setup: []string{createKS}, stmt: `CREATE TYPE ks.addr (zip int, zip text)`,
			code: wire.Invalid, msg: "Duplicate field name zip in type addr"},
		{name: "alter type add", setup: []string{createKS, udt}, stmt: `ALTER TYPE ks.addr ADD country text`,
			changes: []engine.SchemaChange{updated("TYPE", "ks", "addr")},
			check:   &check{`SELECT field_names FROM system_schema.types WHERE keyspace_name = 'ks' AND type_name = 'addr'`, []string{"['street', 'zip', 'country']"}}},
		{name: "alter type add an existing field", setup: []string{createKS, udt}, stmt: `ALTER TYPE ks.addr ADD zip text`,
			code: wire.Invalid, msg: "Cannot add new field zip to type ks.addr: a field of the same name already exists"},
		{name: "alter type rename", setup: []string{createKS, udt}, stmt: `ALTER TYPE ks.addr RENAME zip TO postcode`,
			changes: []engine.SchemaChange{updated("TYPE", "ks", "addr")},
			check:   &check{`SELECT field_names FROM system_schema.types WHERE keyspace_name = 'ks' AND type_name = 'addr'`, []string{"['street', 'postcode']"}}},
		{name: "alter a type in use announces its tables", setup: []string{createKS, udt, `CREATE TABLE ks.p (k int PRIMARY KEY, a frozen<addr>)`, `INSERT INTO ks.p (k, a) VALUES (1, {street: 'Main', zip: 1})`},
			stmt:    `ALTER TYPE ks.addr RENAME zip TO postcode`,
			changes: []engine.SchemaChange{updated("TYPE", "ks", "addr"), updated("TABLE", "ks", "p")},
			check:   &check{`SELECT a.postcode, a FROM ks.p`, []string{"1, {street: 'Main', postcode: 1}"}}},
		{name: "alter type rename a missing field", setup: []string{createKS, udt}, stmt: `ALTER TYPE ks.addr RENAME nope TO other`,
			code: wire.Invalid, msg: "Unknown field nope in type ks.addr"},
		{name: "drop type", setup: []string{createKS, udt}, stmt: `DROP TYPE ks.addr`,
			changes: []engine.SchemaChange{dropped("TYPE", "ks", "addr")},
			check:   &check{`SELECT type_name FROM system_schema.types WHERE keyspace_name = 'ks'`, []string{}}},
		{name: "drop a type in use", setup: []string{createKS, udt, `CREATE TABLE ks.p (k int PRIMARY KEY, a frozen<addr>)`}, stmt: `DROP TYPE ks.addr`,
			code: wire.Invalid, msg: "Cannot drop user type ks.addr as it is still used by table ks.p"},
		{name: "drop a missing type", setup: []string{createKS}, stmt: `DROP TYPE ks.nope`,
			code: wire.Invalid, msg: "No user type named ks.nope exists."},

		// Secondary indexes.
		{name: "create index", setup: []string{createKS, table}, stmt: `CREATE INDEX t_v ON ks.t (v)`,
			changes: []engine.SchemaChange{updated("TABLE", "ks", "t")},
			check:   &check{`SELECT index_name, kind FROM system_schema.indexes WHERE keyspace_name = 'ks' AND table_name = 't'`, []string{"t_v, COMPOSITES"}}},
		{name: "create index twice", setup: []string{createKS, table, `CREATE INDEX t_v ON ks.t (v)`}, stmt: `CREATE INDEX t_v ON ks.t (v)`,
			code: wire.Invalid, msg: "Index t_v already exists"},
		{name: "unnamed indexes on one column get distinct names", setup: []string{createKS, `CREATE TABLE ks.m (k int PRIMARY KEY, m map<text, int>)`, `CREATE INDEX ON ks.m (keys(m))`},
			stmt:    `CREATE INDEX ON ks.m (entries(m))`,
			changes: []engine.SchemaChange{updated("TABLE", "ks", "m")},
			check:   &check{`SELECT index_name, options FROM system_schema.indexes WHERE keyspace_name = 'ks' AND table_name = 'm'`, []string{"m_m_idx, {'target': 'keys(m)'}", "m_m_idx_1, {'target': 'entries(m)'}"}}},
		{name: "the same index twice", setup: []string{createKS, table, `CREATE INDEX ON ks.t (v)`}, stmt: `CREATE INDEX ON ks.t (v)`,
			code: wire.Invalid, msg: "Index t_v_idx_1 is a duplicate of existing index t_v_idx"},
		{name: "the same index twice under another name", setup: []string{createKS, table, `CREATE INDEX ON ks.t (v)`}, stmt: `CREATE INDEX other ON ks.t (v)`,
			code: wire.Invalid, msg: "Index other is a duplicate of existing index t_v_idx"},
		{name: "the same index if not exists", setup: []string{createKS, table, `CREATE INDEX ON ks.t (v)`}, stmt: `CREATE INDEX IF NOT EXISTS ON ks.t (v)`},
		{name: "index on a missing column", setup: []string{createKS, table}, stmt: `CREATE INDEX ON ks.t (nope)`,
			code: wire.Invalid, msg: "No column definition found for column nope"},
		{name: "index on the only partition key column", setup: []string{createKS, table}, stmt: `CREATE INDEX ON ks.t (k)`,
			code: wire.Invalid, msg: "Cannot create secondary index on the only partition key column k"},
		{name: "custom index", setup: []string{createKS, table}, stmt: `CREATE CUSTOM INDEX ON ks.t (v) USING 'org.apache.cassandra.index.sasi.SASIIndex'`,
			code: wire.Invalid, msg: "Custom index classes are not supported by scyllaemu (USING 'org.apache.cassandra.index.sasi.SASIIndex')"},
		{name: "index on a CDC log", setup: []string{createKS, cdcTable}, stmt: `CREATE INDEX ON ks.t_scylla_cdc_log (v)`,
			code: wire.Invalid, msg: "Secondary indexes are not supported on CDC log tables"},
		{name: "drop index", setup: []string{createKS, table, `CREATE INDEX t_v ON ks.t (v)`}, stmt: `DROP INDEX ks.t_v`,
			changes: []engine.SchemaChange{updated("TABLE", "ks", "t")},
			check:   &check{`SELECT index_name FROM system_schema.indexes WHERE keyspace_name = 'ks' AND table_name = 't'`, []string{}}},
		{name: "drop a missing index", setup: []string{createKS, table}, stmt: `DROP INDEX ks.nope`,
			code: wire.Invalid, msg: "Index 'nope' could not be found in any of the tables of keyspace 'ks'"},
		{name: "drop a missing index if exists", setup: []string{createKS, table}, stmt: `DROP INDEX IF EXISTS ks.nope`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{}, tc.setup...)
			h.takeChanges()
			res, err := h.run(tc.stmt)
			if tc.code != 0 {
				wantError(t, err, tc.code, tc.msg)
				if got := h.takeChanges(); len(got) != 0 {
					t.Errorf("a failed statement announced %v", got)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				got := h.takeChanges()
				if !reflect.DeepEqual(got, tc.changes) {
					t.Errorf("announced %v, want %v", got, tc.changes)
				}
				switch {
				case tc.changes == nil && res.Kind != engine.ResultVoid:
					t.Errorf("result %+v, want void", res)
				case tc.changes != nil && (res.Kind != engine.ResultSchemaChange || res.Change != tc.changes[0]):
					t.Errorf("result %+v, want the schema change %v", res, tc.changes[0])
				}
			}
			if tc.check != nil {
				if got := h.rows(tc.check.q); !reflect.DeepEqual(got, tc.check.want) {
					t.Errorf("%s: %q, want %q", tc.check.q, got, tc.check.want)
				}
			}
		})
	}
}

// TestAlreadyExistsNamesTheObject checks the extra fields of the
// AlreadyExists error, which drivers show.
func TestAlreadyExistsNamesTheObject(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS, `CREATE TABLE ks.t (k int PRIMARY KEY)`)
	tests := []struct {
		stmt      string
		ks, table string
	}{
		{createKS, "ks", ""},
		{`CREATE TABLE ks.t (k int PRIMARY KEY)`, "ks", "t"},
	}
	for _, tc := range tests {
		_, err := h.run(tc.stmt)
		var ee *engine.Error
		if !errors.As(err, &ee) || ee.Code != wire.AlreadyExists || ee.Keyspace != tc.ks || ee.Table != tc.table {
			t.Errorf("%s: %+v, want AlreadyExists for (%q, %q)", tc.stmt, err, tc.ks, tc.table)
		}
	}
}

// TestUseKeyspace checks USE and unqualified names against the session's
// keyspace.
func TestUseKeyspace(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS, `CREATE TABLE ks.t (k int PRIMARY KEY, v int)`)
	_, err := h.run(`USE nope`)
	wantError(t, err, wire.Invalid, "Keyspace 'nope' does not exist")
	_, err = h.run(`SELECT * FROM t`)
	wantError(t, err, wire.Invalid, "No keyspace has been specified")

	res, err := h.run(`USE ks`)
	if err != nil || res.Kind != engine.ResultSetKeyspace || res.Keyspace != "ks" || h.sess.Keyspace != "ks" {
		t.Fatalf("USE ks: %+v %v, session %+v", res, err, h.sess)
	}
	h.exec(`INSERT INTO t (k, v) VALUES (1, 10)`)
	if got := h.rows(`SELECT k, v FROM t`); !reflect.DeepEqual(got, []string{"1, 10"}) {
		t.Fatalf("unqualified read: %q", got)
	}
	_, err = h.run(`SELECT * FROM nope`)
	wantError(t, err, wire.Invalid, "unconfigured table nope")
}
