package actors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// Elector is the group that elects one relay per relay name;
// *messaging.Elector satisfies it.
type Elector interface {
	// Run joins the group and reports this member's terms to h until ctx
	// ends or Close is called.
	Run(ctx context.Context, h leader.Handler) error
	// Close leaves the group at once, so another member is elected
	// without waiting for a session timeout.
	Close() error
}

// EpochStore takes a relay name's epochs and says who holds it;
// *storage.RelayProgress satisfies it.
type EpochStore interface {
	Acquire(ctx context.Context, relay, member string) (leader.Epoch, error)
	Leader(ctx context.Context, relay string) (leader.Holder, error)
}

// LeaderConfig configures the RelayLeaderActor.
type LeaderConfig struct {
	// Relay is the relay name: every relay of a name shares its progress,
	// and one at a time is active.
	Relay string
	// Member is this relay's identity, as the others and operators see it.
	Member  string
	Elector Elector
	Epochs  EpochStore
	// Processor builds the processor that reads and publishes under an
	// epoch. It runs as this actor's child, named after Kind.
	Processor func(leader.Epoch) (*actor.Props, error)
	Kind      string
	// Leadership tunes the state machine; its zero Retry, FencedDelay and
	// PauseTolerance take the defaults below.
	Leadership leader.Config
	// RevokeWait bounds how long a revoked relay holds up the group's next
	// election while its processor stops. Default DefaultRevokeWait.
	RevokeWait time.Duration
	// Timeout bounds each ScyllaDB call. Default DefaultLeaderTimeout.
	Timeout time.Duration
	// HolderRefresh is how often the recorded holder is read for
	// /status. Default DefaultHolderRefresh.
	HolderRefresh time.Duration
	// Now reads the clock that says how late a retry timer was handled.
	// Default time.Now.
	Now     func() time.Time
	Metrics *actor.PID
	Logger  *zap.Logger
	// OnStopped, if set, hears that the relay left its group unasked
	// (its processor could not run): the process can serve no more.
	OnStopped func(error)
}

// Defaults of LeaderConfig.
const (
	DefaultRevokeWait    = 10 * time.Second
	DefaultLeaderTimeout = 10 * time.Second
	DefaultHolderRefresh = 2 * time.Second
	// DefaultFencedDelay outlasts a paused relay learning from its next
	// heartbeat that it lost the group (see leader.Config.FencedDelay).
	DefaultFencedDelay = 6 * time.Second
	// DefaultPauseTolerance is half the election's default heartbeat
	// interval: any pause over 1 s is noticed, while a pause costs a
	// member its session only if it lasts the session timeout minus a
	// heartbeat interval (at least 4 s with the brokers' smallest default
	// session, 6 s, and a heartbeat of at most a third of it). See
	// leader.Config.PauseTolerance.
	DefaultPauseTolerance = 500 * time.Millisecond
)

