package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
)

// fakeSaveError is a failed Save; maybeApplied tells a timeout (the batch
// may have been applied) from a refusal (it was not).
type fakeSaveError struct{ maybeApplied bool }

func (e *fakeSaveError) Error() string {
	if e.maybeApplied {
		return "fake: save timed out"
	}
	return "fake: save refused"
}

var (
	errSaveTimeout = &fakeSaveError{maybeApplied: true}
	errSaveRefused = &fakeSaveError{maybeApplied: false}
)

// saveFault is what happens to one Save of an ambiguousStore.
type saveFault int

const (
	saveOK          saveFault = iota
	saveAppliedLost           // applied, but reported as timed out
	saveLandsLater            // reported as timed out, applied by landLate
	saveLost                  // reported as timed out, never applied
	saveRefused               // refused, not applied
)

// ambiguousStore is a fakeStore whose Saves fail as scripted. It models a
// database that stamps a write when it receives it (a write that lands
// late keeps its stamp, so it cannot overwrite a newer order row) and
// keeps every event write it applies, as the CDC log and outbox_by_bucket
// do: f.saved lists every landing, so two events with one sequence show.
type ambiguousStore struct {
	*fakeStore

	mu     sync.Mutex
	faults []saveFault
	stamp  int64
	late   []stampedSave
	// rowStamp is the stamp of each stored order row; guarded by
	// fakeStore.mu like the rows.
	rowStamp map[uuid.UUID]int64
}

type stampedSave struct {
	stamp  int64
	state  domain.OrderState
	events []domain.DomainEvent
}

func newAmbiguousStore(faults ...saveFault) *ambiguousStore {
	return &ambiguousStore{fakeStore: newFakeStore(), faults: faults, rowStamp: map[uuid.UUID]int64{}}
}

// use makes the order actor run on s and classify its errors.
func (s *ambiguousStore) use(c *OrderConfig) {
	c.Store = s
	c.SaveMaybeApplied = func(err error) bool {
		var e *fakeSaveError
		return errors.As(err, &e) && e.maybeApplied
	}
}

func (s *ambiguousStore) Save(_ context.Context, o *domain.Order, events ...domain.DomainEvent) error {
	s.mu.Lock()
	s.stamp++
	w := stampedSave{stamp: s.stamp, state: o.State(), events: slices.Clone(events)}
	fault := saveOK
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	if fault == saveLandsLater {
		s.late = append(s.late, w)
	}
	s.mu.Unlock()
	switch fault {
	case saveAppliedLost:
		s.apply(w)
		return errSaveTimeout
	case saveLandsLater, saveLost:
		return errSaveTimeout
	case saveRefused:
		return errSaveRefused
	}
	s.apply(w)
	return nil
}

func (s *ambiguousStore) apply(w stampedSave) {
	s.read(func(f *fakeStore) {
		id := w.state.ID
		if w.stamp > s.rowStamp[id] {
			f.orders[id], s.rowStamp[id] = w.state, w.stamp
		}
		for _, e := range w.events {
			f.saved[id] = append(f.saved[id], savedEvent{version: e.Sequence(), quantity: w.state.Items[0].Quantity, event: e})
		}
	})
}

// landLate applies the writes that were reported as timed out.
func (s *ambiguousStore) landLate() {
	s.mu.Lock()
	late := s.late
	s.late = nil
	s.mu.Unlock()
	for _, w := range late {
		s.apply(w)
	}
}

// eventsBySequence returns the distinct event ids stored for each sequence
// of order id, failing the test when one sequence has two.
func (s *ambiguousStore) eventsBySequence(t *testing.T, id uuid.UUID) map[int64]uuid.UUID {
	t.Helper()
	got := map[int64]uuid.UUID{}
	s.read(func(f *fakeStore) {
		for _, e := range f.saved[id] {
			seq, eid := e.event.Sequence(), e.event.EventID()
			if prev, ok := got[seq]; ok && prev != eid {
				t.Errorf("sequence %d stored with two event ids: %s and %s", seq, prev, eid)
			}
			got[seq] = eid
		}
	})
	return got
}

