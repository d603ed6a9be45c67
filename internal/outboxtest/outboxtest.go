// Package outboxtest starts the embedded stack for tests, in the manner of
// net/http/httptest: [StartDB] runs a scyllaemu server with a gocqlx
// session on it and the schema applied, [StartBroker] runs a kafkaemu
// broker; both register their shutdown with the test's Cleanup and fail the
// test (t.Fatal) if they cannot start, so a test needs one line per
// dependency:
//
//	db := outboxtest.StartDB(t)
//	store := storage.NewOrderStore(db.Session, storage.OrderStoreOptions{Keyspace: db.Keyspace})
//	broker := outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{"outbox.event.Order"}})
//
// For TLS, [NewCA] makes a certificate authority for the test that issues
// server, client and expired certificates ([CA.Issue]) and writes the PEM
// files settings name; [ServerTLS] and [ClientTLS] configure both ends,
// and [WithSessionLogin] logs StartDB's session in to a secured emulator.
//
// For outage tests, [DB.Stop] takes the emulator down and [DB.Restart]
// brings it back on the same address with its data (StartDB with
// [WithEmulator] and a DataDir); StartDB's session reconnects by itself.
//
// The package depends only on scyllaemu, schema, kafkaemu and the drivers,
// never on the packages under test (storage, cdc, actors, app, …): a
// package's internal tests cannot import a fixture that imports that
// package. Tests therefore build their own stores on [DB.Session]. The one
// exception is schema, whose internal tests cannot use StartDB.
//
// # Tablets mode
//
// With OUTBOX_TEST_TABLETS=1 in the environment ([TabletsEnv]), StartDB
// creates its keyspace with tablets (schema.Options.Tablets) instead of
// vnodes, and starts the emulator with TabletsByDefault, so that keyspaces
// tests create themselves with NetworkTopologyStrategy get tablets too, as
// on ScyllaDB 2025.4. The CDC log of outbox_messages then has per-table
// stream sets (system.cdc_streams) instead of the cluster's generations,
// and scylla-cdc-go reads it through its tablets path: `make test-tablets`
// runs the relay's tests that way. [DB.NewStreams] moves the log to new
// streams in either mode, for tests of the relay across a stream change;
// [WithTablets] sets the mode of one StartDB whatever the environment says.
//
// It lives under internal/ because it is test infrastructure of this module,
// not a compatibility promise: its API follows scyllaemu's.
package outboxtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"

	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// DefaultKeyspace is where StartDB applies the schema unless [WithSchema]
// says otherwise; it is the keyspace the services default to.
const DefaultKeyspace = "outbox"

// TabletsEnv is the environment variable that, set to 1, makes [StartDB]
// use tablets (see the package documentation).
const TabletsEnv = "OUTBOX_TEST_TABLETS"

// Tablets reports whether [TabletsEnv] asks for tablets mode.
func Tablets() bool { return os.Getenv(TabletsEnv) == "1" }

// Session settings of [StartDB]. The emulator is one node, so ONE is as
// strong as any level; a short request timeout turns a hung emulator into
// a failing test instead of one stuck for gocql's default 11 s per request.
const (
	sessionTimeout        = 5 * time.Second
	sessionConnectTimeout = 5 * time.Second
	// sessionReconnectInterval is how often the session tries a node it
	// saw go down (gocql's default: 60 s).
	sessionReconnectInterval = time.Second
)

// BrokerMinSessionTimeout is the group.min.session.timeout.ms of the
// brokers StartBroker starts.
const BrokerMinSessionTimeout = 500 * time.Millisecond

// brokerStartTimeout bounds [StartBroker]'s wait for the broker to listen.
const brokerStartTimeout = 10 * time.Second

// DB is a running emulator with a session on it, made by [StartDB].
type DB struct {
	// Server is the emulator, for what only it can do (CDC generation
	// changes, its engine).
	Server *scyllaemu.Server
	// Addr is the emulator's "host:port", for components that open their
	// own sessions (storage.NewSession, the CDC reader, a relay runtime).
	Addr string
	// Session is connected to Addr with no default keyspace, at
	// consistency ONE (serial: SERIAL) and without write coalescing, so
	// requests leave at once.
	Session gocqlx.Session
	// Keyspace holds the schema; empty with [WithoutSchema].
	Keyspace string
	// Tablets tells whether StartDB ran in tablets mode: Keyspace uses
	// tablets, and so do NetworkTopologyStrategy keyspaces created without
	// a tablets option.
	Tablets bool

	emulator scyllaemu.Options // what Restart starts the emulator with again
}

// Option configures [StartDB].
type Option func(*dbOptions)

type dbOptions struct {
	emulator scyllaemu.Options
	schema   *schema.Options
	tls      *tls.Config
	user     string
	password string
	tablets  bool
}

