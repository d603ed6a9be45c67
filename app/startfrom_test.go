package app

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A relay name's first start reads back only so far: cdc.change_age_limit
// (1 min) for CDC, one minute for polling. Events committed earlier are not
// read unless start_from reaches them: the README's fourth way to miss
// events. The test writes two events per order two minutes in the past
// (database and writer clocks both), starts the relay for the first time
// and gives each order one more event. That one must arrive; the old ones
// only with start_from, and then in order.
func TestRelayFirstStartReadsBack(t *testing.T) {
	for _, proc := range processors {
		for _, withStartFrom := range []bool{false, true} {
			name := proc + "/default"
			if withStartFrom {
				name = proc + "/start_from"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var behind atomic.Int64 // how far the clocks run behind, ns
				clock := func() time.Time { return time.Now().Add(-time.Duration(behind.Load())) }
				behind.Store(int64(2 * time.Minute))
				s := newClockedStack(t, clock, clock)
				o := s.newOrders(t, 3)
				o.update(t)
				old := s.eventIDs()
				behind.Store(0)

				cfg := relayConfig(proc)
				if withStartFrom {
					from := time.Now().Add(-3 * time.Minute)
					cfg.CDC.StartFrom, cfg.Polling.StartFrom = from, from
				}
				r := s.consumeThroughRelay(t, cfg)
				o.update(t)
				if withStartFrom {
					s.waitAll(t, r, 30*time.Second)
					return
				}
				fresh := s.eventIDs()
				for id := range old {
					delete(fresh, id)
				}
				deadline := time.Now().Add(30 * time.Second)
				for r.count(fresh) < len(fresh) {
					if time.Now().After(deadline) {
						t.Fatalf("%d of %d events written after the start arrived", r.count(fresh), len(fresh))
					}
					time.Sleep(50 * time.Millisecond)
				}
				// Each order's new event shares its stream (CDC) or comes
				// after it in commit order (polling): an old event read now
				// would have been read first.
				if n := r.count(old); n != 0 {
					t.Fatalf("%d of %d events committed before change_age_limit arrived, want none without start_from", n, len(old))
				}
			})
		}
	}
}

// eventIDs returns the ids of the events committed so far.
func (s *stack) eventIDs() map[uuid.UUID]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make(map[uuid.UUID]bool, len(s.committed))
	for id := range s.committed {
		ids[id] = true
	}
	return ids
}

// count returns how many of ids arrived.
func (r *received) count(ids map[uuid.UUID]bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id := range ids {
		if r.ids[id] > 0 {
			n++
		}
	}
	return n
}
