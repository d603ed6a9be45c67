package actors

import (
	"sync"

	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// inbox collects what other goroutines hand the actor — records from the
// source, outcomes from the publisher — so that one mailbox message wakes
// the actor for a whole batch instead of one message per event: under load
// the per-message cost of the actor path was a quarter of the relay's CPU.
// A restarted actor loses nothing it had not taken yet: the inbox outlives
// it, and what it had taken is recovered from the ledger and the pipeline.
type inbox struct {
	mu      sync.Mutex
	records []outbox.Record
	results []publishResult
	// What the previous takes handed out: the next take of the kind
	// refills it, so that batches reuse two arrays instead of growing a
	// new one each.
	spareRecords []outbox.Record
	spareResults []publishResult
}

// addRecord queues rec and reports whether the actor needs a wake-up
// (nothing was queued before).
func (b *inbox) addRecord(rec outbox.Record) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records = append(b.records, rec)
	return len(b.records) == 1
}

func (b *inbox) addResult(r publishResult) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.results = append(b.results, r)
	return len(b.results) == 1
}

// takeRecords returns the queued records; the slice is the caller's until
// its next takeRecords.
func (b *inbox) takeRecords() []outbox.Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.records
	clear(b.spareRecords) // let the collector have the last batch's payloads
	b.records, b.spareRecords = b.spareRecords[:0], out
	return out
}

// takeResults returns the queued results; the slice is the caller's until
// its next takeResults.
func (b *inbox) takeResults() []publishResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.results
	clear(b.spareResults)
	b.results, b.spareResults = b.spareResults[:0], out
	return out
}
