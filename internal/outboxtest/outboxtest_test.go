package outboxtest_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// tables returns how many of the schema's tables exist in keyspace ks.
func tables(t *testing.T, db *outboxtest.DB, ks string) int {
	t.Helper()
	var n int
	if err := db.Session.Query(`SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = ?`, nil).Bind(ks).Scan(&n); err != nil {
		t.Fatalf("count tables of %s: %v", ks, err)
	}
	return n
}

// refused reports whether nothing listens on addr any more.
func refused(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		// Something answered, so the address is not refused whatever
		// closing the probe says.
		_ = c.Close()
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func TestStartDB(t *testing.T) {
	// One statement per table and one for the keyspace; ScyllaDB adds one
	// table, outbox_messages' CDC log: as many tables as statements.
	stmts, err := schema.Statements(schema.Options{Keyspace: outboxtest.DefaultKeyspace})
	if err != nil {
		t.Fatal(err)
	}
	allTables := len(stmts)
	listen := outboxtest.FreeAddr(t)
	tests := []struct {
		name         string
		opts         []outboxtest.Option
		wantKeyspace string
		wantAddr     string
	}{
		{"defaults", nil, outboxtest.DefaultKeyspace, ""},
		{"another keyspace", []outboxtest.Option{outboxtest.WithSchema(schema.Options{Keyspace: "shop"})}, "shop", ""},
		{"without schema", []outboxtest.Option{outboxtest.WithoutSchema()}, "", ""},
		{"emulator options", []outboxtest.Option{outboxtest.WithEmulator(scyllaemu.Options{Listen: listen})}, outboxtest.DefaultKeyspace, listen},
	}
	for _, tt := range tests {
		var addr string
		t.Run(tt.name, func(t *testing.T) {
			db := outboxtest.StartDB(t, tt.opts...)
			addr = db.Addr
			if db.Server == nil || db.Addr != db.Server.Addr() {
				t.Fatalf("Addr = %q, Server = %v: want the server's address", db.Addr, db.Server)
			}
			if tt.wantAddr != "" && db.Addr != tt.wantAddr {
				t.Errorf("Addr = %q, want %q from the emulator options", db.Addr, tt.wantAddr)
			}
			if db.Keyspace != tt.wantKeyspace {
				t.Errorf("Keyspace = %q, want %q", db.Keyspace, tt.wantKeyspace)
			}
			for _, ks := range []string{outboxtest.DefaultKeyspace, "shop"} {
				want := 0
				if ks == tt.wantKeyspace {
					want = allTables
				}
				if got := tables(t, db, ks); got != want {
					t.Errorf("%d tables in %s, want %d", got, ks, want)
				}
			}
			q := db.Session.Query(`SELECT now() FROM system.local`, nil)
			defer q.Release()
			if got := q.GetConsistency(); got != gocql.One {
				t.Errorf("session consistency = %v, want ONE", got)
			}
		})
		if !refused(addr) {
			t.Errorf("%s: the emulator at %s still listens after the test", tt.name, addr)
		}
	}
}

// Stop takes the emulator down (connections refused) and Restart brings it
// back on the same address with its data directory: the session StartDB
// opened reconnects and finds the same node (its host id is kept in the
// data directory). Without a data directory Restart refuses.
//
// Without the schema: gocql v1.17.0 races (under -race) when its control
// connection reconnects while it handles a schema event, and StartDB's
// schema statements leave such events to be handled about a second later.
func TestStopAndRestart(t *testing.T) {
	db := outboxtest.StartDB(t, outboxtest.WithoutSchema(), outboxtest.WithEmulator(scyllaemu.Options{DataDir: t.TempDir()}))
	addr := db.Addr
	hostID := func() (gocql.UUID, error) {
		var id gocql.UUID
		err := db.Session.Query(`SELECT host_id FROM system.local WHERE key = 'local'`, nil).Scan(&id)
		return id, err
	}
	before, err := hostID()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Stop(); err != nil {
		t.Fatal(err)
	}
	if !refused(addr) {
		t.Fatalf("the emulator at %s still listens after Stop", addr)
	}
	if err := db.Restart(); err != nil {
		t.Fatal(err)
	}
	if db.Addr != addr || db.Server.Addr() != addr {
		t.Fatalf("restarted at %s (Addr %s), want %s", db.Server.Addr(), db.Addr, addr)
	}
	after, err := hostID()
	for deadline := time.Now().Add(30 * time.Second); err != nil && time.Now().Before(deadline); after, err = hostID() {
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the session does not read from the restarted emulator: %v", err)
	}
	if after != before {
		t.Fatalf("host id %v after the restart, was %v: not the same node", after, before)
	}
	if err := outboxtest.StartDB(t, outboxtest.WithoutSchema()).Restart(); !errors.Is(err, outboxtest.ErrNoDataDir) {
		t.Fatalf("Restart without a data directory = %v, want ErrNoDataDir", err)
	}
}

// usesTablets reports whether keyspace ks uses tablets, by scylla-cdc-go's
// test: a system_schema.scylla_keyspaces row with initial_tablets.
func usesTablets(t *testing.T, db *outboxtest.DB, ks string) bool {
	t.Helper()
	var initial *int
	err := db.Session.Query(`SELECT initial_tablets FROM system_schema.scylla_keyspaces WHERE keyspace_name = ?`, nil).Bind(ks).Scan(&initial)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		t.Fatalf("read scylla_keyspaces: %v", err)
	}
	return initial != nil
}

