package engine_test

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
)

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

func i32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }
func i64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }
