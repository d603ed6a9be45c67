package engine_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// readData is the data set of the read tests: three partitions, one
// without a static cell.
var readData = []string{
	createKS,
	`CREATE TABLE ks.r (k int, c int, s text static, v int, PRIMARY KEY (k, c))`,
	`INSERT INTO ks.r (k, c, s, v) VALUES (1, 1, 'one', 10)`,
	`INSERT INTO ks.r (k, c, v) VALUES (1, 2, 20)`,
	`INSERT INTO ks.r (k, c, v) VALUES (1, 3, 30)`,
	`INSERT INTO ks.r (k, c, s, v) VALUES (2, 1, 'two', 40)`,
	`INSERT INTO ks.r (k, c, v) VALUES (3, 1, 50)`,
	`INSERT INTO ks.r (k, c, v) VALUES (3, 2, 60)`,
}

// TestSelect checks the rows, and their order, that SELECT returns.
func TestSelect(t *testing.T) {
	h := newHarness(t, engine.Options{}, readData...)
	tests := []struct {
		q    string
		vals [][]byte
		want []string
		// anyOrder: the statement spans partitions, which come in token
		// order; TestFullScanIsInTokenOrder checks that order.
		anyOrder bool
	}{
		{q: `SELECT * FROM ks.r WHERE k = 1 AND c = 2`, want: []string{"1, 2, one, 20"}},
		{q: `SELECT c, v FROM ks.r WHERE k = 1`, want: []string{"1, 10", "2, 20", "3, 30"}},
		{q: `SELECT c, v FROM ks.r WHERE k = ?`, vals: [][]byte{int32v(1)}, want: []string{"1, 10", "2, 20", "3, 30"}},
		{q: `SELECT c FROM ks.r WHERE k = 1 ORDER BY c DESC`, want: []string{"3", "2", "1"}},
		{q: `SELECT c FROM ks.r WHERE k = 1 LIMIT 2`, want: []string{"1", "2"}},
		{q: `SELECT c FROM ks.r WHERE k = 1 AND c > 1 AND c <= 3`, want: []string{"2", "3"}},
		{q: `SELECT c FROM ks.r WHERE k = 1 AND c < 3 ORDER BY c DESC`, want: []string{"2", "1"}},
		{q: `SELECT c FROM ks.r WHERE k = 1 AND c IN (3, 1, 3)`, want: []string{"1", "3"}},
		{q: `SELECT c FROM ks.r WHERE k = 1 AND (c) >= (2)`, want: []string{"2", "3"}},
		{q: `SELECT c FROM ks.r WHERE k = 4`, want: []string{}},
		{q: `SELECT k, s, c, v FROM ks.r WHERE k = 3`, want: []string{"3, null, 1, 50", "3, null, 2, 60"}},
		{q: `SELECT DISTINCT k, s FROM ks.r WHERE k = 1`, want: []string{"1, one"}},
		{q: `SELECT COUNT(*) FROM ks.r WHERE k = 1`, want: []string{"3"}},
		{q: `SELECT COUNT(*) FROM ks.r WHERE k = 4`, want: []string{"0"}},
		{q: `SELECT min(v), max(v), sum(v), avg(v), count(v) FROM ks.r WHERE k = 1`, want: []string{"10, 30, 60, 20, 3"}},
		{q: `SELECT c AS position FROM ks.r WHERE k = 2`, want: []string{"1"}},
		{q: `SELECT COUNT(*) FROM ks.r`, want: []string{"6"}},
		{q: `SELECT k, c FROM ks.r`, want: []string{"1, 1", "1, 2", "1, 3", "2, 1", "3, 1", "3, 2"}, anyOrder: true},
		{q: `SELECT DISTINCT k FROM ks.r`, want: []string{"1", "2", "3"}, anyOrder: true},
		{q: `SELECT k, c FROM ks.r PER PARTITION LIMIT 1`, want: []string{"1, 1", "2, 1", "3, 1"}, anyOrder: true},
		{q: `SELECT k, c FROM ks.r WHERE k IN (1, 3) AND c = 2`, want: []string{"1, 2", "3, 2"}, anyOrder: true},
		{q: `SELECT k, c FROM ks.r WHERE v > 25 ALLOW FILTERING`, want: []string{"1, 3", "2, 1", "3, 1", "3, 2"}, anyOrder: true},
		{q: `SELECT k, c FROM ks.r WHERE c = 2 ALLOW FILTERING`, want: []string{"1, 2", "3, 2"}, anyOrder: true},
		{q: `SELECT k, c FROM ks.r WHERE s = 'two' ALLOW FILTERING`, want: []string{"2, 1"}, anyOrder: true},
		{q: `SELECT k, c FROM ks.r WHERE v IN (10, 60, 70) ALLOW FILTERING`, want: []string{"1, 1", "3, 2"}, anyOrder: true},
		{q: `SELECT k, c FROM ks.r WHERE v >= 20 AND v < 50 AND c > 1 ALLOW FILTERING`, want: []string{"1, 2", "1, 3"}, anyOrder: true},
		{q: `SELECT k, c FROM ks.r WHERE v != 10 AND k = 1 ALLOW FILTERING`, want: []string{"1, 2", "1, 3"}},
		{q: `SELECT c FROM ks.r WHERE k = 1 USING TIMEOUT 5s`, want: []string{"1", "2", "3"}},
	}
	for _, tc := range tests {
		t.Run(tc.q, func(t *testing.T) {
			got := h.rows(tc.q, tc.vals...)
			if tc.anyOrder {
				sort.Strings(got)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFullScanIsInTokenOrder checks that a scan returns partitions in
// token order, which drivers and CDC readers rely on to page through
// token ranges.
func TestFullScanIsInTokenOrder(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS, `CREATE TABLE ks.t (k int PRIMARY KEY)`)
	for k := int32(0); k < 50; k++ {
		if _, err := h.run(`INSERT INTO ks.t (k) VALUES (?)`, int32v(k)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := h.run(`SELECT token(k) FROM ks.t`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows.Data) != 50 {
		t.Fatalf("%d rows, want 50", len(res.Rows.Data))
	}
	prev := int64(-1 << 63)
	for _, r := range res.Rows.Data {
		tok := i64(r[0])
		if tok < prev {
			t.Fatalf("token %d after %d", tok, prev)
		}
		prev = tok
	}
	// A token range restriction returns the partitions in it.
	mid := i64(res.Rows.Data[25][0])
	var n int
	for _, q := range []string{`SELECT k FROM ks.t WHERE token(k) <= ?`, `SELECT k FROM ks.t WHERE token(k) > ?`} {
		b := make([]byte, 8)
		for i := range 8 {
			b[i] = byte(uint64(mid) >> (56 - 8*i))
		}
		n += len(h.rows(q, b))
	}
	if n != 50 {
		t.Fatalf("the two token ranges hold %d partitions, want 50", n)
	}
}

// TestPaging reads with a page size and checks that the pages, joined,
// are the unpaged result.
func TestPaging(t *testing.T) {
	h := newHarness(t, engine.Options{}, readData...)
	for _, q := range []string{
		`SELECT k, c, v FROM ks.r`,
		`SELECT c, v FROM ks.r WHERE k = 1`,
		`SELECT c, v FROM ks.r WHERE k = 1 ORDER BY c DESC`,
		`SELECT k, c FROM ks.r WHERE v > 15 ALLOW FILTERING`,
	} {
		for _, size := range []int32{1, 2, 4} {
			want := h.rows(q)
			var got []string
			p := params()
			p.PageSize = size
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatalf("%s: page size %d: more pages than rows", q, size)
				}
				res, err := h.e.Query(h.sess, q, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Rows.Data) > int(size) {
					t.Fatalf("%s: page of %d rows, size %d", q, len(res.Rows.Data), size)
				}
				got = append(got, format(t, res)...)
				if res.Rows.PagingState == nil {
					break
				}
				p.PagingState = res.Rows.PagingState
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: page size %d: %q, want %q", q, size, got, want)
			}
		}
	}
	p := params()
	p.PageSize, p.PagingState = 2, []byte{0xff}
	_, err := h.e.Query(h.sess, `SELECT * FROM ks.r`, p)
	wantError(t, err, wire.Invalid, "Invalid value for the paging state")
}

// TestSelectErrors checks what SELECT refuses.
func TestSelectErrors(t *testing.T) {
	h := newHarness(t, engine.Options{}, readData...)
	tests := []struct {
		q   string
		msg string
	}{
		{`SELECT nope FROM ks.r`, "Undefined name nope in selection clause"},
		{`SELECT * FROM ks.r WHERE nope = 1`, "Undefined name nope in where clause"},
		{`SELECT * FROM ks.r WHERE v = 10`, "Cannot execute this query as it might involve data filtering"},
		{`SELECT * FROM ks.r WHERE c = 1`, "Cannot execute this query as it might involve data filtering"},
		{`SELECT * FROM ks.r ORDER BY c DESC`, "ORDER BY is only supported when the partition key is restricted by an EQ or an IN."},
		{`SELECT * FROM ks.r WHERE k = 1 ORDER BY v DESC`, "Order by is currently only supported on the clustered columns of the PRIMARY KEY, got v"},
		{`SELECT DISTINCT v FROM ks.r`, "SELECT DISTINCT queries must only request partition key columns and/or static columns (not v)"},
		{`SELECT WRITETIME(k) FROM ks.r`, "Cannot use selection function writetime on PRIMARY KEY part k"},
		{`SELECT k FROM ks.r WHERE k = 1 AND k = 2`, "k cannot be restricted by more than one relation if it includes an Equal"},
		{`SELECT k FROM ks.r LIMIT 0`, "LIMIT must be strictly positive"},
		{`SELECT k FROM ks.r PER PARTITION LIMIT 0`, "PER PARTITION LIMIT must be strictly positive"},
		{`SELECT nosuchfn(v) FROM ks.r`, "Unknown function 'nosuchfn'"},
		{`SELECT k FROM ks.r WHERE k = ?`, "There were 1 markers(?) in CQL but 0 bound variables"},
		{`SELECT k FROM ks.r WHERE v CONTAINS 1 ALLOW FILTERING`, "Cannot use CONTAINS on non-collection column v"},
	}
	for _, tc := range tests {
		t.Run(tc.q, func(t *testing.T) {
			_, err := h.run(tc.q)
			wantError(t, err, wire.Invalid, tc.msg)
		})
	}
}

// TestAggregates checks the aggregate functions on each numeric type:
// integers (varint included) and decimals add up exactly, floating point
// in double precision, as ScyllaDB does.
func TestAggregates(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TABLE ks.n (k int, c int, ti tinyint, si smallint, b bigint, f float, d double, vi varint, dc decimal, PRIMARY KEY (k, c))`,
		`INSERT INTO ks.n (k, c, ti, si, b, f, d, vi, dc) VALUES (1, 1, 1, 2, 3, 1.5, 2.5, 10, 1.25)`,
		`INSERT INTO ks.n (k, c, ti, si, b, f, d, vi, dc) VALUES (1, 2, 2, 4, 5, 2.5, 3.5, -4, 0.75)`,
		`INSERT INTO ks.n (k, c, ti, si, b, f, d, vi, dc) VALUES (1, 3, 4, 8, 10, 0.5, -1, 100000000000000000000, 2)`,
		`INSERT INTO ks.n (k, c) VALUES (1, 4)`,
		`INSERT INTO ks.n (k, c, b, vi, dc) VALUES (3, 1, -7, -7, 0.1)`,
		`INSERT INTO ks.n (k, c, b, vi, dc) VALUES (3, 2, -2, -2, 0.2)`)
	tests := []struct {
		q    string
		want string
	}{
		{`SELECT sum(ti), sum(si), sum(b), sum(f), sum(d), sum(vi), sum(dc) FROM ks.n WHERE k = 1`,
			"7, 14, 18, 4.5, 5, 100000000000000000006, 4.00"},
		{`SELECT avg(ti), avg(si), avg(b), avg(f), avg(d), avg(vi), avg(dc) FROM ks.n WHERE k = 1`,
			"2, 4, 6, 1.5, 1.6666666666666667, 33333333333333333335, 1.33"},
		// Integer averages truncate toward zero; a decimal one keeps the
		// sum's scale and rounds half to even (0.3 / 2 = 0.15 -> 0.2).
		{`SELECT sum(b), avg(b), avg(vi), sum(dc), avg(dc) FROM ks.n WHERE k = 3`, "-9, -4, -4, 0.3, 0.2"},
		{`SELECT min(ti), max(si), min(d), max(vi), min(dc), max(dc) FROM ks.n WHERE k = 1`,
			"1, 8, -1, 100000000000000000000, 0.75, 2"},
		{`SELECT count(*), count(b), count(k) FROM ks.n WHERE k = 1`, "4, 3, 4"},
		{`SELECT sum(b), max(b) FROM ks.n WHERE k = 2`, "0, null"},
		{`SELECT k, max(c) FROM ks.n WHERE k = 1`, "1, 4"},
	}
	for _, tc := range tests {
		t.Run(tc.q, func(t *testing.T) {
			if got := h.rows(tc.q); !reflect.DeepEqual(got, []string{tc.want}) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMultiColumnRelations reads and deletes clustering ranges given as
// tuples of clustering columns.
func TestMultiColumnRelations(t *testing.T) {
	setup := []string{createKS,
		`CREATE TABLE ks.m (k int, c1 int, c2 int, v int, PRIMARY KEY (k, c1, c2))`,
		`INSERT INTO ks.m (k, c1, c2) VALUES (1, 1, 1)`,
		`INSERT INTO ks.m (k, c1, c2) VALUES (1, 1, 2)`,
		`INSERT INTO ks.m (k, c1, c2) VALUES (1, 2, 1)`,
		`INSERT INTO ks.m (k, c1, c2) VALUES (1, 2, 2)`,
		`INSERT INTO ks.m (k, c1, c2) VALUES (1, 3, 1)`,
	}
	const all = `SELECT c1, c2 FROM ks.m WHERE k = 1`
	tests := []struct {
		stmt string // a SELECT, or a DELETE followed by reading all
		want []string
	}{
		{`SELECT c1, c2 FROM ks.m WHERE k = 1 AND (c1, c2) > (1, 1) AND (c1, c2) <= (2, 1)`, []string{"1, 2", "2, 1"}},
		{`SELECT c1, c2 FROM ks.m WHERE k = 1 AND (c1, c2) IN ((3, 1), (1, 2), (9, 9))`, []string{"1, 2", "3, 1"}},
		{`SELECT c1, c2 FROM ks.m WHERE k = 1 AND (c1, c2) < (2, 2) ORDER BY c1 DESC, c2 DESC`, []string{"2, 1", "1, 2", "1, 1"}},
		{`SELECT c1, c2 FROM ks.m WHERE k = 1 AND c1 = 2 AND c2 > 1`, []string{"2, 2"}},
		{`DELETE FROM ks.m WHERE k = 1 AND (c1, c2) >= (1, 2) AND (c1, c2) < (2, 2)`, []string{"1, 1", "2, 2", "3, 1"}},
		{`DELETE FROM ks.m WHERE k = 1 AND (c1, c2) > (2, 1)`, []string{"1, 1", "1, 2", "2, 1"}},
		{`DELETE FROM ks.m WHERE k = 1 AND c1 = 1 AND c2 > 1`, []string{"1, 1", "2, 1", "2, 2", "3, 1"}},
		{`DELETE FROM ks.m WHERE k = 1 AND c1 = 2`, []string{"1, 1", "1, 2", "3, 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.stmt, func(t *testing.T) {
			h := newHarness(t, engine.Options{}, setup...)
			q := tc.stmt
			if strings.HasPrefix(q, "DELETE") {
				h.exec(q)
				q = all
			}
			if got := h.rows(q); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFunctions checks the scalar functions a write or a WHERE clause can
// call: each derived from the statement's own instant where it has one.
func TestFunctions(t *testing.T) {
	h := newHarness(t, engine.Options{}, createKS,
		`CREATE TABLE ks.f (k int PRIMARY KEY, id timeuuid, u uuid, ts timestamp, d date, ms bigint, back timestamp)`)
	h.clock.Advance(time.Second)
	now := h.clock.Now()
	h.exec(`INSERT INTO ks.f (k, id, u, ts, d, ms, back) VALUES (1, now(), uuid(), currentTimestamp(), currentDate(), toUnixTimestamp(now()), toTimestamp(now())) USING TIMEOUT 5s`)
	res, err := h.run(`SELECT id, u, ts, d, ms, back FROM ks.f WHERE k = 1`)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rows.Data[0]
	if got := types.TimeUUIDMicros(r[0]); got != now.UnixMicro() {
		t.Errorf("now() at %d, want %d", got, now.UnixMicro())
	}
	if len(r[1]) != 16 || r[1][6]>>4 != 4 {
		t.Errorf("uuid() = %x, want a version 4 UUID", r[1])
	}
	if ms := now.UnixMilli(); i64(r[2]) != ms || i64(r[4]) != ms || i64(r[5]) != ms {
		t.Errorf("currentTimestamp() %d, toUnixTimestamp(now()) %d, toTimestamp(now()) %d, want %d", i64(r[2]), i64(r[4]), i64(r[5]), ms)
	}
	if got := res.Rows.Columns[3].Type.Format(r[3]); got != now.Format("2006-01-02") {
		t.Errorf("currentDate() %s, want %s", got, now.Format("2006-01-02"))
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{`SELECT k FROM ks.f WHERE id > minTimeuuid('2023-01-01 00:00:00+0000') ALLOW FILTERING`, []string{"1"}},
		{`SELECT k FROM ks.f WHERE id < maxTimeuuid('2023-01-01 00:00:00+0000') ALLOW FILTERING`, []string{}},
	} {
		if got := h.rows(tc.q); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.q, got, tc.want)
		}
	}
	for _, tc := range []struct{ q, msg string }{
		{`INSERT INTO ks.f (k, u) VALUES (2, now())`, "Type error: cannot assign result of function system.now (type timeuuid) to u (type uuid)"},
		{`INSERT INTO ks.f (k, ms) VALUES (2, toTimestamp(now()))`, "Type error: cannot assign result of function system.totimestamp to ms (type bigint)"},
		{`INSERT INTO ks.f (k, id) VALUES (2, nosuch())`, "Unknown function nosuch called"},
	} {
		_, err := h.run(tc.q)
		wantError(t, err, wire.Invalid, tc.msg)
	}
}
