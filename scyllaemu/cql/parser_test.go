package cql

import (
	"encoding/json"
	"reflect"
	"testing"
)

func strLit(s string) *Constant   { return &Constant{Kind: LitString, Text: s} }
func intLit(s string) *Constant   { return &Constant{Kind: LitInteger, Text: s} }
func floatLit(s string) *Constant { return &Constant{Kind: LitFloat, Text: s} }
func boolLit(s string) *Constant  { return &Constant{Kind: LitBool, Text: s} }
func uuidLit(s string) *Constant  { return &Constant{Kind: LitUUID, Text: s} }
func hexLit(s string) *Constant   { return &Constant{Kind: LitHex, Text: s} }
func durLit(s string) *Constant   { return &Constant{Kind: LitDuration, Text: s} }
func qm(i int) *Marker            { return &Marker{Index: i} }
func named(i int, n string) *Marker {
	return &Marker{Index: i, Name: n}
}
func tbl(name string) TableName { return TableName{Name: name} }
func kst(ks, name string) TableName {
	return TableName{Keyspace: ks, Name: name}
}
func eq(c string, v Term) Relation { return Relation{Columns: []string{c}, Op: OpEq, Value: v} }
func sel(e SelectExpr) Selector    { return Selector{Expr: e} }
func colRef(n string) *ColumnRef   { return &ColumnRef{Name: n} }

// dump renders a statement for failure messages; %+v would print pointers.
func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

type parseCase struct {
	name    string
	src     string
	want    Statement
	markers int
}

func runParseCases(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.src, err)
			}
			if !reflect.DeepEqual(p.Stmt, tc.want) {
				t.Fatalf("Parse(%q)\n got %T %s\nwant %T %s", tc.src, p.Stmt, dump(p.Stmt), tc.want, dump(tc.want))
			}
			if len(p.Markers) != tc.markers {
				t.Fatalf("Parse(%q): %d markers, want %d", tc.src, len(p.Markers), tc.markers)
			}
			checkMarkers(t, p)
		})
	}
}

func TestParseUseAndKeyspaces(t *testing.T) {
	runParseCases(t, []parseCase{
		{"use", "USE ks", &UseStmt{Keyspace: "ks"}, 0},
		{"use quoted", `USE "Ks"`, &UseStmt{Keyspace: "Ks"}, 0},
		{"use folded", "use MyKs;", &UseStmt{Keyspace: "myks"}, 0},
		{"use keyword name", "USE system_schema ;;", &UseStmt{Keyspace: "system_schema"}, 0},
		{"create keyspace", "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = true AND tablets = {'enabled': false}",
			&CreateKeyspaceStmt{Name: "ks", IfNotExists: true, Properties: []Property{
				{Name: "replication", Value: &MapLit{Keys: []Term{strLit("class"), strLit("replication_factor")}, Values: []Term{strLit("SimpleStrategy"), intLit("1")}}},
				{Name: "durable_writes", Value: boolLit("true")},
				{Name: "tablets", Value: &MapLit{Keys: []Term{strLit("enabled")}, Values: []Term{boolLit("false")}}},
			}}, 0},
		{"create keyspace NTS", `CREATE KEYSPACE "Outbox" WITH REPLICATION = { 'class' : 'NetworkTopologyStrategy', 'dc1' : '3' }`,
			&CreateKeyspaceStmt{Name: "Outbox", Properties: []Property{
				{Name: "replication", Value: &MapLit{Keys: []Term{strLit("class"), strLit("dc1")}, Values: []Term{strLit("NetworkTopologyStrategy"), strLit("3")}}},
			}}, 0},
		{"create keyspace no props", "CREATE KEYSPACE ks", &CreateKeyspaceStmt{Name: "ks"}, 0},
		{"create schema", "CREATE SCHEMA ks WITH durable_writes = false", &CreateKeyspaceStmt{Name: "ks", Properties: []Property{{Name: "durable_writes", Value: boolLit("false")}}}, 0},
		{"drop keyspace", "DROP KEYSPACE ks", &DropKeyspaceStmt{Name: "ks"}, 0},
		{"drop keyspace if exists", "DROP KEYSPACE IF EXISTS \"Ks\";", &DropKeyspaceStmt{Name: "Ks", IfExists: true}, 0},
	})
}

