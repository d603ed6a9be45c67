package engine_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

const clustered = `CREATE TABLE ks.t (k int, c int, v text, w text, PRIMARY KEY (k, c))`

// TestLastWriteWins applies writes with client timestamps, in the order
// given (not timestamp order), and checks what a read sees: for each cell
// the highest timestamp wins, a tombstone wins a tie with a live cell, and
// a deletion hides only what is older than it.
func TestLastWriteWins(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string // SELECT k, c, v, w, WRITETIME(v)
	}{
		{"later write wins", []string{
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 10`,
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'b') USING TIMESTAMP 20`,
		}, []string{"1, 1, b, null, 20"}},
		{"older write arriving later loses", []string{
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'b') USING TIMESTAMP 20`,
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 10`,
		}, []string{"1, 1, b, null, 20"}},
		{"cells are merged independently", []string{
			`INSERT INTO ks.t (k, c, v, w) VALUES (1, 1, 'a', 'x') USING TIMESTAMP 20`,
			`UPDATE ks.t USING TIMESTAMP 10 SET v = 'old', w = 'y' WHERE k = 1 AND c = 1`,
			`UPDATE ks.t USING TIMESTAMP 30 SET w = 'z' WHERE k = 1 AND c = 1`,
		}, []string{"1, 1, a, z, 20"}},
		{"equal timestamps: the greater value wins", []string{
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'b') USING TIMESTAMP 10`,
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 10`,
		}, []string{"1, 1, b, null, 10"}},
		{"cell deletion", []string{
			`INSERT INTO ks.t (k, c, v, w) VALUES (1, 1, 'a', 'x') USING TIMESTAMP 10`,
			`DELETE v FROM ks.t USING TIMESTAMP 20 WHERE k = 1 AND c = 1`,
		}, []string{"1, 1, null, x, null"}},
		{"setting null deletes the cell", []string{
			`INSERT INTO ks.t (k, c, v, w) VALUES (1, 1, 'a', 'x') USING TIMESTAMP 10`,
			`UPDATE ks.t USING TIMESTAMP 20 SET v = null WHERE k = 1 AND c = 1`,
		}, []string{"1, 1, null, x, null"}},
		{"an older deletion hides nothing", []string{
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 20`,
			`DELETE FROM ks.t USING TIMESTAMP 10 WHERE k = 1 AND c = 1`,
		}, []string{"1, 1, a, null, 20"}},
		{"a row tombstone shadows an older write that arrives later", []string{
			`DELETE FROM ks.t USING TIMESTAMP 20 WHERE k = 1 AND c = 1`,
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 10`,
		}, []string{}},
		{"a tombstone wins a tie", []string{
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 10`,
			`DELETE FROM ks.t USING TIMESTAMP 10 WHERE k = 1 AND c = 1`,
		}, []string{}},
		{"partition deletion", []string{
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 10`,
			`INSERT INTO ks.t (k, c, v) VALUES (1, 2, 'b') USING TIMESTAMP 30`,
			`INSERT INTO ks.t (k, c, v) VALUES (2, 1, 'c') USING TIMESTAMP 10`,
			`DELETE FROM ks.t USING TIMESTAMP 20 WHERE k = 1`,
		}, []string{"1, 2, b, null, 30", "2, 1, c, null, 10"}},
		{"range deletion", []string{
			`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 10`,
			`INSERT INTO ks.t (k, c, v) VALUES (1, 2, 'b') USING TIMESTAMP 10`,
			`INSERT INTO ks.t (k, c, v) VALUES (1, 3, 'c') USING TIMESTAMP 10`,
			`DELETE FROM ks.t USING TIMESTAMP 20 WHERE k = 1 AND c >= 2`,
			`INSERT INTO ks.t (k, c, v) VALUES (1, 4, 'd') USING TIMESTAMP 30`,
		}, []string{"1, 1, a, null, 10", "1, 4, d, null, 30"}},
		{"INSERT writes a row marker", []string{
			`INSERT INTO ks.t (k, c) VALUES (1, 1) USING TIMESTAMP 10`,
		}, []string{"1, 1, null, null, null"}},
		{"UPDATE writes no row marker: the row goes with its last cell", []string{
			`UPDATE ks.t USING TIMESTAMP 10 SET v = 'a' WHERE k = 1 AND c = 1`,
			`DELETE v FROM ks.t USING TIMESTAMP 20 WHERE k = 1 AND c = 1`,
		}, []string{}},
		{"IN writes every row", []string{
			`UPDATE ks.t USING TIMESTAMP 10 SET v = 'a' WHERE k IN (1, 2) AND c IN (1, 2)`,
		}, []string{"1, 1, a, null, 10", "1, 2, a, null, 10", "2, 1, a, null, 10", "2, 2, a, null, 10"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{}, createKS, clustered)
			h.exec(tc.writes...)
			got := h.rows(`SELECT k, c, v, w, WRITETIME(v) FROM ks.t WHERE k IN (1, 2)`)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestServerTimestamps checks that writes without USING TIMESTAMP are
// stamped with the server clock, strictly increasing even when the clock
// stands still, so that successive writes replace each other in order.
func TestServerTimestamps(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS, clustered)
	h.clock.Advance(time.Second) // past the stamps the schema took
	now := h.clock.Now().UnixMicro()
	for _, v := range []string{"a", "b", "c"} {
		if _, err := h.run(`INSERT INTO ks.t (k, c, v) VALUES (1, 1, ?)`, textv(v)); err != nil {
			t.Fatal(err)
		}
	}
	got := h.rows(`SELECT v, WRITETIME(v) FROM ks.t WHERE k = 1 AND c = 1`)
	if want := []string{"c, " + itoa(now+2)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A client timestamp in Params counts like USING TIMESTAMP.
	p := params(textv("old"))
	p.Timestamp, p.HasTimestamp = now-1, true
	if _, err := h.e.Query(h.sess, `INSERT INTO ks.t (k, c, v) VALUES (1, 1, ?)`, p); err != nil {
		t.Fatal(err)
	}
	if got := h.rows(`SELECT v FROM ks.t WHERE k = 1 AND c = 1`); !reflect.DeepEqual(got, []string{"c"}) {
		t.Fatalf("an older client timestamp overwrote: %q", got)
	}
}

// TestTTL follows cells written with a TTL as the clock moves.
func TestTTL(t *testing.T) {
	tests := []struct {
		name   string
		table  string
		writes []string
		// reads at 0 s, 4 s and 11 s after the writes:
		// SELECT k, v, w, TTL(v) FROM ks.t
		want [3][]string
	}{
		{"INSERT with a TTL expires the row",
			`CREATE TABLE ks.t (k int PRIMARY KEY, v int, w int)`,
			[]string{`INSERT INTO ks.t (k, v) VALUES (1, 1) USING TTL 10`},
			[3][]string{{"1, 1, null, 10"}, {"1, 1, null, 6"}, {}}},
		{"a cell written later without TTL keeps the row",
			`CREATE TABLE ks.t (k int PRIMARY KEY, v int, w int)`,
			[]string{`INSERT INTO ks.t (k, v) VALUES (1, 1) USING TTL 10`, `UPDATE ks.t SET w = 2 WHERE k = 1`},
			[3][]string{{"1, 1, 2, 10"}, {"1, 1, 2, 6"}, {"1, null, 2, null"}}},
		{"UPDATE with a TTL expires only its cells",
			`CREATE TABLE ks.t (k int PRIMARY KEY, v int, w int)`,
			[]string{`INSERT INTO ks.t (k, v, w) VALUES (1, 1, 1)`, `UPDATE ks.t USING TTL 10 SET v = 2 WHERE k = 1`},
			[3][]string{{"1, 2, 1, 10"}, {"1, 2, 1, 6"}, {"1, null, 1, null"}}},
		{"TTL 0 is no TTL",
			`CREATE TABLE ks.t (k int PRIMARY KEY, v int, w int) WITH default_time_to_live = 10`,
			[]string{`INSERT INTO ks.t (k, v) VALUES (1, 1) USING TTL 0`},
			[3][]string{{"1, 1, null, null"}, {"1, 1, null, null"}, {"1, 1, null, null"}}},
		{"the table's default TTL",
			`CREATE TABLE ks.t (k int PRIMARY KEY, v int, w int) WITH default_time_to_live = 10`,
			[]string{`INSERT INTO ks.t (k, v) VALUES (1, 1)`},
			[3][]string{{"1, 1, null, 10"}, {"1, 1, null, 6"}, {}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{}, createKS, tc.table)
			h.exec(tc.writes...)
			for i, d := range []time.Duration{0, 4 * time.Second, 7 * time.Second} {
				h.clock.Advance(d)
				// Purging drops what has expired from memory; reads must
				// not change because of it.
				h.e.Purge()
				if got := h.rows(`SELECT k, v, w, TTL(v) FROM ks.t`); !reflect.DeepEqual(got, tc.want[i]) {
					t.Fatalf("read %d: got %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
}

// TestWriteErrors checks what DML refuses, with ScyllaDB's codes and
// messages.
func TestWriteErrors(t *testing.T) {
	tests := []struct {
		stmt string
		vals [][]byte
		code int32
		msg  string
	}{
		{`INSERT INTO ks.t (k, v) VALUES (1, 'a')`, nil, wire.Invalid, "Missing mandatory PRIMARY KEY part c"},
		{`INSERT INTO ks.t (k, c, nope) VALUES (1, 1, 'a')`, nil, wire.Invalid, "Unknown identifier nope"},
		{`INSERT INTO ks.t (k, c, v, v) VALUES (1, 1, 'a', 'b')`, nil, wire.Invalid, "Multiple definitions found for column v"},
		{`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 2)`, nil, wire.Invalid, `Invalid INTEGER constant (2) for "v" of type text`},
		{`INSERT INTO ks.t (k, c, v) VALUES (?, 1, 'a')`, [][]byte{nil}, wire.Invalid, "Invalid null value in condition for column k"},
		{`INSERT INTO ks.t (k, c, v) VALUES (?, 1, 'a')`, nil, wire.Invalid, "There were 1 markers(?) in CQL but 0 bound variables"},
		{`INSERT INTO ks.t (k, c, v) VALUES (?, 1, 'a')`, [][]byte{{1, 2}}, wire.Invalid, "Exception while binding column k"},
		{`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TTL -1`, nil, wire.Invalid, "A TTL must be greater or equal to 0, but was -1"},
		{`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TTL 630720001`, nil, wire.Invalid, "ttl is too large. requested (630720001) maximum (630720000)"},
		{`UPDATE ks.t SET k = 2 WHERE k = 1 AND c = 1`, nil, wire.Invalid, "PRIMARY KEY part k found in SET part"},
		{`UPDATE ks.t SET v = 'a' WHERE k = 1`, nil, wire.Invalid, "Some clustering keys are missing: c"},
		{`UPDATE ks.t SET v = 'a' WHERE c = 1`, nil, wire.Invalid, "Some partition key parts are missing: k"},
		{`UPDATE ks.t SET v = 'a' WHERE k = 1 AND c > 1`, nil, wire.Invalid, "Slice restrictions are not supported on the clustering columns in UPDATE statements"},
		{`UPDATE ks.t SET v = 'a' WHERE k = 1 AND c = 1 AND v = 'b'`, nil, wire.Invalid, "Non PRIMARY KEY columns found in where clause: v"},
		{`DELETE FROM ks.t USING TTL 10 WHERE k = 1`, nil, wire.SyntaxError, "no viable alternative at input 'TTL'"},
		{`DELETE k FROM ks.t WHERE k = 1 AND c = 1`, nil, wire.Invalid, "Invalid identifier k for deletion (should not be a PRIMARY KEY part)"},
		{`DELETE v FROM ks.t WHERE k = 1 AND c > 1`, nil, wire.Invalid, "Range deletions are not supported for specific columns"},
		{`DELETE FROM ks.t WHERE token(k) > 0`, nil, wire.Invalid, "The token function cannot be used in WHERE clauses for UPDATE and DELETE statements"},
		{`INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP ?`, [][]byte{nil}, wire.Invalid, "Invalid null value of timestamp"},
		{`INSERT INTO ks.nope (k) VALUES (1)`, nil, wire.Invalid, "unconfigured table nope"},
		{`INSERT INTO nope.t (k) VALUES (1)`, nil, wire.Invalid, "Keyspace nope does not exist"},
	}
	h := newHarness(t, engine.Options{}, createKS, clustered)
	for _, tc := range tests {
		_, err := h.run(tc.stmt, tc.vals...)
		t.Run(tc.stmt, func(t *testing.T) { wantError(t, err, tc.code, tc.msg) })
	}
	if got := h.rows(`SELECT * FROM ks.t`); len(got) != 0 {
		t.Fatalf("refused writes left %q", got)
	}
}

// TestConsistency checks that a one-node cluster refuses consistency
// levels that need more replicas than the keyspace's one alive node.
func TestConsistency(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS, clustered,
		`CREATE KEYSPACE ks3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`,
		`CREATE TABLE ks3.t (k int PRIMARY KEY, v int)`)
	const (
		rf1 = `UPDATE ks.t SET v = 'a' WHERE k = 1 AND c = 1`
		rf3 = `UPDATE ks3.t SET v = 1 WHERE k = 1`
	)
	tests := []struct {
		stmt     string
		cl       uint16
		required int32 // 0: accepted
	}{
		{rf1, wire.ConsistencyOne, 0},
		{rf1, wire.ConsistencyQuorum, 0},
		{rf1, wire.ConsistencyAll, 0},
		{rf3, wire.ConsistencyOne, 0},
		{rf3, wire.ConsistencyQuorum, 2},
		{rf3, wire.ConsistencyAll, 3},
		{rf3, wire.ConsistencyTwo, 2},
		{`SELECT * FROM ks3.t`, wire.ConsistencyQuorum, 0}, // reads are not checked
	}
	for _, tc := range tests {
		p := params()
		p.Consistency = tc.cl
		_, err := h.e.Query(h.sess, tc.stmt, p)
		if tc.required == 0 {
			if err != nil {
				t.Errorf("%s at %#x: %v", tc.stmt, tc.cl, err)
			}
			continue
		}
		var ee *engine.Error
		if !errors.As(err, &ee) || ee.Code != wire.Unavailable || ee.Required != tc.required || ee.Alive != 1 || ee.Consistency != tc.cl {
			t.Errorf("%s at %#x: %+v, want Unavailable requiring %d", tc.stmt, tc.cl, err, tc.required)
		}
	}
}
