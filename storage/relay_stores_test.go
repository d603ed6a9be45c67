package storage

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/polling"
)

func TestDeadLetterStoreLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dlq := NewDeadLetterStore(e.s, testKeyspace)
	agg := uuid.New()
	now := time.Now().UTC().Truncate(time.Millisecond)
	mk := func(seq int64, typ, kind string) DeadLetter {
		return DeadLetter{
			Record: outbox.Record{Envelope: domain.Envelope{EventID: uuid.New(), AggregateID: agg, AggregateType: "Order",
				EventType: typ, Sequence: seq, Payload: []byte(`{}`), ContentType: "application/json", OccurredAt: now}},
			Error: "boom", ErrorKind: kind, FailureCount: 3, FirstFailureAt: now, LastFailureAt: now.Add(time.Duration(seq) * time.Second), Processor: "cdc",
		}
	}
	entries := []DeadLetter{mk(2, "OrderUpdated", "held"), mk(1, "OrderCreated", "permanent"), mk(3, "OrderCancelled", "held")}
	for _, d := range entries {
		if err := dlq.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
		if err := dlq.Put(ctx, d); err != nil { // idempotent
			t.Fatal(err)
		}
	}
	if n, err := dlq.Count(ctx); err != nil || n != 3 {
		t.Fatalf("count %d %v", n, err)
	}
	all, err := dlq.List(ctx, DeadLetterFilter{})
	if err != nil || len(all) != 3 || all[0].Sequence != 1 || all[2].Sequence != 3 {
		t.Fatalf("list must be in replay order: %+v %v", all, err)
	}
	tests := []struct {
		name string
		f    DeadLetterFilter
		want int
	}{
		{"by type", DeadLetterFilter{EventType: "OrderUpdated"}, 1},
		{"by kind", DeadLetterFilter{Kind: "held"}, 2},
		{"by aggregate", DeadLetterFilter{AggregateID: agg}, 3},
		{"other aggregate", DeadLetterFilter{AggregateID: uuid.New()}, 0},
		{"since", DeadLetterFilter{Since: now.Add(2 * time.Second)}, 2},
		{"until", DeadLetterFilter{Until: now.Add(2 * time.Second)}, 1},
	}
	for _, tc := range tests {
		got, err := dlq.List(ctx, tc.f)
		if err != nil || len(got) != tc.want {
			t.Errorf("%s: %d entries, want %d (%v)", tc.name, len(got), tc.want, err)
		}
	}
	events, held, err := dlq.Index(ctx)
	if err != nil || len(held) != 1 || held[agg] != 1 || len(events) != 3 {
		t.Fatalf("index %v %v %v: want 3 events, the aggregate held from its lowest dead-lettered sequence, 1", events, held, err)
	}
	if err := dlq.SetReplayCount(ctx, all[0].EventID, 2); err != nil {
		t.Fatal(err)
	}
	got, err := dlq.Get(ctx, all[0].EventID)
	if err != nil || got.ReplayCount != 2 || got.ErrorKind != "permanent" || string(got.Payload) != "{}" {
		t.Fatalf("get %+v %v", got, err)
	}
	for _, d := range all {
		if err := dlq.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dlq.Get(ctx, all[0].EventID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if _, held, _ := dlq.Index(ctx); len(held) != 0 {
		t.Fatalf("index rows left: %v", held)
	}
}

func TestPollingStoreScanCursorAndFinished(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.store()
	start := time.Now().Add(-time.Second)
	var ids []uuid.UUID
	for i := 0; i < 5; i++ {
		o, created := newOrder(t)
		if err := st.Save(ctx, o, created); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, created.EventID())
	}
	ps := NewPollingStore(e.s, testKeyspace)
	var got []outbox.Record
	if err := ps.Scan(ctx, start, time.Now().Add(time.Second), func(r outbox.Record) bool {
		got = append(got, r)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("scanned %d events, want 5", len(got))
	}
	for i, r := range got {
		if r.EventID != ids[i] || r.CommittedAt.IsZero() || r.Sequence != 1 {
			t.Fatalf("event %d: %+v, want id %s in commit order", i, r, ids[i])
		}
	}
	var stopped int
	if err := ps.Scan(ctx, start, time.Now().Add(time.Second), func(outbox.Record) bool { stopped++; return stopped < 2 }); err != nil {
		t.Fatal(err)
	}
	if stopped != 2 {
		t.Fatalf("scan must stop when fn says so, visited %d", stopped)
	}
	// Keys re-reads [after, before): before is exclusive, since the full
	// read that follows starts there.
	for _, c := range []struct {
		name  string
		stop  int // fn returns false at this key; 0: never
		want  int
		after time.Time
	}{{"all before the fourth", 0, 3, start}, {"stopped at the second", 2, 2, start}, {"from the second", 0, 2, got[1].CommittedAt}} {
		var keys []uuid.UUID
		err := ps.Keys(ctx, c.after, got[3].CommittedAt, func(committed time.Time, id uuid.UUID) bool {
			if want := got[indexOf(got, c.after)+len(keys)]; committed != want.CommittedAt || id != want.EventID {
				t.Errorf("%s: key %d is %v %s, want %v %s", c.name, len(keys), committed, id, want.CommittedAt, want.EventID)
			}
			keys = append(keys, id)
			return len(keys) != c.stop
		})
		if err != nil || len(keys) != c.want {
			t.Fatalf("%s: %d keys, %v; want %d", c.name, len(keys), err, c.want)
		}
	}

	if _, ok, err := ps.Cursor(ctx, "relay-a"); ok || err != nil {
		t.Fatalf("fresh cursor: ok=%v err=%v", ok, err)
	}
	at := got[2].CommittedAt
	if err := ps.SaveCursor(ctx, "relay-a", at); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := ps.Cursor(ctx, "relay-a"); !ok || err != nil || c.UnixMilli() != at.UnixMilli() {
		t.Fatalf("cursor %v ok=%v err=%v, want %v", c, ok, err, at)
	}

	if err := ps.MarkFinished(ctx, "relay-a", ids[0]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want int
	}{{"relay-a", 1}, {"relay-b", 0}} {
		fin, err := ps.Finished(ctx, c.name, ids)
		if err != nil || len(fin) != c.want || (c.want == 1 && !fin[ids[0]]) {
			t.Fatalf("%s: finished %v %v, want %d", c.name, fin, err, c.want)
		}
	}
}

// A minute recorded by one relay name is found for it only, under an id no
// event has; so is the record that it keeps minutes.
func TestPollingStoreMarkedMinutes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ps := NewPollingStore(e.s, testKeyspace)
	recorded, other := polling.Minute(29_000_000), polling.Minute(29_000_001)
	if err := ps.MarkMinutes(ctx, "relay-a", []polling.Minute{recorded}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want map[polling.Minute]bool
	}{{"relay-a", map[polling.Minute]bool{recorded: true}}, {"relay-b", map[polling.Minute]bool{}}} {
		got, err := ps.MarkedMinutes(ctx, c.name, []polling.Minute{recorded, other})
		if err != nil || !maps.Equal(got, c.want) {
			t.Fatalf("%s: marked minutes %v %v, want %v", c.name, got, err, c.want)
		}
	}
	for _, c := range []struct {
		name string
		keep bool
	}{{"relay-a", true}, {"relay-b", false}} {
		if c.keep {
			if err := ps.KeepMinutes(ctx, c.name); err != nil {
				t.Fatal(err)
			}
		}
		if kept, err := ps.MinutesKept(ctx, c.name); err != nil || kept != c.keep {
			t.Fatalf("%s: minutes kept %v %v, want %v", c.name, kept, err, c.keep)
		}
	}
	if v := minuteID(recorded).Version(); v != 5 || minuteID(recorded) == minuteID(other) {
		t.Fatalf("a minute's id has version %d, want 5 (event ids are v4 or v7), and one per minute", v)
	}
}