// A save that may have been applied is settled before anything else is
// written: read back, and if it did not land, re-sent identically. No
// sequence ever gets a second event id, whatever becomes of the first
// attempt.
func TestAmbiguousSaveIsSettledBeforeTheNextWrite(t *testing.T) {
	tests := []struct {
		name   string
		faults []saveFault // of the saves after the create
		// landLateAfter lands the late writes after this many updates.
		landLateAfter int
		// wantAmbiguous: the first update answers *SaveAmbiguousError
		// (otherwise it succeeds, settled within the command).
		wantAmbiguous bool
		wantRefused   bool
		wantSaves     int // landings, counting the create
	}{
		{name: "applied, then reported as timed out", faults: []saveFault{saveAppliedLost},
			landLateAfter: 2, wantSaves: 3},
		{name: "lands after its re-send and a later save", faults: []saveFault{saveLandsLater},
			landLateAfter: 2, wantSaves: 4},
		{name: "lost twice, settled by the next command", faults: []saveFault{saveLost, saveLost},
			landLateAfter: 2, wantAmbiguous: true, wantSaves: 3},
		{name: "lands while unresolved, found by the next command", faults: []saveFault{saveLandsLater, saveLost},
			landLateAfter: 1, wantAmbiguous: true, wantSaves: 3},
		{name: "refused: nothing to settle", faults: []saveFault{saveRefused},
			landLateAfter: 2, wantRefused: true, wantSaves: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := newTestSystem(t)
			store := newAmbiguousStore()
			pid := spawnOrders(t, sys, store.fakeStore, store.use)
			id := mustCreate(t, sys, pid)
			store.mu.Lock()
			store.faults = tc.faults
			store.mu.Unlock()

			first, err := ask(t, sys, pid, &UpdateOrder{OrderID: id, Items: items(2)})
			var ambiguous *SaveAmbiguousError
			switch {
			case tc.wantAmbiguous:
				if !errors.As(err, &ambiguous) || !errors.Is(err, ErrSaveAmbiguous) || !errors.Is(err, errSaveTimeout) ||
					ambiguous.OrderID != id || ambiguous.Version != 2 || ambiguous.EventID == uuid.Nil {
					t.Errorf("first update: %v, want a *SaveAmbiguousError of version 2", err)
				}
			case tc.wantRefused:
				if !errors.Is(err, errSaveRefused) || errors.Is(err, ErrSaveAmbiguous) {
					t.Errorf("first update: %v, want the refusal", err)
				}
			default:
				if err != nil || first.Order.Version != 2 || first.Event.Sequence() != 2 {
					t.Errorf("first update: %v; want version 2, settled", err)
				}
			}
			if tc.landLateAfter == 1 {
				store.landLate()
			}
			second, err := ask(t, sys, pid, &UpdateOrder{OrderID: id, Items: items(3)})
			wantVersion := int64(3)
			if tc.wantRefused {
				wantVersion = 2 // built on the stored state, not on the refused change
			}
			if err != nil {
				t.Fatalf("second update: %v", err)
			}
			if second.Order.Version != wantVersion || second.Order.Items[0].Quantity != 3 {
				t.Errorf("second update: %+v; want version %d", second.Order, wantVersion)
			}
			store.landLate()

			events := store.eventsBySequence(t, id)
			if len(events) != int(wantVersion) {
				t.Errorf("sequences stored: %v, want 1..%d", events, wantVersion)
			}
			switch {
			case ambiguous != nil && events[2] != ambiguous.EventID:
				t.Errorf("version 2 stored as event %s, the ambiguous answer named %s", events[2], ambiguous.EventID)
			case first != nil && first.Event != nil && events[2] != first.Event.EventID():
				t.Errorf("version 2 stored as event %s, the answer named %s", events[2], first.Event.EventID())
			}
			store.read(func(f *fakeStore) {
				if len(f.saved[id]) != tc.wantSaves {
					t.Errorf("%d event writes landed, want %d", len(f.saved[id]), tc.wantSaves)
				}
				if got := f.orders[id]; got.Version != wantVersion || got.Items[0].Quantity != 3 {
					t.Errorf("stored order version %d quantity %d, want version %d quantity 3", got.Version, got.Items[0].Quantity, wantVersion)
				}
			})
		})
	}
}

