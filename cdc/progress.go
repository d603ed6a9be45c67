package cdc

import (
	"github.com/gocql/gocql"
	scyllacdc "github.com/scylladb/scylla-cdc-go"
)

// StreamProgress is the bookkeeping of one CDC stream, with no I/O: the
// changes delivered to the relay, in cdc$time order, and how many of their
// records are unfinished. Progress may be saved up to the end of the
// finished prefix and never past a change with a record in flight, so a
// restarted reader re-reads every unfinished record. The consumer guards it
// with its own lock; the fault simulator drives it directly.
type StreamProgress struct {
	pending []*PendingChange // delivered, unfinished or behind an unfinished one; cdc$time order
	// idle is the newest window end known to hold nothing undelivered; it
	// is where progress may move once nothing is pending.
	idle    gocql.UUID
	hasIdle bool
	saved   gocql.UUID
	// due is the newest position ToSave handed out: kept until Saved
	// covers it, because ToSave drops the finished prefix it came from
	// and a failed save must be able to try again.
	due gocql.UUID
	// last is the newest change committed, delivered says there is one.
	last      gocql.UUID
	delivered bool
}

// PendingChange is one delivered change (a logged batch, one cdc$time) and
// the number of its records not yet finished.
type PendingChange struct {
	Time gocql.UUID
	left int
}

// Fresh reports whether the change logged at `at` is to be delivered:
// false for a change at or before one already committed (a re-read after a
// reader restart), whose records are in flight or finished and must not be
// delivered again. A fresh change's n records are handed to the relay as a
// PendingChange{Time: at} with n left, each reported later with Finish;
// Commit it once all are handed over. A change whose delivery fails
// halfway is not committed, so it is delivered whole when read again.
func (s *StreamProgress) Fresh(at gocql.UUID) bool {
	return !s.delivered || scyllacdc.CompareTimeUUID(at, s.last) > 0
}

// Commit records a change whose records were all handed over.
func (s *StreamProgress) Commit(p *PendingChange) {
	s.pending = append(s.pending, p)
	s.last, s.delivered = p.Time, true
	s.hasIdle = false
}

// Finish reports one record of p finished (published or durably
// dead-lettered).
func (s *StreamProgress) Finish(p *PendingChange) { p.left-- }

// Empty records that the stream holds nothing undelivered up to at (an
// empty query window): with nothing pending, progress may move there.
func (s *StreamProgress) Empty(at gocql.UUID) {
	if len(s.pending) == 0 {
		s.idle, s.hasIdle = at, true
	}
}

// ToSave drops the finished prefix and returns the position progress may
// be saved at, if it moved since the last Saved.
func (s *StreamProgress) ToSave() (gocql.UUID, bool) {
	var upTo gocql.UUID
	found := false
	done := 0
	for _, p := range s.pending {
		if p.left > 0 {
			break
		}
		upTo, found = p.Time, true
		done++
	}
	s.pending = s.pending[done:]
	if len(s.pending) == 0 && s.hasIdle {
		upTo, found = s.idle, true
	}
	if found && scyllacdc.CompareTimeUUID(upTo, s.due) > 0 {
		s.due = upTo
	}
	if scyllacdc.CompareTimeUUID(s.due, s.saved) <= 0 {
		return gocql.UUID{}, false
	}
	return s.due, true
}

// Saved records that progress at was written.
func (s *StreamProgress) Saved(at gocql.UUID) {
	if scyllacdc.CompareTimeUUID(at, s.saved) > 0 {
		s.saved = at
	}
}

// Unfinished reports whether a delivered record is not finished yet.
func (s *StreamProgress) Unfinished() bool {
	for _, p := range s.pending {
		if p.left > 0 {
			return true
		}
	}
	return false
}
