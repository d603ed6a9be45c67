// Package engine executes CQL against the emulator's store: it resolves
// parsed statements against the schema, binds values, enforces ScyllaDB's
// rules (key restrictions, filtering, TTL limits, CDC write times), applies
// writes together with their CDC log rows, reads with paging, and keeps the
// system keyspaces (system, system_schema, system_distributed) current.
//
// It is independent of the wire protocol: the server hands it query text,
// statement ids and bound values, and encodes the Results and *Errors it
// returns.
package engine

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cdc"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wal"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// Options configure an Engine.
type Options struct {
	// Clock returns the server time; writes without a client timestamp use
	// it, and TTLs and CDC write-time checks are measured against it.
	Clock func() time.Time
	// Vnodes is the number of token ranges, and so of CDC streams.
	Vnodes int
	// GenerationStart is when the first CDC generation begins; writes to
	// CDC tables timestamped earlier are rejected. NewGeneration adds more.
	GenerationStart time.Time
	// Seed makes stream ids and host ids reproducible.
	Seed uint64
	// Address and Port are what system.local advertises.
	Address net.IP
	Port    int
	// ClusterName is system.local's cluster_name; default [DefaultClusterName].
	ClusterName string
	// TabletsByDefault makes NetworkTopologyStrategy keyspaces use tablets
	// unless `tablets = {'enabled': false}`, as recent ScyllaDB does.
	TabletsByDefault bool
	// OnSchemaChange is called after each DDL statement, outside any lock.
	OnSchemaChange func(SchemaChange)
	Logger         *slog.Logger
	// DataDir, when set, keeps everything in a write-ahead log there (see
	// persist.go); New replays it. FsyncAlways fsyncs before every
	// acknowledgement instead of once a second.
	DataDir     string
	FsyncAlways bool
}

// DefaultClusterName is the cluster_name the emulator reports unless told
// otherwise: clients recognise the emulator by it.
const DefaultClusterName = "scyllaemu"

// SchemaChange describes a DDL effect, as RESULT and EVENT frames report it.
type SchemaChange struct {
	Change   string // CREATED, UPDATED, DROPPED
	Target   string // KEYSPACE, TABLE
	Keyspace string
	Name     string
}

// Column describes a result or bind column.
type Column struct {
	Keyspace, Table, Name string
	Type                  *types.Type
}

// Rows is a page of a Rows result.
type Rows struct {
	Columns     []Column
	Data        [][][]byte
	PagingState []byte
}

// ResultKind says which field of a Result is set.
type ResultKind int

const (
	ResultVoid ResultKind = iota
	ResultRows
	ResultSetKeyspace
	ResultSchemaChange
)

// Result is the outcome of a statement.
type Result struct {
	Kind     ResultKind
	Rows     *Rows
	Keyspace string
	Change   SchemaChange
}

// Session is a connection's state: its current keyspace.
type Session struct {
	Keyspace string
}

// Params are the per-request options of QUERY, EXECUTE and BATCH.
type Params struct {
	Consistency  uint16
	Values       []wire.Value
	Names        []string
	PageSize     int32
	PagingState  []byte
	Timestamp    int64
	HasTimestamp bool
}

// Prepared is what PREPARE returns.
type Prepared struct {
	ID        []byte
	Bind      []Column
	PKIndexes []uint16
	Result    []Column // nil when the statement returns no rows
}