// logStream is the CDC stream of the one log row of outbox_messages with
// sequence seq of aggregate agg.
func logStream(t *testing.T, db *outboxtest.DB, agg gocql.UUID, seq int) []byte {
	t.Helper()
	var stream []byte
	if err := db.Session.Query(`SELECT "cdc$stream_id" FROM `+db.Keyspace+`.`+schema.TableOutboxCDCLog+` WHERE aggregate_id = ? AND sequence = ? ALLOW FILTERING`, nil).
		Bind(agg, seq).Scan(&stream); err != nil {
		t.Fatalf("log row %v/%d: %v", agg, seq, err)
	}
	return stream
}

// In either mode StartDB makes the keyspace (and, with tablets,
// NetworkTopologyStrategy keyspaces tests create) as told, and NewStreams
// moves outbox_messages' log to new streams: the same aggregate's writes
// before and after the returned time are logged in different streams.
func TestTabletsModeAndNewStreams(t *testing.T) {
	for _, tablets := range []bool{false, true} {
		t.Run(fmt.Sprintf("tablets=%v", tablets), func(t *testing.T) {
			db := outboxtest.StartDB(t, outboxtest.WithTablets(tablets))
			if db.Tablets != tablets {
				t.Fatalf("DB.Tablets = %v, want %v", db.Tablets, tablets)
			}
			if got := usesTablets(t, db, db.Keyspace); got != tablets {
				t.Fatalf("keyspace %s uses tablets: %v, want %v", db.Keyspace, got, tablets)
			}
			if err := db.Session.Query(`CREATE KEYSPACE other WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1}`, nil).Exec(); err != nil {
				t.Fatal(err)
			}
			if got := usesTablets(t, db, "other"); got != tablets {
				t.Errorf("a NetworkTopologyStrategy keyspace made by the test uses tablets: %v, want %v", got, tablets)
			}

			agg := gocql.TimeUUID()
			insert := func(seq int) {
				t.Helper()
				if err := db.Session.Query(`INSERT INTO `+db.Keyspace+`.`+schema.TableOutboxMessages+` (aggregate_id, sequence, event_id, committed_at) VALUES (?, ?, ?, now())`, nil).
					Bind(agg, seq, gocql.TimeUUID()).Exec(); err != nil {
					t.Fatal(err)
				}
			}
			insert(1)
			at, err := db.NewStreams(t.Context(), 0)
			if err != nil {
				t.Fatal(err)
			}
			// The new streams take over at a time already past for
			// tablets and at most a millisecond ahead for a generation.
			time.Sleep(time.Until(at) + time.Millisecond)
			insert(2)
			if before, after := logStream(t, db, agg, 1), logStream(t, db, agg, 2); string(before) == string(after) {
				t.Errorf("writes before and after NewStreams (%v) both logged in stream %x", at, before)
			}
		})
	}
	if _, err := outboxtest.StartDB(t, outboxtest.WithTablets(true), outboxtest.WithoutSchema()).NewStreams(t.Context(), 0); err == nil {
		t.Error("NewStreams without a schema in tablets mode: no error")
	}
}

func TestStartBroker(t *testing.T) {
	var b *kafkaemu.Broker
	t.Run("running", func(t *testing.T) {
		b = outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{"t"}})
		if !b.Running() {
			t.Fatal("the broker is not running")
		}
		if refused(b.Addr()) {
			t.Fatalf("nothing listens on the broker's address %s", b.Addr())
		}
	})
	if b.Running() || !refused(b.Addr()) {
		t.Error("the broker still runs after the test")
	}
	if _, err := os.Stat(b.DataDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the broker's temporary data directory is still there: %v", err)
	}
}

