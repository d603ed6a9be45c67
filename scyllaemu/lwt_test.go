package scyllaemu_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// casRow runs a conditional statement through gocql's prepared path and
// returns the result's column names and its only row.
func casRow(t *testing.T, s *gocql.Session, stmt string, args ...any) ([]string, map[string]any) {
	t.Helper()
	iter := s.Query(stmt, args...).Iter()
	var names []string
	for _, c := range iter.Columns() {
		names = append(names, c.Name)
	}
	row := map[string]any{}
	if !iter.MapScan(row) {
		t.Fatalf("%s: no result row: %v", stmt, iter.Close())
	}
	if err := iter.Close(); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return names, row
}

// TestLWTResultsAsScyllaDB checks the shape ScyllaDB gives LWT results:
// [applied] then the old row's columns (all for IF [NOT] EXISTS, the
// condition columns otherwise), for applied and not-applied statements
// alike, nulls when there was no row; and that PREPARE announces the same
// columns, so a skip-metadata execution decodes.
func TestLWTResultsAsScyllaDB(t *testing.T) {
	_, sx := startEmu(t, scyllaemu.Options{})
	s := sx.Session
	mustExec(t, sx, createKS,
		`CREATE TABLE ks.acct (id text PRIMARY KEY, balance int, owner text)`,
		`CREATE TABLE ks.cl (p int, c int, s int static, v int, PRIMARY KEY (p, c))`)

	allCols := []string{"[applied]", "id", "balance", "owner"}
	tests := []struct {
		name  string
		stmt  string
		args  []any
		cols  []string
		want  map[string]any
		after string // a SELECT showing the statement's effect, if any
	}{
		{"insert if not exists, absent", `INSERT INTO ks.acct (id, balance, owner) VALUES (?, ?, ?) IF NOT EXISTS`,
			[]any{"x", 10, "ann"}, allCols,
			map[string]any{"[applied]": true, "id": "", "balance": 0, "owner": ""}, ""},
		{"insert if not exists, present", `INSERT INTO ks.acct (id, balance, owner) VALUES (?, ?, ?) IF NOT EXISTS`,
			[]any{"x", 99, "bob"}, allCols,
			map[string]any{"[applied]": false, "id": "x", "balance": 10, "owner": "ann"}, ""},
		{"update if column, holds", `UPDATE ks.acct SET balance = ? WHERE id = ? IF balance = ?`,
			[]any{20, "x", 10}, []string{"[applied]", "balance"},
			map[string]any{"[applied]": true, "balance": 10}, ""},
		{"update if column, fails", `UPDATE ks.acct SET balance = ? WHERE id = ? IF balance = ?`,
			[]any{30, "x", 10}, []string{"[applied]", "balance"},
			map[string]any{"[applied]": false, "balance": 20}, ""},
		{"two conditions on two columns, schema order", `UPDATE ks.acct SET balance = ? WHERE id = ? IF owner = ? AND balance > ? AND balance < ?`,
			[]any{25, "x", "ann", 0, 100}, []string{"[applied]", "balance", "owner"},
			map[string]any{"[applied]": true, "balance": 20, "owner": "ann"}, ""},
		{"update if exists, absent", `UPDATE ks.acct SET balance = ? WHERE id = ? IF EXISTS`,
			[]any{1, "missing"}, allCols,
			map[string]any{"[applied]": false, "id": "", "balance": 0, "owner": ""}, ""},
		{"delete if exists, present", `DELETE FROM ks.acct WHERE id = ? IF EXISTS`,
			[]any{"x"}, allCols,
			map[string]any{"[applied]": true, "id": "x", "balance": 25, "owner": "ann"}, ""},
		{"condition on absent row", `UPDATE ks.acct SET balance = ? WHERE id = ? IF balance = ?`,
			[]any{1, "x", 25}, []string{"[applied]", "balance"},
			map[string]any{"[applied]": false, "balance": 0}, ""},
		{"static row stands in for a missing row", `UPDATE ks.cl SET v = ? WHERE p = ? AND c = ? IF s = ?`,
			[]any{7, 1, 1, 5}, []string{"[applied]", "s"},
			map[string]any{"[applied]": true, "s": 5}, ""},
	}
	if err := s.Query(`INSERT INTO ks.cl (p, s) VALUES (1, 5)`).Exec(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cols, row := casRow(t, s, tc.stmt, tc.args...)
			if !reflect.DeepEqual(cols, tc.cols) {
				t.Fatalf("columns %v, want %v", cols, tc.cols)
			}
			if !reflect.DeepEqual(row, tc.want) {
				t.Fatalf("row %v, want %v", row, tc.want)
			}
		})
	}
	var v int
	if err := s.Query(`SELECT v FROM ks.cl WHERE p = 1 AND c = 1`).Scan(&v); err != nil || v != 7 {
		t.Fatalf("static-conditioned update: v=%d err=%v", v, err)
	}

	// A statement on the static row shows the partition key even without a
	// row, and a static row exists only with a live static cell (the
	// examples of ScyllaDB's LWT document).
	staticTests := []struct {
		stmt string
		want map[string]any
	}{
		{`INSERT INTO ks.cl (p, s) VALUES (2, NULL) IF NOT EXISTS`, map[string]any{"[applied]": true, "p": 2, "c": 0, "s": 0, "v": 0}},
		{`INSERT INTO ks.cl (p, s) VALUES (2, NULL) IF NOT EXISTS`, map[string]any{"[applied]": true, "p": 2, "c": 0, "s": 0, "v": 0}},
	}
	for _, tc := range staticTests {
		if _, row := casRow(t, s, tc.stmt); !reflect.DeepEqual(row, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.stmt, row, tc.want)
		}
	}
	for _, q := range []string{
		`DELETE FROM ks.cl WHERE p = 1 IF EXISTS`,
		`DELETE s FROM ks.cl WHERE p = 1 IF v = 7`,
	} {
		if err := s.Query(q).Exec(); errCode(err) != 0x2200 || !strings.Contains(err.Error(), "DELETE statements must restrict all PRIMARY KEY columns") {
			t.Errorf("%s: want 0x2200, got %v", q, err)
		}
	}
	if applied, err := s.Query(`DELETE s FROM ks.cl WHERE p = 1 IF s = 5`).MapScanCAS(map[string]any{}); err != nil || !applied {
		t.Fatalf("static-only conditional delete: %v %v", applied, err)
	}
}

