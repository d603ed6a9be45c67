package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Pre-encoded [option]s standing in for what the type system produces.
var (
	tInt     = []byte{0, 0x09}
	tText    = []byte{0, 0x0D}
	tListInt = []byte{0, 0x20, 0, 0x09}
	tMapTB   = []byte{0, 0x21, 0, 0x0D, 0, 0x03}
	tUDT     = append(append([]byte{0, 0x30}, AppendString(AppendString(nil, "ks"), "addr")...), 0, 1, 0, 1, 'z', 0, 0x09)
	tTuple   = []byte{0, 0x31, 0, 2, 0, 0x09, 0, 0x0D}
	tCustom  = AppendString([]byte{0, 0}, "org.apache.cassandra.db.marshal.DurationType")
)

// frameAndParse wraps body in a response frame, then parses it the way gocql
// would (header, then body).
func frameAndParse(t *testing.T, op byte, body []byte) gResponse {
	t.Helper()
	fr := AppendFrame(nil, 4, 0, 17, op, body)
	h, b, err := gReadHeader(fr)
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	if h.version != 0x84 || h.stream != 17 || h.op != op || h.flags != 0 {
		t.Fatalf("header %+v", h)
	}
	r, err := gParse(op, b)
	if err != nil {
		t.Fatalf("parse %x: %v", body, err)
	}
	return r
}

