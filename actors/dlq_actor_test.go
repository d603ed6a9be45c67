package actors

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

var errFakeDown = errors.New("fake: database unavailable")

// fakeDLQ is an in-memory DeadLetterWriter with call counters and fault
// injection.
type fakeDLQ struct {
	mu      sync.Mutex
	entries map[uuid.UUID]storage.DeadLetter
	puts    map[uuid.UUID]int
	checks  int
	counts  int
	// failPuts fails the next Puts, one each; landPuts of them store the
	// entry before failing, as a write that timed out after the database
	// applied it.
	failPuts, landPuts int
	// failChecks fails the next Exists calls.
	failChecks int
	// block, when set for an event id, holds the first Put of that event
	// until the channel is closed; the Put then stores the entry.
	block map[uuid.UUID]chan struct{}
}

func newFakeDLQ(seed int) *fakeDLQ {
	f := &fakeDLQ{entries: map[uuid.UUID]storage.DeadLetter{}, puts: map[uuid.UUID]int{}, block: map[uuid.UUID]chan struct{}{}}
	for range seed {
		id := uuid.New()
		f.entries[id] = storage.DeadLetter{Record: outbox.Record{Envelope: domain.Envelope{EventID: id}}}
	}
	return f
}

func (f *fakeDLQ) Put(ctx context.Context, d storage.DeadLetter) error {
	f.mu.Lock()
	f.puts[d.EventID]++
	ch := f.block[d.EventID]
	delete(f.block, d.EventID)
	if ch != nil {
		f.mu.Unlock()
		<-ch
		f.mu.Lock()
	}
	defer f.mu.Unlock()
	if f.failPuts > 0 {
		f.failPuts--
		if f.landPuts > 0 {
			f.landPuts--
			f.entries[d.EventID] = d
		}
		return fmt.Errorf("fake: put: %w", errFakeDown)
	}
	f.entries[d.EventID] = d
	return nil
}

func (f *fakeDLQ) Exists(_ context.Context, id uuid.UUID) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	if f.failChecks > 0 {
		f.failChecks--
		return false, fmt.Errorf("fake: exists: %w", errFakeDown)
	}
	_, ok := f.entries[id]
	return ok, nil
}

func (f *fakeDLQ) Count(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts++
	return len(f.entries), nil
}

func (f *fakeDLQ) read(fn func(f *fakeDLQ)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeDLQ) totalPuts() int {
	n := 0
	f.read(func(f *fakeDLQ) {
		for _, c := range f.puts {
			n += c
		}
	})
	return n
}

// dlqProbe stands in for both the processor (ReplyTo) and the
// MetricsActor: one mailbox, so it sees the DLQ actor's messages in the
// order they were sent.
type dlqProbe struct {
	mu      sync.Mutex
	replies map[uuid.UUID]int
	fenced  map[uuid.UUID]error
	sizes   []int
	written int
}

func (p *dlqProbe) Receive(ctx actor.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch m := ctx.Message().(type) {
	case *DeadLetterWritten:
		p.replies[m.EventID]++
	case *DeadLetterFenced:
		if p.fenced == nil {
			p.fenced = map[uuid.UUID]error{}
		}
		p.fenced[m.EventID] = m.Err
	case *DLQSize:
		p.sizes = append(p.sizes, m.N)
	case *DLQWritten:
		p.written++
	}
}

func (p *dlqProbe) read(fn func(p *dlqProbe)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p)
}

func (p *dlqProbe) replied(id uuid.UUID) int {
	n := 0
	p.read(func(p *dlqProbe) { n = p.replies[id] })
	return n
}

// lastSize is the latest size reported, or -1.
func (p *dlqProbe) lastSize() int {
	n := -1
	p.read(func(p *dlqProbe) {
		if len(p.sizes) > 0 {
			n = p.sizes[len(p.sizes)-1]
		}
	})
	return n
}

func (p *dlqProbe) maxSize() int {
	n := -1
	p.read(func(p *dlqProbe) {
		for _, s := range p.sizes {
			n = max(n, s)
		}
	})
	return n
}

type dlqHarness struct {
	sys   *System
	pid   *actor.PID
	probe *dlqProbe
	ppid  *actor.PID
}

