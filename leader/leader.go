// Package leader owns a relay's leadership as a state machine with no I/O
// and no goroutines. Any number of relays may run under one relay name; the
// Kafka consumer group elects one of them (a [Term]), and that one becomes
// active only after it has taken a new [Epoch] in ScyllaDB, the fencing
// token every progress write of its processor is conditional on. Its owner
// — the relay's leader actor, or the fault simulator — performs the effects
// the machine asks for (take an epoch, start or stop the processor, leave
// the group, schedule a retry) and reports their outcomes, one at a time.
//
// The rules that keep two relays from publishing and saving under one name:
//   - the processor starts only in the term that took the epoch: an epoch
//     taken for a term that has since been revoked is never used;
//   - a revoked leader stops its processor at once (it does not drain: the
//     new leader re-reads what was in flight), and a new term waits until
//     that processor has stopped;
//   - a processor whose progress write was rejected (a newer epoch exists:
//     [ErrFenced]) stops at once; while the group still names this member
//     leader it takes a new epoch after FencedDelay, long enough for a
//     member that was only paused (a zombie) to learn from its heartbeat
//     that it lost the group, so a zombie never takes the relay back;
//   - a relay takes an epoch on the strength of a timer only if that timer
//     came due on time: one handled later than PauseTolerance after it was
//     due means the process was paused (GC, SIGSTOP) and may have lost the
//     group without having heard yet, so it waits FencedDelay more, time
//     for the answer to its next heartbeat to revoke the term. Waits are
//     taken in steps of at most PauseTolerance, so that a pause anywhere in
//     one makes a step late, even a pause that ends just before the wait
//     is over;
//   - a graceful shutdown drains the processor and saves its progress under
//     its epoch, and only then leaves the group: the next leader starts
//     where this one stopped, with nothing published twice.
package leader

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// ErrFenced is wrapped by a progress write that a newer epoch rejected:
// another relay of the same name has become the leader.
var ErrFenced = errors.New("fenced: a newer leader holds the relay")

// Role is what this relay is doing for its relay name.
type Role int

const (
	// Standby: connected and healthy, not elected; ready to take over.
	Standby Role = iota
	// Acquiring: elected by the group, taking a new epoch.
	Acquiring
	// Active: reading and publishing under its epoch.
	Active
	// Fenced: a newer epoch rejected a progress write; the processor is
	// stopped and publishes nothing.
	Fenced
	// Releasing: stopping the processor, revoked or shutting down.
	Releasing
	// Stopped: left the group (shut down, or the processor died).
	Stopped
)

func (r Role) String() string {
	switch r {
	case Standby:
		return "standby"
	case Acquiring:
		return "acquiring"
	case Active:
		return "active"
	case Fenced:
		return "fenced"
	case Releasing:
		return "releasing"
	case Stopped:
		return "stopped"
	}
	return "unknown"
}

// Term is one election: the group generation in which this member was
// given the coordination partition.
type Term struct {
	Generation int32
	Member     string
}

// Epoch is a relay name's fencing token: taken by compare-and-set in
// ScyllaDB, one higher than the last, each time a relay becomes active.
type Epoch int64

// Holder is who holds a relay name, as last recorded with its epoch.
type Holder struct {
	// Epoch is 0 when no relay of the name was ever active.
	Epoch  Epoch
	Member string
	Since  time.Time
}

// Handler hears the group's decisions about this member: the elector calls
// Elected when the group gives it the coordination partition, and Revoked
// when that term ends, never concurrently. Elected may also replace a term
// without a Revoked in between, when this member kept the partition while
// the group could not be reached.
type Handler interface {
	Elected(Term)
	Revoked(Term)
}

// StopMode says how the processor stops.
type StopMode int

const (
	// Drain finishes in-flight events and saves progress (shutdown).
	Drain StopMode = iota
	// Abandon stops intake and publishing at once; what was in flight is
	// read again by the next leader.
	Abandon
)

func (m StopMode) String() string {
	if m == Abandon {
		return "abandon"
	}
	return "drain"
}

// Effects are what the machine asks its owner to do. Each is answered
// later through the machine's inputs: AcquireEpoch with EpochAcquired or
// AcquireFailed, StopProcessor with ProcessorStopped (as is the death of a
// processor nobody stopped), ScheduleRetry with RetryDue.
type Effects interface {
	AcquireEpoch(t Term)
	StartProcessor(e Epoch)
	StopProcessor(mode StopMode)
	LeaveGroup()
	// ScheduleRetry arms a timer that replaces the one pending, if any:
	// only the last one armed is answered with RetryDue, saying how late
	// it was handled.
	ScheduleRetry(after time.Duration)
}

