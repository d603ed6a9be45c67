package sim

import (
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
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
	// Runs with two relays: processors started after the first
	// (Failovers), progress writes the epoch store rejected (Rejected),
	// publishes by a processor whose epoch was no longer the newest
	// (ZombiePublishes), pauses, and drains that handed over with nothing
	// in flight and their progress saved (CleanHandovers).
	Failovers, Rejected, ZombiePublishes, Pauses, CleanHandovers int
	// FencedDeadLetters counts dead letters the DlqActor dropped, unwritten,
	// because their writer's epoch check found a newer epoch (each fences
	// its processor).
	FencedDeadLetters int
	// RacedDeadLetters counts dead letters written under an epoch a newer
	// one had replaced, their epoch check having passed before the newer
	// epoch was taken (check and write are two steps). Their consequences,
	// the only ones allowed: RacedPublished counts those whose event was
	// published too (by the new leader, which had not seen the entry), and
	// RacedHolds the events the hold policy should have kept back behind
	// one, published first by a relay whose dead-letter index did not
	// hold it yet.
	RacedDeadLetters, RacedPublished, RacedHolds int
	// Conflicts counts events a zombie published after a newer leader
	// dead-lettered them (publishes cannot be fenced).
	Conflicts int
	// Deferred counts retries a relay handled late, after a pause, and
	// deferred to hear from the group first instead of taking an epoch.
	Deferred int
	// RevokeRaces counts epochs asked for by a relay the group had
	// replaced, on a retry handled just before the Revoked its elector had
	// sent.
	RevokeRaces int
	// Took is the virtual time the run needed to settle.
	Took time.Duration
}

// Failed reports whether an invariant broke.
func (r Result) Failed() bool { return len(r.Violations) > 0 }

// run is one simulation: the world, the relay's current incarnation (or
// the relays and their group), and what the checks need to know.
type run struct {
	s      Scenario
	broken breakage
	w      *world
	db     *db
	broker *broker
	proc   *process // the lone relay's

	nodes        [2]*node
	incarnations [2]int
	group        *group

	// The epochs taken (by whom) and the processor started under each.
	newest      leader.Epoch
	epochOwner  map[leader.Epoch]*node
	epochTerm   map[leader.Epoch]leader.Term
	procs       map[leader.Epoch]*process
	zombie      int
	pauses      int
	deferred    int
	revokeRaces int
	conflicts   int
	// fencedDeadLetters counts dead letters refused by their epoch check,
	// racedPublished raced dead letters whose event was published too.
	fencedDeadLetters int
	racedPublished    int
	racedHolds        int

	published   map[uuid.UUID]int // Publish effects, for reports
	allowance   map[uuid.UUID]int // re-publishes a crash, a takeover or a zombie made unavoidable
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
		_, _ = fmt.Fprintf(r.out, "%12s %-12s %s", r.w.now.Sub(simStart).Round(time.Microsecond), what, fmt.Sprintln(args...))
	}
}

// settleLimit is how long after the last fault the relay has to publish or
// dead-letter everything.
const settleLimit = 15 * time.Minute

// Run simulates the scenario and checks the invariants.
func Run(s Scenario) Result { return RunTraced(s, nil) }

// RunTraced is Run, writing a trace of the relay's steps (polls, offers,
// publishes, faults) to out: what to read when a seed fails.
func RunTraced(s Scenario, out io.Writer) Result { return runWith(s, out, breakage{}) }

// breakage is what a test breaks on purpose, for the invariants to catch.
type breakage struct {
	// fencing: the epoch store applies progress writes of stale epochs.
	fencing bool
	// pauseRule: the relays act on a retry however late they handle it
	// (leader.Config.PauseTolerance zero).
	pauseRule bool
	// deadLetterFence: the DlqActor writes without checking the writer's
	// epoch first (WriteDeadLetter.Fence nil: the code before dead letters
	// were fenced).
	deadLetterFence bool
	// checkGap, if set, is the longest time between a dead letter's epoch
	// check and its write (10 ms otherwise), to widen the window the
	// fence leaves.
	checkGap time.Duration
}

