package sim

import (
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/relay"
)

// Result is what a run did and which invariants it broke.
type Result struct {
	Scenario Scenario
	// Violations are the broken invariants; empty means the run passed.
	Violations                                  []string
	Events, Published, DeadLettered, Duplicates int
	Crashes, Panics                             int
	// Switches counts CDC generation switches the relay made durable.
	Switches int
	// Republished counts the publishes the relay reported as possible
	// duplicates.
	Republished int
	// Took is the virtual time the run needed to settle.
	Took time.Duration
}

// Failed reports whether an invariant broke.
func (r Result) Failed() bool { return len(r.Violations) > 0 }

// run is one simulation: the world, the relay's current incarnation, and
// what the checks need to know.
type run struct {
	s      Scenario
	w      *world
	db     *db
	broker *broker
	proc   *process

	published   map[uuid.UUID]int // Publish effects, for reports
	allowance   map[uuid.UUID]int // re-publishes a crash made unavoidable
	republished map[uuid.UUID]int // re-publishes the relay counted
	crashes     int
	panics      int
	switches    int
	violations  []string
	out         io.Writer
}

// trace writes one line of the run's trace, if it is traced. A line that
// cannot be written is dropped: the trace is a debugging aid, and the run
// it describes must not depend on it.
func (r *run) trace(what string, args ...any) {
	if r.out != nil {
		_, _ = fmt.Fprintf(r.out, "%12s %-12s %s", r.w.now.Sub(epoch).Round(time.Microsecond), what, fmt.Sprintln(args...))
	}
}

// settleLimit is how long after the last fault the relay has to publish or
// dead-letter everything.
const settleLimit = 15 * time.Minute

// Run simulates the scenario and checks the invariants.
func Run(s Scenario) Result { return RunTraced(s, nil) }

// RunTraced is Run, writing a trace of the relay's steps (polls, offers,
// publishes, faults) to out: what to read when a seed fails.
func RunTraced(s Scenario, out io.Writer) Result {
	w := newWorld(s.Seed*2 + 1)
	r := &run{s: s, w: w, out: out, published: map[uuid.UUID]int{}, allowance: map[uuid.UUID]int{}, republished: map[uuid.UUID]int{}}
	r.db = newDB(w, s.Streams)
	r.db.trace = r.trace
	r.broker = &broker{w: w, db: r.db}
	r.db.workload(s)
	quiet := epoch.Add(s.WritePhase)
	for _, f := range s.Faults {
		r.schedule(f)
		if end := epoch.Add(f.At + f.Dur); end.After(quiet) {
			quiet = end
		}
	}
	r.proc = r.startProcess()
	deadline := quiet.Add(settleLimit)
	settledAt := time.Time{}
	for w.step(deadline) {
		if w.now.Before(quiet) || !r.proc.alive {
			continue
		}
		if r.pending() > 0 {
			settledAt = time.Time{}
			continue
		}
		if settledAt.IsZero() {
			settledAt = w.now
		}
		// A little longer, so progress saved after the last event counts.
		if w.now.Sub(settledAt) > 5*time.Second {
			break
		}
	}
	r.check()
	res := Result{Scenario: s, Violations: r.violations, Events: len(r.db.events), Crashes: r.crashes, Panics: r.panics,
		DeadLettered: len(r.db.dlq), Took: w.now.Sub(epoch), Switches: r.switches}
	for _, n := range r.republished {
		res.Republished += n
	}
	seen := map[uuid.UUID]bool{}
	for _, c := range r.broker.log {
		if seen[c.id] {
			res.Duplicates++
		} else {
			res.Published++
		}
		seen[c.id] = true
	}
	return res
}

