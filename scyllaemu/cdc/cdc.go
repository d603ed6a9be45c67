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
			" with the database's clocks", ErrWriteTime, t.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
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
			cols = append(cols, &store.Column{Name: "cdc$deleted_elements_" + c.Name,
				Type: &types.Type{Kind: types.Set, Elems: []*types.Type{store.KeyType(c.Type)}, Frozen: true}, Kind: store.Regular, Position: -1})
		}
	}
	return cols, nil
}

// logType is the log column type of a base column: collections and UDTs
// frozen, and a list's elements keyed by timeuuid as ScyllaDB stores list
// cells.
func logType(t *types.Type) (*types.Type, error) {
	if !t.MultiCell() {
		return t, nil
	}
	if t.Kind == types.List {
		return &types.Type{Kind: types.Map, Elems: []*types.Type{{Kind: types.Timeuuid}, t.Elems[0]}, Frozen: true}, nil
	}
	return t.Freeze(), nil
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

// NewTabletStreams is the stream set of a tablets-based table with n
// tablets (n a power of two), operating from at: one stream per tablet,
// whose token is the tablet's last token, as ScyllaDB 2025.4 creates them.
// The random bits derive from the table id and the time, so that the same
// table and time give the same streams (a data directory's replay relies
// on it).
func NewTabletStreams(tableID [16]byte, at time.Time, n int) *Generation {
	if n < 1 {
		n = 1
	}
	seed := binary.BigEndian.Uint64(tableID[:8]) ^ uint64(at.UnixMilli())
	rnd := rand.New(rand.NewPCG(seed, binary.BigEndian.Uint64(tableID[8:])))
	g := &Generation{Time: at.Truncate(time.Millisecond)}
	step := math.MaxUint64 / uint64(n)
	for i := 0; i < n; i++ {
		end := int64(uint64(1)<<63 + uint64(i+1)*step)
		if i == n-1 {
			end = math.MaxInt64
		}
		var id [16]byte
		binary.BigEndian.PutUint64(id[:8], uint64(end))
		binary.BigEndian.PutUint64(id[8:], (rnd.Uint64()&(1<<38-1))<<26|1)
		g.Vnodes = append(g.Vnodes, Vnode{End: end, Stream: id[:]})
	}
	return g
}