// spawnDlq starts a DLQ actor over store, reporting to a probe, with
// fast retries and no periodic count unless edit says otherwise.
func spawnDlq(t *testing.T, store DeadLetterWriter, edit func(*DLQConfig)) dlqHarness {
	t.Helper()
	sys, _ := newTestSystem(t)
	probe := &dlqProbe{replies: map[uuid.UUID]int{}}
	ppid, err := sys.Spawn(actor.PropsFromProducer(func() actor.Actor { return probe }), "probe")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DLQConfig{Store: store, Metrics: ppid, RetryInitial: time.Millisecond, RetryMax: 2 * time.Millisecond, SizeRefresh: time.Hour}
	if edit != nil {
		edit(&cfg)
	}
	props, err := NewDLQProps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := sys.Spawn(props, "dlq")
	if err != nil {
		t.Fatal(err)
	}
	return dlqHarness{sys: sys, pid: pid, probe: probe, ppid: ppid}
}

func (h dlqHarness) send(msgs ...*WriteDeadLetter) {
	for _, m := range msgs {
		h.sys.Root().Send(h.pid, m)
	}
}

func (h dlqHarness) status(t *testing.T) DLQStatus {
	t.Helper()
	res, err := h.sys.Root().RequestFuture(h.pid, &GetDLQStatus{}, 5*time.Second).Result()
	if err != nil {
		t.Fatalf("GetDLQStatus: %v", err)
	}
	return *res.(*DLQStatus)
}

// waitSettled waits until every given entry was acknowledged and the
// actor holds nothing, then checks each was acknowledged exactly once.
func (h dlqHarness) waitSettled(t *testing.T, msgs ...*WriteDeadLetter) {
	t.Helper()
	waitFor(t, "every entry acknowledged", func() bool {
		for _, m := range msgs {
			if h.probe.replied(m.Record.EventID) == 0 {
				return false
			}
		}
		return true
	})
	waitFor(t, "nothing pending", func() bool { return h.status(t).Pending == 0 })
	for _, m := range msgs {
		if n := h.probe.replied(m.Record.EventID); n != 1 {
			t.Errorf("%s acknowledged %d times, want once", m.Record.EventID, n)
		}
	}
}

func deadLetterMsg(replyTo *actor.PID) *WriteDeadLetter {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return &WriteDeadLetter{
		Record: outbox.Record{Envelope: domain.Envelope{EventID: uuid.New(), AggregateID: uuid.New(), AggregateType: "Order",
			EventType: "OrderCreated", Sequence: 1}},
		Failure:   relay.Failure{Kind: relay.KindPermanent, Err: errors.New("kafka: message too large"), Attempts: 1, FirstFailure: at, LastFailure: at},
		Processor: outbox.ProcessorCDC,
		ReplyTo:   replyTo,
	}
}

// TestDlqBulkDeadLetteringCountsOnce: a bulk of 1,000 entries is written
// (off the actor, a few at a time) with one count at start: the size is
// kept from the new entries, not by counting after every write.
func TestDlqBulkDeadLetteringCountsOnce(t *testing.T) {
	const seeded, bulk = 5, 1000
	store := newFakeDLQ(seeded)
	h := spawnDlq(t, store, nil)
	msgs := make([]*WriteDeadLetter, bulk)
	for i := range msgs {
		msgs[i] = deadLetterMsg(h.ppid)
	}
	// One of them is a row the relay could not decode: it has no
	// aggregate, and its raw columns must reach the store.
	malformed := msgs[bulk/2]
	malformed.Record.AggregateID = uuid.Nil
	malformed.Failure.Kind = storage.KindMalformed
	malformed.Raw = map[string]string{"aggregate_id": "null", "payload": "0x00"}
	h.send(msgs...)
	h.waitSettled(t, msgs...)

	if got := h.probe.lastSize(); got != seeded+bulk {
		t.Errorf("last size reported %d, want %d", got, seeded+bulk)
	}
	if got := h.probe.maxSize(); got != seeded+bulk {
		t.Errorf("largest size reported %d, want %d", got, seeded+bulk)
	}
	store.read(func(f *fakeDLQ) {
		if f.counts != 1 {
			t.Errorf("Count called %d times for %d writes, want once (at start)", f.counts, bulk)
		}
		if f.checks != bulk || len(f.entries) != seeded+bulk {
			t.Errorf("%d existence checks and %d entries, want %d and %d", f.checks, len(f.entries), bulk, seeded+bulk)
		}
		d := f.entries[malformed.Record.EventID]
		if d.ErrorKind != storage.KindMalformed || !reflect.DeepEqual(d.Raw, malformed.Raw) || d.Error != "kafka: message too large" {
			t.Errorf("malformed entry stored as kind %q raw %v error %q", d.ErrorKind, d.Raw, d.Error)
		}
	})
	if p := store.totalPuts(); p != bulk {
		t.Errorf("%d Puts, want %d", p, bulk)
	}
	h.probe.read(func(p *dlqProbe) {
		if p.written != bulk {
			t.Errorf("%d DLQWritten reports, want %d", p.written, bulk)
		}
	})
	if st := h.status(t); st != (DLQStatus{Size: seeded + bulk, SizeKnown: true}) {
		t.Errorf("status %+v", st)
	}
}

