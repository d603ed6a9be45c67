package cdc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

func at(ms int) gocql.UUID { return gocql.MinTimeUUID(time.UnixMilli(int64(1_700_000_000_000 + ms))) }

func TestStreamProgressSavesOnlyTheFinishedPrefix(t *testing.T) {
	var s StreamProgress
	c1 := deliver(t, &s, at(1), 2)
	c2 := deliver(t, &s, at(2), 1)
	steps := []struct {
		name   string
		do     func()
		want   gocql.UUID
		saveOK bool
	}{
		{"nothing finished", func() {}, gocql.UUID{}, false},
		{"later change finished first", func() { s.Finish(c2) }, gocql.UUID{}, false},
		{"first change half finished", func() { s.Finish(c1) }, gocql.UUID{}, false},
		{"first change finished", func() { s.Finish(c1) }, at(2), true},
		{"empty window after it", func() { s.Empty(at(5)) }, at(5), true},
	}
	for _, st := range steps {
		st.do()
		got, ok := s.ToSave()
		if ok != st.saveOK || (ok && got != st.want) {
			t.Fatalf("%s: ToSave = %v, %v; want %v, %v", st.name, got.Time(), ok, st.want.Time(), st.saveOK)
		}
		if ok {
			s.Saved(got)
		}
	}
	if _, ok := s.ToSave(); ok {
		t.Fatal("nothing new to save after Saved")
	}
}

func TestStreamProgressEmptyWindowWaitsForPending(t *testing.T) {
	var s StreamProgress
	c := deliver(t, &s, at(1), 1)
	s.Empty(at(9))
	if _, ok := s.ToSave(); ok {
		t.Fatal("an empty window must not move progress past a pending change")
	}
	s.Finish(c)
	if got, ok := s.ToSave(); !ok || got != at(1) {
		t.Fatalf("ToSave = %v, %v; want the finished change", got.Time(), ok)
	}
}

func deliver(t *testing.T, s *StreamProgress, when gocql.UUID, n int) *PendingChange {
	t.Helper()
	p, fresh := s.Begin(when, n)
	if !fresh {
		t.Fatalf("change at %v is not fresh", when.Time())
	}
	s.Commit(p)
	return p
}

// A reader restarted in the same process reads again from saved progress:
// changes already delivered, finished or not, must not be delivered twice.
func TestStreamProgressSkipsWhatWasDelivered(t *testing.T) {
	var s StreamProgress
	finished := deliver(t, &s, at(1), 1)
	deliver(t, &s, at(2), 1) // still in flight
	s.Finish(finished)
	for _, ms := range []int{1, 2} {
		if _, fresh := s.Begin(at(ms), 1); fresh {
			t.Fatalf("change at %d ms delivered again", ms)
		}
	}
	if _, fresh := s.Begin(at(3), 1); !fresh {
		t.Fatal("a new change must be delivered")
	}
	// A change whose delivery failed halfway was never committed: it is
	// delivered again, whole.
	half, _ := s.Begin(at(4), 2)
	s.Finish(half)
	if _, fresh := s.Begin(at(4), 2); !fresh {
		t.Fatal("an uncommitted change must be delivered again")
	}
}

// holdSink keeps every ack for the test to call.
type holdSink struct{ acks []func() }

func (h *holdSink) Deliver(_ context.Context, _ outbox.Record, ack func()) error {
	h.acks = append(h.acks, ack)
	return nil
}

type nopSaver struct{}

func (nopSaver) MarkProgress(context.Context, scyllacdc.Progress) error { return nil }

// The generation switch waits for the old generation's records, and wakes
// on the last one finishing — not on a later progress save.
func TestGenerationSwitchWaitsForOldRecords(t *testing.T) {
	sink := &holdSink{}
	f := NewConsumerFactory(sink, nil)
	g0, g1 := time.Unix(1000, 0), time.Unix(2000, 0)
	f.GenerationStarted(g0)
	s := f.OpenStream([]byte{1}, nopSaver{})
	rec := outbox.Record{Envelope: domain.Envelope{EventID: uuid.New()}}
	if err := s.Consume(context.Background(), at(1), []outbox.Record{rec, rec}); err != nil {
		t.Fatal(err)
	}
	if f.SwitchReady(g1) {
		t.Fatal("the switch must wait for the old generation's records")
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- f.awaitSwitch(ctx, g1)
	}()
	sink.acks[0]()
	select {
	case err := <-done:
		t.Fatalf("switched with a record unfinished (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	sink.acks[1]()
	if err := <-done; err != nil {
		t.Fatalf("the last record finished, the switch must proceed: %v", err)
	}
}

// failingSaver fails every save while err is set, and records the last
// progress saved.
type failingSaver struct {
	err   error
	saved gocql.UUID
}

func (s *failingSaver) MarkProgress(_ context.Context, p scyllacdc.Progress) error {
	if s.err != nil {
		return s.err
	}
	s.saved = p.LastProcessedRecordTime
	return nil
}

// A progress save that fails inside the library's callbacks is reported to
// the factory's error hook, and Flush returns it to its caller (the periodic
// save and the shutdown, which log it); the next Flush saves what the failed
// one could not.
func TestFlushReportsFailedSaves(t *testing.T) {
	errTimeout := errors.New("write timeout")
	saver := &failingSaver{err: errTimeout}
	var hooked []error
	sink := &holdSink{}
	f := NewConsumerFactory(sink, func(err error) { hooked = append(hooked, err) })
	s := f.OpenStream([]byte{1}, saver)
	if err := s.Consume(context.Background(), at(1), []outbox.Record{{Envelope: domain.Envelope{EventID: uuid.New()}}}); err != nil {
		t.Fatal(err)
	}
	sink.acks[0]()
	if err := f.Flush(context.Background()); !errors.Is(err, errTimeout) {
		t.Fatalf("Flush = %v, want the saver's error", err)
	}
	if err := s.Empty(context.Background(), at(2)); err != nil {
		t.Fatal(err)
	}
	if len(hooked) == 0 || !errors.Is(hooked[0], errTimeout) {
		t.Fatalf("error hook heard %v, want the saver's error", hooked)
	}
	saver.err = nil
	if err := f.Flush(context.Background()); err != nil {
		t.Fatalf("Flush after the saver recovered: %v", err)
	}
	if saver.saved != at(2) {
		t.Fatalf("saved %v, want the empty window's end %v", saver.saved.Time(), at(2).Time())
	}
}
