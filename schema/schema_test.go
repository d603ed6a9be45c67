package schema

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// newSession starts an emulator and returns a session without a keyspace,
// as Apply gets it in production.
func newSession(t *testing.T) *gocql.Session {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := scyllaemu.Start(ctx, scyllaemu.Options{})
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close the emulator: %v", err)
		}
	})
	cluster := gocql.NewCluster(srv.Addr())
	cluster.Timeout = 5 * time.Second
	cluster.ConnectTimeout = 5 * time.Second
	s, err := cluster.CreateSession()
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

type tableState struct {
	ttl int
	cdc map[string]string // from the extension, as Apply reads it
	sc  map[string]string // from system_schema.scylla_tables
}

func readTable(t *testing.T, s *gocql.Session, ks, table string) tableState {
	t.Helper()
	var (
		st  tableState
		ext map[string][]byte
	)
	if err := s.Query(`SELECT default_time_to_live, extensions FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`, ks, table).
		Scan(&st.ttl, &ext); err != nil {
		t.Fatalf("read %s.%s: %v", ks, table, err)
	}
	st.cdc = decodeExtensionMap(ext["cdc"])
	if err := s.Query(`SELECT cdc FROM system_schema.scylla_tables WHERE keyspace_name = ? AND table_name = ?`, ks, table).
		Scan(&st.sc); err != nil {
		t.Fatalf("read scylla_tables %s.%s: %v", ks, table, err)
	}
	return st
}