// TestDlqFailingStoreLeavesNothingBehind: entries whose checks and writes
// fail are retried, one timer per entry at a time, until written; then no
// entry, attempt or timer is left.
func TestDlqFailingStoreLeavesNothingBehind(t *testing.T) {
	tests := []struct {
		name                 string
		entries              int
		failPuts, failChecks int
	}{
		{"one entry, writes fail 5 times", 1, 5, 0},
		{"three entries, writes fail 10 times", 3, 10, 0},
		{"checks fail 4 times, writes twice", 2, 2, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newFakeDLQ(0)
			store.failPuts, store.failChecks = tc.failPuts, tc.failChecks
			h := spawnDlq(t, store, nil)
			msgs := make([]*WriteDeadLetter, tc.entries)
			for i := range msgs {
				msgs[i] = deadLetterMsg(h.ppid)
			}
			h.send(msgs...)
			h.waitSettled(t, msgs...)

			// Every failure caused exactly one more attempt: a second
			// timer for an entry would show as extra attempts.
			if p := store.totalPuts(); p != tc.entries+tc.failPuts {
				t.Errorf("%d Puts, want %d (one per entry plus one per failure)", p, tc.entries+tc.failPuts)
			}
			store.read(func(f *fakeDLQ) {
				if f.checks != tc.entries+tc.failChecks {
					t.Errorf("%d checks, want %d", f.checks, tc.entries+tc.failChecks)
				}
			})
			if st := h.status(t); st != (DLQStatus{Size: tc.entries, SizeKnown: true}) {
				t.Errorf("status %+v, want no pending, writing or waiting entry and size %d", st, tc.entries)
			}
			if got := h.probe.maxSize(); got != tc.entries {
				t.Errorf("largest size reported %d, want %d", got, tc.entries)
			}
		})
	}
}

// TestDlqFencedWriterIsRefused: a dead letter of a stale leader (its fence
// fails with ErrFenced) is never written and not retried; the writer is
// told, so it fences itself. A fence that fails otherwise (the database
// did not answer) is retried like a failed write, and the entry lands.
func TestDlqFencedWriterIsRefused(t *testing.T) {
	store := newFakeDLQ(0)
	h := spawnDlq(t, store, nil)
	stale := deadLetterMsg(h.ppid)
	fences := 0
	stale.Fence = func(context.Context) error {
		fences++ // the DLQ actor checks one attempt at a time per entry
		return fmt.Errorf("storage: relay epoch 1: check the epoch: %w (epoch 2 holds it)", leader.ErrFenced)
	}
	flaky := deadLetterMsg(h.ppid)
	var failures atomic.Int32
	failures.Store(3)
	flaky.Fence = func(context.Context) error {
		if failures.Add(-1) >= 0 {
			return errFakeDown
		}
		return nil
	}
	h.send(stale, flaky)
	h.waitSettled(t, flaky)
	waitFor(t, "the stale writer told", func() bool {
		var err error
		h.probe.read(func(p *dlqProbe) { err = p.fenced[stale.Record.EventID] })
		return errors.Is(err, leader.ErrFenced)
	})
	store.read(func(f *fakeDLQ) {
		if _, ok := f.entries[stale.Record.EventID]; ok || f.puts[stale.Record.EventID] != 0 {
			t.Errorf("the stale leader's dead letter was written (%d puts)", f.puts[stale.Record.EventID])
		}
		if _, ok := f.entries[flaky.Record.EventID]; !ok {
			t.Error("the entry whose fence failed transiently was not written")
		}
	})
	if n := h.probe.replied(stale.Record.EventID); n != 0 || fences != 1 {
		t.Errorf("stale entry acknowledged %d times, fence checked %d times; want 0 and 1", n, fences)
	}
	if st := h.status(t); st.Pending != 0 || st.Size != 1 {
		t.Errorf("status %+v, want nothing pending and one entry", st)
	}
}

