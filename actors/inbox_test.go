package actors

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// TestInboxBatches drives an inbox with a script and checks, step by step,
// which additions ask for a wake-up and what each take returns: one
// wake-up per batch, records and results batched separately, a take
// empties its queue.
func TestInboxBatches(t *testing.T) {
	type step struct {
		op string // "record", "result", "take records", "take results"
		// wake is what an add must return; got is what a take must
		// return, as names of the added items.
		wake bool
		got  []string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"empty takes", []step{
			{op: "take records"}, {op: "take results"},
		}},
		{"the first record of a batch wakes the actor, the rest do not", []step{
			{op: "record", wake: true}, {op: "record"}, {op: "record"},
			{op: "take records", got: []string{"record1", "record2", "record3"}},
			{op: "take records"},
		}},
		{"a take clears, and the next record wakes again", []step{
			{op: "record", wake: true},
			{op: "take records", got: []string{"record1"}},
			{op: "take records"},
			{op: "record", wake: true}, {op: "record"},
			{op: "take records", got: []string{"record2", "record3"}},
		}},
		{"results batch the same way", []step{
			{op: "result", wake: true}, {op: "result"},
			{op: "take results", got: []string{"result1", "result2"}},
			{op: "result", wake: true},
			{op: "take results", got: []string{"result3"}},
		}},
		{"records and results are separate batches", []step{
			{op: "record", wake: true},
			{op: "result", wake: true},
			{op: "record"}, {op: "result"},
			{op: "take results", got: []string{"result1", "result2"}},
			{op: "record"},
			{op: "result", wake: true},
			{op: "take records", got: []string{"record1", "record2", "record3"}},
			{op: "take results", got: []string{"result3"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b inbox
			names := map[uuid.UUID]string{}
			added := map[string]int{}
			add := func(kind string) uuid.UUID {
				added[kind]++
				id := uuid.New()
				names[id] = fmt.Sprintf("%s%d", kind, added[kind])
				return id
			}
			for i, s := range tt.steps {
				var wake bool
				var got []string
				switch s.op {
				case "record":
					rec := ledgerRecord(0)
					rec.EventID = add("record")
					wake = b.addRecord(rec)
				case "result":
					wake = b.addResult(publishResult{eventID: add("result"), err: errors.New("x")})
				case "take records":
					for _, r := range b.takeRecords() {
						got = append(got, names[r.EventID])
					}
				case "take results":
					for _, r := range b.takeResults() {
						got = append(got, names[r.eventID])
					}
				default:
					t.Fatalf("step %d: unknown op %q", i, s.op)
				}
				if wake != s.wake {
					t.Errorf("step %d (%s): wake-up = %v, want %v", i, s.op, wake, s.wake)
				}
				if !reflect.DeepEqual(got, s.got) {
					t.Errorf("step %d (%s): took %v, want %v", i, s.op, got, s.got)
				}
			}
		})
	}
}

// Producers add concurrently while a consumer takes a batch on each
// wake-up, as the actor does: no wake-up is lost (every record is taken
// once the last wake-up is handled) and nothing is taken twice.
func TestInboxConcurrentWakeUps(t *testing.T) {
	const producers, perProducer = 4, 200
	var b inbox
	wake := make(chan struct{}, producers*perProducer)
	var wg sync.WaitGroup
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perProducer {
				if b.addRecord(ledgerRecord(0)) {
					wake <- struct{}{}
				}
			}
		}()
	}
	taken := make(chan map[uuid.UUID]int)
	go func() {
		seen := map[uuid.UUID]int{}
		for range wake {
			for _, r := range b.takeRecords() {
				seen[r.EventID]++
			}
		}
		taken <- seen
	}()
	wg.Wait()
	close(wake)
	seen := <-taken
	if len(seen) != producers*perProducer {
		t.Fatalf("took %d records after the last wake-up, want %d (a wake-up was lost)", len(seen), producers*perProducer)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("record %s taken %d times", id, n)
		}
	}
	if rest := b.takeRecords(); len(rest) != 0 {
		t.Fatalf("%d records left after every wake-up was handled", len(rest))
	}
}

// BenchmarkInbox measures handing records and publish results to the
// actor in batches, as a source and the publisher do under load.
func BenchmarkInbox(b *testing.B) {
	const batch = 64
	rec := ledgerRecord(1)
	res := publishResult{eventID: rec.EventID}
	var b0 inbox
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for range batch {
			b0.addRecord(rec)
			b0.addResult(res)
		}
		n += len(b0.takeRecords()) + len(b0.takeResults())
	}
	if n == 0 {
		b.Fatal("nothing taken")
	}
}
