package relay

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// recorder is an Observer that keeps the re-publish reports.
type recorder struct {
	republished map[uuid.UUID][]string
}

func (r *recorder) Published(outbox.Record, int)                  {}
func (r *recorder) PublishFailed(outbox.Record, int, error, bool) {}
func (r *recorder) Retrying(outbox.Record, int, time.Duration)    {}
func (r *recorder) DeadLettered(outbox.Record, Failure)           {}
func (r *recorder) BreakerChanged(_, _ resilience.BreakerState)   {}
func (r *recorder) Duplicate(outbox.Record)                       {}
func (r *recorder) Republished(rec outbox.Record, reason string) {
	r.republished[rec.EventID] = append(r.republished[rec.EventID], reason)
}

// newPipeline replaces h's pipeline; it has loaded an empty dead-letter
// index unless unloaded.
func newPipeline(h *harness, retry resilience.RetryPolicy, breaker resilience.BreakerConfig, policy Policy, obs Observer, unloaded ...bool) {
	h.p = New(Config{Retry: retry, Breaker: breaker, Policy: policy, Classify: classify,
		Ambiguous: func(err error) bool { return errors.Is(err, errAmbiguous) }},
		h, obs, func() time.Time { return h.now }, rand.New(rand.NewPCG(3, 4)))
	if len(unloaded) == 0 {
		h.p.DLQLoaded(DeadLetters{}, h.p.DLQLoadStarted())
	}
}

var errAmbiguous = errors.New("timed out after the request was sent")

// drive plays the broker and the owner's timers until nothing is in flight
// or rounds run out: each round answers every publish with outcome, then
// lets every timer fire.
func drive(h *harness, rounds int, outcome func(id uuid.UUID) error) {
	for i := 0; i < rounds && h.p.InFlight() > 0; i++ {
		for _, id := range h.take() {
			h.p.OnPublished(id, outcome(id))
		}
		h.now = h.now.Add(time.Minute) // past any backoff and open timeout
		retries := h.retries
		h.retries = map[uuid.UUID]time.Duration{}
		for id := range retries {
			h.p.OnRetryDue(id)
		}
		if len(h.probes) > 0 {
			h.probes = nil
			h.p.OnProbeDue()
		}
	}
}

