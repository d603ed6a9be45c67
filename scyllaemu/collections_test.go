package scyllaemu_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// TestNonFrozenCollectionOperations drives every element operation of
// non-frozen lists, sets and maps through gocql and reads the result back.
func TestNonFrozenCollectionOperations(t *testing.T) {
	_, sx := startEmu(t, scyllaemu.Options{})
	s := sx.Session
	mustExec(t, sx, createKS, `CREATE TABLE ks.c (k int PRIMARY KEY, l list<int>, s set<text>, m map<int, text>)`)
	tests := []struct {
		stmt string
		args []any
		col  string
		want any
	}{
		{`INSERT INTO ks.c (k, l) VALUES (1, [1, 2, 3])`, nil, "l", []int{1, 2, 3}},
		{`UPDATE ks.c SET l = l + [4, 5] WHERE k = 1`, nil, "l", []int{1, 2, 3, 4, 5}},
		{`UPDATE ks.c SET l = [-1, 0] + l WHERE k = 1`, nil, "l", []int{-1, 0, 1, 2, 3, 4, 5}},
		{`UPDATE ks.c SET l = [-2] + l WHERE k = 1`, nil, "l", []int{-2, -1, 0, 1, 2, 3, 4, 5}},
		{`UPDATE ks.c SET l = l - [0, 4, 9] WHERE k = 1`, nil, "l", []int{-2, -1, 1, 2, 3, 5}},
		{`UPDATE ks.c SET l[1] = 10 WHERE k = 1`, nil, "l", []int{-2, 10, 1, 2, 3, 5}},
		{`DELETE l[0] FROM ks.c WHERE k = 1`, nil, "l", []int{10, 1, 2, 3, 5}},
		{`UPDATE ks.c SET l[0] = null WHERE k = 1`, nil, "l", []int{1, 2, 3, 5}},
		{`UPDATE ks.c SET l = l + ? WHERE k = 1`, []any{[]int{6}}, "l", []int{1, 2, 3, 5, 6}},
		{`UPDATE ks.c SET l = [] WHERE k = 1`, nil, "l", []int(nil)},
		{`UPDATE ks.c SET s = {'b', 'a'} WHERE k = 1`, nil, "s", []string{"a", "b"}},
		{`UPDATE ks.c SET s = s + {'c'} WHERE k = 1`, nil, "s", []string{"a", "b", "c"}},
		{`UPDATE ks.c SET s = s - {'a', 'z'} WHERE k = 1`, nil, "s", []string{"b", "c"}},
		{`DELETE s['b'] FROM ks.c WHERE k = 1`, nil, "s", []string{"c"}},
		{`UPDATE ks.c SET m = {1: 'one', 2: 'two'} WHERE k = 1`, nil, "m", map[int]string{1: "one", 2: "two"}},
		{`UPDATE ks.c SET m[3] = 'three' WHERE k = 1`, nil, "m", map[int]string{1: "one", 2: "two", 3: "three"}},
		{`UPDATE ks.c SET m = m + {4: 'four'}, m[1] = null WHERE k = 1`, nil, "m", map[int]string{2: "two", 3: "three", 4: "four"}},
		{`UPDATE ks.c SET m = m - {2} WHERE k = 1`, nil, "m", map[int]string{3: "three", 4: "four"}},
		{`DELETE m[3] FROM ks.c WHERE k = 1`, nil, "m", map[int]string{4: "four"}},
		{`DELETE m FROM ks.c WHERE k = 1`, nil, "m", map[int]string(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.stmt, func(t *testing.T) {
			if err := s.Query(tc.stmt, tc.args...).Exec(); err != nil {
				t.Fatal(err)
			}
			got := reflect.New(reflect.TypeOf(tc.want))
			if err := s.Query(`SELECT ` + tc.col + ` FROM ks.c WHERE k = 1`).Scan(got.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Elem().Interface(), tc.want) {
				t.Fatalf("%s = %v, want %v", tc.col, got.Elem().Interface(), tc.want)
			}
		})
	}

	errs := []struct {
		stmt, msg string
	}{
		{`UPDATE ks.c SET l[9] = 1 WHERE k = 1`, "List index 9 out of bound, list has size 0"},
		{`UPDATE ks.c SET s[1] = 'x' WHERE k = 1`, "for set column s"},
		{`UPDATE ks.c SET k = k + 1 WHERE k = 1`, "PRIMARY KEY part k found in SET part"},
		{`UPDATE ks.c SET m = m + [1] WHERE k = 1`, "Invalid list literal"},
		{`DELETE k[1] FROM ks.c WHERE k = 1`, "should not be a PRIMARY KEY part"},
	}
	for _, tc := range errs {
		err := s.Query(tc.stmt).Exec()
		if errCode(err) != 0x2200 || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: want 0x2200 %q, got %v", tc.stmt, tc.msg, err)
		}
	}
}