func TestParseCreateTable(t *testing.T) {
	runParseCases(t, []parseCase{
		{"full", `CREATE TABLE IF NOT EXISTS ks.t (a int, b text, c frozen<map<text, text>>, d timeuuid, s int static, v blob,
			PRIMARY KEY ((a, b), c, d)) WITH CLUSTERING ORDER BY (c DESC, d ASC) AND cdc = {'enabled': true, 'postimage': false, 'ttl': 600}
			AND default_time_to_live = 3600 AND comment = 'x' AND compaction = {'class': 'SizeTieredCompactionStrategy'} AND COMPACT STORAGE`,
			&CreateTableStmt{
				Table: kst("ks", "t"), IfNotExists: true,
				Columns: []ColumnDef{
					{Name: "a", Type: "int"}, {Name: "b", Type: "text"}, {Name: "c", Type: "frozen<map<text, text>>"},
					{Name: "d", Type: "timeuuid"}, {Name: "s", Type: "int", Static: true}, {Name: "v", Type: "blob"},
				},
				PartitionKey:    []string{"a", "b"},
				Clustering:      []string{"c", "d"},
				ClusteringOrder: []ClusteringOrder{{Column: "c", Desc: true}, {Column: "d"}},
				CompactStorage:  true,
				Properties: []Property{
					{Name: "cdc", Value: &MapLit{Keys: []Term{strLit("enabled"), strLit("postimage"), strLit("ttl")}, Values: []Term{boolLit("true"), boolLit("false"), intLit("600")}}},
					{Name: "default_time_to_live", Value: intLit("3600")},
					{Name: "comment", Value: strLit("x")},
					{Name: "compaction", Value: &MapLit{Keys: []Term{strLit("class")}, Values: []Term{strLit("SizeTieredCompactionStrategy")}}},
				},
			}, 0},
		{"inline pk", "CREATE TABLE t (id uuid PRIMARY KEY, v text)",
			&CreateTableStmt{Table: tbl("t"), Columns: []ColumnDef{{Name: "id", Type: "uuid", PrimaryKey: true}, {Name: "v", Type: "text"}}}, 0},
		{"single pk", "CREATE TABLE t (a int, v text, PRIMARY KEY (a))",
			&CreateTableStmt{Table: tbl("t"), Columns: []ColumnDef{{Name: "a", Type: "int"}, {Name: "v", Type: "text"}}, PartitionKey: []string{"a"}}, 0},
		{"pk with clustering", "create table t (a int, c int, primary key (a, c),)",
			&CreateTableStmt{Table: tbl("t"), Columns: []ColumnDef{{Name: "a", Type: "int"}, {Name: "c", Type: "int"}}, PartitionKey: []string{"a"}, Clustering: []string{"c"}}, 0},
		{"pk first", "CREATE TABLE t (PRIMARY KEY (a), a int)",
			&CreateTableStmt{Table: tbl("t"), Columns: []ColumnDef{{Name: "a", Type: "int"}}, PartitionKey: []string{"a"}}, 0},
		{"columnfamily", "CREATE COLUMNFAMILY t (a int PRIMARY KEY)",
			&CreateTableStmt{Table: tbl("t"), Columns: []ColumnDef{{Name: "a", Type: "int", PrimaryKey: true}}}, 0},
		{"types", `CREATE TABLE t (k int PRIMARY KEY, a LIST<INT>, b set<frozen<list<text>>>, c map<text,frozen<map<int,  blob>>>,
			d tuple<int,text,tuple<uuid>>, e FROZEN<tuple<int, text>>, f frozen<"MyType">, g ks.addr, h 'org.apache.cassandra.db.marshal.BytesType',
			i vector<float, 3>, j counter, k2 varchar, l duration, m inet, n date, o time, p timestamp, q smallint, r tinyint, s varint, u decimal, w ascii, x boolean, y double, z bigint)`,
			&CreateTableStmt{Table: tbl("t"), Columns: []ColumnDef{
				{Name: "k", Type: "int", PrimaryKey: true},
				{Name: "a", Type: "list<int>"},
				{Name: "b", Type: "set<frozen<list<text>>>"},
				{Name: "c", Type: "map<text, frozen<map<int, blob>>>"},
				{Name: "d", Type: "tuple<int, text, tuple<uuid>>"},
				{Name: "e", Type: "frozen<tuple<int, text>>"},
				{Name: "f", Type: `frozen<"MyType">`},
				{Name: "g", Type: "ks.addr"},
				{Name: "h", Type: "'org.apache.cassandra.db.marshal.BytesType'"},
				{Name: "i", Type: "vector<float, 3>"},
				{Name: "j", Type: "counter"}, {Name: "k2", Type: "varchar"}, {Name: "l", Type: "duration"}, {Name: "m", Type: "inet"},
				{Name: "n", Type: "date"}, {Name: "o", Type: "time"}, {Name: "p", Type: "timestamp"}, {Name: "q", Type: "smallint"},
				{Name: "r", Type: "tinyint"}, {Name: "s", Type: "varint"}, {Name: "u", Type: "decimal"}, {Name: "w", Type: "ascii"},
				{Name: "x", Type: "boolean"}, {Name: "y", Type: "double"}, {Name: "z", Type: "bigint"},
			}}, 0},
		{"keyword columns", `CREATE TABLE system.local2 (key text PRIMARY KEY, time timestamp, type text, kind text, position int, options map<text, text>,
			tokens set<text>, expired boolean, streams frozen<set<blob>>, range_end text, status text, ttl int, date date, value blob, values int,
			keyspace_name text, generation bigint, count int, filtering int, cache int, json text, list int, map int, "Quoted Col" int, "select" int)`,
			&CreateTableStmt{Table: kst("system", "local2"), Columns: []ColumnDef{
				{Name: "key", Type: "text", PrimaryKey: true}, {Name: "time", Type: "timestamp"}, {Name: "type", Type: "text"},
				{Name: "kind", Type: "text"}, {Name: "position", Type: "int"}, {Name: "options", Type: "map<text, text>"},
				{Name: "tokens", Type: "set<text>"}, {Name: "expired", Type: "boolean"}, {Name: "streams", Type: "frozen<set<blob>>"},
				{Name: "range_end", Type: "text"}, {Name: "status", Type: "text"}, {Name: "ttl", Type: "int"}, {Name: "date", Type: "date"},
				{Name: "value", Type: "blob"}, {Name: "values", Type: "int"}, {Name: "keyspace_name", Type: "text"},
				{Name: "generation", Type: "bigint"}, {Name: "count", Type: "int"}, {Name: "filtering", Type: "int"},
				{Name: "cache", Type: "int"}, {Name: "json", Type: "text"}, {Name: "list", Type: "int"}, {Name: "map", Type: "int"},
				{Name: "Quoted Col", Type: "int"}, {Name: "select", Type: "int"},
			}}, 0},
		{"property kinds", "CREATE TABLE t (a int PRIMARY KEY) WITH bloom_filter_fp_chance = 0.01 AND caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'} AND gc_grace_seconds = -1 AND speculative_retry = '99.0PERCENTILE' AND x = all AND y = null AND z = 1h AND w = {}",
			&CreateTableStmt{Table: tbl("t"), Columns: []ColumnDef{{Name: "a", Type: "int", PrimaryKey: true}}, Properties: []Property{
				{Name: "bloom_filter_fp_chance", Value: floatLit("0.01")},
				{Name: "caching", Value: &MapLit{Keys: []Term{strLit("keys"), strLit("rows_per_partition")}, Values: []Term{strLit("ALL"), strLit("NONE")}}},
				{Name: "gc_grace_seconds", Value: intLit("-1")},
				{Name: "speculative_retry", Value: strLit("99.0PERCENTILE")},
				{Name: "x", Value: strLit("all")},
				{Name: "y", Value: strLit("null")},
				{Name: "z", Value: durLit("1h")},
				{Name: "w", Value: &MapLit{}},
			}}, 0},
		{"cdc progress table", "CREATE TABLE IF NOT EXISTS cdc_progress (generation timestamp, application_name text, table_name text, stream_id blob, last_timestamp timeuuid, current_generation timestamp, PRIMARY KEY ((generation, application_name, table_name, stream_id)))",
			&CreateTableStmt{Table: tbl("cdc_progress"), IfNotExists: true, Columns: []ColumnDef{
				{Name: "generation", Type: "timestamp"}, {Name: "application_name", Type: "text"}, {Name: "table_name", Type: "text"},
				{Name: "stream_id", Type: "blob"}, {Name: "last_timestamp", Type: "timeuuid"}, {Name: "current_generation", Type: "timestamp"},
			}, PartitionKey: []string{"generation", "application_name", "table_name", "stream_id"}}, 0},
	})
}

