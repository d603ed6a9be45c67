package relay

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

var (
	errDown     = errors.New("broker down")
	errRejected = errors.New("rejected, retriable")
	errTooLarge = errors.New("message too large")
)

// classify is the test's error classification: errDown is Unavailable,
// errRejected Rejected, errTooLarge Permanent.
func classify(err error) Class {
	switch {
	case errors.Is(err, errTooLarge):
		return Permanent
	case errors.Is(err, errRejected):
		return Rejected
	}
	return Unavailable
}

// harness records effects and plays the owner's role.
type harness struct {
	t         *testing.T
	now       time.Time
	p         *Pipeline
	published []uuid.UUID // Publish calls, in order
	retries   map[uuid.UUID]time.Duration
	probes    []time.Duration
	dlq       map[uuid.UUID]Failure
	finished  map[uuid.UUID]int
}

func (h *harness) Publish(rec outbox.Record) { h.published = append(h.published, rec.EventID) }
func (h *harness) ScheduleRetry(id uuid.UUID, after time.Duration) {
	h.retries[id] = after
}
func (h *harness) ScheduleProbe(after time.Duration)       { h.probes = append(h.probes, after) }
func (h *harness) DeadLetter(rec outbox.Record, f Failure) { h.dlq[rec.EventID] = f }
func (h *harness) Finished(rec outbox.Record, _ bool)      { h.finished[rec.EventID]++ }

func newHarness(t *testing.T, policy Policy) *harness {
	h := &harness{t: t, now: time.Unix(1000, 0), retries: map[uuid.UUID]time.Duration{}, dlq: map[uuid.UUID]Failure{}, finished: map[uuid.UUID]int{}}
	h.p = New(Config{
		Retry:    resilience.RetryPolicy{MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2},
		Breaker:  resilience.BreakerConfig{FailureThreshold: 3, OpenTimeout: 10 * time.Second, HalfOpenProbes: 2},
		Policy:   policy,
		Classify: classify,
	}, h, nil, func() time.Time { return h.now }, rand.New(rand.NewPCG(1, 2)))
	h.p.DLQLoaded(DeadLetters{}, h.p.DLQLoadStarted())
	return h
}

func rec(agg uuid.UUID, seq int64) outbox.Record {
	return outbox.Record{Envelope: domain.Envelope{EventID: uuid.New(), AggregateID: agg, Sequence: seq, EventType: "OrderUpdated",
		AggregateType: "Order", Payload: []byte(`{}`)}}
}

// take returns and forgets the Publish calls so far, oldest first.
func (h *harness) take() []uuid.UUID {
	out := h.published
	h.published = nil
	return out
}

func TestOneEventPerAggregateInFlight(t *testing.T) {
	h := newHarness(t, Continue)
	a, b := uuid.New(), uuid.New()
	a1, a2, b1 := rec(a, 1), rec(a, 2), rec(b, 1)
	for _, r := range []outbox.Record{a1, a2, b1} {
		h.p.Offer(r)
	}
	if got := h.take(); len(got) != 2 || got[0] != a1.EventID || got[1] != b1.EventID {
		t.Fatalf("first wave must be a1 and b1, got %v", got)
	}
	h.p.OnPublished(a1.EventID, nil)
	if got := h.take(); len(got) != 1 || got[0] != a2.EventID {
		t.Fatalf("a2 must follow a1's ack, got %v", got)
	}
	h.p.OnPublished(a2.EventID, nil)
	h.p.OnPublished(b1.EventID, nil)
	if h.p.InFlight() != 0 || h.finished[a1.EventID] != 1 || h.finished[a2.EventID] != 1 {
		t.Fatalf("in flight %d, finished %v", h.p.InFlight(), h.finished)
	}
}

func TestTransientFailureIsRetriedAfterBackoff(t *testing.T) {
	h := newHarness(t, Continue)
	r := rec(uuid.New(), 1)
	h.p.Offer(r)
	h.take()
	h.p.OnPublished(r.EventID, errDown)
	if d := h.retries[r.EventID]; d != 100*time.Millisecond {
		t.Fatalf("first retry after %s, want 100ms", d)
	}
	if len(h.take()) != 0 {
		t.Fatal("a retry must wait for its timer")
	}
	h.p.OnRetryDue(r.EventID)
	if got := h.take(); len(got) != 1 {
		t.Fatalf("retry due: %v", got)
	}
	h.p.OnPublished(r.EventID, nil)
	if h.finished[r.EventID] != 1 || len(h.dlq) != 0 {
		t.Fatal("retried event must publish, not dead-letter")
	}
}

