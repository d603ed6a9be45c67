package scyllaemu_test

import (
	"reflect"
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// TestMultiColumnRangeDeletes deletes clustering ranges bounded by
// multi-column slices, as scylla-cdc-go's replicator replays range
// deletes, and checks the rows left and the CDC range rows.
func TestMultiColumnRangeDeletes(t *testing.T) {
	tests := []struct {
		name  string
		del   string
		left  [][2]int
		start int8 // cdc$operation of the range start row
	}{
		{"one column, exclusive", `DELETE FROM ks.r WHERE p = 0 AND (c1) > (2)`, [][2]int{{1, 1}, {1, 2}, {2, 1}, {2, 2}}, 6},
		{"two columns, both bounds", `DELETE FROM ks.r WHERE p = 0 AND (c1, c2) >= (1, 2) AND (c1, c2) < (3, 1)`, [][2]int{{1, 1}, {3, 1}, {3, 2}}, 5},
		{"prefix and full", `DELETE FROM ks.r WHERE p = 0 AND (c1) >= (2) AND (c1, c2) <= (2, 1)`, [][2]int{{1, 1}, {1, 2}, {2, 2}, {3, 1}, {3, 2}}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, sx := startEmu(t, scyllaemu.Options{})
			mustExec(t, sx, createKS, `CREATE TABLE ks.r (p int, c1 int, c2 int, PRIMARY KEY (p, c1, c2)) WITH cdc = {'enabled': true}`)
			for c1 := 1; c1 <= 3; c1++ {
				for c2 := 1; c2 <= 2; c2++ {
					if err := sx.Session.Query(`INSERT INTO ks.r (p, c1, c2) VALUES (0, ?, ?)`, c1, c2).Exec(); err != nil {
						t.Fatal(err)
					}
				}
			}
			mustExec(t, sx, tc.del)
			var left [][2]int
			iter := sx.Session.Query(`SELECT c1, c2 FROM ks.r WHERE p = 0`).Iter()
			for r := [2]int{}; iter.Scan(&r[0], &r[1]); {
				left = append(left, r)
			}
			if err := iter.Close(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(left, tc.left) {
				t.Fatalf("rows left %v, want %v", left, tc.left)
			}
			rows := readCDCLog(t, sx.Session, "ks.r_scylla_cdc_log")
			if last := rows[len(rows)-2]; last["cdc$operation"] != tc.start {
				t.Fatalf("range start row: %v, want operation %d", last, tc.start)
			}
		})
	}
	_, sx := startEmu(t, scyllaemu.Options{})
	mustExec(t, sx, createKS, `CREATE TABLE ks.r (p int, c1 int, c2 int, v int, PRIMARY KEY (p, c1, c2))`)
	for _, q := range []string{
		`UPDATE ks.r SET v = 1 WHERE p = 0 AND (c1, c2) > (1, 1)`,
		`DELETE FROM ks.r WHERE p = 0 AND (c2) > (1)`,
		`DELETE FROM ks.r WHERE p = 0 AND c1 = 1 AND (c1, c2) > (1, 1)`,
	} {
		if err := sx.Session.Query(q).Exec(); errCode(err) != 0x2200 {
			t.Errorf("%s: want 0x2200, got %v", q, err)
		}
	}
}
