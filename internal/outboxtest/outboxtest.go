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
// The package depends only on scyllaemu, schema, kafkaemu and the drivers,
// never on the packages under test (storage, cdc, actors, app, …): a
// package's internal tests cannot import a fixture that imports that
// package. Tests therefore build their own stores on [DB.Session]. The one
// exception is schema, whose internal tests cannot use StartDB.
//
// It lives under internal/ because it is test infrastructure of this module,
// not a compatibility promise: its API follows scyllaemu's.
package outboxtest

import (
	"context"
	"crypto/tls"
	"net"
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

// Session settings of [StartDB]. The emulator is one node, so ONE is as
// strong as any level; a short request timeout turns a hung emulator into
// a failing test instead of one stuck for gocql's default 11 s per request.
const (
	sessionTimeout        = 5 * time.Second
	sessionConnectTimeout = 5 * time.Second
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
}

// Option configures [StartDB].
type Option func(*dbOptions)

type dbOptions struct {
	emulator scyllaemu.Options
	schema   *schema.Options
	tls      *tls.Config
	user     string
	password string
}

// WithEmulator starts the emulator with o instead of the zero Options (a
// random loopback port, 16 vnodes, the real clock).
func WithEmulator(o scyllaemu.Options) Option {
	return func(d *dbOptions) { d.emulator = o }
}

// WithSchema applies the schema with o instead of in [DefaultKeyspace]
// with the default TTLs.
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
	o := dbOptions{schema: &schema.Options{Keyspace: DefaultKeyspace}}
	for _, f := range opts {
		f(&o)
	}
	// Not t.Context(): it ends before Cleanup runs, and components shut
	// down in Cleanup (a relay saving its progress) still need the
	// database. Close ends the server.
	srv, err := scyllaemu.Start(context.Background(), o.emulator)
	if err != nil {
		t.Fatalf("outboxtest: start scyllaemu: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
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
	db := &DB{Server: srv, Addr: srv.Addr(), Session: session}
	if o.schema != nil {
		if err := schema.Apply(t.Context(), session.Session, *o.schema); err != nil {
			t.Fatalf("outboxtest: apply the schema in %q: %v", o.schema.Keyspace, err)
		}
		db.Keyspace = o.schema.Keyspace
	}
	return db
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
