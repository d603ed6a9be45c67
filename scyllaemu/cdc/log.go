package cdc

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sort"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// Logger builds log mutations the way ScyllaDB's CDC transformer does. It
// is used under the store's write lock.
type Logger struct {
	Gens *History
	Rnd  *rand.Rand
}

// rowState is a base row as CDC images see it: log-form values (a
// non-frozen list as a map from its timeuuid keys) by base column slot;
// absent columns are null.
type rowState map[int][]byte

// Snapshot is the preimage read of one base partition, taken before a
// write is applied: the rows and columns ScyllaDB's preimage SELECT asks
// for, holding what it would return.
type Snapshot struct {
	static rowState
	rows   map[string]rowState
	cks    map[string][][]byte
}

// Snap reads what ScyllaDB's preimage query reads for the write muts (one
// base partition) before they are applied; nil when the table has neither
// preimages nor postimages or the write touches no row.
func Snap(base *store.Table, muts []*store.Mutation, now int64) *Snapshot {
	o := base.Opts.CDC
	if o.Preimage == "false" && !o.Postimage {
		return nil
	}
	p := mergePartition(base, muts)
	if p.static == nil && len(p.rows) == 0 {
		return nil
	}
	all := o.Postimage || o.Preimage == "full"
	part := base.Partition(muts[0].Key)
	snap := &Snapshot{static: rowState{}, rows: map[string]rowState{}, cks: map[string][][]byte{}}
	if part == nil {
		return snap
	}
	if p.static != nil {
		for _, c := range base.Columns {
			if c.Kind == store.Static && (all || p.static.cells[c.Slot] != nil) {
				if v := base.LogValue(part, part.Static, c.Slot, now); v != nil {
					snap.static[c.Slot] = v
				}
			}
		}
	}
	if len(p.rows) == 0 {
		return snap
	}
	hasRowDelete := false
	for _, r := range p.rows {
		hasRowDelete = hasRowDelete || r.del != store.NoDeletion
	}
	var regular []*store.Column
	for _, c := range base.Columns {
		if c.Kind == store.Regular && (all || hasRowDelete || p.rows[0].cells[c.Slot] != nil) {
			regular = append(regular, c)
		}
	}
	for _, r := range p.rows {
		row := part.Row(r.ck)
		if row == nil || !base.RowLive(part, row, now) {
			continue
		}
		st := rowState{}
		for _, c := range regular {
			if v := base.LogValue(part, row, c.Slot, now); v != nil {
				st[c.Slot] = v
			}
		}
		snap.rows[ckKey(r.ck)] = st
		snap.cks[ckKey(r.ck)] = r.ck
	}
	return snap
}

// Log returns the log mutations of muts, the writes one statement or batch
// made to one base partition (already applied to the base table), with
// snap taken before they were applied. A write spanning several
// timestamps (or TTLs, or kinds of change) is split like ScyllaDB splits
// it: one log mutation, one cdc$time, per timestamp.
//
// streams is the table's own stream history for a tablets-based table, nil
// to use the cluster's generations.
func (l *Logger) Log(base *store.Table, muts []*store.Mutation, snap *Snapshot, streams *History) []*store.Mutation {
	if base.CDCLog == nil || len(muts) == 0 {
		return nil
	}
	if streams == nil {
		streams = l.Gens
	}
	p := mergePartition(base, muts)
	t := &transformer{l: l, streams: streams, base: base, log: base.CDCLog, key: muts[0].Key}
	t.pk, _ = types.SplitPartitionKey(t.key, len(base.PK))
	o := base.Opts.CDC
	preimage, postimage := o.Preimage != "false", o.Postimage
	if preimage || postimage {
		t.rows, t.static = map[string]rowState{}, rowState{}
	}
	if snap != nil {
		t.static = snap.static
		for k, v := range snap.rows {
			t.rows[k] = v
			t.ckIndex(k, snap.cks[k])
		}
	}
	if shouldSplit(p) {
		changes := extractChanges(base, p)
		tss := make([]int64, 0, len(changes))
		for ts := range changes {
			tss = append(tss, ts)
		}
		sort.Slice(tss, func(i, j int) bool { return tss[i] < tss[j] })
		for i, ts := range tss {
			t.begin(ts, i == len(tss)-1)
			t.processBatch(changes[ts], preimage, postimage)
			t.end()
		}
	} else {
		t.begin(p.firstTS, true)
		t.processWhole(p, preimage, postimage)
		t.end()
	}
	return t.out
}

