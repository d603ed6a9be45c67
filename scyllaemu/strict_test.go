package scyllaemu_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// TestStrictErrors checks that what ScyllaDB rejects is rejected with the
// same error code and a message close to ScyllaDB's: a test that passes only
// because the emulator is lenient would be a false green.
func TestStrictErrors(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{TabletsByDefault: true})
	mustExec(t, s, createKS,
		`CREATE TABLE ks.k (a text, b blob, c int, v int, PRIMARY KEY ((a, b), c))`,
		`CREATE TABLE ks.single (id text PRIMARY KEY, v int)`,
		`CREATE KEYSPACE rf3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`,
		`CREATE TABLE rf3.t (id int PRIMARY KEY)`,
		`CREATE KEYSPACE tab WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1}`)
	tests := []struct {
		name string
		cql  string
		args []any
		cl   gocql.Consistency
		code int
		msg  string
	}{
		{"NULL partition key component", `INSERT INTO ks.k (a, b, c, v) VALUES (?, ?, ?, ?)`, []any{nil, []byte{1}, 1, 1}, gocql.One, 0x2200, "Invalid null value"},
		{"NULL clustering component", `INSERT INTO ks.k (a, b, c, v) VALUES (?, ?, ?, ?)`, []any{"x", []byte{1}, nil, 1}, gocql.One, 0x2200, "Invalid null value"},
		{"empty single-column partition key", `INSERT INTO ks.single (id, v) VALUES (?, ?)`, []any{"", 1}, gocql.One, 0x2200, "Key may not be empty"},
		{"unknown keyspace", `SELECT * FROM nope.t`, nil, gocql.One, 0x2200, "Keyspace nope does not exist"},
		{"unknown table", `SELECT * FROM ks.nope`, nil, gocql.One, 0x2200, "unconfigured table nope"},
		{"unknown column in selection", `SELECT nope FROM ks.k`, nil, gocql.One, 0x2200, "Undefined name nope"},
		{"unknown column in insert", `INSERT INTO ks.single (id, nope) VALUES ('x', 1)`, nil, gocql.One, 0x2200, "Unknown identifier nope"},
		{"string literal for int", `INSERT INTO ks.single (id, v) VALUES ('x', 'abc')`, nil, gocql.One, 0x2200, `Invalid STRING constant (abc) for "v" of type int`},
		{"integer out of range", `INSERT INTO ks.single (id, v) VALUES ('x', 99999999999)`, nil, gocql.One, 0x2200, "Invalid INTEGER constant"},
		{"bad syntax", `SELEC * FROM ks.k`, nil, gocql.One, 0x2000, "line 1"},
		{"keyspace already exists", `CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`, nil, gocql.One, 0x2400, "Keyspace ks already exists"},
		{"table already exists", `CREATE TABLE ks.single (id text PRIMARY KEY)`, nil, gocql.One, 0x2400, "already exists"},
		{"filtering required", `SELECT * FROM ks.k WHERE v = 1`, nil, gocql.One, 0x2200, "ALLOW FILTERING"},
		{"missing primary key part", `INSERT INTO ks.k (a, b, v) VALUES ('x', 0x01, 1)`, nil, gocql.One, 0x2200, "Missing mandatory PRIMARY KEY part c"},
		{"update without full key", `UPDATE ks.k SET v = 1 WHERE a = 'x'`, nil, gocql.One, 0x2200, "Some partition key parts are missing: b"},
		{"negative TTL", `INSERT INTO ks.single (id, v) VALUES ('x', 1) USING TTL -1`, nil, gocql.One, 0x2200, "TTL must be greater or equal to 0"},
		{"write to a system table", `INSERT INTO system.peers (peer) VALUES ('10.0.0.1')`, nil, gocql.One, 0x2100, "not user-modifiable"},
		{"quorum on rf 3 with one node", `INSERT INTO rf3.t (id) VALUES (1)`, nil, gocql.Quorum, 0x1000, "Cannot achieve consistency level"},
		{"tablet options in a vnodes keyspace", `CREATE TABLE ks.tt (id int PRIMARY KEY) WITH tablets = {'min_tablet_count': 2}`, nil, gocql.One, 0x2300, "Tablet options cannot be used"},
		{"static column without clustering", `CREATE TABLE ks.st (id int PRIMARY KEY, s int static)`, nil, gocql.One, 0x2200, "Static columns are only useful"},
		{"non-frozen collection in key", `CREATE TABLE ks.fk (id list<int> PRIMARY KEY)`, nil, gocql.One, 0x2200, "non-frozen collection"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Session.Query(tc.cql, tc.args...).Consistency(tc.cl).Exec()
			if err == nil {
				t.Fatalf("%s: accepted, ScyllaDB rejects it", tc.cql)
			}
			if errCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("%s:\n got code 0x%04x %q\nwant code 0x%04x containing %q", tc.cql, errCode(err), err, tc.code, tc.msg)
			}
		})
	}
}

