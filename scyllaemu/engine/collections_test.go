package engine_test

import (
	"reflect"
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// TestCollections applies element-wise updates to non-frozen collections
// and a non-frozen UDT, one after the other, and reads the result of each.
func TestCollections(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TYPE ks.addr (street text, zip int)`,
		`CREATE TABLE ks.c (k int PRIMARY KEY, l list<int>, s set<text>, m map<text, int>, a addr)`)
	const read = `SELECT l, s, m, a FROM ks.c WHERE k = 1`
	steps := []struct {
		stmt string
		want string // read's row; "" for no row
	}{
		{`INSERT INTO ks.c (k, l, s, m, a) VALUES (1, [1, 2], {'b', 'a'}, {'x': 1}, {street: 'Main', zip: 1})`,
			"[1, 2], {'a', 'b'}, {'x': 1}, {street: 'Main', zip: 1}"},
		{`UPDATE ks.c SET l = l + [3], s = s + {'c'}, m = m + {'y': 2} WHERE k = 1`,
			"[1, 2, 3], {'a', 'b', 'c'}, {'x': 1, 'y': 2}, {street: 'Main', zip: 1}"},
		{`UPDATE ks.c SET l = [0] + l WHERE k = 1`,
			"[0, 1, 2, 3], {'a', 'b', 'c'}, {'x': 1, 'y': 2}, {street: 'Main', zip: 1}"},
		{`UPDATE ks.c SET l[1] = 10, a.zip = 2 WHERE k = 1`,
			"[0, 10, 2, 3], {'a', 'b', 'c'}, {'x': 1, 'y': 2}, {street: 'Main', zip: 2}"},
		{`DELETE l[0], m['x'], a.street FROM ks.c WHERE k = 1`,
			"[10, 2, 3], {'a', 'b', 'c'}, {'y': 2}, {street: null, zip: 2}"},
		{`UPDATE ks.c SET s = s - {'a'}, l = l - [2], m['z'] = 3 WHERE k = 1`,
			"[10, 3], {'b', 'c'}, {'y': 2, 'z': 3}, {street: null, zip: 2}"},
		{`UPDATE ks.c SET s = {}, m = {'only': 1} WHERE k = 1`,
			"[10, 3], null, {'only': 1}, {street: null, zip: 2}"},
		{`UPDATE ks.c SET a = null WHERE k = 1`,
			"[10, 3], null, {'only': 1}, null"},
		{`DELETE l FROM ks.c WHERE k = 1`,
			"null, null, {'only': 1}, null"},
	}
	for _, st := range steps {
		h.exec(st.stmt)
		got := h.rows(read)
		want := []string{}
		if st.want != "" {
			want = []string{st.want}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after %s: %q, want %q", st.stmt, got, want)
		}
	}
	if got := h.rows(`SELECT a.zip FROM ks.c WHERE k = 1`); !reflect.DeepEqual(got, []string{"null"}) {
		t.Fatalf("field of a null UDT: %q", got)
	}
}

// TestCollectionErrors checks the collection operations ScyllaDB refuses.
func TestCollectionErrors(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TYPE ks.addr (street text, zip int)`,
		`CREATE TABLE ks.c (k int PRIMARY KEY, v int, l list<int>, s set<text>, f frozen<list<int>>, fa frozen<addr>)`,
		`INSERT INTO ks.c (k, l) VALUES (1, [1, 2])`)
	tests := []struct {
		stmt string
		msg  string
	}{
		{`UPDATE ks.c SET l[5] = 1 WHERE k = 1`, "List index 5 out of bound, list has size 2"},
		{`UPDATE ks.c SET f[0] = 1 WHERE k = 1`, "Invalid operation (f[?] = ?) for frozen collection column f"},
		{`UPDATE ks.c SET s[0] = 'a' WHERE k = 1`, "Invalid operation (s[?] = ?) for set column s"},
		{`UPDATE ks.c SET v[0] = 1 WHERE k = 1`, "Invalid operation (v[?] = ?) for non collection column v"},
		{`UPDATE ks.c SET f = f + [1] WHERE k = 1`, "Invalid operation (f = f + ?) for frozen collection column f"},
		{`UPDATE ks.c SET fa.zip = 1 WHERE k = 1`, "Invalid operation (fa.zip = ?) for frozen UDT column fa"},
		{`UPDATE ks.c SET v.zip = 1 WHERE k = 1`, "Invalid operation (v.zip = ?) for non-UDT column v"},
		{`DELETE f[0] FROM ks.c WHERE k = 1`, "Invalid deletion operation for frozen collection column f"},
		{`INSERT INTO ks.c (k, s) VALUES (2, {'a', null})`, "null is not supported inside collections"},
		{`INSERT INTO ks.c (k, fa) VALUES (2, {nope: 1})`, "Unknown field 'nope' in value of user defined type addr"},
	}
	for _, tc := range tests {
		t.Run(tc.stmt, func(t *testing.T) {
			_, err := h.run(tc.stmt)
			wantError(t, err, wire.Invalid, tc.msg)
		})
	}
}