// Observer hears role changes (logs, metrics, /status) and pauses.
type Observer interface {
	RoleChanged(from, to Role, epoch Epoch)
	// Paused says that a retry came due late by more than PauseTolerance:
	// the process was paused, and the machine waits FencedDelay for the
	// group before taking the relay.
	Paused(late time.Duration)
}

// Config tunes the machine.
type Config struct {
	// Retry paces attempts to take an epoch while ScyllaDB fails them.
	// Its MaxAttempts is ignored: an elected relay keeps trying.
	Retry resilience.RetryPolicy
	// FencedDelay is how long a fenced relay that the group still names
	// leader waits before taking a new epoch. It must exceed the time a
	// paused member needs to learn it lost the group (a heartbeat
	// interval plus a request timeout); the group's session timeout is a
	// safe choice.
	FencedDelay time.Duration
	// PauseTolerance is how late a retry may be handled before the
	// machine takes it for a pause of the process, and the longest step
	// of a wait. A pause longer than twice it is always noticed; keep it
	// well below the shortest pause that can cost the member its session,
	// the session timeout minus a heartbeat interval, and above how late a
	// busy process handles its timers. Zero turns the check off: every
	// wait is one step and its lateness is ignored.
	PauseTolerance time.Duration
}

// Machine is one relay's leadership. Not safe for concurrent use.
type Machine struct {
	cfg Config
	fx  Effects
	obs Observer
	rnd *rand.Rand

	role  Role
	epoch Epoch
	// term is the group's current election of this member, if any.
	term    Term
	elected bool
	// running: the processor is started and has not reported stopping.
	running bool
	// shutdown: Shutdown was called; nothing starts any more.
	shutdown bool
	// attempts: failed attempts at taking an epoch in the current term,
	// for the backoff.
	attempts int
	// waiting: a retry is scheduled; left is what remains of its wait
	// after the step under way.
	waiting bool
	left    time.Duration
}

// New returns a machine in the Standby role.
func New(cfg Config, fx Effects, obs Observer, rnd *rand.Rand) *Machine {
	return &Machine{cfg: cfg, fx: fx, obs: obs, rnd: rnd}
}

// Role is the current role.
func (m *Machine) Role() Role { return m.role }

// Epoch is the epoch of the last activation (0 before any).
func (m *Machine) Epoch() Epoch { return m.epoch }

// Elected reports that the group gave this member the coordination
// partition in term t. A term that replaces the current one (the member
// kept the partition while the group could not be reached) keeps the
// processor and its epoch: if another relay took a newer epoch meanwhile,
// the processor's next progress write is rejected and the relay is fenced.
// late is how long after the elector heard of t the owner handled it: an
// election heard just before a pause of the process is stale by the time
// it is handled, so beyond PauseTolerance the machine waits FencedDelay for
// the group (whose next answer revokes the term if it moved on) before it
// takes an epoch.
func (m *Machine) Elected(t Term, late time.Duration) {
	if m.shutdown {
		return
	}
	if m.elected {
		m.term = t
		if m.role == Acquiring {
			// The epoch under way was taken for the old term and will be
			// ignored; take one for this term.
			m.attempts = 0
			m.takeEpoch()
		}
		return
	}
	m.term, m.elected, m.attempts = t, true, 0
	if !m.running && (m.role == Standby || m.role == Fenced) {
		if m.paused(late) {
			m.setRole(Acquiring)
			m.wait(m.cfg.FencedDelay)
			return
		}
		m.acquire()
	}
}

// paused reports (and tells the observer) whether an input handled late
// by late shows that the process was paused.
func (m *Machine) paused(late time.Duration) bool {
	tol := m.cfg.PauseTolerance
	if tol <= 0 || late <= tol {
		return false
	}
	if m.obs != nil {
		m.obs.Paused(late)
	}
	return true
}

// Revoked reports that term t ended: another member may be elected now.
func (m *Machine) Revoked(t Term) {
	if !m.elected || m.term != t {
		return
	}
	m.elected = false
	switch m.role {
	case Acquiring:
		m.setRole(Standby)
	case Active:
		m.setRole(Releasing)
		m.fx.StopProcessor(Abandon)
	case Fenced:
		if !m.running {
			m.setRole(Standby)
		}
	}
}

