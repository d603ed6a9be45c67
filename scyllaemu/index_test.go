package scyllaemu_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// TestSecondaryIndexes queries global and local secondary indexes without
// ALLOW FILTERING while writes change, delete and expire indexed values,
// and checks what still needs ALLOW FILTERING.
func TestSecondaryIndexes(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, sx := startEmu(t, scyllaemu.Options{Clock: clock.Now})
	s := sx.Session
	mustExec(t, sx, createKS,
		`CREATE TABLE ks.u (p int, c int, email text, tags set<text>, attrs map<text, int>, PRIMARY KEY (p, c))`,
		`INSERT INTO ks.u (p, c, email, tags, attrs) VALUES (1, 1, 'a@x', {'red'}, {'k': 1})`,
		`CREATE INDEX ON ks.u (email)`, // built from the rows already there
		`CREATE INDEX tag_idx ON ks.u (tags)`,
		`CREATE INDEX attr_keys ON ks.u (KEYS(attrs))`,
		`CREATE INDEX c_idx ON ks.u (c)`,
		`CREATE INDEX local_email ON ks.u ((p), email)`,
		`INSERT INTO ks.u (p, c, email, tags) VALUES (2, 1, 'b@x', {'red', 'blue'})`,
		`INSERT INTO ks.u (p, c, email) VALUES (3, 1, 'a@x')`,
		`INSERT INTO ks.u (p, c, email) VALUES (3, 2, 'a@x')`,
		`UPDATE ks.u SET email = 'c@x' WHERE p = 3 AND c = 2`, // the old entry is stale
		`INSERT INTO ks.u (p, c, email) VALUES (4, 1, 'a@x') USING TTL 10`,
		`UPDATE ks.u SET attrs['z'] = 9 WHERE p = 2 AND c = 1`,
	)
	type pc struct{ P, C int }
	query := func(q string, args ...any) []pc {
		t.Helper()
		var out []pc
		iter := s.Query(q, args...).PageSize(1).Iter()
		for r := (pc{}); iter.Scan(&r.P, &r.C); {
			out = append(out, r)
		}
		if err := iter.Close(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	sorted := func(rs []pc) []pc {
		sort.Slice(rs, func(i, j int) bool { return rs[i].P < rs[j].P || (rs[i].P == rs[j].P && rs[i].C < rs[j].C) })
		return rs
	}
	var tokOrder []pc
	iter := s.Query(`SELECT p, c FROM ks.u`).Iter()
	for r := (pc{}); iter.Scan(&r.P, &r.C); {
		tokOrder = append(tokOrder, r)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	inTokenOrder := func(rs []pc) []pc {
		var out []pc
		for _, r := range tokOrder {
			for _, x := range rs {
				if x == r {
					out = append(out, r)
				}
			}
		}
		return out
	}

	tests := []struct {
		name string
		q    string
		args []any
		want []pc
	}{
		{"global index, token order, paged", `SELECT p, c FROM ks.u WHERE email = ?`, []any{"a@x"}, inTokenOrder([]pc{{1, 1}, {3, 1}, {4, 1}})},
		{"set values", `SELECT p, c FROM ks.u WHERE tags CONTAINS 'red'`, nil, inTokenOrder([]pc{{1, 1}, {2, 1}})},
		{"map keys", `SELECT p, c FROM ks.u WHERE attrs CONTAINS KEY 'z'`, nil, []pc{{2, 1}}},
		{"clustering column", `SELECT p, c FROM ks.u WHERE c = 2`, nil, []pc{{3, 2}}},
		{"with the partition key", `SELECT p, c FROM ks.u WHERE p = 3 AND email = 'c@x'`, nil, []pc{{3, 2}}},
		{"no match", `SELECT p, c FROM ks.u WHERE email = 'nobody'`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := query(tc.q, tc.args...); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	clock.Advance(10 * time.Second)
	if got := sorted(query(`SELECT p, c FROM ks.u WHERE email = 'a@x'`)); !reflect.DeepEqual(got, []pc{{1, 1}, {3, 1}}) {
		t.Fatalf("after the TTL: %v", got)
	}
	mustExec(t, sx, `DELETE FROM ks.u WHERE p = 1`)
	if got := query(`SELECT p, c FROM ks.u WHERE email = 'a@x'`); !reflect.DeepEqual(got, []pc{{3, 1}}) {
		t.Fatalf("after a partition delete: %v", got)
	}

	md, err := s.KeyspaceMetadata("ks")
	if err != nil {
		t.Fatal(err)
	}
	if ix := md.Indexes["u_email_idx"]; ix == nil || ix.Options["target"] != "email" || ix.Kind != "COMPOSITES" {
		t.Fatalf("gocql index metadata: %+v", md.Indexes)
	}
	if ix := md.Indexes["local_email"]; ix == nil || ix.Options["target"] != `{"ck":["email"],"pk":["p"]}` {
		t.Fatalf("local index metadata: %+v", md.Indexes["local_email"])
	}

	errs := []struct {
		stmt string
		code int
		msg  string
	}{
		{`SELECT p FROM ks.u WHERE email = 'a@x' AND c = 1`, 0x2200, "ALLOW FILTERING"},
		{`SELECT p FROM ks.u WHERE email > 'a'`, 0x2200, "ALLOW FILTERING"},
		{`SELECT p FROM ks.u WHERE attrs CONTAINS 1`, 0x2200, "ALLOW FILTERING"},
		{`CREATE INDEX ON ks.u (email)`, 0x2200, "Index u_email_idx_1 is a duplicate of existing index u_email_idx"},
		{`CREATE INDEX other ON ks.u (email)`, 0x2200, "Index other is a duplicate of existing index u_email_idx"},
		{`CREATE INDEX ON ks.u (nope)`, 0x2200, "No column definition found for column nope"},
		{`CREATE INDEX ON ks.u (FULL(tags))`, 0x2200, "full() indexes can only be created on frozen collections"},
		{`CREATE CUSTOM INDEX ON ks.u (email) USING 'org.apache.cassandra.index.sasi.SASIIndex'`, 0x2200, "Custom index classes are not supported"},
		{`DROP INDEX ks.nope`, 0x2200, "Index 'nope' could not be found in any of the tables of keyspace 'ks'"},
		{`ALTER TABLE ks.u DROP email`, 0x2200, "dependent secondary indexes"},
		{`CREATE MATERIALIZED VIEW ks.mv AS SELECT * FROM ks.u WHERE p IS NOT NULL AND c IS NOT NULL PRIMARY KEY (c, p)`, 0x2200, "materialized views are not supported by scyllaemu"},
	}
	for _, tc := range errs {
		err := s.Query(tc.stmt).Exec()
		if errCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: want %#x %q, got %v", tc.stmt, tc.code, tc.msg, err)
		}
	}
	mustExec(t, sx, `DROP INDEX ks.u_email_idx`)
	if got := query(`SELECT p, c FROM ks.u WHERE p = 3 AND email = 'c@x'`); !reflect.DeepEqual(got, []pc{{3, 2}}) {
		t.Fatalf("local index: %v", got)
	}
	if err := s.Query(`SELECT p FROM ks.u WHERE email = 'a@x'`).Exec(); errCode(err) != 0x2200 {
		t.Fatalf("a local index without the partition key: %v", err)
	}
	mustExec(t, sx, `DROP INDEX ks.local_email`)
	if err := s.Query(`SELECT p FROM ks.u WHERE p = 3 AND email = 'a@x'`).Exec(); errCode(err) != 0x2200 {
		t.Fatalf("query by a dropped index: %v", err)
	}
	if err := s.Query(`SELECT p FROM ks.u WHERE email = 'a@x' ALLOW FILTERING`).Exec(); err != nil {
		t.Fatalf("the same query with ALLOW FILTERING: %v", err)
	}
}
