package actors

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// blockWindow is how long an admit must stay pending to count as blocked.
// It only detects a block: a wrong answer is a result that arrives, so a
// slow machine can make the test pass wrongly once, never fail wrongly.
const blockWindow = 50 * time.Millisecond

// admitWait bounds the wait for an admit that must complete.
const admitWait = 10 * time.Second

func ledgerRecord(seq int64) outbox.Record {
	return outbox.Record{Envelope: domain.Envelope{EventID: uuid.New(), AggregateID: uuid.New(), Sequence: seq}}
}

// admitAsync runs admit on its own goroutine, as a source does.
func admitAsync(ctx context.Context, l *ledger, rec outbox.Record, ack func()) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.admit(ctx, rec, ack) }()
	return done
}

func requireBlocked(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s returned (%v), want it blocked", what, err)
	case <-time.After(blockWindow):
	}
}

func requireReturned(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(admitWait):
		t.Fatalf("%s still blocked after %v", what, admitWait)
		return nil
	}
}

// TestLedgerBookkeeping drives a ledger with a script of deliveries and
// settlements and checks, after the script, which acknowledgements ran and
// in what order, and what is outstanding.
func TestLedgerBookkeeping(t *testing.T) {
	type op struct {
		kind string // "admit", "track" or "settle"
		rec  string // a record's name in the script
	}
	type owed struct {
		rec        string
		deliveries int
	}
	tests := []struct {
		name            string
		ops             []op
		wantAcks        []string // "a1" is the first delivery of a
		wantOutstanding []owed
	}{
		{
			name:            "nothing delivered",
			wantOutstanding: []owed{},
		},
		{
			name:            "a settled delivery is acknowledged and forgotten",
			ops:             []op{{"admit", "a"}, {"settle", "a"}},
			wantAcks:        []string{"a1"},
			wantOutstanding: []owed{},
		},
		{
			name:            "outstanding is admission order",
			ops:             []op{{"admit", "c"}, {"admit", "a"}, {"track", "b"}, {"admit", "d"}},
			wantOutstanding: []owed{{"c", 1}, {"a", 1}, {"b", 1}, {"d", 1}},
		},
		{
			name:            "a redelivery keeps the event's place",
			ops:             []op{{"admit", "a"}, {"admit", "b"}, {"admit", "a"}, {"track", "a"}},
			wantOutstanding: []owed{{"a", 3}, {"b", 1}},
		},
		{
			name: "settle acknowledges one delivery at a time, oldest first",
			ops: []op{{"admit", "a"}, {"track", "a"}, {"admit", "b"}, {"admit", "a"},
				{"settle", "a"}, {"settle", "b"}, {"settle", "a"}},
			wantAcks:        []string{"a1", "b1", "a2"},
			wantOutstanding: []owed{{"a", 1}},
		},
		{
			name:            "an event settled and delivered again goes last",
			ops:             []op{{"admit", "a"}, {"admit", "b"}, {"settle", "a"}, {"admit", "a"}},
			wantAcks:        []string{"a1"},
			wantOutstanding: []owed{{"b", 1}, {"a", 1}},
		},
		{
			name:            "settling an event with nothing owed does nothing",
			ops:             []op{{"admit", "a"}, {"settle", "b"}, {"settle", "a"}, {"settle", "a"}},
			wantAcks:        []string{"a1"},
			wantOutstanding: []owed{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(len(tt.ops) + 1)
			recs := map[string]outbox.Record{}
			names := map[uuid.UUID]string{}
			delivered := map[string]int{}
			var acks []string // settle runs acks on the caller's goroutine
			for i, o := range tt.ops {
				rec, ok := recs[o.rec]
				if !ok {
					rec = ledgerRecord(int64(i + 1))
					recs[o.rec], names[rec.EventID] = rec, o.rec
				}
				var ack func()
				if o.kind != "settle" {
					delivered[o.rec]++
					ackName := fmt.Sprintf("%s%d", o.rec, delivered[o.rec])
					ack = func() { acks = append(acks, ackName) }
				}
				switch o.kind {
				case "admit":
					if err := l.admit(context.Background(), rec, ack); err != nil {
						t.Fatalf("op %d: admit %s: %v", i, o.rec, err)
					}
				case "track":
					l.track(rec, ack)
				case "settle":
					l.settle(rec.EventID)
				default:
					t.Fatalf("op %d: unknown kind %q", i, o.kind)
				}
			}
			if !reflect.DeepEqual(acks, tt.wantAcks) {
				t.Errorf("acknowledgements = %v, want %v", acks, tt.wantAcks)
			}
			got := []owed{}
			for _, u := range l.outstanding() {
				name, ok := names[u.rec.EventID]
				if !ok || u.rec.Sequence != recs[name].Sequence {
					t.Fatalf("outstanding holds a record the script did not deliver: %+v", u.rec)
				}
				got = append(got, owed{name, u.deliveries})
			}
			if !reflect.DeepEqual(got, tt.wantOutstanding) {
				t.Errorf("outstanding = %v, want %v", got, tt.wantOutstanding)
			}
			if l.size() != len(tt.wantOutstanding) {
				t.Errorf("size = %d, want %d", l.size(), len(tt.wantOutstanding))
			}
		})
	}
}