// Engine executes statements. It is safe for concurrent use.
type Engine struct {
	opts Options
	st   *store.Store
	// Guarded by st's lock: gens and maxCDCWrite are read under either
	// lock and changed under the write lock, genRnd and logger are used
	// under the write lock.
	gens   *cdc.History
	genRnd *rand.Rand
	logger *cdc.Logger
	// maxCDCWrite is the highest timestamp (µs) of a write accepted on a
	// CDC table; a new generation must start after it, or that write's
	// log row would sit in an old stream past the old generation's end.
	maxCDCWrite int64

	// schemaGen counts DDL statements; prepared plans compiled under an
	// older value are recompiled before use.
	schemaGen atomic.Uint64
	// lastTS is the latest server time handed out: the highest write
	// stamp or read time, in µs. Readers advance it concurrently under
	// the read lock; writers under the write lock.
	lastTS atomic.Int64
	hostID []byte

	mu       sync.RWMutex
	prepared map[string]*preparedStmt

	// Persistence (persist.go), guarded by st's write lock.
	wal       *wal.Log
	replaying bool
	replayIDs [][16]byte
	newIDs    [][16]byte
	tableByID map[[16]byte]*store.Table
	// ddlTime is the clock of the schema statement running (during
	// replay, the one it ran at); tablets holds the stream sets of
	// tablets-based CDC tables by table id. Both guarded by st's lock.
	ddlTime int64
	tablets map[[16]byte]*cdc.History

	rndMu sync.Mutex
	rnd   *rand.Rand
}

type preparedStmt struct {
	id       []byte
	query    string
	keyspace string
	parsed   *cql.Parsed
	gen      uint64
	plan     plan
}

// New creates an engine with the system keyspaces populated.
func New(opts Options) (*Engine, error) {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Vnodes <= 0 {
		opts.Vnodes = 16
	}
	if opts.GenerationStart.IsZero() {
		opts.GenerationStart = opts.Clock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Address == nil {
		opts.Address = net.IPv4(127, 0, 0, 1)
	}
	if opts.ClusterName == "" {
		opts.ClusterName = DefaultClusterName
	}
	rnd := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	e := &Engine{
		opts:     opts,
		st:       store.New(),
		prepared: make(map[string]*preparedStmt),
		tablets:  make(map[[16]byte]*cdc.History),
		rnd:      rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64())),
	}
	e.gens = cdc.NewHistory(cdc.NewGeneration(opts.GenerationStart, opts.Vnodes, rnd))
	e.logger = &cdc.Logger{Gens: e.gens, Rnd: rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64()))}
	e.hostID = e.randomUUID()
	e.genRnd = rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64()))
	if err := e.bootstrapSchema(); err != nil {
		return nil, err
	}
	if opts.DataDir != "" {
		e.replaying = true
		err := e.openLog()
		e.replaying = false
		if err != nil {
			return nil, err
		}
	}
	e.bootstrapLocal()
	return e, nil
}

// Generations returns the CDC generations, oldest first; the last may not
// have started yet.
func (e *Engine) Generations() []*cdc.Generation {
	e.st.RLock()
	defer e.st.RUnlock()
	return e.gens.Generations()
}

// NewGeneration publishes a new CDC generation starting delay from now, as
// ScyllaDB does on a topology change: new stream ids for the same vnodes,
// its rows in system_distributed.cdc_streams_descriptions_v2, then its time
// in cdc_generation_timestamps (which commits it for readers). Writes are
// logged to the generation in force at their own timestamp, so the delay
// is how long writes keep going to the old streams. The start is rounded up
// to a millisecond (the column is a timestamp) and is always after every
// write already accepted on a CDC table and after the previous generation.
func (e *Engine) NewGeneration(delay time.Duration) (time.Time, error) {
	if delay < 0 {
		return time.Time{}, fmt.Errorf("scyllaemu: negative CDC generation delay %v", delay)
	}
	e.st.Lock()
	defer e.st.Unlock()
	latest := e.gens.Latest()
	at := max(e.nowMicros()+delay.Microseconds(), e.maxCDCWrite+1, latest.Time.UnixMicro()+1)
	ms := at / 1000
	if at%1000 != 0 {
		ms++
	}
	g := cdc.NewGeneration(time.UnixMilli(ms).UTC(), len(latest.Vnodes), e.genRnd)
	if err := e.gens.Add(g); err != nil {
		return time.Time{}, err
	}
	e.publishGeneration(g)
	e.logGeneration(g)
	return g.Time, nil
}

func (e *Engine) nowMicros() int64 { return e.opts.Clock().UnixMicro() }