// TestCollectionElementsHaveTheirOwnTimestamps checks that elements written
// at different times are reconciled one by one, as ScyllaDB's cells are: an
// older overwrite loses only to newer elements, and element TTLs expire
// independently.
func TestCollectionElementsHaveTheirOwnTimestamps(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, sx := startEmu(t, scyllaemu.Options{Clock: clock.Now})
	s := sx.Session
	mustExec(t, sx, createKS, `CREATE TABLE ks.c (k int PRIMARY KEY, m map<text, int>)`)
	steps := []string{
		`UPDATE ks.c USING TIMESTAMP 100 SET m = {'a': 1} WHERE k = 1`,
		`UPDATE ks.c USING TIMESTAMP 300 SET m['b'] = 2 WHERE k = 1`,
		// Older than 'b': the overwrite's tombstone (at 199) cannot remove it.
		`UPDATE ks.c USING TIMESTAMP 200 SET m = {'c': 3} WHERE k = 1`,
		`UPDATE ks.c USING TIMESTAMP 400 AND TTL 10 SET m['d'] = 4 WHERE k = 1`,
	}
	for _, q := range steps {
		if err := s.Query(q).Exec(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	read := func() map[string]int {
		var m map[string]int
		if err := s.Query(`SELECT m FROM ks.c WHERE k = 1`).Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if got, want := read(), map[string]int{"b": 2, "c": 3, "d": 4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the writes: %v, want %v", got, want)
	}
	clock.Advance(10 * time.Second)
	if got, want := read(), map[string]int{"b": 2, "c": 3}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the TTL: %v, want %v", got, want)
	}
}

// cdcRow is one CDC log row as the tests inspect it.
type cdcRow map[string]any

// readCDCLog returns every row of a CDC log table in (time, batch_seq_no)
// order, with cols as well as the operation and sequence columns. A null
// column is nil (gocql's MapScan would give a zero value).
func readCDCLog(t *testing.T, s *gocql.Session, table string, cols ...string) []cdcRow {
	t.Helper()
	q := `SELECT "cdc$time", "cdc$batch_seq_no", "cdc$operation", "cdc$end_of_batch"`
	for _, c := range cols {
		q += `, "` + c + `"`
	}
	iter := s.Query(q + ` FROM ` + table).Iter()
	infos := iter.Columns()
	var rows []cdcRow
	for {
		dest := make([]any, len(infos))
		for i, ci := range infos {
			dest[i] = newNullable(ci.TypeInfo)
		}
		if !iter.Scan(dest...) {
			break
		}
		r := cdcRow{}
		for i, ci := range infos {
			if p := reflect.ValueOf(dest[i]).Elem(); !p.IsNil() {
				r[ci.Name] = p.Elem().Interface()
			} else {
				r[ci.Name] = nil
			}
		}
		rows = append(rows, r)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i]["cdc$time"].(gocql.UUID), rows[j]["cdc$time"].(gocql.UUID)
		if a != b {
			return a.Time().Before(b.Time()) || (a.Time().Equal(b.Time()) && a.String() < b.String())
		}
		return rows[i]["cdc$batch_seq_no"].(int) < rows[j]["cdc$batch_seq_no"].(int)
	})
	return rows
}

