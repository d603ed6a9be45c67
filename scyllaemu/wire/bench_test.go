package wire

import (
	"bytes"
	"testing"
)

// executeBody is a typical outbox EXECUTE as gocql sends it: 16-byte id,
// LOCAL_QUORUM, default timestamp, five bound values.
func executeBody(b *testing.B) []byte {
	f := newGFramer()
	return bodyOf(b, f.executeFrame(1, bytes.Repeat([]byte{7}, 16), &gQueryParams{
		consistency: ConsistencyLocalQuorum, defaultTimestamp: true, defaultTimestampValue: 1700000000000000,
		values: []gValue{
			{value: bytes.Repeat([]byte{1}, 16)},     // uuid
			{value: []byte{0, 0, 0, 0, 0, 0, 0, 42}}, // bigint
			{value: []byte("orders")},                // text
			{value: bytes.Repeat([]byte("p"), 200)},  // blob payload
			{value: nil},                             // null
		},
	}, nil))
}

func BenchmarkDecodeExecute(b *testing.B) {
	body := executeBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeExecute(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeExecuteInto(b *testing.B) {
	body := executeBody(b)
	var p QueryParams
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeExecuteInto(body, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadFrameExecute is the whole request path below the executor:
// frame read with a reused buffer plus EXECUTE decode.
func BenchmarkReadFrameExecute(b *testing.B) {
	f := newGFramer()
	frame := f.executeFrame(1, bytes.Repeat([]byte{7}, 16), &gQueryParams{consistency: 6,
		values: []gValue{{value: []byte("a")}, {value: bytes.Repeat([]byte("p"), 200)}}}, nil)
	rd := bytes.NewReader(frame)
	buf := make([]byte, 0, 4096)
	var p QueryParams
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(frame)
		_, body, err := ReadFrame(rd, buf, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeExecuteInto(body, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendRows encodes a complete RESULT Rows frame of 10 rows × 4
// columns into a reused buffer.
func BenchmarkAppendRows(b *testing.B) {
	md := RowsMetadata{Columns: []ColumnSpec{
		{"outbox", "events", "id", tText}, {"outbox", "events", "seq", tInt},
		{"outbox", "events", "payload", []byte{0, 0x03}}, {"outbox", "events", "tags", tListInt},
	}}
	cells := [][]byte{[]byte("0123456789abcdef"), {0, 0, 0, 9}, bytes.Repeat([]byte("p"), 200), nil}
	dst := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	for b.Loop() {
		out := StartFrame(dst[:0], 4, 0, 1, OpResult)
		out = AppendRowsHeader(out, md, 10)
		for range 10 {
			for _, c := range cells {
				out = AppendCell(out, c)
			}
		}
		FinishFrame(out)
		dst = out
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkDecodeBatchInto(b *testing.B) {
	f := newGFramer()
	var stmts []gBatchStmt
	for range 10 {
		stmts = append(stmts, gBatchStmt{preparedID: bytes.Repeat([]byte{3}, 16),
			values: []gValue{{value: []byte("k")}, {value: bytes.Repeat([]byte("v"), 100)}}})
	}
	body := bodyOf(b, f.batchFrame(1, &gBatch{typ: 1, consistency: 6, statements: stmts, defaultTimestamp: true, defaultTimestampValue: 5}, nil))
	var bt Batch
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeBatchInto(body, &bt); err != nil {
			b.Fatal(err)
		}
	}
}