// mergedPartition is one partition's writes merged into a single mutation,
// as ScyllaDB merges the statements of a batch before CDC sees them.
type mergedPartition struct {
	static  *mergedRow
	rows    []*mergedRow // in clustering order
	ranges  []store.RangeTombstone
	partDel int64
	firstTS int64 // some timestamp of the write (for an unsplit one, its only one)
	hasTS   bool
}

type mergedRow struct {
	ck        [][]byte // nil for the static row
	hasMarker bool
	markerTS  int64
	markerTTL int32
	del       int64
	// cells is indexed by base column slot; ordered lists the written
	// ones in column order, once the partition is merged.
	cells   []*mergedCell
	ordered []*mergedCell
}

type mergedCell struct {
	col *store.Column
	// atomic: set, value (nil is a tombstone), ts, ttl
	set   bool
	value []byte
	ts    int64
	ttl   int32
	// multi-cell
	hasTomb bool
	tomb    int64
	elems   []mergedElem // by key
}

type mergedElem struct {
	key, value []byte
	dead       bool
	ts         int64
	ttl        int32
}

func ckKey(ck [][]byte) string {
	var b []byte
	for _, c := range ck {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return string(b)
}

func mergePartition(base *store.Table, muts []*store.Mutation) *mergedPartition {
	p := &mergedPartition{partDel: store.NoDeletion}
	newRow := func(ck [][]byte) *mergedRow {
		return &mergedRow{ck: ck, del: store.NoDeletion, cells: make([]*mergedCell, len(base.Cells))}
	}
	note := func(ts int64) {
		if !p.hasTS {
			p.firstTS, p.hasTS = ts, true
		}
	}
	for _, m := range muts {
		for i := range m.Rows {
			rw := &m.Rows[i]
			var r *mergedRow
			if rw.CK == nil {
				if len(rw.Cells) == 0 {
					continue
				}
				if p.static == nil {
					p.static = newRow(nil)
				}
				r = p.static
			} else {
				for _, x := range p.rows {
					if base.CompareCK(x.ck, rw.CK) == 0 {
						r = x
						break
					}
				}
				if r == nil {
					r = newRow(rw.CK)
					p.rows = append(p.rows, r)
				}
			}
			if rw.Marker && (!r.hasMarker || m.TS >= r.markerTS) {
				r.hasMarker, r.markerTS, r.markerTTL = true, m.TS, m.TTL
				note(m.TS)
			}
			if rw.Delete && m.TS > r.del {
				r.del = m.TS
				note(m.TS)
			}
			for _, cw := range rw.Cells {
				col := base.Cells[cw.Slot]
				if col == nil {
					continue
				}
				c := r.cells[cw.Slot]
				if c == nil {
					c = &mergedCell{col: col}
					r.cells[cw.Slot] = c
				}
				c.merge(cw, m.TS, m.TTL)
				note(m.TS)
			}
		}
		if len(m.Ranges) > 0 {
			for _, rt := range m.Ranges {
				rt.TS = m.TS
				p.ranges = append(p.ranges, rt)
			}
			note(m.TS)
		}
		if m.PartitionDelete && m.TS > p.partDel {
			p.partDel = m.TS
			note(m.TS)
		}
	}
	sort.SliceStable(p.rows, func(i, j int) bool { return base.CompareCK(p.rows[i].ck, p.rows[j].ck) < 0 })
	order := func(r *mergedRow) {
		for _, c := range base.Columns {
			if c.Slot >= 0 && r.cells[c.Slot] != nil {
				r.ordered = append(r.ordered, r.cells[c.Slot])
			}
		}
	}
	if p.static != nil {
		order(p.static)
	}
	for _, r := range p.rows {
		order(r)
	}
	return p
}

func (c *mergedCell) merge(cw store.CellWrite, ts int64, ttl int32) {
	if !c.col.Type.MultiCell() {
		if cw.Value == nil {
			ttl = 0
		}
		switch {
		case !c.set, ts > c.ts:
		case ts < c.ts:
			return
		case cw.Value == nil:
		case c.value == nil || bytes.Compare(cw.Value, c.value) <= 0:
			return
		}
		c.set, c.value, c.ts, c.ttl = true, cw.Value, ts, ttl
		return
	}
	w := cw.Coll
	if w == nil {
		return
	}
	if w.HasTomb && (!c.hasTomb || w.Tomb > c.tomb) {
		c.hasTomb, c.tomb = true, w.Tomb
	}
	kt := store.KeyType(c.col.Type)
	for _, ew := range w.Elems {
		ne := mergedElem{key: ew.Key, value: ew.Value, dead: ew.Dead, ts: ts, ttl: ttl}
		if ne.dead {
			ne.ttl = 0
		}
		i := sort.Search(len(c.elems), func(i int) bool { return kt.Compare(c.elems[i].key, ew.Key) >= 0 })
		if i < len(c.elems) && kt.Compare(c.elems[i].key, ew.Key) == 0 {
			cur := &c.elems[i]
			if ne.ts > cur.ts || (ne.ts == cur.ts && (ne.dead || (!cur.dead && bytes.Compare(ne.value, cur.value) > 0))) {
				*cur = ne
			}
			continue
		}
		c.elems = append(c.elems, mergedElem{})
		copy(c.elems[i+1:], c.elems[i:])
		c.elems[i] = ne
	}
}

// sortedCells lists a row's cells in column order (ScyllaDB's column ids
// follow names, as the table's column order does within a kind).
func (r *mergedRow) sortedCells() []*mergedCell { return r.ordered }

// shouldSplit is ScyllaDB's should_split: a write needs splitting when it
// carries more than one timestamp or TTL, or more than one kind of change
// (static and clustered rows, upserts and row deletes, rows and range or
// partition deletes), or element cells alongside a row marker.
func shouldSplit(p *mergedPartition) bool {
	var ts int64
	var ttl int32
	seen, stop := false, false
	visit := func(t int64, l int32) {
		if seen && (t != ts || l != ttl) {
			stop = true
		}
		ts, ttl, seen = t, l, true
	}
	visitCells := func(r *mergedRow, hadMarker bool) {
		for _, c := range r.sortedCells() {
			if !c.col.Type.MultiCell() {
				visit(c.ts, c.ttl)
				continue
			}
			if c.hasTomb {
				visit(c.tomb+1, 0)
			}
			for _, e := range c.elems {
				if !e.dead && hadMarker {
					stop = true
				}
				visit(e.ts, e.ttl)
			}
		}
	}
	hadStatic, hadRow, hadUpsert, hadMarker, hadRange := false, false, false, false, false
	if p.static != nil {
		hadStatic = true
		visitCells(p.static, false)
	}
	for _, r := range p.rows {
		if r.hasMarker || len(r.ordered) > 0 {
			if hadStatic {
				return true
			}
			hadRow, hadUpsert = true, true
			if r.hasMarker {
				hadMarker = true
				visit(r.markerTS, r.markerTTL)
			}
			visitCells(r, hadMarker)
		}
		if r.del != store.NoDeletion {
			if hadStatic || hadUpsert {
				return true
			}
			hadRow = true
			visit(r.del, 0)
		}
		if stop {
			return true
		}
	}
	for _, rt := range p.ranges {
		if hadStatic || hadRow {
			return true
		}
		hadRange = true
		visit(rt.TS, 0)
	}
	if p.partDel != store.NoDeletion && (hadRange || hadStatic || hadRow) {
		return true
	}
	return stop || (!seen && p.partDel == store.NoDeletion)
}

// change is one log-row-worth of a write: ScyllaDB's static_row_update,
// clustered_row_insert/update, row, range or partition deletion.
type change struct {
	kind    int8 // OpUpdate (static or clustered), OpInsert, OpRowDelete, OpRangeStart*, OpPartitionDelete
	static  bool
	ck      [][]byte
	ttl     int32
	entries []*mergedCell
	rng     store.RangeTombstone
}

// batch gathers the changes of one timestamp by kind, in ScyllaDB's order.
type batch struct {
	static, inserts, updates, rowDeletes, ranges []change
	partDel                                      bool
}

type tsTTL struct {
	ts  int64
	ttl int32
}

// bucket splits a row's cells by (timestamp, TTL), a collection tombstone
// counting at its timestamp + 1 (it is written just before the cells of
// an overwrite) with no TTL.
func bucket(r *mergedRow) (map[tsTTL][]*mergedCell, []tsTTL) {
	out := map[tsTTL][]*mergedCell{}
	var keys []tsTTL
	get := func(k tsTTL, col *store.Column) *mergedCell {
		list := out[k]
		if len(list) > 0 && list[len(list)-1].col == col {
			return list[len(list)-1]
		}
		if _, ok := out[k]; !ok {
			keys = append(keys, k)
		}
		c := &mergedCell{col: col}
		out[k] = append(list, c)
		return c
	}
	if r.hasMarker {
		k := tsTTL{r.markerTS, r.markerTTL}
		out[k] = nil
		keys = append(keys, k)
	}
	for _, c := range r.sortedCells() {
		if !c.col.Type.MultiCell() {
			e := get(tsTTL{c.ts, c.ttl}, c.col)
			e.set, e.value, e.ts, e.ttl = true, c.value, c.ts, c.ttl
			continue
		}
		if c.hasTomb {
			e := get(tsTTL{c.tomb + 1, 0}, c.col)
			e.hasTomb, e.tomb = true, c.tomb
		}
		for _, el := range c.elems {
			e := get(tsTTL{el.ts, el.ttl}, c.col)
			e.elems = append(e.elems, el)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].ts != keys[j].ts {
			return keys[i].ts < keys[j].ts
		}
		return keys[i].ttl < keys[j].ttl
	})
	return out, keys
}