// EpochAcquired reports that epoch e was taken for term t.
func (m *Machine) EpochAcquired(t Term, e Epoch) {
	if m.role != Acquiring || !m.elected || m.term != t {
		// Revoked meanwhile: the epoch fenced the previous leader, and
		// the group's next leader takes a higher one.
		return
	}
	m.epoch, m.attempts, m.running = e, 0, true
	m.setRole(Active)
	m.fx.StartProcessor(e)
}

// AcquireFailed reports that taking an epoch for term t failed (ScyllaDB
// did not answer); the machine retries while the term lasts.
func (m *Machine) AcquireFailed(t Term, _ error) {
	if m.role != Acquiring || !m.elected || m.term != t {
		return
	}
	m.attempts++
	m.wait(m.cfg.Retry.Backoff(m.attempts, m.rnd))
}

// Fenced reports that the processor running under epoch e had a progress
// write rejected by a newer epoch.
func (m *Machine) Fenced(e Epoch) {
	if m.role != Active || e != m.epoch {
		return
	}
	m.setRole(Fenced)
	m.fx.StopProcessor(Abandon)
}

// ProcessorStopped reports that the processor has stopped, asked to or not.
func (m *Machine) ProcessorStopped() {
	if !m.running {
		return
	}
	m.running = false
	switch {
	case m.shutdown:
		m.leave()
	case m.role == Active:
		// Died on its own (its supervisor gave up): this relay cannot
		// serve, so it makes way for a standby.
		m.leave()
	case m.role == Releasing:
		m.setRole(Standby)
		if m.elected {
			m.acquire()
		}
	case m.role == Fenced:
		if !m.elected {
			m.setRole(Standby)
			return
		}
		m.wait(m.cfg.FencedDelay)
	}
}

// RetryDue reports that the retry scheduled last is due; late is how long
// after its due time the owner handled it (a clock read early counts as on
// time).
func (m *Machine) RetryDue(late time.Duration) {
	if !m.waiting {
		return
	}
	late = max(late, 0)
	if m.shutdown || !m.elected || m.running || (m.role != Acquiring && m.role != Fenced) {
		// Nothing to retry any more.
		m.waiting = false
		return
	}
	m.left = max(m.left-late, 0)
	if m.paused(late) {
		// The group may have dropped this member during the pause, and
		// the answer to its next heartbeat would say so: acting now could
		// take the relay from the leader the group elected meanwhile.
		m.left = max(m.left, m.cfg.FencedDelay)
	}
	if m.left > 0 {
		m.step()
		return
	}
	m.waiting = false
	if m.role == Acquiring {
		m.takeEpoch()
		return
	}
	m.acquire()
}

// Shutdown stops the relay: an active processor drains and saves its
// progress, then the relay leaves the group.
func (m *Machine) Shutdown() {
	if m.shutdown {
		return
	}
	m.shutdown = true
	switch {
	case m.role == Stopped:
		// Left already: the processor died.
	case m.running && m.role == Active:
		m.setRole(Releasing)
		m.fx.StopProcessor(Drain)
	case m.running:
		// Already stopping (revoked or fenced): leave once it stopped.
	default:
		m.leave()
	}
}

func (m *Machine) acquire() {
	m.setRole(Acquiring)
	m.takeEpoch()
}

// takeEpoch asks for an epoch for the current term; a retry still pending
// is moot.
func (m *Machine) takeEpoch() {
	m.waiting = false
	m.fx.AcquireEpoch(m.term)
}

// wait schedules a retry after d, in steps of at most PauseTolerance.
func (m *Machine) wait(d time.Duration) {
	m.waiting, m.left = true, d
	m.step()
}

func (m *Machine) step() {
	d := m.left
	if tol := m.cfg.PauseTolerance; tol > 0 && d > tol {
		d = tol
	}
	m.left -= d
	m.fx.ScheduleRetry(d)
}

func (m *Machine) leave() {
	m.setRole(Stopped)
	m.fx.LeaveGroup()
}

func (m *Machine) setRole(r Role) {
	if r == m.role {
		return
	}
	from := m.role
	m.role = r
	if m.obs != nil {
		m.obs.RoleChanged(from, r, m.epoch)
	}
}
