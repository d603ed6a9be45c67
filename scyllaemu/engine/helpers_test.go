package engine_test

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// epoch is where every test's clock starts (2023-11-14T22:13:20Z).
const epoch = 1700000000

// fakeClock is a settable server clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newEngine starts an engine on a frozen clock with a CDC table ks.t.
func newEngine(t *testing.T, clock *fakeClock) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Options{Clock: clock.Now, Vnodes: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	query(t, e, `CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`)
	query(t, e, `CREATE TABLE ks.t (k int PRIMARY KEY, v int) WITH cdc = {'enabled': true}`)
	return e
}

func query(t *testing.T, e *engine.Engine, q string) [][][]byte {
	t.Helper()
	res, err := e.Query(&engine.Session{}, q, engine.Params{})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if res.Rows == nil {
		return nil
	}
	return res.Rows.Data
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func i32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }
func i64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

// Serialized values, for bound markers.
func int32v(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
func textv(s string) []byte { return []byte(s) }

const createKS = `CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`

// harness drives one engine, on a fake clock starting at epoch, through
// one session, and records the schema changes it announces.
type harness struct {
	t     *testing.T
	e     *engine.Engine
	clock *fakeClock
	sess  *engine.Session
	// closed: the test closed the engine itself (see close).
	closed bool

	mu      sync.Mutex
	changes []engine.SchemaChange
}

// newHarness starts an engine with opts (Clock and OnSchemaChange are the
// harness's; 4 vnodes and seed 1 unless set) and runs setup on it.
func newHarness(t *testing.T, opts engine.Options, setup ...string) *harness {
	t.Helper()
	h := &harness{t: t, clock: &fakeClock{now: time.Unix(epoch, 0).UTC()}, sess: &engine.Session{}}
	opts.Clock = h.clock.Now
	opts.OnSchemaChange = func(c engine.SchemaChange) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.changes = append(h.changes, c)
	}
	if opts.Vnodes == 0 {
		opts.Vnodes = 4
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	e, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h.closed {
			return
		}
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	h.e = e
	h.exec(setup...)
	return h
}

// close closes the engine before the test ends.
func (h *harness) close() {
	h.t.Helper()
	h.closed = true
	if err := h.e.Close(); err != nil {
		h.t.Fatal(err)
	}
}

// takeChanges returns the schema changes announced since the last call.
func (h *harness) takeChanges() []engine.SchemaChange {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.changes
	h.changes = nil
	return out
}

// params binds vals to the markers in order; a nil value binds null.
func params(vals ...[]byte) engine.Params {
	p := engine.Params{Consistency: wire.ConsistencyOne}
	for _, v := range vals {
		p.Values = append(p.Values, wire.Value{Bytes: v, Null: v == nil})
	}
	return p
}

func (h *harness) run(q string, vals ...[]byte) (*engine.Result, error) {
	return h.e.Query(h.sess, q, params(vals...))
}

// exec runs statements that must succeed.
func (h *harness) exec(stmts ...string) {
	h.t.Helper()
	for _, q := range stmts {
		if _, err := h.run(q); err != nil {
			h.t.Fatalf("%s: %v", q, err)
		}
	}
}

// rows runs a query that must succeed and returns its rows as CQL text,
// the cells of a row joined by ", ".
func (h *harness) rows(q string, vals ...[]byte) []string {
	h.t.Helper()
	res, err := h.run(q, vals...)
	if err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
	return format(h.t, res)
}

// format renders a Rows result as rows of CQL text.
func format(t *testing.T, res *engine.Result) []string {
	t.Helper()
	if res.Kind != engine.ResultRows {
		t.Fatalf("result kind %v, want rows", res.Kind)
	}
	out := []string{}
	for _, r := range res.Rows.Data {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = res.Rows.Columns[i].Type.Format(c)
		}
		out = append(out, strings.Join(cells, ", "))
	}
	return out
}

// wantError checks that err is an *engine.Error with the code and a
// message containing msg.
func wantError(t *testing.T, err error, code int32, msg string) {
	t.Helper()
	var ee *engine.Error
	if !errors.As(err, &ee) {
		t.Fatalf("got %v, want an *engine.Error %#04x %q", err, code, msg)
	}
	if ee.Code != code || !strings.Contains(ee.Msg, msg) {
		t.Fatalf("got %#04x %q, want %#04x containing %q", ee.Code, ee.Msg, code, msg)
	}
}

// columnNames lists a result's column names.
func columnNames(cols []engine.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}
