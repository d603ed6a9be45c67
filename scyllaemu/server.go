// Package scyllaemu is an in-process, ScyllaDB-compatible CQL server with
// Change Data Capture, for tests and demos that must run the real drivers
// (ScyllaDB's gocql fork, gocqlx, scylla-cdc-go) without a database. It is
// not a production database: data lives in memory and is lost on Close,
// unless Options.DataDir keeps it in a write-ahead log (package wal) that a
// restart replays.
//
// It speaks native protocol v4 over TCP and behaves like a one-node,
// one-shard ScyllaDB: system tables, schema events, prepared statements,
// paging, lightweight transactions (with ScyllaDB's result rows), TTLs,
// user-defined types, non-frozen collections stored per element,
// secondary indexes, and CDC logs in ScyllaDB's format (deltas, pre- and
// postimages, vnode generations with changes on demand via NewGeneration,
// and tablets-based stream sets). Server-side write timestamps are taken
// under the same lock that orders reads, so a write a read did not see is
// always stamped after that read's time.
// The sub-packages split the work: wire (frames), cql (parser), types (value
// codecs and ordering), store (data), cdc (streams and log rows), engine
// (statement execution), wal (the write-ahead log).
package scyllaemu

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cdc"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// Options configure a Server. The zero value serves on a random loopback
// port with 16 vnodes and the first CDC generation starting at Start.
type Options struct {
	// Listen is the TCP address; default "127.0.0.1:0".
	Listen string
	// Vnodes is the number of token ranges, and so of CDC streams.
	Vnodes int
	// GenerationStart is when the first CDC generation begins (default:
	// the clock at Start). Writes to CDC tables stamped earlier are
	// rejected. NewGeneration publishes later ones.
	GenerationStart time.Time
	// Clock is the server's time source; tests may supply a fake one.
	Clock func() time.Time
	// Seed makes stream ids and host ids reproducible (default 1).
	Seed uint64
	// TabletsByDefault makes NetworkTopologyStrategy keyspaces use tablets
	// unless created with tablets = {'enabled': false}, like recent
	// ScyllaDB, where CDC is then refused.
	TabletsByDefault bool
	// PurgeInterval is how often expired cells (TTL, CDC log retention) are
	// dropped from memory; default 10 s.
	PurgeInterval time.Duration
	// Logger receives connection-level problems; default discards.
	Logger *slog.Logger
	// DataDir keeps all data in a write-ahead log in this directory, so it
	// survives restarts and kill -9: Start replays it, and every write is
	// in the log before the client sees it acknowledged. Without it data
	// lives in memory only. See package wal for the format and the fsync
	// policy.
	DataDir string
	// FsyncAlways fsyncs the log before every acknowledgement (writes then
	// survive power loss, not only a crash of the emulator); by default
	// the log is fsynced once a second.
	FsyncAlways bool
	// TLS, when set, serves TLS only, configured by it (certificates, and
	// ClientAuth with ClientCAs to require client certificates).
	TLS *tls.Config
	// ClusterName is the cluster_name system.local reports; default
	// "scyllaemu" ([engine.DefaultClusterName]), by which the relay knows
	// it runs on the emulator. Tests set another to play a real cluster.
	ClusterName string
	// Users, when not empty, turns on ScyllaDB's PasswordAuthenticator:
	// clients must log in as one of these user names with its password
	// (SASL PLAIN) before any other request.
	Users map[string]string
}

