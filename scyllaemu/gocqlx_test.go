package scyllaemu_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/qb"
	"github.com/scylladb/gocqlx/v2/table"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

type item struct {
	Owner string
	ID    int
	Name  string
	Tags  []string
	Price float64
}

var itemTable = table.New(table.Metadata{
	Name:    "ks.items",
	Columns: []string{"owner", "id", "name", "tags", "price"},
	PartKey: []string{"owner"},
	SortKey: []string{"id"},
})

func TestGocqlxCRUD(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS,
		`CREATE TABLE ks.items (owner text, id int, name text, tags list<text>, price double, PRIMARY KEY (owner, id))`)

	for i := 0; i < 5; i++ {
		it := item{Owner: "ann", ID: i, Name: fmt.Sprintf("item-%d", i), Tags: []string{"a"}, Price: float64(i) + 0.5}
		if err := itemTable.InsertQuery(s).BindStruct(it).ExecRelease(); err != nil {
			t.Fatal(err)
		}
	}
	var got item
	if err := itemTable.GetQuery(s).BindStruct(item{Owner: "ann", ID: 3}).GetRelease(&got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "item-3" || got.Price != 3.5 || len(got.Tags) != 1 {
		t.Fatalf("get: %+v", got)
	}

	stmt, names := qb.Update("ks.items").Set("name").Add("tags").Where(qb.Eq("owner"), qb.Eq("id")).ToCql()
	if err := s.Query(stmt, names).BindMap(map[string]any{"owner": "ann", "id": 3, "name": "renamed", "tags": []string{"b"}}).ExecRelease(); err != nil {
		t.Fatal(err)
	}
	if err := itemTable.GetQuery(s).BindStruct(item{Owner: "ann", ID: 3}).GetRelease(&got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "renamed" || strings.Join(got.Tags, ",") != "a,b" {
		t.Fatalf("after update: %+v", got)
	}

	var ranged []item
	stmt, names = qb.Select("ks.items").Where(qb.Eq("owner"), qb.GtOrEq("id"), qb.Lt("id")).OrderBy("id", qb.DESC).ToCql()
	if err := s.Query(stmt, names).BindMap(map[string]any{"owner": "ann", "id": 1}).Bind("ann", 1, 4).SelectRelease(&ranged); err != nil {
		t.Fatal(err)
	}
	if len(ranged) != 3 || ranged[0].ID != 3 || ranged[2].ID != 1 {
		t.Fatalf("range desc: %+v", ranged)
	}

	if err := itemTable.DeleteQuery(s).BindStruct(item{Owner: "ann", ID: 3}).ExecRelease(); err != nil {
		t.Fatal(err)
	}
	err := itemTable.GetQuery(s).BindStruct(item{Owner: "ann", ID: 3}).GetRelease(&got)
	if err != gocql.ErrNotFound {
		t.Fatalf("after delete: %v", err)
	}
	var all []item
	if err := itemTable.SelectQuery(s).BindMap(qb.M{"owner": "ann"}).SelectRelease(&all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("select after delete: %d rows", len(all))
	}
}

func TestLoggedBatchIsAtomic(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS,
		`CREATE TABLE ks.a (id uuid PRIMARY KEY, v text)`,
		`CREATE TABLE ks.b (id uuid, seq bigint, v text, PRIMARY KEY (id, seq))`)
	id := gocql.TimeUUID()

	ok := s.Batch(gocql.LoggedBatch)
	ok.Query(`INSERT INTO ks.a (id, v) VALUES (?, ?)`, id, "order")
	ok.Query(`INSERT INTO ks.b (id, seq, v) VALUES (?, ?, ?)`, id, 1, "event")
	if err := s.ExecuteBatch(ok); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Query(`SELECT COUNT(*) FROM ks.b WHERE id = ?`, nil).Bind(id).Get(&n); err != nil || n != 1 {
		t.Fatalf("count %d err %v", n, err)
	}

	other := gocql.TimeUUID()
	bad := s.Batch(gocql.LoggedBatch)
	bad.Query(`INSERT INTO ks.a (id, v) VALUES (?, ?)`, other, "order")
	bad.Query(`INSERT INTO ks.b (id, seq, v) VALUES (?, ?, ?)`, nil, 1, "event")
	err := s.ExecuteBatch(bad)
	if errCode(err) != 0x2200 {
		t.Fatalf("batch with NULL key: want invalid (0x2200), got %v", err)
	}
	var v string
	if err := s.Query(`SELECT v FROM ks.a WHERE id = ?`, nil).Bind(other).Get(&v); err != gocql.ErrNotFound {
		t.Fatalf("order row written by failed batch: %q %v", v, err)
	}
}

