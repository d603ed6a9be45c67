package wire

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

// bodyOf runs a gocql-built frame through ReadFrame and returns the body.
func bodyOf(t testing.TB, frame []byte) []byte {
	t.Helper()
	_, body, err := ReadFrame(bytes.NewReader(frame), nil, 0)
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	return body
}

func val(s string) Value { return Value{Bytes: []byte(s)} }

func TestDecodeQueryExecute(t *testing.T) {
	tests := []struct {
		name string
		in   gQueryParams
		want QueryParams
	}{
		{
			name: "minimal",
			in:   gQueryParams{consistency: ConsistencyOne},
			want: QueryParams{Consistency: ConsistencyOne, SerialConsistency: ConsistencySerial},
		},
		{
			name: "gocql default: values + timestamp",
			in: gQueryParams{consistency: ConsistencyLocalQuorum, defaultTimestamp: true, defaultTimestampValue: 1700000000123456,
				values: []gValue{{value: []byte{0, 0, 0, 42}}, {value: []byte("text")}}},
			want: QueryParams{Consistency: ConsistencyLocalQuorum, Flags: 0x21, SerialConsistency: ConsistencySerial,
				Values: []Value{{Bytes: []byte{0, 0, 0, 42}}, val("text")}, Timestamp: 1700000000123456, HasTimestamp: true},
		},
		{
			name: "null, unset and empty values",
			in:   gQueryParams{consistency: 1, values: []gValue{{value: nil}, {isUnset: true}, {value: []byte{}}}},
			want: QueryParams{Consistency: 1, Flags: 0x01, SerialConsistency: ConsistencySerial,
				Values: []Value{{Null: true}, {Unset: true}, {Bytes: []byte{}}}},
		},
		{
			name: "everything",
			in: gQueryParams{consistency: ConsistencyQuorum, skipMeta: true, pageSize: 5000, pagingState: []byte("page"),
				serialConsistency: ConsistencyLocalSerial, defaultTimestamp: true, defaultTimestampValue: -5,
				values: []gValue{{name: "a", value: []byte("1")}, {name: "b", isUnset: true}}},
			want: QueryParams{Consistency: ConsistencyQuorum, Flags: 0x7f, SkipMetadata: true, PageSize: 5000,
				PagingState: []byte("page"), SerialConsistency: ConsistencyLocalSerial, Timestamp: -5, HasTimestamp: true,
				Values: []Value{val("1"), {Unset: true}}, Names: []string{"a", "b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGFramer()
			qb := bodyOf(t, f.queryFrame(1, "SELECT * FROM ks.t WHERE k = ?", &tt.in, nil))
			q, p, err := DecodeQuery(qb)
			if err != nil {
				t.Fatal(err)
			}
			if q != "SELECT * FROM ks.t WHERE k = ?" {
				t.Errorf("query %q", q)
			}
			if !reflect.DeepEqual(p, tt.want) {
				t.Errorf("QUERY params\n got %+v\nwant %+v", p, tt.want)
			}

			id := []byte{0xde, 0xad, 0xbe, 0xef}
			eb := bodyOf(t, f.executeFrame(1, id, &tt.in, nil))
			gotID, p, err := DecodeExecute(eb)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotID, id) {
				t.Errorf("id %x", gotID)
			}
			if !reflect.DeepEqual(p, tt.want) {
				t.Errorf("EXECUTE params\n got %+v\nwant %+v", p, tt.want)
			}
			// Values alias the body rather than copying it.
			if len(p.Values) > 0 && p.Values[0].Bytes != nil && len(p.Values[0].Bytes) > 0 {
				p.Values[0].Bytes[0] ^= 0xff
				if bytes.Equal(eb, bodyOf(t, f.executeFrame(1, id, &tt.in, nil))) {
					t.Error("value does not alias the body")
				}
			}
			// Every proper prefix is malformed, and fails cleanly.
			for n := range len(eb) {
				if _, _, err := DecodeExecute(eb[:n]); !isDecodeError(err) {
					t.Fatalf("prefix %d/%d: want *DecodeError, got %v", n, len(eb), err)
				}
			}
		})
	}
}

func isDecodeError(err error) bool {
	var de *DecodeError
	return errors.As(err, &de)
}