// TestCDCCollectionDeltas checks the log representation of every non-frozen
// collection and UDT operation against ScyllaDB's CDC documentation:
// overwrites set cdc$deleted_X and carry the new elements, additions carry
// only the added elements, removals fill cdc$deleted_elements_X (list
// elements by their timeuuid keys, UDT fields by index).
func TestCDCCollectionDeltas(t *testing.T) {
	_, sx := startEmu(t, scyllaemu.Options{})
	s := sx.Session
	mustExec(t, sx, createKS,
		`CREATE TYPE ks.pt (x int, y text)`,
		`CREATE TABLE ks.d (k int PRIMARY KEY, s set<int>, m map<int, text>, l list<text>, u pt) WITH cdc = {'enabled': true}`)
	type want struct {
		op      int8
		col     string
		value   string // fmt of the value column ("" skips the check)
		deleted bool
		elems   string // fmt of cdc$deleted_elements_X
	}
	tests := []struct {
		stmt string
		want want
	}{
		{`INSERT INTO ks.d (k, s) VALUES (1, {1, 2})`, want{2, "s", "[1 2]", true, "<nil>"}},
		{`UPDATE ks.d SET s = s + {3} WHERE k = 1`, want{1, "s", "[3]", false, "<nil>"}},
		{`UPDATE ks.d SET s = s - {1} WHERE k = 1`, want{1, "s", "<nil>", false, "[1]"}},
		{`UPDATE ks.d SET s = null WHERE k = 1`, want{1, "s", "<nil>", true, "<nil>"}},
		{`UPDATE ks.d SET m = {1: 'a'} WHERE k = 1`, want{1, "m", "map[1:a]", true, "<nil>"}},
		{`UPDATE ks.d SET m[2] = 'b' WHERE k = 1`, want{1, "m", "map[2:b]", false, "<nil>"}},
		{`UPDATE ks.d SET m = m - {1} WHERE k = 1`, want{1, "m", "<nil>", false, "[1]"}},
		{`DELETE m FROM ks.d WHERE k = 1`, want{1, "m", "<nil>", true, "<nil>"}},
		{`UPDATE ks.d SET u = (1, 'one') WHERE k = 1`, want{1, "u", "map[x:1 y:one]", true, "<nil>"}},
		// A UDT delta always carries every field, null where not written.
		{`UPDATE ks.d SET u.y = 'uno' WHERE k = 1`, want{1, "u", "map[x:0 y:uno]", false, "<nil>"}},
		{`UPDATE ks.d SET u.x = null WHERE k = 1`, want{1, "u", "map[x:0 y:]", false, "[0]"}},
		{`DELETE u.y FROM ks.d WHERE k = 1`, want{1, "u", "map[x:0 y:]", false, "[1]"}},
	}
	for _, tc := range tests {
		if err := s.Query(tc.stmt).Exec(); err != nil {
			t.Fatalf("%s: %v", tc.stmt, err)
		}
	}
	rows := readCDCLog(t, s, "ks.d_scylla_cdc_log", "s", "m", "u", "cdc$deleted_s", "cdc$deleted_m", "cdc$deleted_u",
		"cdc$deleted_elements_s", "cdc$deleted_elements_m", "cdc$deleted_elements_u")
	if len(rows) != len(tests) {
		t.Fatalf("%d log rows, want %d", len(rows), len(tests))
	}
	for i, tc := range tests {
		r := rows[i]
		w := tc.want
		if r["cdc$operation"] != w.op || r["cdc$end_of_batch"] != true {
			t.Errorf("%s: op %v end %v, want %d", tc.stmt, r["cdc$operation"], r["cdc$end_of_batch"], w.op)
		}
		if got := fmt.Sprint(r[w.col]); w.value != "" && got != w.value {
			t.Errorf("%s: %s = %s, want %s", tc.stmt, w.col, got, w.value)
		}
		if got := r["cdc$deleted_"+w.col] == true; got != w.deleted {
			t.Errorf("%s: cdc$deleted_%s = %v, want %v", tc.stmt, w.col, got, w.deleted)
		}
		if got := fmt.Sprint(r["cdc$deleted_elements_"+w.col]); got != w.elems {
			t.Errorf("%s: cdc$deleted_elements_%s = %s, want %s", tc.stmt, w.col, got, w.elems)
		}
	}

	// Lists: values keyed by the element cells' timeuuids, in list order;
	// a removal names the removed cells.
	mustExec(t, sx, `INSERT INTO ks.d (k, l) VALUES (2, ['a', 'b'])`, `UPDATE ks.d SET l = ['z'] + l WHERE k = 2`,
		`UPDATE ks.d SET l = l - ['a'] WHERE k = 2`)
	var lrows []cdcRow
	for _, r := range readCDCLog(t, s, "ks.d_scylla_cdc_log", "k", "l", "cdc$deleted_l", "cdc$deleted_elements_l") {
		if r["k"] == 2 {
			lrows = append(lrows, r)
		}
	}
	if len(lrows) != 3 {
		t.Fatalf("list log rows: %v", lrows)
	}
	ins := lrows[0]["l"].(map[gocql.UUID]string)
	keys := make([]gocql.UUID, 0, len(ins))
	for k := range ins {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].Time().Before(keys[j].Time()) || (keys[i].Time().Equal(keys[j].Time()) && keys[i].String() < keys[j].String())
	})
	if len(keys) != 2 || ins[keys[0]] != "a" || ins[keys[1]] != "b" || lrows[0]["cdc$deleted_l"] != true {
		t.Fatalf("list insert delta %v", lrows[0])
	}
	for k := range lrows[1]["l"].(map[gocql.UUID]string) {
		if !k.Time().Before(keys[0].Time()) {
			t.Fatalf("prepended key %v does not sort before %v", k, keys[0])
		}
	}
	del := lrows[2]["cdc$deleted_elements_l"].([]gocql.UUID)
	if len(del) != 1 || del[0] != keys[0] {
		t.Fatalf("list removal names %v, want [%v]", del, keys[0])
	}
	var l []string
	if err := s.Query(`SELECT l FROM ks.d WHERE k = 2`).Scan(&l); err != nil || !reflect.DeepEqual(l, []string{"z", "b"}) {
		t.Fatalf("list after removal: %v %v", l, err)
	}
}

// newNullable returns a **T for a column of type info, which gocql leaves
// nil for a null value.
func newNullable(info gocql.TypeInfo) any {
	zero, err := info.NewWithError()
	if err != nil {
		panic(err)
	}
	return reflect.New(reflect.TypeOf(zero)).Interface()
}
