package scyllaemu_test

import (
	"fmt"
	"math/big"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"gopkg.in/inf.v0"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// TestEveryTypeRoundTrips writes each CQL scalar and frozen collection
// through gocql's marshalling and reads it back, as a key and as a value.
func TestEveryTypeRoundTrips(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS)
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)
	tests := []struct {
		typ string
		val any
	}{
		{"ascii", "plain"},
		{"text", "zażółć"},
		{"varchar", "v"},
		{"boolean", true},
		{"tinyint", int8(-7)},
		{"smallint", int16(-300)},
		{"int", int32(-70000)},
		{"bigint", int64(-1) << 40},
		{"varint", big.NewInt(-123456789012345)},
		{"float", float32(1.5)},
		{"double", -2.25},
		{"decimal", inf.NewDec(-31415, 4)},
		{"blob", []byte{0, 1, 2, 255}},
		{"uuid", gocql.UUID{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x42, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}},
		{"timeuuid", gocql.UUIDFromTime(ts)},
		{"timestamp", ts},
		{"date", time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)},
		{"time", 8*time.Hour + 12*time.Minute + 500*time.Millisecond},
		{"inet", net.ParseIP("10.1.2.3").To4()},
		{"frozen<list<int>>", []int{3, 1, 2}},
		{"frozen<set<text>>", []string{"a", "b"}},
		{"frozen<map<text, int>>", map[string]int{"x": 1, "y": 2}},
	}
	for i, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			tbl := fmt.Sprintf("ks.types_%d", i)
			mustExec(t, s, "CREATE TABLE "+tbl+" (k "+tc.typ+", v "+tc.typ+", PRIMARY KEY (k))")
			if err := s.Session.Query("INSERT INTO "+tbl+" (k, v) VALUES (?, ?)", tc.val, tc.val).Exec(); err != nil {
				t.Fatal(err)
			}
			got := reflect.New(reflect.TypeOf(tc.val))
			if err := s.Session.Query("SELECT v FROM "+tbl+" WHERE k = ?", tc.val).Scan(got.Interface()); err != nil {
				t.Fatal(err)
			}
			want, gotV := tc.val, got.Elem().Interface()
			switch w := want.(type) {
			case *big.Int:
				if w.Cmp(gotV.(*big.Int)) != 0 {
					t.Fatalf("got %v, want %v", gotV, w)
				}
				return
			case *inf.Dec:
				if w.Cmp(gotV.(*inf.Dec)) != 0 {
					t.Fatalf("got %v, want %v", gotV, w)
				}
				return
			case time.Time:
				if !w.Equal(gotV.(time.Time)) {
					t.Fatalf("got %v, want %v", gotV, w)
				}
				return
			case net.IP:
				if !w.Equal(gotV.(net.IP)) {
					t.Fatalf("got %v, want %v", gotV, w)
				}
				return
			case []string:
				// Sets come back in their element order.
			}
			if !reflect.DeepEqual(gotV, want) {
				t.Fatalf("got %#v, want %#v", gotV, want)
			}
		})
	}
}