// writeTimestamp returns the next server-side write timestamp: the clock,
// but strictly after every earlier stamp and every read already served
// (see readTime). The caller holds the store's write lock, so the write is
// applied after those reads and before any later one: a write a read at R
// could not see is never stamped at or before R, which is what lets a CDC
// reader trust a tiny confidence window.
func (e *Engine) writeTimestamp() int64 {
	now := e.nowMicros()
	for {
		last := e.lastTS.Load()
		ts := max(now, last+1)
		if e.lastTS.CompareAndSwap(last, ts) {
			return ts
		}
	}
}

// readTime returns the server time (µs) of a read holding the store's read
// lock and records it, so that writes applied after the read are stamped
// later even when the clock has not moved on.
func (e *Engine) readTime() int64 {
	now := e.nowMicros()
	for {
		last := e.lastTS.Load()
		if last >= now || e.lastTS.CompareAndSwap(last, now) {
			return now
		}
	}
}

func (e *Engine) randomUUID() []byte {
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], e.rnd.Uint64())
	binary.BigEndian.PutUint64(b[8:], e.rnd.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b[:]
}

func (e *Engine) randomTimeUUID(micros int64) []byte {
	e.rndMu.Lock()
	var r [8]byte
	binary.BigEndian.PutUint64(r[:], e.rnd.Uint64())
	e.rndMu.Unlock()
	return types.TimeUUIDFromMicros(micros, r)
}

// Query parses and executes one statement.
func (e *Engine) Query(sess *Session, query string, p Params) (*Result, error) {
	parsed, err := parse(query)
	if err != nil {
		return nil, err
	}
	if err := checkBindCount(parsed, p); err != nil {
		return nil, err
	}
	pl, err := e.compile(sess.Keyspace, parsed)
	if err != nil {
		return nil, err
	}
	return e.run(sess, pl, parsed, p)
}

// Prepare compiles a statement and caches it under an id derived from the
// keyspace and text, so re-preparing returns the same id.
func (e *Engine) Prepare(sess *Session, query string) (*Prepared, error) {
	sum := md5.Sum([]byte(sess.Keyspace + "\x00" + query))
	key := string(sum[:])
	e.mu.RLock()
	ps := e.prepared[key]
	e.mu.RUnlock()
	if ps == nil {
		parsed, err := parse(query)
		if err != nil {
			return nil, err
		}
		ps = &preparedStmt{id: sum[:], query: query, keyspace: sess.Keyspace, parsed: parsed}
	}
	pl, err := e.planFor(ps)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.prepared[key] = ps
	e.mu.Unlock()
	m := pl.meta()
	return &Prepared{ID: ps.id, Bind: m.bind, PKIndexes: m.pkIndexes, Result: m.result}, nil
}

// planFor returns the statement's plan, recompiling it after DDL.
func (e *Engine) planFor(ps *preparedStmt) (plan, error) {
	gen := e.schemaGen.Load()
	e.mu.RLock()
	pl, pgen := ps.plan, ps.gen
	e.mu.RUnlock()
	if pl != nil && pgen == gen {
		return pl, nil
	}
	pl, err := e.compile(ps.keyspace, ps.parsed)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	ps.plan, ps.gen = pl, gen
	e.mu.Unlock()
	return pl, nil
}

func (e *Engine) lookup(id []byte) *preparedStmt {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.prepared[string(id)]
}

func unprepared(id []byte) *Error {
	return &Error{Code: wire.Unprepared, ID: id, Msg: "Prepared query with ID " + hexString(id) + " not found (either the query was not prepared on this host (maybe the host has been restarted?) or you have prepared too many queries and it was removed from the cache)"}
}

// Execute runs a prepared statement.
func (e *Engine) Execute(sess *Session, id []byte, p Params) (*Result, error) {
	ps := e.lookup(id)
	if ps == nil {
		return nil, unprepared(id)
	}
	pl, err := e.planFor(ps)
	if err != nil {
		return nil, err
	}
	if err := checkBindCount(ps.parsed, p); err != nil {
		return nil, err
	}
	return e.run(sess, pl, ps.parsed, p)
}