func TestParseOtherDDL(t *testing.T) {
	runParseCases(t, []parseCase{
		{"drop table", "DROP TABLE t", &DropTableStmt{Table: tbl("t")}, 0},
		{"drop table if exists", "DROP TABLE IF EXISTS ks.t", &DropTableStmt{Table: kst("ks", "t"), IfExists: true}, 0},
		{"drop columnfamily", `DROP COLUMNFAMILY "Ks"."T"`, &DropTableStmt{Table: kst("Ks", "T")}, 0},
		{"truncate", "TRUNCATE t", &TruncateStmt{Table: tbl("t")}, 0},
		{"truncate table", "TRUNCATE TABLE ks.t", &TruncateStmt{Table: kst("ks", "t")}, 0},
		{"truncate timeout", "TRUNCATE ks.t USING TIMEOUT 1m", &TruncateStmt{Table: kst("ks", "t"), Using: Using{Timeout: durLit("1m")}}, 0},
		{"alter with", "ALTER TABLE ks.t WITH cdc = {'enabled': true} AND comment = 'c'",
			&AlterTableStmt{Table: kst("ks", "t"), Properties: []Property{
				{Name: "cdc", Value: &MapLit{Keys: []Term{strLit("enabled")}, Values: []Term{boolLit("true")}}},
				{Name: "comment", Value: strLit("c")},
			}}, 0},
		{"alter add", "ALTER TABLE t ADD c int", &AlterTableStmt{Table: tbl("t"), Add: []ColumnDef{{Name: "c", Type: "int"}}}, 0},
		{"alter add static", "ALTER TABLE t ADD s map<int, text> STATIC", &AlterTableStmt{Table: tbl("t"), Add: []ColumnDef{{Name: "s", Type: "map<int, text>", Static: true}}}, 0},
		{"alter add paren", "ALTER TABLE t ADD (c int, d text)", &AlterTableStmt{Table: tbl("t"), Add: []ColumnDef{{Name: "c", Type: "int"}, {Name: "d", Type: "text"}}}, 0},
		{"alter add list", "ALTER TABLE t ADD c int, d text", &AlterTableStmt{Table: tbl("t"), Add: []ColumnDef{{Name: "c", Type: "int"}, {Name: "d", Type: "text"}}}, 0},
		{"alter drop", "ALTER TABLE t DROP c", &AlterTableStmt{Table: tbl("t"), Drop: []string{"c"}}, 0},
		{"alter drop paren", "ALTER TABLE t DROP (c, \"D\")", &AlterTableStmt{Table: tbl("t"), Drop: []string{"c", "D"}}, 0},
		{"describe keyspace internals", "DESCRIBE KEYSPACE ks WITH INTERNALS", &DescribeStmt{Kind: "keyspace", Name: tbl("ks"), Internals: true}, 0},
		{"desc keyspace", `DESC KEYSPACE "Ks"`, &DescribeStmt{Kind: "keyspace", Name: tbl("Ks")}, 0},
		{"describe current keyspace", "DESCRIBE KEYSPACE", &DescribeStmt{Kind: "keyspace"}, 0},
		{"describe only keyspace", "DESCRIBE ONLY KEYSPACE ks", &DescribeStmt{Kind: "only keyspace", Name: tbl("ks")}, 0},
		{"describe keyspaces", "DESCRIBE KEYSPACES", &DescribeStmt{Kind: "keyspaces"}, 0},
		{"describe tables", "describe tables;", &DescribeStmt{Kind: "tables"}, 0},
		{"describe columnfamilies", "DESCRIBE COLUMNFAMILIES", &DescribeStmt{Kind: "tables"}, 0},
		{"describe table", "DESCRIBE TABLE ks.t", &DescribeStmt{Kind: "table", Name: kst("ks", "t")}, 0},
		{"describe columnfamily", "DESCRIBE COLUMNFAMILY t", &DescribeStmt{Kind: "table", Name: tbl("t")}, 0},
		{"describe schema", "DESCRIBE SCHEMA", &DescribeStmt{Kind: "schema"}, 0},
		{"describe full schema", "DESCRIBE FULL SCHEMA WITH INTERNALS AND PASSWORDS", &DescribeStmt{Kind: "full schema", Internals: true}, 0},
		{"describe cluster", "DESCRIBE CLUSTER", &DescribeStmt{Kind: "cluster"}, 0},
		{"describe type", "DESCRIBE TYPE ks.addr", &DescribeStmt{Kind: "type", Name: kst("ks", "addr")}, 0},
		{"describe types", "DESCRIBE TYPES", &DescribeStmt{Kind: "types"}, 0},
		{"describe function", "DESCRIBE FUNCTION f", &DescribeStmt{Kind: "function", Name: tbl("f")}, 0},
		{"describe index", "DESCRIBE INDEX ks.i", &DescribeStmt{Kind: "index", Name: kst("ks", "i")}, 0},
		{"describe view", "DESCRIBE MATERIALIZED VIEW ks.v", &DescribeStmt{Kind: "materialized view", Name: kst("ks", "v")}, 0},
		{"describe generic", "DESCRIBE ks.t", &DescribeStmt{Name: kst("ks", "t")}, 0},
		{"describe generic keyword", "DESCRIBE tables.keyspaces", &DescribeStmt{Name: kst("tables", "keyspaces")}, 0},
	})
}