func (c *LeaderConfig) setDefaults() {
	if c.RevokeWait == 0 {
		c.RevokeWait = DefaultRevokeWait
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultLeaderTimeout
	}
	if c.HolderRefresh == 0 {
		c.HolderRefresh = DefaultHolderRefresh
	}
	if c.Leadership.FencedDelay == 0 {
		c.Leadership.FencedDelay = DefaultFencedDelay
	}
	if c.Leadership.PauseTolerance == 0 {
		c.Leadership.PauseTolerance = DefaultPauseTolerance
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Leadership.Retry == (resilience.RetryPolicy{}) {
		// 250 ms doubling to 5 s, jittered so that standbys elected in
		// turn during an outage do not retry in step.
		c.Leadership.Retry = resilience.RetryPolicy{InitialBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Validate reports a configuration the actor cannot run with.
func (c LeaderConfig) Validate() error {
	var errs []error
	if c.Relay == "" || c.Member == "" || c.Kind == "" {
		errs = append(errs, errors.New("actors: relay leader needs a relay name, a member name and a processor kind"))
	}
	if c.Elector == nil || c.Epochs == nil || c.Processor == nil {
		errs = append(errs, errors.New("actors: relay leader needs an elector, an epoch store and a processor"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"RevokeWait", c.RevokeWait}, {"Timeout", c.Timeout}, {"HolderRefresh", c.HolderRefresh}, {"FencedDelay", c.Leadership.FencedDelay},
		{"PauseTolerance", c.Leadership.PauseTolerance}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("actors: relay leader %s must be positive, got %s", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// leaderState is the RelayLeaderActor's state that outlives actor
// restarts: the machine, the elector's run and the processor child.
type leaderState struct {
	cfg   LeaderConfig
	m     *leader.Machine
	self  *actor.PID
	root  *actor.RootContext
	sched *scheduler.TimerScheduler
	// ctx is the actor context of the message being handled: the machine
	// calls its effects synchronously from Receive.
	ctx actor.Context

	started     bool
	child       *actor.PID
	spawned     int // processors started, for unique child names
	stopElector context.CancelFunc
	stopRefresh scheduler.CancelFunc
	// The machine's retry timer: retries counts those armed (only the
	// last one counts), retryDue is when it is due.
	retries     int
	retryDue    time.Time
	cancelRetry scheduler.CancelFunc
	// revokes are the elector's Revoked calls waiting for the processor
	// to stop.
	revokes []chan struct{}
	// quit is closed when the actor stops for good.
	quit     chan struct{}
	drainers []*actor.PID
	drainErr error
	left     bool
	holder   leader.Holder
}

// NewRelayLeaderProps returns the RelayLeaderActor: the relay's
// leadership. It joins the relay name's group through the elector; when
// elected it takes the next epoch and runs the processor under it as its
// child; when revoked or fenced it stops the processor at once; on Drain
// it drains the processor (saving its progress under its epoch) and only
// then leaves the group, so the next leader starts where it stopped. The
// decisions are leader.Machine's; this actor performs them.
//
// Receives the messages listed in relay_leader_messages.go.
func NewRelayLeaderProps(cfg LeaderConfig) (*actor.Props, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st := &leaderState{cfg: cfg}
	st.m = leader.New(cfg.Leadership, st, st, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x1ead)))
	return actor.PropsFromProducer(func() actor.Actor { return &relayLeader{st: st} },
		actor.WithSupervisor(NewSupervisorStrategy(DefaultMaxRestarts, DefaultRestartWindow, cfg.Logger))), nil
}

type relayLeader struct{ st *leaderState }

func (a *relayLeader) Receive(ctx actor.Context) {
	st := a.st
	st.ctx = ctx
	defer func() { st.ctx = nil }()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		st.start(ctx)
	case *elected:
		st.m.Elected(m.term, st.cfg.Now().Sub(m.at))
	case *revoked:
		st.revokes = append(st.revokes, m.done)
		st.m.Revoked(m.term)
		st.releaseRevokes()
	case *epochAcquired:
		st.holder = leader.Holder{Epoch: m.epoch, Member: st.cfg.Member, Since: time.Now()}
		st.m.EpochAcquired(m.term, m.epoch)
	case *acquireFailed:
		st.cfg.Logger.Warn("taking the relay's epoch failed; retrying", zap.String("actor", "relay-leader"),
			zap.String("relay", st.cfg.Relay), zap.Error(m.err))
		st.m.AcquireFailed(m.term, m.err)
	case *leaderRetryDue:
		if m.armed != st.retries {
			// Replaced by a later one.
			return
		}
		st.cancelRetry = nil
		st.m.RetryDue(st.cfg.Now().Sub(st.retryDue))
	case *ProcessorFenced:
		if st.child != nil && ctx.Sender().Equal(st.child) {
			st.m.Fenced(st.m.Epoch())
		}
	case *Drained:
		// The processor's answer to the Drain forwarded at shutdown.
		st.drainErr = errors.Join(st.drainErr, m.Err)
		if st.child != nil {
			ctx.Stop(st.child)
		}
	case *actor.Terminated:
		if st.child != nil && m.Who.Equal(st.child) {
			st.child = nil
			st.m.ProcessorStopped()
			st.releaseRevokes()
		}
	case *processorNotStarted:
		st.m.ProcessorStopped()
		st.releaseRevokes()
	case *Drain:
		st.drainers = append(st.drainers, ctx.Sender())
		st.m.Shutdown()
		st.answerDrainers()
	case *groupLeft:
		st.left = true
		if st.stopElector != nil {
			st.stopElector()
		}
		st.drainErr = errors.Join(st.drainErr, m.err)
		st.answerDrainers()
	case *electorStopped:
		if st.left || st.m.Role() == leader.Stopped {
			// Leaving on purpose: Close ends Run before it returns, and
			// groupLeft reports the leave.
			return
		}
		// Run returns only once the elector has left the group for good.
		st.left = true
		st.cfg.Logger.Error("the relay left its group unasked; it can no longer become active", zap.String("actor", "relay-leader"),
			zap.String("relay", st.cfg.Relay), zap.Error(m.err))
		if st.cfg.OnStopped != nil {
			cause := m.err
			if cause == nil {
				cause = errors.New("the election stopped")
			}
			st.cfg.OnStopped(fmt.Errorf("relay %q: the group membership ended: %w", st.cfg.Relay, cause))
		}
		st.answerDrainers()
	case *refreshHolder:
		st.loadHolder()
	case *holderLoaded:
		if m.err != nil {
			return
		}
		if m.holder.Epoch >= st.holder.Epoch {
			st.holder = m.holder
		}
		if st.m.Role() == leader.Active && m.holder.Epoch > st.m.Epoch() {
			// Another relay took a newer epoch: this one was cut off from
			// the group, or paused, while it was elected. Its next progress
			// write would be rejected; stop publishing now rather than then.
			st.cfg.Logger.Warn("a newer epoch holds the relay; fencing this one", zap.String("actor", "relay-leader"),
				zap.String("relay", st.cfg.Relay), zap.Int64("epoch", int64(st.m.Epoch())),
				zap.Int64("holder_epoch", int64(m.holder.Epoch)), zap.String("holder", m.holder.Member))
			st.m.Fenced(st.m.Epoch())
		}
	case *GetLeaderStatus:
		s := &LeaderStatus{Relay: st.cfg.Relay, Role: st.m.Role().String(), Member: st.cfg.Member, Holder: st.holder}
		// While it drains at shutdown too: /status shows what is left.
		s.Processor = st.child
		ctx.Respond(s)
	case *actor.Stopping:
		if st.stopRefresh != nil {
			st.stopRefresh()
		}
		if st.cancelRetry != nil {
			st.cancelRetry()
		}
		// The elector's Revoked calls wait for this actor, which handles
		// no message from now on.
		close(st.quit)
		if !st.left {
			// Stopped without a drain: leave now rather than make the
			// others wait out the session timeout.
			if err := st.cfg.Elector.Close(); err != nil {
				st.cfg.Logger.Warn("leaving the relay's group failed", zap.String("relay", st.cfg.Relay), zap.Error(err))
			}
		}
		if st.stopElector != nil {
			st.stopElector()
		}
		st.releaseAllRevokes()
	}
}

// start joins the group on the first start; after a restart (the old
// instance's child was stopped with it) it runs the processor again under
// the same epoch if it was active, since nothing about the leadership
// changed.
func (st *leaderState) start(ctx actor.Context) {
	if st.started {
		if st.child == nil {
			return
		}
		st.child = nil
		if st.m.Role() == leader.Active {
			st.cfg.Logger.Warn("relay leader restarted; starting its processor again", zap.String("relay", st.cfg.Relay))
			st.StartProcessor(st.m.Epoch())
			return
		}
		st.m.ProcessorStopped()
		st.releaseRevokes()
		return
	}
	st.started = true
	st.quit = make(chan struct{})
	st.self = ctx.Self()
	st.root = ctx.ActorSystem().Root
	st.sched = scheduler.NewTimerScheduler(st.root)
	st.metric(&RelayActive{Relay: st.cfg.Relay, Active: false})
	st.runElector()
	st.loadHolder()
	st.stopRefresh = repeat(st.root, st.cfg.HolderRefresh, st.self, &refreshHolder{})
}

func (st *leaderState) runElector() {
	ctx, cancel := context.WithCancel(context.Background())
	st.stopElector = cancel
	root, self := st.root, st.self
	h := electorHandler{root: root, self: self, wait: st.cfg.RevokeWait, quit: st.quit, now: st.cfg.Now}
	go func() {
		err := st.cfg.Elector.Run(ctx, h)
		root.Send(self, &electorStopped{err: err})
	}()
}

// electorHandler carries the elector's calls into the actor's mailbox.
type electorHandler struct {
	root *actor.RootContext
	self *actor.PID
	wait time.Duration
	quit <-chan struct{}
	now  func() time.Time
}

// Elected is stamped with the time the elector heard it: handled much
// later, it shows the process was paused in between.
func (h electorHandler) Elected(t leader.Term) { h.root.Send(h.self, &elected{term: t, at: h.now()}) }

// Revoked returns once the processor has stopped (or after wait): the
// group elects the next leader only after this member rejoins, so a live
// leader hands over without publishing alongside its successor.
func (h electorHandler) Revoked(t leader.Term) {
	done := make(chan struct{})
	h.root.Send(h.self, &revoked{term: t, done: done})
	select {
	case <-done:
	case <-h.quit:
	case <-time.After(h.wait):
	}
}

// releaseRevokes lets waiting Revoked calls return once no processor runs.
func (st *leaderState) releaseRevokes() {
	if st.child == nil {
		st.releaseAllRevokes()
	}
}

func (st *leaderState) releaseAllRevokes() {
	for _, done := range st.revokes {
		close(done)
	}
	st.revokes = nil
}

func (st *leaderState) answerDrainers() {
	if !st.left {
		return
	}
	for _, pid := range st.drainers {
		if pid != nil {
			st.root.Send(pid, &Drained{Err: st.drainErr})
		}
	}
	st.drainers = nil
}

func (st *leaderState) loadHolder() {
	root, self, cfg := st.root, st.self, st.cfg
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		defer cancel()
		h, err := cfg.Epochs.Leader(ctx, cfg.Relay)
		root.Send(self, &holderLoaded{holder: h, err: err})
	}()
}

func (st *leaderState) metric(m any) {
	if st.cfg.Metrics != nil {
		st.root.Send(st.cfg.Metrics, m)
	}
}

// leader.Effects, called on the actor's goroutine.

func (st *leaderState) AcquireEpoch(t leader.Term) {
	root, self, cfg := st.root, st.self, st.cfg
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		defer cancel()
		e, err := cfg.Epochs.Acquire(ctx, cfg.Relay, cfg.Member)
		if err != nil {
			root.Send(self, &acquireFailed{term: t, err: err})
			return
		}
		root.Send(self, &epochAcquired{term: t, epoch: e})
	}()
}

func (st *leaderState) StartProcessor(e leader.Epoch) {
	props, err := st.cfg.Processor(e)
	if err == nil {
		st.spawned++
		// The instance part after '$' keeps the actor_restarts_total
		// label the kind alone (see ActorKind).
		st.child, err = st.ctx.SpawnNamed(props, fmt.Sprintf("%s$%d", st.cfg.Kind, st.spawned))
	}
	if err != nil {
		st.cfg.Logger.Error("the processor cannot start", zap.String("actor", "relay-leader"),
			zap.String("relay", st.cfg.Relay), zap.Error(err))
		st.child = nil
		// Reported as a stop, from the mailbox: the machine is in the
		// middle of the call that started it.
		st.root.Send(st.self, &processorNotStarted{})
	}
}

func (st *leaderState) StopProcessor(mode leader.StopMode) {
	if st.child == nil {
		return
	}
	if mode == leader.Drain {
		st.ctx.Request(st.child, &Drain{})
		return
	}
	// A system message, handled before whatever waits in the mailbox:
	// nothing more is published, and what was in flight is read again by
	// the next leader.
	st.ctx.Stop(st.child)
}

func (st *leaderState) LeaveGroup() {
	root, self, el := st.root, st.self, st.cfg.Elector
	go func() { root.Send(self, &groupLeft{err: el.Close()}) }()
}

// ScheduleRetry arms the retry timer, replacing the one pending. The
// machine hears how late the timer was handled: late, the process was
// paused, and the group may have replaced this relay meanwhile.
func (st *leaderState) ScheduleRetry(after time.Duration) {
	if st.cancelRetry != nil {
		st.cancelRetry()
	}
	st.retries++
	st.retryDue = st.cfg.Now().Add(after)
	st.cancelRetry = st.sched.SendOnce(after, st.self, &leaderRetryDue{armed: st.retries})
}

// leader.Observer.

func (st *leaderState) RoleChanged(from, to leader.Role, epoch leader.Epoch) {
	fields := []zap.Field{zap.String("actor", "relay-leader"), zap.String("relay", st.cfg.Relay),
		zap.String("member", st.cfg.Member), zap.Stringer("from", from), zap.Stringer("to", to), zap.Int64("epoch", int64(epoch))}
	switch {
	case to == leader.Fenced:
		st.cfg.Logger.Warn("relay fenced: another relay of this name took a newer epoch; stopped publishing", fields...)
	case to == leader.Stopped && !st.shuttingDown():
		st.cfg.Logger.Error("relay left its group: its processor cannot run", fields...)
		if st.cfg.OnStopped != nil {
			st.cfg.OnStopped(fmt.Errorf("relay %q: the processor stopped and cannot run", st.cfg.Relay))
		}
	default:
		st.cfg.Logger.Info("relay role changed", fields...)
	}
	if (from == leader.Active) != (to == leader.Active) {
		st.metric(&LeadershipChanged{Relay: st.cfg.Relay, Active: to == leader.Active})
	}
}

func (st *leaderState) Paused(late time.Duration) {
	st.cfg.Logger.Warn("handled late: the process was paused; waiting for the group before taking the relay",
		zap.String("actor", "relay-leader"), zap.String("relay", st.cfg.Relay), zap.Duration("late_by", late))
}

func (st *leaderState) shuttingDown() bool { return len(st.drainers) > 0 }
