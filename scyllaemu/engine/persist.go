package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cdc"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wal"
)

// Persistence. With a data directory every change is a record of the
// write-ahead log (package wal), appended under the store's write lock in
// the order it was applied:
//
//   - meta: written once when the directory is new: the host id and the
//     first CDC generation, so that a restart keeps both;
//   - ddl: a schema statement's text, its session keyspace and the table
//     ids it generated; replay runs the statement again, which rebuilds
//     the schema, system_schema and each table's column slots exactly;
//   - mutations: the concrete base and CDC log mutations of one write
//     (after list keys, LWT conditions and CDC rows were decided), with
//     the clock they were applied at and the server stamp; replay applies
//     them as they are, so it repeats no decision and draws no random
//     number;
//   - generation: a CDC generation published by NewGeneration.
//
// Replay happens before the server accepts connections. Commit (called by
// the server before it answers a request) writes the records of every
// write applied so far: a write is on disk before its acknowledgement.

const (
	recMeta byte = iota + 1
	recDDL
	recMutations
	recGeneration
)

// ErrDataDir wraps failures to write the data directory; the engine then
// refuses every request, since memory is ahead of the disk.
var ErrDataDir = errors.New("scyllaemu: data directory")

// newTableID returns a new table id; during replay, the id the statement
// got originally.
func (e *Engine) newTableID() [16]byte {
	var id [16]byte
	if len(e.replayIDs) > 0 {
		id, e.replayIDs = e.replayIDs[0], e.replayIDs[1:]
	} else {
		copy(id[:], e.randomTimeUUID(e.nowMicros()))
	}
	e.newIDs = append(e.newIDs, id)
	return id
}

// openLog opens the data directory and replays it. The caller holds no
// lock; nothing else runs yet.
func (e *Engine) openLog() error {
	fresh := true
	replay := func(p []byte) error {
		if len(p) == 0 {
			return errors.New("empty record")
		}
		d := &decoder{b: p[1:]}
		var err error
		switch p[0] {
		case recMeta:
			fresh = false
			err = e.replayMeta(d)
		case recDDL:
			err = e.replayDDL(d)
		case recMutations:
			err = e.replayMutations(d)
		case recGeneration:
			err = e.replayGeneration(d)
		default:
			err = fmt.Errorf("unknown record kind %d", p[0])
		}
		if err == nil && d.err != nil {
			err = d.err
		}
		return err
	}
	l, err := wal.Open(e.opts.DataDir, wal.Options{FsyncAlways: e.opts.FsyncAlways}, replay)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	e.wal = l
	if fresh {
		var enc encoder
		enc.byte(recMeta)
		enc.raw(e.hostID)
		enc.generation(e.gens.Latest())
		if err := l.Commit(l.Append(enc.b)); err != nil {
			return fmt.Errorf("%w: %w", ErrDataDir, err)
		}
	}
	return nil
}