// runWith is RunTraced with the breakage b.
func runWith(s Scenario, out io.Writer, b breakage) Result {
	w := newWorld(s.Seed*2 + 1)
	r := &run{s: s, w: w, out: out, broken: b, published: map[uuid.UUID]int{}, allowance: map[uuid.UUID]int{}, republished: map[uuid.UUID]int{},
		epochOwner: map[leader.Epoch]*node{}, epochTerm: map[leader.Epoch]leader.Term{}, procs: map[leader.Epoch]*process{}}
	r.db = newDB(w, s.Streams)
	r.db.trace = r.trace
	r.db.acceptStale = b.fencing
	r.db.applied = r.progressApplied
	r.db.backwards = func(what string, from, to any) {
		r.violate("progress moved backwards: %s from %v to %v", what, from, to)
	}
	r.broker = &broker{w: w, db: r.db}
	r.group = &group{r: r}
	r.db.workload(s)
	quiet := simStart.Add(s.WritePhase)
	for _, f := range s.Faults {
		r.schedule(f)
		if end := simStart.Add(f.At + f.Dur); end.After(quiet) {
			quiet = end
		}
	}
	if s.Relays > 1 {
		for slot := range r.nodes {
			r.startNode(slot)
		}
	} else {
		r.proc = r.startProcess(nil, r.soloEpoch())
	}
	deadline := quiet.Add(settleLimit)
	settledAt := time.Time{}
	for w.step(deadline) {
		if w.now.Before(quiet) || !r.serving() {
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
	if !r.serving() {
		r.violate("no relay is active at the end")
	}
	r.check()
	res := Result{Scenario: s, Violations: r.violations, Events: len(r.db.events), Crashes: r.crashes, Panics: r.panics,
		DeadLettered: len(r.db.dlq), Took: w.now.Sub(simStart), Switches: r.switches,
		Rejected: r.db.rejected, ZombiePublishes: r.zombie, Pauses: r.pauses, Deferred: r.deferred, RevokeRaces: r.revokeRaces, Conflicts: r.conflicts,
		FencedDeadLetters: r.fencedDeadLetters, RacedPublished: r.racedPublished, RacedHolds: r.racedHolds}
	if s.Relays > 1 {
		res.Failovers = len(r.procs) - 1
	}
	for _, p := range r.procs {
		if p.clean {
			res.CleanHandovers++
		}
	}
	for _, dl := range r.db.dlq {
		if dl.raced {
			res.RacedDeadLetters++
		}
	}
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
	from := simStart.Add(f.At)
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
		r.w.after(f.At, func() {
			if p := r.current(); p != nil {
				p.panicky = true
			}
		})
	case ReaderRestart:
		r.w.after(f.At, func() {
			p := r.current()
			if p == nil {
				return
			}
			if src, ok := p.src.(*cdcSource); ok && p.alive && src.lib != nil && src.lib.alive {
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
				r.proc = r.startProcess(nil, r.soloEpoch())
			})
		})
	case Pause:
		r.w.after(f.At, func() {
			n := r.target()
			if other := r.nodes[1-n.slot]; other.alive && r.w.chance(0.2) {
				n = other
			}
			r.pauses++
			n.pause(f.Dur)
		})
	case KillActive:
		r.w.after(f.At, func() {
			if n := r.target(); n.alive {
				r.crashes++
				n.kill(f.Dur)
			}
		})
	case Handover:
		r.w.after(f.At, func() {
			n := r.target()
			n.restartAfter = f.Dur
			n.tell(n.shutdown)
		})
	case GroupDown:
		r.group.down = append(r.group.down, win)
		r.w.after(f.At+f.Dur, r.group.downEnded)
	case GroupCut:
		r.w.after(f.At, func() {
			n := r.target()
			n.cut = append(n.cut, window{from: r.w.now, to: r.w.now.Add(f.Dur)})
		})
	}
}

// soloEpoch is the epoch the lone relay takes as it starts: the group of
// one elects it at once.
func (r *run) soloEpoch() leader.Epoch {
	r.db.epoch++
	r.db.holder = leader.Holder{Epoch: r.db.epoch, Member: "relay", Since: r.w.now}
	r.epochTaken(nil, r.db.epoch)
	return r.db.epoch
}

// target is the relay a fault strikes: the active one (the newest epoch's
// if two think they are), else one that is alive, else either.
func (r *run) target() *node {
	var alive *node
	for _, n := range r.nodes {
		if n.alive && n.proc != nil && n.proc.alive && n.proc.epoch == r.newest {
			return n
		}
		if n.alive && alive == nil {
			alive = n
		}
	}
	if alive != nil {
		return alive
	}
	return r.nodes[0]
}

// current is the processor a processor fault strikes.
func (r *run) current() *process {
	if r.s.Relays == 1 {
		return r.proc
	}
	if n := r.target(); n.alive && n.proc != nil {
		return n.proc
	}
	return nil
}

// serving reports whether a relay is active under the newest epoch.
func (r *run) serving() bool {
	if r.s.Relays == 1 {
		return r.proc.alive
	}
	for _, n := range r.nodes {
		if n.alive && !r.w.now.Before(n.pausedUntil) && n.proc != nil && n.proc.alive && n.proc.epoch == r.newest && n.m.Role() == leader.Active {
			return true
		}
	}
	return false
}