// The certificates verify against their CA and only it, expire when told,
// and their files load as the services load them.
func TestCertificates(t *testing.T) {
	ca, other := outboxtest.NewCA(t, ""), outboxtest.NewCA(t, "another CA")
	tests := []struct {
		name    string
		opts    outboxtest.CertOptions
		roots   *outboxtest.CA
		usage   x509.ExtKeyUsage
		wantErr string
	}{
		{"server", outboxtest.CertOptions{Server: true}, ca, x509.ExtKeyUsageServerAuth, ""},
		{"client", outboxtest.CertOptions{CommonName: "relay"}, ca, x509.ExtKeyUsageClientAuth, ""},
		{"another CA's roots", outboxtest.CertOptions{Server: true}, other, x509.ExtKeyUsageServerAuth, "x509: certificate signed by unknown authority"},
		{"expired", outboxtest.CertOptions{Server: true, NotAfter: time.Now().Add(-time.Minute)}, ca, x509.ExtKeyUsageServerAuth, "x509: certificate has expired or is not yet valid"},
		{"client used as a server", outboxtest.CertOptions{}, ca, x509.ExtKeyUsageServerAuth, "x509: certificate specifies an incompatible key usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp := ca.Issue(t, tt.opts)
			certFile, keyFile := kp.WriteFiles(t)
			loaded, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(loaded.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			opts := x509.VerifyOptions{Roots: tt.roots.Pool(), KeyUsages: []x509.ExtKeyUsage{tt.usage}}
			if tt.opts.Server {
				opts.DNSName = "127.0.0.1"
			}
			_, err = leaf.Verify(opts)
			if got := fmt.Sprint(err); (tt.wantErr == "" && err != nil) || (tt.wantErr != "" && !strings.HasPrefix(got, tt.wantErr)) {
				t.Fatalf("verify: %v, want %q", err, tt.wantErr)
			}
		})
	}
	pem, err := os.ReadFile(ca.WriteFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the CA file holds no PEM certificate")
	}
}

// A server configured by ServerTLS presents the certificate it holds at
// each handshake and requires a client certificate when given a client CA.
func TestServerTLS(t *testing.T) {
	ca := outboxtest.NewCA(t, "")
	expired := ca.Issue(t, outboxtest.CertOptions{Server: true, NotAfter: time.Now().Add(-time.Minute)})
	cert := outboxtest.ServingCert(expired)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", outboxtest.ServerTLS(cert, ca))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// The handshake runs on the first read; its error is the
			// client's to see.
			_, _ = c.Read(make([]byte, 1))
			_ = c.Close()
		}
	}()
	handshake := func(client *tls.Config) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), client)
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		// TLS 1.3 reports a refused client certificate on the first read.
		if _, err := c.Write([]byte{0}); err != nil {
			return err
		}
		_, err = c.Read(make([]byte, 1))
		return err
	}
	client := ca.Issue(t, outboxtest.CertOptions{})
	if err := handshake(outboxtest.ClientTLS(ca, client)); err == nil || !strings.Contains(err.Error(), "certificate has expired") {
		t.Fatalf("handshake with an expired server certificate: %v", err)
	}
	cert.Store(ca.Issue(t, outboxtest.CertOptions{Server: true}))
	if err := handshake(outboxtest.ClientTLS(ca, nil)); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("handshake without a client certificate: %v", err)
	}
	if err := handshake(outboxtest.ClientTLS(ca, client)); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("handshake with a renewed server certificate: %v, want the server's close after a good handshake", err)
	}
}

// StartDB's session logs in to an emulator that requires TLS, a client
// certificate and a password.
func TestStartDBWithLogin(t *testing.T) {
	ca := outboxtest.NewCA(t, "")
	db := outboxtest.StartDB(t,
		outboxtest.WithEmulator(scyllaemu.Options{
			TLS:   outboxtest.ServerTLS(outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true})), ca),
			Users: map[string]string{"relay": "s3cret"},
		}),
		outboxtest.WithSessionLogin(outboxtest.ClientTLS(ca, ca.Issue(t, outboxtest.CertOptions{})), "relay", "s3cret"))
	if n := tables(t, db, outboxtest.DefaultKeyspace); n == 0 {
		t.Fatal("no schema through the logged-in session")
	}
}
