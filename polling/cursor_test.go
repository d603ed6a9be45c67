package polling

import (
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
	sel := c.Select(1000, until, t0)
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
	sel := c.Select(1, t0.Add(3*time.Second), t0)
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
	late := c.Select(10, t0.Add(2*time.Second), t0) // started before r was taken
	late.Add(r)
	if got := take(c, []outbox.Record{r}, nil, t0.Add(2*time.Second)); len(got) != 1 {
		t.Fatal("the other poll takes r")
	}
	c.Finished(r)
	if got := c.Take(late, nil); len(got) != 0 {
		t.Fatal("r finished while the late poll ran: it must not be offered again")
	}
}