// Admission blocks while every credit is held and resumes when a settle
// frees one; only credited deliveries free credits.
func TestLedgerAdmitBlocksAtCapacity(t *testing.T) {
	ctx := context.Background()
	l := newLedger(2)
	first, second := ledgerRecord(1), ledgerRecord(2)
	for _, r := range []outbox.Record{first, second} {
		if err := requireReturned(t, admitAsync(ctx, l, r, func() {}), "admit below capacity"); err != nil {
			t.Fatal(err)
		}
	}
	// Tracked deliveries take no credit: they neither block nor free one.
	tracked := ledgerRecord(3)
	l.track(tracked, func() {})
	third := admitAsync(ctx, l, ledgerRecord(4), func() {})
	requireBlocked(t, third, "admit at capacity")
	l.settle(tracked.EventID)
	requireBlocked(t, third, "admit after settling a tracked delivery")
	l.settle(uuid.New())
	requireBlocked(t, third, "admit after settling an unknown event")

	l.settle(first.EventID)
	if err := requireReturned(t, third, "admit after a settle"); err != nil {
		t.Fatalf("admit after a settle: %v", err)
	}
	if l.size() != 2 {
		t.Errorf("size = %d, want 2 (second and the newly admitted)", l.size())
	}
}

// An admit waiting for a credit gives up when its context ends, and then
// holds no credit and owes nothing.
func TestLedgerAdmitCancelled(t *testing.T) {
	l := newLedger(1)
	held := ledgerRecord(1)
	if err := l.admit(context.Background(), held, func() {}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	acked := false
	waiting := admitAsync(ctx, l, ledgerRecord(2), func() { acked = true })
	requireBlocked(t, waiting, "admit at capacity")
	cancel()
	if err := requireReturned(t, waiting, "cancelled admit"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled admit = %v, want context.Canceled", err)
	}
	if l.size() != 1 {
		t.Errorf("size = %d after a cancelled admit, want 1", l.size())
	}
	l.settle(held.EventID)
	if acked {
		t.Error("the cancelled delivery was acknowledged")
	}
	// The cancelled admit took no credit: the freed one is available.
	if err := requireReturned(t, admitAsync(context.Background(), l, ledgerRecord(3), func() {}), "admit after the cancel"); err != nil {
		t.Fatal(err)
	}
}

// After close, admission blocks until the caller's context ends, whether
// the admit came before close (waiting for a credit) or after it (with
// credits free); what was admitted still settles.
func TestLedgerCloseBlocksAdmission(t *testing.T) {
	tests := []struct {
		name string
		// run delivers into l and closes it, returning the admit that must
		// stay blocked.
		run func(t *testing.T, ctx context.Context, l *ledger) <-chan error
	}{
		{"admit after close, credits free", func(t *testing.T, ctx context.Context, l *ledger) <-chan error {
			l.close()
			return admitAsync(ctx, l, ledgerRecord(2), func() {})
		}},
		{"admit waiting for a credit when closed", func(t *testing.T, ctx context.Context, l *ledger) <-chan error {
			// Fill the remaining credit so the admit waits.
			if err := l.admit(ctx, ledgerRecord(3), func() {}); err != nil {
				t.Fatal(err)
			}
			done := admitAsync(ctx, l, ledgerRecord(2), func() {})
			requireBlocked(t, done, "admit at capacity")
			l.close()
			return done
		}},
		{"closed twice", func(t *testing.T, ctx context.Context, l *ledger) <-chan error {
			l.close()
			l.close()
			return admitAsync(ctx, l, ledgerRecord(2), func() {})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(2)
			held := ledgerRecord(1)
			acked := make(chan struct{})
			if err := l.admit(context.Background(), held, func() { close(acked) }); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			blocked := tt.run(t, ctx, l)
			requireBlocked(t, blocked, "admit on a closed ledger")
			// A credit freed after close does not let it in either.
			l.settle(held.EventID)
			select {
			case <-acked:
			default:
				t.Fatal("settle on a closed ledger did not acknowledge")
			}
			requireBlocked(t, blocked, "admit on a closed ledger with a credit free")
			cancel()
			if err := requireReturned(t, blocked, "admit on a closed ledger"); !errors.Is(err, context.Canceled) {
				t.Fatalf("admit on a closed ledger = %v, want context.Canceled", err)
			}
			for _, u := range l.outstanding() {
				if u.rec.Sequence == 2 {
					t.Fatal("the refused record is outstanding")
				}
			}
		})
	}
}

// Concurrent sources never hold more than the capacity, and every record
// gets in once others settle.
func TestLedgerConcurrentAdmission(t *testing.T) {
	const capacity, sources, perSource = 3, 4, 50
	l := newLedger(capacity)
	// inFlight counts admitted records not yet acknowledged; the ack runs
	// before settle returns the credit, so it never under-counts what
	// holds one.
	var (
		mu                    sync.Mutex
		inFlight, maxInFlight int
	)
	admitted := make(chan uuid.UUID, sources*perSource)
	// A ledger that loses credits would block the sources forever.
	ctx, cancel := context.WithTimeout(context.Background(), admitWait)
	defer cancel()
	var wg sync.WaitGroup
	for range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSource {
				rec := ledgerRecord(int64(i))
				ack := func() {
					mu.Lock()
					inFlight--
					mu.Unlock()
				}
				if err := l.admit(ctx, rec, ack); err != nil {
					t.Errorf("admit: %v", err)
					return
				}
				mu.Lock()
				inFlight++
				maxInFlight = max(maxInFlight, inFlight)
				mu.Unlock()
				admitted <- rec.EventID
			}
		}()
	}
	settled := make(chan int)
	go func() {
		n := 0
		for id := range admitted {
			l.settle(id)
			n++
		}
		settled <- n
	}()
	wg.Wait()
	close(admitted)
	if n := <-settled; n != sources*perSource {
		t.Fatalf("settled %d records, want %d", n, sources*perSource)
	}
	if maxInFlight > capacity {
		t.Errorf("%d records held credits at once, capacity %d", maxInFlight, capacity)
	}
	if l.size() != 0 {
		t.Errorf("size = %d after settling everything", l.size())
	}
}

// BenchmarkLedgerAdmitSettle measures the ledger's part of one event: a
// source admits it (taking a credit), the processor settles it.
func BenchmarkLedgerAdmitSettle(b *testing.B) {
	tests := []struct {
		name  string
		batch int // admitted before the first of them is settled
	}{
		{"one at a time", 1},
		{"batches of 64", 64},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			l := newLedger(DefaultMaxInFlight)
			recs := make([]outbox.Record, tt.batch)
			for i := range recs {
				recs[i] = ledgerRecord(1)
			}
			ctx := context.Background()
			acked := 0
			ack := func() { acked++ }
			b.ReportAllocs()
			for b.Loop() {
				for _, rec := range recs {
					if err := l.admit(ctx, rec, ack); err != nil {
						b.Fatal(err)
					}
				}
				for _, rec := range recs {
					l.settle(rec.EventID)
				}
			}
			if l.size() != 0 {
				b.Fatalf("%d entries left", l.size())
			}
		})
	}
}
