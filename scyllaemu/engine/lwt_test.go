package engine_test

import (
	"reflect"
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// TestLWT runs conditional statements in sequence on one table and checks
// each result as ScyllaDB returns it: [applied] and the row as it was
// before the statement, whether it applied or not, then the data.
func TestLWT(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TABLE ks.l (k int, c int, s int static, v int, m map<text, int>, PRIMARY KEY (k, c))`)
	steps := []struct {
		stmt    string
		columns []string
		want    []string
	}{
		{`INSERT INTO ks.l (k, c, v) VALUES (1, 1, 10) IF NOT EXISTS`,
			[]string{"[applied]", "k", "c", "s", "m", "v"}, []string{"True, null, null, null, null, null"}},
		{`INSERT INTO ks.l (k, c, v) VALUES (1, 1, 11) IF NOT EXISTS`,
			[]string{"[applied]", "k", "c", "s", "m", "v"}, []string{"False, 1, 1, null, null, 10"}},
		{`UPDATE ks.l SET v = 12 WHERE k = 1 AND c = 1 IF v = 10`,
			[]string{"[applied]", "v"}, []string{"True, 10"}},
		{`UPDATE ks.l SET v = 13 WHERE k = 1 AND c = 1 IF v = 10`,
			[]string{"[applied]", "v"}, []string{"False, 12"}},
		{`UPDATE ks.l SET v = 14 WHERE k = 1 AND c = 1 IF v IN (1, 12) AND v > 11`,
			[]string{"[applied]", "v"}, []string{"True, 12"}},
		{`UPDATE ks.l SET v = 15 WHERE k = 1 AND c = 1 IF v != 14`,
			[]string{"[applied]", "v"}, []string{"False, 14"}},
		{`UPDATE ks.l SET m = {'a': 1} WHERE k = 1 AND c = 1 IF m = null`,
			[]string{"[applied]", "m"}, []string{"True, null"}},
		{`UPDATE ks.l SET v = 16 WHERE k = 1 AND c = 1 IF m['a'] = 1`,
			[]string{"[applied]", "m"}, []string{"True, {'a': 1}"}},
		{`UPDATE ks.l SET v = 0 WHERE k = 1 AND c = 2 IF EXISTS`,
			[]string{"[applied]", "k", "c", "s", "m", "v"}, []string{"False, null, null, null, null, null"}},
		// A condition on a missing row compares with nulls.
		{`UPDATE ks.l SET v = 20 WHERE k = 1 AND c = 2 IF v = null`,
			[]string{"[applied]", "v"}, []string{"True, null"}},
		// The static row exists once a static cell is written.
		{`UPDATE ks.l SET s = 1 WHERE k = 1 IF s = null`,
			[]string{"[applied]", "s"}, []string{"True, null"}},
		{`UPDATE ks.l SET s = 2 WHERE k = 1 IF s = 5`,
			[]string{"[applied]", "s"}, []string{"False, 1"}},
		{`DELETE FROM ks.l WHERE k = 1 AND c = 2 IF EXISTS`,
			[]string{"[applied]", "k", "c", "s", "m", "v"}, []string{"True, 1, 2, 1, null, 20"}},
		{`DELETE FROM ks.l WHERE k = 1 AND c = 2 IF EXISTS`,
			[]string{"[applied]", "k", "c", "s", "m", "v"}, []string{"False, null, null, null, null, null"}},
	}
	for _, st := range steps {
		res, err := h.run(st.stmt)
		if err != nil {
			t.Fatalf("%s: %v", st.stmt, err)
		}
		if got := columnNames(res.Rows.Columns); !reflect.DeepEqual(got, st.columns) {
			t.Fatalf("%s: columns %q, want %q", st.stmt, got, st.columns)
		}
		if got := format(t, res); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("%s: %q, want %q", st.stmt, got, st.want)
		}
	}
	want := []string{"1, 1, 1, 16, {'a': 1}"}
	if got := h.rows(`SELECT k, c, s, v, m FROM ks.l`); !reflect.DeepEqual(got, want) {
		t.Fatalf("data %q, want %q", got, want)
	}
}

// TestLWTPrepared checks that a prepared conditional statement announces
// its result columns, which do not depend on the outcome.
func TestLWTPrepared(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS, `CREATE TABLE ks.l (k int PRIMARY KEY, v int, w int)`)
	prep, err := h.e.Prepare(h.sess, `UPDATE ks.l SET w = ? WHERE k = ? IF v = ?`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := columnNames(prep.Result), []string{"[applied]", "v"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("prepared result columns %q, want %q", got, want)
	}
	for _, applied := range []string{"False, null", "False, null"} {
		res, err := h.e.Execute(h.sess, prep.ID, params(int32v(1), int32v(1), int32v(1)))
		if err != nil {
			t.Fatal(err)
		}
		if got := format(t, res); !reflect.DeepEqual(got, []string{applied}) {
			t.Fatalf("got %q, want %q", got, applied)
		}
	}
}

// TestLWTErrors checks the conditional statements ScyllaDB refuses.
func TestLWTErrors(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TABLE ks.l (k int, c int, s int static, v int, PRIMARY KEY (k, c))`)
	tests := []struct {
		stmt string
		msg  string
	}{
		{`INSERT INTO ks.l (k, c, v) VALUES (1, 1, 1) IF NOT EXISTS USING TIMESTAMP 5`, "Cannot provide custom timestamp for conditional updates"},
		{`UPDATE ks.l USING TIMESTAMP 5 SET v = 1 WHERE k = 1 AND c = 1 IF v = 1`, "Cannot provide custom timestamp for conditional updates"},
		{`UPDATE ks.l SET v = 1 WHERE k IN (1, 2) AND c = 1 IF v = 1`, "IN on the partition key is not supported with conditional updates"},
		{`UPDATE ks.l SET v = 1 WHERE k = 1 AND c IN (1, 2) IF v = 1`, "IN on the clustering key columns is not supported with conditional updates"},
		{`DELETE FROM ks.l WHERE k IN (1, 2) AND c = 1 IF EXISTS`, "IN on the partition key is not supported with conditional deletions"},
		{`UPDATE ks.l SET v = 1 WHERE k = 1 AND c = 1 IF k = 1`, "PRIMARY KEY column 'k' cannot have IF conditions"},
		{`UPDATE ks.l SET v = 1 WHERE k = 1 AND c = 1 IF nope = 1`, "Unknown identifier nope"},
		{`DELETE FROM ks.l WHERE k = 1 IF EXISTS`, "DELETE statements must restrict all PRIMARY KEY columns with equality relations in order to delete non static columns"},
		{`DELETE s FROM ks.l WHERE k = 1 IF v = 1`, "DELETE statements must restrict all PRIMARY KEY columns with equality relations in order to use IF condition on non static columns"},
		{`BEGIN BATCH UPDATE ks.l SET v = 1 WHERE k = 1 AND c = 1 IF v = 1; UPDATE ks.l SET v = 1 WHERE k = 2 AND c = 1; APPLY BATCH`,
			"BATCH with conditions cannot span multiple partitions"},
	}
	for _, tc := range tests {
		t.Run(tc.stmt, func(t *testing.T) {
			_, err := h.run(tc.stmt)
			wantError(t, err, wire.Invalid, tc.msg)
		})
	}
	if got := h.rows(`SELECT * FROM ks.l`); len(got) != 0 {
		t.Fatalf("refused statements wrote %q", got)
	}
}