// WithEmulator starts the emulator with o instead of the zero Options (a
// random loopback port, 16 vnodes, the real clock).
func WithEmulator(o scyllaemu.Options) Option {
	return func(d *dbOptions) { d.emulator = o }
}

// WithSchema applies the schema with o instead of in [DefaultKeyspace]
// with the default TTLs. In tablets mode o.Tablets is set, so
// o.Replication must then be empty or NetworkTopologyStrategy.
func WithSchema(o schema.Options) Option {
	return func(d *dbOptions) { d.schema = &o }
}

// WithSessionLogin makes the session of [StartDB] connect as an emulator
// started with TLS or users ([scyllaemu.Options] TLS and Users) requires:
// with TLS configured by tc unless it is nil (see [ClientTLS]), and logged
// in as user unless user is empty.
func WithSessionLogin(tc *tls.Config, user, password string) Option {
	return func(d *dbOptions) { d.tls, d.user, d.password = tc, user, password }
}

// WithTablets sets tablets mode on or off for this StartDB, whatever
// [TabletsEnv] says: for tests of one mode, or of both.
func WithTablets(on bool) Option {
	return func(d *dbOptions) { d.tablets = on }
}

// WithoutSchema leaves the emulator empty, for tests of what happens
// before or without the schema (an upgrade from an older table, a missing
// keyspace, plain CQL).
func WithoutSchema() Option {
	return func(d *dbOptions) { d.schema = nil }
}

// StartDB starts an emulator, opens a session on it and applies the schema
// in [DefaultKeyspace]. The session and the emulator are closed when the
// test and its subtests end, in that order; an error closing the emulator
// fails the test.
func StartDB(t testing.TB, opts ...Option) *DB {
	t.Helper()
	o := dbOptions{schema: &schema.Options{Keyspace: DefaultKeyspace}, tablets: Tablets()}
	for _, f := range opts {
		f(&o)
	}
	if o.tablets {
		o.emulator.TabletsByDefault = true
		if o.schema != nil {
			o.schema.Tablets = true
		}
	}
	// Not t.Context(): it ends before Cleanup runs, and components shut
	// down in Cleanup (a relay saving its progress) still need the
	// database. Close ends the server.
	srv, err := scyllaemu.Start(context.Background(), o.emulator)
	if err != nil {
		t.Fatalf("outboxtest: start scyllaemu: %v", err)
	}
	db := &DB{Server: srv, Addr: srv.Addr(), Tablets: o.tablets, emulator: o.emulator}
	// db.Server, not srv: after a Restart the running emulator is another.
	t.Cleanup(func() {
		if err := db.Server.Close(); err != nil {
			t.Errorf("outboxtest: close scyllaemu: %v", err)
		}
	})
	cluster := gocql.NewCluster(srv.Addr())
	cluster.Consistency = gocql.One
	cluster.SerialConsistency = gocql.Serial
	cluster.WriteCoalesceWaitTime = 0
	cluster.Timeout = sessionTimeout
	cluster.ReadTimeout = sessionTimeout
	cluster.WriteTimeout = sessionTimeout
	cluster.ConnectTimeout = sessionConnectTimeout
	// gocql marks the node down when its connections drop, and by default
	// looks at a down node again only every 60 s (or at its control
	// connection's next heartbeat, up to 30 s): after a Restart the
	// session would wait that long before using the node again.
	cluster.ReconnectInterval = sessionReconnectInterval
	if o.tls != nil {
		cluster.SslOpts = &gocql.SslOptions{Config: o.tls, EnableHostVerification: true}
	}
	if o.user != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: o.user, Password: o.password}
	}
	session, err := gocqlx.WrapSession(cluster.CreateSession())
	if err != nil {
		t.Fatalf("outboxtest: session on scyllaemu at %s: %v", srv.Addr(), err)
	}
	t.Cleanup(session.Close)
	db.Session = session
	if o.schema != nil {
		if err := schema.Apply(t.Context(), session.Session, *o.schema); err != nil {
			t.Fatalf("outboxtest: apply the schema in %q: %v", o.schema.Keyspace, err)
		}
		db.Keyspace = o.schema.Keyspace
	}
	return db
}

// ErrNoDataDir is returned by [DB.Restart] for an emulator that keeps its
// data in memory only: restarting it would lose everything.
var ErrNoDataDir = errors.New("outboxtest: the emulator has no data directory (WithEmulator with DataDir)")

// Stop closes the emulator, as a ScyllaDB node going down: its clients'
// connections drop and new ones are refused until [DB.Restart].
func (db *DB) Stop() error {
	if err := db.Server.Close(); err != nil {
		return fmt.Errorf("outboxtest: stop scyllaemu: %w", err)
	}
	return nil
}