func TestParseInsert(t *testing.T) {
	runParseCases(t, []parseCase{
		{"basic", "INSERT INTO ks.t (a, b) VALUES (?, :b)",
			&InsertStmt{Table: kst("ks", "t"), Columns: []string{"a", "b"}, Values: []Term{qm(0), named(1, "b")}}, 2},
		{"lwt using", "INSERT INTO t (a, b) VALUES (?, :b) IF NOT EXISTS USING TTL ? AND TIMESTAMP 123 AND TIMEOUT 5s",
			&InsertStmt{Table: tbl("t"), Columns: []string{"a", "b"}, Values: []Term{qm(0), named(1, "b")}, IfNotExists: true,
				Using: Using{TTL: qm(2), Timestamp: intLit("123"), Timeout: durLit("5s")}}, 3},
		{"using then if", "INSERT INTO t (a) VALUES (1) USING TTL 10 IF NOT EXISTS",
			&InsertStmt{Table: tbl("t"), Columns: []string{"a"}, Values: []Term{intLit("1")}, IfNotExists: true, Using: Using{TTL: intLit("10")}}, 0},
		{"json", `INSERT INTO t JSON '{"a": 1}'`, &InsertStmt{Table: tbl("t"), JSON: strLit(`{"a": 1}`)}, 0},
		{"json marker default unset", "INSERT INTO t JSON ? DEFAULT UNSET IF NOT EXISTS",
			&InsertStmt{Table: tbl("t"), JSON: qm(0), DefaultUnset: true, IfNotExists: true}, 1},
		{"json default null", "INSERT INTO t JSON :j DEFAULT NULL", &InsertStmt{Table: tbl("t"), JSON: named(0, "j")}, 1},
		{"all literal kinds", `INSERT INTO t (a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q) VALUES ('s', -7, 1.5, -2.5E-3, true, FALSE, null,
			123e4567-e89b-12d3-a456-426614174000, 0xCAFE, 1h30m, NaN, -Infinity, $$dollar's$$, Infinity, P1Y2M, -2h, 1e10)`,
			&InsertStmt{Table: tbl("t"), Columns: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q"},
				Values: []Term{strLit("s"), intLit("-7"), floatLit("1.5"), floatLit("-2.5E-3"), boolLit("true"), boolLit("false"), &Null{},
					uuidLit("123e4567-e89b-12d3-a456-426614174000"), hexLit("0xCAFE"), durLit("1h30m"), floatLit("NaN"), floatLit("-Infinity"),
					strLit("dollar's"), floatLit("Infinity"), durLit("P1Y2M"), durLit("-2h"), floatLit("1e10")}}, 0},
		{"collections", "INSERT INTO t (l, s, m, e, tu, nested) VALUES ([1, 2], {'a', 'b'}, {'k': 1, 'j': ?}, {}, (1, 'x', ?), [{1: [2]}])",
			&InsertStmt{Table: tbl("t"), Columns: []string{"l", "s", "m", "e", "tu", "nested"}, Values: []Term{
				&ListLit{Elems: []Term{intLit("1"), intLit("2")}},
				&SetLit{Elems: []Term{strLit("a"), strLit("b")}},
				&MapLit{Keys: []Term{strLit("k"), strLit("j")}, Values: []Term{intLit("1"), qm(0)}},
				&MapLit{},
				&TupleLit{Elems: []Term{intLit("1"), strLit("x"), qm(1)}},
				&ListLit{Elems: []Term{&MapLit{Keys: []Term{intLit("1")}, Values: []Term{&ListLit{Elems: []Term{intLit("2")}}}}}},
			}}, 2},
		{"empty list", "INSERT INTO t (l) VALUES ([])", &InsertStmt{Table: tbl("t"), Columns: []string{"l"}, Values: []Term{&ListLit{}}}, 0},
		{"functions", "INSERT INTO t (a, b, c, d, e, f, g) VALUES (now(), uuid(), minTimeuuid(?), maxTimeuuid('2020-01-01'), toTimestamp(now()), currentTimestamp(), ks.\"MyFn\"(1, ?))",
			&InsertStmt{Table: tbl("t"), Columns: []string{"a", "b", "c", "d", "e", "f", "g"}, Values: []Term{
				&FuncCall{Name: "now"}, &FuncCall{Name: "uuid"},
				&FuncCall{Name: "mintimeuuid", Args: []Term{qm(0)}},
				&FuncCall{Name: "maxtimeuuid", Args: []Term{strLit("2020-01-01")}},
				&FuncCall{Name: "totimestamp", Args: []Term{&FuncCall{Name: "now"}}},
				&FuncCall{Name: "currenttimestamp"},
				&FuncCall{Name: "ks.MyFn", Args: []Term{intLit("1"), qm(1)}},
			}}, 2},
		{"casts", "INSERT INTO t (a, b, c, d) VALUES ((int)?, (frozen<list<text>>)[], (ks.addr)?, (bigint)(int)1)",
			&InsertStmt{Table: tbl("t"), Columns: []string{"a", "b", "c", "d"}, Values: []Term{
				&Cast{Type: "int", Term: qm(0)},
				&Cast{Type: "frozen<list<text>>", Term: &ListLit{}},
				&Cast{Type: "ks.addr", Term: qm(1)},
				&Cast{Type: "bigint", Term: &Cast{Type: "int", Term: intLit("1")}},
			}}, 2},
		{"tuple vs cast", "INSERT INTO t (a, b) VALUES ((now()), (true))",
			&InsertStmt{Table: tbl("t"), Columns: []string{"a", "b"}, Values: []Term{
				&TupleLit{Elems: []Term{&FuncCall{Name: "now"}}}, &TupleLit{Elems: []Term{boolLit("true")}},
			}}, 0},
		{"quoted marker name", `INSERT INTO t (a, b) VALUES (:"CamelCase", :key)`,
			&InsertStmt{Table: tbl("t"), Columns: []string{"a", "b"}, Values: []Term{named(0, "CamelCase"), named(1, "key")}}, 2},
		{"quoted columns", `INSERT INTO t ("cdc$stream_id", "[applied]", key) VALUES (?, ?, ?)`,
			&InsertStmt{Table: tbl("t"), Columns: []string{"cdc$stream_id", "[applied]", "key"}, Values: []Term{qm(0), qm(1), qm(2)}}, 3},
	})
}

func TestParseUpdate(t *testing.T) {
	runParseCases(t, []parseCase{
		{"full", "UPDATE ks.t USING TTL 5 AND TIMESTAMP ? SET a = ?, b = b + ?, c = ? + c, m['k'] = ?, l = l - ?, cnt = cnt + 1, x += 1, y -= ?, u.f = 3 WHERE k = ? AND c IN (?, ?) IF a = ? AND b != ? AND m['k'] = ? AND c IN (1,2)",
			&UpdateStmt{Table: kst("ks", "t"), Using: Using{TTL: intLit("5"), Timestamp: qm(0)},
				Set: []Assignment{
					{Column: "a", Op: AssignSet, Value: qm(1)},
					{Column: "b", Op: AssignAdd, Value: qm(2)},
					{Column: "c", Op: AssignPrepend, Value: qm(3)},
					{Column: "m", Op: AssignElement, Key: strLit("k"), Value: qm(4)},
					{Column: "l", Op: AssignSub, Value: qm(5)},
					{Column: "cnt", Op: AssignAdd, Value: intLit("1")},
					{Column: "x", Op: AssignCounterAdd, Value: intLit("1")},
					{Column: "y", Op: AssignCounterSub, Value: qm(6)},
					{Column: "u", Op: AssignFieldSet, Field: "f", Value: intLit("3")},
				},
				Where: []Relation{eq("k", qm(7)), {Columns: []string{"c"}, Op: OpIn, In: []Term{qm(8), qm(9)}}},
				Conditions: []Condition{
					{Column: "a", Op: OpEq, Value: qm(10)},
					{Column: "b", Op: OpNeq, Value: qm(11)},
					{Column: "m", Key: strLit("k"), Op: OpEq, Value: qm(12)},
					{Column: "c", Op: OpIn, In: []Term{intLit("1"), intLit("2")}},
				},
			}, 13},
		{"counter minus glued", "UPDATE t SET cnt = cnt -1, c2 = c2 - 1 WHERE k = 0",
			&UpdateStmt{Table: tbl("t"), Set: []Assignment{
				{Column: "cnt", Op: AssignAdd, Value: intLit("-1")},
				{Column: "c2", Op: AssignSub, Value: intLit("1")},
			}, Where: []Relation{eq("k", intLit("0"))}}, 0},
		{"if exists", "UPDATE t SET a = 1 WHERE k = 1 IF EXISTS",
			&UpdateStmt{Table: tbl("t"), Set: []Assignment{{Column: "a", Value: intLit("1")}}, Where: []Relation{eq("k", intLit("1"))}, IfExists: true}, 0},
		{"if column named exists", "UPDATE t SET a = 1 WHERE k = 1 IF exists = 2 AND u.f > 1 AND z NOT IN ? AND w IN ?",
			&UpdateStmt{Table: tbl("t"), Set: []Assignment{{Column: "a", Value: intLit("1")}}, Where: []Relation{eq("k", intLit("1"))},
				Conditions: []Condition{
					{Column: "exists", Op: OpEq, Value: intLit("2")},
					{Column: "u", Field: "f", Op: OpGt, Value: intLit("1")},
					{Column: "z", Op: OpNotIn, Value: qm(0)},
					{Column: "w", Op: OpIn, Value: qm(1)},
				}}, 2},
		{"set function and collection", "UPDATE t USING TIMEOUT 10ms SET a = now(), s = s + {'x'}, m = m + {'k': 'v'}, l = [1] + l, ts = toTimestamp(now()) WHERE k = ?",
			&UpdateStmt{Table: tbl("t"), Using: Using{Timeout: durLit("10ms")}, Set: []Assignment{
				{Column: "a", Value: &FuncCall{Name: "now"}},
				{Column: "s", Op: AssignAdd, Value: &SetLit{Elems: []Term{strLit("x")}}},
				{Column: "m", Op: AssignAdd, Value: &MapLit{Keys: []Term{strLit("k")}, Values: []Term{strLit("v")}}},
				{Column: "l", Op: AssignPrepend, Value: &ListLit{Elems: []Term{intLit("1")}}},
				{Column: "ts", Value: &FuncCall{Name: "totimestamp", Args: []Term{&FuncCall{Name: "now"}}}},
			}, Where: []Relation{eq("k", qm(0))}}, 1},
		{"keyword columns", `UPDATE t SET key = ?, "Value" = ?, type = type + ? WHERE time = ? AND status = ?`,
			&UpdateStmt{Table: tbl("t"), Set: []Assignment{
				{Column: "key", Value: qm(0)}, {Column: "Value", Value: qm(1)}, {Column: "type", Op: AssignAdd, Value: qm(2)},
			}, Where: []Relation{eq("time", qm(3)), eq("status", qm(4))}}, 5},
	})
}

