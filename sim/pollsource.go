package sim

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/polling"
)

// pollBatch is the polling processor's per-poll limit.
const pollBatch = 1000

// pollSource models the PollingProcessorActor around the real
// polling.Cursor: load the cursor, poll every interval from SafetyWindow
// behind it, check events a previous run may have finished, save the
// cursor and the finished set.
type pollSource struct {
	p        *process
	cursor   *polling.Cursor
	started  time.Time
	saved    time.Time
	saving   bool
	marking  bool
	scanning bool
}

func (s *pollSource) start() {
	s.started = s.p.r.w.now
	s.load()
	s.tick()
}

func (s *pollSource) load() {
	p := s.p
	start := p.r.w.now.Add(-time.Minute)
	p.after(p.r.w.between(time.Millisecond, 10*time.Millisecond), func() {
		if !p.alive {
			return
		}
		if p.r.db.readFail.on(p.r.w.now) {
			p.timer(p.r.s.PollInterval, s.load)
			return
		}
		at := start
		if p.r.db.hasCursor {
			at = p.r.db.cursor
		}
		p.message(func() {
			if s.cursor == nil {
				s.cursor, s.saved = polling.NewCursor(at), at
			}
		})
	})
}

func (s *pollSource) tick() {
	s.p.after(s.p.r.s.PollInterval, func() {
		if !s.p.alive {
			return
		}
		s.p.handle(s.poll)
		s.tick()
	})
}

func (s *pollSource) finished(rec outbox.Record) { s.cursor.Finished(rec) }

func (s *pollSource) creditsFreed() {}

func (s *pollSource) poll() {
	p := s.p
	if s.cursor == nil || s.scanning || p.closing {
		return
	}
	room := p.r.s.MaxInFlight - p.pipe.InFlight()
	if room <= 0 {
		return
	}
	s.scanning = true
	sel := s.cursor.Next(min(room, pollBatch), p.r.w.now, s.started, p.r.s.SafetyWindow)
	p.r.trace("poll", "from", sel.From.Sub(simStart), "seen", sel.Seen.Sub(simStart), "limit", min(room, pollBatch), "cursor", s.cursor.Position().Sub(simStart))
	p.after(p.r.w.between(time.Millisecond, 10*time.Millisecond), func() {
		if !p.alive {
			return
		}
		failed := p.r.db.readFail.on(p.r.w.now)
		finished := map[uuid.UUID]bool{}
		if !failed {
			// The key re-read of rows an earlier poll read, then rows in
			// full from the first one the poll does not know.
			for _, rec := range p.r.db.scan(sel.From, sel.Seen) {
				if !rec.CommittedAt.Before(sel.Seen) || !sel.Reread(rec.CommittedAt, rec.EventID) {
					break
				}
			}
			for _, rec := range p.r.db.scan(sel.ReadFrom, sel.Until) {
				if !sel.Add(rec) {
					break
				}
			}
			marked := map[polling.Minute]bool{}
			for _, m := range sel.UnknownMinutes() {
				marked[m] = p.r.db.minutes[m]
			}
			for _, id := range sel.Check(marked) {
				if p.r.db.finished[id] {
					finished[id] = true
				}
			}
		}
		p.message(func() {
			s.scanning = false
			if failed {
				return
			}
			p.r.trace("selected", len(sel.Records), "until", sel.Until.Sub(simStart))
			taken := s.cursor.Take(sel, finished)
			for _, rec := range taken {
				p.r.trace("take", rec.AggregateID.String()[:4], rec.Sequence, rec.CommittedAt.Sub(simStart))
			}
			for _, rec := range taken {
				p.led.add(rec, nil, false)
			}
			for _, rec := range taken {
				p.pipe.Offer(rec)
			}
		})
	})
}

func (s *pollSource) saveProgress() {
	if s.cursor == nil {
		return
	}
	s.saveCursor()
	s.flushFinished()
}

// restarted clears what a reply lost with the old actor instance would
// have cleared.
func (s *pollSource) restarted() {
	s.scanning, s.saving, s.marking = false, false, false
	if s.cursor == nil {
		s.load()
	}
}

func (s *pollSource) saveCursor() {
	p := s.p
	at := s.cursor.Position()
	if s.saving || !at.After(s.saved) {
		return
	}
	s.saving = true
	p.after(p.r.w.between(time.Millisecond, 10*time.Millisecond), func() {
		if !p.up() {
			return
		}
		err := p.r.db.saveCursor(p.epoch, at)
		p.message(func() {
			s.saving = false
			switch {
			case errors.Is(err, leader.ErrFenced):
				p.fenced(err, "a progress write was rejected")
			case err == nil && at.After(s.saved):
				// A final save may have overtaken this one.
				s.saved = at
			}
		})
	})
}

// finalSave is saveCursorNow: the cursor, then the finished set.
func (s *pollSource) finalSave() error {
	if s.cursor == nil {
		return nil
	}
	var err error
	if at := s.cursor.Position(); at.After(s.saved) {
		if err = s.p.r.db.saveCursor(s.p.epoch, at); err == nil {
			s.saved = at
		}
	}
	if ms, ids := s.cursor.Unannounced(), s.cursor.TakeMarks(); len(ids) > 0 || len(ms) > 0 {
		if merr := s.p.r.db.markFinished(ms, ids); merr != nil {
			s.cursor.ReturnMarks(ids)
			err = errors.Join(err, merr)
		} else {
			s.cursor.Announced(ms)
		}
	}
	return err
}

func (s *pollSource) flushFinished() {
	p := s.p
	if s.marking {
		return
	}
	ms, ids := s.cursor.Unannounced(), s.cursor.TakeMarks()
	if len(ids) == 0 && len(ms) == 0 {
		return
	}
	s.marking = true
	p.after(p.r.w.between(time.Millisecond, 10*time.Millisecond), func() {
		if !p.up() {
			return
		}
		ok := p.r.db.markFinished(ms, ids) == nil
		p.message(func() {
			s.marking = false
			if !ok {
				s.cursor.ReturnMarks(ids)
				return
			}
			s.cursor.Announced(ms)
		})
	})
}
