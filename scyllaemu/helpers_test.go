package scyllaemu_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// fakeClock is a settable server clock for TTL and CDC time tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startEmu starts an emulator for one test and connects gocqlx to it.
func startEmu(t testing.TB, opts scyllaemu.Options) (*scyllaemu.Server, gocqlx.Session) {
	t.Helper()
	srv, err := scyllaemu.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, srv)
	return srv, connect(t, srv.Addr(), "")
}

// closeAtEnd closes srv when the test ends, failing it if that fails.
func closeAtEnd(t testing.TB, srv *scyllaemu.Server) {
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
}

func connect(t testing.TB, addr, keyspace string) gocqlx.Session {
	t.Helper()
	cluster := gocql.NewCluster(addr)
	cluster.Timeout = 10 * time.Second
	cluster.Keyspace = keyspace
	cluster.Consistency = gocql.One
	cluster.WriteCoalesceWaitTime = 0
	s, err := gocqlx.WrapSession(cluster.CreateSession())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustExec(t testing.TB, s gocqlx.Session, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if err := s.ExecStmt(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

const createKS = `CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND tablets = {'enabled': false}`

// errCode extracts the CQL error code of a driver error, or -1.
func errCode(err error) int {
	var re gocql.RequestError
	if errors.As(err, &re) {
		return re.Code()
	}
	return -1
}

// startReader runs scylla-cdc-go with cfg at consistency ONE and windows
// short enough for tests (1 ms confidence, 1 s queries, 20 ms pauses), and
// returns a function that stops it and reports its error; a second call
// returns the same.
func startReader(t *testing.T, cfg scyllacdc.ReaderConfig) (stop func() error) {
	t.Helper()
	cfg.Consistency = gocql.One
	a := &cfg.Advanced
	a.ConfidenceWindowSize, a.QueryTimeWindowSize = time.Millisecond, time.Second
	a.PostNonEmptyQueryDelay, a.PostEmptyQueryDelay, a.PostFailedQueryDelay = 20*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond
	reader, err := scyllacdc.NewReader(context.Background(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- reader.Run(context.Background()) }()
	return sync.OnceValue(func() error {
		reader.Stop()
		return <-runErr
	})
}