func TestParseDelete(t *testing.T) {
	runParseCases(t, []parseCase{
		{"row", "DELETE FROM ks.t WHERE k = ?", &DeleteStmt{Table: kst("ks", "t"), Where: []Relation{eq("k", qm(0))}}, 1},
		{"columns", "DELETE a, m['k'], u.f, l[?] FROM t USING TIMESTAMP ? WHERE k = ? IF EXISTS",
			&DeleteStmt{Table: tbl("t"), Columns: []DeleteTarget{
				{Column: "a"}, {Column: "m", Key: strLit("k")}, {Column: "u", Field: "f"}, {Column: "l", Key: qm(0)},
			}, Using: Using{Timestamp: qm(1)}, Where: []Relation{eq("k", qm(2))}, IfExists: true}, 3},
		{"conditions", "DELETE FROM t USING TIMEOUT ? AND TIMESTAMP 1 WHERE k = 1 AND c >= 2 IF a = 'x' AND m[1] != null",
			&DeleteStmt{Table: tbl("t"), Using: Using{Timeout: qm(0), Timestamp: intLit("1")},
				Where:      []Relation{eq("k", intLit("1")), {Columns: []string{"c"}, Op: OpGte, Value: intLit("2")}},
				Conditions: []Condition{{Column: "a", Op: OpEq, Value: strLit("x")}, {Column: "m", Key: intLit("1"), Op: OpNeq, Value: &Null{}}}}, 1},
	})
}

func TestParseBatch(t *testing.T) {
	runParseCases(t, []parseCase{
		{"logged", "BEGIN BATCH INSERT INTO t (a) VALUES (?); UPDATE t SET b = ? WHERE a = ?; DELETE FROM t WHERE a = ? APPLY BATCH",
			&BatchStmt{Statements: []Statement{
				&InsertStmt{Table: tbl("t"), Columns: []string{"a"}, Values: []Term{qm(0)}},
				&UpdateStmt{Table: tbl("t"), Set: []Assignment{{Column: "b", Value: qm(1)}}, Where: []Relation{eq("a", qm(2))}},
				&DeleteStmt{Table: tbl("t"), Where: []Relation{eq("a", qm(3))}},
			}}, 4},
		{"unlogged using", "BEGIN UNLOGGED BATCH USING TIMESTAMP ? INSERT INTO t (a) VALUES (:x) INSERT INTO t (a) VALUES (:x); APPLY BATCH;",
			&BatchStmt{Type: BatchUnlogged, Using: Using{Timestamp: qm(0)}, Statements: []Statement{
				&InsertStmt{Table: tbl("t"), Columns: []string{"a"}, Values: []Term{named(1, "x")}},
				&InsertStmt{Table: tbl("t"), Columns: []string{"a"}, Values: []Term{named(2, "x")}},
			}}, 3},
		{"counter", "begin counter batch update c set n = n + 1 where k = 1; update c set n = n - ? where k = 2; apply batch",
			&BatchStmt{Type: BatchCounter, Statements: []Statement{
				&UpdateStmt{Table: tbl("c"), Set: []Assignment{{Column: "n", Op: AssignAdd, Value: intLit("1")}}, Where: []Relation{eq("k", intLit("1"))}},
				&UpdateStmt{Table: tbl("c"), Set: []Assignment{{Column: "n", Op: AssignSub, Value: qm(0)}}, Where: []Relation{eq("k", intLit("2"))}},
			}}, 1},
		{"empty", "BEGIN BATCH APPLY BATCH", &BatchStmt{}, 0},
	})
}