func TestLightweightTransactions(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS, `CREATE TABLE ks.acct (id text PRIMARY KEY, balance int, owner text)`)

	ins := `INSERT INTO ks.acct (id, balance, owner) VALUES (?, ?, ?) IF NOT EXISTS`
	applied, err := s.Query(ins, nil).Bind("x", 10, "ann").ExecCAS()
	if err != nil || !applied {
		t.Fatalf("first insert: applied=%v err=%v", applied, err)
	}
	existing := map[string]any{}
	applied, err = s.Session.Query(ins, "x", 99, "bob").MapScanCAS(existing)
	if err != nil || applied {
		t.Fatalf("second insert: applied=%v err=%v", applied, err)
	}
	if existing["owner"] != "ann" || existing["balance"] != 10 {
		t.Fatalf("not-applied insert returns the existing row, got %v", existing)
	}

	stmt, names := qb.Update("ks.acct").Set("balance").Where(qb.Eq("id")).If(qb.EqNamed("balance", "expected")).ToCql()
	tests := []struct {
		expected, set int
		applied       bool
	}{{10, 20, true}, {10, 30, false}, {20, 30, true}}
	for _, tc := range tests {
		applied, err := s.Query(stmt, names).BindMap(qb.M{"balance": tc.set, "id": "x", "expected": tc.expected}).ExecCAS()
		if err != nil || applied != tc.applied {
			t.Fatalf("IF balance = %d: applied=%v err=%v, want %v", tc.expected, applied, err, tc.applied)
		}
	}
	applied, err = s.Query(`DELETE FROM ks.acct WHERE id = ? IF EXISTS`, nil).Bind("missing").ExecCAS()
	if err != nil || applied {
		t.Fatalf("delete missing: applied=%v err=%v", applied, err)
	}
	applied, err = s.Query(`DELETE FROM ks.acct WHERE id = ? IF EXISTS`, nil).Bind("x").ExecCAS()
	if err != nil || !applied {
		t.Fatalf("delete existing: applied=%v err=%v", applied, err)
	}
}

func TestPagingOver10000Rows(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS, `CREATE TABLE ks.p (pk int, ck int, v text, PRIMARY KEY (pk, ck))`)
	const n = 10000
	ins := s.Query(`INSERT INTO ks.p (pk, ck, v) VALUES (?, ?, ?)`, nil)
	for i := 0; i < n; i++ {
		// Half the rows in one big partition, the rest spread out, so pages
		// cross partition boundaries and split one partition.
		pk := 0
		if i%2 == 1 {
			pk = i
		}
		if err := ins.Bind(pk, i, "v").Exec(); err != nil {
			t.Fatal(err)
		}
	}
	ins.Release()
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		want  int
	}{
		{"full scan", `SELECT pk, ck FROM ks.p`, nil, n},
		{"one partition", `SELECT pk, ck FROM ks.p WHERE pk = ?`, []any{0}, n / 2},
		{"one partition reversed", `SELECT pk, ck FROM ks.p WHERE pk = ? ORDER BY ck DESC`, []any{0}, n / 2},
		{"limit across pages", `SELECT pk, ck FROM ks.p LIMIT 2500`, nil, 2500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iter := s.Session.Query(tc.query, tc.args...).PageSize(333).Iter()
			seen := map[[2]int]bool{}
			var pk, ck, last int
			first := true
			for iter.Scan(&pk, &ck) {
				if seen[[2]int{pk, ck}] {
					t.Fatalf("row (%d,%d) returned twice", pk, ck)
				}
				seen[[2]int{pk, ck}] = true
				if strings.HasSuffix(tc.name, "reversed") && !first && ck >= last {
					t.Fatalf("reversed order broken: %d after %d", ck, last)
				}
				first, last = false, ck
			}
			if err := iter.Close(); err != nil {
				t.Fatal(err)
			}
			if len(seen) != tc.want {
				t.Fatalf("got %d rows, want %d", len(seen), tc.want)
			}
		})
	}
}

