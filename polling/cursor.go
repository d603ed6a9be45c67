// Package polling owns the polling relay's bookkeeping, with no I/O: where
// its cursor may stand (never past an unfinished event), where a poll must
// start reading (never past a row that may still become visible), which
// events a poll takes (each once, each aggregate's in sequence order,
// within the in-flight limit), and which finished events it must remember
// so that re-reading the safety window behind the cursor publishes nothing
// twice. The PollingProcessorActor performs the reads and writes it
// implies; the fault simulator drives it directly.
//
// A row committed at T is visible to every read from T + the safety window
// on (the relay refuses a window too small for that). So a scan that
// started at S and covered commit times up to U has seen every row
// committed before min(U, S − window): those rows are settled, and no later
// poll reads them again. While the relay keeps up, that is the safety
// window behind the newest poll, re-read on every poll because a batch
// there may still appear; while it drains a backlog older than the window,
// each poll starts where the last one stopped, and every row is read once.
// Rows an earlier poll read are re-read by key only (Selection.Reread):
// the full row is read again only from the first one the poll does not
// know, a batch that became visible late.
//
// Finished events are marked in the database (relay_finished) so that a
// restarted relay does not publish again what a previous run finished in
// the window it re-reads. A run first records each minute of commit time it
// marks events in (Unannounced); a restarted relay checks an event against
// the marks only if its minute holds some (Selection.Check), so a relay
// draining a backlog that no run has touched looks nothing up per event.
// Marks written by a version that did not record minutes are covered by
// the first run after it, which checks every row and records the minutes
// of the marks it finds (the owner's part, with the database's word on
// whether minutes are kept).
package polling

