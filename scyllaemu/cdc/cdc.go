// Package cdc owns the emulator's Change Data Capture: the stream
// generations (the first from start, more on demand, as a topology change
// publishes them in ScyllaDB), the `<table>_scylla_cdc_log` schema derived
// from a base table, and the delta log rows a base mutation produces, in
// ScyllaDB's format so that scylla-cdc-go reads them unmodified.
package cdc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// LogSuffix is appended to a base table name to name its CDC log.
const LogSuffix = "_scylla_cdc_log"

// Partitioner is the partitioner ScyllaDB reports for log tables: the token
// of a log partition is the first 8 bytes of its stream id.
const Partitioner = "com.scylladb.dht.CDCPartitioner"

// Operation codes of the cdc$operation column.
const (
	OpPreimage        int8 = 0
	OpUpdate          int8 = 1
	OpInsert          int8 = 2
	OpRowDelete       int8 = 3
	OpPartitionDelete int8 = 4
	OpRangeStartIncl  int8 = 5
	OpRangeStartExcl  int8 = 6
	OpRangeEndIncl    int8 = 7
	OpRangeEndExcl    int8 = 8
	OpPostimage       int8 = 9
)

// GenerationLeeway is ScyllaDB's generation_leeway: how far into the future
// a write may be stamped, and how far into the past a write may still go to
// a generation that is no longer current.
const GenerationLeeway = 5 * time.Second

// Vnode is one token range (previous vnode's End, End] and its stream.
type Vnode struct {
	End    int64
	Stream []byte
}

// Generation is the set of streams in force from Time on.
type Generation struct {
	Time   time.Time
	Vnodes []Vnode // ordered by End
}

// NewGeneration splits the token ring into n equal vnodes with one stream
// each (the emulator is one node with one shard). The stream id layout is
// ScyllaDB's: big-endian token ‖ big-endian (rand38<<26 | vnode<<4 | version 1),
// with the token inside the vnode's range so the CDC partitioner routes a
// stream to the node owning its vnode.
func NewGeneration(at time.Time, n int, rnd *rand.Rand) *Generation {
	if n < 1 {
		n = 1
	}
	g := &Generation{Time: at.Truncate(time.Millisecond)}
	step := math.MaxUint64 / uint64(n)
	prev := int64(math.MinInt64)
	for i := 0; i < n; i++ {
		end := int64(uint64(1)<<63 + uint64(i+1)*step)
		if i == n-1 {
			end = math.MaxInt64
		}
		// The stream token lies in (prev, end]; vnode 0 wraps, so its
		// range also covers (last end, MaxInt64], but (MinInt64, end] is
		// part of it and is where we place the token.
		tok := prev + 1 + int64(rnd.Uint64N(uint64(end-prev)))
		var id [16]byte
		binary.BigEndian.PutUint64(id[:8], uint64(tok))
		low := (rnd.Uint64()&(1<<38-1))<<26 | uint64(i&(1<<22-1))<<4 | 1
		binary.BigEndian.PutUint64(id[8:], low)
		g.Vnodes = append(g.Vnodes, Vnode{End: end, Stream: id[:]})
		prev = end
	}
	return g
}

// Tokens are the vnode tokens as system.local.tokens shows them.
func (g *Generation) Tokens() []string {
	out := make([]string, len(g.Vnodes))
	for i, v := range g.Vnodes {
		out[i] = fmt.Sprint(v.End)
	}
	return out
}

// StreamFor returns the stream of the vnode owning token: the first vnode
// whose End is >= token, wrapping to vnode 0.
func (g *Generation) StreamFor(token int64) []byte {
	i := sort.Search(len(g.Vnodes), func(i int) bool { return g.Vnodes[i].End >= token })
	if i == len(g.Vnodes) {
		i = 0
	}
	return g.Vnodes[i].Stream
}

// ErrWriteTime is wrapped by the errors for writes whose timestamp no
// stream covers; ScyllaDB rejects them rather than log them to a wrong stream.
var ErrWriteTime = errors.New("cdc: write timestamp outside the known generations")

// History is the sequence of generations a node knows, oldest first. A
// write is logged to the streams of the generation in force at its own
// timestamp. It is not safe for concurrent use; the engine guards it with
// the store's lock.
type History struct {
	gens []*Generation
}

// NewHistory starts a history with the cluster's first generation.
func NewHistory(first *Generation) *History { return &History{gens: []*Generation{first}} }