// extractChanges is ScyllaDB's extract_changes: every piece of the write
// goes into the batch of its timestamp.
func extractChanges(base *store.Table, p *mergedPartition) map[int64]*batch {
	res := map[int64]*batch{}
	get := func(ts int64) *batch {
		b := res[ts]
		if b == nil {
			b = &batch{}
			res[ts] = b
		}
		return b
	}
	if p.static != nil {
		cells, keys := bucket(p.static)
		for _, k := range keys {
			b := get(k.ts)
			b.static = append(b.static, change{kind: OpUpdate, static: true, ttl: k.ttl, entries: cells[k]})
		}
	}
	for _, r := range p.rows {
		cells, keys := bucket(r)
		for _, k := range keys {
			b := get(k.ts)
			if r.hasMarker && k.ts == r.markerTS && k.ttl == r.markerTTL {
				ins := change{kind: OpInsert, ck: r.ck, ttl: k.ttl}
				var upd *change
				for _, c := range cells[k] {
					if c.col.Type.MultiCell() && !c.hasTomb {
						// An INSERT cannot express element cells
						// without the tombstone before them.
						if upd == nil {
							b.updates = append(b.updates, change{kind: OpUpdate, ck: r.ck, ttl: k.ttl})
							upd = &b.updates[len(b.updates)-1]
						}
						upd.entries = append(upd.entries, c)
						continue
					}
					ins.entries = append(ins.entries, c)
				}
				b.inserts = append(b.inserts, ins)
				continue
			}
			b.updates = append(b.updates, change{kind: OpUpdate, ck: r.ck, ttl: k.ttl, entries: cells[k]})
		}
		if r.del != store.NoDeletion {
			b := get(r.del)
			b.rowDeletes = append(b.rowDeletes, change{kind: OpRowDelete, ck: r.ck})
		}
	}
	for _, rt := range p.ranges {
		b := get(rt.TS)
		b.ranges = append(b.ranges, change{kind: OpRangeStartIncl, rng: rt})
	}
	if p.partDel != store.NoDeletion {
		get(p.partDel).partDel = true
	}
	return res
}