// GetOrder settles a save of unknown outcome before it answers, so its
// Version tells the caller whether the ambiguous change took: whether the
// first attempt landed late or never did (then GetOrder re-sends it), the
// answer is version 2 and the stored event is the one the ambiguous
// answer named.
func TestGetOrderSettlesAnAmbiguousSave(t *testing.T) {
	for _, landed := range []bool{false, true} {
		t.Run(fmt.Sprintf("landed=%t", landed), func(t *testing.T) {
			sys, _ := newTestSystem(t)
			store := newAmbiguousStore()
			pid := spawnOrders(t, sys, store.fakeStore, store.use)
			id := mustCreate(t, sys, pid)
			store.mu.Lock()
			store.faults = []saveFault{saveLandsLater, saveLost}
			store.mu.Unlock()
			_, err := ask(t, sys, pid, &UpdateOrder{OrderID: id, Items: items(2)})
			var ambiguous *SaveAmbiguousError
			if !errors.As(err, &ambiguous) {
				t.Fatalf("update: %v, want a *SaveAmbiguousError", err)
			}
			if landed {
				store.landLate()
			}
			got, err := ask(t, sys, pid, &GetOrder{OrderID: id})
			if err != nil || got.Order.Version != 2 {
				t.Fatalf("GetOrder: %+v, %v; want version 2, the ambiguous save settled", got, err)
			}
			store.landLate()
			if events := store.eventsBySequence(t, id); len(events) != 2 || events[2] != ambiguous.EventID {
				t.Errorf("events by sequence %v, want version 2 as event %s", events, ambiguous.EventID)
			}
		})
	}
}

// A child left with a save it could not settle keeps trying on its renewal
// ticks, and does not go idle before it has settled it: a successor loading
// the order while the save may still land could build a second event for
// its version.
func TestUnsettledSaveIsSettledByTheChildItself(t *testing.T) {
	sys, _ := newTestSystem(t)
	store := newAmbiguousStore()
	pid := spawnOrders(t, sys, store.fakeStore, func(c *OrderConfig) {
		store.use(c)
		c.LeaseTTL = 600 * time.Millisecond // renewal ticks every 200 ms
		c.StorageTimeout = 100 * time.Millisecond
		c.IdleTimeout = 50 * time.Millisecond
	})
	id := mustCreate(t, sys, pid)
	store.mu.Lock()
	store.faults = []saveFault{saveLost, saveLost}
	store.mu.Unlock()

	_, err := ask(t, sys, pid, &UpdateOrder{OrderID: id, Items: items(2)})
	var ambiguous *SaveAmbiguousError
	if !errors.As(err, &ambiguous) {
		t.Fatalf("update: %v, want a *SaveAmbiguousError", err)
	}
	waitFor(t, "the child to settle the save", func() bool { return len(store.eventsBySequence(t, id)) == 2 })
	if got := store.eventsBySequence(t, id)[2]; got != ambiguous.EventID {
		t.Errorf("version 2 stored as event %s, the answer named %s", got, ambiguous.EventID)
	}
	// Settled, the child goes idle and lets go of the lease.
	waitFor(t, "the idle child to release its lease", func() bool { return store.count(releases, id) == 1 })
}

// A child stopped with a save it could not settle does not release its
// lease: the lease expires on its own, giving the save time to land or
// lapse before another writer loads the order.
func TestChildStoppedWithAnUnsettledSaveKeepsItsLease(t *testing.T) {
	sys, _ := newTestSystem(t)
	store := newAmbiguousStore()
	pid := spawnOrders(t, sys, store.fakeStore, store.use)
	id := mustCreate(t, sys, pid)
	store.mu.Lock()
	store.faults = []saveFault{saveLost, saveLost}
	store.mu.Unlock()
	if _, err := ask(t, sys, pid, &UpdateOrder{OrderID: id, Items: items(2)}); !errors.Is(err, ErrSaveAmbiguous) {
		t.Fatalf("update: %v, want ErrSaveAmbiguous", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sys.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	store.read(func(f *fakeStore) {
		if f.releases[id] != 0 || f.leases[id] != "test-process" {
			t.Errorf("releases %d, holder %q; want the lease left to expire", f.releases[id], f.leases[id])
		}
	})
}