// epochTaken records that n (nil: the lone relay) took epoch e.
func (r *run) epochTaken(n *node, e leader.Epoch) {
	if e <= r.newest {
		r.violate("epoch %d taken after epoch %d", e, r.newest)
	}
	r.newest = e
	r.epochOwner[e] = n
	if n != nil {
		r.trace("epoch", n.name, e)
	}
}

// processorStarted checks that a processor starts only under an epoch its
// relay took, one processor per epoch; a processor that starts after
// another ran may read again what that one published.
func (r *run) processorStarted(p *process) {
	if owner, ok := r.epochOwner[p.epoch]; !ok || owner != p.node {
		r.violate("a processor started under epoch %d, which its relay did not take", p.epoch)
	}
	if _, ok := r.procs[p.epoch]; ok {
		r.violate("a second processor started under epoch %d", p.epoch)
	}
	r.procs[p.epoch] = p
	if p.node == nil {
		return
	}
	r.trace("processor", p.node.name, p.epoch, "newest", r.newest)
	for _, e := range r.db.events {
		if r.published[e.rec.EventID] > 0 && !r.covered(e) {
			r.allowance[e.rec.EventID]++
		}
	}
	r.checkOverlap()
}

// publishing checks a publish: in runs with two relays only the current
// processor of an active relay publishes, under its relay's epoch. One
// whose epoch a newer one replaced (a zombie that has not learned yet)
// may still publish; those publishes are the duplicates a takeover
// allows. It reports whether p is such a zombie.
func (r *run) publishing(p *process, rec outbox.Record) bool {
	r.published[rec.EventID]++
	n := p.node
	if n == nil {
		return false
	}
	if !p.alive || n.proc != p || !n.serves(p) {
		r.violate("relay %s publishes %s under epoch %d while it is %s under epoch %d", n.name, rec.EventID, p.epoch, n.m.Role(), n.m.Epoch())
	}
	r.checkOverlap()
	if p.epoch < r.newest {
		r.zombie++
		r.allowance[rec.EventID]++
		return true
	}
	return false
}

// checkOverlap: at most one processor runs under the newest epoch, and a
// processor under an older one runs only while its relay has not learned
// (it is still active under that epoch); its writes are rejected.
func (r *run) checkOverlap() {
	current := 0
	for _, n := range r.nodes {
		if !n.alive || n.proc == nil || !n.proc.alive {
			continue
		}
		p := n.proc
		switch {
		case p.epoch == r.newest:
			current++
		case !p.halted && !n.serves(p):
			r.violate("relay %s is %s under epoch %d, yet its processor of epoch %d runs", n.name, n.m.Role(), n.m.Epoch(), p.epoch)
		}
	}
	if current > 1 {
		r.violate("%d processors run under the newest epoch %d", current, r.newest)
	}
}