func TestDecodeExecuteIntoReuse(t *testing.T) {
	f := newGFramer()
	three := bodyOf(t, f.executeFrame(1, []byte("id1"), &gQueryParams{consistency: 1,
		values: []gValue{{name: "x", value: []byte("a")}, {name: "y", value: []byte("b")}, {name: "z", value: []byte("c")}}}, nil))
	one := bodyOf(t, f.executeFrame(1, []byte("id2"), &gQueryParams{consistency: 2, pageSize: 10,
		values: []gValue{{value: []byte("q")}}}, nil))

	var p QueryParams
	if _, err := DecodeExecuteInto(three, &p); err != nil || len(p.Values) != 3 || len(p.Names) != 3 {
		t.Fatalf("%v %+v", err, p)
	}
	id, err := DecodeExecuteInto(one, &p)
	if err != nil {
		t.Fatal(err)
	}
	want := QueryParams{Consistency: 2, Flags: 0x05, PageSize: 10, SerialConsistency: ConsistencySerial, Values: []Value{val("q")}}
	if string(id) != "id2" || len(p.Names) != 0 || p.PageSize != 10 || !reflect.DeepEqual(p.Values, want.Values) ||
		p.Consistency != 2 || p.Flags != 0x05 || p.HasTimestamp {
		t.Fatalf("stale state after reuse: %+v", p)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeExecuteInto(one, &p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("DecodeExecuteInto allocates %v times on reuse", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if _, _, err := DecodeExecute(one); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("DecodeExecute allocates %v times, want <= 1", allocs)
	}
	var qp QueryParams
	qb := bodyOf(t, f.queryFrame(1, "SELECT 1", &gQueryParams{consistency: 1, values: []gValue{{value: []byte("q")}}}, nil))
	cache := map[string]int{"SELECT 1": 1}
	allocs = testing.AllocsPerRun(100, func() {
		q, _ := DecodeQueryInto(qb, &qp)
		if cache[string(q)] != 1 {
			t.Fatal("cache miss")
		}
	})
	if allocs != 0 {
		t.Errorf("DecodeQueryInto + cache probe allocates %v times", allocs)
	}
}

func TestDecodeBatch(t *testing.T) {
	f := newGFramer()
	in := gBatch{
		typ:         BatchUnlogged,
		consistency: ConsistencyQuorum,
		statements: []gBatchStmt{
			{statement: "INSERT INTO t (k, v) VALUES (?, ?)", values: []gValue{{value: []byte("k1")}, {value: nil}}},
			{preparedID: []byte{1, 2, 3, 4}, values: []gValue{{isUnset: true}}},
			{preparedID: []byte{9}},
			{statement: "DELETE FROM t WHERE k = 'x'"},
			{preparedID: []byte{5}, values: []gValue{{value: []byte{}}, {value: []byte("z")}}},
		},
		serialConsistency: ConsistencyLocalSerial,
		defaultTimestamp:  true, defaultTimestampValue: 42,
	}
	body := bodyOf(t, f.batchFrame(3, &in, map[string][]byte{"p": []byte("x")}))
	b, err := DecodeBatch(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []BatchChild{
		{Query: "INSERT INTO t (k, v) VALUES (?, ?)", Values: []Value{val("k1"), {Null: true}}},
		{ID: []byte{1, 2, 3, 4}, Values: []Value{{Unset: true}}},
		{ID: []byte{9}},
		{Query: "DELETE FROM t WHERE k = 'x'"},
		{ID: []byte{5}, Values: []Value{{Bytes: []byte{}}, val("z")}},
	}
	if b.Type != BatchUnlogged || b.Consistency != ConsistencyQuorum || b.Flags != 0x30 ||
		b.SerialConsistency != ConsistencyLocalSerial || !b.HasTimestamp || b.Timestamp != 42 {
		t.Errorf("batch header %+v", b)
	}
	if !reflect.DeepEqual(b.Children, want) {
		t.Errorf("children\n got %+v\nwant %+v", b.Children, want)
	}
	// Children's value windows are capped: appending to one can't clobber the next.
	b.Children[0].Values = append(b.Children[0].Values, val("extra"))
	if !reflect.DeepEqual(b.Children[1].Values, want[1].Values) {
		t.Error("append to child 0 overwrote child 1")
	}
	for n := range len(body) {
		if _, err := DecodeBatch(body[:n]); !isDecodeError(err) {
			t.Fatalf("prefix %d/%d: want *DecodeError, got %v", n, len(body), err)
		}
	}

	// Reuse: a smaller batch into the same struct, then no allocations.
	small := bodyOf(t, f.batchFrame(3, &gBatch{typ: BatchLogged, consistency: 1,
		statements: []gBatchStmt{{preparedID: []byte{7}, values: []gValue{{value: []byte("a")}}}}}, nil))
	if err := DecodeBatchInto(small, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Children) != 1 || b.HasTimestamp || b.SerialConsistency != ConsistencySerial ||
		!reflect.DeepEqual(b.Children[0], BatchChild{ID: []byte{7}, Values: []Value{val("a")}}) {
		t.Fatalf("after reuse: %+v", b)
	}
	a := testing.AllocsPerRun(100, func() {
		if err := DecodeBatchInto(small, &b); err != nil {
			t.Fatal(err)
		}
	})
	if a != 0 {
		t.Errorf("DecodeBatchInto allocates %v times on reuse", a)
	}
}

func TestDecodeSimple(t *testing.T) {
	f := newGFramer()
	m, err := DecodeStartup(bodyOf(t, f.startupFrame(0, "CQL_VERSION", "3.0.0", "DRIVER_NAME", "ScyllaDB GoCQL Driver", "DRIVER_VERSION", "v1.17.0")))
	if err != nil || !reflect.DeepEqual(m, map[string]string{"CQL_VERSION": "3.0.0", "DRIVER_NAME": "ScyllaDB GoCQL Driver", "DRIVER_VERSION": "v1.17.0"}) {
		t.Errorf("STARTUP: %v %v", m, err)
	}
	if m, err := DecodeStartup(bodyOf(t, f.startupFrame(0))); err != nil || len(m) != 0 {
		t.Errorf("empty STARTUP: %v %v", m, err)
	}
	ev, err := DecodeRegister(bodyOf(t, f.registerFrame(0, []string{"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"})))
	if err != nil || !reflect.DeepEqual(ev, []string{"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"}) {
		t.Errorf("REGISTER: %v %v", ev, err)
	}
	q, err := DecodePrepare(bodyOf(t, f.prepareFrame(0, "INSERT INTO ks.t (a) VALUES (?)")))
	if err != nil || q != "INSERT INTO ks.t (a) VALUES (?)" {
		t.Errorf("PREPARE: %q %v", q, err)
	}
	tok, err := DecodeAuthResponse(bodyOf(t, f.authResponseFrame(0, []byte("\x00cassandra\x00cassandra"))))
	if err != nil || string(tok) != "\x00cassandra\x00cassandra" {
		t.Errorf("AUTH_RESPONSE: %q %v", tok, err)
	}
	if tok, err := DecodeAuthResponse(bodyOf(t, f.authResponseFrame(0, nil))); err != nil || tok != nil {
		t.Errorf("null AUTH_RESPONSE: %q %v", tok, err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	// params builds <consistency><flags> followed by raw bytes.
	params := func(flags byte, rest ...byte) []byte { return append([]byte{0, 1, flags}, rest...) }
	exec := func(b []byte) error { _, _, err := DecodeExecute(append([]byte{0, 1, 7}, b...)); return err }
	query := func(b []byte) error { _, _, err := DecodeQuery(append([]byte{0, 0, 0, 1, 'q'}, b...)); return err }
	batch := func(b []byte) error { _, err := DecodeBatch(b); return err }
	ts := AppendLong(nil, math.MinInt64)

	tests := []struct {
		name   string
		decode func([]byte) error
		in     []byte
	}{
		{"value length -3", exec, params(0x01, 0, 1, 0xff, 0xff, 0xff, 0xfd)},
		{"forged value count", exec, params(0x01, 0xff, 0xff, 0, 0, 0, 0)},
		{"forged value length", exec, params(0x01, 0, 1, 0x7f, 0xff, 0xff, 0xff)},
		{"keyspace flag is v5-only", exec, params(0x80, 0, 2, 'k', 's')},
		{"MinInt64 timestamp", query, params(0x20, ts...)},
		{"negative long string", func(b []byte) error { _, err := DecodePrepare(b); return err }, []byte{0x80, 0, 0, 0}},
		{"forged query length", func(b []byte) error { _, _, err := DecodeQuery(b); return err }, []byte{0x7f, 0xff, 0xff, 0xff, 'q'}},
		{"empty EXECUTE", exec, nil},
		{"batch type 3", batch, []byte{3, 0, 0, 0, 1, 0}},
		{"batch kind 2", batch, []byte{0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 1, 0}},
		{"batch forged count", batch, []byte{0, 0xff, 0xff, 0, 1, 0}},
		{"batch names flag", batch, []byte{0, 0, 0, 0, 1, 0x40}},
		{"batch keyspace flag", batch, []byte{0, 0, 0, 0, 1, 0x80}},
		{"batch forged value count", batch, []byte{0, 0, 1, 1, 0, 0, 0xff, 0xff, 0, 1, 0}},
		{"startup forged count", func(b []byte) error { _, err := DecodeStartup(b); return err }, []byte{0xff, 0xff, 0, 0}},
		{"register forged count", func(b []byte) error { _, err := DecodeRegister(b); return err }, []byte{0xff, 0xff, 0, 0}},
		{"auth response short", func(b []byte) error { _, err := DecodeAuthResponse(b); return err }, []byte{0, 0, 0, 5, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(tt.in)
			if !isDecodeError(err) {
				t.Fatalf("want *DecodeError, got %v", err)
			}
			t.Log(err)
		})
	}

	// Trailing bytes are ignored (spec section 1: bodies may grow).
	if _, err := DecodePrepare([]byte{0, 0, 0, 1, 'q', 0xff}); err != nil {
		t.Errorf("trailing bytes rejected: %v", err)
	}
}

func TestReaderPrimitives(t *testing.T) {
	var b []byte
	b = append(b, 7)
	b = AppendShort(b, 0xfffe)
	b = AppendInt(b, -123456)
	b = AppendLong(b, math.MinInt64+1)
	b = AppendString(b, "héllo")
	b = AppendLongString(b, "long")
	b = AppendBytes(b, nil)
	b = AppendBytes(b, []byte{})
	b = AppendShortBytes(b, []byte{1, 2})
	b = AppendValue(b, Value{Unset: true})
	b = AppendValue(b, Value{Null: true})
	b = AppendValue(b, val("v"))
	b = AppendStringList(b, []string{"a", "", "c"})
	b = AppendStringMap(b, map[string]string{"z": "1", "a": "2"})

	r := NewReader(b)
	if r.Byte() != 7 || r.Short() != 0xfffe || r.Int() != -123456 || r.Long() != math.MinInt64+1 ||
		r.StringCopy() != "héllo" || r.LongStringCopy() != "long" {
		t.Fatalf("scalars: %v", r.Err())
	}
	if v := r.Bytes(); v != nil {
		t.Fatalf("null bytes = %v", v)
	}
	if v := r.Bytes(); v == nil || len(v) != 0 {
		t.Fatalf("empty bytes = %v", v)
	}
	if v := r.ShortBytes(); !bytes.Equal(v, []byte{1, 2}) {
		t.Fatalf("short bytes %v", v)
	}
	if v1, v2, v3 := r.Value(), r.Value(), r.Value(); !v1.Unset || v1.Null || !v2.Null || v2.Unset || string(v3.Bytes) != "v" {
		t.Fatal("values")
	}
	if l := r.StringList(); !reflect.DeepEqual(l, []string{"a", "", "c"}) {
		t.Fatalf("list %q", l)
	}
	if m := r.StringMap(); !reflect.DeepEqual(m, map[string]string{"z": "1", "a": "2"}) {
		t.Fatalf("map %v", m)
	}
	if r.Err() != nil || r.Len() != 0 || r.Offset() != len(b) {
		t.Fatalf("end: %v len %d off %d/%d", r.Err(), r.Len(), r.Offset(), len(b))
	}
	// Sticky error: the first failure wins and later reads return zero.
	r.Int()
	first := r.Err()
	if r.Short() != 0 || r.StringCopy() != "" || r.Err() != first || !isDecodeError(first) {
		t.Fatalf("sticky error broken: %v then %v", first, r.Err())
	}
	// [string map] keys are ordered, so encoding is deterministic.
	if !bytes.Equal(AppendStringMap(nil, map[string]string{"b": "", "a": ""}), []byte{0, 2, 0, 1, 'a', 0, 0, 0, 1, 'b', 0, 0}) {
		t.Fatal("string map key order")
	}
}
