package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/scylla-outbox/scylla-outbox/leader"
)

// Messages of the RelayLeaderActor ([NewRelayLeaderProps]).
//
// Received from outside:
//   - [*GetLeaderStatus]: reply [*LeaderStatus].
//   - [*Drain] (from [System.Shutdown]): drain the processor if active,
//     save its progress, leave the group; reply [*Drained] once the group
//     is left, with Err joining what failed on the way.
//
// Received from its processor child: [*ProcessorFenced], and [*Drained] in
// answer to the Drain it forwards.
//
// Sent to the metrics actor: [*RelayActive] at start, [*LeadershipChanged]
// whenever this relay becomes or stops being the active one.
//
// The rest are its own: the elector's decisions, the outcomes of taking an
// epoch and of leaving the group, and its timers.

// GetLeaderStatus asks the relay's role. Reply: [*LeaderStatus].
type GetLeaderStatus struct{}

// LeaderStatus is the relay's leadership as /status shows it.
type LeaderStatus struct {
	Relay string
	// Role is a [leader.Role] name: standby, acquiring, active, fenced,
	// releasing or stopped.
	Role string
	// Member is this relay's identity in the group.
	Member string
	// Holder is the active relay as last recorded in ScyllaDB (this one
	// when active): who, since when, under which epoch.
	Holder leader.Holder
	// Processor is the running processor: active, or stopping (a drain at
	// shutdown); nil when none runs.
	Processor *actor.PID
}

// elected and revoked carry the elector's calls into the mailbox. A
// revoked call waits on done until the processor has stopped, so that the
// group elects the next leader only after this one stopped publishing.
type elected struct {
	term leader.Term
	at   time.Time
}

type revoked struct {
	term leader.Term
	done chan struct{}
}

type epochAcquired struct {
	term  leader.Term
	epoch leader.Epoch
}

type acquireFailed struct {
	term leader.Term
	err  error
}

// leaderRetryDue is the machine's retry timer, the armed-th one.
type leaderRetryDue struct{ armed int }

type processorNotStarted struct{}

type groupLeft struct{ err error }

type electorStopped struct{ err error }

type refreshHolder struct{}

type holderLoaded struct {
	holder leader.Holder
	err    error
}