func TestAppendErrors(t *testing.T) {
	id := []byte{0xca, 0xfe}
	tests := []struct {
		name  string
		body  []byte
		code  int32
		msg   string
		extra []any
	}{
		{"plain", AppendError(nil, Invalid, "bad"), Invalid, "bad", nil},
		{"protocol", AppendError(nil, ProtocolError, "no"), ProtocolError, "no", nil},
		{"unavailable", AppendUnavailableError(nil, "u", ConsistencyQuorum, 2, 1), Unavailable, "u", []any{ConsistencyQuorum, 2, 1}},
		{"write timeout", AppendWriteTimeoutError(nil, "wt", 1, 0, 1, WriteTypeBatchLog), WriteTimeout, "wt", []any{uint16(1), 0, 1, "BATCH_LOG"}},
		{"read timeout", AppendReadTimeoutError(nil, "rt", 1, 0, 1, true), ReadTimeout, "rt", []any{uint16(1), 0, 1, byte(1)}},
		{"read failure", AppendReadFailureError(nil, "rf", 1, 0, 1, 1, false), ReadFailure, "rf", []any{uint16(1), 0, 1, 1, false}},
		{"write failure", AppendWriteFailureError(nil, "wf", 6, 1, 2, 1, WriteTypeSimple), WriteFailure, "wf", []any{uint16(6), 1, 2, 1, "SIMPLE"}},
		{"function failure", AppendFunctionFailureError(nil, "ff", "ks", "fn", []string{"int", "text"}), FunctionFailure, "ff", []any{"ks", "fn", []string{"int", "text"}}},
		{"already exists", AppendAlreadyExistsError(nil, "ae", "ks", "t"), AlreadyExists, "ae", []any{"ks", "t"}},
		{"already exists keyspace", AppendAlreadyExistsError(nil, "ae", "ks", ""), AlreadyExists, "ae", []any{"ks", ""}},
		{"unprepared", AppendUnpreparedError(nil, "up", id), Unprepared, "up", []any{id}},
		// AppendError pads the shaped codes with zero extras so they parse.
		{"zero unavailable", AppendError(nil, Unavailable, "z"), Unavailable, "z", []any{uint16(0), 0, 0}},
		{"zero write timeout", AppendError(nil, WriteTimeout, "z"), WriteTimeout, "z", []any{uint16(0), 0, 0, "SIMPLE"}},
		{"zero read timeout", AppendError(nil, ReadTimeout, "z"), ReadTimeout, "z", []any{uint16(0), 0, 0, byte(0)}},
		{"zero read failure", AppendError(nil, ReadFailure, "z"), ReadFailure, "z", []any{uint16(0), 0, 0, 0, false}},
		{"zero write failure", AppendError(nil, WriteFailure, "z"), WriteFailure, "z", []any{uint16(0), 0, 0, 0, "SIMPLE"}},
		{"zero function failure", AppendError(nil, FunctionFailure, "z"), FunctionFailure, "z", []any{"", "", []string{}}},
		{"zero already exists", AppendError(nil, AlreadyExists, "z"), AlreadyExists, "z", []any{"", ""}},
		{"zero unprepared", AppendError(nil, Unprepared, "z"), Unprepared, "z", []any{[]byte{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := frameAndParse(t, OpError, tt.body)
			if int32(r.code) != tt.code || r.message != tt.msg || !reflect.DeepEqual(r.extra, tt.extra) {
				t.Fatalf("got code %#x msg %q extra %#v, want %#x %q %#v", r.code, r.message, r.extra, tt.code, tt.msg, tt.extra)
			}
		})
	}

	// Oversized messages are truncated at a rune boundary, never wrapped.
	long := strings.Repeat("é", 40000) // 80000 bytes
	r := frameAndParse(t, OpError, AppendError(nil, ServerError, long))
	if len(r.message) > 65535 || !utf8.ValidString(r.message) || !strings.HasPrefix(long, r.message) || len(r.message) < 65530 {
		t.Fatalf("truncated message: %d bytes, valid=%v", len(r.message), utf8.ValidString(r.message))
	}
}

func TestAppendConnectionResponses(t *testing.T) {
	if b := AppendReady([]byte("x")); string(b) != "x" {
		t.Fatalf("READY body must be empty, appended %q", b[1:])
	}
	frameAndParse(t, OpReady, AppendReady(nil))

	opts := map[string][]string{
		"CQL_VERSION":                   {"3.0.0"},
		"COMPRESSION":                   {},
		"SCYLLA_LWT_ADD_METADATA_MARK":  {"LWT_OPTIMIZATION_META_BIT_MASK=2147483648"},
		"SCYLLA_SHARDING_IGNORE_MSB":    {"12"},
		"PROTOCOL_VERSIONS":             {"4/v4"},
		"SCYLLA_NR_SHARDS":              {"1"},
		"SCYLLA_PARTITIONER":            {"org.apache.cassandra.dht.Murmur3Partitioner"},
		"SCYLLA_SHARD":                  {"0"},
		"SCYLLA_SHARDING_ALGORITHM":     {"biased-token-round-robin"},
		"SCYLLA_RATE_LIMIT_ERROR":       {"ERROR_CODE=61440"},
		"TABLETS_ROUTING_V1":            {""},
		"SCYLLA_USE_METADATA_ID":        nil,
		"A_KEY_WITH_SEVERAL_VALUES_XYZ": {"a", "b", "c"},
	}
	body := AppendSupported(nil, opts)
	r := frameAndParse(t, OpSupported, body)
	for k, v := range opts {
		if len(v) == 0 {
			v = []string{}
		}
		if !reflect.DeepEqual(r.supp[k], v) {
			t.Errorf("SUPPORTED %s = %q, want %q", k, r.supp[k], v)
		}
	}
	for range 5 { // deterministic despite map iteration order
		if !bytes.Equal(AppendSupported(nil, opts), body) {
			t.Fatal("SUPPORTED encoding is not deterministic")
		}
	}

	if r := frameAndParse(t, OpAuthenticate, AppendAuthenticate(nil, "org.apache.cassandra.auth.PasswordAuthenticator")); r.class != "org.apache.cassandra.auth.PasswordAuthenticator" {
		t.Errorf("AUTHENTICATE %q", r.class)
	}
	if r := frameAndParse(t, OpAuthChallenge, AppendAuthChallenge(nil, []byte("nonce"))); string(r.token) != "nonce" {
		t.Errorf("AUTH_CHALLENGE %q", r.token)
	}
	if r := frameAndParse(t, OpAuthSuccess, AppendAuthSuccess(nil, nil)); r.token != nil {
		t.Errorf("AUTH_SUCCESS %q", r.token)
	}
}

func TestAppendResultsAndEvents(t *testing.T) {
	if r := frameAndParse(t, OpResult, AppendResultVoid(nil)); r.kind != 1 {
		t.Errorf("void kind %d", r.kind)
	}
	if r := frameAndParse(t, OpResult, AppendResultSetKeyspace(nil, "ks1")); r.kind != 3 || r.keyspace != "ks1" {
		t.Errorf("set keyspace %+v", r)
	}
	changes := []struct {
		target string
		want   []any
	}{
		{TargetKeyspace, []any{"CREATED", "KEYSPACE", "ks"}},
		{TargetTable, []any{"CREATED", "TABLE", "ks", "obj"}},
		{TargetType, []any{"CREATED", "TYPE", "ks", "obj"}},
		{TargetFunction, []any{"CREATED", "FUNCTION", "ks", "obj", []string{"int", "text"}}},
		{TargetAggregate, []any{"CREATED", "AGGREGATE", "ks", "obj", []string{"int", "text"}}},
	}
	for _, c := range changes {
		r := frameAndParse(t, OpResult, AppendResultSchemaChange(nil, ChangeCreated, c.target, "ks", "obj", []string{"int", "text"}))
		if r.kind != 5 || !reflect.DeepEqual(r.change, c.want) {
			t.Errorf("RESULT schema change %s: %#v", c.target, r.change)
		}
		r = frameAndParse(t, OpEvent, AppendEventSchemaChange(nil, ChangeCreated, c.target, "ks", "obj", []string{"int", "text"}))
		if r.event != "SCHEMA_CHANGE" || !reflect.DeepEqual(r.change, c.want) {
			t.Errorf("EVENT schema change %s: %#v", c.target, r.change)
		}
	}
	inets := []struct {
		addr netip.Addr
		want string
	}{
		{netip.MustParseAddr("127.0.0.1"), "127.0.0.1"},
		{netip.MustParseAddr("::ffff:10.0.0.2"), "10.0.0.2"},
		{netip.MustParseAddr("2001:db8::1"), "2001:db8::1"},
		{netip.Addr{}, "0.0.0.0"},
	}
	for _, in := range inets {
		r := frameAndParse(t, OpEvent, AppendEventStatusChange(nil, "UP", in.addr, 9042))
		if r.event != "STATUS_CHANGE" || !reflect.DeepEqual(r.change, []any{"UP", in.want, 9042}) {
			t.Errorf("STATUS_CHANGE %v: %#v", in.addr, r.change)
		}
		r = frameAndParse(t, OpEvent, AppendEventTopologyChange(nil, "NEW_NODE", in.addr, 19042))
		if r.event != "TOPOLOGY_CHANGE" || !reflect.DeepEqual(r.change, []any{"NEW_NODE", in.want, 19042}) {
			t.Errorf("TOPOLOGY_CHANGE %v: %#v", in.addr, r.change)
		}
		// Our own Reader reads it back too.
		rd := NewReader(AppendInet(nil, in.addr, 7))
		if a, p := rd.Inet(); rd.Err() != nil || a.String() != in.want || p != 7 {
			t.Errorf("Reader.Inet %v: %v %d %v", in.addr, a, p, rd.Err())
		}
	}
}

func TestAppendRows(t *testing.T) {
	global := []ColumnSpec{
		{"ks", "t", "k", tText}, {"ks", "t", "v", tInt}, {"ks", "t", "l", tListInt},
		{"ks", "t", "m", tMapTB}, {"ks", "t", "u", tUDT}, {"ks", "t", "tu", tTuple}, {"ks", "t", "d", tCustom},
	}
	mixed := []ColumnSpec{{"ks", "t1", "a", tInt}, {"ks", "t2", "b", tText}}
	tests := []struct {
		name      string
		md        RowsMetadata
		flags     int
		wantCols  bool
		wantPages []byte
	}{
		{"global", RowsMetadata{Columns: global}, 0x1, true, nil},
		{"mixed tables", RowsMetadata{Columns: mixed}, 0x0, true, nil},
		{"paging", RowsMetadata{Columns: mixed, PagingState: []byte("next")}, 0x2, true, []byte("next")},
		{"no metadata", RowsMetadata{Columns: global, NoMetadata: true}, 0x4, false, nil},
		{"no metadata + paging", RowsMetadata{Columns: global, NoMetadata: true, PagingState: []byte{1}}, 0x6, false, []byte{1}},
		{"zero columns", RowsMetadata{}, 0x0, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ncol := len(tt.md.Columns)
			rows := [][][]byte{}
			for i := range 3 {
				row := make([][]byte, ncol)
				for c := range row {
					switch c % 3 {
					case 0:
						row[c] = []byte{byte(i), byte(c)}
					case 1:
						row[c] = nil // null
					case 2:
						row[c] = []byte{} // empty, not null
					}
				}
				rows = append(rows, row)
			}
			body := AppendRowsHeader([]byte("keep"), tt.md, len(rows))[4:]
			for _, row := range rows {
				for _, cell := range row {
					body = AppendCell(body, cell)
				}
			}
			r := frameAndParse(t, OpResult, body)
			if r.kind != 2 || r.rows.flags != tt.flags || r.rows.colCount != ncol || r.numRows != 3 || !bytes.Equal(r.rows.pagingState, tt.wantPages) {
				t.Fatalf("meta %+v rows %d", r.rows, r.numRows)
			}
			if tt.wantCols {
				for i, c := range tt.md.Columns {
					g := r.rows.columns[i]
					if g.Keyspace != c.Keyspace || g.Table != c.Table || g.Name != c.Name || !bytes.Equal(g.Type, c.Type) {
						t.Errorf("column %d: got %+v want %+v", i, g, c)
					}
				}
			} else if r.rows.columns != nil {
				t.Errorf("columns sent despite NoMetadata")
			}
			got, err := gRows(r.rowData, r.numRows, ncol)
			if err != nil {
				t.Fatal(err)
			}
			if ncol > 0 && !reflect.DeepEqual(got, rows) {
				t.Errorf("rows\n got %v\nwant %v", got, rows)
			}
		})
	}

	// Patching rows_count after streaming rows.
	b := AppendRowsHeader(nil, RowsMetadata{Columns: mixed}, 0)
	end := len(b)
	b = AppendCell(AppendCell(b, []byte{0, 0, 0, 1}), []byte("x"))
	PutInt(b[end-4:], 1)
	if r := frameAndParse(t, OpResult, b); r.numRows != 1 {
		t.Fatalf("patched rows_count %d", r.numRows)
	}
}

