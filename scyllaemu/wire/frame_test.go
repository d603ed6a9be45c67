package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
	"time"
)

// readAll reads every frame from data, reusing one buffer as a server would,
// and returns copies of the bodies.
func readAll(t *testing.T, r io.Reader) ([]Header, [][]byte) {
	t.Helper()
	var (
		hs  []Header
		bs  [][]byte
		buf []byte
	)
	for {
		h, body, err := ReadFrame(r, buf, 0)
		if errors.Is(err, io.EOF) {
			return hs, bs
		}
		if err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
		buf = body
		hs = append(hs, h)
		bs = append(bs, bytes.Clone(body))
	}
}

func TestReadFramePipelined(t *testing.T) {
	f := newGFramer()
	var stream bytes.Buffer
	stream.Write(f.optionsFrame(0))
	stream.Write(f.startupFrame(1, "CQL_VERSION", "3.0.0", "DRIVER_NAME", "gocql"))
	stream.Write(f.queryFrame(2, "SELECT * FROM t", &gQueryParams{consistency: 1}, nil))
	big := bytes.Repeat([]byte("x"), 300<<10) // exercises the incremental-growth path
	stream.Write(f.executeFrame(32767, []byte{1, 2, 3}, &gQueryParams{consistency: 6, values: []gValue{{value: big}}}, nil))
	stream.Write(f.optionsFrame(5))
	want := stream.Bytes()

	for name, r := range map[string]func() io.Reader{
		"whole":   func() io.Reader { return bytes.NewReader(want) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(want)) },
		"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(want)) },
	} {
		t.Run(name, func(t *testing.T) {
			hs, bodies := readAll(t, r())
			wantOps := []byte{OpOptions, OpStartup, OpQuery, OpExecute, OpOptions}
			wantStreams := []int16{0, 1, 2, 32767, 5}
			if len(hs) != len(wantOps) {
				t.Fatalf("got %d frames, want %d", len(hs), len(wantOps))
			}
			for i, h := range hs {
				if h.Version != 4 || h.Opcode != wantOps[i] || h.Stream != wantStreams[i] || int(h.Length) != len(bodies[i]) {
					t.Errorf("frame %d: header %+v, body %d bytes", i, h, len(bodies[i]))
				}
			}
			id, p, err := DecodeExecute(bodies[3])
			if err != nil || !bytes.Equal(id, []byte{1, 2, 3}) || len(p.Values) != 1 || !bytes.Equal(p.Values[0].Bytes, big) {
				t.Fatalf("big EXECUTE did not survive: err=%v id=%x values=%d", err, id, len(p.Values))
			}
		})
	}
}

