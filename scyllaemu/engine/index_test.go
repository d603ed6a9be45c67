package engine_test

import (
	"reflect"
	"sort"
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// TestSecondaryIndex queries through global and local indexes while the
// indexed data changes: a lookup must see exactly the live rows that hold
// the value now.
func TestSecondaryIndex(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TABLE ks.t (k int, c int, v text, m map<text, int>, l list<int>, f frozen<set<int>>, PRIMARY KEY (k, c))`,
		`CREATE INDEX t_v ON ks.t (v)`,
		`CREATE INDEX ON ks.t (keys(m))`,
		`CREATE INDEX ON ks.t (l)`,
		`CREATE INDEX ON ks.t (full(f))`,
		`CREATE INDEX ON ks.t ((k), c)`,
		`INSERT INTO ks.t (k, c, v, m, l, f) VALUES (1, 1, 'a', {'x': 1}, [1, 2], {1})`,
		`INSERT INTO ks.t (k, c, v, m, l, f) VALUES (1, 2, 'b', {'y': 2}, [2], {1, 2})`,
		`INSERT INTO ks.t (k, c, v, m, l, f) VALUES (2, 1, 'a', {'x': 3}, [3], {1})`)
	type lookup struct {
		q    string
		want []string // k, c in any order
	}
	steps := []struct {
		write   string
		lookups []lookup
	}{
		{"", []lookup{
			{`SELECT k, c FROM ks.t WHERE v = 'a'`, []string{"1, 1", "2, 1"}},
			{`SELECT k, c FROM ks.t WHERE v = 'none'`, []string{}},
			{`SELECT k, c FROM ks.t WHERE k = 1 AND v = 'a'`, []string{"1, 1"}},
			{`SELECT k, c FROM ks.t WHERE m CONTAINS KEY 'x'`, []string{"1, 1", "2, 1"}},
			{`SELECT k, c FROM ks.t WHERE l CONTAINS 2`, []string{"1, 1", "1, 2"}},
			{`SELECT k, c FROM ks.t WHERE f = {1}`, []string{"1, 1", "2, 1"}},
			{`SELECT k, c FROM ks.t WHERE k = 1 AND c = 2`, []string{"1, 2"}},
		}},
		{`UPDATE ks.t SET v = 'c', m = m - {'x'}, l = l - [2] WHERE k = 1 AND c = 1`, []lookup{
			{`SELECT k, c FROM ks.t WHERE v = 'a'`, []string{"2, 1"}},
			{`SELECT k, c FROM ks.t WHERE v = 'c'`, []string{"1, 1"}},
			{`SELECT k, c FROM ks.t WHERE m CONTAINS KEY 'x'`, []string{"2, 1"}},
			{`SELECT k, c FROM ks.t WHERE l CONTAINS 2`, []string{"1, 2"}},
		}},
		{`DELETE FROM ks.t WHERE k = 2 AND c = 1`, []lookup{
			{`SELECT k, c FROM ks.t WHERE v = 'a'`, []string{}},
			{`SELECT k, c FROM ks.t WHERE m CONTAINS KEY 'x'`, []string{}},
			{`SELECT k, c FROM ks.t WHERE m CONTAINS KEY 'y'`, []string{"1, 2"}},
		}},
		{`DELETE FROM ks.t WHERE k = 1`, []lookup{
			{`SELECT k, c FROM ks.t WHERE v = 'c'`, []string{}},
			{`SELECT k, c FROM ks.t WHERE l CONTAINS 2`, []string{}},
		}},
	}
	for _, st := range steps {
		if st.write != "" {
			h.exec(st.write)
		}
		for _, l := range st.lookups {
			got := h.rows(l.q)
			sort.Strings(got)
			if !reflect.DeepEqual(got, l.want) {
				t.Errorf("after %q: %s: %q, want %q", st.write, l.q, got, l.want)
			}
		}
	}
	_, err := h.run(`SELECT k FROM ks.t WHERE v = ?`, nil)
	wantError(t, err, wire.Invalid, "Unsupported null value for indexed column v")
	h.exec(`DROP INDEX ks.t_v`)
	_, err = h.run(`SELECT k FROM ks.t WHERE v = 'a'`)
	wantError(t, err, wire.Invalid, "Cannot execute this query as it might involve data filtering")
}

// TestIndexCreatedOnExistingData checks that an index covers the rows
// written before it was created.
func TestIndexCreatedOnExistingData(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS, `CREATE TABLE ks.t (k int PRIMARY KEY, v int)`)
	for k := range int32(20) {
		if _, err := h.run(`INSERT INTO ks.t (k, v) VALUES (?, ?)`, int32v(k), int32v(k%3)); err != nil {
			t.Fatal(err)
		}
	}
	h.exec(`CREATE INDEX ON ks.t (v)`)
	got := h.rows(`SELECT k FROM ks.t WHERE v = 1`)
	sort.Strings(got)
	if want := []string{"1", "10", "13", "16", "19", "4", "7"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