func TestAppendResultPrepared(t *testing.T) {
	id := bytes.Repeat([]byte{0xab}, 16)
	bind := RowsMetadata{Columns: []ColumnSpec{{"ks", "t", "pk2", tInt}, {"ks", "t", "pk1", tText}, {"ks", "t", "v", tListInt}}}
	result := RowsMetadata{Columns: []ColumnSpec{{"ks", "t", "v", tListInt}}}

	t.Run("select", func(t *testing.T) {
		r := frameAndParse(t, OpResult, AppendResultPrepared(nil, id, bind, []uint16{1, 0}, result))
		if r.kind != 4 || !bytes.Equal(r.prepID, id) {
			t.Fatalf("%+v", r)
		}
		if r.reqMeta.flags != 1 || r.reqMeta.colCount != 3 || !reflect.DeepEqual(r.reqMeta.pkeyColumns, []int{1, 0}) ||
			r.reqMeta.keyspace != "ks" || r.reqMeta.table != "t" || len(r.reqMeta.columns) != 3 || r.reqMeta.columns[1].Name != "pk1" {
			t.Errorf("bind metadata %+v", r.reqMeta)
		}
		if r.respMeta.flags != 1 || r.respMeta.colCount != 1 || r.respMeta.columns[0].Name != "v" || !bytes.Equal(r.respMeta.columns[0].Type, tListInt) {
			t.Errorf("result metadata %+v", r.respMeta)
		}
	})
	t.Run("insert, no result columns, scylla lwt bit", func(t *testing.T) {
		lwt := bind
		lwt.ExtraFlags = -0x80000000 // LWT_OPTIMIZATION_META_BIT_MASK=2147483648
		lwt.NoMetadata = true        // ignored for bind metadata
		r := frameAndParse(t, OpResult, AppendResultPrepared(nil, id, lwt, nil, RowsMetadata{}))
		if uint32(r.reqMeta.flags) != 0x80000001 || len(r.reqMeta.columns) != 3 || len(r.reqMeta.pkeyColumns) != 0 {
			t.Errorf("bind metadata %+v", r.reqMeta)
		}
		if r.respMeta.flags != 4 || r.respMeta.colCount != 0 {
			t.Errorf("result metadata should be No_metadata/0 columns: %+v", r.respMeta)
		}
	})
	t.Run("no bind markers, mixed result tables", func(t *testing.T) {
		res := RowsMetadata{Columns: []ColumnSpec{{"a", "b", "c", tInt}, {"a", "x", "d", tInt}}, PagingState: []byte("ignored")}
		r := frameAndParse(t, OpResult, AppendResultPrepared(nil, id, RowsMetadata{}, nil, res))
		if r.reqMeta.flags != 0 || r.reqMeta.colCount != 0 || r.respMeta.flags != 0 || r.respMeta.columns[1].Table != "x" {
			t.Errorf("%+v / %+v", r.reqMeta, r.respMeta)
		}
	})
}

func TestAppendAllocs(t *testing.T) {
	md := RowsMetadata{Columns: []ColumnSpec{{"ks", "t", "k", tText}, {"ks", "t", "v", tInt}}}
	dst := make([]byte, 0, 4096)
	cell := []byte{0, 0, 0, 1}
	a := testing.AllocsPerRun(100, func() {
		b := StartFrame(dst[:0], 4, 0, 1, OpResult)
		b = AppendRowsHeader(b, md, 10)
		for range 10 {
			b = AppendCell(AppendCell(b, cell), cell)
		}
		FinishFrame(b)
		b = AppendError(b, Invalid, "x")
		_ = AppendResultPrepared(b, cell, md, []uint16{0}, md) // only its allocations are measured
	})
	if a != 0 {
		t.Fatalf("encoding into a big-enough buffer allocates %v times", a)
	}
}
