package wire

// This file holds a minimal, independent transcription of the parts of
// gocql v1.17.0 (scylladb fork) frame.go that matter to us: the request
// encoders (writeHeader, writeQueryParams, writeBatchFrame, ...) and the
// response parsers (readHeader, parseErrorFrame, parseResultMetadata,
// parsePreparedMetadata, parseEventFrame, ...). gocql's framer is unexported,
// so we copy the logic rather than import it. It deliberately does not use
// this package's Reader or Append helpers, so a bug there can't cancel out.

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
)

// ---- request encoding (client side, as gocql does it) ----------------------

type gValue struct {
	name    string
	value   []byte
	isUnset bool
}

type gQueryParams struct {
	values                []gValue
	pagingState           []byte
	pageSize              int
	defaultTimestampValue int64
	consistency           uint16
	serialConsistency     uint16
	skipMeta              bool
	defaultTimestamp      bool
}

type gBatchStmt struct {
	preparedID []byte
	statement  string
	values     []gValue
}

type gBatch struct {
	statements            []gBatchStmt
	defaultTimestampValue int64
	consistency           uint16
	serialConsistency     uint16
	typ                   byte
	defaultTimestamp      bool
}

type gFramer struct {
	buf   []byte
	proto byte
	flags byte
}

func newGFramer() *gFramer { return &gFramer{proto: 4} }

func (f *gFramer) writeHeader(flags byte, op byte, stream int) {
	f.buf = append(f.buf[:0], f.proto, flags, byte(stream>>8), byte(stream), op, 0, 0, 0, 0)
}

func (f *gFramer) finish() []byte {
	n := len(f.buf) - 9
	f.buf[5], f.buf[6], f.buf[7], f.buf[8] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return append([]byte(nil), f.buf...)
}