func TestTTLExpiry(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	_, s := startEmu(t, scyllaemu.Options{Clock: clock.Now})
	mustExec(t, s, createKS,
		`CREATE TABLE ks.ttl (id int PRIMARY KEY, a text, b text) WITH default_time_to_live = 100`)
	if err := s.Query(`INSERT INTO ks.ttl (id, a) VALUES (?, ?) USING TTL 10`, nil).Bind(1, "short").Exec(); err != nil {
		t.Fatal(err)
	}
	if err := s.Query(`UPDATE ks.ttl SET b = ? WHERE id = ?`, nil).Bind("default", 1).Exec(); err != nil {
		t.Fatal(err)
	}
	var ttlA, ttlB int
	if err := s.Query(`SELECT ttl(a), ttl(b) FROM ks.ttl WHERE id = 1`, nil).Get(&ttlA); err == nil {
		_ = ttlB
	}
	if err := s.Session.Query(`SELECT ttl(a), ttl(b) FROM ks.ttl WHERE id = 1`).Scan(&ttlA, &ttlB); err != nil {
		t.Fatal(err)
	}
	if ttlA != 10 || ttlB != 100 {
		t.Fatalf("ttl(a)=%d ttl(b)=%d, want 10 and 100", ttlA, ttlB)
	}
	clock.Advance(11 * time.Second)
	var a, b *string
	if err := s.Session.Query(`SELECT a, b FROM ks.ttl WHERE id = 1`).Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	if a != nil || b == nil || *b != "default" {
		t.Fatalf("after 11s: a=%v b=%v", a, b)
	}
	clock.Advance(100 * time.Second)
	if err := s.Session.Query(`SELECT a, b FROM ks.ttl WHERE id = 1`).Scan(&a, &b); err != gocql.ErrNotFound {
		t.Fatalf("after expiry of every cell the row must be gone, got %v", err)
	}
}

type logRow struct {
	Op      int8
	Seq     int
	End     bool
	TTL     int64
	Time    gocql.UUID
	ID      int
	CK      *int
	V       *string
	Deleted *bool
}

// readLog returns the CDC log rows of ks.c in time order.
func readLog(t *testing.T, s gocqlx.Session) []logRow {
	t.Helper()
	iter := s.Session.Query(`SELECT "cdc$operation", "cdc$batch_seq_no", "cdc$end_of_batch", "cdc$ttl", "cdc$time", id, ck, v, "cdc$deleted_v" FROM ks.c_scylla_cdc_log`).Iter()
	var rows []logRow
	for {
		var r logRow
		var end *bool
		var ttl *int64
		if !iter.Scan(&r.Op, &r.Seq, &end, &ttl, &r.Time, &r.ID, &r.CK, &r.V, &r.Deleted) {
			break
		}
		r.End = end != nil && *end
		if ttl != nil {
			r.TTL = *ttl
		}
		rows = append(rows, r)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ti, tj := rows[i].Time.Time(), rows[j].Time.Time()
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return rows[i].Seq < rows[j].Seq
	})
	return rows
}