// TestQueryFeatures covers the query forms drivers, gocqlx and scylla-cdc-go
// emit beyond plain CRUD.
func TestQueryFeatures(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS, `CREATE TABLE ks.f (p int, c int, v text, PRIMARY KEY (p, c))`)
	for p := 0; p < 4; p++ {
		for c := 0; c < 3; c++ {
			if err := s.Session.Query(`INSERT INTO ks.f (p, c, v) VALUES (?, ?, ?) USING TIMESTAMP ?`, p, c, "v", int64(1000+p*10+c)).Exec(); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(q string, args ...any) int {
		t.Helper()
		iter := s.Session.Query(q, args...).Iter()
		n := iter.NumRows()
		if err := iter.Close(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	tests := []struct {
		name string
		cql  string
		args []any
		rows int
	}{
		{"named markers", `SELECT * FROM ks.f WHERE p = :p AND c >= :lo`, []any{1, 1}, 2},
		{"IN on partition key", `SELECT * FROM ks.f WHERE p IN (0, 2, 9)`, nil, 6},
		{"IN on partition key via marker", `SELECT * FROM ks.f WHERE p IN ?`, []any{[]int{1, 3}}, 6},
		{"clustering IN", `SELECT * FROM ks.f WHERE p = 0 AND c IN (0, 2)`, nil, 2},
		{"PER PARTITION LIMIT", `SELECT * FROM ks.f PER PARTITION LIMIT 1`, nil, 4},
		{"LIMIT", `SELECT * FROM ks.f LIMIT 5`, nil, 5},
		{"BYPASS CACHE", `SELECT * FROM ks.f WHERE p = 0 BYPASS CACHE`, nil, 3},
		{"token range", `SELECT p FROM ks.f WHERE token(p) > ? AND token(p) <= ?`, []any{int64(-1 << 63), int64(1<<63 - 1)}, 12},
		{"ALLOW FILTERING on a regular column", `SELECT * FROM ks.f WHERE v = 'v' ALLOW FILTERING`, nil, 12},
		{"DISTINCT partition keys", `SELECT DISTINCT p FROM ks.f`, nil, 4},
		{"tuple slice", `SELECT * FROM ks.f WHERE p = 1 AND (c) > (0)`, nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := count(tc.cql, tc.args...); n != tc.rows {
				t.Fatalf("%d rows, want %d", n, tc.rows)
			}
		})
	}

	var wt int64
	if err := s.Session.Query(`SELECT writetime(v) FROM ks.f WHERE p = 2 AND c = 1`).Scan(&wt); err != nil || wt != 1021 {
		t.Fatalf("writetime %d %v", wt, err)
	}
	var prev int64 = -1 << 63
	iter := s.Session.Query(`SELECT token(p) FROM ks.f PER PARTITION LIMIT 1`).Iter()
	var tok int64
	for iter.Scan(&tok) {
		if tok < prev {
			t.Fatal("a full scan must return partitions in token order")
		}
		prev = tok
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}

	mustExec(t, s, `CREATE TABLE ks.tu (id timeuuid PRIMARY KEY, at timestamp, u uuid)`)
	if err := s.Session.Query(`INSERT INTO ks.tu (id, at, u) VALUES (now(), toTimestamp(now()), uuid())`).Exec(); err != nil {
		t.Fatal(err)
	}
	var n int
	from, to := time.Now().Add(-time.Minute), time.Now().Add(time.Minute)
	if err := s.Session.Query(`SELECT COUNT(*) FROM ks.tu WHERE id > minTimeuuid(?) AND id < maxTimeuuid(?) ALLOW FILTERING`, from, to).Scan(&n); err != nil || n != 1 {
		t.Fatalf("minTimeuuid/maxTimeuuid window: %d rows, %v", n, err)
	}
}

func TestSchemaStatements(t *testing.T) {
	srv, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS)
	// A session with a keyspace sends USE on each connection; unqualified
	// names then resolve to it.
	inKS := connect(t, srv.Addr(), "ks")
	mustExec(t, inKS,
		`CREATE TABLE IF NOT EXISTS ev (id int PRIMARY KEY, v text) WITH cdc = {'enabled': true, 'ttl': 60}`,
		`CREATE TABLE IF NOT EXISTS ev (id int PRIMARY KEY, v text)`,
		`ALTER TABLE ev WITH default_time_to_live = 30 AND comment = 'events'`,
		`ALTER TABLE ev ADD extra int`)
	mustExec(t, s,
		`INSERT INTO ks.ev (id, v, extra) VALUES (1, 'a', 2)`,
		`TRUNCATE ks.ev`)
	var ttl int
	var comment string
	if err := s.Session.Query(`SELECT default_time_to_live, comment FROM system_schema.tables WHERE keyspace_name = 'ks' AND table_name = 'ev'`).Scan(&ttl, &comment); err != nil || ttl != 30 || comment != "events" {
		t.Fatalf("altered options: ttl=%d comment=%q err=%v", ttl, comment, err)
	}
	var n int
	if err := s.Session.Query(`SELECT COUNT(*) FROM ks.ev`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after TRUNCATE: %d rows %v", n, err)
	}
	var logCol string
	if err := s.Session.Query(`SELECT column_name FROM system_schema.columns WHERE keyspace_name = 'ks' AND table_name = 'ev_scylla_cdc_log' AND column_name = 'cdc$deleted_extra'`).Scan(&logCol); err != nil {
		t.Fatalf("ALTER ADD must extend the CDC log: %v", err)
	}
	mustExec(t, s, `ALTER TABLE ks.ev WITH cdc = {'enabled': false}`)
	if err := s.Session.Query(`SELECT * FROM ks.ev_scylla_cdc_log`).Exec(); errCode(err) != 0x2200 {
		t.Fatalf("disabling CDC must drop the log table, got %v", err)
	}
	mustExec(t, s, `DROP TABLE ks.ev`, `DROP TABLE IF EXISTS ks.ev`, `DROP KEYSPACE ks`)
	if err := s.Session.Query(`SELECT * FROM system_schema.tables WHERE keyspace_name = 'ks'`).Exec(); err != nil {
		t.Fatal(err)
	}
	if iter := s.Session.Query(`SELECT * FROM system_schema.tables WHERE keyspace_name = 'ks'`).Iter(); iter.NumRows() != 0 {
		t.Fatalf("dropped keyspace still described: %d tables", iter.NumRows())
	}
}