func (f *gFramer) writeByte(b byte) { f.buf = append(f.buf, b) }
func (f *gFramer) writeShort(n uint16) {
	f.buf = append(f.buf, byte(n>>8), byte(n))
}
func (f *gFramer) writeInt(n int32) {
	f.buf = append(f.buf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
func (f *gFramer) writeLong(n int64) {
	f.buf = append(f.buf, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
func (f *gFramer) writeString(s string) {
	f.writeShort(uint16(len(s)))
	f.buf = append(f.buf, s...)
}
func (f *gFramer) writeLongString(s string) {
	f.writeInt(int32(len(s)))
	f.buf = append(f.buf, s...)
}
func (f *gFramer) writeBytes(p []byte) {
	if p == nil {
		f.writeInt(-1)
	} else {
		f.writeInt(int32(len(p)))
		f.buf = append(f.buf, p...)
	}
}
func (f *gFramer) writeShortBytes(p []byte) {
	f.writeShort(uint16(len(p)))
	f.buf = append(f.buf, p...)
}
func (f *gFramer) writeStringList(l []string) {
	f.writeShort(uint16(len(l)))
	for _, s := range l {
		f.writeString(s)
	}
}

// writeStringMap takes ordered pairs (gocql ranges over a map; order is
// irrelevant to the decoder, and pairs keep the test deterministic).
func (f *gFramer) writeStringMap(kv ...string) {
	f.writeShort(uint16(len(kv) / 2))
	for i := 0; i < len(kv); i += 2 {
		f.writeString(kv[i])
		f.writeString(kv[i+1])
	}
}

func (f *gFramer) writeBytesMap(kv map[string][]byte) {
	f.writeShort(uint16(len(kv)))
	for k, v := range kv {
		f.writeString(k)
		f.writeBytes(v)
	}
}

func (f *gFramer) writeCustomPayload(p map[string][]byte) {
	if len(p) > 0 {
		f.writeBytesMap(p)
	}
}

func payloadFlag(p map[string][]byte) byte {
	if len(p) > 0 {
		return FlagCustomPayload
	}
	return 0
}

func (f *gFramer) writeQueryParams(opts *gQueryParams) {
	f.writeShort(opts.consistency)
	var flags byte
	if len(opts.values) > 0 {
		flags |= 0x01
	}
	if opts.skipMeta {
		flags |= 0x02
	}
	if opts.pageSize > 0 {
		flags |= 0x04
	}
	if len(opts.pagingState) > 0 {
		flags |= 0x08
	}
	if opts.serialConsistency > 0 {
		flags |= 0x10
	}
	names := false
	if opts.defaultTimestamp {
		flags |= 0x20
	}
	if len(opts.values) > 0 && opts.values[0].name != "" {
		flags |= 0x40
		names = true
	}
	f.writeByte(flags)
	if n := len(opts.values); n > 0 {
		f.writeShort(uint16(n))
		for i := 0; i < n; i++ {
			if names {
				f.writeString(opts.values[i].name)
			}
			if opts.values[i].isUnset {
				f.writeInt(-2)
			} else {
				f.writeBytes(opts.values[i].value)
			}
		}
	}
	if opts.pageSize > 0 {
		f.writeInt(int32(opts.pageSize))
	}
	if len(opts.pagingState) > 0 {
		f.writeBytes(opts.pagingState)
	}
	if opts.serialConsistency > 0 {
		f.writeShort(opts.serialConsistency)
	}
	if opts.defaultTimestamp {
		f.writeLong(opts.defaultTimestampValue)
	}
}

func (f *gFramer) queryFrame(stream int, stmt string, p *gQueryParams, payload map[string][]byte) []byte {
	f.writeHeader(f.flags|payloadFlag(payload), OpQuery, stream)
	f.writeCustomPayload(payload)
	f.writeLongString(stmt)
	f.writeQueryParams(p)
	return f.finish()
}

func (f *gFramer) executeFrame(stream int, id []byte, p *gQueryParams, payload map[string][]byte) []byte {
	f.writeHeader(f.flags|payloadFlag(payload), OpExecute, stream)
	f.writeCustomPayload(payload)
	f.writeShortBytes(id)
	f.writeQueryParams(p)
	return f.finish()
}

func (f *gFramer) prepareFrame(stream int, stmt string) []byte {
	f.writeHeader(f.flags, OpPrepare, stream)
	f.writeLongString(stmt)
	return f.finish()
}

func (f *gFramer) batchFrame(stream int, w *gBatch, payload map[string][]byte) []byte {
	f.writeHeader(f.flags|payloadFlag(payload), OpBatch, stream)
	f.writeCustomPayload(payload)
	f.writeByte(w.typ)
	f.writeShort(uint16(len(w.statements)))
	var flags byte
	for i := range w.statements {
		b := &w.statements[i]
		if len(b.preparedID) == 0 {
			f.writeByte(0)
			f.writeLongString(b.statement)
		} else {
			f.writeByte(1)
			f.writeShortBytes(b.preparedID)
		}
		f.writeShort(uint16(len(b.values)))
		for _, col := range b.values {
			if col.isUnset {
				f.writeInt(-2)
			} else {
				f.writeBytes(col.value)
			}
		}
	}
	f.writeShort(w.consistency)
	if w.serialConsistency > 0 {
		flags |= 0x10
	}
	if w.defaultTimestamp {
		flags |= 0x20
	}
	f.writeByte(flags)
	if w.serialConsistency > 0 {
		f.writeShort(w.serialConsistency)
	}
	if w.defaultTimestamp {
		f.writeLong(w.defaultTimestampValue)
	}
	return f.finish()
}

func (f *gFramer) startupFrame(stream int, kv ...string) []byte {
	f.writeHeader(f.flags&^FlagCompression, OpStartup, stream)
	f.writeStringMap(kv...)
	return f.finish()
}

func (f *gFramer) optionsFrame(stream int) []byte {
	f.writeHeader(f.flags&^FlagCompression, OpOptions, stream)
	return f.finish()
}

func (f *gFramer) registerFrame(stream int, events []string) []byte {
	f.writeHeader(f.flags, OpRegister, stream)
	f.writeStringList(events)
	return f.finish()
}

func (f *gFramer) authResponseFrame(stream int, data []byte) []byte {
	f.writeHeader(f.flags, OpAuthResponse, stream)
	f.writeBytes(data)
	return f.finish()
}

// ---- response parsing (client side, as gocql does it) ----------------------

// gProtocolSupportRe is gocql control.go's protocolSupportRe, verbatim.
var gProtocolSupportRe = regexp.MustCompile(`the lowest supported version is \d+ and the greatest is (\d+)$`)

// gParseProtocolFromError mirrors gocql's parseProtocolFromError for an
// error whose Error() is the server's message.
func gParseProtocolFromError(msg string) int {
	matches := gProtocolSupportRe.FindAllStringSubmatch(msg, -1)
	if len(matches) != 1 || len(matches[0]) != 2 {
		return 0
	}
	v, err := strconv.Atoi(matches[0][1])
	if err != nil {
		return 0
	}
	return v
}

type gHeader struct {
	version byte // with direction bit
	flags   byte
	stream  int
	op      byte
	length  int
}

// gReadHeader mirrors gocql's readHeader (which only accepts v3..v5).
func gReadHeader(p []byte) (gHeader, []byte, error) {
	if len(p) < 1 {
		return gHeader{}, nil, errors.New("short")
	}
	v := p[0] & 0x7F
	if v < 3 || v > 5 {
		return gHeader{}, nil, fmt.Errorf("gocql: unsupported protocol response version: %d", v)
	}
	if len(p) < 9 {
		return gHeader{}, nil, errors.New("short header")
	}
	h := gHeader{
		version: p[0],
		flags:   p[1],
		stream:  int(int16(p[2])<<8 | int16(p[3])),
		op:      p[4],
		length:  int(int32(p[5])<<24 | int32(p[6])<<16 | int32(p[7])<<8 | int32(p[8])),
	}
	if h.length < 0 || len(p)-9 != h.length {
		return gHeader{}, nil, fmt.Errorf("length %d, have %d", h.length, len(p)-9)
	}
	return h, p[9:], nil
}

type gParser struct{ buf []byte }

func (f *gParser) readByte() byte {
	if len(f.buf) < 1 {
		panic(fmt.Errorf("not enough bytes to read byte"))
	}
	b := f.buf[0]
	f.buf = f.buf[1:]
	return b
}

func (f *gParser) readInt() int {
	if len(f.buf) < 4 {
		panic(fmt.Errorf("not enough bytes to read int"))
	}
	n := int(int32(f.buf[0])<<24 | int32(f.buf[1])<<16 | int32(f.buf[2])<<8 | int32(f.buf[3]))
	f.buf = f.buf[4:]
	return n
}

func (f *gParser) readShort() uint16 {
	if len(f.buf) < 2 {
		panic(fmt.Errorf("not enough bytes to read short"))
	}
	n := uint16(f.buf[0])<<8 | uint16(f.buf[1])
	f.buf = f.buf[2:]
	return n
}

func (f *gParser) readString() string {
	size := f.readShort()
	if len(f.buf) < int(size) {
		panic(fmt.Errorf("not enough bytes to read string"))
	}
	s := string(f.buf[:size])
	f.buf = f.buf[size:]
	return s
}

func (f *gParser) readStringList() []string {
	size := f.readShort()
	l := make([]string, size)
	for i := range l {
		l[i] = f.readString()
	}
	return l
}

func (f *gParser) readBytes() []byte {
	size := f.readInt()
	if size < 0 {
		return nil
	}
	if len(f.buf) < size {
		panic(fmt.Errorf("not enough bytes to read bytes"))
	}
	l := f.buf[:size]
	f.buf = f.buf[size:]
	return l
}

func (f *gParser) readShortBytes() []byte {
	size := f.readShort()
	if len(f.buf) < int(size) {
		panic(fmt.Errorf("not enough bytes to read short bytes"))
	}
	l := f.buf[:size]
	f.buf = f.buf[size:]
	return l
}

func (f *gParser) readInet() (net.IP, int) {
	size := f.readByte()
	if size != 4 && size != 16 {
		panic(fmt.Errorf("invalid IP size: %d", size))
	}
	if len(f.buf) < int(size) {
		panic(fmt.Errorf("not enough bytes to read inet"))
	}
	ip := make(net.IP, size)
	copy(ip, f.buf[:size])
	f.buf = f.buf[size:]
	return ip, f.readInt()
}

func (f *gParser) readStringMultiMap() map[string][]string {
	size := f.readShort()
	m := make(map[string][]string, size)
	for i := 0; i < int(size); i++ {
		k := f.readString()
		m[k] = f.readStringList()
	}
	return m
}

// readTypeInfo walks an [option] like gocql's readTypeInfo and returns the
// exact bytes it spanned, so tests can compare them with ColumnSpec.Type.
func (f *gParser) readTypeInfo() []byte {
	start := f.buf
	f.skipType()
	return start[:len(start)-len(f.buf)]
}

func (f *gParser) skipType() {
	id := f.readShort()
	switch id {
	case 0x0000: // custom
		f.readString()
	case 0x0020, 0x0022: // list, set
		f.skipType()
	case 0x0021: // map
		f.skipType()
		f.skipType()
	case 0x0030: // udt
		f.readString()
		f.readString()
		n := f.readShort()
		for i := 0; i < int(n); i++ {
			f.readString()
			f.skipType()
		}
	case 0x0031: // tuple
		n := f.readShort()
		for i := 0; i < int(n); i++ {
			f.skipType()
		}
	}
}

type gColumn struct {
	Keyspace, Table, Name string
	Type                  []byte
}

type gMeta struct {
	flags       int
	colCount    int
	pkeyColumns []int
	pagingState []byte
	keyspace    string // global spec (prepared) / first column's
	table       string
	columns     []gColumn
}

func (f *gParser) readCol(global bool, ks, table string) gColumn {
	var c gColumn
	if !global {
		c.Keyspace = f.readString()
		c.Table = f.readString()
	} else {
		c.Keyspace, c.Table = ks, table
	}
	c.Name = f.readString()
	c.Type = f.readTypeInfo()
	return c
}

func (f *gParser) parseResultMetadata() gMeta {
	var m gMeta
	m.flags = f.readInt()
	m.colCount = f.readInt()
	if m.colCount < 0 {
		panic(fmt.Errorf("negative column count"))
	}
	if m.flags&0x02 != 0 {
		m.pagingState = append([]byte{}, f.readBytes()...)
	}
	if m.flags&0x04 != 0 {
		return m
	}
	global := m.flags&0x01 != 0
	if global {
		m.keyspace = f.readString()
		m.table = f.readString()
	}
	for i := 0; i < m.colCount; i++ {
		m.columns = append(m.columns, f.readCol(global, m.keyspace, m.table))
	}
	return m
}

func (f *gParser) parsePreparedMetadata() gMeta {
	var m gMeta
	m.flags = f.readInt()
	m.colCount = f.readInt()
	if m.colCount < 0 {
		panic(fmt.Errorf("negative column count"))
	}
	pk := f.readInt()
	m.pkeyColumns = make([]int, pk)
	for i := range m.pkeyColumns {
		m.pkeyColumns[i] = int(f.readShort())
	}
	if m.flags&0x02 != 0 {
		m.pagingState = f.readBytes()
	}
	if m.flags&0x04 != 0 {
		return m
	}
	global := m.flags&0x01 != 0
	if global {
		m.keyspace = f.readString()
		m.table = f.readString()
	}
	for i := 0; i < m.colCount; i++ {
		m.columns = append(m.columns, f.readCol(global, m.keyspace, m.table))
	}
	return m
}

// gResponse is whatever parse produced; fields are filled per kind.
type gResponse struct {
	op       byte
	code     int
	message  string
	extra    []any // error extras in wire order
	kind     int
	rows     gMeta
	numRows  int
	rowData  []byte
	prepID   []byte
	reqMeta  gMeta
	respMeta gMeta
	keyspace string
	change   []any // schema change / event fields in wire order
	event    string
	supp     map[string][]string
	token    []byte
	class    string
}

// gParse parses a response body the way gocql's parseFrame does and
// additionally insists that the whole body was consumed (gocql tolerates
// trailing bytes; our encoder must not produce any) except for Rows, whose
// row content is returned raw.
func gParse(op byte, body []byte) (resp gResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gocql-style parse failed: %v", r)
		}
	}()
	f := &gParser{buf: body}
	resp.op = op
	switch op {
	case OpError:
		resp.code = f.readInt()
		resp.message = f.readString()
		switch int32(resp.code) {
		case Unavailable:
			resp.extra = []any{f.readShort(), f.readInt(), f.readInt()}
		case WriteTimeout:
			resp.extra = []any{f.readShort(), f.readInt(), f.readInt(), f.readString()}
		case ReadTimeout:
			resp.extra = []any{f.readShort(), f.readInt(), f.readInt(), f.readByte()}
		case AlreadyExists:
			resp.extra = []any{f.readString(), f.readString()}
		case Unprepared:
			resp.extra = []any{append([]byte{}, f.readShortBytes()...)}
		case ReadFailure:
			resp.extra = []any{f.readShort(), f.readInt(), f.readInt(), f.readInt(), f.readByte() != 0}
		case WriteFailure:
			resp.extra = []any{f.readShort(), f.readInt(), f.readInt(), f.readInt(), f.readString()}
		case FunctionFailure:
			resp.extra = []any{f.readString(), f.readString(), f.readStringList()}
		}
	case OpReady:
	case OpAuthenticate:
		resp.class = f.readString()
	case OpAuthChallenge, OpAuthSuccess:
		resp.token = f.readBytes()
	case OpSupported:
		resp.supp = f.readStringMultiMap()
	case OpResult:
		resp.kind = f.readInt()
		switch resp.kind {
		case 1:
		case 2:
			resp.rows = f.parseResultMetadata()
			resp.numRows = f.readInt()
			if resp.numRows < 0 {
				panic(fmt.Errorf("invalid row_count"))
			}
			resp.rowData = f.buf
			f.buf = nil
		case 3:
			resp.keyspace = f.readString()
		case 4:
			resp.prepID = f.readShortBytes()
			resp.reqMeta = f.parsePreparedMetadata()
			resp.respMeta = f.parseResultMetadata()
		case 5:
			resp.change = f.parseSchemaChange()
		default:
			return resp, fmt.Errorf("unknown result kind %x", resp.kind)
		}
	case OpEvent:
		resp.event = f.readString()
		switch resp.event {
		case "TOPOLOGY_CHANGE", "STATUS_CHANGE":
			change := f.readString()
			ip, port := f.readInet()
			resp.change = []any{change, ip.String(), port}
		case "SCHEMA_CHANGE":
			resp.change = f.parseSchemaChange()
		default:
			panic(fmt.Errorf("unknown event type %q", resp.event))
		}
	default:
		return resp, fmt.Errorf("unknown op 0x%02x", op)
	}
	if len(f.buf) != 0 {
		return resp, fmt.Errorf("%d trailing bytes", len(f.buf))
	}
	return resp, nil
}

func (f *gParser) parseSchemaChange() []any {
	change := f.readString()
	target := f.readString()
	switch target {
	case "KEYSPACE":
		return []any{change, target, f.readString()}
	case "TABLE", "TYPE":
		return []any{change, target, f.readString(), f.readString()}
	case "FUNCTION", "AGGREGATE":
		return []any{change, target, f.readString(), f.readString(), f.readStringList()}
	}
	panic(fmt.Errorf("unknown SCHEMA_CHANGE target %q", target))
}

// gRows splits raw row content into rows×cols cells (nil = null).
func gRows(data []byte, rows, cols int) (out [][][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rows: %v", r)
		}
	}()
	f := &gParser{buf: data}
	for range rows {
		row := make([][]byte, cols)
		for c := range row {
			row[c] = f.readBytes()
		}
		out = append(out, row)
	}
	if len(f.buf) != 0 {
		return nil, fmt.Errorf("%d trailing row bytes", len(f.buf))
	}
	return out, nil
}
