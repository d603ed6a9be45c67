package polling

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

var t0 = time.Unix(1_700_000_000, 0)

func rec(agg uuid.UUID, seq int64, committed time.Duration) outbox.Record {
	return outbox.Record{Envelope: domain.Envelope{EventID: uuid.New(), AggregateID: agg, Sequence: seq}, CommittedAt: t0.Add(committed)}
}

// take runs one poll that scans recs, with room for limit records.
func take(c *Cursor, recs []outbox.Record, finished map[uuid.UUID]bool, until time.Time) []outbox.Record {
	sel := c.Next(1000, until, t0, 0)
	for _, r := range recs {
		if !sel.Add(r) {
			break
		}
	}
	return c.Take(sel, finished)
}

func TestCursorNeverPassesAnUnfinishedEvent(t *testing.T) {
	c := NewCursor(t0)
	a, b := uuid.New(), uuid.New()
	a1, b1, a2 := rec(a, 1, time.Second), rec(b, 1, 2*time.Second), rec(a, 2, 3*time.Second)
	taken := take(c, []outbox.Record{a1, b1, a2}, nil, t0.Add(5*time.Second))
	if len(taken) != 3 {
		t.Fatalf("took %d records", len(taken))
	}
	steps := []struct {
		finish outbox.Record
		want   time.Time
	}{
		{b1, t0.Add(time.Second)},     // a1 still holds the cursor
		{a1, t0.Add(3 * time.Second)}, // a2 is next
		{a2, t0.Add(5 * time.Second)}, // nothing pending: the poll's end
	}
	if c.Position() != t0.Add(time.Second) {
		t.Fatalf("cursor at %v before anything finished", c.Position())
	}
	for _, s := range steps {
		c.Finished(s.finish)
		if !c.Position().Equal(s.want) {
			t.Fatalf("after finishing seq %d of %s: cursor %v, want %v", s.finish.Sequence, s.finish.AggregateID, c.Position(), s.want)
		}
	}
	if got := len(c.TakeMarks()); got != 3 {
		t.Fatalf("%d marks, want 3", got)
	}
}

func TestCursorTakesEachEventOnceInSequenceOrder(t *testing.T) {
	c := NewCursor(t0)
	a := uuid.New()
	// The writer's clock stepped back: sequence 2 committed before 1.
	a2, a1 := rec(a, 2, time.Second), rec(a, 1, 2*time.Second)
	taken := take(c, []outbox.Record{a2, a1}, nil, t0.Add(3*time.Second))
	if taken[0].Sequence != 1 || taken[1].Sequence != 2 {
		t.Fatalf("order %d, %d", taken[0].Sequence, taken[1].Sequence)
	}
	// A re-read of the same window takes nothing: both are in flight.
	if again := take(c, []outbox.Record{a2, a1}, nil, t0.Add(4*time.Second)); len(again) != 0 {
		t.Fatalf("re-read took %d records", len(again))
	}
	if known := c.Known(); !known[a1.EventID] || !known[a2.EventID] {
		t.Fatal("in-flight events must be known to the next scan")
	}
}

func TestCursorRemembersWhatAPreviousRunFinished(t *testing.T) {
	c := NewCursor(t0)
	r := rec(uuid.New(), 1, time.Second)
	if taken := take(c, []outbox.Record{r}, map[uuid.UUID]bool{r.EventID: true}, t0.Add(2*time.Second)); len(taken) != 0 {
		t.Fatal("an event a previous run finished must not be offered")
	}
	if !c.Known()[r.EventID] {
		t.Fatal("it must be remembered for the next re-read")
	}
	c.Forget(t0.Add(time.Second + time.Nanosecond))
	if c.Known()[r.EventID] || c.Remembered() != 0 {
		t.Fatal("Forget must drop events committed before the horizon")
	}
}