// Server is a running emulator.
type Server struct {
	ln     net.Listener
	eng    *engine.Engine
	logger *slog.Logger
	cancel context.CancelFunc
	users  map[string]string // nil: no authentication

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens and serves until Close or until ctx is cancelled.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.PurgeInterval <= 0 {
		opts.PurgeInterval = 10 * time.Second
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("scyllaemu: listen %s: %w", opts.Listen, err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	s := &Server{ln: serveTLS(ln, opts.TLS), logger: opts.Logger, conns: map[*conn]struct{}{}, users: copyUsers(opts.Users)}
	s.eng, err = engine.New(engine.Options{
		Clock:            opts.Clock,
		Vnodes:           opts.Vnodes,
		GenerationStart:  opts.GenerationStart,
		Seed:             opts.Seed,
		Address:          tcp.IP,
		Port:             tcp.Port,
		TabletsByDefault: opts.TabletsByDefault,
		ClusterName:      opts.ClusterName,
		OnSchemaChange:   s.broadcast,
		Logger:           opts.Logger,
		DataDir:          opts.DataDir,
		FsyncAlways:      opts.FsyncAlways,
	})
	if err != nil {
		_ = ln.Close() // nothing was served on it; the engine's error is the one to report
		return nil, err
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(2)
	go s.acceptLoop()
	go s.purgeLoop(ctx, opts.PurgeInterval)
	go func() {
		<-ctx.Done()
		if err := s.Close(); err != nil {
			s.logger.Error("scyllaemu: closing on context cancellation", "err", err)
		}
	}()
	return s, nil
}

// DefaultGenerationDelay is the delay to pass to NewGeneration without a
// reason to pick another: ScyllaDB's generation leeway, the furthest into
// the future a write may be stamped. ScyllaDB itself starts a generation
// 2×ring_delay + leeway ahead (65 s with the default 30 s ring_delay, no
// delay at all when ring_delay is 0); the emulator has no ring to wait for.
const DefaultGenerationDelay = cdc.GenerationLeeway

// NewGeneration publishes a new CDC generation starting delay from now (see
// DefaultGenerationDelay; 0 is allowed), as ScyllaDB does when a node joins:
// every vnode gets a new stream, the generation appears in
// system_distributed.cdc_streams_descriptions_v2 and
// cdc_generation_timestamps, and CDC readers switch to it when they next
// poll those tables (scylla-cdc-go: every 15 s). Each write is logged to
// the generation in force at its own timestamp, so writes stamped before
// the returned time still go to the old streams, which stay readable until
// the log TTL. The time is whole milliseconds and always later than any
// write already accepted on a CDC table.
func (s *Server) NewGeneration(delay time.Duration) (time.Time, error) {
	return s.eng.NewGeneration(delay)
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Engine exposes the statement engine, for in-process callers that want to
// skip the network (the emulator's own tests).
func (s *Server) Engine() *engine.Engine { return s.eng }

// Close stops accepting, closes every connection and waits for their
// goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		// Only to interrupt the connection's reader, which ends it; a
		// failure here changes nothing about the shutdown.
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	if cerr := s.eng.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &conn{srv: s, nc: nc, sess: &engine.Session{}}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close() // refused before any request: nothing to report
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

func (s *Server) purgeLoop(ctx context.Context, every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.eng.Purge()
		}
	}
}

// broadcast pushes a schema change to connections that registered for it.
// Drivers invalidate their metadata caches only on these events.
func (s *Server) broadcast(ch engine.SchemaChange) {
	body := wire.AppendEventSchemaChange(nil, ch.Change, ch.Target, ch.Keyspace, ch.Name, nil)
	frame := wire.AppendFrame(nil, wire.ProtocolVersion, 0, -1, wire.OpEvent, body)
	s.mu.Lock()
	targets := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		targets = append(targets, c)
	}
	s.mu.Unlock()
	for _, c := range targets {
		if c.wantsSchemaEvents() {
			// A connection that cannot take the event is broken: the
			// writer's error is sticky, so its next response fails too
			// and ends it.
			c.write(frame, true)
		}
	}
}

// supportedOptions is the SUPPORTED answer. The Scylla keys make gocql treat
// the node as ScyllaDB with one shard (system.peers, USING TIMEOUT on system
// queries). SCYLLA_SHARD_AWARE_PORT, SCYLLA_LWT_ADD_METADATA_MARK, the rate
// limit error and TABLETS_ROUTING_V1 are deliberately absent: the emulator
// implements none of them, and advertising one changes what drivers send.
func supportedOptions() map[string][]string {
	return map[string][]string{
		"CQL_VERSION":                {"3.3.1"},
		"COMPRESSION":                {},
		"PROTOCOL_VERSIONS":          {"4/v4"},
		"SCYLLA_SHARD":               {"0"},
		"SCYLLA_NR_SHARDS":           {"1"},
		"SCYLLA_PARTITIONER":         {"org.apache.cassandra.dht.Murmur3Partitioner"},
		"SCYLLA_SHARDING_ALGORITHM":  {"biased-token-round-robin"},
		"SCYLLA_SHARDING_IGNORE_MSB": {"12"},
	}
}

// conn serves one client connection. Requests are handled in order on the
// reading goroutine; responses are buffered and flushed once no further
// request is already waiting, so pipelined requests share a syscall.
type conn struct {
	srv  *Server
	nc   net.Conn
	sess *engine.Session

	wmu     sync.Mutex
	w       *bufio.Writer
	started bool
	events  bool
	// authenticating: STARTUP was answered with AUTHENTICATE and no login
	// has succeeded yet (see authenticate).
	authenticating bool
}

func (c *conn) wantsSchemaEvents() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.events
}

