package wire

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// allocBudget is how many bytes decoding an n-byte input may allocate in
// total. Anything proportional to the input is fine (maps, value slices);
// what must never happen is an allocation sized by a forged length or count.
// The constant covers ReadFrame's 64 KiB first chunk and fixed overheads.
func allocBudget(n int) uint64 { return 256<<10 + 128*uint64(n) }

// checkAllocs runs fn and fails if it allocated more than the input warrants.
// TotalAlloc is process-wide, but each fuzz worker runs inputs one at a time,
// so the noise is a few KiB at most.
func checkAllocs(t *testing.T, input []byte, fn func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > allocBudget(len(input)) {
		t.Fatalf("allocated %d bytes for a %d-byte input (budget %d)", d, len(input), allocBudget(len(input)))
	}
}

// FuzzReadFrame feeds arbitrary bytes to ReadFrame as a connection stream and
// decodes whatever frames come out with the decoder for their opcode.
func FuzzReadFrame(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAllocs(t, data, func() {
			r := bytes.NewReader(data)
			var buf []byte
			for range 64 {
				// Small maxBody some of the time so the limit path is hit.
				maxBody := 0
				if len(data)%2 == 1 {
					maxBody = 1 << 10
				}
				h, body, err := ReadFrame(r, buf, maxBody)
				if err != nil {
					var fe *FrameError
					var pe *ProtocolVersionError
					switch {
					case errors.As(err, &pe):
						_ = pe.AppendResponse(nil)
						return
					case errors.As(err, &fe):
						if fe.Fatal {
							return
						}
						continue
					}
					return // I/O error: end of input
				}
				if int(h.Length) < len(body) || h.Version != ProtocolVersion {
					t.Fatalf("header %+v with %d-byte body", h, len(body))
				}
				buf = body
				decodeByOpcode(h.Opcode, body)
			}
		})
	})
}

// FuzzDecode feeds arbitrary bytes to every request decoder.
func FuzzDecode(f *testing.F) {
	for _, s := range bodySeeds() {
		f.Add(s)
	}
	var (
		p QueryParams
		b Batch
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAllocs(t, body, func() {
			for _, op := range []byte{OpStartup, OpRegister, OpQuery, OpPrepare, OpExecute, OpBatch, OpAuthResponse} {
				decodeByOpcode(op, body)
			}
			// The reuse paths, with state left over from earlier inputs.
			if _, err := DecodeExecuteInto(body, &p); err == nil {
				checkParams(t, body, &p)
			}
			if _, err := DecodeQueryInto(body, &p); err == nil {
				checkParams(t, body, &p)
			}
			if err := DecodeBatchInto(body, &b); err == nil {
				for _, c := range b.Children {
					if len(c.Values) != cap(c.Values) {
						t.Fatal("batch child values not capped")
					}
				}
			}
		})
	})
}

func checkParams(t *testing.T, body []byte, p *QueryParams) {
	if p.Flags&QueryFlagNamesForValues != 0 && p.Flags&QueryFlagValues != 0 && len(p.Names) != len(p.Values) {
		t.Fatalf("%d names for %d values", len(p.Names), len(p.Values))
	}
	for _, v := range p.Values {
		if v.Null && v.Unset || (v.Null || v.Unset) && v.Bytes != nil {
			t.Fatalf("inconsistent value %+v", v)
		}
		if len(v.Bytes) > len(body) {
			t.Fatal("value longer than body")
		}
	}
}

func decodeByOpcode(op byte, body []byte) {
	var err error
	switch op {
	case OpStartup:
		_, err = DecodeStartup(body)
	case OpRegister:
		_, err = DecodeRegister(body)
	case OpQuery:
		_, _, err = DecodeQuery(body)
	case OpPrepare:
		_, err = DecodePrepare(body)
	case OpExecute:
		_, _, err = DecodeExecute(body)
	case OpBatch:
		_, err = DecodeBatch(body)
	case OpAuthResponse:
		_, err = DecodeAuthResponse(body)
	}
	if err != nil && !isDecodeError(err) {
		panic(fmt.Sprintf("decoder returned %T, want *DecodeError: %v", err, err))
	}
}

// ---- seeds ------------------------------------------------------------------

