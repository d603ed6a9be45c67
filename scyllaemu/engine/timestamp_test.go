package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// A write without a client timestamp is stamped with the server clock, but
// never at or before the time of a read already served: a reader that read
// up to its own time must not find a later write behind it. With the clock
// standing still, the stamp moves one microsecond past the read.
func TestWriteAfterReadIsStampedAfterIt(t *testing.T) {
	tests := []struct {
		name      string
		readFirst bool
		wantAfter time.Duration // stamp relative to the clock
	}{
		{"no read in between", false, 0},
		{"read at the same clock reading", true, time.Microsecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1700000000, 0).UTC()}
			e := newEngine(t, clock)
			// Past every stamp handed out while the schema was created.
			now := clock.Now().Add(time.Second)
			clock.Set(now)
			if tc.readFirst {
				query(t, e, `SELECT * FROM ks.t`)
			}
			query(t, e, `INSERT INTO ks.t (k, v) VALUES (1, 1)`)
			got := query(t, e, `SELECT WRITETIME(v) FROM ks.t WHERE k = 1`)
			ts := i64(got[0][0])
			if want := now.Add(tc.wantAfter).UnixMicro(); ts != want {
				t.Fatalf("stamped %d, want %d", ts, want)
			}
			log := query(t, e, `SELECT "cdc$time" FROM ks.t_scylla_cdc_log`)
			if len(log) != 1 || types.TimeUUIDMicros(log[0][0]) != ts {
				t.Fatalf("log %x, want one row at %d", log, ts)
			}
		})
	}
}

// now() and currentTimestamp() in a write are the write's own instant.
func TestNowIsTheWriteInstant(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1700000000, 0).UTC()}
	e := newEngine(t, clock)
	query(t, e, `CREATE TABLE ks.n (k int PRIMARY KEY, at timeuuid, ms timestamp)`)
	clock.Set(clock.Now().Add(time.Second))
	for k := 0; k < 3; k++ {
		query(t, e, fmt.Sprintf(`INSERT INTO ks.n (k, at, ms) VALUES (%d, now(), currentTimestamp())`, k))
	}
	for _, r := range query(t, e, `SELECT WRITETIME(at), at, ms FROM ks.n`) {
		ts := i64(r[0])
		if types.TimeUUIDMicros(r[1]) != ts || i64(r[2]) != ts/1000 {
			t.Errorf("write at %d: now() at %d, currentTimestamp() %d", ts, types.TimeUUIDMicros(r[1]), i64(r[2]))
		}
	}
}