func TestParseSelect(t *testing.T) {
	runParseCases(t, []parseCase{
		{"star", "SELECT * FROM t", &SelectStmt{Table: tbl("t"), Star: true}, 0},
		{"everything", `SELECT DISTINCT JSON a, "B" AS bee, count(*), COUNT(1), count(c) AS n, writetime(c), ttl(c), token(a, b), max(x), toTimestamp(c),
			CAST(c AS text), f(g(c), 1, 'x'), ks.fn(c), 42 FROM ks.t WHERE a = ? AND token(a, b) > ? AND (c, d) > (?, ?) AND e IN ? AND f IN (1, 2)
			AND (c, d) IN ((1, 2), (3, 4)) AND g CONTAINS ? AND h CONTAINS KEY 'k' AND i LIKE 'x%' AND j IS NOT NULL AND k != 1 AND l < 1 AND m <= 1
			AND n >= 1 AND m['k'] = ? AND o NOT IN (?) AND p IN :ps AND q IN ()
			GROUP BY a, c ORDER BY c DESC, d ASC, e PER PARTITION LIMIT ? LIMIT 10 ALLOW FILTERING BYPASS CACHE USING TIMEOUT 10ms`,
			&SelectStmt{Table: kst("ks", "t"), Distinct: true, JSON: true,
				Selectors: []Selector{
					sel(colRef("a")),
					{Expr: colRef("B"), Alias: "bee"},
					sel(&CountStar{}),
					sel(&CountStar{}),
					{Expr: &SelectFunc{Name: "count", Args: []SelectExpr{colRef("c")}}, Alias: "n"},
					sel(&SelectFunc{Name: "writetime", Args: []SelectExpr{colRef("c")}}),
					sel(&SelectFunc{Name: "ttl", Args: []SelectExpr{colRef("c")}}),
					sel(&SelectFunc{Name: "token", Args: []SelectExpr{colRef("a"), colRef("b")}}),
					sel(&SelectFunc{Name: "max", Args: []SelectExpr{colRef("x")}}),
					sel(&SelectFunc{Name: "totimestamp", Args: []SelectExpr{colRef("c")}}),
					sel(&SelectCast{Expr: colRef("c"), Type: "text"}),
					sel(&SelectFunc{Name: "f", Args: []SelectExpr{&SelectFunc{Name: "g", Args: []SelectExpr{colRef("c")}}, intLit("1"), strLit("x")}}),
					sel(&SelectFunc{Name: "ks.fn", Args: []SelectExpr{colRef("c")}}),
					sel(intLit("42")),
				},
				Where: []Relation{
					eq("a", qm(0)),
					{Columns: []string{"a", "b"}, Token: true, Op: OpGt, Value: qm(1)},
					{Columns: []string{"c", "d"}, Op: OpGt, Value: &TupleLit{Elems: []Term{qm(2), qm(3)}}},
					{Columns: []string{"e"}, Op: OpIn, Value: qm(4)},
					{Columns: []string{"f"}, Op: OpIn, In: []Term{intLit("1"), intLit("2")}},
					{Columns: []string{"c", "d"}, Op: OpIn, In: []Term{&TupleLit{Elems: []Term{intLit("1"), intLit("2")}}, &TupleLit{Elems: []Term{intLit("3"), intLit("4")}}}},
					{Columns: []string{"g"}, Op: OpContains, Value: qm(5)},
					{Columns: []string{"h"}, Op: OpContainsKey, Value: strLit("k")},
					{Columns: []string{"i"}, Op: OpLike, Value: strLit("x%")},
					{Columns: []string{"j"}, Op: OpIsNotNull},
					{Columns: []string{"k"}, Op: OpNeq, Value: intLit("1")},
					{Columns: []string{"l"}, Op: OpLt, Value: intLit("1")},
					{Columns: []string{"m"}, Op: OpLte, Value: intLit("1")},
					{Columns: []string{"n"}, Op: OpGte, Value: intLit("1")},
					{Columns: []string{"m"}, Key: strLit("k"), Op: OpEq, Value: qm(6)},
					{Columns: []string{"o"}, Op: OpNotIn, In: []Term{qm(7)}},
					{Columns: []string{"p"}, Op: OpIn, Value: named(8, "ps")},
					{Columns: []string{"q"}, Op: OpIn, In: []Term{}},
				},
				GroupBy:           []string{"a", "c"},
				OrderBy:           []Ordering{{Column: "c", Desc: true}, {Column: "d"}, {Column: "e"}},
				PerPartitionLimit: qm(9),
				Limit:             intLit("10"),
				AllowFiltering:    true,
				BypassCache:       true,
				Using:             Using{Timeout: durLit("10ms")},
			}, 10},
		{"json distinct scylla order", "SELECT JSON DISTINCT a FROM t", &SelectStmt{Table: tbl("t"), JSON: true, Distinct: true, Selectors: []Selector{sel(colRef("a"))}}, 0},
		{"json column", "SELECT json FROM t", &SelectStmt{Table: tbl("t"), Selectors: []Selector{sel(colRef("json"))}}, 0},
		{"distinct column", "SELECT distinct, json FROM t", &SelectStmt{Table: tbl("t"), Selectors: []Selector{sel(colRef("distinct")), sel(colRef("json"))}}, 0},
		{"distinct json column", "SELECT DISTINCT json FROM t", &SelectStmt{Table: tbl("t"), Distinct: true, Selectors: []Selector{sel(colRef("json"))}}, 0},
		{"json distinct column", "SELECT JSON distinct FROM t", &SelectStmt{Table: tbl("t"), JSON: true, Selectors: []Selector{sel(colRef("distinct"))}}, 0},
		{"json star", "SELECT JSON * FROM t", &SelectStmt{Table: tbl("t"), JSON: true, Star: true}, 0},
		{"keyword columns", "SELECT key, time, type, kind, position, options, tokens, expired, streams, range_end, ttl, timestamp, date, value, values, count, filtering, cache, list, map, tables, as FROM t",
			&SelectStmt{Table: tbl("t"), Selectors: []Selector{
				sel(colRef("key")), sel(colRef("time")), sel(colRef("type")), sel(colRef("kind")), sel(colRef("position")), sel(colRef("options")),
				sel(colRef("tokens")), sel(colRef("expired")), sel(colRef("streams")), sel(colRef("range_end")), sel(colRef("ttl")),
				sel(colRef("timestamp")), sel(colRef("date")), sel(colRef("value")), sel(colRef("values")), sel(colRef("count")),
				sel(colRef("filtering")), sel(colRef("cache")), sel(colRef("list")), sel(colRef("map")), sel(colRef("tables")), sel(colRef("as")),
			}}, 0},
		{"cassandra unreserved", "SELECT cast, default, replace, unset, ann FROM t WHERE cast = 1",
			&SelectStmt{Table: tbl("t"), Selectors: []Selector{
				sel(colRef("cast")), sel(colRef("default")), sel(colRef("replace")), sel(colRef("unset")), sel(colRef("ann")),
			}, Where: []Relation{eq("cast", intLit("1"))}}, 0},
		{"token rhs token", "SELECT * FROM t WHERE token(k) >= token(?) AND token(k) < ?",
			&SelectStmt{Table: tbl("t"), Star: true, Where: []Relation{
				{Columns: []string{"k"}, Token: true, Op: OpGte, Value: &FuncCall{Name: "token", Args: []Term{qm(0)}}},
				{Columns: []string{"k"}, Token: true, Op: OpLt, Value: qm(1)},
			}}, 2},
		{"parenthesised relation", "SELECT * FROM t WHERE (a = 1) AND ((b) = (2)) AND (c) IN (?)",
			&SelectStmt{Table: tbl("t"), Star: true, Where: []Relation{
				eq("a", intLit("1")),
				{Columns: []string{"b"}, Op: OpEq, Value: &TupleLit{Elems: []Term{intLit("2")}}},
				{Columns: []string{"c"}, Op: OpIn, In: []Term{qm(0)}},
			}}, 1},
		{"tuple markers", "SELECT * FROM t WHERE (a, b) = ? AND (a, b) IN ? AND (a, b) IN (?, ?) AND (a, b) IN ()",
			&SelectStmt{Table: tbl("t"), Star: true, Where: []Relation{
				{Columns: []string{"a", "b"}, Op: OpEq, Value: qm(0)},
				{Columns: []string{"a", "b"}, Op: OpIn, Value: qm(1)},
				{Columns: []string{"a", "b"}, Op: OpIn, In: []Term{qm(2), qm(3)}},
				{Columns: []string{"a", "b"}, Op: OpIn, In: []Term{}},
			}}, 4},
		{"cdc time range", `SELECT "cdc$stream_id", "cdc$time" FROM ks.t_scylla_cdc_log WHERE "cdc$stream_id" IN (?, ?) AND "cdc$time" > ? AND "cdc$time" <= ? PER PARTITION LIMIT 1 BYPASS CACHE`,
			&SelectStmt{Table: kst("ks", "t_scylla_cdc_log"), Selectors: []Selector{sel(colRef("cdc$stream_id")), sel(colRef("cdc$time"))},
				Where: []Relation{
					{Columns: []string{"cdc$stream_id"}, Op: OpIn, In: []Term{qm(0), qm(1)}},
					{Columns: []string{"cdc$time"}, Op: OpGt, Value: qm(2)},
					{Columns: []string{"cdc$time"}, Op: OpLte, Value: qm(3)},
				},
				PerPartitionLimit: intLit("1"), BypassCache: true}, 4},
		{"nested cast selector", "SELECT CAST(writetime(v) AS bigint) AS w, cast(CAST(x AS int) AS text) FROM t",
			&SelectStmt{Table: tbl("t"), Selectors: []Selector{
				{Expr: &SelectCast{Expr: &SelectFunc{Name: "writetime", Args: []SelectExpr{colRef("v")}}, Type: "bigint"}, Alias: "w"},
				sel(&SelectCast{Expr: &SelectCast{Expr: colRef("x"), Type: "int"}, Type: "text"}),
			}}, 0},
		{"where value functions", "SELECT * FROM t WHERE t > maxTimeuuid('2013-01-01 00:05+0000') AND t < minTimeuuid(?) AND u = (int)?",
			&SelectStmt{Table: tbl("t"), Star: true, Where: []Relation{
				{Columns: []string{"t"}, Op: OpGt, Value: &FuncCall{Name: "maxtimeuuid", Args: []Term{strLit("2013-01-01 00:05+0000")}}},
				{Columns: []string{"t"}, Op: OpLt, Value: &FuncCall{Name: "mintimeuuid", Args: []Term{qm(0)}}},
				{Columns: []string{"u"}, Op: OpEq, Value: &Cast{Type: "int", Term: qm(1)}},
			}}, 2},
		{"limit marker named", "SELECT a FROM t LIMIT :lim", &SelectStmt{Table: tbl("t"), Selectors: []Selector{sel(colRef("a"))}, Limit: named(0, "lim")}, 1},
		{"comments and case", "-- leading\nSeLeCt /* inline */ A FrOm T // trailing", &SelectStmt{Table: tbl("t"), Selectors: []Selector{sel(colRef("a"))}}, 0},
		{"multiline", "SELECT durable_writes, replication\n\t\tFROM system_schema.keyspaces\n\t\tWHERE keyspace_name = ?",
			&SelectStmt{Table: kst("system_schema", "keyspaces"), Selectors: []Selector{sel(colRef("durable_writes")), sel(colRef("replication"))},
				Where: []Relation{eq("keyspace_name", qm(0))}}, 1},
	})
}