// TestDlqFenceOfAReplacedRequest: a stale processor's request whose check
// is still running when a newer processor (a newer epoch) asks for the
// same entry: the stale check's refusal must not be taken for the newer
// request — the entry is written under the newer fence and the newer
// processor is answered, not fenced.
func TestDlqFenceOfAReplacedRequest(t *testing.T) {
	store := newFakeDLQ(0)
	h := spawnDlq(t, store, nil)
	checking, release := make(chan struct{}), make(chan struct{})
	stale := deadLetterMsg(h.ppid)
	stale.Fence = func(context.Context) error {
		close(checking)
		<-release
		return fmt.Errorf("storage: check the epoch: %w", leader.ErrFenced)
	}
	current := *stale
	current.Fence = func(context.Context) error { return nil }
	h.send(stale)
	<-checking
	h.send(&current)
	close(release)
	h.waitSettled(t, &current)
	h.probe.read(func(p *dlqProbe) {
		if err := p.fenced[current.Record.EventID]; err != nil {
			t.Errorf("the newer processor was told it is fenced: %v", err)
		}
	})
	store.read(func(f *fakeDLQ) {
		if _, ok := f.entries[current.Record.EventID]; !ok {
			t.Error("the entry was not written for the newer request")
		}
	})
}

// TestDlqSizeCountsEachEntryOnce: an entry written again — after a write
// that failed but landed, after a count, after an acknowledgement, or from
// a previous run — adds to the size once at most.
func TestDlqSizeCountsEachEntryOnce(t *testing.T) {
	tests := []struct {
		name string
		// run sends m (whose ReplyTo is the probe) and whatever else
		// the case needs, and returns once m is settled.
		run       func(t *testing.T, h dlqHarness, store *fakeDLQ, m *WriteDeadLetter)
		slowRetry bool
		seedM     bool // m is in the queue before the actor starts
		want      int  // size at the end
		checks    int
		puts      int
	}{
		{
			name: "write failed after landing, then retried",
			run: func(t *testing.T, h dlqHarness, store *fakeDLQ, m *WriteDeadLetter) {
				store.read(func(f *fakeDLQ) { f.failPuts, f.landPuts = 1, 1 })
				h.send(m)
				h.waitSettled(t, m)
			},
			want: 1, checks: 1, puts: 2,
		},
		{
			name: "write failed after landing, counted, then retried",
			run: func(t *testing.T, h dlqHarness, store *fakeDLQ, m *WriteDeadLetter) {
				store.read(func(f *fakeDLQ) { f.failPuts, f.landPuts = 1, 1 })
				h.send(m)
				waitFor(t, "the entry waiting for its retry", func() bool { return h.status(t).Waiting == 1 })
				h.sys.Root().Send(h.pid, &refreshDLQSize{})
				waitFor(t, "the count including the landed entry", func() bool { return h.probe.lastSize() == 1 })
				h.send(m) // asked again: retried at once, without waiting for the timer
				h.waitSettled(t, m)
			},
			slowRetry: true,
			want:      1, checks: 2, puts: 2,
		},
		{
			// A count overlapping the write could include the entry
			// and then see the write add it again.
			name: "count due while the write is in flight waits for it",
			run: func(t *testing.T, h dlqHarness, store *fakeDLQ, m *WriteDeadLetter) {
				release := make(chan struct{})
				store.read(func(f *fakeDLQ) { f.block[m.Record.EventID] = release })
				h.send(m)
				waitFor(t, "the write in flight", func() bool { return h.status(t).Writing == 1 })
				h.sys.Root().Send(h.pid, &refreshDLQSize{})
				h.status(t) // the refresh, sent before, has been handled
				store.read(func(f *fakeDLQ) {
					if f.counts != 1 {
						t.Errorf("%d counts while a write was in flight, want only the first", f.counts)
					}
				})
				close(release)
				h.waitSettled(t, m)
				waitFor(t, "the second count", func() bool {
					n := 0
					store.read(func(f *fakeDLQ) { n = f.counts })
					return n == 2
				})
			},
			want: 1, checks: 1, puts: 1,
		},
		{
			name: "acknowledged, then sent again",
			run: func(t *testing.T, h dlqHarness, store *fakeDLQ, m *WriteDeadLetter) {
				h.send(m)
				h.waitSettled(t, m)
				h.send(m)
				waitFor(t, "the second acknowledgement", func() bool { return h.probe.replied(m.Record.EventID) == 2 })
			},
			want: 1, checks: 2, puts: 2,
		},
		{
			name: "in the queue since a previous run",
			run: func(t *testing.T, h dlqHarness, store *fakeDLQ, m *WriteDeadLetter) {
				h.send(m)
				h.waitSettled(t, m)
			},
			seedM: true,
			want:  1, checks: 1, puts: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newFakeDLQ(0)
			m := deadLetterMsg(nil)
			if tc.seedM { // before the start, so the first count sees it
				store.entries[m.Record.EventID] = storage.DeadLetter{Record: m.Record}
			}
			h := spawnDlq(t, store, func(c *DLQConfig) {
				if tc.slowRetry {
					c.RetryInitial, c.RetryMax = time.Hour, time.Hour
				}
			})
			m.ReplyTo = h.ppid
			tc.run(t, h, store, m)
			waitFor(t, "nothing pending", func() bool { return h.status(t).Pending == 0 })

			if st := h.status(t); st.Size != tc.want {
				t.Errorf("size %d, want %d", st.Size, tc.want)
			}
			if got := h.probe.maxSize(); got != tc.want {
				t.Errorf("largest size reported %d, want %d (an entry counted twice)", got, tc.want)
			}
			store.read(func(f *fakeDLQ) {
				if f.checks != tc.checks || f.puts[m.Record.EventID] != tc.puts {
					t.Errorf("%d checks and %d Puts, want %d and %d", f.checks, f.puts[m.Record.EventID], tc.checks, tc.puts)
				}
			})
		})
	}
}

