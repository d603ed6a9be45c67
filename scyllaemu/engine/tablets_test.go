package engine_test

import (
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

const tabletsKS = `CREATE KEYSPACE tk WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1} AND tablets = {'initial': 4}`

// TestTabletsCDC follows a tablets table's CDC stream sets: one stream per
// tablet in system.cdc_streams, a new set when its tablets split, and
// each write logged to a stream of the set in force at its time.
func TestTabletsCDC(t *testing.T) {
	h := newHarness(t, engine.Options{}, tabletsKS,
		`CREATE TABLE tk.t (k int PRIMARY KEY, v int) WITH cdc = {'enabled': true}`)
	// streams returns the set of stream_state state at time ts (ms).
	streams := func(ts string, state int) map[string]bool {
		out := map[string]bool{}
		res, err := h.run(`SELECT stream_id FROM system.cdc_streams WHERE keyspace_name = 'tk' AND table_name = 't' AND timestamp = `+ts+` AND stream_state = ?`, []byte{byte(state)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Rows.Data {
			out[string(r[0])] = true
		}
		return out
	}
	times := func() []string {
		return h.rows(`SELECT timestamp FROM system.cdc_timestamps WHERE keyspace_name = 'tk' AND table_name = 't'`)
	}
	logStreams := func() map[string]bool {
		out := map[string]bool{}
		res, err := h.run(`SELECT "cdc$stream_id" FROM tk.t_scylla_cdc_log`)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Rows.Data {
			out[string(r[0])] = true
		}
		return out
	}
	writeAll := func() {
		for k := range int32(32) {
			if _, err := h.run(`INSERT INTO tk.t (k, v) VALUES (?, 1)`, int32v(k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	subset := func(a, b map[string]bool) bool {
		for k := range a {
			if !b[k] {
				return false
			}
		}
		return true
	}

	first := times()
	if len(first) != 1 {
		t.Fatalf("cdc_timestamps %q, want one stream set", first)
	}
	ts1 := tsMillis(t, first[0])
	cur1 := streams(ts1, 0)
	if len(cur1) != 4 || len(streams(ts1, 2)) != 4 {
		t.Fatalf("first set: %d current streams, want one per tablet (4)", len(cur1))
	}
	writeAll()
	if got := logStreams(); !subset(got, cur1) || len(got) < 2 {
		t.Fatalf("writes logged to %d streams, not all in the first set", len(got))
	}

	h.exec(`ALTER TABLE tk.t WITH tablets = {'min_tablet_count': 8}`)
	all := times()
	if len(all) != 2 || all[1] != first[0] {
		t.Fatalf("cdc_timestamps %q after the split, want a newer set first", all)
	}
	ts2 := tsMillis(t, all[0])
	cur2 := streams(ts2, 0)
	if len(cur2) != 8 || len(streams(ts2, 1)) != 4 {
		t.Fatalf("split set: %d current and %d closed streams, want 8 and 4", len(cur2), len(streams(ts2, 1)))
	}
	h.clock.Advance(time.Second) // past the new set's start
	h.exec(`TRUNCATE tk.t_scylla_cdc_log`)
	writeAll()
	if got := logStreams(); !subset(got, cur2) {
		t.Fatal("writes after the split logged outside the new set")
	}

	h.exec(`ALTER TABLE tk.t WITH cdc = {'enabled': false}`)
	if got := times(); len(got) != 0 {
		t.Fatalf("cdc_timestamps %q after CDC was disabled, want none", got)
	}
}

// tsMillis turns a formatted timestamp back into milliseconds for a query.
func tsMillis(t *testing.T, formatted string) string {
	t.Helper()
	at, err := time.Parse("2006-01-02 15:04:05.000000-0700", formatted)
	if err != nil {
		t.Fatal(err)
	}
	return itoa(at.UnixMilli())
}

// TestTabletsOptions checks where tablets may be asked for.
func TestTabletsOptions(t *testing.T) {
	tests := []struct {
		name  string
		opts  engine.Options
		stmts []string
		code  int32
		msg   string
	}{
		{"tablets need NetworkTopologyStrategy", engine.Options{},
			[]string{`CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND tablets = {'enabled': true}`},
			wire.ConfigError, "Tablets are only supported with NetworkTopologyStrategy"},
		{"unknown tablets option", engine.Options{},
			[]string{`CREATE KEYSPACE k WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1} AND tablets = {'colour': 1}`},
			wire.ConfigError, "Unrecognized tablets option colour"},
		{"table tablet options in a vnodes keyspace", engine.Options{},
			[]string{`CREATE KEYSPACE k WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1}`,
				`CREATE TABLE k.t (k int PRIMARY KEY) WITH tablets = {'min_tablet_count': 4}`},
			wire.ConfigError, "Tablet options cannot be used when tablets are disabled for the keyspace"},
		{"tablets by default", engine.Options{TabletsByDefault: true},
			[]string{`CREATE KEYSPACE k WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1}`,
				`CREATE TABLE k.t (k int PRIMARY KEY) WITH tablets = {'min_tablet_count': 4}`},
			0, ""},
		{"tablets by default, disabled by the keyspace", engine.Options{TabletsByDefault: true},
			[]string{`CREATE KEYSPACE k WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1} AND tablets = {'enabled': false}`,
				`CREATE TABLE k.t (k int PRIMARY KEY) WITH tablets = {'min_tablet_count': 4}`},
			wire.ConfigError, "Tablet options cannot be used when tablets are disabled for the keyspace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts)
			var err error
			for _, q := range tc.stmts {
				if _, err = h.run(q); err != nil {
					break
				}
			}
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantError(t, err, tc.code, tc.msg)
		})
	}
}