// progressApplied checks every progress write the epoch store applied: no
// write of an epoch older than the newest taken.
func (r *run) progressApplied(e leader.Epoch, what string) {
	if e < r.newest {
		r.violate("stale progress write applied: %s under epoch %d after epoch %d was taken", what, e, r.newest)
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
		r.violations = append(r.violations, fmt.Sprintf("at %s: ", r.w.now.Sub(simStart))+fmt.Sprintf(format, args...))
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
	// older: every copy of the event was sent by a zombie, under an epoch
	// older than its dead letter's.
	older := map[uuid.UUID]bool{}
	for _, c := range r.broker.log {
		copies[c.id]++
		dl, inDLQ := r.db.dlq[c.id]
		older[c.id] = inDLQ && c.zombie && c.epoch < dl.epoch && (copies[c.id] == 1 || older[c.id])
	}
	for _, e := range r.db.events {
		id := e.rec.EventID
		dl, inDLQ := r.db.dlq[id]
		switch {
		case copies[id] == 0 && !inDLQ:
			r.violate("lost: %s seq %d of %s (malformed %v, poison %v) neither published nor dead-lettered", id, e.rec.Sequence, e.rec.AggregateID, e.malformed, e.poison)
		case copies[id] > 0 && inDLQ && dl.raced:
			// A stale leader's dead letter passed its epoch check just
			// before the new leader took its epoch and landed after the
			// new leader loaded the index: the new leader published it.
			r.racedPublished++
		case copies[id] > 0 && inDLQ && older[id]:
			// A zombie published, before it learned, an event the newer
			// leader dead-lettered: a publish cannot be fenced.
			r.conflicts++
		case copies[id] > 0 && inDLQ:
			r.violate("both published and dead-lettered (%s, epoch %d): %s", dl.kind, dl.epoch, id)
		}
		if inDLQ {
			r.checkDeadLetter(e, dl)
		}
		if extra := copies[id] - 1; extra > r.allowance[id]+r.republished[id] {
			r.violate("unexplained duplicate: %s published %d times, %d re-reads (crash, takeover, zombie) and %d counted re-publishes explain %d",
				id, copies[id], r.allowance[id], r.republished[id], r.allowance[id]+r.republished[id])
		}
	}
	r.checkOrder()
	r.checkCopies()
	r.checkHandovers()
}

// checkCopies: every copy in the topic is a committed event as committed,
// so a duplicate is the same event again under the same id.
func (r *run) checkCopies() {
	for _, c := range r.broker.log {
		e := r.db.byID[c.id]
		switch {
		case e == nil:
			r.violate("published %s, which nobody committed", c.id)
		case c.agg != e.rec.AggregateID || c.seq != e.rec.Sequence:
			r.violate("a copy of %s differs from the event: aggregate %s sequence %d, committed %s sequence %d", c.id, c.agg, c.seq, e.rec.AggregateID, e.rec.Sequence)
		}
	}
}

// checkHandovers: after a clean graceful handover (the processor drained
// with nothing left in flight and saved its progress) no later processor
// publishes an event the drained one published.
func (r *run) checkHandovers() {
	by := map[uuid.UUID][]leader.Epoch{}
	for _, c := range r.broker.log {
		by[c.id] = append(by[c.id], c.epoch)
	}
	for _, c := range r.broker.log {
		p := r.procs[c.epoch]
		if p == nil || !p.clean {
			continue
		}
		for _, e := range by[c.id] {
			if e > c.epoch {
				r.violate("published twice across a graceful handover: %s by epoch %d, which drained cleanly, then by epoch %d", c.id, c.epoch, e)
				by[c.id] = nil
				break
			}
		}
	}
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
// the hold policy nothing after a dead-lettered event. The exceptions: a
// zombie publishing, before it learns, what a newer leader dead-lettered
// and moved past; and the new leader publishing past a raced dead letter
// before it loads an index that holds it (it does not read the event
// again when the zombie marked it finished in relay_finished). An event
// both published and in the DLQ (raced) holds nothing back: it was
// delivered.
func (r *run) checkOrder() {
	last := map[uuid.UUID]int64{}
	seen := map[uuid.UUID]bool{}
	held := map[uuid.UUID]deadLetter{}
	inLog := r.inLog()
	for _, e := range r.db.events {
		dl, ok := r.db.dlq[e.rec.EventID]
		if !ok || r.s.Policy != relay.Hold || (dl.raced && inLog[e.rec.EventID]) {
			continue
		}
		if b, has := held[e.rec.AggregateID]; !has || e.rec.Sequence < b.rec.Sequence {
			held[e.rec.AggregateID] = dl
		}
	}
	for _, c := range r.broker.log {
		if seen[c.id] || c.agg == uuid.Nil {
			continue
		}
		seen[c.id] = true
		dl, inDLQ := r.db.dlq[c.id]
		if prev, ok := last[c.agg]; ok && c.seq <= prev && !(c.zombie && inDLQ && c.epoch < dl.epoch) {
			r.violate("reordered: %s published sequence %d after %d", c.agg, c.seq, prev)
		}
		last[c.agg] = max(last[c.agg], c.seq)
		b, ok := held[c.agg]
		switch {
		case !ok || c.seq <= b.rec.Sequence || c.zombie && c.epoch < b.epoch:
		case b.raced && c.epoch != b.epoch && c.indexed < b.n:
			r.racedHolds++
		default:
			r.violate("hold broken: %s published sequence %d after sequence %d was dead-lettered", c.agg, c.seq, b.rec.Sequence)
		}
	}
}

// Summary describes the run in one line.
func (r Result) Summary() string {
	s := fmt.Sprintf("seed %d: %d events, %d published, %d dead-lettered, %d duplicates (%d reported re-publishes), %d crashes, %d panics, %d generation switches, settled in %s",
		r.Scenario.Seed, r.Events, r.Published, r.DeadLettered, r.Duplicates, r.Republished, r.Crashes, r.Panics, r.Switches, r.Took.Round(time.Millisecond))
	if r.Scenario.Relays > 1 {
		s += fmt.Sprintf("; two relays: %d failovers, %d pauses, %d stale writes rejected, %d zombie publishes, %d clean handovers, %d dead letters fenced, %d dead letters checked just before a newer epoch (%d of those events published too, %d events published past one before it was seen), %d published by a zombie after the leader dead-lettered them, %d retries deferred after a pause, %d epochs asked for with the revoke in the mailbox",
			r.Failovers, r.Pauses, r.Rejected, r.ZombiePublishes, r.CleanHandovers, r.FencedDeadLetters, r.RacedDeadLetters, r.RacedPublished, r.RacedHolds, r.Conflicts, r.Deferred, r.RevokeRaces)
	}
	return s
}