func TestPoisonEventWhileBrokerHealthy(t *testing.T) {
	for _, policy := range []Policy{Continue, Hold} {
		t.Run(policy.String(), func(t *testing.T) {
			h := newHarness(t, policy)
			poisonAgg, other := uuid.New(), uuid.New()
			bad, after := rec(poisonAgg, 1), rec(poisonAgg, 2)
			h.p.Offer(bad)
			h.p.Offer(after)
			for attempt := 1; attempt <= 3; attempt++ {
				// Another aggregate is acknowledged while each attempt is
				// outstanding: the broker works, this event does not.
				ok := rec(other, int64(attempt))
				h.p.Offer(ok)
				h.take()
				h.p.OnPublished(ok.EventID, nil)
				h.p.OnPublished(bad.EventID, errRejected)
				h.p.OnRetryDue(bad.EventID)
			}
			f, ok := h.dlq[bad.EventID]
			if !ok || f.Kind != KindExhausted || f.Attempts != 3 {
				t.Fatalf("exhausted event must be dead-lettered after 3 attempts, got %+v (ok=%v)", f, ok)
			}
			if h.finished[bad.EventID] != 0 {
				t.Fatal("an event finishes only once its DLQ entry is written")
			}
			h.p.OnDeadLettered(bad.EventID)
			switch policy {
			case Continue:
				if got := h.take(); len(got) != 1 || got[0] != after.EventID {
					t.Fatalf("continue: the next event publishes, got %v", got)
				}
			case Hold:
				if f := h.dlq[after.EventID]; f.Kind != KindHeld {
					t.Fatalf("hold: the next event goes to the DLQ as held, got %+v", f)
				}
			}
		})
	}
}

func TestPermanentErrorGoesStraightToTheDLQ(t *testing.T) {
	h := newHarness(t, Continue)
	r := rec(uuid.New(), 1)
	h.p.Offer(r)
	h.take()
	h.p.OnPublished(r.EventID, errTooLarge)
	if f := h.dlq[r.EventID]; f.Kind != KindPermanent || !errors.Is(f.Err, errTooLarge) {
		t.Fatalf("permanent: %+v", f)
	}
	if h.p.Breaker() != resilience.Closed || len(h.retries) != 0 {
		t.Fatal("a permanent error must neither retry nor count against the broker")
	}
}

// A broker outage of any length ends with every event published and none
// dead-lettered.
func TestBrokerOutageOfAnyLength(t *testing.T) {
	h := newHarness(t, Continue)
	var recs []outbox.Record
	for i := 0; i < 6; i++ {
		r := rec(uuid.New(), 1)
		recs = append(recs, r)
		h.p.Offer(r)
	}
	for _, id := range h.take() {
		h.p.OnPublished(id, errDown)
	}
	if h.p.Breaker() != resilience.Open || len(h.probes) != 1 {
		t.Fatalf("3 consecutive failures must open the breaker and arm a probe (state %v, probes %v)", h.p.Breaker(), h.probes)
	}
	// The outage lasts many probe periods: every probe fails.
	for cycle := 0; cycle < 50; cycle++ {
		h.now = h.now.Add(10 * time.Second)
		h.p.OnProbeDue()
		probes := h.take()
		if len(probes) == 0 || len(probes) > 2 {
			t.Fatalf("cycle %d: half-open must let 1..2 probes through, got %d", cycle, len(probes))
		}
		for _, id := range probes {
			h.p.OnPublished(id, errDown)
		}
		for _, id := range h.take() {
			h.p.OnPublished(id, errDown)
		}
	}
	if len(h.dlq) != 0 {
		t.Fatalf("%d events dead-lettered during an outage", len(h.dlq))
	}
	// The broker comes back.
	h.now = h.now.Add(10 * time.Second)
	h.p.OnProbeDue()
	for i := 0; i < 10 && h.p.InFlight() > 0; i++ {
		for _, id := range h.take() {
			h.p.OnPublished(id, nil)
		}
		for id := range h.retries {
			delete(h.retries, id)
			h.p.OnRetryDue(id)
		}
	}
	if h.p.InFlight() != 0 || h.p.Breaker() != resilience.Closed || len(h.dlq) != 0 {
		t.Fatalf("after recovery: in flight %d, breaker %v, dlq %d", h.p.InFlight(), h.p.Breaker(), len(h.dlq))
	}
	for _, r := range recs {
		if h.finished[r.EventID] != 1 {
			t.Fatalf("event %s finished %d times", r.EventID, h.finished[r.EventID])
		}
	}
}