// schedule turns a fault into windows and actions.
func (r *run) schedule(f Fault) {
	r.w.after(f.At, func() { r.trace("fault", f.Kind, f.Dur) })
	from := epoch.Add(f.At)
	win := window{from: from, to: from.Add(f.Dur)}
	switch f.Kind {
	case BrokerDown:
		r.broker.down = append(r.broker.down, win)
	case AckLoss:
		r.broker.ackLoss = append(r.broker.ackLoss, win)
	case AckDelay:
		r.broker.ackSlow = append(r.broker.ackSlow, win)
	case DLQWriteFail:
		r.db.dlqFail = append(r.db.dlqFail, win)
	case ProgressWriteFail:
		r.db.progressFail = append(r.db.progressFail, win)
	case ReadFail:
		r.db.readFail = append(r.db.readFail, win)
	case DLQLoadFail:
		r.db.dlqLoadFail = append(r.db.dlqLoadFail, win)
	case Panic:
		r.w.after(f.At, func() { r.proc.panicky = true })
	case ReaderRestart:
		r.w.after(f.At, func() {
			if src, ok := r.proc.src.(*cdcSource); ok && r.proc.alive && src.lib != nil && src.lib.alive {
				src.lib.fail(fmt.Errorf("sim: reader error"))
			}
		})
	case GenerationSwitch:
		r.w.after(f.At, func() {
			r.db.addGeneration(r.w.now.Add(generationLead), r.s.Streams)
			r.trace("generation", "starts at", generationLead)
		})
	case Crash:
		r.w.after(f.At, func() {
			if !r.proc.alive {
				return
			}
			r.crash()
			r.w.after(f.Dur, func() {
				r.trace("restart")
				r.proc = r.startProcess()
			})
		})
	}
}

// crash kills the relay process: in-memory state is gone, durable state
// stays. Every event a restart will read again may be published again.
func (r *run) crash() {
	r.crashes++
	r.proc.alive = false
	if src, ok := r.proc.src.(*cdcSource); ok && src.lib != nil {
		src.lib.stop(false)
	}
	for _, e := range r.db.events {
		if !r.covered(e) {
			r.allowance[e.rec.EventID]++
		}
	}
}

// covered reports whether durable progress keeps a restarted relay from
// reading e again.
func (r *run) covered(e *event) bool {
	d := r.db
	if r.s.Processor == "polling" {
		return d.finished[e.rec.EventID] || (d.hasCursor && e.rec.CommittedAt.Before(d.cursor.Add(-r.s.SafetyWindow)))
	}
	if d.gens[e.gen].start.Before(d.currentGen) {
		return true
	}
	saved, ok := d.progress[progressKey(d.gens[e.gen].start, e.stream)]
	if !ok {
		return false
	}
	for _, c := range d.logs[e.stream] {
		for _, ce := range c.events {
			if ce == e {
				return scyllacdc.CompareTimeUUID(saved, c.time) >= 0
			}
		}
	}
	return false
}

// pending counts committed events neither published nor dead-lettered,
// plus writes still to come.
func (r *run) pending() int {
	n := 0
	inLog := r.inLog()
	for _, e := range r.db.events {
		if !inLog[e.rec.EventID] {
			if _, ok := r.db.dlq[e.rec.EventID]; !ok {
				n++
			}
		}
	}
	return n + (r.s.Events - len(r.db.events))
}

func (r *run) inLog() map[uuid.UUID]bool {
	in := make(map[uuid.UUID]bool, len(r.broker.log))
	for _, c := range r.broker.log {
		in[c.id] = true
	}
	return in
}

func (r *run) violate(format string, args ...any) {
	if len(r.violations) < 20 {
		r.violations = append(r.violations, fmt.Sprintf("at %s: ", r.w.now.Sub(epoch))+fmt.Sprintf(format, args...))
	}
}

// checkBounds runs after every actor message: memory stays bounded by the
// in-flight limit (one batch of two events may overdraw it by one).
func (r *run) checkBounds(p *process) {
	if n := p.pipe.InFlight(); n > r.s.MaxInFlight+1 {
		r.violate("memory: %d events in flight, limit %d", n, r.s.MaxInFlight)
	}
}

