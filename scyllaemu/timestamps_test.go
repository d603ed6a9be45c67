package scyllaemu_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
	"golang.org/x/sync/errgroup"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// logKey names one written row: writer (partition) and sequence number.
type logKey struct{ w, seq int }

// TestServerTimestampsNeverFallBehindReads is the property a CDC reader
// with a tiny confidence window relies on: with server-side timestamps, once
// the log was read up to a point, no row with a cdc$time at or before it
// appears later. Writers insert single rows and two-partition batches
// without client timestamps while a reader polls the log in consecutive
// windows (cursor, now], as scylla-cdc-go does with a zero window; at the
// end every row at or before the last cursor must have been seen by some
// poll, and each row's now() must carry its cdc$time's timestamp.
func TestServerTimestampsNeverFallBehindReads(t *testing.T) {
	srv, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS, `CREATE TABLE ks.ev (w int, seq int, committed_at timeuuid, PRIMARY KEY (w, seq)) WITH cdc = {'enabled': true}`)
	streams := currentStreams(t, s)
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(streams)), ", ")
	window := `SELECT w, seq, "cdc$time", committed_at FROM ks.ev_scylla_cdc_log WHERE "cdc$stream_id" IN (` + marks + `) AND "cdc$time" > ? AND "cdc$time" <= ?`

	const writers, perWriter = 6, 150
	const insert = `INSERT INTO ks.ev (w, seq, committed_at) VALUES (?, ?, now())`
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g errgroup.Group
	for w := 0; w < writers; w++ {
		// A session per writer: the server serves each connection's
		// requests in order, so only separate connections race the reader.
		ws := connect(t, srv.Addr(), "").Session
		g.Go(func() error {
			for seq := 0; seq < perWriter; seq++ {
				var err error
				if seq%2 == 0 {
					err = ws.Query(insert, w, seq).DefaultTimestamp(false).Exec()
				} else {
					b := ws.Batch(gocql.LoggedBatch).DefaultTimestamp(false)
					b.Query(insert, w, seq)
					b.Query(insert, w+writers, seq)
					err = ws.ExecuteBatch(b)
				}
				if err != nil {
					return fmt.Errorf("writer %d seq %d: %w", w, seq, err)
				}
			}
			return nil
		})
	}
	writersDone := make(chan error, 1)
	go func() { writersDone <- g.Wait(); cancel() }()

	seen := map[logKey]bool{}
	cursor := gocql.MinTimeUUID(time.Now().Add(-time.Minute))
	polls := 0
	for ctx.Err() == nil {
		end := gocql.MinTimeUUID(time.Now())
		args := append(streamArgs(streams), cursor, end)
		for _, r := range scanLog(t, s, window, args...) {
			seen[r.key] = true
		}
		cursor = end
		polls++
	}
	if err := <-writersDone; err != nil {
		t.Fatal(err)
	}

	all := scanLog(t, s, `SELECT w, seq, "cdc$time", committed_at FROM ks.ev_scylla_cdc_log`)
	if want := writers*perWriter + writers*perWriter/2; len(all) != want {
		t.Fatalf("log has %d rows, want %d", len(all), want)
	}
	for _, r := range all {
		if r.committedAt.Timestamp() != r.time.Timestamp() {
			t.Errorf("row %v: now() = %v, cdc$time = %v: different instants", r.key, r.committedAt.Time(), r.time.Time())
		}
	}
	readWindow := `SELECT w, seq, "cdc$time", committed_at FROM ks.ev_scylla_cdc_log WHERE "cdc$stream_id" IN (` + marks + `) AND "cdc$time" <= ?`
	late := 0
	for _, r := range scanLog(t, s, readWindow, append(streamArgs(streams), cursor)...) {
		if !seen[r.key] {
			late++
			t.Errorf("row %v (cdc$time %v) appeared after the log was read past it", r.key, r.time.Time())
		}
	}
	t.Logf("%d polls, %d rows seen by polls, %d late", polls, len(seen), late)
}