// TestLWTBatchResult checks a conditional batch: one row per statement in
// statement order, the columns being [applied], the primary key and the
// union of the statements' result columns.
func TestLWTBatchResult(t *testing.T) {
	_, sx := startEmu(t, scyllaemu.Options{})
	s := sx.Session
	mustExec(t, sx, createKS, `CREATE TABLE ks.cl (p int, c int, v int, w text, PRIMARY KEY (p, c))`,
		`INSERT INTO ks.cl (p, c, v, w) VALUES (1, 2, 20, 'two')`)

	b := s.Batch(gocql.LoggedBatch)
	b.Query(`UPDATE ks.cl SET v = 21 WHERE p = 1 AND c = 2 IF v = 20`)
	b.Query(`INSERT INTO ks.cl (p, c, v) VALUES (1, 1, 10) IF NOT EXISTS`)
	row := map[string]any{}
	applied, iter, err := s.MapExecuteBatchCAS(b, row)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range iter.Columns() {
		names = append(names, c.Name)
	}
	if want := []string{"[applied]", "p", "c", "v", "w"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("columns %v, want %v", names, want)
	}
	if !applied || row["p"] != 1 || row["c"] != 2 || row["v"] != 20 || row["w"] != "two" {
		t.Fatalf("first row: applied=%v %v", applied, row)
	}
	second := map[string]any{}
	if !iter.MapScan(second) {
		t.Fatalf("no second row: %v", iter.Close())
	}
	if second["[applied]"] != true || second["p"] != 0 || second["v"] != 0 {
		t.Fatalf("second row (no old row: nulls): %v", second)
	}
	if iter.MapScan(map[string]any{}) {
		t.Fatal("more rows than statements")
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}

	bad := s.Batch(gocql.LoggedBatch)
	bad.Query(`UPDATE ks.cl SET v = 1 WHERE p = 1 AND c = 2 IF v = 21`)
	bad.Query(`UPDATE ks.cl SET v = 1 WHERE p = 2 AND c = 2`)
	if _, _, err := s.ExecuteBatchCAS(bad); errCode(err) != 0x2200 {
		t.Fatalf("conditional batch over two partitions: want 0x2200, got %v", err)
	}
}