// The per-poll limit never splits one batch: its rows share a commit time
// and may be consecutive events of one aggregate, so taking the later
// alone would publish it first.
func TestSelectionKeepsABatchWhole(t *testing.T) {
	c := NewCursor(t0)
	agg := uuid.New()
	e2, e1 := rec(agg, 2, time.Second), rec(agg, 1, time.Second) // one batch, clustered by event id
	next := rec(uuid.New(), 1, 2*time.Second)
	sel := c.Next(1, t0.Add(3*time.Second), t0, 0)
	for _, r := range []outbox.Record{e2, e1, next} {
		if !sel.Add(r) {
			break
		}
	}
	if len(sel.Records) != 2 || !sel.Until.Equal(next.CommittedAt) {
		t.Fatalf("took %d records up to %v, want the whole batch and to stop at the next one", len(sel.Records), sel.Until)
	}
	if got := c.Take(sel, nil); got[0].Sequence != 1 || got[1].Sequence != 2 {
		t.Fatalf("order %d, %d", got[0].Sequence, got[1].Sequence)
	}
}

// A record that finished while a poll ran (taken meanwhile by another poll,
// after a restart of the actor) is not offered again.
func TestTakeSkipsWhatFinishedDuringThePoll(t *testing.T) {
	c := NewCursor(t0)
	r := rec(uuid.New(), 1, time.Second)
	late := c.Next(10, t0.Add(2*time.Second), t0, 0) // started before r was taken
	late.Add(r)
	if got := take(c, []outbox.Record{r}, nil, t0.Add(2*time.Second)); len(got) != 1 {
		t.Fatal("the other poll takes r")
	}
	c.Finished(r)
	if got := c.Take(late, nil); len(got) != 0 {
		t.Fatal("r finished while the late poll ran: it must not be offered again")
	}
}

// table is outbox_by_bucket in memory: rows in commit order, each visible
// from its own time on.
type table []tableRow

type tableRow struct {
	rec     outbox.Record
	visible time.Time
}

// poll runs one poll started with Next at now, reading tbl as the
// PollingProcessorActor reads the database, and takes its selection.
func (tbl table) poll(c *Cursor, limit int, now time.Time, window time.Duration) (*Selection, []outbox.Record) {
	sel := c.Next(limit, now, t0, window)
	for _, r := range tbl {
		c := r.rec.CommittedAt
		if !c.Before(sel.From) && c.Before(sel.Seen) && !r.visible.After(now) && !sel.Reread(c, r.rec.EventID) {
			break
		}
	}
	for _, r := range tbl {
		c := r.rec.CommittedAt
		if !c.Before(sel.ReadFrom) && !c.After(sel.Until) && !r.visible.After(now) && !sel.Add(r.rec) {
			break
		}
	}
	return sel, c.Take(sel, nil)
}

// TestNextReadsFromWhereRowsMayStillBeUnread: a poll reads from the safety
// window behind the cursor, or later where an earlier poll has seen every
// row that can exist; rows an earlier poll read are re-read by key only.
func TestNextReadsFromWhereRowsMayStillBeUnread(t *testing.T) {
	const window = 2 * time.Second
	at := t0.Add
	// Ten rows, one every 100 ms from t0+1s.
	var tbl table
	for i := range 10 {
		r := rec(uuid.New(), 1, time.Second+time.Duration(i)*100*time.Millisecond)
		tbl = append(tbl, tableRow{rec: r, visible: r.CommittedAt})
	}
	cases := []struct {
		name string
		now  time.Time // of both polls
		// limit of the first poll
		limit                 int
		wantFrom, wantSeen    time.Time // of the second poll
		wantTaken, wantTaken2 int
	}{
		{
			// A backlog older than the window: the second poll starts where
			// the first stopped and re-reads nothing.
			name: "backlog", now: at(time.Minute), limit: 4,
			wantFrom: at(1400 * time.Millisecond), wantSeen: at(1400 * time.Millisecond), wantTaken: 4, wantTaken2: 6,
		},
		{
			// Keeping up: rows younger than the window may still appear, so
			// the second poll re-reads the window behind the first poll's
			// start, by key.
			name: "keeping up", now: at(2500 * time.Millisecond), limit: 100,
			wantFrom: at(500 * time.Millisecond), wantSeen: at(2500 * time.Millisecond), wantTaken: 10, wantTaken2: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCursor(t0)
			if first := c.Next(tc.limit, tc.now, t0, window); !first.From.Equal(t0.Add(-window)) {
				t.Fatalf("first poll from %v, want the window behind the cursor", first.From.Sub(t0))
			}
			_, taken := tbl.poll(c, tc.limit, tc.now, window)
			if len(taken) != tc.wantTaken {
				t.Fatalf("first poll took %d, want %d", len(taken), tc.wantTaken)
			}
			sel, taken2 := tbl.poll(c, 100, tc.now, window)
			if !sel.From.Equal(tc.wantFrom) || !sel.Seen.Equal(tc.wantSeen) {
				t.Fatalf("second poll from %v, seen %v; want %v, %v", sel.From.Sub(t0), sel.Seen.Sub(t0), tc.wantFrom.Sub(t0), tc.wantSeen.Sub(t0))
			}
			if !sel.ReadFrom.Equal(sel.Seen) {
				t.Fatalf("second poll reads in full from %v: every re-read row is known", sel.ReadFrom.Sub(t0))
			}
			if len(taken2) != tc.wantTaken2 {
				t.Fatalf("second poll took %d, want %d", len(taken2), tc.wantTaken2)
			}
		})
	}
}