func TestDuplicateOfferPublishesOnceAndFinishesEach(t *testing.T) {
	h := newHarness(t, Continue)
	r := rec(uuid.New(), 1)
	h.p.Offer(r)
	h.p.Offer(r)
	if got := h.take(); len(got) != 1 {
		t.Fatalf("published %d times", len(got))
	}
	h.p.OnPublished(r.EventID, nil)
	if h.finished[r.EventID] != 2 {
		t.Fatalf("each offer is owed a Finished, got %d", h.finished[r.EventID])
	}
}

func TestRecoverRepublishesWhatWasInFlight(t *testing.T) {
	h := newHarness(t, Continue)
	r1, r2 := rec(uuid.New(), 1), rec(uuid.New(), 1)
	h.p.Offer(r1)
	h.p.Offer(r2)
	h.take()
	h.p.OnPublished(r2.EventID, errTooLarge) // r2 is now waiting for its DLQ write
	h.dlq = map[uuid.UUID]Failure{}
	h.p.Recover()
	if got := h.take(); len(got) != 1 || got[0] != r1.EventID {
		t.Fatalf("recover must republish r1, got %v", got)
	}
	if f, ok := h.dlq[r2.EventID]; !ok || f.Kind != KindPermanent {
		t.Fatalf("recover must re-request r2's DLQ write with its kind, got %+v", f)
	}
}

// The ready line keeps its order through pushes, pops, pushes to the
// front and the compaction a push may do.
func TestReadyLine(t *testing.T) {
	type op struct {
		kind string // "push", "front" or "pop"
		n    int    // the entry pushed, or the one a pop must return
	}
	tests := []struct {
		name string
		ops  []op
		rest []int // what pops return at the end, in order
	}{
		{"first in, first out", []op{{"push", 1}, {"push", 2}, {"pop", 1}, {"push", 3}}, []int{2, 3}},
		{"front on an empty line", []op{{"front", 1}, {"push", 2}}, []int{1, 2}},
		{"front after pops reuses the room", []op{{"push", 1}, {"push", 2}, {"pop", 1}, {"front", 1}}, []int{1, 2}},
		{"front with no room before the head", []op{{"push", 1}, {"push", 2}, {"front", 3}}, []int{3, 1, 2}},
		{"emptied and refilled", []op{{"push", 1}, {"pop", 1}, {"push", 2}, {"pop", 2}, {"push", 3}}, []int{3}},
		{"a push into a full array compacts it", []op{
			{"push", 1}, {"push", 2}, {"push", 3}, {"push", 4}, {"pop", 1}, {"pop", 2},
			{"push", 5}, {"push", 6}, {"push", 7}, {"push", 8}, {"pop", 3},
		}, []int{4, 5, 6, 7, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := map[int]*entry{}
			get := func(n int) *entry {
				if entries[n] == nil {
					entries[n] = &entry{seq: uint64(n)}
				}
				return entries[n]
			}
			var q readyLine
			for i, o := range tt.ops {
				switch o.kind {
				case "push":
					q.push(get(o.n))
				case "front":
					q.pushFront(get(o.n))
				case "pop":
					if got := q.pop(); got != get(o.n) {
						t.Fatalf("op %d: popped %d, want %d", i, got.seq, o.n)
					}
				}
			}
			var rest []int
			for q.len() > 0 {
				rest = append(rest, int(q.pop().seq))
			}
			if fmt.Sprint(rest) != fmt.Sprint(tt.rest) {
				t.Fatalf("left %v, want %v", rest, tt.rest)
			}
		})
	}
}