import (
	"container/heap"
	"maps"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// Cursor is the polling relay's position in outbox_by_bucket and the state
// that makes it safe. It is not safe for concurrent use.
type Cursor struct {
	at       time.Time // every event committed before it is finished
	frontier time.Time // where the last poll stopped taking records
	// settled: every row committed before it was scanned while visible.
	// Zero until a poll started with Next is taken.
	settled time.Time
	pending map[uuid.UUID]time.Time // offered, unfinished: id → committed
	oldest  pendingHeap             // pending by commit time, stale entries skipped lazily
	recent  map[uuid.UUID]time.Time // finished, still inside the re-read window: id → committed
	toMark  []uuid.UUID             // finished, not yet recorded as such in the database
	// unannounced: minutes of finished events not yet recorded as holding
	// this run's marks; announced: recorded.
	unannounced, announced map[Minute]bool
	// priors: minutes looked up, and whether an earlier run marked events
	// in them.
	priors map[Minute]bool
}

// A Minute is a minute of commit time, counted from the Unix epoch: the
// unit in which runs record where they marked events finished.
type Minute int64

// MinuteOf is the minute t falls in.
func MinuteOf(t time.Time) Minute {
	s := t.Unix()
	if s < 0 && s%60 != 0 {
		s -= 60
	}
	return Minute(s / 60)
}

// NewCursor returns a cursor at the saved position at.
func NewCursor(at time.Time) *Cursor {
	return &Cursor{at: at, frontier: at, pending: map[uuid.UUID]time.Time{}, recent: map[uuid.UUID]time.Time{},
		unannounced: map[Minute]bool{}, announced: map[Minute]bool{}, priors: map[Minute]bool{}}
}

// Position is where the cursor stands: every event committed before it is
// finished.
func (c *Cursor) Position() time.Time { return c.at }

// Known returns the ids a poll must not take again: in flight, or finished
// recently. The scan runs off the owner's goroutine, so it gets a copy.
func (c *Cursor) Known() map[uuid.UUID]bool { return c.knownSince(time.Time{}) }

// knownSince is Known without the events committed before from, which a
// scan starting at from cannot read: behind a backlog, nearly all.
func (c *Cursor) knownSince(from time.Time) map[uuid.UUID]bool {
	known := map[uuid.UUID]bool{}
	for id, at := range c.pending {
		if !at.Before(from) {
			known[id] = true
		}
	}
	for id, at := range c.recent {
		if !at.Before(from) {
			known[id] = true
		}
	}
	return known
}

// Selection is one poll's choice among the rows it scans, made off the
// owner's goroutine: Add each scanned row in commit order.
type Selection struct {
	known       map[uuid.UUID]bool
	limit       int
	checkBefore time.Time
	// settles is the poll's start less the safety window: the rows it
	// scans that were committed before it were visible to the scan.
	settles time.Time
	// From is where the poll reads from: rows committed before it are
	// settled.
	From time.Time
	// Seen: rows in [From, Seen) were read by an earlier poll; Reread
	// their keys, then read rows in full from ReadFrom.
	Seen time.Time
	// ReadFrom is where the poll reads rows in full: Seen, or the first
	// row Reread found that the poll does not know.
	ReadFrom time.Time
	// Records are the rows taken, in commit order.
	Records []outbox.Record
	// Until is where the cursor may move once they finish: the end of the
	// scanned range, or the commit time of the first row left for the next
	// poll.
	Until time.Time
	// Full reports that the poll stopped at its limit: more rows wait.
	Full bool
	// Unsure lists taken rows committed before the relay started, which a
	// previous run may have finished: check them against the finished set
	// (only those in minutes holding marks, with Check).
	Unsure []uuid.UUID
	// unsureIn is the minute of each Unsure row.
	unsureIn []Minute
	// priors: the cursor's minutes looked up when the poll started;
	// found: those the poll looked up.
	priors, found map[Minute]bool
}

// Next starts a poll at now that takes at most limit rows (more only to
// keep one batch whole), window being the safety window; rows committed
// before started may have been finished by a previous run. The poll
// re-reads the keys of [From, Seen), then reads rows in full from ReadFrom
// up to Until, adding them in commit order. Next forgets the finished
// events no poll reads again.
func (c *Cursor) Next(limit int, now, started time.Time, window time.Duration) *Selection {
	from := c.at.Add(-window)
	if c.settled.After(from) {
		from = c.settled
	}
	// A margin of one window: a scan that began before a restart of the
	// owner may still be running from further back.
	c.Forget(from.Add(-window))
	seen := c.frontier
	if seen.Before(from) {
		seen = from
	}
	// A scan's lower bound has the resolution of a timeuuid (100 ns), so
	// it can return a row committed just before from.
	known := c.knownSince(from.Add(-time.Millisecond))
	return &Selection{known: known, limit: limit, checkBefore: started, settles: now.Add(-window),
		From: from, Seen: seen, ReadFrom: seen, Until: now, priors: maps.Clone(c.priors)}
}

// Reread checks the key of a row in [From, Seen), in commit order. It
// returns false at the first row the poll does not know — a batch that
// became visible late, or one a restarted owner has not taken yet — from
// which the poll reads rows in full.
func (s *Selection) Reread(committed time.Time, id uuid.UUID) bool {
	if s.known[id] {
		return true
	}
	if committed.Before(s.ReadFrom) {
		s.ReadFrom = committed
	}
	return false
}

// Add takes one scanned row; it returns false when the poll has taken
// enough. Rows sharing a commit time are one batch, possibly several events
// of one aggregate: the limit never splits them, or a later event could be
// taken before an earlier one.
func (s *Selection) Add(rec outbox.Record) bool {
	if s.known[rec.EventID] {
		return true
	}
	if n := len(s.Records); n >= s.limit && !rec.CommittedAt.Equal(s.Records[n-1].CommittedAt) {
		s.Until, s.Full = rec.CommittedAt, true
		return false
	}
	s.Records = append(s.Records, rec)
	if rec.CommittedAt.Before(s.checkBefore) {
		s.Unsure = append(s.Unsure, rec.EventID)
		s.unsureIn = append(s.unsureIn, MinuteOf(rec.CommittedAt))
	}
	return true
}

// UnknownMinutes lists the minutes of the Unsure rows not yet looked up:
// whether an earlier run marked events finished in them.
func (s *Selection) UnknownMinutes() []Minute {
	var out []Minute
	seen := map[Minute]bool{}
	for _, m := range s.unsureIn {
		if _, known := s.priors[m]; !known && !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// Check returns the Unsure rows to check against the finished set: those
// in minutes holding marks. marked lists which of UnknownMinutes hold
// some; the cursor remembers it when the poll is taken.
func (s *Selection) Check(marked map[Minute]bool) []uuid.UUID {
	s.found = map[Minute]bool{}
	for _, m := range s.UnknownMinutes() {
		s.found[m] = marked[m]
	}
	var out []uuid.UUID
	for i, id := range s.Unsure {
		if m := s.unsureIn[i]; s.priors[m] || s.found[m] {
			out = append(out, id)
		}
	}
	return out
}

// Take accepts a poll's selection and returns the records to offer, each
// aggregate's in sequence order. finished lists records a previous run
// finished (they are remembered, not offered). Records that finished while
// the poll ran are not offered again.
func (c *Cursor) Take(sel *Selection, finished map[uuid.UUID]bool) []outbox.Record {
	out := make([]outbox.Record, 0, len(sel.Records))
	for _, rec := range sel.Records {
		if finished[rec.EventID] {
			c.recent[rec.EventID] = rec.CommittedAt
			c.unannouncedIn(rec.CommittedAt)
			continue
		}
		if _, inFlight := c.pending[rec.EventID]; inFlight {
			continue
		}
		if _, done := c.recent[rec.EventID]; done {
			continue
		}
		out = append(out, rec)
	}
	sortEachAggregate(out)
	for _, rec := range out {
		c.pending[rec.EventID] = rec.CommittedAt
		heap.Push(&c.oldest, pendingAt{at: rec.CommittedAt, id: rec.EventID})
	}
	c.frontier = sel.Until
	maps.Copy(c.priors, sel.found)
	// Every row committed before From was settled when the poll started,
	// and settled only grows, so the poll extends it: it saw every row of
	// [From, Until) visible when it started.
	if bound := earlier(sel.Until, sel.settles); bound.After(c.settled) {
		c.settled = bound
	}
	c.advance()
	return out
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sortEachAggregate orders each aggregate's records by sequence in place,
// keeping the slots the aggregate occupies. Commit order is per-aggregate
// order for a single writer; sorting guards against a writer clock that
// stepped back.
func sortEachAggregate(recs []outbox.Record) {
	slots := map[uuid.UUID][]int{}
	for i, rec := range recs {
		slots[rec.AggregateID] = append(slots[rec.AggregateID], i)
	}
	for _, idx := range slots {
		if len(idx) < 2 {
			continue
		}
		group := make([]outbox.Record, len(idx))
		for j, i := range idx {
			group[j] = recs[i]
		}
		sort.SliceStable(group, func(a, b int) bool { return group[a].Sequence < group[b].Sequence })
		for j, i := range idx {
			recs[i] = group[j]
		}
	}
}

// Finished reports an offered record finished (published or durably
// dead-lettered): it no longer holds the cursor back.
func (c *Cursor) Finished(rec outbox.Record) {
	delete(c.pending, rec.EventID)
	c.recent[rec.EventID] = rec.CommittedAt
	c.toMark = append(c.toMark, rec.EventID)
	c.unannouncedIn(rec.CommittedAt)
	c.advance()
}

// unannouncedIn notes the minute of an event marked finished, unless it is
// recorded already.
func (c *Cursor) unannouncedIn(at time.Time) {
	if m := MinuteOf(at); !c.announced[m] {
		c.unannounced[m] = true
	}
}

// advance moves the cursor to the oldest unfinished event, or to where the
// last poll stopped. It runs for every finished event, so it must not walk
// the pending set: the heap gives the oldest in O(log n).
func (c *Cursor) advance() {
	next := c.frontier
	for c.oldest.Len() > 0 {
		top := c.oldest[0]
		if at, ok := c.pending[top.id]; ok && at.Equal(top.at) {
			if top.at.Before(next) {
				next = top.at
			}
			break
		}
		heap.Pop(&c.oldest)
	}
	if next.After(c.at) {
		c.at = next
	}
}

// Forget drops finished events committed before horizon: no poll re-reads
// them any more. Once per poll, not per event.
func (c *Cursor) Forget(horizon time.Time) {
	for id, at := range c.recent {
		if at.Before(horizon) {
			delete(c.recent, id)
		}
	}
}

// TakeMarks returns the finished events not yet recorded in the database
// and forgets them; on a failed write the owner hands them back with
// ReturnMarks.
func (c *Cursor) TakeMarks() []uuid.UUID {
	ids := c.toMark
	c.toMark = nil
	return ids
}

// ReturnMarks puts back events whose recording failed.
func (c *Cursor) ReturnMarks(ids []uuid.UUID) { c.toMark = append(ids, c.toMark...) }

// Unannounced returns the minutes of events marked finished — by this run,
// or by a previous one (found by Take) — not yet recorded as holding
// marks. The owner records them before the marks TakeMarks returns with
// them, so that no mark is durable in a minute a restarted relay would not
// check, and reports it with Announced. Recording the minutes of a previous
// run's marks covers marks of a version that did not record minutes.
func (c *Cursor) Unannounced() []Minute {
	out := make([]Minute, 0, len(c.unannounced))
	for m := range c.unannounced {
		out = append(out, m)
	}
	return out
}

// Announced reports minutes recorded as holding this run's marks.
func (c *Cursor) Announced(ms []Minute) {
	for _, m := range ms {
		c.announced[m] = true
		delete(c.unannounced, m)
	}
}

// InFlight is the number of offered, unfinished events.
func (c *Cursor) InFlight() int { return len(c.pending) }

// Remembered is the number of finished events kept for the re-read window.
func (c *Cursor) Remembered() int { return len(c.recent) }

// pendingAt is a heap entry: an offered event and its commit time.
type pendingAt struct {
	at time.Time
	id uuid.UUID
}

type pendingHeap []pendingAt

func (h pendingHeap) Len() int           { return len(h) }
func (h pendingHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h pendingHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)        { *h = append(*h, x.(pendingAt)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
