package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Opcodes (spec section 2.4).
const (
	OpError         = 0x00
	OpStartup       = 0x01
	OpReady         = 0x02
	OpAuthenticate  = 0x03
	OpOptions       = 0x05
	OpSupported     = 0x06
	OpQuery         = 0x07
	OpResult        = 0x08
	OpPrepare       = 0x09
	OpExecute       = 0x0A
	OpRegister      = 0x0B
	OpEvent         = 0x0C
	OpBatch         = 0x0D
	OpAuthChallenge = 0x0E
	OpAuthResponse  = 0x0F
	OpAuthSuccess   = 0x10
)

// Header flags (spec section 2.2).
const (
	FlagCompression   = 0x01
	FlagTracing       = 0x02
	FlagCustomPayload = 0x04
	FlagWarning       = 0x08
	FlagBeta          = 0x10 // v5 "use beta"; meaningless in v4 and ignored
)

const (
	// ProtocolVersion is the only native protocol version this package speaks.
	ProtocolVersion = 4
	// ResponseBit marks a frame as server→client in the version byte.
	ResponseBit = 0x80
	// HeaderSize is the size of a v3+ frame header.
	HeaderSize = 9
	// DefaultMaxBody is the body limit ReadFrame applies when maxBody <= 0;
	// it matches the 256 MiB the spec (and gocql) cap frames at.
	DefaultMaxBody = 256 << 20
)

// Header is a decoded frame header.
type Header struct {
	Version byte // protocol version, without the response bit
	Flags   byte
	Stream  int16
	Opcode  byte
	Length  int32 // body length as sent on the wire (includes any custom payload ReadFrame stripped)
}

// FrameError reports a frame the server must answer with a protocol error
// (code 0x000A) on Header.Stream.
type FrameError struct {
	Header Header
	Msg    string
	// Fatal is set when the reader could not be left at the next frame
	// boundary (body not consumed: bad length, wrong direction). The server
	// must close the connection after replying. When Fatal is false the body
	// was consumed and the connection can keep going.
	Fatal bool
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("wire: bad frame (stream %d, opcode 0x%02x): %s", e.Header.Stream, e.Header.Opcode, e.Msg)
}

// ProtocolVersionError reports a request frame for a protocol version other
// than 4. The body of that frame has not been read; the server should write
// AppendResponse and close the connection (drivers probe versions on
// throwaway connections, and after a wrong-version header the byte stream
// can't be trusted to be framed the way we expect).
type ProtocolVersionError struct {
	Version byte  // the client's version, without the response bit
	Stream  int16 // the client's stream id (a single signed byte for v1/v2)
}

func (e *ProtocolVersionError) Error() string {
	return fmt.Sprintf("wire: unsupported protocol version %d (stream %d)", e.Version, e.Stream)
}

// Message is the ERROR message text. Its tail is load-bearing: gocql's
// protocol discovery (control.go, protocolSupportRe) matches
// `the lowest supported version is \d+ and the greatest is (\d+)$` and
// reconnects with the captured version; other drivers parse the same
// Cassandra-3-style wording.
func (e *ProtocolVersionError) Message() string {
	return fmt.Sprintf("Invalid or unsupported protocol version (%d); the lowest supported version is %d and the greatest is %d",
		e.Version, ProtocolVersion, ProtocolVersion)
}

// AppendResponse appends a complete ERROR frame (header and body, protocol
// error 0x000A with Message) addressed to the client in its own version and
// stream: drivers reject a response whose version differs from the one they
// sent before ever looking at the message (gocql: "unexpected protocol
// version in response"). v1/v2 clients get the 8-byte header of their
// version (1-byte stream); everything else gets the 9-byte header.
func (e *ProtocolVersionError) AppendResponse(dst []byte) []byte {
	if e.Version < 3 {
		start := len(dst)
		dst = append(dst, ResponseBit|e.Version, 0, byte(e.Stream), OpError, 0, 0, 0, 0)
		dst = AppendError(dst, ProtocolError, e.Message())
		binary.BigEndian.PutUint32(dst[start+4:], uint32(len(dst)-start-8))
		return dst
	}
	start := len(dst)
	dst = StartFrame(dst, e.Version, 0, e.Stream, OpError)
	dst = AppendError(dst, ProtocolError, e.Message())
	FinishFrame(dst[start:])
	return dst
}

