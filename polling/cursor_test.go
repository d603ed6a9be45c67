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

func TestCursorNeverPassesAnUnfinishedEvent(t *testing.T) {
	c := NewCursor(t0)
	a, b := uuid.New(), uuid.New()
	a1, b1, a2 := rec(a, 1, time.Second), rec(b, 1, 2*time.Second), rec(a, 2, 3*time.Second)
	taken := c.Take([]outbox.Record{a1, b1, a2}, nil, t0.Add(5*time.Second))
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
	taken := c.Take([]outbox.Record{a2, a1}, nil, t0.Add(3*time.Second))
	if taken[0].Sequence != 1 || taken[1].Sequence != 2 {
		t.Fatalf("order %d, %d", taken[0].Sequence, taken[1].Sequence)
	}
	// A re-read of the same window takes nothing: both are in flight.
	if again := c.Take([]outbox.Record{a2, a1}, nil, t0.Add(4*time.Second)); len(again) != 0 {
		t.Fatalf("re-read took %d records", len(again))
	}
	if known := c.Known(); !known[a1.EventID] || !known[a2.EventID] {
		t.Fatal("in-flight events must be known to the next scan")
	}
}

func TestCursorRemembersWhatAPreviousRunFinished(t *testing.T) {
	c := NewCursor(t0)
	r := rec(uuid.New(), 1, time.Second)
	if taken := c.Take([]outbox.Record{r}, map[uuid.UUID]bool{r.EventID: true}, t0.Add(2*time.Second)); len(taken) != 0 {
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