// transformer builds the log mutations of one base partition's write.
type transformer struct {
	l         *Logger
	streams   *History
	base, log *store.Table
	key       []byte
	pk        [][]byte
	static    rowState
	rows      map[string]rowState
	cks       map[string][][]byte
	touchedSt bool
	updating  bool
	out       []*store.Mutation

	cur    *store.Mutation
	ts     int64
	cdcTim []byte
}

func (t *transformer) begin(ts int64, last bool) {
	var rnd [8]byte
	binary.BigEndian.PutUint64(rnd[:], t.l.Rnd.Uint64())
	t.ts, t.cdcTim = ts, types.TimeUUIDFromMicros(ts, rnd)
	t.cur = &store.Mutation{Table: t.log, Key: t.streams.At(ts).StreamFor(t.base.Token(t.key)), TS: ts, TTL: t.base.Opts.CDC.TTL}
	o := t.base.Opts.CDC
	t.updating = o.Postimage || (!last && o.Preimage != "false")
}

func (t *transformer) end() {
	rows := t.cur.Rows
	if len(rows) == 0 {
		return
	}
	last := &rows[len(rows)-1]
	last.Cells = append(last.Cells, store.CellWrite{Slot: t.log.Column("cdc$end_of_batch").Slot, Value: []byte{1}})
	t.out = append(t.out, t.cur)
}