// TestDlqRefreshCorrectsDrift: entries deleted by another process (the
// replay or discard tool) leave the size at the next periodic count.
func TestDlqRefreshCorrectsDrift(t *testing.T) {
	store := newFakeDLQ(3)
	h := spawnDlq(t, store, func(c *DLQConfig) { c.SizeRefresh = 20 * time.Millisecond })
	waitFor(t, "the first count", func() bool { return h.probe.lastSize() == 3 })
	store.read(func(f *fakeDLQ) {
		for id := range f.entries {
			delete(f.entries, id)
			break
		}
	})
	waitFor(t, "a count seeing the deletion", func() bool { return h.probe.lastSize() == 2 })
	if st := h.status(t); st.Size != 2 || !st.SizeKnown {
		t.Errorf("status %+v, want size 2", st)
	}
}

// TestDlqRestartKeepsPendingEntries: after a panic, an entry whose write
// was in flight and one waiting for its retry timer are written by the new
// incarnation, each acknowledged once; the dead incarnation's attempt,
// ending later, changes nothing.
func TestDlqRestartKeepsPendingEntries(t *testing.T) {
	store := newFakeDLQ(0)
	h := spawnDlq(t, store, func(c *DLQConfig) { c.RetryInitial, c.RetryMax = time.Hour, time.Hour })
	inFlight, waiting := deadLetterMsg(h.ppid), deadLetterMsg(h.ppid)
	release := make(chan struct{})
	store.read(func(f *fakeDLQ) {
		f.block[inFlight.Record.EventID] = release
		f.failPuts = 1
	})
	h.send(inFlight)
	waitFor(t, "the first write blocked", func() bool {
		n := 0
		store.read(func(f *fakeDLQ) { n = f.puts[inFlight.Record.EventID] })
		return n == 1
	})
	h.send(waiting)
	waitFor(t, "the second entry waiting an hour for its retry", func() bool {
		st := h.status(t)
		return st.Writing == 1 && st.Waiting == 1
	})

	h.sys.Root().Send(h.pid, &InjectPanic{Reason: "boom"})
	h.waitSettled(t, inFlight, waiting)
	close(release) // the dead incarnation's write ends now

	if st := h.status(t); st != (DLQStatus{Size: 2, SizeKnown: true}) {
		t.Errorf("status %+v", st)
	}
	if got := h.probe.maxSize(); got != 2 {
		t.Errorf("largest size reported %d, want 2", got)
	}
}

func TestNewDlqPropsNeedsAStore(t *testing.T) {
	if _, err := NewDLQProps(DLQConfig{}); err == nil {
		t.Fatal("NewDLQProps without a store succeeded")
	}
}
