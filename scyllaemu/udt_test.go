package scyllaemu_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

type address struct {
	Street string `cql:"street"`
	Zip    int    `cql:"zip"`
}

// TestUserDefinedTypes covers the life of a UDT as the drivers see it:
// DDL with schema events and system_schema.types (gocql's metadata),
// frozen and non-frozen columns, both literal forms, field updates and
// deletes, field selection and conditions, ALTER TYPE, DROP TYPE.
func TestUserDefinedTypes(t *testing.T) {
	_, sx := startEmu(t, scyllaemu.Options{})
	s := sx.Session
	mustExec(t, sx, createKS,
		`CREATE TYPE ks.address (street text, zip int)`,
		`CREATE TABLE ks.p (id int PRIMARY KEY, home address, work frozen<address>, old list<frozen<address>>)`)

	md, err := s.KeyspaceMetadata("ks")
	if err != nil {
		t.Fatal(err)
	}
	ut := md.Types["address"]
	if ut == nil || !reflect.DeepEqual(ut.FieldNames, []string{"street", "zip"}) || !reflect.DeepEqual(ut.FieldTypes, []string{"text", "int"}) {
		t.Fatalf("gocql user type metadata: %+v", ut)
	}

	steps := []struct {
		stmt string
		args []any
		want address
	}{
		{`INSERT INTO ks.p (id, home) VALUES (1, {street: 'Main', zip: 10})`, nil, address{"Main", 10}},
		{`UPDATE ks.p SET home.zip = 11 WHERE id = 1`, nil, address{"Main", 11}},
		{`UPDATE ks.p SET home = ('Side', 12) WHERE id = 1`, nil, address{"Side", 12}},
		{`UPDATE ks.p SET home = ? WHERE id = 1`, []any{address{"Bound", 13}}, address{"Bound", 13}},
		{`DELETE home.street FROM ks.p WHERE id = 1`, nil, address{"", 13}},
		{`UPDATE ks.p SET home = {zip: 14} WHERE id = 1`, nil, address{"", 14}},
	}
	for _, st := range steps {
		if err := s.Query(st.stmt, st.args...).Exec(); err != nil {
			t.Fatalf("%s: %v", st.stmt, err)
		}
		var got address
		if err := s.Query(`SELECT home FROM ks.p WHERE id = 1`).Scan(&got); err != nil || got != st.want {
			t.Fatalf("%s: home = %+v (%v), want %+v", st.stmt, got, err, st.want)
		}
	}
	var zip int
	if err := s.Query(`SELECT home.zip FROM ks.p WHERE id = 1`).Scan(&zip); err != nil || zip != 14 {
		t.Fatalf("field selection: %d %v", zip, err)
	}
	if applied, err := s.Query(`UPDATE ks.p SET work = ('Office', 1) WHERE id = 1 IF home.zip = 14`).MapScanCAS(map[string]any{}); err != nil || !applied {
		t.Fatalf("condition on a field: applied=%v %v", applied, err)
	}
	mustExec(t, sx, `UPDATE ks.p SET old = old + [('A', 1)] WHERE id = 1`, `ALTER TYPE ks.address ADD country text`,
		`ALTER TYPE ks.address RENAME zip TO postcode`)
	row := map[string]any{}
	if err := s.Query(`SELECT work FROM ks.p WHERE id = 1`).MapScan(row); err != nil {
		t.Fatal(err)
	}
	// The stored value predates the new field: it is shorter than the type,
	// and gocql leaves the missing field out.
	if w := row["work"].(map[string]any); w["postcode"] != 1 || w["street"] != "Office" || len(w) != 2 {
		t.Fatalf("old value read through the altered type: %v", w)
	}

	errs := []struct {
		stmt string
		code int
		msg  string
	}{
		{`CREATE TYPE ks.address (a int)`, 0x2200, "A user type of name ks.address already exists"},
		{`CREATE TYPE ks.bad (a int, a text)`, 0x2200, "Duplicate field name a in type bad"},
		{`CREATE TYPE ks.bad (a address)`, 0x2200, "A user type cannot contain non-frozen user type fields"},
		{`CREATE TABLE ks.bad (id int PRIMARY KEY, v list<address>)`, 0x2200, "Non-frozen user types or collections are not allowed inside collections: list<address>"},
		{`CREATE TABLE ks.bad (id int PRIMARY KEY, v missing)`, 0x2200, "Unknown type ks.missing"},
		{`CREATE TABLE ks.bad (id address PRIMARY KEY)`, 0x2200, "Invalid non-frozen user-defined type for PRIMARY KEY component id"},
		{`UPDATE ks.p SET work.street = 'x' WHERE id = 1`, 0x2200, "for frozen UDT column work"},
		{`UPDATE ks.p SET home.nope = 'x' WHERE id = 1`, 0x2200, "UDT column home does not have a field named nope"},
		{`INSERT INTO ks.p (id, home) VALUES (2, {nope: 1})`, 0x2200, "Unknown field 'nope'"},
		{`ALTER TYPE ks.address ALTER street TYPE blob`, 0x2200, "Altering of types is not allowed"},
		{`DROP TYPE ks.address`, 0x2200, "Cannot drop user type ks.address as it is still used by table ks.p"},
		{`DROP TYPE ks.nope`, 0x2200, "No user type named ks.nope exists."},
	}
	for _, tc := range errs {
		err := s.Query(tc.stmt).Exec()
		if errCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: want %#x %q, got %v", tc.stmt, tc.code, tc.msg, err)
		}
	}
	mustExec(t, sx, `DROP TABLE ks.p`, `DROP TYPE ks.address`, `DROP TYPE IF EXISTS ks.address`)
	if err := s.AwaitSchemaAgreement(t.Context()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Query(`SELECT COUNT(*) FROM system_schema.types WHERE keyspace_name = 'ks'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("system_schema.types after DROP TYPE: %d rows, %v", n, err)
	}
}