// Commit makes every write applied so far durable per the fsync policy;
// the server calls it before answering a request. Without a data
// directory it does nothing.
func (e *Engine) Commit() error {
	if e.wal == nil {
		return nil
	}
	if err := e.wal.Commit(e.wal.Appended()); err != nil {
		return fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	return nil
}

// Close flushes and closes the data directory, if any.
func (e *Engine) Close() error {
	if e.wal == nil {
		return nil
	}
	return e.wal.Close()
}

func (e *Engine) logDDL(ks, src string) {
	if e.wal == nil || e.replaying {
		return
	}
	var enc encoder
	enc.byte(recDDL)
	enc.varint(e.ddlTime)
	enc.str(ks)
	enc.str(src)
	enc.uvarint(uint64(len(e.newIDs)))
	for _, id := range e.newIDs {
		enc.raw(id[:])
	}
	e.wal.Append(enc.b)
}

func (e *Engine) logMutations(stamp, now int64, muts []*store.Mutation) {
	if e.wal == nil || e.replaying || len(muts) == 0 {
		return
	}
	var enc encoder
	enc.byte(recMutations)
	enc.varint(stamp)
	enc.varint(now)
	enc.uvarint(uint64(len(muts)))
	for _, m := range muts {
		enc.mutation(m)
	}
	e.wal.Append(enc.b)
}

func (e *Engine) logGeneration(g *cdc.Generation) {
	if e.wal == nil || e.replaying {
		return
	}
	var enc encoder
	enc.byte(recGeneration)
	enc.generation(g)
	e.wal.Append(enc.b)
}

func (e *Engine) replayMeta(d *decoder) error {
	e.hostID = d.raw(16)
	g := d.generation()
	if d.err != nil {
		return d.err
	}
	e.gens = cdc.NewHistory(g)
	e.logger.Gens = e.gens
	return nil
}

func (e *Engine) replayDDL(d *decoder) error {
	at := d.varint()
	ks, src := d.str(), d.str()
	n := d.uvarint()
	ids := make([][16]byte, 0, min(n, 64))
	for i := uint64(0); i < n && d.err == nil; i++ {
		ids = append(ids, [16]byte(d.raw(16)))
	}
	if d.err != nil {
		return d.err
	}
	parsed, err := cql.Parse(src)
	if err != nil {
		return fmt.Errorf("schema statement %q: %w", src, err)
	}
	e.st.Lock()
	defer e.st.Unlock()
	e.replayIDs, e.ddlTime = ids, at
	_, err = e.execDDL(&ddlPlan{stmt: parsed.Stmt, src: src, keyspace: ks}, nil)
	e.replayIDs, e.ddlTime = nil, 0
	e.tableByID = nil
	if err != nil {
		return fmt.Errorf("schema statement %q: %w", src, err)
	}
	e.schemaGen.Add(1)
	return nil
}

func (e *Engine) replayMutations(d *decoder) error {
	stamp, now := d.varint(), d.varint()
	n := d.uvarint()
	e.st.Lock()
	defer e.st.Unlock()
	if e.tableByID == nil {
		e.tableByID = map[[16]byte]*store.Table{}
		for _, ks := range e.st.Keyspaces {
			for _, t := range ks.Tables {
				e.tableByID[t.ID] = t
			}
		}
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m := d.mutation(e.tableByID)
		if d.err != nil {
			return d.err
		}
		m.Table.Apply(m, now)
		if m.Table.Base != nil && m.Table.Base.CDCLog == m.Table {
			e.maxCDCWrite = max(e.maxCDCWrite, m.TS)
		}
	}
	if stamp > e.lastTS.Load() {
		e.lastTS.Store(stamp)
	}
	return d.err
}

func (e *Engine) replayGeneration(d *decoder) error {
	g := d.generation()
	if d.err != nil {
		return d.err
	}
	return e.gens.Add(g)
}

// encoder builds a record.
type encoder struct{ b []byte }

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) raw(v []byte)     { e.b = append(e.b, v...) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) bool(v bool)      { e.byte(boolByte(v)) }
func (e *encoder) keys(ck [][]byte) { e.uvarint(uint64(len(ck))); e.each(ck) }
func (e *encoder) each(vs [][]byte) {
	for _, v := range vs {
		e.bytes(v)
	}
}
func (e *encoder) bound(b store.Bound) { e.bool(b.Inclusive); e.keys(b.Prefix) }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (e *encoder) generation(g *cdc.Generation) {
	e.varint(g.Time.UnixMilli())
	e.uvarint(uint64(len(g.Vnodes)))
	for _, v := range g.Vnodes {
		e.varint(v.End)
		e.bytes(v.Stream)
	}
}

// Cell kinds in a mutation record.
const (
	cellValue byte = iota
	cellNull
	cellColl
)