func TestReadFrameFlags(t *testing.T) {
	f := newGFramer()
	qp := &gQueryParams{consistency: 1, values: []gValue{{value: []byte("v")}}}

	t.Run("custom payload is stripped", func(t *testing.T) {
		payload := map[string][]byte{"k": []byte("value"), "n": nil}
		var s bytes.Buffer
		s.Write(f.executeFrame(7, []byte("id"), qp, payload))
		s.Write(f.optionsFrame(8))
		hs, bodies := readAll(t, &s)
		if len(hs) != 2 || hs[0].Flags&FlagCustomPayload == 0 {
			t.Fatalf("headers %+v", hs)
		}
		id, p, err := DecodeExecute(bodies[0])
		if err != nil || string(id) != "id" || string(p.Values[0].Bytes) != "v" {
			t.Fatalf("decode after payload strip: %v %q %+v", err, id, p)
		}
		if int(hs[0].Length) <= len(bodies[0]) {
			t.Errorf("Length %d should still count the payload (body %d)", hs[0].Length, len(bodies[0]))
		}
	})

	t.Run("tracing and warning flags are ignored", func(t *testing.T) {
		f := newGFramer()
		f.flags = FlagTracing | FlagWarning | FlagBeta
		h, body, err := ReadFrame(bytes.NewReader(f.queryFrame(1, "q", qp, nil)), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if h.Flags != FlagTracing|FlagWarning|FlagBeta {
			t.Errorf("flags %#x", h.Flags)
		}
		if q, _, err := DecodeQuery(body); err != nil || q != "q" {
			t.Fatalf("DecodeQuery: %q %v", q, err)
		}
	})

	t.Run("compressed frame is rejected but consumed", func(t *testing.T) {
		f := newGFramer()
		f.flags = FlagCompression
		var s bytes.Buffer
		s.Write(f.queryFrame(3, "q", qp, nil))
		f.flags = 0
		s.Write(f.optionsFrame(4))
		_, _, err := ReadFrame(&s, nil, 0)
		var fe *FrameError
		if !errors.As(err, &fe) || fe.Fatal || fe.Header.Stream != 3 {
			t.Fatalf("want non-fatal FrameError on stream 3, got %v", err)
		}
		h, _, err := ReadFrame(&s, nil, 0)
		if err != nil || h.Opcode != OpOptions || h.Stream != 4 {
			t.Fatalf("next frame: %+v %v", h, err)
		}
	})

	t.Run("malformed payload", func(t *testing.T) {
		fr := AppendFrame(nil, 4, 0, 9, OpQuery, []byte{0, 5, 0}) // 5 entries, 1 byte
		fr[0] = 4                                                 // AppendFrame sets the response bit; make it a request
		fr[1] = FlagCustomPayload
		_, _, err := ReadFrame(bytes.NewReader(fr), nil, 0)
		var fe *FrameError
		if !errors.As(err, &fe) || fe.Fatal || fe.Header.Stream != 9 {
			t.Fatalf("got %v", err)
		}
	})
}

func TestReadFrameErrors(t *testing.T) {
	hdr := func(v, flags byte, stream int16, op byte, length int32) []byte {
		return []byte{v, flags, byte(uint16(stream) >> 8), byte(stream), op, byte(length >> 24), byte(length >> 16), byte(length >> 8), byte(length)}
	}
	tests := []struct {
		name  string
		in    []byte
		max   int
		fatal bool
		check func(t *testing.T, err error)
	}{
		{name: "response direction", in: hdr(0x84, 0, 1, OpResult, 0), fatal: true},
		{name: "too long", in: hdr(4, 0, 1, OpQuery, 1025), max: 1024, fatal: true},
		{name: "too long default", in: hdr(4, 0, 1, OpQuery, DefaultMaxBody+1), fatal: true},
		{name: "negative length", in: hdr(4, 0, 1, OpQuery, -1), fatal: true},
		{name: "eof", in: nil, check: func(t *testing.T, err error) {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("want io.EOF, got %v", err)
			}
		}},
		{name: "short header", in: []byte{4, 0, 0}, check: func(t *testing.T, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("want ErrUnexpectedEOF, got %v", err)
			}
		}},
		{name: "8-byte v4 header", in: hdr(4, 0, 0, OpOptions, 0)[:8], check: func(t *testing.T, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("want ErrUnexpectedEOF, got %v", err)
			}
		}},
		{name: "short body", in: append(hdr(4, 0, 0, OpQuery, 10), 1, 2, 3), check: func(t *testing.T, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("want ErrUnexpectedEOF, got %v", err)
			}
		}},
		{name: "header only, body missing", in: hdr(4, 0, 0, OpQuery, 10), check: func(t *testing.T, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("want ErrUnexpectedEOF, got %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadFrame(bytes.NewReader(tt.in), nil, tt.max)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.check != nil {
				tt.check(t, err)
				return
			}
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Fatal != tt.fatal || fe.Header.Stream != 1 {
				t.Fatalf("want FrameError{Fatal:%v, stream 1}, got %#v", tt.fatal, err)
			}
		})
	}
}