// TestServerSideTimestampsUseTheServerClock checks that gocql omits the
// timestamp when DefaultTimestamp(false) is set, so the write carries the
// emulator's clock (an hour behind here), and that with the clock frozen
// consecutive writes still get strictly increasing timestamps.
func TestServerSideTimestampsUseTheServerClock(t *testing.T) {
	clock := &fakeClock{now: time.Now().Add(-time.Hour).Truncate(time.Second)}
	_, s := startEmu(t, scyllaemu.Options{Clock: clock.Now})
	mustExec(t, s, createKS,
		`CREATE TABLE ks.plain (k int PRIMARY KEY, v int)`,
		`CREATE TABLE ks.logged (k int PRIMARY KEY, v int) WITH cdc = {'enabled': true}`)
	server := clock.Now()
	tests := []struct {
		name          string
		clientStamp   bool
		table         string
		near          time.Time // where WRITETIME must lie (within a minute)
		rejectedWrite bool
	}{
		{"client timestamp", true, "ks.plain", time.Now(), false},
		{"server timestamp", false, "ks.plain", server, false},
		{"client timestamp on a CDC table is from the future", true, "ks.logged", time.Time{}, true},
		{"server timestamp on a CDC table", false, "ks.logged", server, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Session.Query(`INSERT INTO `+tc.table+` (k, v) VALUES (?, ?)`, i, i).DefaultTimestamp(tc.clientStamp).Exec()
			if tc.rejectedWrite {
				if err == nil || !strings.Contains(err.Error(), `"from the future"`) {
					t.Fatalf("err = %v, want a write from the future", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var wt int64
			if err := s.Session.Query(`SELECT WRITETIME(v) FROM `+tc.table+` WHERE k = ?`, i).Scan(&wt); err != nil {
				t.Fatal(err)
			}
			if d := time.UnixMicro(wt).Sub(tc.near); d < -time.Minute || d > time.Minute {
				t.Fatalf("WRITETIME %v, want near %v", time.UnixMicro(wt), tc.near)
			}
		})
	}

	var prev int64
	for i := 0; i < 5; i++ {
		k := 100 + i
		if err := s.Session.Query(`INSERT INTO ks.plain (k, v) VALUES (?, ?)`, k, k).DefaultTimestamp(false).Exec(); err != nil {
			t.Fatal(err)
		}
		var wt int64
		if err := s.Session.Query(`SELECT WRITETIME(v) FROM ks.plain WHERE k = ?`, k).Scan(&wt); err != nil {
			t.Fatal(err)
		}
		if wt <= prev || wt < server.UnixMicro() {
			t.Fatalf("write %d stamped %d after %d (frozen clock %d)", i, wt, prev, server.UnixMicro())
		}
		prev = wt
	}
}

// TestServerStampedBatchIsOneMutation checks that a batch without a client
// timestamp writes base rows and log rows with one timestamp, and that now()
// in each of its statements is that instant.
func TestServerStampedBatchIsOneMutation(t *testing.T) {
	_, s := startEmu(t, scyllaemu.Options{})
	mustExec(t, s, createKS, `CREATE TABLE ks.ev (w int, seq int, committed_at timeuuid, PRIMARY KEY (w, seq)) WITH cdc = {'enabled': true}`)
	b := s.Session.Batch(gocql.LoggedBatch).DefaultTimestamp(false)
	for w := 0; w < 4; w++ {
		b.Query(`INSERT INTO ks.ev (w, seq, committed_at) VALUES (?, 0, now())`, w)
	}
	if err := s.Session.ExecuteBatch(b); err != nil {
		t.Fatal(err)
	}
	stamps := map[int64]bool{}
	iter := s.Session.Query(`SELECT WRITETIME(committed_at), committed_at FROM ks.ev`).Iter()
	var wt int64
	var at gocql.UUID
	for iter.Scan(&wt, &at) {
		stamps[wt] = true
		if at.Timestamp() != microsToTicks(wt) {
			t.Errorf("now() %v is not the write's instant %v", at.Time(), time.UnixMicro(wt))
		}
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	rows := scanLog(t, s, `SELECT w, seq, "cdc$time", committed_at FROM ks.ev_scylla_cdc_log`)
	for _, r := range rows {
		stamps[ticksToMicros(r.time.Timestamp())] = true
	}
	if len(rows) != 4 || len(stamps) != 1 {
		t.Fatalf("%d log rows, %d distinct timestamps across base and log; want 4 rows, 1 timestamp", len(rows), len(stamps))
	}
}

type evRow struct {
	key         logKey
	time        gocql.UUID
	committedAt gocql.UUID
}

func scanLog(t testing.TB, s gocqlx.Session, q string, args ...any) []evRow {
	t.Helper()
	var out []evRow
	iter := s.Session.Query(q, args...).Iter()
	var r evRow
	for iter.Scan(&r.key.w, &r.key.seq, &r.time, &r.committedAt) {
		out = append(out, r)
	}
	if err := iter.Close(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// currentStreams lists the streams of the newest CDC generation.
func currentStreams(t testing.TB, s gocqlx.Session) [][]byte {
	t.Helper()
	var gen time.Time
	if err := s.Session.Query(`SELECT time FROM system_distributed.cdc_generation_timestamps WHERE key = 'timestamps' LIMIT 1`).Scan(&gen); err != nil {
		t.Fatal(err)
	}
	return generationStreams(t, s, gen)
}

func generationStreams(t testing.TB, s gocqlx.Session, gen time.Time) [][]byte {
	t.Helper()
	var out [][]byte
	iter := s.Session.Query(`SELECT streams FROM system_distributed.cdc_streams_descriptions_v2 WHERE time = ?`, gen).Iter()
	var vnode [][]byte
	for iter.Scan(&vnode) {
		out = append(out, vnode...)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no streams for generation %v", gen)
	}
	return out
}

func streamArgs(streams [][]byte) []any {
	out := make([]any, len(streams))
	for i, s := range streams {
		out[i] = s
	}
	return out
}

// A timeuuid's timestamp counts 100-ns ticks from 1582-10-15.
const uuidEpochTicks = 0x01B21DD213814000

func microsToTicks(us int64) int64 { return us*10 + uuidEpochTicks }
func ticksToMicros(t int64) int64  { return (t - uuidEpochTicks) / 10 }