func (e *encoder) mutation(m *store.Mutation) {
	e.raw(m.Table.ID[:])
	e.bytes(m.Key)
	e.varint(m.TS)
	e.varint(int64(m.TTL))
	e.bool(m.PartitionDelete)
	e.uvarint(uint64(len(m.Ranges)))
	for _, rt := range m.Ranges {
		e.bound(rt.Start)
		e.bound(rt.End)
	}
	e.uvarint(uint64(len(m.Rows)))
	for _, rw := range m.Rows {
		e.bool(rw.CK == nil)
		if rw.CK != nil {
			e.keys(rw.CK)
		}
		e.bool(rw.Marker)
		e.bool(rw.Delete)
		e.uvarint(uint64(len(rw.Cells)))
		for _, cw := range rw.Cells {
			e.uvarint(uint64(cw.Slot))
			switch {
			case cw.Coll != nil:
				e.byte(cellColl)
				e.bool(cw.Coll.HasTomb)
				e.varint(cw.Coll.Tomb)
				e.uvarint(uint64(len(cw.Coll.Elems)))
				for _, el := range cw.Coll.Elems {
					e.bytes(el.Key)
					e.bool(el.Dead)
					e.bytes(el.Value)
				}
			case cw.Value == nil:
				e.byte(cellNull)
			default:
				e.byte(cellValue)
				e.bytes(cw.Value)
			}
		}
	}
}

// decoder reads a record; the first error sticks and zero values follow.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("malformed record: %s", what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool { return d.byte() == 1 }

func (d *decoder) raw(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.fail("truncated")
		return make([]byte, n)
	}
	v := make([]byte, n) // never nil: an empty value is not a null one
	copy(v, d.b)
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail("truncated bytes")
		return nil
	}
	return d.raw(int(n))
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) keys() [][]byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("bad key count")
		return nil
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = d.bytes()
	}
	return out
}

func (d *decoder) bound() store.Bound {
	incl := d.bool()
	return store.Bound{Inclusive: incl, Prefix: d.keys()}
}

func (d *decoder) generation() *cdc.Generation {
	g := &cdc.Generation{Time: time.UnixMilli(d.varint()).UTC()}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("bad vnode count")
		return g
	}
	for i := uint64(0); i < n; i++ {
		end := d.varint()
		g.Vnodes = append(g.Vnodes, cdc.Vnode{End: end, Stream: d.bytes()})
	}
	return g
}

func (d *decoder) mutation(tables map[[16]byte]*store.Table) *store.Mutation {
	id := [16]byte(d.raw(16))
	t := tables[id]
	if t == nil && d.err == nil {
		d.err = fmt.Errorf("mutation of unknown table %x", id)
	}
	m := &store.Mutation{Table: t, Key: d.bytes(), TS: d.varint(), TTL: int32(d.varint()), PartitionDelete: d.bool()}
	nr := d.uvarint()
	for i := uint64(0); i < nr && d.err == nil; i++ {
		start := d.bound()
		m.Ranges = append(m.Ranges, store.RangeTombstone{Start: start, End: d.bound()})
	}
	nrows := d.uvarint()
	for i := uint64(0); i < nrows && d.err == nil; i++ {
		var rw store.RowWrite
		if !d.bool() {
			rw.CK = d.keys()
		}
		rw.Marker, rw.Delete = d.bool(), d.bool()
		nc := d.uvarint()
		for j := uint64(0); j < nc && d.err == nil; j++ {
			cw := store.CellWrite{Slot: int(d.uvarint())}
			if t != nil && (cw.Slot >= len(t.Cells) || t.Cells[cw.Slot] == nil) {
				// A column dropped since: its cells are never read.
				cw.Slot = -1
			}
			switch d.byte() {
			case cellValue:
				cw.Value = d.bytes()
			case cellNull:
			case cellColl:
				w := &store.CollWrite{HasTomb: d.bool(), Tomb: d.varint()}
				ne := d.uvarint()
				for k := uint64(0); k < ne && d.err == nil; k++ {
					key, dead := d.bytes(), d.bool()
					w.Elems = append(w.Elems, store.ElemWrite{Key: key, Dead: dead, Value: d.bytes()})
				}
				cw.Coll = w
			default:
				d.fail("bad cell kind")
			}
			if cw.Slot >= 0 {
				rw.Cells = append(rw.Cells, cw)
			}
		}
		m.Rows = append(m.Rows, rw)
	}
	return m
}