func TestProtocolVersionError(t *testing.T) {
	tests := []struct {
		name       string
		in         []byte
		version    byte
		stream     int16
		headerSize int
	}{
		{"v5 from gocql", []byte{5, 0, 0x01, 0x02, OpOptions, 0, 0, 0, 0}, 5, 0x0102, 9},
		{"v3", []byte{3, 0, 0, 7, OpStartup, 0, 0, 0, 0}, 3, 7, 9},
		{"v3 negative stream", []byte{3, 0, 0xff, 0xfe, OpStartup, 0, 0, 0, 0}, 3, -2, 9},
		// v1/v2 headers are 8 bytes with a 1-byte stream.
		{"v2 options", []byte{2, 0, 9, OpOptions, 0, 0, 0, 0}, 2, 9, 8},
		{"v1 negative stream", []byte{1, 0, 0xff, OpOptions, 0, 0, 0, 0}, 1, -1, 8},
		{"garbage", []byte("GET / HTTP/1.1\r\n"), 'G', 0x5420, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A pipe that is never closed: ReadFrame must not wait for
			// bytes the client never sends (an 8-byte v2 header).
			pr, pw := io.Pipe()
			// ReadFrame takes only the header, so the write ends with
			// io.ErrClosedPipe when pr is closed below: not a failure.
			go func() { _, _ = pw.Write(tt.in) }()
			type res struct {
				h   Header
				err error
			}
			ch := make(chan res, 1)
			go func() {
				h, _, err := ReadFrame(pr, nil, 0)
				ch <- res{h, err}
			}()
			var got res
			select {
			case got = <-ch:
			case <-time.After(5 * time.Second):
				t.Fatal("ReadFrame blocked on a short non-v4 header")
			}
			_ = pr.Close() // PipeReader.Close always returns nil
			var pe *ProtocolVersionError
			if !errors.As(got.err, &pe) || pe.Version != tt.version || pe.Stream != tt.stream {
				t.Fatalf("got %+v, %v", got.h, got.err)
			}

			resp := pe.AppendResponse([]byte("prefix"))
			if string(resp[:6]) != "prefix" {
				t.Fatal("AppendResponse clobbered dst")
			}
			resp = resp[6:]
			if resp[0] != 0x80|tt.version {
				t.Errorf("response version byte %#x, want %#x", resp[0], 0x80|tt.version)
			}
			var body []byte
			switch {
			case tt.headerSize == 8:
				if int16(int8(resp[2])) != tt.stream || resp[3] != OpError {
					t.Errorf("v1/v2 header %x", resp[:8])
				}
				if n := int(resp[4])<<24 | int(resp[5])<<16 | int(resp[6])<<8 | int(resp[7]); n != len(resp)-8 {
					t.Fatalf("length %d, body %d", n, len(resp)-8)
				}
				body = resp[8:]
			case tt.version >= 3 && tt.version <= 5:
				// What gocql itself would do with it.
				h, b, err := gReadHeader(resp)
				if err != nil {
					t.Fatal(err)
				}
				if h.stream != int(tt.stream) || h.op != OpError {
					t.Errorf("header %+v", h)
				}
				body = b
			default:
				body = resp[9:]
			}
			r, err := gParse(OpError, body)
			if err != nil {
				t.Fatal(err)
			}
			if int32(r.code) != ProtocolError || r.message != pe.Message() {
				t.Errorf("error frame %#x %q", r.code, r.message)
			}
			// gocql's control.go turns the text into the version to retry with.
			if v := gParseProtocolFromError(r.message); v != 4 {
				t.Errorf("gocql would parse version %d from %q", v, r.message)
			}
		})
	}
}

func TestAppendFrame(t *testing.T) {
	body := AppendResultVoid(nil)
	fr := AppendFrame([]byte{0xAA}, 4, 0, -1, OpEvent, body)
	if fr[0] != 0xAA {
		t.Fatal("dst prefix lost")
	}
	h, b, err := gReadHeader(fr[1:])
	if err != nil {
		t.Fatal(err)
	}
	if h.version != 0x84 || h.stream != -1 || h.op != OpEvent || !bytes.Equal(b, body) {
		t.Fatalf("%+v %x", h, b)
	}

	// In-place form produces identical bytes.
	in := StartFrame([]byte{0xAA}, 4, 0, -1, OpEvent)
	in = AppendResultVoid(in)
	FinishFrame(in[1:])
	if !bytes.Equal(in, fr) {
		t.Fatalf("StartFrame/FinishFrame %x != AppendFrame %x", in, fr)
	}
}

// TestReadFrameForgedLength checks that a header announcing a huge body
// costs memory proportional to what actually arrives, not to the claim.
func TestReadFrameForgedLength(t *testing.T) {
	in := []byte{4, 0, 0, 1, OpQuery, 0x0f, 0xff, 0xff, 0xff} // ~256 MiB claimed
	in = append(in, make([]byte, 1000)...)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	_, _, err := ReadFrame(bytes.NewReader(in), nil, 0)
	runtime.ReadMemStats(&ms1)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("want ErrUnexpectedEOF, got %v", err)
	}
	if d := ms1.TotalAlloc - ms0.TotalAlloc; d > 1<<20 {
		t.Fatalf("allocated %d bytes for a 1 KB frame claiming 256 MiB", d)
	}
}

func TestReadFrameAllocs(t *testing.T) {
	f := newGFramer()
	frame := f.executeFrame(1, []byte("0123456789abcdef"), &gQueryParams{
		consistency: 6, values: []gValue{{value: []byte("a")}, {value: []byte("bb")}},
		defaultTimestamp: true, defaultTimestampValue: 1,
	}, nil)
	rd := bytes.NewReader(frame)
	buf := make([]byte, 0, 4096)
	var p QueryParams
	allocs := testing.AllocsPerRun(1000, func() {
		rd.Reset(frame)
		_, body, err := ReadFrame(rd, buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeExecuteInto(body, &p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ReadFrame+DecodeExecuteInto: %v allocs per frame, want 0", allocs)
	}
}