func frameSeeds() [][]byte {
	f := newGFramer()
	qp := &gQueryParams{consistency: 6, defaultTimestamp: true, defaultTimestampValue: 1,
		values: []gValue{{value: []byte{0, 0, 0, 1}}, {value: nil}, {isUnset: true}}}
	named := &gQueryParams{consistency: 1, pageSize: 100, pagingState: []byte("ps"), serialConsistency: 9,
		values: []gValue{{name: "a", value: []byte("x")}}}
	batch := &gBatch{typ: 1, consistency: 1, statements: []gBatchStmt{
		{statement: "INSERT INTO t (a) VALUES (?)", values: []gValue{{value: []byte("v")}}},
		{preparedID: []byte{1, 2}, values: []gValue{{isUnset: true}}},
	}}
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	seeds := [][]byte{
		f.optionsFrame(0),
		f.startupFrame(1, "CQL_VERSION", "3.0.0"),
		f.registerFrame(2, []string{"SCHEMA_CHANGE"}),
		f.queryFrame(3, "SELECT * FROM t", qp, nil),
		f.queryFrame(4, "SELECT * FROM t WHERE a = :a", named, nil),
		f.prepareFrame(5, "SELECT * FROM t WHERE k = ?"),
		f.executeFrame(6, []byte("0123456789abcdef"), qp, nil),
		f.executeFrame(7, []byte("id"), qp, map[string][]byte{"k": []byte("v")}),
		f.batchFrame(8, batch, nil),
		f.authResponseFrame(9, []byte("\x00u\x00p")),
		cat(f.optionsFrame(0), f.startupFrame(1, "CQL_VERSION", "3.0.0"), f.queryFrame(2, "USE ks", &gQueryParams{consistency: 1}, nil)),
		{5, 0, 0, 0, OpOptions, 0, 0, 0, 0},                   // v5 probe
		{2, 0, 0, OpOptions, 0, 0, 0, 0},                      // v2, 8-byte header
		{0x84, 0, 0, 0, OpResult, 0, 0, 0, 0},                 // response direction
		{4, 0, 0, 0, OpQuery, 0x0f, 0xff, 0xff, 0xff, 1, 2},   // forged length
		{4, 0, 0, 0, OpQuery, 0xff, 0xff, 0xff, 0xff},         // negative length
		{4, FlagCompression, 0, 0, OpQuery, 0, 0, 0, 1, 0xff}, // compressed
		{4, FlagCustomPayload, 0, 0, OpQuery, 0, 0, 0, 2, 0xff, 0xff},
		{4, 0, 0, 0, OpQuery, 0, 0, 4, 1, 0, 0}, // odd length: 1 KiB maxBody, 1025-byte claim
		[]byte("GET / HTTP/1.1\r\n\r\n"),
	}
	return seeds
}

func bodySeeds() [][]byte {
	var out [][]byte
	for _, fr := range frameSeeds()[:10] {
		_, body, err := ReadFrame(bytes.NewReader(fr), nil, 0)
		if err != nil {
			panic(err)
		}
		out = append(out, bytes.Clone(body))
	}
	out = append(out,
		[]byte{0, 1, 0x41, 0xff, 0xff},                                 // forged value count with names
		[]byte{0, 0, 0, 1, 'q', 0, 1, 0x20, 0x80, 0, 0, 0, 0, 0, 0, 0}, // MinInt64 timestamp
		[]byte{0, 0xff, 0xff, 0, 1, 0},                                 // forged batch count
		[]byte{0, 0, 1, 1, 0, 0, 0xff, 0xff},                           // forged batch value count
		[]byte{0xff, 0xff, 0, 0},                                       // forged map/list count
		[]byte{0, 0, 0, 0, 1, 0x40},                                    // batch with names flag
		[]byte{0, 1, 7, 0, 1, 0x01, 0, 1, 0xff, 0xff, 0xff, 0xfd},      // value length -3
		[]byte{0x80, 0, 0, 0},                                          // negative long string
		[]byte{},
		[]byte{0, 1, 7, 0, 1, 0x80, 0, 2, 'k', 's'}, // v5 keyspace flag
	)
	return out
}

// -regen-corpus rewrites testdata/fuzz/<FuzzName>/ from the seed lists above,
// so the checked-in corpus stays in sync with the encoders it was built from.
var regenCorpus = flag.Bool("regen-corpus", false, "rewrite testdata/fuzz seed corpora")

func TestRegenCorpus(t *testing.T) {
	if !*regenCorpus {
		t.Skip("run with -regen-corpus to rewrite testdata/fuzz")
	}
	write := func(name string, seeds [][]byte) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzReadFrame", frameSeeds())
	write("FuzzDecode", bodySeeds())
}