// A broker outage of any length, with 1, 2 or 1,000 events in flight and
// any retry preset and breaker setting, ends with every event published and
// nothing dead-lettered. The lone event is the case the friendly tests
// missed: with the breaker never opening, its attempts used to be counted.
func TestOutageNeverDeadLetters(t *testing.T) {
	custom := resilience.RetryPolicy{MaxAttempts: 1, InitialBackoff: time.Millisecond, MaxBackoff: time.Second, Multiplier: 2}
	presets := map[string]resilience.RetryPolicy{"custom-1-attempt": custom, "default": resilience.DefaultRetry(),
		"aggressive": resilience.AggressiveRetry(), "conservative": resilience.ConservativeRetry()}
	breakers := map[string]resilience.BreakerConfig{
		"opens-at-once": {FailureThreshold: 1, OpenTimeout: time.Second, HalfOpenProbes: 1},
		"default":       resilience.DefaultBreaker(),
		"never-opens":   {FailureThreshold: 1_000_000, OpenTimeout: time.Second, HalfOpenProbes: 1},
	}
	for pname, retry := range presets {
		for bname, breaker := range breakers {
			for _, n := range []int{1, 2, 1000} {
				t.Run(pname+"/"+bname+"/"+itoa(n), func(t *testing.T) {
					h := newHarness(t, Continue)
					newPipeline(h, retry, breaker, Continue, nil)
					var recs []outbox.Record
					for i := 0; i < n; i++ {
						r := rec(uuid.New(), 1)
						recs = append(recs, r)
						h.p.Offer(r)
					}
					drive(h, 200, func(uuid.UUID) error { return errDown }) // the outage
					if len(h.dlq) != 0 {
						t.Fatalf("%d of %d events dead-lettered during an outage", len(h.dlq), n)
					}
					drive(h, 200, func(uuid.UUID) error { return nil }) // the broker is back
					for _, r := range recs {
						if h.finished[r.EventID] != 1 {
							t.Fatalf("event finished %d times, want once (in flight %d)", h.finished[r.EventID], h.p.InFlight())
						}
					}
				})
			}
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// A retriable rejection counts toward the DLQ only while the broker
// acknowledges other events during the attempt.
func TestRejectionCountsOnlyWhileOthersAreAcknowledged(t *testing.T) {
	h := newHarness(t, Continue)
	bad := rec(uuid.New(), 1)
	h.p.Offer(bad)
	drive(h, 50, func(uuid.UUID) error { return errRejected })
	if len(h.dlq) != 0 {
		t.Fatal("a lone rejected event with nothing else acknowledged must keep retrying")
	}
	// Now another aggregate is acknowledged while each attempt is out.
	for i := 0; len(h.dlq) == 0 && i < 10; i++ {
		h.p.OnRetryDue(bad.EventID)
		ok := rec(uuid.New(), 1)
		h.p.Offer(ok)
		h.take()
		h.p.OnPublished(ok.EventID, nil)
		h.p.OnPublished(bad.EventID, errRejected)
	}
	if f, ok := h.dlq[bad.EventID]; !ok || f.Kind != KindExhausted || f.Attempts != 3 {
		t.Fatalf("want exhausted after 3 counted attempts, got %+v (ok %v)", f, ok)
	}
}

// Nothing is published before the dead-letter index is loaded: under the
// hold policy an event of a held aggregate must never slip out first.
func TestNothingIsPublishedUntilTheDLQIsKnown(t *testing.T) {
	h := newHarness(t, Hold)
	newPipeline(h, h.p.cfg.Retry, h.p.cfg.Breaker, Hold, nil, true)
	held, free := uuid.New(), uuid.New()
	a, b := rec(held, 5), rec(free, 1) // the held aggregate's sequence 3 is in the DLQ
	h.p.Offer(a)
	h.p.Offer(b)
	if got := h.take(); len(got) != 0 {
		t.Fatalf("published %d events before the dead-letter index was loaded", len(got))
	}
	h.p.DLQLoaded(DeadLetters{From: map[uuid.UUID]int64{held: 3}}, h.p.DLQLoadStarted())
	if got := h.take(); len(got) != 1 || got[0] != b.EventID {
		t.Fatalf("after the load only the free aggregate publishes, got %v", got)
	}
	if f := h.dlq[a.EventID]; f.Kind != KindHeld {
		t.Fatalf("the held aggregate's event must go to the DLQ as held, got %+v", f)
	}
}

// A load of the held set that started before a dead-letter write became
// durable may not see it; it must not release that hold. A load started
// afterwards that does not see it means it was replayed or discarded.
func TestHeldLoadNeverForgetsAHoldItCouldNotSee(t *testing.T) {
	h := newHarness(t, Hold)
	agg := uuid.New()
	poison := rec(agg, 1)
	h.p.Offer(poison)
	h.take()
	h.p.OnPublished(poison.EventID, errTooLarge)
	before := h.p.DLQLoadStarted() // a refresh starts while the write is in flight
	h.p.OnDeadLettered(poison.EventID)
	h.p.DLQLoaded(DeadLetters{}, before) // ... and did not see the entry
	next := rec(agg, 2)
	h.p.Offer(next)
	if got := h.take(); len(got) != 0 {
		t.Fatal("a stale load released the hold: the next event was published")
	}
	if f := h.dlq[next.EventID]; f.Kind != KindHeld {
		t.Fatalf("want the next event held, got %+v", f)
	}
	h.p.OnDeadLettered(next.EventID)
	after := h.p.DLQLoadStarted()
	h.p.DLQLoaded(DeadLetters{}, after) // both entries were replayed or discarded
	last := rec(agg, 3)
	h.p.Offer(last)
	if got := h.take(); len(got) != 1 || got[0] != last.EventID {
		t.Fatalf("a load started after the writes releases the aggregate, got %v", got)
	}
}

// A malformed record goes to the DLQ in its aggregate's turn; one without
// an aggregate blocks nothing.
func TestMalformedRecordsAreDeadLetteredInTurn(t *testing.T) {
	h := newHarness(t, Continue)
	agg := uuid.New()
	first, bad, after := rec(agg, 1), rec(agg, 2), rec(agg, 3)
	bad.Malformed = &outbox.Malformed{Reason: "column event_type missing", Raw: map[string]string{"sequence": "2"}}
	invalid := rec(uuid.Nil, 1) // no aggregate: a row the source could read but not validate
	for _, r := range []outbox.Record{first, bad, after, invalid} {
		h.p.Offer(r)
	}
	if f := h.dlq[invalid.EventID]; f.Kind != KindMalformed {
		t.Fatalf("a record without an aggregate is dead-lettered at once, got %+v", f)
	}
	if _, early := h.dlq[bad.EventID]; early {
		t.Fatal("the malformed record jumped ahead of the aggregate's first event")
	}
	if got := h.take(); len(got) != 1 || got[0] != first.EventID {
		t.Fatalf("published %v", got)
	}
	h.p.OnPublished(first.EventID, nil)
	if f := h.dlq[bad.EventID]; f.Kind != KindMalformed {
		t.Fatalf("want the malformed record dead-lettered next, got %+v", f)
	}
	h.p.OnDeadLettered(bad.EventID)
	if got := h.take(); len(got) != 1 || got[0] != after.EventID {
		t.Fatalf("continue policy: the next event publishes, got %v", got)
	}
}

// Every publish that may duplicate a record already in the broker is
// reported, with its reason.
func TestRepublishesAreReported(t *testing.T) {
	h := newHarness(t, Continue)
	obs := &recorder{republished: map[uuid.UUID][]string{}}
	newPipeline(h, h.p.cfg.Retry, h.p.cfg.Breaker, Continue, obs)
	a, b := rec(uuid.New(), 1), rec(uuid.New(), 1)
	h.p.Offer(a)
	h.p.Offer(b)
	h.take()
	h.p.OnPublished(a.EventID, errAmbiguous)
	h.p.OnRetryDue(a.EventID)
	h.p.Recover() // b's outcome is lost with the actor
	h.take()
	if got := obs.republished[a.EventID]; len(got) != 2 || got[0] != RepublishAmbiguous || got[1] != RepublishRecovery {
		t.Fatalf("a was re-sent after an ambiguous failure, then again by the recovery: %v", got)
	}
	if got := obs.republished[b.EventID]; len(got) != 1 || got[0] != RepublishRecovery {
		t.Fatalf("b: %v", got)
	}
	h.p.OnPublished(b.EventID, errDown) // refused: certainly not in the broker
	h.p.OnRetryDue(b.EventID)
	if got := obs.republished[b.EventID]; len(got) != 1 {
		t.Fatalf("a retry after an unambiguous failure is no re-publish: %v", got)
	}
}

// A restart re-reads events the relay published before an aggregate's
// dead-lettered one; the hold starts at that event, so they are published
// again (duplicates with the same event id), not dead-lettered as held.
func TestHoldStartsAtTheDeadLetteredSequence(t *testing.T) {
	h := newHarness(t, Hold)
	newPipeline(h, h.p.cfg.Retry, h.p.cfg.Breaker, Hold, nil, true)
	agg := uuid.New()
	h.p.DLQLoaded(DeadLetters{From: map[uuid.UUID]int64{agg: 2}}, h.p.DLQLoadStarted())
	earlier, later := rec(agg, 1), rec(agg, 2)
	h.p.Offer(earlier)
	h.p.Offer(later)
	if got := h.take(); len(got) != 1 || got[0] != earlier.EventID {
		t.Fatalf("the event before the dead-lettered one must be published, got %v", got)
	}
	h.p.OnPublished(earlier.EventID, nil)
	if f := h.dlq[later.EventID]; f.Kind != KindHeld {
		t.Fatalf("the re-read dead-lettered sequence stays held, got %+v", f)
	}
}

// An event dead-lettered before a crash whose finish was not saved is read
// again by the restarted relay: it is already in the DLQ, so it finishes
// without being published — publishing it would put it after its
// successors and leave it both published and in the DLQ.
func TestEventAlreadyInTheDLQIsNotPublishedAgain(t *testing.T) {
	h := newHarness(t, Continue)
	newPipeline(h, h.p.cfg.Retry, h.p.cfg.Breaker, Continue, nil, true)
	agg := uuid.New()
	dead, next := rec(agg, 7), rec(agg, 8)
	h.p.Offer(dead)
	h.p.Offer(next)
	h.p.DLQLoaded(DeadLetters{Events: map[uuid.UUID]bool{dead.EventID: true}, From: map[uuid.UUID]int64{agg: 7}}, h.p.DLQLoadStarted())
	if got := h.take(); len(got) != 1 || got[0] != next.EventID {
		t.Fatalf("only the next event publishes, got %v", got)
	}
	if h.finished[dead.EventID] != 1 || len(h.dlq) != 0 {
		t.Fatalf("the dead-lettered event finishes without a new DLQ write: finished %d, dlq %v", h.finished[dead.EventID], h.dlq)
	}
}