func TestCDCLogOfEachOperation(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{Vnodes: 1})
	mustExec(t, s, createKS,
		`CREATE TABLE ks.c (id int, ck int, v text, PRIMARY KEY (id, ck)) WITH cdc = {'enabled': true, 'ttl': 600}`)
	steps := []struct {
		name string
		cql  string
		args []any
		want []logRow // Op, Seq, End, TTL, CK, V, Deleted are compared
	}{
		{"insert", `INSERT INTO ks.c (id, ck, v) VALUES (1, 1, 'a')`, nil,
			[]logRow{{Op: 2, Seq: 0, End: true, CK: ptr(1), V: ptr("a")}}},
		{"update with ttl", `UPDATE ks.c USING TTL 50 SET v = 'b' WHERE id = 1 AND ck = 1`, nil,
			[]logRow{{Op: 1, Seq: 0, End: true, TTL: 50, CK: ptr(1), V: ptr("b")}}},
		{"update to null", `UPDATE ks.c SET v = null WHERE id = 1 AND ck = 1`, nil,
			[]logRow{{Op: 1, Seq: 0, End: true, CK: ptr(1), Deleted: ptr(true)}}},
		{"row delete", `DELETE FROM ks.c WHERE id = 1 AND ck = 1`, nil,
			[]logRow{{Op: 3, Seq: 0, End: true, CK: ptr(1)}}},
		{"range delete", `DELETE FROM ks.c WHERE id = 1 AND ck > 5 AND ck <= 9`, nil,
			[]logRow{{Op: 6, Seq: 0, CK: ptr(5)}, {Op: 7, Seq: 1, End: true, CK: ptr(9)}}},
		{"partition delete", `DELETE FROM ks.c WHERE id = 1`, nil,
			[]logRow{{Op: 4, Seq: 0, End: true}}},
		{"batch on one partition", `BEGIN BATCH INSERT INTO ks.c (id, ck, v) VALUES (1, 3, 'x'); INSERT INTO ks.c (id, ck, v) VALUES (1, 2, 'y'); APPLY BATCH`, nil,
			[]logRow{{Op: 2, Seq: 0, CK: ptr(2), V: ptr("y")}, {Op: 2, Seq: 1, End: true, CK: ptr(3), V: ptr("x")}}},
	}
	seen := 0
	for _, st := range steps {
		if err := s.Session.Query(st.cql, st.args...).Exec(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		rows := readLog(t, s)
		got := rows[seen:]
		seen = len(rows)
		if len(got) != len(st.want) {
			t.Fatalf("%s: %d log rows, want %d: %+v", st.name, len(got), len(st.want), got)
		}
		for i, w := range st.want {
			g := got[i]
			if g.Op != w.Op || g.Seq != w.Seq || g.End != w.End || g.TTL != w.TTL || g.ID != 1 ||
				!eqPtr(g.CK, w.CK) || !eqPtr(g.V, w.V) || (w.Deleted != nil && !eqPtr(g.Deleted, w.Deleted)) {
				t.Fatalf("%s row %d: got %+v, want %+v", st.name, i, g, w)
			}
			if g.Time != got[0].Time {
				t.Fatalf("%s: rows of one change must share cdc$time", st.name)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestCDCWriteTimeBounds(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	_, s := startEmu(t, scyllaemu.Options{Clock: clock.Now, GenerationStart: clock.Now()})
	mustExec(t, s, createKS,
		`CREATE TABLE ks.cdc (id int PRIMARY KEY, v int) WITH cdc = {'enabled': true}`,
		`CREATE TABLE ks.plain (id int PRIMARY KEY, v int)`)
	now := clock.Now()
	tests := []struct {
		name  string
		table string
		ts    time.Time
		want  string // substring of the error, "" for success
	}{
		{"now", "cdc", now, ""},
		{"near future", "cdc", now.Add(3 * time.Second), ""},
		{"far future", "cdc", now.Add(10 * time.Second), `"from the future"`},
		{"before the generation", "cdc", now.Add(-time.Hour), `"from the past"`},
		{"non-CDC table far future", "plain", now.Add(time.Hour), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := fmt.Sprintf(`INSERT INTO ks.%s (id, v) VALUES (1, 1) USING TIMESTAMP %d`, tc.table, tc.ts.UnixMicro())
			err := s.ExecStmt(q)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || errCode(err) != 0x2200):
				t.Fatalf("want invalid request containing %s, got %v", tc.want, err)
			}
		})
	}
}