func TestApplyCreatesEverythingAndIsIdempotent(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	o := Options{Keyspace: "outbox_test"}
	for i := range 2 {
		if err := Apply(ctx, s, o); err != nil {
			t.Fatalf("Apply #%d: %v", i+1, err)
		}
	}
	r, _ := o.resolve()
	alters, err := r.alters(ctx, s, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(alters) != 0 {
		t.Errorf("after Apply with unchanged options, alters = %q; want none", alters)
	}

	for _, table := range []string{TableOrders, TableOutboxMessages, TableOutboxByBucket, TableDeadLetterQueue,
		TableDeadLetterByAggregate, TableOrderLeases, TableRelayCursor, TableRelayFinished, TableCDCProgress, TableRelayProgress, TableOutboxCDCLog} {
		var n int
		if err := s.Query(`SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`, o.Keyspace, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %s: found %d rows in system_schema.tables, want 1", table, n)
		}
	}

	want := map[string]struct {
		ttl int
		cdc map[string]string
	}{
		TableOutboxMessages:        {7 * 86400, map[string]string{"enabled": "true", "preimage": "false", "postimage": "false", "ttl": "86400"}},
		TableOutboxByBucket:        {7 * 86400, nil},
		TableDeadLetterQueue:       {0, nil},
		TableDeadLetterByAggregate: {0, nil},
		TableRelayFinished:         {7 * 86400, nil},
		TableOrders:                {0, nil},
	}
	for table, w := range want {
		got := readTable(t, s, o.Keyspace, table)
		if got.ttl != w.ttl {
			t.Errorf("%s default_time_to_live = %d, want %d", table, got.ttl, w.ttl)
		}
		if w.cdc != nil && (!cdcMatches(got.cdc, w.cdc) || !cdcMatches(got.sc, w.cdc)) {
			t.Errorf("%s cdc = %v (extension) / %v (scylla_tables), want %v", table, got.cdc, got.sc, w.cdc)
		}
		if w.cdc == nil && (got.cdc != nil || len(got.sc) != 0) {
			t.Errorf("%s has cdc options %v / %v, want CDC disabled", table, got.cdc, got.sc)
		}
	}

	// The schema is usable as specified: the polling query needs no
	// ALLOW FILTERING, and the CDC log exists and records outbox writes.
	aggID, evID := gocql.TimeUUID(), gocql.TimeUUID()
	if err := s.Query(`INSERT INTO outbox_test.outbox_messages (aggregate_id, sequence, event_id, committed_at) VALUES (?, 1, ?, now())`, aggID, evID).Exec(); err != nil {
		t.Fatal(err)
	}
	var logged int
	if err := s.Query(`SELECT COUNT(*) FROM outbox_test.outbox_messages_scylla_cdc_log`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged != 1 {
		t.Errorf("CDC log rows after one insert = %d, want 1 (no pre/postimage)", logged)
	}
	if err := s.Query(`SELECT event_id FROM outbox_test.outbox_by_bucket WHERE bucket = ? AND committed_at > ?`, int64(1), gocql.MinTimeUUID(time.Unix(0, 0))).Exec(); err != nil {
		t.Errorf("polling query: %v", err)
	}
}

func TestApplyUpdatesChangedOptions(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	if err := Apply(ctx, s, Options{Keyspace: "ks"}); err != nil {
		t.Fatal(err)
	}
	changed := Options{Keyspace: "ks", CDCLogTTL: 2 * time.Hour, OutboxTTL: 3 * 24 * time.Hour, DeadLetterTTL: 30 * 24 * time.Hour}
	if err := Apply(ctx, s, changed); err != nil {
		t.Fatal(err)
	}
	check := func(table string, ttl int, cdcTTL string) {
		t.Helper()
		got := readTable(t, s, "ks", table)
		if got.ttl != ttl {
			t.Errorf("%s default_time_to_live = %d, want %d", table, got.ttl, ttl)
		}
		if cdcTTL != "" {
			want := wantCDC(0)
			want["ttl"] = cdcTTL
			if !cdcMatches(got.cdc, want) || !cdcMatches(got.sc, want) {
				t.Errorf("%s cdc = %v / %v, want %v", table, got.cdc, got.sc, want)
			}
		}
	}
	check(TableOutboxMessages, 3*86400, "7200")
	check(TableOutboxByBucket, 3*86400, "")
	check(TableDeadLetterQueue, 30*86400, "")
	check(TableDeadLetterByAggregate, 30*86400, "")

	// NoTTL turns expiry off again; CDC stays enabled with a log kept
	// forever.
	forever := Options{Keyspace: "ks", CDCLogTTL: NoTTL, OutboxTTL: NoTTL}
	if err := Apply(ctx, s, forever); err != nil {
		t.Fatal(err)
	}
	check(TableOutboxMessages, 0, "0")
	check(TableOutboxByBucket, 0, "")
	check(TableDeadLetterQueue, 0, "")

	// Someone disabled CDC by hand: Apply turns it back on.
	if err := s.Query(`ALTER TABLE ks.outbox_messages WITH cdc = {'enabled': false}`).Exec(); err != nil {
		t.Fatal(err)
	}
	if err := Apply(ctx, s, Options{Keyspace: "ks"}); err != nil {
		t.Fatal(err)
	}
	check(TableOutboxMessages, 7*86400, "86400")
	var n int
	if err := s.Query(`SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = 'ks' AND table_name = ?`, TableOutboxCDCLog).Scan(&n); err != nil || n != 1 {
		t.Errorf("CDC log table after re-enabling: n=%d err=%v", n, err)
	}
}

func TestApplyRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"empty keyspace", Options{}, "Keyspace must be set"},
		{"upper case", Options{Keyspace: "Outbox"}, "lower-case CQL identifier"},
		{"injection", Options{Keyspace: "ks; DROP KEYSPACE x"}, "lower-case CQL identifier"},
		{"leading digit", Options{Keyspace: "1ks"}, "lower-case CQL identifier"},
		{"too long", Options{Keyspace: strings.Repeat("k", 49)}, "lower-case CQL identifier"},
		{"reserved", Options{Keyspace: "system_outbox"}, "reserved"},
		{"no class", Options{Keyspace: "ks", Replication: map[string]string{"replication_factor": "3"}}, `must name a "class"`},
		{"bad factor", Options{Keyspace: "ks", Replication: map[string]string{"class": "NetworkTopologyStrategy", "dc1": "three"}}, `Replication["dc1"]`},
		{"negative factor", Options{Keyspace: "ks", Replication: map[string]string{"class": "SimpleStrategy", "replication_factor": "-1"}}, "non-negative"},
		{"control char", Options{Keyspace: "ks", Replication: map[string]string{"class": "SimpleStrategy\n", "replication_factor": "1"}}, "control characters"},
		{"tablets on SimpleStrategy", Options{Keyspace: "ks", Tablets: true, Replication: map[string]string{"class": "SimpleStrategy", "replication_factor": "1"}}, "Tablets need Replication class NetworkTopologyStrategy"},
		{"negative cdc ttl", Options{Keyspace: "ks", CDCLogTTL: -time.Hour}, "CDCLogTTL must not be negative"},
		{"fractional outbox ttl", Options{Keyspace: "ks", OutboxTTL: 1500 * time.Millisecond}, "OutboxTTL must be a whole number of seconds"},
		{"huge dlq ttl", Options{Keyspace: "ks", DeadLetterTTL: 21 * 365 * 24 * time.Hour}, "DeadLetterTTL must be at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "schema: ") {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
			// Apply validates before touching the session.
			if err2 := Apply(context.Background(), nil, tt.o); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Apply() = %v, want %v", err2, err)
			}
		})
	}
}