// checkMarkers asserts the invariants Parse promises about bind markers:
// Markers[i].Index == i, and every marker in the AST is one of Markers
// (same pointer, at its own index) and vice versa.
func checkMarkers(t testing.TB, p *Parsed) {
	t.Helper()
	for i, m := range p.Markers {
		if m == nil || m.Index != i {
			t.Fatalf("Markers[%d] = %+v", i, m)
		}
	}
	var found []*Marker
	walkStmt(p.Stmt, func(m *Marker) { found = append(found, m) })
	if len(found) != len(p.Markers) {
		t.Fatalf("AST holds %d markers, Parsed.Markers has %d", len(found), len(p.Markers))
	}
	seen := make(map[*Marker]bool)
	for _, m := range found {
		if m.Index < 0 || m.Index >= len(p.Markers) || p.Markers[m.Index] != m || seen[m] {
			t.Fatalf("AST marker %+v is not Parsed.Markers[%d]", m, m.Index)
		}
		seen[m] = true
	}
}

func walkStmt(s Statement, f func(*Marker)) {
	using := func(u Using) { walkTerm(u.TTL, f); walkTerm(u.Timestamp, f); walkTerm(u.Timeout, f) }
	rels := func(rs []Relation) {
		for _, r := range rs {
			walkTerm(r.Key, f)
			walkTerm(r.Value, f)
			walkTerms(r.In, f)
		}
	}
	conds := func(cs []Condition) {
		for _, c := range cs {
			walkTerm(c.Key, f)
			walkTerm(c.Value, f)
			walkTerms(c.In, f)
		}
	}
	props := func(ps []Property) {
		for _, p := range ps {
			walkTerm(p.Value, f)
		}
	}
	switch s := s.(type) {
	case *InsertStmt:
		walkTerms(s.Values, f)
		walkTerm(s.JSON, f)
		using(s.Using)
	case *UpdateStmt:
		using(s.Using)
		for _, a := range s.Set {
			walkTerm(a.Key, f)
			walkTerm(a.Value, f)
		}
		rels(s.Where)
		conds(s.Conditions)
	case *DeleteStmt:
		for _, c := range s.Columns {
			walkTerm(c.Key, f)
		}
		using(s.Using)
		rels(s.Where)
		conds(s.Conditions)
	case *BatchStmt:
		using(s.Using)
		for _, st := range s.Statements {
			walkStmt(st, f)
		}
	case *SelectStmt:
		for _, sl := range s.Selectors {
			walkSel(sl.Expr, f)
		}
		rels(s.Where)
		walkTerm(s.PerPartitionLimit, f)
		walkTerm(s.Limit, f)
		using(s.Using)
	case *TruncateStmt:
		using(s.Using)
	case *CreateKeyspaceStmt:
		props(s.Properties)
	case *CreateTableStmt:
		props(s.Properties)
	case *AlterTableStmt:
		props(s.Properties)
	}
}

