package cql

import (
	"reflect"
	"testing"
	"time"

	"github.com/scylladb/gocqlx/v2/qb"
)

// gocqlQueries are the statements gocql v1.17.0 (scylladb fork) sends on
// its own: host discovery, schema agreement, metadata and tracing
// (conn.go, control.go, host_source.go, ring_describer.go,
// metadata_scylla.go, tracer.go). querySystem appends usingTimeoutClause,
// so each is also tested with that suffix.
var gocqlQueries = []string{
	"SELECT * FROM system.peers",
	"SELECT * FROM system.peers_v2",
	"SELECT * FROM system.local WHERE key='local'",
	"SELECT host_id, data_center, rack, schema_version, preferred_ip FROM system.peers_v2",
	"SELECT host_id, data_center, rack, schema_version, rpc_address FROM system.peers",
	"SELECT schema_version FROM system.local WHERE key='local'",
	"SELECT * FROM system_schema.keyspaces",
	"\n\t\tSELECT durable_writes, replication\n\t\tFROM system_schema.keyspaces\n\t\tWHERE keyspace_name = ?",
	"SELECT * FROM system_schema.tables WHERE keyspace_name = ?",
	"SELECT * FROM system_schema.scylla_tables WHERE keyspace_name = ? AND table_name = ?",
	"SELECT * FROM system_schema.columns WHERE keyspace_name = ?",
	"SELECT * FROM system_schema.types WHERE keyspace_name = ?",
	"SELECT * FROM system_schema.functions WHERE keyspace_name = ?",
	"SELECT * FROM system_schema.aggregates WHERE keyspace_name = ?",
	"SELECT * FROM system_schema.indexes WHERE keyspace_name = ?",
	"SELECT * FROM system_schema.views WHERE keyspace_name = ?",
	"SELECT duration\n\t\t\tFROM system_traces.sessions\n\t\t\tWHERE session_id = ?",
	"SELECT coordinator, duration\n\t\tFROM system_traces.sessions\n\t\tWHERE session_id = ?",
	"SELECT event_id, activity, source, source_elapsed, thread\n\t\t\tFROM system_traces.events\n\t\t\tWHERE session_id = ?",
}

// cdcQueries are scylla-cdc-go v1.2.0's statements (change.go, progress.go,
// topology.go, utils.go) with its fmt verbs filled in.
var cdcQueries = []string{
	`SELECT * FROM ks.tbl_scylla_cdc_log WHERE "cdc$stream_id" = ? AND "cdc$time" > ? AND "cdc$time" <= ? BYPASS CACHE`,
	`SELECT writetime(tup), writetime("Tup2"), tup, "Tup2", pk, v FROM ks.tbl_scylla_cdc_log WHERE "cdc$stream_id" IN (?, ?, ?) AND "cdc$time" > ? AND "cdc$time" <= ? BYPASS CACHE`,
	`SELECT "cdc$stream_id", "cdc$time" FROM ks.tbl_scylla_cdc_log WHERE "cdc$stream_id" IN (?, ?) AND "cdc$time" > ? AND "cdc$time" <= ? PER PARTITION LIMIT 1 BYPASS CACHE`,
	"CREATE TABLE IF NOT EXISTS ks.cdc_progress (generation timestamp, application_name text, table_name text, stream_id blob, last_timestamp timeuuid, current_generation timestamp, PRIMARY KEY ((generation, application_name, table_name, stream_id)))",
	"SELECT current_generation FROM ks.cdc_progress WHERE generation = ? AND application_name = ? AND table_name = ? AND stream_id = ?",
	"INSERT INTO ks.cdc_progress (generation, application_name, table_name, stream_id, current_generation) VALUES (?, ?, ?, ?, ?)",
	"SELECT last_timestamp FROM ks.cdc_progress WHERE generation = ? AND application_name = ? AND table_name = ? AND stream_id = ?",
	"INSERT INTO ks.cdc_progress (generation, application_name, table_name, stream_id, last_timestamp) VALUES (?, ?, ?, ?, ?) USING TTL ?",
	"INSERT INTO ks.cdc_progress (generation, application_name, table_name, stream_id, last_timestamp) VALUES (?, ?, ?, ?, ?)",
	"SELECT timestamp FROM system.cdc_timestamps WHERE keyspace_name = ? AND table_name = ?",
	"SELECT stream_id FROM system.cdc_streams WHERE keyspace_name = ? AND table_name = ? AND timestamp = ? AND stream_state = ?",
	"SELECT COUNT(*) FROM system.peers",
	"SELECT streams FROM system_distributed.cdc_streams_descriptions WHERE time = ?",
	"SELECT time FROM system_distributed.cdc_streams_descriptions",
	"SELECT streams_timestamp FROM system.cdc_local WHERE key = 'rewritten'",
	"SELECT streams FROM system_distributed.cdc_streams_descriptions_v2 WHERE time = ?",
	"SELECT time FROM system_distributed.cdc_generation_timestamps WHERE key = 'timestamps'",
	"SELECT * FROM system_schema.scylla_keyspaces WHERE keyspace_name = ?",
	"SELECT extensions FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
}