// Restart starts the emulator again after [DB.Stop], on the same address
// and data directory, so it comes back with every acknowledged write and
// clients reconnect to it as to a node that came back up. The emulator
// must have been started with a DataDir ([WithEmulator]). Like StartDB's,
// the new emulator runs until the test ends, whatever context the test has.
func (db *DB) Restart() error {
	if db.emulator.DataDir == "" {
		return ErrNoDataDir
	}
	o := db.emulator
	o.Listen = db.Addr
	srv, err := scyllaemu.Start(context.Background(), o)
	if err != nil {
		return fmt.Errorf("outboxtest: restart scyllaemu at %s: %w", db.Addr, err)
	}
	db.Server = srv
	return nil
}

// NewStreams moves the CDC log of outbox_messages in db.Keyspace to new
// streams and returns the time the new streams take over, in whole
// milliseconds, after every write already accepted.
//
// Without tablets it is a new CDC generation starting delay from now
// ([scyllaemu.Server.NewGeneration]): writes stamped before the returned
// time still go to the old streams. With tablets it is what changes a
// table's streams on ScyllaDB 2025.4, a split of its tablets (ALTER TABLE
// ... WITH tablets = {'min_tablet_count': N}, twice the current count); the
// new stream set starts at once, so delay does not apply. Either way
// scylla-cdc-go notices the change at its next poll of the generation
// tables (every 15 s).
func (db *DB) NewStreams(ctx context.Context, delay time.Duration) (time.Time, error) {
	if !db.Tablets {
		return db.Server.NewGeneration(delay)
	}
	if db.Keyspace == "" {
		return time.Time{}, fmt.Errorf("outboxtest: no schema, so no %s to split", schema.TableOutboxMessages)
	}
	set, err := db.latestStreamSet(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var tablets int
	iter := db.Session.Query(`SELECT stream_id FROM system.cdc_streams WHERE keyspace_name = ? AND table_name = ? AND timestamp = ? AND stream_state = 0`, nil).
		Bind(db.Keyspace, schema.TableOutboxMessages, set).WithContext(ctx).Iter()
	for id := []byte(nil); iter.Scan(&id); {
		tablets++
	}
	if err := iter.Close(); err != nil {
		return time.Time{}, fmt.Errorf("outboxtest: read the current streams of %s: %w", schema.TableOutboxMessages, err)
	}
	alter := fmt.Sprintf(`ALTER TABLE %s.%s WITH tablets = {'min_tablet_count': %d}`, db.Keyspace, schema.TableOutboxMessages, 2*tablets)
	if err := db.Session.Query(alter, nil).WithContext(ctx).Exec(); err != nil {
		return time.Time{}, fmt.Errorf("outboxtest: %s: %w", alter, err)
	}
	next, err := db.latestStreamSet(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if !next.After(set) {
		return time.Time{}, fmt.Errorf("outboxtest: %s made no new stream set (latest still %v)", alter, set)
	}
	return next, nil
}

// latestStreamSet is the start of outbox_messages' newest tablets stream
// set; system.cdc_timestamps lists a table's sets newest first.
func (db *DB) latestStreamSet(ctx context.Context) (time.Time, error) {
	var at time.Time
	if err := db.Session.Query(`SELECT timestamp FROM system.cdc_timestamps WHERE keyspace_name = ? AND table_name = ? LIMIT 1`, nil).
		Bind(db.Keyspace, schema.TableOutboxMessages).WithContext(ctx).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("outboxtest: read the stream sets of %s.%s: %w", db.Keyspace, schema.TableOutboxMessages, err)
	}
	return at, nil
}

// StartBroker starts an embedded Kafka broker with o (topics, message size
// limit, data directory, connection wrapper, logger: see
// [kafkaemu.Options]) and closes it when the test and its subtests end; an
// error closing it fails the test. The broker may be stopped and started
// again meanwhile.
//
// Unless o sets GroupMinSessionTimeout, the broker accepts group session
// timeouts down to [BrokerMinSessionTimeout] rather than Kafka's 6 s, so
// that relays under test fail over in about a second; a test of the
// defaults' failover sets Kafka's minimum itself.
func StartBroker(t testing.TB, o kafkaemu.Options) *kafkaemu.Broker {
	t.Helper()
	if o.GroupMinSessionTimeout == 0 {
		o.GroupMinSessionTimeout = BrokerMinSessionTimeout
	}
	ctx, cancel := context.WithTimeout(t.Context(), brokerStartTimeout)
	defer cancel()
	b, err := kafkaemu.Start(ctx, o)
	if err != nil {
		t.Fatalf("outboxtest: start kafkaemu: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("outboxtest: close kafkaemu: %v", err)
		}
	})
	return b
}

// FreeAddr returns a loopback address nothing listens on: connections to it
// are refused until a service a test starts later listens there.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