// newRow allocates the next log row (cdc$batch_seq_no) with its operation
// and the base partition key.
func (t *transformer) newRow(op int8) *store.RowWrite {
	seq := len(t.cur.Rows)
	t.cur.Rows = append(t.cur.Rows, store.RowWrite{CK: [][]byte{t.cdcTim, be32(int32(seq))}, Marker: true})
	rw := &t.cur.Rows[len(t.cur.Rows)-1]
	t.set(rw, "cdc$operation", []byte{byte(op)})
	for i, c := range t.base.PK {
		t.set(rw, c.Name, t.pk[i])
	}
	return rw
}

func (t *transformer) set(rw *store.RowWrite, name string, v []byte) {
	if c := t.log.Column(name); c != nil {
		rw.Cells = append(rw.Cells, store.CellWrite{Slot: c.Slot, Value: v})
	}
}

func (t *transformer) setCK(rw *store.RowWrite, ck [][]byte) {
	for i, c := range t.base.CK {
		if i < len(ck) {
			t.set(rw, c.Name, ck[i])
		}
	}
}

// processWhole logs an unsplit write: images around the deltas of the
// whole mutation, visited in ScyllaDB's order.
func (t *transformer) processWhole(p *mergedPartition, preimage, postimage bool) {
	if preimage {
		if p.static != nil {
			t.image(OpPreimage, nil, cellSlots(p.static))
		}
		for _, r := range p.rows {
			cols := cellSlots(r)
			if r.del != store.NoDeletion {
				cols = nil
				for _, c := range t.base.Columns {
					if c.Kind == store.Regular {
						cols = append(cols, c.Slot)
					}
				}
			}
			t.image(OpPreimage, r.ck, cols)
		}
	}
	if p.static != nil {
		t.delta(change{kind: OpUpdate, static: true, ttl: liveTTL(p.static), entries: p.static.sortedCells()})
	}
	for _, r := range p.rows {
		if r.hasMarker || len(r.ordered) > 0 {
			op := OpUpdate
			if r.hasMarker {
				op = OpInsert
			}
			ttl := liveTTL(r)
			if r.hasMarker {
				ttl = r.markerTTL
			}
			t.delta(change{kind: op, ck: r.ck, ttl: ttl, entries: r.sortedCells()})
		}
		if r.del != store.NoDeletion {
			t.delta(change{kind: OpRowDelete, ck: r.ck})
		}
	}
	for _, rt := range p.ranges {
		t.delta(change{kind: OpRangeStartIncl, rng: rt})
	}
	if p.partDel != store.NoDeletion {
		t.delta(change{kind: OpPartitionDelete})
	}
	if postimage {
		if p.static != nil {
			t.image(OpPostimage, nil, nil)
		}
		for _, r := range p.rows {
			t.image(OpPostimage, r.ck, nil)
		}
	}
}

