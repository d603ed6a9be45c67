package engine_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// TestCDCDeltas checks the log rows one statement produces: their
// operation, batch sequence, the values and deletion flags they carry,
// and the TTL.
func TestCDCDeltas(t *testing.T) {
	const logQuery = `SELECT "cdc$batch_seq_no", "cdc$end_of_batch", "cdc$operation", k, c, v, "cdc$deleted_v", "cdc$ttl" FROM ks.c_scylla_cdc_log`
	tests := []struct {
		name string
		stmt string
		want []string // logQuery's rows
		// refused: the statement must fail with this message
		refused string
	}{
		{name: "insert", stmt: `INSERT INTO ks.c (k, c, v) VALUES (1, 1, 10)`,
			want: []string{"0, True, 2, 1, 1, 10, null, null"}},
		{name: "insert with a TTL", stmt: `INSERT INTO ks.c (k, c, v) VALUES (1, 1, 10) USING TTL 100`,
			want: []string{"0, True, 2, 1, 1, 10, null, 100"}},
		{name: "update", stmt: `UPDATE ks.c SET v = 11 WHERE k = 1 AND c = 1`,
			want: []string{"0, True, 1, 1, 1, 11, null, null"}},
		{name: "update to null", stmt: `UPDATE ks.c SET v = null WHERE k = 1 AND c = 1`,
			want: []string{"0, True, 1, 1, 1, null, True, null"}},
		{name: "cell deletion", stmt: `DELETE v FROM ks.c WHERE k = 1 AND c = 1`,
			want: []string{"0, True, 1, 1, 1, null, True, null"}},
		{name: "row deletion", stmt: `DELETE FROM ks.c WHERE k = 1 AND c = 1`,
			want: []string{"0, True, 3, 1, 1, null, null, null"}},
		{name: "partition deletion", stmt: `DELETE FROM ks.c WHERE k = 1`,
			want: []string{"0, True, 4, 1, null, null, null, null"}},
		{name: "range deletion", stmt: `DELETE FROM ks.c WHERE k = 1 AND c >= 2 AND c < 5`,
			want: []string{"0, null, 5, 1, 2, null, null, null", "1, True, 8, 1, 5, null, null, null"}},
		{name: "a batch on one partition", stmt: `BEGIN BATCH INSERT INTO ks.c (k, c, v) VALUES (1, 1, 10); UPDATE ks.c SET v = 20 WHERE k = 1 AND c = 2; APPLY BATCH`,
			want: []string{"0, null, 2, 1, 1, 10, null, null", "1, True, 1, 1, 2, 20, null, null"}},
		{name: "a write older than every generation is refused", stmt: `INSERT INTO ks.c (k, c, v) VALUES (1, 1, 10) USING TIMESTAMP 1`,
			want: []string{}, refused: "before any CDC generations appeared"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{}, createKS,
				`CREATE TABLE ks.c (k int, c int, v int, PRIMARY KEY (k, c)) WITH cdc = {'enabled': true}`)
			_, err := h.run(tc.stmt)
			if tc.refused != "" {
				wantError(t, err, wire.Invalid, tc.refused)
				if got := h.rows(`SELECT * FROM ks.c`); len(got) != 0 {
					t.Fatalf("a refused write reached the base table: %q", got)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := h.rows(logQuery); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("log %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCDCStreamsAndTime checks where and when writes are logged: each in
// the stream of the vnode that owns its partition's token, at its write
// timestamp, and a stream's rows in the order of the writes.
func TestCDCStreamsAndTime(t *testing.T) {
	h := newHarness(t, engine.Options{Vnodes: 8}, createKS,
		`CREATE TABLE ks.c (k int PRIMARY KEY, v int) WITH cdc = {'enabled': true}`)
	gen := h.e.Generations()[0]
	type write struct {
		k, v int32
		ts   int64
	}
	var writes []write
	for v := range int32(5) {
		for k := range int32(10) {
			h.clock.Advance(time.Millisecond)
			if _, err := h.run(`UPDATE ks.c SET v = ? WHERE k = ?`, int32v(v), int32v(k)); err != nil {
				t.Fatal(err)
			}
			writes = append(writes, write{k, v, h.clock.Now().UnixMicro()})
		}
	}
	res, err := h.run(`SELECT "cdc$stream_id", "cdc$time", k, v FROM ks.c_scylla_cdc_log`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows.Data) != len(writes) {
		t.Fatalf("%d log rows, want %d", len(res.Rows.Data), len(writes))
	}
	logged := map[int64]write{} // by cdc$time
	var prevStream []byte
	var prevTime int64
	for _, r := range res.Rows.Data {
		stream, at, k := r[0], types.TimeUUIDMicros(r[1]), i32(r[2])
		if want := gen.StreamFor(types.Murmur3Token(int32v(k))); !bytes.Equal(stream, want) {
			t.Errorf("k=%d logged to stream %x, want %x (its vnode's)", k, stream, want)
		}
		if bytes.Equal(stream, prevStream) && at <= prevTime {
			t.Errorf("stream %x: time %d after %d", stream, at, prevTime)
		}
		prevStream, prevTime = stream, at
		logged[at] = write{k, i32(r[3]), at}
	}
	for _, w := range writes {
		if got, ok := logged[w.ts]; !ok || got != w {
			t.Errorf("write %+v: logged %+v", w, got)
		}
	}
}

// TestCDCImages checks pre- and postimages around a delta.
func TestCDCImages(t *testing.T) {
	tests := []struct {
		name    string
		options string
		want    []string // "cdc$operation", k, v, w of the UPDATE's log rows
	}{
		{"no images", `{'enabled': true}`,
			[]string{"1, 1, 2, null"}},
		{"preimage of the changed columns", `{'enabled': true, 'preimage': true}`,
			[]string{"0, 1, 1, null", "1, 1, 2, null"}},
		{"full preimage", `{'enabled': true, 'preimage': 'full'}`,
			[]string{"0, 1, 1, a", "1, 1, 2, null"}},
		{"postimage", `{'enabled': true, 'postimage': true}`,
			[]string{"1, 1, 2, null", "9, 1, 2, a"}},
		{"keys-only delta", `{'enabled': true, 'delta': 'keys', 'postimage': true}`,
			[]string{"1, 1, null, null", "9, 1, 2, a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{}, createKS,
				`CREATE TABLE ks.c (k int PRIMARY KEY, v int, w text) WITH cdc = `+tc.options,
				`INSERT INTO ks.c (k, v, w) VALUES (1, 1, 'a')`)
			h.exec(`TRUNCATE ks.c_scylla_cdc_log`)
			h.exec(`UPDATE ks.c SET v = 2 WHERE k = 1`)
			if got := h.rows(`SELECT "cdc$operation", k, v, w FROM ks.c_scylla_cdc_log`); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("log %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCDCLogTTL checks that log rows expire after the table's cdc ttl.
func TestCDCLogTTL(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TABLE ks.c (k int PRIMARY KEY, v int) WITH cdc = {'enabled': true, 'ttl': 60}`,
		`INSERT INTO ks.c (k, v) VALUES (1, 1)`)
	for _, step := range []struct {
		after time.Duration
		rows  int
	}{{59 * time.Second, 1}, {2 * time.Second, 0}} {
		h.clock.Advance(step.after)
		if got := h.rows(`SELECT k FROM ks.c_scylla_cdc_log`); len(got) != step.rows {
			t.Fatalf("log rows %q, want %d", got, step.rows)
		}
	}
	if got := h.rows(`SELECT k, v FROM ks.c`); !reflect.DeepEqual(got, []string{"1, 1"}) {
		t.Fatalf("the base row must stay: %q", got)
	}
}