func walkSel(e SelectExpr, f func(*Marker)) {
	switch e := e.(type) {
	case *SelectFunc:
		for _, a := range e.Args {
			walkSel(a, f)
		}
	case *SelectCast:
		walkSel(e.Expr, f)
	case *SelectField:
		walkSel(e.Expr, f)
	}
}

func walkTerms(ts []Term, f func(*Marker)) {
	for _, t := range ts {
		walkTerm(t, f)
	}
}

func walkTerm(t Term, f func(*Marker)) {
	switch t := t.(type) {
	case *Marker:
		f(t)
	case *ListLit:
		walkTerms(t.Elems, f)
	case *SetLit:
		walkTerms(t.Elems, f)
	case *TupleLit:
		walkTerms(t.Elems, f)
	case *MapLit:
		walkTerms(t.Keys, f)
		walkTerms(t.Values, f)
	case *UserTypeLit:
		walkTerms(t.Values, f)
	case *FuncCall:
		walkTerms(t.Args, f)
	case *Cast:
		walkTerm(t.Term, f)
	}
}

func TestMarkerOrderAcrossBatch(t *testing.T) {
	p, err := Parse("BEGIN BATCH USING TIMESTAMP ? UPDATE t USING TTL ? SET a = ? WHERE k IN (?, ?) IF b = ?; INSERT INTO t (k, a) VALUES (:k, :a) USING TTL :ttl; APPLY BATCH")
	if err != nil {
		t.Fatal(err)
	}
	b := p.Stmt.(*BatchStmt)
	up := b.Statements[0].(*UpdateStmt)
	ins := b.Statements[1].(*InsertStmt)
	want := []*Marker{b.Using.Timestamp.(*Marker), up.Using.TTL.(*Marker), up.Set[0].Value.(*Marker),
		up.Where[0].In[0].(*Marker), up.Where[0].In[1].(*Marker), up.Conditions[0].Value.(*Marker),
		ins.Values[0].(*Marker), ins.Values[1].(*Marker), ins.Using.TTL.(*Marker)}
	if len(p.Markers) != len(want) {
		t.Fatalf("%d markers, want %d", len(p.Markers), len(want))
	}
	for i := range want {
		if p.Markers[i] != want[i] || want[i].Index != i {
			t.Errorf("marker %d out of order: %+v", i, p.Markers[i])
		}
	}
	if got := []string{p.Markers[6].Name, p.Markers[7].Name, p.Markers[8].Name}; !reflect.DeepEqual(got, []string{"k", "a", "ttl"}) {
		t.Errorf("names = %v", got)
	}
}

// TestBacktrackingDropsMarkers covers the SELECT JSON/DISTINCT retry: the
// failed first reading must not leave markers behind.
func TestBacktrackingDropsMarkers(t *testing.T) {
	p, err := Parse("SELECT DISTINCT FROM t WHERE a = ? AND b = ?")
	if err != nil {
		t.Fatal(err)
	}
	s := p.Stmt.(*SelectStmt)
	if s.Distinct || len(s.Selectors) != 1 || len(p.Markers) != 2 {
		t.Fatalf("got %s with %d markers", dump(s), len(p.Markers))
	}
	checkMarkers(t, p)
}

func TestNestingLimit(t *testing.T) {
	deep := "SELECT * FROM t WHERE a = "
	for i := 0; i < 100; i++ {
		deep += "["
	}
	if _, err := Parse(deep); err == nil {
		t.Fatal("deeply nested literal parsed")
	} else if se, ok := err.(*SyntaxError); !ok || se.Msg != "expression nested too deeply" {
		t.Fatalf("err = %v", err)
	}
	ok := "INSERT INTO t (a) VALUES ([[[[[[[[[[1]]]]]]]]]])"
	if _, err := Parse(ok); err != nil {
		t.Fatalf("Parse(%q): %v", ok, err)
	}
	typ := "CREATE TABLE t (a int PRIMARY KEY, b frozen<list<frozen<list<frozen<list<frozen<map<int, frozen<set<int>>>>>>>>>>)"
	if _, err := Parse(typ); err != nil {
		t.Fatalf("Parse(%q): %v", typ, err)
	}
}

func TestParseUserTypeSyntax(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Statement
	}{
		{"create type", `CREATE TYPE IF NOT EXISTS ks.addr (street text, tags frozen<set<text>>)`,
			&CreateTypeStmt{Name: TableName{Keyspace: "ks", Name: "addr"}, IfNotExists: true,
				Fields: []ColumnDef{{Name: "street", Type: "text"}, {Name: "tags", Type: "frozen<set<text>>"}}}},
		{"alter type add", `ALTER TYPE addr ADD zip int`,
			&AlterTypeStmt{Name: TableName{Name: "addr"}, Add: &ColumnDef{Name: "zip", Type: "int"}}},
		{"alter type rename", `ALTER TYPE addr RENAME a TO b AND c TO d`,
			&AlterTypeStmt{Name: TableName{Name: "addr"}, Renames: [][2]string{{"a", "b"}, {"c", "d"}}}},
		{"alter type field type", `ALTER TYPE addr ALTER a TYPE blob`,
			&AlterTypeStmt{Name: TableName{Name: "addr"}, AlterField: &ColumnDef{Name: "a", Type: "blob"}}},
		{"drop type", `DROP TYPE IF EXISTS ks.addr`, &DropTypeStmt{Name: TableName{Keyspace: "ks", Name: "addr"}, IfExists: true}},
		{"udt literal", `INSERT INTO t (k, u) VALUES (1, {a: 1, "B": ?})`,
			&InsertStmt{Table: tbl("t"), Columns: []string{"k", "u"}, Values: []Term{intLit("1"),
				&UserTypeLit{Fields: []string{"a", "B"}, Values: []Term{intLit("1"), qm(0)}}}}},
		{"list cell by timeuuid", `UPDATE t SET l[SCYLLA_TIMEUUID_LIST_INDEX(?)] = ? WHERE k = ?`,
			&UpdateStmt{Table: tbl("t"), Set: []Assignment{{Column: "l", Op: AssignElement,
				Key: &FuncCall{Name: "scylla_timeuuid_list_index", Args: []Term{qm(0)}}, Value: qm(1)}},
				Where: []Relation{{Columns: []string{"k"}, Value: qm(2)}}}},
		{"field selection", `SELECT u.a AS x FROM t`,
			&SelectStmt{Table: tbl("t"), Selectors: []Selector{{Expr: &SelectField{Expr: &ColumnRef{Name: "u"}, Field: "a"}, Alias: "x"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			checkMarkers(t, p)
			if !reflect.DeepEqual(p.Stmt, tc.want) {
				t.Fatalf("got %#v\nwant %#v", p.Stmt, tc.want)
			}
		})
	}
}