func cellSlots(r *mergedRow) []int {
	out := make([]int, 0, len(r.ordered))
	for _, c := range r.sortedCells() {
		out = append(out, c.col.Slot)
	}
	return out
}

// liveTTL is the TTL of a row's live cells (an unsplit write has one).
func liveTTL(r *mergedRow) int32 {
	for _, c := range r.ordered {
		if c.col.Type.MultiCell() {
			for _, e := range c.elems {
				if !e.dead {
					return e.ttl
				}
			}
		} else if c.value != nil {
			return c.ttl
		}
	}
	return 0
}

// processBatch logs one timestamp of a split write.
func (t *transformer) processBatch(b *batch, preimage, postimage bool) {
	var staticCols []int
	affected := map[string][]int{}
	var order [][][]byte
	add := func(ck [][]byte, slots []int) {
		k := ckKey(ck)
		if _, ok := affected[k]; !ok {
			order = append(order, ck)
		}
		affected[k] = mergeSlots(affected[k], slots)
	}
	if preimage || postimage {
		for _, c := range b.static {
			staticCols = mergeSlots(staticCols, entrySlots(c.entries))
		}
		var all []int
		for _, c := range t.base.Columns {
			if c.Kind == store.Regular {
				all = append(all, c.Slot)
			}
		}
		for _, c := range b.rowDeletes {
			add(c.ck, all)
		}
		for _, c := range b.inserts {
			add(c.ck, entrySlots(c.entries))
		}
		for _, c := range b.updates {
			add(c.ck, entrySlots(c.entries))
		}
		sort.SliceStable(order, func(i, j int) bool { return t.base.CompareCK(order[i], order[j]) < 0 })
	}
	if preimage {
		if len(staticCols) > 0 {
			t.image(OpPreimage, nil, staticCols)
		}
		for _, ck := range order {
			t.image(OpPreimage, ck, affected[ckKey(ck)])
		}
	}
	for _, group := range [][]change{b.static, b.inserts, b.updates, b.rowDeletes, b.ranges} {
		for _, c := range group {
			t.delta(c)
		}
	}
	if b.partDel {
		t.delta(change{kind: OpPartitionDelete})
	}
	if postimage {
		if len(staticCols) > 0 {
			t.image(OpPostimage, nil, nil)
		}
		for _, ck := range order {
			t.image(OpPostimage, ck, nil)
		}
	}
}

func entrySlots(entries []*mergedCell) []int {
	out := make([]int, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.col.Slot)
	}
	return out
}

func mergeSlots(a, b []int) []int {
	for _, s := range b {
		found := false
		for _, x := range a {
			if x == s {
				found = true
				break
			}
		}
		if !found {
			a = append(a, s)
		}
	}
	return a
}

// image emits a preimage or postimage row from the row state, if there is
// one: cols limits a preimage to the columns the write touched (nil: all,
// as for 'full' preimages and every postimage). A null value sets
// cdc$deleted_X in a preimage, never in a postimage.
func (t *transformer) image(op int8, ck [][]byte, cols []int) {
	var st rowState
	if ck == nil {
		st = t.static
		if len(st) == 0 && !t.touchedSt {
			return
		}
	} else {
		var ok bool
		if st, ok = t.rows[ckKey(ck)]; !ok {
			return
		}
	}
	full := cols == nil || (op == OpPreimage && t.base.Opts.CDC.Preimage == "full")
	rw := t.newRow(op)
	if ck != nil {
		t.setCK(rw, ck)
	}
	kind := store.Regular
	if ck == nil {
		kind = store.Static
	}
	for _, c := range t.base.Columns {
		if c.Kind != kind {
			continue
		}
		if !full && !containsSlot(cols, c.Slot) {
			continue
		}
		if v, ok := st[c.Slot]; ok {
			t.set(rw, c.Name, v)
		} else if op == OpPreimage {
			t.set(rw, "cdc$deleted_"+c.Name, []byte{1})
		}
	}
}