func (c *conn) serve() {
	s := c.srv
	defer func() {
		// Server.Close may have closed it already; either way it is done.
		_ = c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	r := bufio.NewReaderSize(c.nc, 64<<10)
	c.w = bufio.NewWriterSize(c.nc, 64<<10)
	var buf, out []byte
	for {
		hdr, body, err := wire.ReadFrame(r, buf, 0)
		if err != nil {
			var pv *wire.ProtocolVersionError
			var fe *wire.FrameError
			switch {
			case errors.As(err, &pv):
				c.write(pv.AppendResponse(out[:0]), true)
				return
			case errors.As(err, &fe):
				s.logger.Warn("scyllaemu: malformed frame", "remote", c.nc.RemoteAddr().String(), "err", fe.Msg, "fatal", fe.Fatal)
				f := wire.StartFrame(out[:0], wire.ProtocolVersion, 0, fe.Header.Stream, wire.OpError)
				f = wire.AppendError(f, wire.ProtocolError, fe.Msg)
				wire.FinishFrame(f)
				c.write(f, true)
				if fe.Fatal {
					return
				}
				continue
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
				return
			default:
				s.logger.Warn("scyllaemu: connection read failed", "remote", c.nc.RemoteAddr().String(), "err", err)
				return
			}
		}
		buf = body[:0]
		out = c.handle(out[:0], hdr, body)
		if !c.write(out, r.Buffered() == 0) {
			return
		}
	}
}

// write sends a response, flushing when asked; false means the connection
// is gone.
func (c *conn) write(frame []byte, flush bool) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.w.Write(frame); err != nil {
		return false
	}
	if flush {
		return c.w.Flush() == nil
	}
	return true
}

// handle answers one request frame, appending the response frame to out.
func (c *conn) handle(out []byte, hdr wire.Header, body []byte) []byte {
	start := len(out)
	if c.authenticating {
		return c.authenticate(out, hdr, body)
	}
	if !c.started && hdr.Opcode != wire.OpOptions && hdr.Opcode != wire.OpStartup {
		return c.protocolError(out, hdr, fmt.Sprintf("Unexpected message %s, expecting STARTUP or OPTIONS", opName(hdr.Opcode)))
	}
	switch hdr.Opcode {
	case wire.OpOptions:
		out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpSupported)
		out = wire.AppendSupported(out, supportedOptions())
	case wire.OpStartup:
		opts, err := wire.DecodeStartup(body)
		if err != nil {
			return c.protocolError(out, hdr, err.Error())
		}
		if comp := opts["COMPRESSION"]; comp != "" {
			return c.protocolError(out, hdr, "Unknown compression algorithm: "+comp)
		}
		if c.srv.users != nil {
			return c.requireLogin(out, hdr)
		}
		c.started = true
		out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpReady)
	case wire.OpRegister:
		evs, err := wire.DecodeRegister(body)
		if err != nil {
			return c.protocolError(out, hdr, err.Error())
		}
		for _, ev := range evs {
			switch ev {
			case "SCHEMA_CHANGE":
				c.wmu.Lock()
				c.events = true
				c.wmu.Unlock()
			case "TOPOLOGY_CHANGE", "STATUS_CHANGE":
			default:
				return c.protocolError(out, hdr, "Invalid value '"+ev+"' for Type")
			}
		}
		out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpReady)
	case wire.OpQuery:
		var p wire.QueryParams
		q, err := wire.DecodeQueryInto(body, &p)
		if err != nil {
			return c.protocolError(out, hdr, err.Error())
		}
		res, err := c.srv.eng.Query(c.sess, string(q), params(&p))
		return c.result(out, hdr, res, err, false)
	case wire.OpPrepare:
		q, err := wire.DecodePrepare(body)
		if err != nil {
			return c.protocolError(out, hdr, err.Error())
		}
		prep, err := c.srv.eng.Prepare(c.sess, q)
		if err != nil {
			return c.errorFrame(out, hdr, err)
		}
		out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpResult)
		out = wire.AppendResultPrepared(out, prep.ID, wire.RowsMetadata{Columns: specs(prep.Bind)}, prep.PKIndexes,
			wire.RowsMetadata{Columns: specs(prep.Result)})
	case wire.OpExecute:
		var p wire.QueryParams
		id, err := wire.DecodeExecuteInto(body, &p)
		if err != nil {
			return c.protocolError(out, hdr, err.Error())
		}
		res, err := c.srv.eng.Execute(c.sess, id, params(&p))
		return c.result(out, hdr, res, err, p.SkipMetadata)
	case wire.OpBatch:
		var b wire.Batch
		if err := wire.DecodeBatchInto(body, &b); err != nil {
			return c.protocolError(out, hdr, err.Error())
		}
		children := make([]engine.BatchChild, len(b.Children))
		for i, ch := range b.Children {
			children[i] = engine.BatchChild{Query: ch.Query, ID: ch.ID, Values: ch.Values, Names: ch.Names}
		}
		res, err := c.srv.eng.Batch(c.sess, b.Type, children, engine.Params{
			Consistency: b.Consistency, Timestamp: b.Timestamp, HasTimestamp: b.HasTimestamp})
		return c.result(out, hdr, res, err, false)
	default:
		return c.protocolError(out, hdr, fmt.Sprintf("Unknown opcode %d", hdr.Opcode))
	}
	wire.FinishFrame(out[start:])
	return out
}