// An empty (0-byte) key component is a value, not a NULL: scylla-cdc-go's
// progress table relies on it.
func TestEmptyKeyComponentIsAValue(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS, `CREATE TABLE ks.k (g timestamp, name text, stream blob, v int, PRIMARY KEY ((g, name, stream)))`)
	if err := s.Session.Query(`INSERT INTO ks.k (g, name, stream, v) VALUES (?, ?, ?, ?)`, time.Time{}, "", []byte{}, 7).Exec(); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.Session.Query(`SELECT v FROM ks.k WHERE g = ? AND name = ? AND stream = ?`, time.Time{}, "", []byte{}).Scan(&v); err != nil || v != 7 {
		t.Fatalf("v=%d err=%v", v, err)
	}
}

func TestEngineErrorsWithoutTheDriver(t *testing.T) {
	srv, err := scyllaemu.Start(context.Background(), scyllaemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, srv)
	eng := srv.Engine()
	sess := &engine.Session{}
	if _, err := eng.Query(sess, createKS, engine.Params{}); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Query(sess, `CREATE TABLE ks.t (id int PRIMARY KEY, v int)`, engine.Params{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
		code int32
		msg  string
	}{
		{"unprepared id", func() error {
			_, err := eng.Execute(sess, []byte{1, 2, 3}, engine.Params{})
			return err
		}, wire.Unprepared, "not found"},
		{"bound value of the wrong size", func() error {
			_, err := eng.Query(sess, `INSERT INTO ks.t (id, v) VALUES (?, ?)`, engine.Params{Values: []wire.Value{{Bytes: []byte{0, 0, 0, 1}}, {Bytes: []byte{1, 2}}}})
			return err
		}, wire.Invalid, "Exception while binding column v"},
		{"marker count mismatch", func() error {
			_, err := eng.Query(sess, `INSERT INTO ks.t (id, v) VALUES (?, ?)`, engine.Params{Values: []wire.Value{{Bytes: []byte{0, 0, 0, 1}}}})
			return err
		}, wire.Invalid, "2 markers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			ee, ok := err.(*engine.Error)
			if !ok || ee.Code != tc.code || !strings.Contains(ee.Msg, tc.msg) {
				t.Fatalf("got %v, want code 0x%04x containing %q", err, tc.code, tc.msg)
			}
		})
	}
}

// Drivers refresh their schema metadata only when the server pushes
// SCHEMA_CHANGE events; a table created after the session must appear.
func TestSchemaChangeEventsRefreshDriverMetadata(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS, `CREATE TABLE ks.first (id int PRIMARY KEY)`)
	if _, err := s.Session.KeyspaceMetadata("ks"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, s, `CREATE TABLE ks.later (id int PRIMARY KEY, v text)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		km, err := s.Session.KeyspaceMetadata("ks")
		if err == nil && km.Tables["later"] != nil {
			if len(km.Tables["later"].Columns) != 2 {
				t.Fatalf("columns: %v", km.Tables["later"].Columns)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("table created after the session never appeared in driver metadata (err %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestManyConcurrentConnections(t *testing.T) {
	srv, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS, `CREATE TABLE ks.c (id int, n int, v text, PRIMARY KEY (id, n)) WITH cdc = {'enabled': true}`)
	const sessions, perSession = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := 0; i < sessions; i++ {
		sess := connect(t, srv.Addr(), "ks")
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			for n := 0; n < perSession; n++ {
				if err := sess.Session.Query(`INSERT INTO c (id, n, v) VALUES (?, ?, ?)`, id, n, "v").Exec(); err != nil {
					errs <- err
					return
				}
				var cnt int
				if err := sess.Session.Query(`SELECT COUNT(*) FROM c WHERE id = ?`, id).Scan(&cnt); err != nil || cnt != n+1 {
					errs <- fmt.Errorf("session %d: count %d after %d inserts: %v", id, cnt, n+1, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var logRows int
	if err := s.Session.Query(`SELECT COUNT(*) FROM ks.c_scylla_cdc_log`).Scan(&logRows); err != nil || logRows != sessions*perSession {
		t.Fatalf("CDC log rows %d, want %d (%v)", logRows, sessions*perSession, err)
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestMalformedFrameClosesOnlyThatConnection(t *testing.T) {
	var logs syncBuffer
	srv, s := startEmu(t, scyllaemu.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mustExec(t, s, createKS)
	tests := []struct {
		name  string
		frame []byte
		log   string
	}{
		// A v4 request header claiming a negative body length.
		{"negative length", []byte{0x04, 0, 0, 1, wire.OpOptions, 0xff, 0xff, 0xff, 0xff}, "malformed frame"},
		// A frame sent in the response direction.
		{"response bit", []byte{0x84, 0, 0, 1, wire.OpOptions, 0, 0, 0, 0}, "malformed frame"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = nc.Close() }() // the server has closed it: nothing to report
			if _, err := nc.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			if err := nc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			reply, err := io.ReadAll(nc)
			if err != nil {
				t.Fatalf("server must answer and close, got %v", err)
			}
			if len(reply) < 9 || reply[4] != wire.OpError {
				t.Fatalf("want an ERROR frame before the close, got % x", reply)
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Fatalf("no log line %q in %q", tc.log, logs.String())
			}
			var n int
			if err := s.Session.Query(`SELECT COUNT(*) FROM system.local`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("other connections must keep working: %d %v", n, err)
			}
		})
	}
}