func TestStatementsRenderOptions(t *testing.T) {
	stmts, err := Statements(Options{
		Keyspace:    "shop",
		Replication: map[string]string{"class": "NetworkTopologyStrategy", "dc'1": "3"},
		CDCLogTTL:   time.Hour,
		OutboxTTL:   NoTTL,
	})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(stmts, ";\n")
	for _, want := range []string{
		`CREATE KEYSPACE IF NOT EXISTS shop`,
		`replication = {'class': 'NetworkTopologyStrategy', 'dc''1': '3'}`,
		`tablets = {'enabled': false}`,
		`cdc = {'enabled': 'true', 'postimage': 'false', 'preimage': 'false', 'ttl': '3600'}`,
		`CREATE TABLE IF NOT EXISTS shop.outbox_by_bucket`,
		`PRIMARY KEY ((bucket), committed_at, event_id)`,
		`PRIMARY KEY ((generation, application_name, table_name, stream_id))`,
		`PRIMARY KEY ((relay_name, event_id))`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("statements lack %q", want)
		}
	}
	if strings.Contains(all, "--") {
		t.Errorf("statements still contain comments")
	}
	if n := strings.Count(all, "default_time_to_live = 0"); n != 5 {
		// outbox_messages, outbox_by_bucket and relay_finished (the outbox
		// TTL, NoTTL here) and both DLQ tables.
		t.Errorf("default_time_to_live = 0 appears %d times, want 5", n)
	}
	if len(stmts) != 11 {
		t.Errorf("got %d statements, want 11 (keyspace + 10 tables)", len(stmts))
	}
}

// TestStatementsRenderTabletsMode: the keyspace statement says whether
// tablets are on, and Tablets without a Replication defaults to
// NetworkTopologyStrategy, which tablets require.
func TestStatementsRenderTabletsMode(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"vnodes", Options{Keyspace: "ks"},
			`WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '1'}` + "\n    AND tablets = {'enabled': false}"},
		{"tablets", Options{Keyspace: "ks", Tablets: true},
			`WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': '1'}` + "\n    AND tablets = {'enabled': true}"},
		{"tablets, qualified class", Options{Keyspace: "ks", Tablets: true, Replication: map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3"}},
			`WITH replication = {'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'dc1': '3'}` + "\n    AND tablets = {'enabled': true}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts, err := Statements(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stmts[0], tt.want) {
				t.Errorf("keyspace statement:\n%s\nwant it to contain\n%s", stmts[0], tt.want)
			}
		})
	}
}

