package scyllaemu_test

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

func TestSmoke(t *testing.T) {
	srv, err := scyllaemu.Start(context.Background(), scyllaemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, srv)
	cluster := gocql.NewCluster(srv.Addr())
	cluster.Timeout = 5 * time.Second
	s, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Query(`CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`).Exec(); err != nil {
		t.Fatal(err)
	}
	if err := s.Query(`CREATE TABLE ks.t (id int, c int, v text, PRIMARY KEY (id, c)) WITH cdc = {'enabled': true}`).Exec(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Query(`INSERT INTO ks.t (id, c, v) VALUES (?, ?, ?)`, 1, i, "x").Exec(); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.Query(`SELECT COUNT(*) FROM ks.t WHERE id = ?`, 1).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("count %d", n)
	}
	iter := s.Query(`SELECT * FROM ks.t_scylla_cdc_log`).Iter()
	rows, _ := iter.SliceMap()
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("log rows: %v", rows)
	km, err := s.KeyspaceMetadata("ks")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tables: %v", len(km.Tables))
}

// system.local reports the cluster name given, "scyllaemu" by default (by
// which the relay recognises the emulator).
func TestClusterName(t *testing.T) {
	tests := []struct{ name, given, want string }{
		{"default", "", "scyllaemu"},
		{"given", "prod-eu1", "prod-eu1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, s := startEmu(t, scyllaemu.Options{ClusterName: tc.given})
			var got string
			if err := s.Query(`SELECT cluster_name FROM system.local WHERE key = 'local'`, nil).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("cluster_name %q, want %q", got, tc.want)
			}
		})
	}
}