// indexOf is the index of the first record committed at or after at.
func indexOf(recs []outbox.Record, at time.Time) int {
	for i, r := range recs {
		if !r.CommittedAt.Before(at) {
			return i
		}
	}
	return len(recs)
}

// A writer picks the bucket from its clock before the server stamps
// committed_at: a row may sit in the bucket before its committed_at's
// minute, and Scan must find it there.
func TestPollingStoreScanFindsRowsInTheBucketBefore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	at := time.Now().Truncate(time.Minute).Add(2 * time.Second)
	id := uuid.New()
	if err := e.s.Query(`INSERT INTO `+testKeyspace+`.outbox_by_bucket (bucket, committed_at, event_id, aggregate_id, sequence, aggregate_type, event_type, payload) VALUES (?, ?, ?, ?, 1, 'Order', 'OrderCreated', 0x7b7d)`, nil).
		Bind(BucketOf(at)-1, gocql.MinTimeUUID(at), id, uuid.New()).ExecRelease(); err != nil {
		t.Fatal(err)
	}
	ps := NewPollingStore(e.s, testKeyspace)
	var found []uuid.UUID
	if err := ps.Scan(ctx, at.Add(-time.Second), at.Add(time.Second), func(r outbox.Record) bool { found = append(found, r.EventID); return true }); err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0] != id {
		t.Fatalf("found %v, want the row in the bucket before", found)
	}
}

// A writer clock ahead of the server's files a row in the bucket after its
// committed_at's minute; Scan and Keys must find it there.
func TestPollingStoreScanFindsRowsInTheBucketAfter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	at := time.Now().Truncate(time.Minute).Add(58 * time.Second)
	id := uuid.New()
	if err := e.s.Query(`INSERT INTO `+testKeyspace+`.outbox_by_bucket (bucket, committed_at, event_id, aggregate_id, sequence, aggregate_type, event_type, payload) VALUES (?, ?, ?, ?, 1, 'Order', 'OrderCreated', 0x7b7d)`, nil).
		Bind(BucketOf(at)+1, gocql.MinTimeUUID(at), id, uuid.New()).ExecRelease(); err != nil {
		t.Fatal(err)
	}
	ps := NewPollingStore(e.s, testKeyspace)
	var scanned, keys []uuid.UUID
	if err := ps.Scan(ctx, at.Add(-time.Second), at.Add(time.Second), func(r outbox.Record) bool { scanned = append(scanned, r.EventID); return true }); err != nil {
		t.Fatal(err)
	}
	if err := ps.Keys(ctx, at.Add(-time.Second), at.Add(time.Second), func(_ time.Time, id uuid.UUID) bool { keys = append(keys, id); return true }); err != nil {
		t.Fatal(err)
	}
	if len(scanned) != 1 || scanned[0] != id || len(keys) != 1 || keys[0] != id {
		t.Fatalf("Scan found %v, Keys %v; want the row in the bucket after", scanned, keys)
	}
}
