package engine_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// TestPrepareMetadata checks what PREPARE announces: the bind markers'
// names and types, where the partition key is among them (drivers route
// with it) and the result columns.
func TestPrepareMetadata(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TABLE ks.p (a int, b text, c int, v map<text, int>, PRIMARY KEY ((a, b), c))`)
	tests := []struct {
		q         string
		bind      []string // name type
		pkIndexes []uint16
		result    []string
	}{
		{`INSERT INTO ks.p (c, b, a, v) VALUES (?, ?, ?, ?)`,
			[]string{"c int", "b text", "a int", "v map<text, int>"}, []uint16{2, 1}, nil},
		{`SELECT c, v FROM ks.p WHERE a = ? AND b = ? AND c > ?`,
			[]string{"a int", "b text", "c int"}, []uint16{0, 1}, []string{"c int", "v map<text, int>"}},
		{`UPDATE ks.p SET v[?] = ? WHERE a = :a AND b = :b AND c = 1`,
			[]string{"key(v) text", "value(v) int", "a int", "b text"}, []uint16{2, 3}, nil},
		{`SELECT COUNT(*) FROM ks.p WHERE a = 1 AND b = 'x' LIMIT ?`,
			[]string{"[limit] int"}, nil, []string{"count bigint"}},
		{`DELETE FROM ks.p USING TIMESTAMP ? WHERE a = ? AND b = ?`,
			[]string{"[timestamp] bigint", "a int", "b text"}, []uint16{1, 2}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.q, func(t *testing.T) {
			prep, err := h.e.Prepare(h.sess, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			describe := func(cols []engine.Column) []string {
				var out []string
				for _, c := range cols {
					out = append(out, c.Name+" "+c.Type.String())
				}
				return out
			}
			if got := describe(prep.Bind); !reflect.DeepEqual(got, tc.bind) {
				t.Errorf("bind %q, want %q", got, tc.bind)
			}
			if !reflect.DeepEqual(prep.PKIndexes, tc.pkIndexes) {
				t.Errorf("pk indexes %v, want %v", prep.PKIndexes, tc.pkIndexes)
			}
			if got := describe(prep.Result); !reflect.DeepEqual(got, tc.result) {
				t.Errorf("result %q, want %q", got, tc.result)
			}
		})
	}
}

// TestPreparedStatements covers the life of a prepared statement: its id
// is stable, it follows schema changes and it is refused once its table
// is gone.
func TestPreparedStatements(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS, `CREATE TABLE ks.a (k int PRIMARY KEY, v text)`)
	const insert = `INSERT INTO ks.a (k, v) VALUES (?, ?)`
	p1, err := h.e.Prepare(h.sess, insert)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := h.e.Prepare(h.sess, insert)
	if err != nil || !bytes.Equal(p1.ID, p2.ID) {
		t.Fatalf("re-preparing: id %x then %x (%v)", p1.ID, p2.ID, err)
	}
	other, err := h.e.Prepare(&engine.Session{Keyspace: "ks"}, insert)
	if err != nil || bytes.Equal(other.ID, p1.ID) {
		t.Fatalf("the same text in another keyspace got id %x (%v), want one of its own", other.ID, err)
	}

	if _, err := h.e.Execute(h.sess, p1.ID, params(int32v(1), textv("a"))); err != nil {
		t.Fatal(err)
	}
	_, err = h.e.Execute(h.sess, p1.ID, params(int32v(1)))
	wantError(t, err, wire.Invalid, "There were 2 markers(?) in CQL but 1 bound variables")

	// Unset leaves the column as it is.
	p := params(int32v(1), nil)
	p.Values[1] = wire.Value{Unset: true}
	if _, err := h.e.Execute(h.sess, p1.ID, p); err != nil {
		t.Fatal(err)
	}
	if got := h.rows(`SELECT v FROM ks.a WHERE k = 1`); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("after an unset value: %q", got)
	}

	// Dropping a column the statement writes makes it fail when run: the
	// engine recompiles the statement where ScyllaDB forgets it, answers
	// Unprepared and the driver, re-preparing, meets the same error.
	h.exec(`ALTER TABLE ks.a DROP v`)
	_, err = h.e.Execute(h.sess, p1.ID, params(int32v(2), textv("b")))
	wantError(t, err, wire.Invalid, "Unknown identifier v")
	h.exec(`ALTER TABLE ks.a ADD v text`)
	if _, err := h.e.Execute(h.sess, p1.ID, params(int32v(2), textv("b"))); err != nil {
		t.Fatalf("after the column came back: %v", err)
	}

	h.exec(`DROP TABLE ks.a`)
	_, err = h.e.Execute(h.sess, p1.ID, params(int32v(3), textv("c")))
	wantError(t, err, wire.Invalid, "unconfigured table a")

	unknown := []byte{1, 2, 3}
	_, err = h.e.Execute(h.sess, unknown, params())
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Code != wire.Unprepared || !bytes.Equal(ee.ID, unknown) {
		t.Fatalf("unknown id: %+v, want Unprepared carrying the id", err)
	}
}

// TestSyntaxErrors checks that what does not parse is a syntax error,
// whether queried or prepared.
func TestSyntaxErrors(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS)
	for _, q := range []string{`SELEKT * FROM ks.t`, `SELECT * FROM`, `INSERT INTO ks.t (k) VALUES (1`} {
		_, err := h.run(q)
		wantError(t, err, wire.SyntaxError, "line 1:")
		_, err = h.e.Prepare(h.sess, q)
		wantError(t, err, wire.SyntaxError, "line 1:")
	}
}
