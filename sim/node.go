package sim

import (
	"fmt"
	"time"

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// Runs with two relays share one relay name. Each relay process (a node)
// runs the real leader.Machine, as the RelayLeaderActor does, with the
// elector modelled on messaging.Elector; the group is the Kafka consumer
// group they elect through, and the epoch store is the db's.

// holderRefresh is the leader actor's HolderRefresh: how often it reads
// the recorded holder and fences itself if a newer epoch holds the relay.
const holderRefresh = 2 * time.Second

// pauseTolerance is the leader actor's default PauseTolerance: a retry
// handled later than this after it was due is taken for a pause.
const pauseTolerance = 500 * time.Millisecond

// leaderRetry is the leader actor's default pacing of epoch attempts.
func leaderRetry() resilience.RetryPolicy {
	return resilience.RetryPolicy{InitialBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// node is one relay process: its leadership machine, its elector's view
// of the group, and the processor it runs while active. Everything it does
// is one of its actions (node.after): a paused node runs them when it
// resumes, in the order they came due, and a dead one never.
type node struct {
	r     *run
	slot  int
	name  string // slot and incarnation: a1, b1, a2...
	alive bool
	m     *leader.Machine
	proc  *process
	// dlq is the process's DlqActor, shared by the processors it runs.
	dlq *dlqActor

	pausedUntil time.Time
	frozen      []func()
	// mailAt keeps the leader actor's mailbox in order.
	mailAt time.Time
	// retries counts the retry timers armed: only the last one armed is
	// handled.
	retries int

	// The elector: its member id ("" before it joined), the term it
	// last reported Elected and not Revoked, and whether its session
	// ended because the group could not be reached (it then keeps its
	// term and rejoins claiming it).
	memberID    string
	held        *leader.Term
	lostContact bool
	// told is the term the machine was last told it holds (nil: none),
	// for the checks of what it does with it.
	told *leader.Term
	// cut: windows in which this relay alone cannot reach the group.
	cut windows
	// restartAfter is how long after it exits the process is started
	// again.
	restartAfter time.Duration
}

func (r *run) startNode(slot int) *node {
	r.incarnations[slot]++
	n := &node{r: r, slot: slot, name: fmt.Sprintf("%c%d", 'a'+slot, r.incarnations[slot]), alive: true, restartAfter: time.Second}
	cfg := leader.Config{Retry: leaderRetry(), FencedDelay: r.s.SessionTimeout, PauseTolerance: pauseTolerance}
	if r.broken.pauseRule {
		cfg.PauseTolerance = 0
	}
	n.m = leader.New(cfg, n, n, r.w.rnd)
	n.dlq = newDLQActor(r, n.after, func() bool { return n.alive })
	r.nodes[slot] = n
	r.trace("node-start", n.name)
	n.after(r.w.between(0, 50*time.Millisecond), n.heartbeat)
	n.after(holderRefresh, n.refreshHolder)
	return n
}

// after schedules an action of the relay process.
func (n *node) after(d time.Duration, fn func()) {
	n.r.w.after(d, func() { n.exec(fn) })
}

func (n *node) exec(fn func()) {
	switch {
	case !n.alive:
	case n.r.w.now.Before(n.pausedUntil):
		n.frozen = append(n.frozen, fn)
	default:
		fn()
	}
}

// tell delivers fn to the leader actor: after a short delay, in the order
// sent.
func (n *node) tell(fn func()) {
	at := n.r.w.now.Add(n.r.w.between(0, 2*time.Millisecond))
	if at.Before(n.mailAt) {
		at = n.mailAt
	}
	n.mailAt = at
	n.after(at.Sub(n.r.w.now), fn)
}

// pause stops the process for d (a GC pause, SIGSTOP): nothing of it runs,
// it heartbeats to nobody, and it resumes where it stopped.
func (n *node) pause(d time.Duration) {
	if until := n.r.w.now.Add(d); until.After(n.pausedUntil) {
		n.pausedUntil = until
	}
	n.r.trace("pause", n.name, d)
	n.r.w.after(d, n.resume)
}

func (n *node) resume() {
	if !n.alive || n.r.w.now.Before(n.pausedUntil) {
		return
	}
	frozen := n.frozen
	n.frozen = nil
	n.r.trace("resume", n.name, len(frozen), "actions due")
	for _, fn := range frozen {
		n.after(0, fn)
	}
}

// kill ends the process (SIGKILL); it starts again as a new member after
// d. The group drops it when its session times out.
func (n *node) kill(d time.Duration) {
	n.r.trace("kill", n.name)
	n.restartAfter = d
	n.exit()
}

// exit ends the process: everything in memory is gone.
func (n *node) exit() {
	if !n.alive {
		return
	}
	n.alive, n.frozen = false, nil
	if p := n.proc; p != nil {
		p.alive = false
		if src, ok := p.src.(*cdcSource); ok && src.lib != nil {
			src.lib.stop(false)
		}
	}
	r, slot := n.r, n.slot
	r.w.after(n.restartAfter, func() {
		if r.nodes[slot] == n {
			r.startNode(slot)
		}
	})
}

// heartbeat is the elector's heartbeat: each one that reaches the group
// keeps the member's session, and its answer, a round trip later, tells
// the member the group's decisions.
func (n *node) heartbeat() {
	n.after(n.r.w.between(2*time.Millisecond, 10*time.Millisecond), n.beat)
	n.after(n.r.s.Heartbeat, n.heartbeat)
}

func (n *node) beat() {
	g := n.r.group
	if !g.reachable(n) {
		if !n.lostContact && n.memberID != "" {
			n.r.trace("unreachable", n.name, "keeps", n.held != nil)
		}
		n.lostContact = true
		return
	}
	ms := g.member(n)
	switch {
	case ms == nil && n.memberID != "" && !n.lostContact:
		// UnknownMemberId: dropped while it could not heartbeat (it was
		// paused). The session ends, and the term with it.
		n.revokeHeld("the group dropped this member")
		ms = g.join(n)
	case ms == nil:
		ms = g.join(n)
	case n.lostContact:
		// The session ended while the group could not be reached; the
		// member rejoins, claiming its term, and may get a new member id.
		if n.r.w.chance(0.5) {
			ms.id = g.newID(n)
		}
		g.rebalance()
	}
	n.memberID, n.lostContact = ms.id, false
	ms.lastBeat = n.r.w.now
	g.expireLater(ms)
	n.sync()
}

// sync tells the leader actor what the group decided: elected (a new term,
// possibly replacing the one held across an unreachable group) or revoked.
func (n *node) sync() {
	g := n.r.group
	if g.holder != n {
		n.revokeHeld("partition 0 is another member's")
		return
	}
	t := leader.Term{Generation: g.since, Member: n.memberID}
	if n.held != nil && *n.held == t {
		return
	}
	n.held = &t
	n.r.trace("elected", n.name, t.Generation, t.Member)
	heard := n.r.w.now
	n.tell(func() {
		n.told = &t
		// As the actor does: the election is stamped when the elector
		// hears it, and a pause before it is handled shows as lateness.
		n.m.Elected(t, n.r.w.now.Sub(heard))
	})
}

func (n *node) revokeHeld(cause string) {
	if n.held == nil {
		return
	}
	t := *n.held
	n.held = nil
	n.r.trace("revoked", n.name, t.Generation, cause)
	n.tell(func() {
		if n.told != nil && *n.told == t {
			n.told = nil
		}
		n.m.Revoked(t)
		n.mustStop("revoked")
	})
}

// fence tells the machine that its processor's epoch was rejected or a
// newer one was seen.
func (n *node) fence(why string) {
	n.m.Fenced(n.m.Epoch())
	n.mustStop(why)
}

// mustStop checks that a relay that learned it lost the relay stops its
// processor at once (a drain under way goes on: its writes are fenced).
func (n *node) mustStop(why string) {
	if p := n.proc; p != nil && p.alive && !p.draining {
		n.r.violate("relay %s was %s but its processor of epoch %d runs on (%s, epoch %d)", n.name, why, p.epoch, n.m.Role(), n.m.Epoch())
	}
}

// shutdown is SIGTERM: the leader actor's Drain. An active relay drains its
// processor before it leaves, so that the next one starts where it stopped.
func (n *node) shutdown() {
	p := n.proc
	active := n.m.Role() == leader.Active && p != nil && p.alive && !p.halted
	n.r.trace("shutdown", n.name, n.m.Role())
	n.m.Shutdown()
	if active && !p.draining {
		n.r.violate("relay %s was told to stop gracefully, but its processor of epoch %d does not drain", n.name, p.epoch)
	}
}

// claim is the generation since which the member holds partition 0 by its
// own account (a term held across an unreachable group), 0 if none.
func (n *node) claim() int32 {
	if n.held == nil {
		return 0
	}
	return n.held.Generation
}

// refreshHolder is the leader actor's periodic read of the holder: an
// active relay that sees a newer epoch fences itself.
func (n *node) refreshHolder() {
	n.after(n.r.w.between(time.Millisecond, 10*time.Millisecond), func() {
		h, err := n.r.db.leader()
		if err != nil {
			return
		}
		n.tell(func() {
			if n.m.Role() == leader.Active && h.Epoch > n.m.Epoch() {
				n.r.trace("newer-epoch", n.name, n.m.Epoch(), "holder", h.Epoch)
				n.fence("fenced by a newer epoch it read")
			}
		})
	})
	n.after(holderRefresh, n.refreshHolder)
}

// serves reports whether the relay's leadership lets its processor p run:
// active under p's epoch, or releasing while p drains (a graceful stop
// finishes what is in flight).
func (n *node) serves(p *process) bool {
	if n.m.Epoch() != p.epoch {
		return false
	}
	return n.m.Role() == leader.Active || n.m.Role() == leader.Releasing && p.draining
}

// processorStopped reports the end of the node's processor.
func (n *node) processorStopped(p *process) {
	if n.proc != p {
		return
	}
	n.proc = nil
	n.m.ProcessorStopped()
}

// leader.Effects

// AcquireEpoch checks the rule that keeps a zombie from taking the relay
// back: a relay that can reach the group and that the group has replaced
// learns it at its next heartbeat, before it asks for an epoch (a fenced
// relay waits FencedDelay, a session timeout, before it asks again, and a
// retry whose timer came due while the process was paused waits as long
// for the group). Counted, not failed: a retry handled just after the
// elector heard, with its Revoked queued behind the retry in the mailbox
// (a race over a message delay that no rule of the actor can see).
func (n *node) AcquireEpoch(t leader.Term) {
	if g := n.r.group; g.holder != n && g.holder != nil && !n.lostContact {
		if n.held != nil {
			n.r.violate("relay %s asks for an epoch for term %d while the group has elected %s and it has not heard", n.name, t.Generation, g.holder.name)
		} else {
			n.r.revokeRaces++
			n.r.trace("revoke-race", n.name, "term", t.Generation, "holder", g.holder.name)
		}
	}
	n.after(n.r.w.between(time.Millisecond, 10*time.Millisecond), func() {
		e, err := n.r.db.acquire(n.name)
		if err == nil {
			n.r.epochTaken(n, e)
			n.r.epochTerm[e] = t
		}
		n.tell(func() {
			if err != nil {
				n.m.AcquireFailed(t, err)
				return
			}
			n.m.EpochAcquired(t, e)
		})
	})
}

// StartProcessor checks that the epoch was taken for the term the machine
// holds now: an epoch taken for a term since replaced or revoked is never
// used.
func (n *node) StartProcessor(e leader.Epoch) {
	if t, ok := n.r.epochTerm[e]; ok && (n.told == nil || *n.told != t) {
		n.r.violate("relay %s starts a processor under epoch %d, taken for term %d, while it holds %v", n.name, e, t.Generation, n.told)
	}
	n.proc = n.r.startProcess(n, e)
}

func (n *node) StopProcessor(mode leader.StopMode) {
	p := n.proc
	if p == nil {
		return
	}
	n.r.trace("stop-processor", n.name, p.epoch, mode)
	if mode == leader.Drain {
		p.drain()
		return
	}
	p.stop(nil)
}

// LeaveGroup is the elector's Close: the term ends, the member leaves at
// once (no session timeout to wait out), and the process exits, as it
// does after a drain.
func (n *node) LeaveGroup() {
	n.after(n.r.w.between(time.Millisecond, 10*time.Millisecond), func() {
		n.revokeHeld("left the group")
		if ms := n.r.group.member(n); ms != nil {
			n.r.group.remove(ms)
		}
		n.r.trace("left", n.name)
		n.exit()
	})
}

// ScheduleRetry is the leader actor's retry timer: it replaces the one
// pending, its message goes to the mailbox when it fires (when the process
// resumes, if it was paused then), and the actor tells the machine how late
// it handles it.
func (n *node) ScheduleRetry(d time.Duration) {
	n.retries++
	armed, due := n.retries, n.r.w.now.Add(d)
	n.after(d, func() {
		n.tell(func() {
			if armed == n.retries {
				n.m.RetryDue(n.r.w.now.Sub(due))
			}
		})
	})
}

// leader.Observer

func (n *node) RoleChanged(from, to leader.Role, e leader.Epoch) {
	n.r.trace("role", n.name, from, "→", to, "epoch", e)
}

func (n *node) Paused(late time.Duration) {
	n.r.deferred++
	n.r.trace("paused", n.name, "retry late by", late, "waits for the group")
}

// group is the Kafka consumer group of the relay name, as the broker sees
// it with the election's assignment strategy: partition 0 stays with its
// holder while the holder is a member; a member that has not heartbeaten
// for a session timeout is dropped; a holder that left or was dropped is
// replaced by the member with the latest claim, else the first to join.
// Members learn the group's decisions at their heartbeats.
type group struct {
	r       *run
	gen     int32
	holder  *node
	since   int32 // the generation since which holder holds partition 0
	members []*membership
	down    windows // no member can reach the group
	ids     int
}

type membership struct {
	n        *node
	id       string
	lastBeat time.Time
}

func (g *group) reachable(n *node) bool { return !g.down.on(g.r.w.now) && !n.cut.on(g.r.w.now) }

func (g *group) member(n *node) *membership {
	for _, ms := range g.members {
		if ms.n == n {
			return ms
		}
	}
	return nil
}

func (g *group) newID(n *node) string {
	g.ids++
	return fmt.Sprintf("%s-%d", n.name, g.ids)
}

func (g *group) join(n *node) *membership {
	ms := &membership{n: n, id: g.newID(n), lastBeat: g.r.w.now}
	g.members = append(g.members, ms)
	g.r.trace("join", ms.id, "claim", n.claim())
	g.rebalance()
	return ms
}

func (g *group) remove(ms *membership) {
	for i, m := range g.members {
		if m == ms {
			g.members = append(g.members[:i], g.members[i+1:]...)
			break
		}
	}
	if g.holder == ms.n {
		g.holder = nil
	}
	g.rebalance()
}

// rebalance starts a new generation: the holder keeps partition 0 if it is
// still a member, else the member with the latest claim gets it.
func (g *group) rebalance() {
	g.gen++
	if g.holder != nil && g.member(g.holder) != nil {
		return
	}
	g.holder = nil
	var best int32
	for _, ms := range g.members {
		if c := ms.n.claim(); g.holder == nil || c > best {
			g.holder, best = ms.n, c
		}
	}
	if g.holder == nil {
		return
	}
	g.since = best
	if best == 0 {
		g.since = g.gen
	}
	g.r.trace("assign", g.holder.name, "generation", g.gen, "since", g.since)
}

// expireLater drops the member if it does not heartbeat again within the
// session timeout while the group can be reached.
func (g *group) expireLater(ms *membership) {
	beat := ms.lastBeat
	g.r.w.after(g.r.s.SessionTimeout, func() {
		if g.member(ms.n) != ms || !ms.lastBeat.Equal(beat) || g.down.on(g.r.w.now) {
			return
		}
		g.r.trace("session-expired", ms.id)
		g.remove(ms)
	})
}

// downEnded gives every member a fresh session once the group can be
// reached again, as a new coordinator does.
func (g *group) downEnded() {
	for _, ms := range g.members {
		ms.lastBeat = g.r.w.now
		g.expireLater(ms)
	}
}