// TestRereadFindsALateBatch: a row that became visible after the poll that
// covered its commit time is found by the next poll's key re-read, which
// then reads it in full.
func TestRereadFindsALateBatch(t *testing.T) {
	const window = 2 * time.Second
	early := rec(uuid.New(), 1, time.Second)
	late := rec(uuid.New(), 1, 1500*time.Millisecond)
	tbl := table{{early, early.CommittedAt}, {late, t0.Add(3 * time.Second)}} // late by 1.5 s < window
	c := NewCursor(t0)
	if _, taken := tbl.poll(c, 100, t0.Add(2*time.Second), window); len(taken) != 1 || taken[0].EventID != early.EventID {
		t.Fatalf("first poll took %d records, want the early one", len(taken))
	}
	sel, taken := tbl.poll(c, 100, t0.Add(3*time.Second), window)
	if !sel.ReadFrom.Equal(late.CommittedAt) {
		t.Fatalf("full read from %v, want the late row's commit time", sel.ReadFrom.Sub(t0))
	}
	if len(taken) != 1 || taken[0].EventID != late.EventID {
		t.Fatalf("second poll took %d records, want the late one", len(taken))
	}
}

// TestNextTakesEveryRowOnceInOrder drives polls over rows that become
// visible late (within the window, never before their aggregate's previous
// row), with small limits and events finishing in any order: every row is
// taken exactly once, each aggregate's in sequence order, and the cursor
// never stands more than the window ahead of a row not yet taken.
func TestNextTakesEveryRowOnceInOrder(t *testing.T) {
	const window = 500 * time.Millisecond
	for seed := range uint64(40) {
		t.Run("", func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 7))
			aggs := make([]uuid.UUID, 5)
			for i := range aggs {
				aggs[i] = uuid.New()
			}
			seq := map[uuid.UUID]int64{}
			lastVisible := map[uuid.UUID]time.Time{}
			var tbl table
			for i := range 300 {
				agg := aggs[rnd.IntN(len(aggs))]
				seq[agg]++
				r := rec(agg, seq[agg], time.Duration(i)*10*time.Millisecond)
				visible := r.CommittedAt
				if rnd.IntN(5) == 0 {
					visible = visible.Add(time.Duration(rnd.Int64N(int64(window))))
				}
				if visible.Before(lastVisible[agg]) {
					visible = lastVisible[agg]
				}
				lastVisible[agg] = visible
				tbl = append(tbl, tableRow{r, visible})
			}
			c := NewCursor(t0)
			taken := map[uuid.UUID]int{}
			lastTaken := map[uuid.UUID]int64{}
			var pending []outbox.Record
			for now := t0; now.Before(t0.Add(5 * time.Second)); now = now.Add(time.Duration(5+rnd.IntN(60)) * time.Millisecond) {
				_, recs := tbl.poll(c, 1+rnd.IntN(40), now, window)
				for _, r := range recs {
					taken[r.EventID]++
					if r.Sequence <= lastTaken[r.AggregateID] {
						t.Fatalf("aggregate %s: seq %d taken after %d", r.AggregateID, r.Sequence, lastTaken[r.AggregateID])
					}
					lastTaken[r.AggregateID] = r.Sequence
				}
				pending = append(pending, recs...)
				rnd.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
				n := rnd.IntN(len(pending) + 1)
				for _, r := range pending[:n] {
					c.Finished(r)
				}
				pending = pending[n:]
				for _, r := range tbl {
					if taken[r.rec.EventID] == 0 && r.rec.CommittedAt.Before(c.Position().Add(-window)) {
						t.Fatalf("cursor %v passed the window behind row %v, not taken", c.Position().Sub(t0), r.rec.CommittedAt.Sub(t0))
					}
				}
			}
			for _, r := range tbl {
				if taken[r.rec.EventID] != 1 {
					t.Fatalf("row %v (visible %v) taken %d times", r.rec.CommittedAt.Sub(t0), r.visible.Sub(t0), taken[r.rec.EventID])
				}
			}
		})
	}
}

