package engine_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wal"
)

// TestDataDirReplay builds state of every kind on an engine with a data
// directory, reopens the directory in a new engine and checks that every
// query answers as before, and that writing goes on from there.
func TestDataDirReplay(t *testing.T) {
	for _, fsync := range []bool{false, true} {
		t.Run(map[bool]string{false: "fsync once a second", true: "fsync always"}[fsync], func(t *testing.T) {
			dir := t.TempDir()
			opts := engine.Options{DataDir: dir, FsyncAlways: fsync}
			h := newHarness(t, opts, createKS,
				`CREATE TYPE ks.addr (street text, zip int)`,
				`CREATE TABLE ks.t (k int, c int, v text, a addr, m map<text, int>, PRIMARY KEY (k, c)) WITH cdc = {'enabled': true, 'preimage': true}`,
				`CREATE INDEX ON ks.t (v)`,
				`INSERT INTO ks.t (k, c, v, a, m) VALUES (1, 1, 'one', {street: 'Main', zip: 1}, {'x': 1})`,
				`INSERT INTO ks.t (k, c, v) VALUES (1, 2, 'two') USING TTL 100`,
				`UPDATE ks.t SET m['y'] = 2, a.zip = 3 WHERE k = 1 AND c = 1`,
				`INSERT INTO ks.t (k, c, v) VALUES (2, 1, 'gone')`,
				`DELETE FROM ks.t WHERE k = 2`,
				`UPDATE ks.t SET v = 'three' WHERE k = 3 AND c = 1 IF v = null`,
				`BEGIN BATCH INSERT INTO ks.t (k, c, v) VALUES (4, 1, 'b1'); INSERT INTO ks.t (k, c, v) VALUES (4, 2, 'b2'); APPLY BATCH`,
				`ALTER TABLE ks.t ADD w int`,
				tabletsKS,
				`CREATE TABLE tk.t (k int PRIMARY KEY, v int) WITH cdc = {'enabled': true}`,
				`INSERT INTO tk.t (k, v) VALUES (1, 1)`,
				`ALTER TABLE tk.t WITH tablets = {'min_tablet_count': 8}`)
			h.clock.Advance(time.Second)
			if _, err := h.e.NewGeneration(0); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Second)
			h.exec(`INSERT INTO ks.t (k, c, v) VALUES (5, 1, 'new generation')`, `INSERT INTO tk.t (k, v) VALUES (2, 2)`)
			if err := h.e.Commit(); err != nil {
				t.Fatal(err)
			}

			queries := []string{
				`SELECT k, c, v, a, m, w, WRITETIME(v), TTL(v) FROM ks.t`,
				`SELECT k, c FROM ks.t WHERE v = 'three'`,
				`SELECT * FROM ks.t_scylla_cdc_log`,
				`SELECT * FROM tk.t_scylla_cdc_log`,
				`SELECT keyspace_name, table_name, id FROM system_schema.tables WHERE keyspace_name IN ('ks', 'tk')`,
				`SELECT * FROM system_schema.columns WHERE keyspace_name = 'ks'`,
				`SELECT * FROM system_schema.indexes`,
				`SELECT * FROM system_schema.types`,
				`SELECT host_id, tokens FROM system.local`,
				`SELECT * FROM system_distributed.cdc_generation_timestamps`,
				`SELECT * FROM system_distributed.cdc_streams_descriptions_v2`,
				`SELECT * FROM system.cdc_streams`,
				`SELECT * FROM system.cdc_timestamps`,
			}
			before := map[string][]string{}
			for _, q := range queries {
				before[q] = h.rows(q)
			}

			// A second engine may not share the directory.
			if _, err := engine.New(engine.Options{Clock: h.clock.Now, DataDir: dir}); !errors.Is(err, engine.ErrDataDir) || !errors.Is(err, wal.ErrLocked) {
				t.Fatalf("a second engine on the directory: %v, want ErrDataDir and wal.ErrLocked", err)
			}
			h.close()

			// The user schema, the host id and the CDC generations come
			// from the directory, not from the options (whose seed and
			// vnodes differ here).
			again := newHarness(t, engine.Options{DataDir: dir, Seed: 99, Vnodes: 2})
			again.clock.Set(h.clock.Now())
			for _, q := range queries {
				if got := again.rows(q); !reflect.DeepEqual(got, before[q]) {
					t.Errorf("%s after the replay:\n got %q\nwant %q", q, got, before[q])
				}
			}
			if got, want := len(again.e.Generations()), len(h.e.Generations()); got != want {
				t.Errorf("%d CDC generations after the replay, want %d", got, want)
			}

			// Writes go on after the replay, stamped after those before it
			// even though the clock has not moved.
			again.exec(`UPDATE ks.t SET v = 'after' WHERE k = 1 AND c = 1`)
			if got := again.rows(`SELECT v FROM ks.t WHERE k = 1 AND c = 1`); !reflect.DeepEqual(got, []string{"after"}) {
				t.Fatalf("a write after the replay: %q", got)
			}
		})
	}
}