// TestApplyKeyspaceMode: Apply creates a vnodes or a tablets keyspace as
// told, and in a tablets keyspace outbox_messages gets its own CDC stream
// set (system.cdc_streams), which its log rows use; a second Apply with the
// other mode leaves the keyspace as it is, like Replication.
func TestApplyKeyspaceMode(t *testing.T) {
	for _, tablets := range []bool{false, true} {
		t.Run(map[bool]string{false: "vnodes", true: "tablets"}[tablets], func(t *testing.T) {
			s := newSession(t)
			ctx := context.Background()
			if err := Apply(ctx, s, Options{Keyspace: "ks", Tablets: tablets}); err != nil {
				t.Fatal(err)
			}
			// scylla-cdc-go's test for a tablets keyspace: a
			// scylla_keyspaces row with initial_tablets.
			var initial *int
			err := s.Query(`SELECT initial_tablets FROM system_schema.scylla_keyspaces WHERE keyspace_name = 'ks'`).Scan(&initial)
			if got := err == nil && initial != nil; got != tablets {
				t.Fatalf("keyspace uses tablets: %v (initial_tablets %v, %v), want %v", got, initial, err, tablets)
			}
			streams := map[string]bool{}
			iter := s.Query(`SELECT stream_id FROM system.cdc_streams WHERE keyspace_name = 'ks' AND table_name = ?`, TableOutboxMessages).Iter()
			for id := []byte(nil); iter.Scan(&id); {
				streams[string(id)] = true
			}
			if err := iter.Close(); err != nil {
				t.Fatal(err)
			}
			if (len(streams) > 0) != tablets {
				t.Fatalf("outbox_messages has %d tablet streams, want some only with tablets", len(streams))
			}
			if err := s.Query(`INSERT INTO ks.outbox_messages (aggregate_id, sequence, event_id, committed_at) VALUES (?, 1, ?, now())`,
				gocql.TimeUUID(), gocql.TimeUUID()).Exec(); err != nil {
				t.Fatal(err)
			}
			var stream []byte
			if err := s.Query(`SELECT "cdc$stream_id" FROM ks.outbox_messages_scylla_cdc_log`).Scan(&stream); err != nil {
				t.Fatal(err)
			}
			if tablets && !streams[string(stream)] {
				t.Errorf("log row in stream %x, not one of the table's tablet streams", stream)
			}

			if err := Apply(ctx, s, Options{Keyspace: "ks", Tablets: !tablets}); err != nil {
				t.Fatalf("Apply with the other mode: %v", err)
			}
			initial = nil
			err = s.Query(`SELECT initial_tablets FROM system_schema.scylla_keyspaces WHERE keyspace_name = 'ks'`).Scan(&initial)
			if got := err == nil && initial != nil; got != tablets {
				t.Errorf("after Apply with the other mode the keyspace uses tablets: %v, want %v (unchanged)", got, tablets)
			}
		})
	}
}

func TestDecodeExtensionMapRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {1, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}, {1, 0, 0, 0, 9, 0, 0, 0, 'a'}} {
		if m := decodeExtensionMap(b); m != nil {
			t.Errorf("decodeExtensionMap(%v) = %v, want nil", b, m)
		}
	}
}