func TestMinuteOf(t *testing.T) {
	for _, c := range []struct {
		at   time.Time
		want Minute
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(59, 999_999_999), 0},
		{time.Unix(60, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-60, 0), -1},
		{time.Unix(-61, 0), -2},
		{time.Unix(1_700_000_000, 0).In(time.FixedZone("X", 5400)), 1_700_000_000 / 60},
	} {
		if got := MinuteOf(c.at); got != c.want {
			t.Errorf("MinuteOf(%v) = %d, want %d", c.at, got, c.want)
		}
	}
}

// Events finished in a minute are marked only after the minute is
// recorded; a minute recorded once is not recorded again, one whose
// recording failed is.
func TestUnannouncedMinutesPrecedeTheirMarks(t *testing.T) {
	c := NewCursor(t0)
	m0, m1 := rec(uuid.New(), 1, time.Second), rec(uuid.New(), 1, time.Minute+time.Second)
	taken := take(c, []outbox.Record{m0, m1}, nil, t0.Add(2*time.Minute))
	for _, r := range taken {
		c.Finished(r)
	}
	steps := []struct {
		name      string
		announced []Minute // reported recorded before the step's Unannounced
		want      []Minute
	}{
		{"both finished", nil, []Minute{MinuteOf(m0.CommittedAt), MinuteOf(m1.CommittedAt)}},
		{"asked again before any was recorded", nil, []Minute{MinuteOf(m0.CommittedAt), MinuteOf(m1.CommittedAt)}},
		{"the first recorded", []Minute{MinuteOf(m0.CommittedAt)}, []Minute{MinuteOf(m1.CommittedAt)}},
		{"all recorded", []Minute{MinuteOf(m1.CommittedAt)}, []Minute{}},
	}
	for _, s := range steps {
		c.Announced(s.announced)
		got := c.Unannounced()
		slices.Sort(got)
		if !slices.Equal(got, s.want) {
			t.Fatalf("%s: unannounced %v, want %v", s.name, got, s.want)
		}
	}
	// A later event of a recorded minute needs no new record.
	again := rec(uuid.New(), 2, 2*time.Second)
	for _, r := range take(c, []outbox.Record{again}, nil, t0.Add(3*time.Minute)) {
		c.Finished(r)
	}
	if got := c.Unannounced(); len(got) != 0 {
		t.Fatalf("unannounced %v after finishing an event of a recorded minute", got)
	}
}

// The minute of an event a previous run finished is recorded too: the
// previous run may be a version that did not record minutes.
func TestTakeRecordsTheMinutesOfAPreviousRunsMarks(t *testing.T) {
	c := NewCursor(t0)
	prev, fresh := rec(uuid.New(), 1, time.Second), rec(uuid.New(), 1, time.Minute+time.Second)
	taken := take(c, []outbox.Record{prev, fresh}, map[uuid.UUID]bool{prev.EventID: true}, t0.Add(2*time.Minute))
	if len(taken) != 1 || taken[0].EventID != fresh.EventID {
		t.Fatalf("took %d records, want the fresh one", len(taken))
	}
	if got, want := c.Unannounced(), []Minute{MinuteOf(prev.CommittedAt)}; !slices.Equal(got, want) {
		t.Fatalf("unannounced %v, want %v", got, want)
	}
	if marks := c.TakeMarks(); len(marks) != 0 {
		t.Fatalf("%d marks: the previous run's event is marked already", len(marks))
	}
}