func TestDriverQueries(t *testing.T) {
	var all []string
	for _, q := range gocqlQueries {
		all = append(all, q, q+" USING TIMEOUT 10000ms")
	}
	all = append(all, cdcQueries...)
	all = append(all, `USE "outbox"`, "DESCRIBE KEYSPACE outbox WITH INTERNALS")
	for _, q := range all {
		p, err := Parse(q)
		if err != nil {
			t.Errorf("Parse(%q): %v", q, err)
			continue
		}
		checkMarkers(t, p)
	}
}

func TestGocqlSystemLocalWithTimeout(t *testing.T) {
	p, err := Parse("SELECT * FROM system.local WHERE key='local' USING TIMEOUT 10000ms")
	if err != nil {
		t.Fatal(err)
	}
	want := &SelectStmt{Table: kst("system", "local"), Star: true, Where: []Relation{eq("key", strLit("local"))},
		Using: Using{Timeout: durLit("10000ms")}}
	if !reflect.DeepEqual(p.Stmt, want) {
		t.Fatalf("got %s", dump(p.Stmt))
	}
}

// TestQB parses what gocqlx v2.8.0's query builder generates. qb writes no
// spaces around operators (`a=?`, `c=c+?`), comma-joins without spaces and
// always leaves a trailing space, so it exercises the lexer differently
// from hand-written CQL.
func TestQB(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	type built struct {
		stmt  string
		names []string
	}
	b := func(s string, n []string) built { return built{s, n} }
	cases := []struct {
		q    built
		want Statement
	}{
		{b(qb.Select("ks.t").ToCql()), &SelectStmt{Table: kst("ks", "t"), Star: true}},
		{b(qb.Select("ks.t").Columns("a", qb.As("b", "bee"), `"C"`).
			Where(qb.Eq("a"), qb.InTuple("b", 2), qb.GtOrEqNamed("c", "cmin"), qb.Token("a", "b").Gt(), qb.Token("a").LtValue(),
				qb.ContainsKey("m"), qb.Contains("s"), qb.Like("l"), qb.EqLit("d", "'x'"), qb.LtFunc("t", qb.MinTimeuuid("ts")),
				qb.NeLit("e", "1"), qb.GtTuple("tu", 2), qb.InLit("f", "(1,2)"), qb.In("g")).
			OrderBy("c", qb.DESC).OrderBy("d", qb.ASC).LimitPerPartition(2).Limit(10).AllowFiltering().BypassCache().
			Timeout(10 * time.Millisecond).ToCql()),
			&SelectStmt{Table: kst("ks", "t"),
				Selectors: []Selector{sel(colRef("a")), {Expr: colRef("b"), Alias: "bee"}, sel(colRef("C"))},
				Where: []Relation{
					eq("a", qm(0)),
					{Columns: []string{"b"}, Op: OpIn, In: []Term{qm(1), qm(2)}},
					{Columns: []string{"c"}, Op: OpGte, Value: qm(3)},
					{Columns: []string{"a", "b"}, Token: true, Op: OpGt, Value: &FuncCall{Name: "token", Args: []Term{qm(4), qm(5)}}},
					{Columns: []string{"a"}, Token: true, Op: OpLt, Value: qm(6)},
					{Columns: []string{"m"}, Op: OpContainsKey, Value: qm(7)},
					{Columns: []string{"s"}, Op: OpContains, Value: qm(8)},
					{Columns: []string{"l"}, Op: OpLike, Value: qm(9)},
					eq("d", strLit("x")),
					{Columns: []string{"t"}, Op: OpLt, Value: &FuncCall{Name: "mintimeuuid", Args: []Term{qm(10)}}},
					{Columns: []string{"e"}, Op: OpNeq, Value: intLit("1")},
					{Columns: []string{"tu"}, Op: OpGt, Value: &TupleLit{Elems: []Term{qm(11), qm(12)}}},
					{Columns: []string{"f"}, Op: OpIn, In: []Term{intLit("1"), intLit("2")}},
					{Columns: []string{"g"}, Op: OpIn, Value: qm(13)},
				},
				OrderBy:           []Ordering{{Column: "c", Desc: true}, {Column: "d"}},
				PerPartitionLimit: intLit("2"), Limit: intLit("10"), AllowFiltering: true, BypassCache: true,
				Using: Using{Timeout: durLit("10ms")},
			}},
		{b(qb.Select("t").Json().Distinct("a", "b").Where(qb.Eq("a")).LimitNamed("lim").TimeoutNamed("to").ToCql()),
			&SelectStmt{Table: tbl("t"), JSON: true, Distinct: true, Selectors: []Selector{sel(colRef("a")), sel(colRef("b"))},
				Where: []Relation{eq("a", qm(0))}, Limit: qm(1), Using: Using{Timeout: qm(2)}}},
		{b(qb.Select("t").GroupBy("a").CountAll().Max("v").Min("v").Avg("v").Sum("v").Count("v").ToCql()),
			&SelectStmt{Table: tbl("t"), GroupBy: []string{"a"}, Selectors: []Selector{
				sel(colRef("a")), sel(&CountStar{}),
				sel(&SelectFunc{Name: "max", Args: []SelectExpr{colRef("v")}}),
				sel(&SelectFunc{Name: "min", Args: []SelectExpr{colRef("v")}}),
				sel(&SelectFunc{Name: "avg", Args: []SelectExpr{colRef("v")}}),
				sel(&SelectFunc{Name: "sum", Args: []SelectExpr{colRef("v")}}),
				sel(&SelectFunc{Name: "count", Args: []SelectExpr{colRef("v")}}),
			}}},
		{b(qb.Insert("ks.t").Columns("a", "b").NamedColumn("c", "cc").LitColumn("d", "'lit'").FuncColumn("e", qb.Now()).
			TupleColumn("f", 2).Unique().TTL(time.Hour).Timestamp(ts).Timeout(time.Minute).ToCql()),
			&InsertStmt{Table: kst("ks", "t"), Columns: []string{"a", "b", "c", "d", "e", "f"},
				Values:      []Term{qm(0), qm(1), qm(2), strLit("lit"), &FuncCall{Name: "now"}, &TupleLit{Elems: []Term{qm(3), qm(4)}}},
				IfNotExists: true,
				Using:       Using{TTL: intLit("3600"), Timestamp: intLit("1700000000000000"), Timeout: durLit("1m0s")}}},
		// qb's JSON insert writes only `JSON ?`, drops USING and reports
		// no names; hence the name fix-up below.
		{built{stmt: func() string { s, _ := qb.Insert("t").Json().ToCql(); return s }(), names: []string{"json"}},
			&InsertStmt{Table: tbl("t"), JSON: qm(0)}},
		{b(qb.Update("ks.t").TTLNamed("ttl").TimestampNamed("ts").Set("a").SetNamed("b", "bb").SetLit("c", "3").
			SetFunc("d", qb.Now()).SetTuple("e", 2).Add("l").AddLit("cnt", "1").AddNamed("s", "ss").Remove("m").RemoveLit("cnt2", "1").
			RemoveFunc("x", qb.Fn("f", "p")).Where(qb.Eq("k")).If(qb.Eq("v"), qb.LtOrEqNamed("w", "wmax")).ToCql()),
			&UpdateStmt{Table: kst("ks", "t"), Using: Using{TTL: qm(0), Timestamp: qm(1)},
				Set: []Assignment{
					{Column: "a", Value: qm(2)},
					{Column: "b", Value: qm(3)},
					{Column: "c", Value: intLit("3")},
					{Column: "d", Value: &FuncCall{Name: "now"}},
					{Column: "e", Value: &TupleLit{Elems: []Term{qm(4), qm(5)}}},
					{Column: "l", Op: AssignAdd, Value: qm(6)},
					{Column: "cnt", Op: AssignAdd, Value: intLit("1")},
					{Column: "s", Op: AssignAdd, Value: qm(7)},
					{Column: "m", Op: AssignSub, Value: qm(8)},
					// qb writes cnt2=cnt2-1, which lexes with a signed -1.
					{Column: "cnt2", Op: AssignAdd, Value: intLit("-1")},
					{Column: "x", Op: AssignSub, Value: &FuncCall{Name: "f", Args: []Term{qm(9)}}},
				},
				Where: []Relation{eq("k", qm(10))},
				Conditions: []Condition{
					{Column: "v", Op: OpEq, Value: qm(11)},
					{Column: "w", Op: OpLte, Value: qm(12)},
				}}},
		{b(qb.Update("t").Set("a").Where(qb.Eq("k")).Existing().Timeout(5 * time.Second).ToCql()),
			&UpdateStmt{Table: tbl("t"), Using: Using{Timeout: durLit("5s")}, Set: []Assignment{{Column: "a", Value: qm(0)}},
				Where: []Relation{eq("k", qm(1))}, IfExists: true}},
		{b(qb.Delete("ks.t").Columns("a", "m['k']").Timestamp(ts).Where(qb.Eq("k"), qb.GtOrEq("c")).If(qb.Eq("a")).ToCql()),
			&DeleteStmt{Table: kst("ks", "t"), Columns: []DeleteTarget{{Column: "a"}, {Column: "m", Key: strLit("k")}},
				Using:      Using{Timestamp: intLit("1700000000000000")},
				Where:      []Relation{eq("k", qm(0)), {Columns: []string{"c"}, Op: OpGte, Value: qm(1)}},
				Conditions: []Condition{{Column: "a", Op: OpEq, Value: qm(2)}}}},
		{b(qb.Delete("t").Where(qb.Eq("k")).Existing().TimeoutNamed("to").ToCql()),
			&DeleteStmt{Table: tbl("t"), Using: Using{Timeout: qm(0)}, Where: []Relation{eq("k", qm(1))}, IfExists: true}},
		// qb.Batch is deprecated (in favour of the driver's own batches),
		// but code built on it still sends this text: here is what
		//   qb.Batch().UnLogged().TimestampNamed("ts").Add(qb.Insert("t").Columns("a")).
		//     AddWithPrefix("u", qb.Update("t").Set("b").Where(qb.Eq("a"))).
		//     Add(qb.Delete("t").Where(qb.Eq("a"))).ToCql()
		// and qb.Batch().Counter().Add(qb.Update("c").Add("n").Where(qb.Eq("k"))).ToCql()
		// return.
		{built{"BEGIN UNLOGGED BATCH USING TIMESTAMP ? INSERT INTO t (a) VALUES (?) ; UPDATE t SET b=? WHERE a=? ; DELETE FROM t WHERE a=? ; APPLY BATCH ",
			[]string{"ts", "a", "u.b", "u.a", "a"}},
			&BatchStmt{Type: BatchUnlogged, Using: Using{Timestamp: qm(0)}, Statements: []Statement{
				&InsertStmt{Table: tbl("t"), Columns: []string{"a"}, Values: []Term{qm(1)}},
				&UpdateStmt{Table: tbl("t"), Set: []Assignment{{Column: "b", Value: qm(2)}}, Where: []Relation{eq("a", qm(3))}},
				&DeleteStmt{Table: tbl("t"), Where: []Relation{eq("a", qm(4))}},
			}}},
		{built{"BEGIN COUNTER BATCH UPDATE c SET n=n+? WHERE k=? ; APPLY BATCH ", []string{"n", "k"}},
			&BatchStmt{Type: BatchCounter, Statements: []Statement{
				&UpdateStmt{Table: tbl("c"), Set: []Assignment{{Column: "n", Op: AssignAdd, Value: qm(0)}}, Where: []Relation{eq("k", qm(1))}},
			}}},
	}
	for _, tc := range cases {
		p, err := Parse(tc.q.stmt)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.q.stmt, err)
			continue
		}
		if !reflect.DeepEqual(p.Stmt, tc.want) {
			t.Errorf("Parse(%q)\n got %s\nwant %s", tc.q.stmt, dump(p.Stmt), dump(tc.want))
		}
		// qb returns one name per '?', in order: the parser must agree on
		// the count or bound values would shift.
		if len(p.Markers) != len(tc.q.names) {
			t.Errorf("Parse(%q): %d markers, qb names %v", tc.q.stmt, len(p.Markers), tc.q.names)
		}
		checkMarkers(t, p)
	}
}