// TestLWTConditionsOnParts checks conditions on a UDT field and on
// collection elements.
func TestLWTConditionsOnParts(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TYPE ks.addr (street text, zip int)`,
		`CREATE TABLE ks.l (k int PRIMARY KEY, a addr, fa frozen<addr>, l list<int>, m map<text, int>, v int)`,
		`INSERT INTO ks.l (k, a, fa, l, m, v) VALUES (1, {street: 'Main', zip: 1}, {street: 'Side', zip: 2}, [5, 6], {'x': 1}, 0)`)
	tests := []struct {
		cond    string
		applied bool
	}{
		{`a.zip = 1`, true},
		{`a.zip = 2`, false},
		{`fa.street = 'Side'`, true},
		{`l[0] = 5`, true},
		{`l[1] > 6`, false},
		{`l[7] = null`, true},
		{`m['x'] IN (1, 2)`, true},
		{`m['y'] = 1`, false},
		{`m['x'] = 1 AND a.street = 'Main' AND v = 0`, true},
		{`m['x'] = 1 AND v = 1`, false},
	}
	for _, tc := range tests {
		t.Run(tc.cond, func(t *testing.T) {
			res, err := h.run(`UPDATE ks.l SET v = 0 WHERE k = 1 IF ` + tc.cond)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Rows.Data[0][0][0] == 1; got != tc.applied {
				t.Fatalf("applied = %v, want %v (%q)", got, tc.applied, format(t, res))
			}
		})
	}
	_, err := h.run(`UPDATE ks.l SET v = 0 WHERE k = 1 IF v.zip = 1`)
	wantError(t, err, wire.Invalid, "Invalid field selection: v of type int is not a user type")
	_, err = h.run(`UPDATE ks.l SET v = 0 WHERE k = 1 IF v[0] = 1`)
	wantError(t, err, wire.Invalid, "Invalid element access on non-collection column v")
}