// Generations returns the generations, oldest first.
func (h *History) Generations() []*Generation { return append([]*Generation(nil), h.gens...) }

// Latest is the newest generation, which may not have started yet.
func (h *History) Latest() *Generation { return h.gens[len(h.gens)-1] }

// Add appends a generation; it must start after the latest one.
func (h *History) Add(g *Generation) error {
	if latest := h.Latest(); !g.Time.After(latest.Time) {
		return fmt.Errorf("cdc: generation at %s does not follow the latest one at %s",
			g.Time.UTC().Format(time.RFC3339Nano), latest.Time.UTC().Format(time.RFC3339Nano))
	}
	h.gens = append(h.gens, g)
	return nil
}

// At returns the generation in force at ts (µs): the last one starting at
// or before it, or nil before the first.
func (h *History) At(ts int64) *Generation {
	i := sort.Search(len(h.gens), func(i int) bool { return h.gens[i].Time.UnixMicro() > ts })
	if i == 0 {
		return nil
	}
	return h.gens[i-1]
}

// CheckWriteTime rejects a write timestamp (µs) on a CDC table as ScyllaDB
// does, with its messages: more than GenerationLeeway ahead of now ("from
// the future"), before the first generation, or at least GenerationLeeway
// in the past and bound for a generation that is no longer current ("from
// the past": a reader may already have moved past it).
func (h *History) CheckWriteTime(ts int64, now time.Time) error {
	t := time.UnixMicro(ts).UTC()
	if t.After(now.Add(GenerationLeeway)) {
		return fmt.Errorf("%w: cdc: attempted to get a stream \"from the future\" (%s; current server time: %s)."+
			" With CDC you cannot send writes with timestamps arbitrarily into the future, because we don't"+
			" know what streams will be used at that time", ErrWriteTime, t.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	if first := h.gens[0]; t.Before(first.Time) {
		return fmt.Errorf("%w: cdc: attempted to get a stream \"from the past\" (%s), before any CDC generations appeared."+
			" The earliest generation starts at %s", ErrWriteTime, t.Format(time.RFC3339Nano), first.Time.UTC().Format(time.RFC3339Nano))
	}
	horizon := now.Add(-GenerationLeeway).UnixMicro()
	if ts > horizon {
		return nil
	}
	i := sort.Search(len(h.gens), func(i int) bool { return h.gens[i].Time.UnixMicro() > horizon }) - 1
	superseded := i+1 < len(h.gens) && !h.gens[i+1].Time.After(now)
	if ts < h.gens[i].Time.UnixMicro() || superseded {
		return fmt.Errorf("%w: cdc: attempted to get a stream \"from the past\" (%s; current server time: %s)."+
			" With CDC you cannot send writes with timestamps too far into the past, because that would break"+
			" consistency properties.\nWe *do* allow sending writes into the near past, but our ability to do that"+
			" is limited. Are you using client-side timestamps? Make sure your clocks are well-synchronized"+
			" with the database's clocks.", ErrWriteTime, t.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// LogColumns derives the log table's columns from a base table, as ScyllaDB
// does: stream id and (time, batch_seq_no) keys, the base key columns, each
// static/regular column frozen plus cdc$deleted_ (and cdc$deleted_elements_
// for non-frozen collections), and the batch/operation/ttl columns.
func LogColumns(base *store.Table) ([]*store.Column, error) {
	mk := func(name, typ string, kind store.ColumnKind, pos int) (*store.Column, error) {
		t, err := types.Parse(typ)
		if err != nil {
			return nil, err
		}
		return &store.Column{Name: name, Type: t, Kind: kind, Position: pos}, nil
	}
	var cols []*store.Column
	add := func(c *store.Column, err error) error {
		if err != nil {
			return err
		}
		cols = append(cols, c)
		return nil
	}
	for _, spec := range []struct {
		name, typ string
		kind      store.ColumnKind
		pos       int
	}{
		{"cdc$stream_id", "blob", store.PartitionKey, 0},
		{"cdc$time", "timeuuid", store.Clustering, 0},
		{"cdc$batch_seq_no", "int", store.Clustering, 1},
		{"cdc$end_of_batch", "boolean", store.Regular, -1},
		{"cdc$operation", "tinyint", store.Regular, -1},
		{"cdc$ttl", "bigint", store.Regular, -1},
	} {
		if err := add(mk(spec.name, spec.typ, spec.kind, spec.pos)); err != nil {
			return nil, err
		}
	}
	for _, c := range base.Columns {
		if c.IsKey() {
			cols = append(cols, &store.Column{Name: c.Name, Type: c.Type, Kind: store.Regular, Position: -1})
			continue
		}
		lt, err := logType(c.Type)
		if err != nil {
			return nil, err
		}
		cols = append(cols, &store.Column{Name: c.Name, Type: lt, Kind: store.Regular, Position: -1})
		if err := add(mk("cdc$deleted_"+c.Name, "boolean", store.Regular, -1)); err != nil {
			return nil, err
		}
		if c.Type.MultiCell() {
			et := c.Type.Elems[0]
			if c.Type.Kind == types.List {
				et = &types.Type{Kind: types.Timeuuid}
			}
			cols = append(cols, &store.Column{Name: "cdc$deleted_elements_" + c.Name,
				Type: &types.Type{Kind: types.Set, Elems: []*types.Type{et}, Frozen: true}, Kind: store.Regular, Position: -1})
		}
	}
	return cols, nil
}

// logType is the log column type of a base column: collections frozen, and a
// list's elements keyed by timeuuid as ScyllaDB stores list cells.
func logType(t *types.Type) (*types.Type, error) {
	if !t.MultiCell() {
		return t, nil
	}
	if t.Kind == types.List {
		return &types.Type{Kind: types.Map, Elems: []*types.Type{{Kind: types.Timeuuid}, t.Elems[0]}, Frozen: true}, nil
	}
	ft := *t
	ft.Frozen = true
	return &ft, nil
}

// Logger builds log mutations. It is used under the store's write lock.
type Logger struct {
	Gens *History
	Rnd  *rand.Rand
}

// Log returns the log mutation for base mutations that share one base
// partition and one write timestamp (one statement, or the statements of a
// batch on that partition). All rows get one cdc$time; the last row carries
// end_of_batch. The stream is the partition's in the generation in force
// at the write timestamp, which the caller has checked with CheckWriteTime.
func (l *Logger) Log(base *store.Table, muts []*store.Mutation) *store.Mutation {
	log := base.CDCLog
	if log == nil || len(muts) == 0 {
		return nil
	}
	ts := muts[0].TS
	var rnd [8]byte
	binary.BigEndian.PutUint64(rnd[:], l.Rnd.Uint64())
	cdcTime := types.TimeUUIDFromMicros(ts, rnd)
	pk, _ := types.SplitPartitionKey(muts[0].Key, len(base.PK))
	b := &rowBuilder{base: base, log: log, pk: pk, keysOnly: base.Opts.CDC.Delta == "keys", ts: ts}

	for _, m := range muts {
		for _, rw := range m.Rows {
			if rw.CK == nil {
				b.row(OpUpdate, nil, m.TTL, rw)
			}
		}
	}
	type ckRow struct {
		m  *store.Mutation
		rw store.RowWrite
	}
	var rows []ckRow
	for _, m := range muts {
		for _, rw := range m.Rows {
			if rw.CK != nil {
				rows = append(rows, ckRow{m, rw})
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return base.CompareCK(rows[i].rw.CK, rows[j].rw.CK) < 0 })
	for _, r := range rows {
		op := OpUpdate
		switch {
		case r.rw.Delete:
			op = OpRowDelete
		case r.rw.Marker:
			op = OpInsert
		}
		b.row(op, r.rw.CK, r.m.TTL, r.rw)
	}
	for _, m := range muts {
		for _, rt := range m.Ranges {
			startOp, endOp := OpRangeStartExcl, OpRangeEndExcl
			if rt.Start.Inclusive {
				startOp = OpRangeStartIncl
			}
			if rt.End.Inclusive {
				endOp = OpRangeEndIncl
			}
			b.row(startOp, rt.Start.Prefix, 0, store.RowWrite{})
			b.row(endOp, rt.End.Prefix, 0, store.RowWrite{})
		}
	}
	for _, m := range muts {
		if m.PartitionDelete {
			b.row(OpPartitionDelete, nil, 0, store.RowWrite{})
		}
	}
	if len(b.rows) == 0 {
		return nil
	}
	last := &b.rows[len(b.rows)-1]
	last.Cells = append(last.Cells, store.CellWrite{Slot: log.Column("cdc$end_of_batch").Slot, Value: []byte{1}})
	for i := range b.rows {
		b.rows[i].CK = [][]byte{cdcTime, be32(int32(i))}
	}
	return &store.Mutation{
		Table: log,
		Key:   l.Gens.At(ts).StreamFor(base.Token(muts[0].Key)),
		TS:    ts,
		TTL:   base.Opts.CDC.TTL,
		Rows:  b.rows,
	}
}

type rowBuilder struct {
	base, log *store.Table
	pk        [][]byte
	keysOnly  bool
	ts        int64
	rows      []store.RowWrite
}

func (b *rowBuilder) set(cells []store.CellWrite, name string, v []byte) []store.CellWrite {
	c := b.log.Column(name)
	if c == nil {
		return cells
	}
	return append(cells, store.CellWrite{Slot: c.Slot, Value: v})
}

func (b *rowBuilder) row(op int8, ck [][]byte, ttl int32, rw store.RowWrite) {
	var cells []store.CellWrite
	cells = b.set(cells, "cdc$operation", []byte{byte(op)})
	if ttl > 0 {
		cells = b.set(cells, "cdc$ttl", be64(int64(ttl)))
	}
	for i, c := range b.base.PK {
		cells = b.set(cells, c.Name, b.pk[i])
	}
	for i, c := range b.base.CK {
		if i < len(ck) {
			cells = b.set(cells, c.Name, ck[i])
		}
	}
	if !b.keysOnly {
		for _, cw := range rw.Cells {
			col := b.base.Cells[cw.Slot]
			if col == nil {
				continue
			}
			cells = append(cells, b.cellDelta(col, cw)...)
		}
	}
	b.rows = append(b.rows, store.RowWrite{Marker: true, Cells: cells})
}

// cellDelta renders one base cell write as log cells: the new value,
// cdc$deleted_X for an overwrite with NULL (or a collection overwrite, which
// deletes the old elements), cdc$deleted_elements_X for removed elements.
func (b *rowBuilder) cellDelta(col *store.Column, cw store.CellWrite) []store.CellWrite {
	var out []store.CellWrite
	del := "cdc$deleted_" + col.Name
	if !col.Type.MultiCell() {
		if cw.Value == nil {
			return b.set(out, del, []byte{1})
		}
		return b.set(out, col.Name, cw.Value)
	}
	switch cw.Op {
	case store.OpSet:
		out = b.set(out, del, []byte{1})
		if cw.Value != nil {
			out = b.set(out, col.Name, b.collectionValue(col.Type, cw.Value))
		}
	case store.OpAppend, store.OpPrepend:
		out = b.set(out, col.Name, b.collectionValue(col.Type, cw.Value))
	case store.OpRemove:
		elems, _ := types.UnpackCollection(cw.Value)
		if col.Type.Kind != types.List {
			set, err := types.PackCollection(b.log.Column("cdc$deleted_elements_"+col.Name).Type, elems)
			if err == nil {
				out = b.set(out, "cdc$deleted_elements_"+col.Name, set)
			}
		}
	case store.OpPutKey:
		if cw.Value == nil {
			set, err := types.PackCollection(b.log.Column("cdc$deleted_elements_"+col.Name).Type, [][]byte{cw.Key})
			if err == nil {
				out = b.set(out, "cdc$deleted_elements_"+col.Name, set)
			}
		} else {
			m, err := types.PackCollection(&types.Type{Kind: types.Map, Elems: col.Type.Elems, Frozen: true}, [][]byte{cw.Key, cw.Value})
			if err == nil {
				out = b.set(out, col.Name, m)
			}
		}
	}
	return out
}

// collectionValue converts a base collection value to its log form: lists
// become maps keyed by timeuuids derived from the write time, in order.
func (b *rowBuilder) collectionValue(t *types.Type, v []byte) []byte {
	if t.Kind != types.List {
		return v
	}
	elems, err := types.UnpackCollection(v)
	if err != nil {
		return nil
	}
	flat := make([][]byte, 0, 2*len(elems))
	for i, e := range elems {
		var seq [8]byte
		binary.BigEndian.PutUint64(seq[:], uint64(i))
		flat = append(flat, types.TimeUUIDFromMicros(b.ts, seq), e)
	}
	lt, _ := logType(t)
	m, err := types.PackCollection(lt, flat)
	if err != nil {
		return nil
	}
	return m
}

func be32(v int32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	return b[:]
}

func be64(v int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return b[:]
}