// TestApplyAddsMissingColumns: a dead_letter_queue created by a release
// without the raw column gets it from Apply, keeping its rows; a second
// Apply changes nothing; a column of the wrong type is reported.
func TestApplyAddsMissingColumns(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE ks.dead_letter_queue (event_id uuid PRIMARY KEY, error_kind text)`,
		`INSERT INTO ks.dead_letter_queue (event_id, error_kind) VALUES (5b6b4b6e-0c4b-4f51-9f5e-3d2b0b7c1a01, 'permanent')`,
	} {
		if err := s.Query(stmt).Exec(); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	columns := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		iter := s.Query(`SELECT column_name, type FROM system_schema.columns WHERE keyspace_name = 'ks' AND table_name = ?`, TableDeadLetterQueue).Iter()
		var name, typ string
		for iter.Scan(&name, &typ) {
			out[name] = typ
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if _, ok := columns()["raw"]; ok {
		t.Fatal("raw exists before Apply: the test does not test anything")
	}
	for i := range 2 {
		if err := Apply(ctx, s, Options{Keyspace: "ks"}); err != nil {
			t.Fatalf("Apply #%d: %v", i+1, err)
		}
		if got := columns()["raw"]; got != "map<text, text>" {
			t.Fatalf("after Apply #%d raw has type %q, want map<text, text>", i+1, got)
		}
	}
	var kind string
	var raw map[string]string
	if err := s.Query(`SELECT error_kind, raw FROM ks.dead_letter_queue WHERE event_id = 5b6b4b6e-0c4b-4f51-9f5e-3d2b0b7c1a01`).Scan(&kind, &raw); err != nil || kind != "permanent" || len(raw) != 0 {
		t.Fatalf("old row after Apply: kind %q raw %v err %v", kind, raw, err)
	}
	// A concurrent Apply added the column after this one looked it up:
	// the ALTER fails, and that is success.
	r, _ := Options{Keyspace: "ks"}.resolve()
	for _, c := range addedColumns() {
		if typ, err := r.addColumn(ctx, s, c); err != nil || typ != c.typ {
			t.Errorf("addColumn(%s) with the column present = %q, %v; want %q, nil", c.name, typ, err, c.typ)
		}
	}

	for _, stmt := range []string{
		`CREATE KEYSPACE wrong WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE wrong.dead_letter_queue (event_id uuid PRIMARY KEY, raw text)`,
	} {
		if err := s.Query(stmt).Exec(); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	err := Apply(ctx, s, Options{Keyspace: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "column raw of wrong.dead_letter_queue has type text, want map<text, text>") {
		t.Fatalf("Apply over a raw column of another type = %v, want an error naming it", err)
	}
}

// Ensure, what demo and dev run, creates a missing schema but does not reset
// the options of one someone migrated with other TTLs; it only turns a
// disabled CDC back on.
func TestEnsureKeepsExistingOptions(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	if err := Ensure(ctx, s, Options{Keyspace: "ks"}); err != nil {
		t.Fatal(err)
	}
	if got := readTable(t, s, "ks", TableOutboxMessages); got.ttl != 7*86400 {
		t.Fatalf("created by Ensure: outbox_messages default_time_to_live = %d, want the default 7 days", got.ttl)
	}
	migrated := Options{Keyspace: "ks", CDCLogTTL: 48 * time.Hour, OutboxTTL: 3 * 24 * time.Hour}
	if err := Apply(ctx, s, migrated); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(ctx, s, Options{Keyspace: "ks"}); err != nil {
		t.Fatal(err)
	}
	want := wantCDC(0)
	want["ttl"] = "172800"
	if got := readTable(t, s, "ks", TableOutboxMessages); got.ttl != 3*86400 || !cdcMatches(got.cdc, want) {
		t.Errorf("after Ensure with the defaults: ttl %d cdc %v, want the migrated 3 days and a 48 h log", got.ttl, got.cdc)
	}

	if err := s.Query(`ALTER TABLE ks.outbox_messages WITH cdc = {'enabled': false}`).Exec(); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(ctx, s, Options{Keyspace: "ks"}); err != nil {
		t.Fatal(err)
	}
	if got := readTable(t, s, "ks", TableOutboxMessages); got.cdc == nil || got.ttl != 3*86400 {
		t.Errorf("after Ensure on a disabled CDC: ttl %d cdc %v, want CDC on and the TTL kept", got.ttl, got.cdc)
	}
}