func params(p *wire.QueryParams) engine.Params {
	return engine.Params{
		Consistency:  p.Consistency,
		Values:       p.Values,
		Names:        p.Names,
		PageSize:     p.PageSize,
		PagingState:  p.PagingState,
		Timestamp:    p.Timestamp,
		HasTimestamp: p.HasTimestamp,
	}
}

func (c *conn) result(out []byte, hdr wire.Header, res *engine.Result, err error, skipMeta bool) []byte {
	// Whatever the outcome, what was applied so far reaches the data
	// directory before this answer: a client never sees a write (its own,
	// or another client's through a read) that a crash could take back.
	if cerr := c.srv.eng.Commit(); cerr != nil {
		err = cerr
	}
	if err != nil {
		return c.errorFrame(out, hdr, err)
	}
	start := len(out)
	out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpResult)
	switch res.Kind {
	case engine.ResultVoid:
		out = wire.AppendResultVoid(out)
	case engine.ResultSetKeyspace:
		out = wire.AppendResultSetKeyspace(out, res.Keyspace)
	case engine.ResultSchemaChange:
		ch := res.Change
		out = wire.AppendResultSchemaChange(out, ch.Change, ch.Target, ch.Keyspace, ch.Name, nil)
	case engine.ResultRows:
		rows := res.Rows
		md := wire.RowsMetadata{Columns: specs(rows.Columns), PagingState: rows.PagingState, NoMetadata: skipMeta}
		out = wire.AppendRowsHeader(out, md, len(rows.Data))
		for _, row := range rows.Data {
			for _, cell := range row {
				out = wire.AppendCell(out, cell)
			}
		}
	}
	wire.FinishFrame(out[start:])
	return out
}

func specs(cols []engine.Column) []wire.ColumnSpec {
	if len(cols) == 0 {
		return nil
	}
	out := make([]wire.ColumnSpec, len(cols))
	for i, c := range cols {
		out[i] = wire.ColumnSpec{Keyspace: c.Keyspace, Table: c.Table, Name: c.Name, Type: types.AppendOption(nil, c.Type)}
	}
	return out
}

func (c *conn) errorFrame(out []byte, hdr wire.Header, err error) []byte {
	start := len(out)
	out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpError)
	var ee *engine.Error
	if !errors.As(err, &ee) {
		c.srv.logger.Error("scyllaemu: internal error", "err", err)
		out = wire.AppendError(out, wire.ServerError, err.Error())
		wire.FinishFrame(out[start:])
		return out
	}
	switch ee.Code {
	case wire.AlreadyExists:
		out = wire.AppendAlreadyExistsError(out, ee.Msg, ee.Keyspace, ee.Table)
	case wire.Unprepared:
		out = wire.AppendUnpreparedError(out, ee.Msg, ee.ID)
	case wire.Unavailable:
		out = wire.AppendUnavailableError(out, ee.Msg, ee.Consistency, ee.Required, ee.Alive)
	default:
		out = wire.AppendError(out, ee.Code, ee.Msg)
	}
	wire.FinishFrame(out[start:])
	return out
}

func (c *conn) protocolError(out []byte, hdr wire.Header, msg string) []byte {
	start := len(out)
	out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpError)
	out = wire.AppendError(out, wire.ProtocolError, msg)
	wire.FinishFrame(out[start:])
	return out
}

func opName(op byte) string {
	names := map[byte]string{wire.OpQuery: "QUERY", wire.OpPrepare: "PREPARE", wire.OpExecute: "EXECUTE",
		wire.OpBatch: "BATCH", wire.OpRegister: "REGISTER", wire.OpAuthResponse: "AUTH_RESPONSE"}
	if n, ok := names[op]; ok {
		return n
	}
	return "opcode " + strconv.Itoa(int(op))
}