// Rows a previous run may have finished are checked against the finished
// set only in minutes holding marks; what a lookup found is remembered.
func TestCheckOnlyMinutesHoldingMarks(t *testing.T) {
	const window = time.Second
	started := t0.Add(10 * time.Minute) // every row below is committed before it
	marked, unmarked := rec(uuid.New(), 1, 10*time.Second), rec(uuid.New(), 1, time.Minute+10*time.Second)
	fresh := rec(uuid.New(), 1, 11*time.Minute)
	later, laterUnmarked := rec(uuid.New(), 1, 20*time.Second), rec(uuid.New(), 1, time.Minute+20*time.Second)
	cases := []struct {
		name        string
		rows        []outbox.Record
		marked      map[Minute]bool // what the minute lookup finds
		wantUnknown []Minute
		wantCheck   []uuid.UUID
	}{
		{
			name: "first poll: both minutes looked up, one holds marks", rows: []outbox.Record{marked, unmarked, fresh},
			marked:      map[Minute]bool{MinuteOf(marked.CommittedAt): true},
			wantUnknown: []Minute{MinuteOf(marked.CommittedAt), MinuteOf(unmarked.CommittedAt)},
			wantCheck:   []uuid.UUID{marked.EventID},
		},
		{
			name: "later poll of the same minutes: nothing looked up again", rows: []outbox.Record{later, laterUnmarked},
			wantUnknown: nil,
			wantCheck:   []uuid.UUID{later.EventID},
		},
	}
	c := NewCursor(t0.Add(-window))
	for _, tc := range cases {
		sel := c.Next(100, t0.Add(12*time.Minute), started, window)
		for _, r := range tc.rows {
			sel.Add(r)
		}
		if got := sel.UnknownMinutes(); !slices.Equal(got, tc.wantUnknown) {
			t.Fatalf("%s: unknown minutes %v, want %v", tc.name, got, tc.wantUnknown)
		}
		if got := sel.Check(tc.marked); !slices.Equal(got, tc.wantCheck) {
			t.Fatalf("%s: check %v, want %v", tc.name, got, tc.wantCheck)
		}
		c.Take(sel, nil)
	}
}

// Events finished out of commit order are forgotten, and known to a poll,
// by their commit time.
func TestForgetAndKnownGoByCommitTime(t *testing.T) {
	c := NewCursor(t0)
	var recs []outbox.Record
	for i := range 6 {
		recs = append(recs, rec(uuid.New(), 1, time.Duration(i+1)*time.Second))
	}
	taken := take(c, recs, nil, t0.Add(10*time.Second))
	for _, i := range []int{3, 0, 5, 1, 4} { // recs[2] stays in flight
		c.Finished(taken[i])
	}
	c.Finished(taken[3]) // reported twice
	cases := []struct {
		horizon    time.Duration // Forget before t0 + horizon
		from       time.Duration // a poll reading from t0 + from
		wantRecent int
		wantKnown  []int // indexes into recs; recs[2] is in flight
	}{
		{0, 0, 5, []int{0, 1, 2, 3, 4, 5}},
		{2500 * time.Millisecond, 3 * time.Second, 3, []int{2, 3, 4, 5}},
		{2500 * time.Millisecond, 4 * time.Second, 3, []int{3, 4, 5}},
		{5 * time.Second, 6 * time.Second, 2, []int{5}},
		{time.Minute, 0, 0, []int{2}},
	}
	for _, tc := range cases {
		c.Forget(t0.Add(tc.horizon))
		if c.Remembered() != tc.wantRecent {
			t.Fatalf("after Forget(%v): %d remembered, want %d", tc.horizon, c.Remembered(), tc.wantRecent)
		}
		known := c.knownSince(t0.Add(tc.from))
		want := map[uuid.UUID]bool{}
		for _, i := range tc.wantKnown {
			want[recs[i].EventID] = true
		}
		if !maps.Equal(known, want) {
			t.Fatalf("known from %v: %d events, want %d", tc.from, len(known), len(want))
		}
	}
}
