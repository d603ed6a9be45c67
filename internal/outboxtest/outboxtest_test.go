package outboxtest_test

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

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
