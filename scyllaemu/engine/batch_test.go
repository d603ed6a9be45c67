package engine_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// Batch types of the BATCH message.
const (
	logged   byte = 0
	unlogged byte = 1
	counter  byte = 2
)

func child(q string, vals ...[]byte) engine.BatchChild {
	return engine.BatchChild{Query: q, Values: params(vals...).Values}
}

// TestBatch runs BATCH messages and checks that each applies all of its
// statements at one timestamp, or none of them.
func TestBatch(t *testing.T) {
	const (
		insA = `INSERT INTO ks.a (k, v) VALUES (?, ?)`
		insB = `INSERT INTO ks.b (k, c, v) VALUES (?, ?, ?)`
	)
	tests := []struct {
		name     string
		typ      byte
		children []engine.BatchChild
		ts       int64 // client timestamp of the batch; 0: none
		code     int32 // 0: the batch applies
		msg      string
		want     []string // SELECT v, WRITETIME(v) of ks.a, then of ks.b; @ is the server's stamp
	}{
		{name: "logged batch across tables", typ: logged,
			children: []engine.BatchChild{child(insA, int32v(1), textv("order")), child(insB, int32v(1), int32v(1), textv("event"))},
			want:     []string{"order, @", "event, @"}},
		{name: "unlogged batch", typ: unlogged,
			children: []engine.BatchChild{child(insA, int32v(1), textv("x")), child(`UPDATE ks.b SET v = 'y' WHERE k = 1 AND c = 2`)},
			want:     []string{"x, @", "y, @"}},
		{name: "client timestamp", typ: logged, ts: 42,
			children: []engine.BatchChild{child(insA, int32v(1), textv("x")), child(insB, int32v(1), int32v(1), textv("y"))},
			want:     []string{"x, 42", "y, 42"}},
		{name: "a later statement overrides an earlier one on the same cell", typ: logged,
			children: []engine.BatchChild{child(insA, int32v(1), textv("first")), child(insA, int32v(1), textv("second"))},
			want:     []string{"second, @"}},
		{name: "an invalid statement applies nothing", typ: logged,
			children: []engine.BatchChild{child(insA, int32v(1), textv("x")), child(insB, nil, int32v(1), textv("y"))},
			code:     wire.Invalid, msg: "Invalid null value in condition for column k"},
		{name: "a missing table applies nothing", typ: logged,
			children: []engine.BatchChild{child(insA, int32v(1), textv("x")), child(`INSERT INTO ks.nope (k) VALUES (1)`)},
			code:     wire.Invalid, msg: "unconfigured table nope"},
		{name: "wrong number of values", typ: logged,
			children: []engine.BatchChild{child(insA, int32v(1))},
			code:     wire.Invalid, msg: "There were 2 markers(?) in CQL but 1 bound variables"},
		{name: "SELECT in a batch", typ: logged,
			children: []engine.BatchChild{child(`SELECT * FROM ks.a`)},
			code:     wire.Invalid, msg: "Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed."},
		{name: "counter batch", typ: counter,
			children: []engine.BatchChild{child(`UPDATE ks.a SET v = 'x' WHERE k = 1`)},
			code:     wire.Invalid, msg: "Counter batches are not supported by scyllaemu"},
		{name: "unknown prepared statement", typ: logged,
			children: []engine.BatchChild{{ID: []byte{0xde, 0xad}}},
			code:     wire.Unprepared, msg: "Prepared query with ID 0xdead not found"},
		{name: "empty batch", typ: logged, want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{}, createKS,
				`CREATE TABLE ks.a (k int PRIMARY KEY, v text)`,
				`CREATE TABLE ks.b (k int, c int, v text, PRIMARY KEY (k, c))`)
			h.clock.Advance(time.Second) // past the stamps the schema took
			stamp := itoa(h.clock.Now().UnixMicro())
			p := params()
			if tc.ts != 0 {
				p.Timestamp, p.HasTimestamp = tc.ts, true
			}
			res, err := h.e.Batch(h.sess, tc.typ, tc.children, p)
			got := []string{}
			for _, q := range []string{`SELECT v, WRITETIME(v) FROM ks.a`, `SELECT v, WRITETIME(v) FROM ks.b`} {
				got = append(got, h.rows(q)...)
			}
			if tc.code != 0 {
				wantError(t, err, tc.code, tc.msg)
				if len(got) != 0 {
					t.Fatalf("a failed batch wrote %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != engine.ResultVoid {
				t.Fatalf("result %+v, want void", res)
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = strings.ReplaceAll(w, "@", stamp)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

// TestPreparedBatchChildren mixes prepared and plain children, values
// bound by name, and checks that a schema change in between recompiles
// the prepared ones.
func TestPreparedBatchChildren(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS, `CREATE TABLE ks.a (k int PRIMARY KEY, v text)`)
	prep, err := h.e.Prepare(h.sess, `INSERT INTO ks.a (k, v) VALUES (:k, :v)`)
	if err != nil {
		t.Fatal(err)
	}
	h.exec(`ALTER TABLE ks.a ADD w text`)
	children := []engine.BatchChild{
		{ID: prep.ID, Values: params(textv("one"), int32v(1)).Values, Names: []string{"v", "k"}},
		child(`UPDATE ks.a SET w = ? WHERE k = ?`, textv("w"), int32v(1)),
		{ID: prep.ID, Values: params(int32v(2), textv("two")).Values},
	}
	if _, err := h.e.Batch(h.sess, logged, children, params()); err != nil {
		t.Fatal(err)
	}
	got := h.rows(`SELECT k, v, w FROM ks.a`)
	sort.Strings(got)
	if want := []string{"1, one, w", "2, two, null"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	_, err = h.e.Batch(h.sess, logged, []engine.BatchChild{{ID: prep.ID, Values: params(int32v(3)).Values, Names: []string{"k"}}}, params())
	wantError(t, err, wire.Invalid, "Invalid unset value for column v")
}

// TestTextBatch runs BEGIN BATCH ... APPLY BATCH queries.
func TestTextBatch(t *testing.T) {
	tests := []struct {
		name string
		q    string
		vals [][]byte
		code int32
		msg  string
		want []string // SELECT k, v, WRITETIME(v) FROM ks.a
	}{
		{name: "statements share the batch timestamp",
			q:    `BEGIN BATCH USING TIMESTAMP 7 INSERT INTO ks.a (k, v) VALUES (1, 'a'); UPDATE ks.a SET v = ? WHERE k = ?; APPLY BATCH`,
			vals: [][]byte{textv("b"), int32v(2)},
			want: []string{"1, a, 7", "2, b, 7"}},
		{name: "timestamps per statement",
			q:    `BEGIN UNLOGGED BATCH INSERT INTO ks.a (k, v) VALUES (1, 'a') USING TIMESTAMP 5; INSERT INTO ks.a (k, v) VALUES (1, 'b') USING TIMESTAMP 3; APPLY BATCH`,
			want: []string{"1, a, 5", "2, old, 1"}},
		{name: "a delete in a batch",
			q:    `BEGIN BATCH USING TIMESTAMP 7 INSERT INTO ks.a (k, v) VALUES (1, 'a'); DELETE FROM ks.a WHERE k = 2; APPLY BATCH`,
			want: []string{"1, a, 7"}},
		{name: "timestamps on both", q: `BEGIN BATCH USING TIMESTAMP 7 INSERT INTO ks.a (k, v) VALUES (1, 'a') USING TIMESTAMP 5; APPLY BATCH`,
			code: wire.Invalid, msg: "Timestamp must be set either on BATCH or individual statements"},
		{name: "TTL on the batch", q: `BEGIN BATCH USING TTL 7 INSERT INTO ks.a (k, v) VALUES (1, 'a'); APPLY BATCH`,
			code: wire.Invalid, msg: "Global TTL on the BATCH statement is not supported."},
		{name: "counter batch", q: `BEGIN COUNTER BATCH UPDATE ks.a SET v = 'a' WHERE k = 1; APPLY BATCH`,
			code: wire.Invalid, msg: "Counter batches are not supported by scyllaemu"},
		{name: "one bad statement applies nothing", q: `BEGIN BATCH INSERT INTO ks.a (k, v) VALUES (1, 'a'); INSERT INTO ks.a (k, v) VALUES (null, 'b'); APPLY BATCH`,
			code: wire.Invalid, msg: "Invalid null value in condition for column k"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{}, createKS, `CREATE TABLE ks.a (k int PRIMARY KEY, v text)`,
				`INSERT INTO ks.a (k, v) VALUES (2, 'old') USING TIMESTAMP 1`)
			_, err := h.run(tc.q, tc.vals...)
			if tc.code != 0 {
				wantError(t, err, tc.code, tc.msg)
				tc.want = []string{"2, old, 1"}
			} else if err != nil {
				t.Fatal(err)
			}
			got := h.rows(`SELECT k, v, WRITETIME(v) FROM ks.a`)
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConditionalBatch checks a batch with conditions: one result row per
// statement with the batch's columns, and all or nothing applied.
func TestConditionalBatch(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TABLE ks.l (k int, c int, v int, w text, PRIMARY KEY (k, c))`,
		`INSERT INTO ks.l (k, c, v, w) VALUES (1, 2, 20, 'two')`)
	steps := []struct {
		children []engine.BatchChild
		want     []string // [applied], k, c, v, w per statement
		data     []string // SELECT c, v FROM ks.l WHERE k = 1
	}{
		{[]engine.BatchChild{
			child(`UPDATE ks.l SET v = 21 WHERE k = 1 AND c = 2 IF v = 20`),
			child(`INSERT INTO ks.l (k, c, v) VALUES (1, 1, 10) IF NOT EXISTS`),
		}, []string{"True, 1, 2, 20, two", "True, null, null, null, null"}, []string{"1, 10", "2, 21"}},
		{[]engine.BatchChild{
			child(`UPDATE ks.l SET v = 22 WHERE k = 1 AND c = 2 IF v = 21`),
			child(`INSERT INTO ks.l (k, c, v) VALUES (1, 1, 11) IF NOT EXISTS`),
		}, []string{"False, 1, 2, 21, two", "False, 1, 1, 10, null"}, []string{"1, 10", "2, 21"}},
	}
	for i, st := range steps {
		res, err := h.e.Batch(h.sess, logged, st.children, params())
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got, want := columnNames(res.Rows.Columns), []string{"[applied]", "k", "c", "v", "w"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: columns %q, want %q", i, got, want)
		}
		if got := format(t, res); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("step %d: %q, want %q", i, got, st.want)
		}
		if got := h.rows(`SELECT c, v FROM ks.l WHERE k = 1`); !reflect.DeepEqual(got, st.data) {
			t.Fatalf("step %d: data %q, want %q", i, got, st.data)
		}
	}
	_, err := h.e.Batch(h.sess, logged, []engine.BatchChild{
		child(`UPDATE ks.l SET v = 1 WHERE k = 1 AND c = 2 IF v = 21`),
		child(`UPDATE ks.l SET v = 1 WHERE k = 2 AND c = 2`),
	}, params())
	wantError(t, err, wire.Invalid, "BATCH with conditions cannot span multiple partitions")
}