func containsSlot(s []int, slot int) bool {
	for _, x := range s {
		if x == slot {
			return true
		}
	}
	return false
}

// delta emits the delta row(s) of one change and, when images need it,
// folds the change into the row state.
func (t *transformer) delta(c change) {
	switch c.kind {
	case OpRowDelete:
		rw := t.newRow(OpRowDelete)
		t.setCK(rw, c.ck)
		if t.updating {
			delete(t.rows, ckKey(c.ck))
		}
		return
	case OpRangeStartIncl:
		startOp, endOp := OpRangeStartExcl, OpRangeEndExcl
		if c.rng.Start.Inclusive {
			startOp = OpRangeStartIncl
		}
		if c.rng.End.Inclusive {
			endOp = OpRangeEndIncl
		}
		t.setCK(t.newRow(startOp), c.rng.Start.Prefix)
		t.setCK(t.newRow(endOp), c.rng.End.Prefix)
		if t.updating {
			for k := range t.rows {
				if ck := t.ckOf(k); ck != nil && t.base.InRange(ck, c.rng.Start, c.rng.End) {
					delete(t.rows, k)
				}
			}
		}
		return
	case OpPartitionDelete:
		t.newRow(OpPartitionDelete)
		if t.updating {
			clear(t.rows)
		}
		return
	}
	rw := t.newRow(c.kind)
	if c.ttl > 0 {
		t.set(rw, "cdc$ttl", be64(int64(c.ttl)))
	}
	st := t.static
	if c.static {
		t.touchedSt = true
	} else {
		t.setCK(rw, c.ck)
		k := ckKey(c.ck)
		if t.updating {
			if t.rows[k] == nil {
				t.rows[k] = rowState{}
				t.ckIndex(k, c.ck)
			}
		}
		st = t.rows[k]
	}
	values := t.base.Opts.CDC.Delta != "keys"
	for _, e := range c.entries {
		t.cellDelta(rw, e, values, st)
	}
}

// ckOf recovers a clustering key from its state key.
func (t *transformer) ckOf(k string) [][]byte {
	if t.cks == nil {
		return nil
	}
	return t.cks[k]
}

func (t *transformer) ckIndex(k string, ck [][]byte) {
	if t.cks == nil {
		t.cks = map[string][][]byte{}
	}
	t.cks[k] = ck
}

// cellDelta writes one column's delta: the value, cdc$deleted_X for a dead
// cell or a collection tombstone, cdc$deleted_elements_X for dead elements;
// and updates the image state like ScyllaDB's merge.
func (t *transformer) cellDelta(rw *store.RowWrite, e *mergedCell, values bool, st rowState) {
	col := e.col
	if !col.Type.MultiCell() {
		if values {
			if e.value == nil {
				t.set(rw, "cdc$deleted_"+col.Name, []byte{1})
			} else {
				t.set(rw, col.Name, e.value)
			}
		}
		if t.updating && st != nil {
			if e.value == nil {
				delete(st, col.Slot)
			} else {
				st[col.Slot] = e.value
			}
		}
		return
	}
	var added, deleted []mergedElem
	for _, el := range e.elems {
		if el.dead {
			deleted = append(deleted, el)
		} else {
			added = append(added, el)
		}
	}
	ct := col.Type
	var addedV, deletedV []byte
	if len(added) > 0 || ct.Kind == types.UDT {
		addedV = packAdded(ct, added)
	}
	if len(deleted) > 0 {
		keys := make([][]byte, len(deleted))
		for i, d := range deleted {
			keys[i] = d.key
		}
		deletedV, _ = types.PackCollection(&types.Type{Kind: types.Set, Elems: []*types.Type{store.KeyType(ct)}, Frozen: true}, keys)
	}
	if values {
		if e.hasTomb {
			t.set(rw, "cdc$deleted_"+col.Name, []byte{1})
		}
		if deletedV != nil {
			t.set(rw, "cdc$deleted_elements_"+col.Name, deletedV)
		}
		if addedV != nil {
			t.set(rw, col.Name, addedV)
		}
	}
	if !t.updating || st == nil {
		return
	}
	var prev []byte
	if !e.hasTomb {
		prev = st[col.Slot]
	}
	var next []byte
	if addedV != nil || (deletedV != nil && prev != nil) {
		next = mergeImage(ct, prev, addedV, deleted)
	}
	if next == nil {
		delete(st, col.Slot)
	} else {
		st[col.Slot] = next
	}
}