// ReadFrame reads one request frame from r.
//
// buf is scratch space: the header is read into it and the body is read into
// it when cap(buf) is large enough, so passing the previously returned body
// back as buf makes steady-state reads allocation-free. The returned body
// aliases that buffer and is only valid until the next call.
//
// If the custom payload flag is set, the [bytes map] payload is validated and
// removed: body starts at the message proper (Header.Length still reports the
// wire length). The tracing flag is left in Header.Flags for the server to
// ignore; the warning flag is response-only and ignored on requests, as
// Cassandra does. maxBody <= 0 means DefaultMaxBody.
//
// Header.Stream is returned as sent; rejecting negative (server-reserved)
// stream ids is left to the server.
//
// Errors: *ProtocolVersionError for a version other than 4; *FrameError for a
// response-direction frame, a negative or too-long body length, a compressed
// body (we never negotiate compression) or a malformed custom payload; I/O
// errors wrapped with %w (errors.Is(err, io.EOF) means the peer closed
// cleanly between frames). The body is nil on every error, so keep the
// previous buffer for the next call.
func ReadFrame(r io.Reader, buf []byte, maxBody int) (Header, []byte, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if cap(buf) < HeaderSize {
		// The header goes into buf rather than a local array: a local passed
		// to io.Reader.Read escapes and would cost an allocation per frame.
		buf = make([]byte, 0, 512)
	}
	hb := buf[:HeaderSize]
	// v1/v2 headers are 8 bytes, so never insist on 9 before knowing the
	// version: an 8-byte v2 OPTIONS would otherwise hang here forever.
	n, err := io.ReadAtLeast(r, hb, 8)
	if err != nil {
		return Header{}, nil, fmt.Errorf("wire: reading frame header: %w", err)
	}
	version := hb[0] &^ ResponseBit
	if version != ProtocolVersion {
		// Report the stream (and opcode) where that version keeps them so
		// the reply reaches the request that provoked it.
		stream, op := int16(binary.BigEndian.Uint16(hb[2:4])), hb[4]
		if version < 3 {
			stream, op = int16(int8(hb[2])), hb[3]
		}
		h := Header{Version: version, Flags: hb[1], Stream: stream, Opcode: op}
		return h, nil, &ProtocolVersionError{Version: version, Stream: stream}
	}
	if n == 8 {
		if _, err := io.ReadFull(r, hb[8:9]); err != nil {
			return Header{}, nil, fmt.Errorf("wire: reading frame header: %w", noEOF(err))
		}
	}
	h := Header{
		Version: version,
		Flags:   hb[1],
		Stream:  int16(binary.BigEndian.Uint16(hb[2:4])),
		Opcode:  hb[4],
		Length:  int32(binary.BigEndian.Uint32(hb[5:9])),
	}
	if hb[0]&ResponseBit != 0 {
		return h, nil, &FrameError{Header: h, Msg: "received a response frame (direction bit set) from a client", Fatal: true}
	}
	if h.Length < 0 || int64(h.Length) > int64(maxBody) {
		// Not consumed: skipping up to 2 GiB a client claims to send is a
		// cheap denial of service, and such a client is broken anyway.
		return h, nil, &FrameError{Header: h, Msg: fmt.Sprintf("frame body length %d is outside [0, %d]", h.Length, maxBody), Fatal: true}
	}
	body, err := readBody(r, buf, int(h.Length))
	if err != nil {
		return h, nil, fmt.Errorf("wire: reading %d-byte frame body: %w", h.Length, noEOF(err))
	}
	if h.Flags&FlagCompression != 0 {
		return h, nil, &FrameError{Header: h, Msg: "compressed frame received but compression was not negotiated"}
	}
	if h.Flags&FlagCustomPayload != 0 {
		rd := NewReader(body)
		rd.SkipBytesMap()
		if err := rd.Err(); err != nil {
			return h, nil, &FrameError{Header: h, Msg: "malformed custom payload: " + err.Error()}
		}
		// Shift the message down instead of re-slicing past the payload so
		// the caller's buffer keeps its full capacity from index 0 for reuse.
		k := copy(body, body[rd.Offset():])
		body = body[:k]
	}
	return h, body, nil
}

// readBody reads an n-byte body, reusing buf when it is big enough. For big
// bodies that don't fit it grows the buffer as bytes arrive (doubling from
// 64 KiB), so a forged length costs at most about twice what the peer really
// sent instead of n bytes up front.
func readBody(r io.Reader, buf []byte, n int) ([]byte, error) {
	if cap(buf) >= n {
		b := buf[:n]
		_, err := io.ReadFull(r, b)
		return b, err
	}
	const chunk = 64 << 10
	if n <= chunk {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := buf[:0]
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(max(2*cap(b), chunk), n))
			copy(nb, b)
			b = nb
		}
		end := min(cap(b), n)
		m, err := io.ReadFull(r, b[len(b):end])
		b = b[:len(b)+m]
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// noEOF turns a clean EOF in the middle of a frame into ErrUnexpectedEOF so
// callers can keep treating io.EOF as "peer closed between frames".
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// StartFrame appends a response frame header with a zero length; encode the
// body after it and call FinishFrame on the frame's bytes. version is given
// without the response bit, which StartFrame sets. This is the in-place
// alternative to AppendFrame that avoids building the body separately.
func StartFrame(dst []byte, version, flags byte, stream int16, opcode byte) []byte {
	return append(dst, version|ResponseBit, flags, byte(uint16(stream)>>8), byte(stream), opcode, 0, 0, 0, 0)
}

// FinishFrame sets the length field of frame, which must start at a header
// written by StartFrame and end at the end of the body.
func FinishFrame(frame []byte) {
	binary.BigEndian.PutUint32(frame[5:9], uint32(len(frame)-HeaderSize))
}

// AppendFrame appends a complete response frame: header (with the response
// bit set on version) followed by body.
func AppendFrame(dst []byte, version byte, flags byte, stream int16, opcode byte, body []byte) []byte {
	dst = StartFrame(dst, version, flags, stream, opcode)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(len(body)))
	return append(dst, body...)
}