// BatchChild is one statement of a BATCH message.
type BatchChild struct {
	Query  string
	ID     []byte
	Values []wire.Value
	Names  []string
}

// Batch runs a BATCH message: its children's mutations are applied
// atomically (for a logged or an unlogged batch alike: the emulator is one
// node, so there is no partial application to allow).
func (e *Engine) Batch(sess *Session, typ byte, children []BatchChild, p Params) (*Result, error) {
	if len(children) == 0 {
		return &Result{Kind: ResultVoid}, nil
	}
	items := make([]batchItem, 0, len(children))
	for _, ch := range children {
		var parsed *cql.Parsed
		var pl plan
		if ch.ID != nil {
			ps := e.lookup(ch.ID)
			if ps == nil {
				return nil, unprepared(ch.ID)
			}
			var err error
			if pl, err = e.planFor(ps); err != nil {
				return nil, err
			}
			parsed = ps.parsed
		} else {
			var err error
			if parsed, err = parse(ch.Query); err != nil {
				return nil, err
			}
			if pl, err = e.compile(sess.Keyspace, parsed); err != nil {
				return nil, err
			}
		}
		wp, ok := pl.(*writePlan)
		if !ok {
			return nil, invalidf("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.")
		}
		cp := Params{Values: ch.Values, Names: ch.Names}
		if err := checkBindCount(parsed, cp); err != nil {
			return nil, err
		}
		binds, err := resolveBinds(parsed, cp)
		if err != nil {
			return nil, err
		}
		items = append(items, batchItem{plan: wp, binds: binds})
	}
	if typ == 2 {
		return nil, invalidf("Counter batches are not supported by scyllaemu")
	}
	return e.execBatch(items, p, true)
}

func (e *Engine) run(sess *Session, pl plan, parsed *cql.Parsed, p Params) (*Result, error) {
	binds, err := resolveBinds(parsed, p)
	if err != nil {
		return nil, err
	}
	return pl.exec(e, &execCtx{sess: sess, binds: binds, params: p})
}

func parse(query string) (*cql.Parsed, error) {
	parsed, err := cql.Parse(query)
	if err != nil {
		var se *cql.SyntaxError
		if errors.As(err, &se) {
			return nil, &Error{Code: wire.SyntaxError, Msg: se.Error()}
		}
		return nil, &Error{Code: wire.SyntaxError, Msg: err.Error()}
	}
	return parsed, nil
}

func checkBindCount(parsed *cql.Parsed, p Params) error {
	if len(p.Names) > 0 {
		return nil
	}
	if len(p.Values) != len(parsed.Markers) {
		return invalidf("There were %d markers(?) in CQL but %d bound variables", len(parsed.Markers), len(p.Values))
	}
	return nil
}

// resolveBinds orders bound values by marker index, matching names when the
// client bound by name.
func resolveBinds(parsed *cql.Parsed, p Params) ([]wire.Value, error) {
	if len(p.Names) == 0 {
		return p.Values, nil
	}
	out := make([]wire.Value, len(parsed.Markers))
	for i, m := range parsed.Markers {
		found := false
		for j, n := range p.Names {
			if n == m.Name && j < len(p.Values) {
				out[i] = p.Values[j]
				found = true
				break
			}
		}
		if !found {
			return nil, invalidf("Invalid unset value for column %s", m.Name)
		}
	}
	return out, nil
}

const hexDigits = "0123456789abcdef"

func hexString(b []byte) string {
	out := make([]byte, 2+2*len(b))
	out[0], out[1] = '0', 'x'
	for i, c := range b {
		out[2+2*i] = hexDigits[c>>4]
		out[3+2*i] = hexDigits[c&0xf]
	}
	return string(out)
}

// Purge drops expired data from memory (TTL'd cells, CDC log rows past the
// log TTL). Reads already hide it; this bounds memory.
func (e *Engine) Purge() {
	e.st.Lock()
	defer e.st.Unlock()
	now := e.nowMicros()
	for _, ks := range e.st.Keyspaces {
		for _, t := range ks.Tables {
			t.Purge(now)
		}
	}
}
