package cdc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"

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
	if !s.Fresh(when) {
		t.Fatalf("change at %v is not fresh", when.Time())
	}
	p := &PendingChange{Time: when, left: n}
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
		if s.Fresh(at(ms)) {
			t.Fatalf("change at %d ms delivered again", ms)
		}
	}
	if !s.Fresh(at(3)) {
		t.Fatal("a new change must be delivered")
	}
	// A change whose delivery failed halfway was never committed: it is
	// delivered again, whole.
	if !s.Fresh(at(4)) {
		t.Fatal("a new change must be delivered")
	}
	s.Finish(&PendingChange{Time: at(4), left: 2})
	if !s.Fresh(at(4)) {
		t.Fatal("an uncommitted change must be delivered again")
	}
}

// holdSink keeps every ack for the test to call.
type holdSink struct{ acks []func() }

func (h *holdSink) Deliver(_ context.Context, _ outbox.Record, ack func()) error {
	h.acks = append(h.acks, ack)
	return nil
}

// memStore is a ProgressStore in memory; while err is set every save
// fails with it.
type memStore struct {
	err     error
	streams map[string]gocql.UUID // by generation and stream
	saves   int
}

func (m *memStore) key(gen time.Time, stream []byte) string {
	return fmt.Sprintf("%d/%x", gen.UnixNano(), stream)
}

func (m *memStore) SaveStreams(_ context.Context, positions []StreamPosition) error {
	if m.err != nil {
		return m.err
	}
	if m.streams == nil {
		m.streams = map[string]gocql.UUID{}
	}
	m.saves++
	for _, p := range positions {
		m.streams[m.key(p.Generation, p.Stream)] = p.At
	}
	return nil
}

func (m *memStore) StreamProgress(_ context.Context, gen time.Time, stream []byte) (gocql.UUID, error) {
	return m.streams[m.key(gen, stream)], nil
}
func (m *memStore) CurrentGeneration(context.Context) (time.Time, error) { return time.Time{}, nil }
func (m *memStore) StartGeneration(context.Context, time.Time) error     { return m.err }
func (m *memStore) ReadStartTime(context.Context) (time.Time, error)     { return time.Time{}, nil }
func (m *memStore) SaveReadStartTime(context.Context, time.Time) error   { return m.err }

// The generation switch waits for the old generation's records, and wakes
// on the last one finishing — not on a later progress save.
func TestGenerationSwitchWaitsForOldRecords(t *testing.T) {
	sink := &holdSink{}
	f := NewConsumerFactory(sink, &memStore{})
	g0, g1 := time.Unix(1000, 0), time.Unix(2000, 0)
	f.GenerationStarted(g0)
	s := f.OpenStream([]byte{1})
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

// Flush saves every stream with progress over finished records in one
// call to the store, and only those; a failed save reaches Flush's caller
// (the periodic save, the drain, which report it) and the next Flush saves
// what it could not.
func TestFlushSavesFinishedProgressInOneCall(t *testing.T) {
	errTimeout := errors.New("write timeout")
	store := &memStore{err: errTimeout}
	sink := &holdSink{}
	f := NewConsumerFactory(sink, store)
	gen := time.Unix(1000, 0)
	f.GenerationStarted(gen)
	a, b, c := f.OpenStream([]byte{1}), f.OpenStream([]byte{2}), f.OpenStream([]byte{3})
	rec := outbox.Record{Envelope: domain.Envelope{EventID: uuid.New()}}
	for _, s := range []*Stream{a, b} {
		if err := s.Consume(context.Background(), at(1), []outbox.Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	sink.acks[0]() // a's record; b's stays in flight
	if err := c.Empty(context.Background(), at(2)); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(context.Background()); !errors.Is(err, errTimeout) {
		t.Fatalf("Flush = %v, want the store's error", err)
	}
	store.err = nil
	if err := f.Flush(context.Background()); err != nil {
		t.Fatalf("Flush after the store recovered: %v", err)
	}
	want := map[string]gocql.UUID{store.key(gen, []byte{1}): at(1), store.key(gen, []byte{3}): at(2)}
	if store.saves != 1 || !reflect.DeepEqual(store.streams, want) {
		t.Fatalf("saved %v in %d calls; want %v in one", store.streams, store.saves, want)
	}
	if err := f.Flush(context.Background()); err != nil || store.saves != 1 {
		t.Fatalf("a Flush with nothing new saved again (%d calls, %v)", store.saves, err)
	}
	sink.acks[1]()
	if err := f.Flush(context.Background()); err != nil || store.streams[store.key(gen, []byte{2})] != at(1) {
		t.Fatalf("b's progress after its record finished: %v (%v)", store.streams, err)
	}
}
