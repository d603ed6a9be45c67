package scyllaemu_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// TestCDCImagesAsDocumented replays the examples of ScyllaDB's "Preimages
// and postimages" document and compares the log, row by row: which
// batches get preimage (0) and postimage (9) rows, their batch_seq_no
// order around the deltas, which columns they carry, and cdc$deleted_X.
// Each row renders as "seq:op col=value ...", batches separated by "|".
func TestCDCImagesAsDocumented(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		stmts  []string
		cols   []string
		want   string
	}{
		{
			name:   "preimage true shows only the written columns",
			schema: `CREATE TABLE ks.t (pk int, ck int, v1 int, v2 map<int, int>, PRIMARY KEY (pk, ck)) WITH cdc = {'enabled': true, 'preimage': true}`,
			stmts: []string{
				`UPDATE ks.t SET v1 = 0 WHERE pk = 0 AND ck = 0`,
				`UPDATE ks.t SET v2 = v2 + {1:1, 2:2} WHERE pk = 0 AND ck = 0`,
				`UPDATE ks.t SET v2 = v2 + {2:3, 3:4} WHERE pk = 0 AND ck = 0`,
			},
			cols: []string{"v1", "v2", "cdc$deleted_v1", "cdc$deleted_v2"},
			want: "0:1 v1=0 |" +
				"0:0 cdc$deleted_v2=true 1:1 v2=map[1:1 2:2] |" +
				"0:0 v2=map[1:1 2:2] 1:1 v2=map[2:3 3:4] |",
		},
		{
			name:   "full preimage shows every column",
			schema: `CREATE TABLE ks.t (pk int, ck int, v1 int, v2 map<int, int>, PRIMARY KEY (pk, ck)) WITH cdc = {'enabled': true, 'preimage': 'full'}`,
			stmts: []string{
				`UPDATE ks.t SET v1 = 0 WHERE pk = 0 AND ck = 0`,
				`UPDATE ks.t SET v2 = v2 + {1:1, 2:2} WHERE pk = 0 AND ck = 0`,
				`UPDATE ks.t SET v2 = v2 + {2:3, 3:4} WHERE pk = 0 AND ck = 0`,
			},
			cols: []string{"v1", "v2"},
			want: "0:1 v1=0 |" +
				"0:0 v1=0 1:1 v2=map[1:1 2:2] |" +
				"0:0 v1=0 v2=map[1:1 2:2] 1:1 v2=map[2:3 3:4] |",
		},
		{
			name:   "no preimage for range and partition deletes",
			schema: `CREATE TABLE ks.t (pk int, ck int, v int, PRIMARY KEY (pk, ck)) WITH cdc = {'enabled': true, 'preimage': true}`,
			stmts: []string{
				`UPDATE ks.t SET v = 0 WHERE pk = 0 AND ck = 0`,
				`UPDATE ks.t SET v = 0 WHERE pk = 0 AND ck = 1`,
				`UPDATE ks.t SET v = 0 WHERE pk = 0 AND ck = 2`,
				`UPDATE ks.t SET v = 1 WHERE pk = 0 AND ck = 0`,
				`INSERT INTO ks.t (pk, ck, v) VALUES (0, 0, 2)`,
				`DELETE FROM ks.t WHERE pk = 0 AND ck = 0`,
				`DELETE FROM ks.t WHERE pk = 0 AND ck >= 1 AND ck < 2`,
				`DELETE FROM ks.t WHERE pk = 0`,
			},
			cols: []string{"ck", "v"},
			want: "0:1 ck=0 v=0 |0:1 ck=1 v=0 |0:1 ck=2 v=0 |" +
				"0:0 ck=0 v=0 1:1 ck=0 v=1 |" +
				"0:0 ck=0 v=1 1:2 ck=0 v=2 |" +
				"0:0 ck=0 v=2 1:3 ck=0 |" +
				"0:5 ck=1 1:8 ck=2 |" +
				"0:4 |",
		},
		{
			name:   "postimages for inserts and updates only",
			schema: `CREATE TABLE ks.t (pk int, ck int, v1 int, v2 int, PRIMARY KEY (pk, ck)) WITH cdc = {'enabled': true, 'preimage': 'full', 'postimage': true}`,
			stmts: []string{
				`UPDATE ks.t SET v1 = 0 WHERE pk = 0 AND ck = 0`,
				`UPDATE ks.t SET v2 = 0 WHERE pk = 0 AND ck = 1`,
				`UPDATE ks.t SET v1 = 0 WHERE pk = 0 AND ck = 2`,
				`INSERT INTO ks.t (pk, ck, v2) VALUES (0, 0, 0)`,
				`DELETE FROM ks.t WHERE pk = 0 AND ck = 0`,
				`DELETE FROM ks.t WHERE pk = 0 AND ck >= 1 AND ck < 2`,
				`DELETE FROM ks.t WHERE pk = 0`,
			},
			cols: []string{"ck", "v1", "v2"},
			want: "0:1 ck=0 v1=0 1:9 ck=0 v1=0 |" +
				"0:1 ck=1 v2=0 1:9 ck=1 v2=0 |" +
				"0:1 ck=2 v1=0 1:9 ck=2 v1=0 |" +
				"0:0 ck=0 v1=0 1:2 ck=0 v2=0 2:9 ck=0 v1=0 v2=0 |" +
				"0:0 ck=0 v1=0 v2=0 1:3 ck=0 |" +
				"0:5 ck=1 1:8 ck=2 |" +
				"0:4 |",
		},
		{
			name:   "collection postimages merge the delta into the preimage",
			schema: `CREATE TABLE ks.t (pk int, ck int, v map<int, int>, PRIMARY KEY (pk, ck)) WITH cdc = {'enabled': true, 'preimage': true, 'postimage': true}`,
			stmts: []string{
				`UPDATE ks.t SET v = {1:1, 2:2} WHERE pk = 0 AND ck = 0`,
				`UPDATE ks.t SET v = v + {3:3}, v = v - {2} WHERE pk = 0 AND ck = 0`,
				`UPDATE ks.t SET v = {4:4} WHERE pk = 0 AND ck = 0`,
			},
			cols: []string{"v", "cdc$deleted_elements_v", "cdc$deleted_v"},
			want: "0:1 v=map[1:1 2:2] cdc$deleted_v=true 1:9 v=map[1:1 2:2] |" +
				"0:0 v=map[1:1 2:2] 1:1 v=map[3:3] cdc$deleted_elements_v=[2] 2:9 v=map[1:1 3:3] |" +
				"0:0 v=map[1:1 3:3] 1:1 v=map[4:4] cdc$deleted_v=true 2:9 v=map[4:4] |",
		},
		{
			name:   "a batch on two rows: all preimages, then the deltas, then the postimages",
			schema: `CREATE TABLE ks.t (pk int, ck int, v int, PRIMARY KEY (pk, ck)) WITH cdc = {'enabled': true, 'preimage': true, 'postimage': true}`,
			stmts: []string{
				`INSERT INTO ks.t (pk, ck, v) VALUES (0, 1, 10)`,
				`INSERT INTO ks.t (pk, ck, v) VALUES (0, 2, 20)`,
				`BEGIN BATCH UPDATE ks.t SET v = 22 WHERE pk = 0 AND ck = 2; UPDATE ks.t SET v = 11 WHERE pk = 0 AND ck = 1; APPLY BATCH`,
			},
			cols: []string{"ck", "v"},
			want: "0:2 ck=1 v=10 1:9 ck=1 v=10 |0:2 ck=2 v=20 1:9 ck=2 v=20 |" +
				"0:0 ck=1 v=10 1:0 ck=2 v=20 2:1 ck=1 v=11 3:1 ck=2 v=22 4:9 ck=1 v=11 5:9 ck=2 v=22 |",
		},
		{
			name:   "an INSERT with a TTL splits: marker, collection tombstone, cells",
			schema: `CREATE TABLE ks.t (pk int, ck int, v set<int>, PRIMARY KEY (pk, ck)) WITH cdc = {'enabled': true}`,
			stmts: []string{
				`INSERT INTO ks.t (pk, ck, v) VALUES (0, 0, {7}) USING TTL 50`,
			},
			cols: []string{"v", "cdc$deleted_v", "cdc$ttl"},
			want: "0:2 cdc$ttl=50 1:1 cdc$deleted_v=true 2:1 v=[7] cdc$ttl=50 |",
		},
		{
			name:   "delta keys logs the keys only",
			schema: `CREATE TABLE ks.t (pk int, ck int, v int, PRIMARY KEY (pk, ck)) WITH cdc = {'enabled': true, 'delta': 'keys', 'postimage': true}`,
			stmts: []string{
				`UPDATE ks.t SET v = 5 WHERE pk = 0 AND ck = 3`,
			},
			cols: []string{"ck", "v", "cdc$deleted_v"},
			want: "0:1 ck=3 1:9 ck=3 v=5 |",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, sx := startEmu(t, scyllaemu.Options{})
			mustExec(t, sx, createKS, tc.schema)
			mustExec(t, sx, tc.stmts...)
			var b strings.Builder
			var prev any
			for _, r := range readCDCLog(t, sx.Session, "ks.t_scylla_cdc_log", tc.cols...) {
				if prev != nil && r["cdc$time"] != prev {
					b.WriteString("|")
				}
				prev = r["cdc$time"]
				fmt.Fprintf(&b, "%d:%d ", r["cdc$batch_seq_no"], r["cdc$operation"])
				for _, c := range tc.cols {
					if r[c] != nil {
						fmt.Fprintf(&b, "%s=%v ", c, r[c])
					}
				}
				if r["cdc$end_of_batch"] == true {
					prev = "end"
				}
			}
			b.WriteString("|")
			if got := b.String(); got != tc.want {
				t.Fatalf("log:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