// check verifies the invariants at the end of the run.
func (r *run) check() {
	copies := map[uuid.UUID]int{}
	for _, c := range r.broker.log {
		copies[c.id]++
	}
	for _, e := range r.db.events {
		id := e.rec.EventID
		dl, inDLQ := r.db.dlq[id]
		switch {
		case copies[id] == 0 && !inDLQ:
			r.violate("lost: %s seq %d of %s (malformed %v, poison %v) neither published nor dead-lettered", id, e.rec.Sequence, e.rec.AggregateID, e.malformed, e.poison)
		case copies[id] > 0 && inDLQ:
			r.violate("both published and dead-lettered (%s): %s", dl.kind, id)
		}
		if inDLQ {
			r.checkDeadLetter(e, dl)
		}
		if extra := copies[id] - 1; extra > r.allowance[id]+r.republished[id] {
			r.violate("unexplained duplicate: %s published %d times, %d crash re-reads and %d counted re-publishes explain %d",
				id, copies[id], r.allowance[id], r.republished[id], r.allowance[id]+r.republished[id])
		}
	}
	r.checkOrder()
}

// checkDeadLetter: an entry only for poison, for retriable rejections while
// the broker acknowledged others, for a malformed row, or held behind one of
// those under the hold policy.
func (r *run) checkDeadLetter(e *event, dl deadLetter) {
	ok := false
	switch dl.kind {
	case relay.KindPermanent:
		ok = e.poison
	case relay.KindExhausted:
		ok = e.rejected >= r.s.Retry.MaxAttempts
	case relay.KindHeld:
		ok = r.s.Policy == relay.Hold && r.earlierDeadLetter(e)
	case "malformed":
		ok = e.malformed
	}
	if !ok {
		r.violate("dead-lettered as %s without cause: %s seq %d (poison %v, malformed %v, %d retriable rejections)",
			dl.kind, e.rec.EventID, e.rec.Sequence, e.poison, e.malformed, e.rejected)
	}
}

func (r *run) earlierDeadLetter(e *event) bool {
	for _, o := range r.db.events {
		if o.rec.AggregateID == e.rec.AggregateID && o.rec.Sequence < e.rec.Sequence {
			if _, ok := r.db.dlq[o.rec.EventID]; ok {
				return true
			}
		}
	}
	return false
}

// checkOrder: first deliveries of each aggregate in sequence order; under
// the hold policy nothing after a dead-lettered event.
func (r *run) checkOrder() {
	last := map[uuid.UUID]int64{}
	seen := map[uuid.UUID]bool{}
	held := map[uuid.UUID]int64{}
	if r.s.Policy == relay.Hold {
		for _, e := range r.db.events {
			if _, ok := r.db.dlq[e.rec.EventID]; ok {
				if s, has := held[e.rec.AggregateID]; !has || e.rec.Sequence < s {
					held[e.rec.AggregateID] = e.rec.Sequence
				}
			}
		}
	}
	for _, c := range r.broker.log {
		if seen[c.id] || c.agg == uuid.Nil {
			continue
		}
		seen[c.id] = true
		if prev, ok := last[c.agg]; ok && c.seq <= prev {
			r.violate("reordered: %s published sequence %d after %d", c.agg, c.seq, prev)
		}
		last[c.agg] = c.seq
		if s, ok := held[c.agg]; ok && c.seq > s {
			r.violate("hold broken: %s published sequence %d after sequence %d was dead-lettered", c.agg, c.seq, s)
		}
	}
}

// Summary describes the run in one line.
func (r Result) Summary() string {
	return fmt.Sprintf("seed %d: %d events, %d published, %d dead-lettered, %d duplicates (%d reported re-publishes), %d crashes, %d panics, %d generation switches, settled in %s",
		r.Scenario.Seed, r.Events, r.Published, r.DeadLettered, r.Duplicates, r.Republished, r.Crashes, r.Panics, r.Switches, r.Took.Round(time.Millisecond))
}