// packAdded serializes added element cells in the log form: a set of keys,
// a map of keys to values (a list's keys are its timeuuids), or for a UDT
// every field, null where nothing was written.
func packAdded(t *types.Type, added []mergedElem) []byte {
	switch t.Kind {
	case types.UDT:
		fields := make([][]byte, len(t.Elems))
		for _, a := range added {
			if i := int(int16(binary.BigEndian.Uint16(a.key))); i >= 0 && i < len(fields) {
				fields[i] = a.value
			}
		}
		return types.PackTuple(fields)
	case types.Set:
		keys := make([][]byte, len(added))
		for i, a := range added {
			keys[i] = a.key
		}
		v, _ := types.PackCollection(t, keys)
		return v
	}
	flat := make([][]byte, 0, 2*len(added))
	for _, a := range added {
		flat = append(flat, a.key, a.value)
	}
	mt := &types.Type{Kind: types.Map, Elems: []*types.Type{store.KeyType(t), mapValueType(t)}, Frozen: true}
	v, _ := types.PackCollection(mt, flat)
	return v
}

func mapValueType(t *types.Type) *types.Type {
	if t.Kind == types.Map {
		return t.Elems[1]
	}
	return t.Elems[0]
}

// mergeImage applies a delta to an image value (log form), as ScyllaDB's
// cdc merge does: added cells win over previous ones, deleted keys go.
func mergeImage(t *types.Type, prev, added []byte, deleted []mergedElem) []byte {
	kt := store.KeyType(t)
	isDeleted := func(k []byte) bool {
		for _, d := range deleted {
			if kt.Compare(d.key, k) == 0 {
				return true
			}
		}
		return false
	}
	if t.Kind == types.UDT {
		pf, _ := types.UnpackTuple(t, prev)
		nf, _ := types.UnpackTuple(t, added)
		res := make([][]byte, len(t.Elems))
		for i := range res {
			if i < len(pf) {
				res[i] = pf[i]
			}
			if i < len(nf) && nf[i] != nil {
				res[i] = nf[i]
			}
			if isDeleted(store.FieldKey(i)) {
				res[i] = nil
			}
		}
		return types.PackTuple(res)
	}
	pe, _ := types.UnpackCollection(prev)
	ne, _ := types.UnpackCollection(added)
	step := 2
	ct := &types.Type{Kind: types.Map, Elems: []*types.Type{kt, mapValueType(t)}, Frozen: true}
	if t.Kind == types.Set {
		step, ct = 1, t.Freeze()
	}
	var flat [][]byte
	// Added cells first: PackCollection keeps the first of equal set
	// elements and the last of equal map keys, so order each accordingly.
	if step == 1 {
		flat = append(append(flat, ne...), pe...)
	} else {
		flat = append(append(flat, pe...), ne...)
	}
	var kept [][]byte
	for i := 0; i+step <= len(flat); i += step {
		if !isDeleted(flat[i]) {
			kept = append(kept, flat[i:i+step]...)
		}
	}
	v, _ := types.PackCollection(ct, kept)
	return v
}
