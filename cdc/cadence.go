package cdc

import (
	"context"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

// cadence is when a stream group queries the log again after a query that
// returned nothing, as pure arithmetic. scylla-cdc-go computes the next
// query's window right after a query and only then sleeps, so with its own
// post-empty delay D a change committed just after that computation waits
// for the query after next: up to 2×D. The pause taken here comes before
// the library computes the window (the consumer's Empty is called first),
// so a change waits at most one pause.
//
// A pause lasts the period. The period is Active while any group read a
// change within IdleAfter, Idle otherwise: an idle relay queries rarely, and
// the first change read turns every group back to the active period. With
// Align, pauses end on a shared grid instead — the next multiple of the
// period — so the stream groups query together and their changes reach the
// relay in one clump per period: one wake-up of the processor and one
// producer batch instead of one per group.
type cadence struct {
	Active    time.Duration
	Idle      time.Duration
	IdleAfter time.Duration
	Align     bool
}

// period is the pause grid at now, given when a change was last read.
func (c cadence) period(now, lastRead time.Time) time.Duration {
	if c.Idle > c.Active && c.IdleAfter > 0 && now.Sub(lastRead) >= c.IdleAfter {
		return c.Idle
	}
	return c.Active
}

// next is the end of a pause starting at now (with Align, the next point of
// the grid strictly after now). A zero period means no pause.
func (c cadence) next(now, lastRead time.Time) time.Time {
	p := c.period(now, lastRead)
	switch {
	case p <= 0:
		return now
	case c.Align:
		return now.Truncate(p).Add(p)
	}
	return now.Add(p)
}

// pacer takes the pauses of one reader's stream groups. The library calls
// Empty on every consumer of a group after an empty query, one after the
// other with the same window end; the first call pauses, the others find
// the window end already paused for and return at once.
type pacer struct {
	cadence cadence
	clock   func() time.Time
	// after is time.After, replaceable in tests.
	after func(time.Duration) <-chan time.Time

	mu       sync.Mutex
	lastRead time.Time
	// wake is closed, and replaced, when an idle reader reads a change
	// (pauses on the idle grid move to the active one) and at stop.
	wake    chan struct{}
	stopped bool
	// paused maps window ends paused for to the end of their pause; an
	// entry is dropped once its pause is over by a period (the group's
	// other consumers come right after it ends), at most once a period.
	paused map[gocql.UUID]time.Time
	pruned time.Time
}

func newPacer(c cadence, clock func() time.Time) *pacer {
	return &pacer{cadence: c, clock: clock, after: time.After, lastRead: clock(),
		wake: make(chan struct{}), paused: map[gocql.UUID]time.Time{}}
}

// read records that a group read a change; an idle reader turns active and
// its paused groups move to the active grid.
func (p *pacer) read() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()
	idle := p.cadence.period(now, p.lastRead) != p.cadence.Active
	p.lastRead = now
	if idle {
		close(p.wake)
		p.wake = make(chan struct{})
	}
}

// stop ends every pause at once and makes later ones return at once: the
// reader is stopping.
func (p *pacer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		close(p.wake)
	}
}

// pause blocks after an empty query whose window ended at `at`, until the
// cadence's next grid point, ctx's end or stop.
func (p *pacer) pause(ctx context.Context, at gocql.UUID) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	if _, ok := p.paused[at]; ok {
		p.mu.Unlock()
		return
	}
	now := p.clock()
	if now.Sub(p.pruned) > p.cadence.Active {
		p.pruned = now
		for w, until := range p.paused {
			if now.Sub(until) > p.cadence.Active {
				delete(p.paused, w)
			}
		}
	}
	until := p.cadence.next(now, p.lastRead)
	p.paused[at] = until
	wake := p.wake
	p.mu.Unlock()
	for {
		select {
		case <-p.after(until.Sub(now)):
			return
		case <-ctx.Done():
			return
		case <-wake:
		}
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		now = p.clock()
		if next := p.cadence.next(now, p.lastRead); next.Before(until) {
			until = next
		}
		wake = p.wake
		p.mu.Unlock()
	}
}
