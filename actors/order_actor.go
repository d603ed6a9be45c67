package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/metrics"
)

// OrderStore is the persistence the order actors use; *storage.OrderStore
// satisfies it. Every call gets a context bounded by
// [OrderConfig.StorageTimeout].
type OrderStore interface {
	// Load returns the stored order; the error satisfies
	// OrderConfig.IsNotFound when there is none.
	Load(ctx context.Context, id uuid.UUID) (*domain.Order, error)
	// Save writes the order and its events to the outbox atomically.
	Save(ctx context.Context, o *domain.Order, events ...domain.DomainEvent) error
	// AcquireLease makes owner the only writer of the order for ttl; the
	// error satisfies OrderConfig.IsLeaseHeld when another owner holds it.
	AcquireLease(ctx context.Context, id uuid.UUID, owner string, ttl time.Duration) error
	// RenewLease extends owner's lease by ttl; the error satisfies
	// OrderConfig.IsLeaseLost when owner no longer holds it.
	RenewLease(ctx context.Context, id uuid.UUID, owner string, ttl time.Duration) error
	// ReleaseLease gives up owner's lease.
	ReleaseLease(ctx context.Context, id uuid.UUID, owner string) error
}

// Defaults of [OrderConfig].
const (
	DefaultLeaseTTL       = 15 * time.Second
	DefaultStorageTimeout = 5 * time.Second
	DefaultIdleTimeout    = time.Minute
)

// OrderConfig configures the order actor. Store and the first three error
// classifiers are required; the classifiers are how this package recognises
// storage's errors without importing storage:
//
//	IsNotFound:       func(err error) bool { return errors.Is(err, storage.ErrNotFound) },
//	IsLeaseHeld:      func(err error) bool { var e *storage.LeaseHeldError; return errors.As(err, &e) },
//	IsLeaseLost:      func(err error) bool { return errors.Is(err, storage.ErrLeaseLost) },
//	SaveMaybeApplied: func(err error) bool { var e *storage.BatchError; return errors.As(err, &e) && e.MaybeApplied() },
type OrderConfig struct {
	Store       OrderStore
	IsNotFound  func(error) bool
	IsLeaseHeld func(error) bool
	IsLeaseLost func(error) bool
	// SaveMaybeApplied reports whether a failed Save may have stored its
	// batch all the same (a timeout, a lost connection). The child then
	// settles that save before it writes anything else, so its version
	// never gets a second event; see [SaveAmbiguousError]. Default: every
	// failed Save may have been applied, which is safe but also settles
	// failures that certainly stored nothing.
	SaveMaybeApplied func(error) bool

	// Owner identifies this process in order leases and must differ
	// between processes. Default: the actor system's random id.
	Owner string
	// LeaseTTL is how long a lease lasts without renewal; a child renews
	// it every LeaseTTL/3, on a timer and, when a renewal is due, before a
	// command, so that a backlog of commands cannot outlast it. It bounds
	// how long an order stays blocked after its owning process dies.
	// Default [DefaultLeaseTTL].
	LeaseTTL time.Duration
	// StorageTimeout bounds every storage call. It must be below
	// LeaseTTL/2: right before every write a child checks that its lease
	// outlives a storage call started then, which a renewal that itself
	// takes up to StorageTimeout must still allow. Default
	// [DefaultStorageTimeout].
	StorageTimeout time.Duration
	// IdleTimeout is how long a child lives without commands before it
	// releases its lease and stops. Default [DefaultIdleTimeout].
	IdleTimeout time.Duration
	// Supervisor supervises the children. Default: [NewSupervisorStrategy]
	// with [DefaultMaxRestarts] and [DefaultRestartWindow].
	Supervisor actor.SupervisorStrategy

	// Clock supplies the domain timestamps. Default time.Now. Timers and
	// lease bookkeeping use the real monotonic clock regardless, because
	// they run on real timers.
	Clock func() time.Time
	// leaseClock is the clock of lease bookkeeping, time.Now. Tests
	// replace it so that storage calls can take fake time.
	leaseClock func() time.Time
	// NewID generates event ids and the ids of orders created without one.
	// Default [domain.NewUUIDv7Generator].
	NewID domain.IDGenerator
	// Logger defaults to a no-op logger.
	Logger *zap.Logger
	// Metrics, when set, receives a [*CommandHandled] per command.
	Metrics *actor.PID
}

// setDefaults fills every zero optional field.
func (c *OrderConfig) setDefaults() {
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.StorageTimeout == 0 {
		c.StorageTimeout = DefaultStorageTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Supervisor == nil {
		c.Supervisor = NewSupervisorStrategy(DefaultMaxRestarts, DefaultRestartWindow, c.Logger)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.SaveMaybeApplied == nil {
		c.SaveMaybeApplied = func(error) bool { return true }
	}
	if c.leaseClock == nil {
		c.leaseClock = time.Now
	}
	if c.NewID == nil {
		c.NewID = domain.NewUUIDv7Generator()
	}
}

// Validate reports a configuration the order actor cannot run with.
func (c OrderConfig) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("actors: OrderConfig.Store is required")
	case c.IsNotFound == nil || c.IsLeaseHeld == nil || c.IsLeaseLost == nil:
		return errors.New("actors: OrderConfig.IsNotFound, IsLeaseHeld and IsLeaseLost are required")
	case c.LeaseTTL < 0 || c.StorageTimeout < 0 || c.IdleTimeout < 0:
		return errors.New("actors: OrderConfig durations must not be negative")
	case c.LeaseTTL != 0 && c.StorageTimeout >= c.LeaseTTL/2:
		return fmt.Errorf("actors: OrderConfig.StorageTimeout %v must be below LeaseTTL/2 (%v)", c.StorageTimeout, c.LeaseTTL/2)
	}
	return nil
}

// NewOrderProps returns the props of the order actor, the write side's
// entry point. Spawn one per system, named "orders" and [Drainable]:
//
//	pid, err := sys.Spawn(props, "orders", actors.Drainable())
//
// It receives [*CreateOrder], [*UpdateOrder], [*CancelOrder] and [*GetOrder]
// (replying [*OrderResult] through the child that handles them),
// [*InjectPanic] and [*Drain] (replying [*Drained]).
//
// The order actor only routes: it never touches storage, so a slow order
// cannot delay another. Each order with recent commands has a child actor,
// spawned on demand, that owns it: the child holds the order's lease (so
// one process writes it), applies its commands one at a time (so versions
// follow the order in which commands reached it) and does the storage I/O
// inside its own Receive, which serialises that order and nothing else.
// Children of different orders run concurrently.
//
// A child that is idle, or cannot own its order (lease held elsewhere, lost,
// or storage unavailable), asks the order actor to stop it. The order actor
// then poisons it, so commands already forwarded are answered, and holds
// back new commands for that order until it has stopped, then replays them
// to a fresh child. No command is lost to a stopping child and two children
// never serve one order.
func NewOrderProps(cfg OrderConfig) (*actor.Props, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &orderActor{
			cfg:      &cfg,
			children: map[uuid.UUID]*childEntry{},
			byPID:    map[string]uuid.UUID{},
		}
	}, actor.WithSupervisor(cfg.Supervisor)), nil
}

// AskOrder sends cmd to the order actor pid and waits for the reply or the
// end of ctx (without a deadline, at most 30 s). The returned error is the
// reply's Err, or why no reply came: ctx's error, actor.ErrTimeout (for
// instance when the command was dropped by a panic) or actor.ErrDeadLetter.
// The deadline must cover the wait behind earlier commands for the same
// order, not only one storage round trip.
func AskOrder(ctx context.Context, sender actor.SenderContext, pid *actor.PID, cmd OrderCommand) (*OrderResult, error) {
	res, err := awaitFuture(ctx, sender.RequestFuture(pid, cmd, futureTimeout(ctx)))
	if err != nil {
		return nil, fmt.Errorf("actors: %s order %s: %w", cmd.commandLabel(), cmd.targetOrder(), err)
	}
	r, ok := res.(*OrderResult)
	if !ok {
		return nil, fmt.Errorf("actors: %s order %s: unexpected reply %T", cmd.commandLabel(), cmd.targetOrder(), res)
	}
	return r, r.Err
}

// orderActor is the routing parent of the per-order children.
type orderActor struct {
	cfg      *OrderConfig
	children map[uuid.UUID]*childEntry
	byPID    map[string]uuid.UUID
	draining bool
	drainers []*actor.PID
}

type childEntry struct {
	pid      *actor.PID
	stopping bool
	// pending holds commands that arrived while the child was stopping,
	// for its successor.
	pending []pendingMessage
}

type pendingMessage struct {
	msg    any
	sender *actor.PID
}

// Receive implements actor.Actor.
func (a *orderActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case OrderCommand:
		a.route(ctx, m)
	case *passivate:
		a.passivate(ctx, m)
	case *actor.Terminated:
		a.childStopped(ctx, m.Who)
	case *InjectPanic:
		if m.OrderID == uuid.Nil {
			panic(fmt.Errorf("%w: %s", ErrInjectedPanic, m.Reason))
		}
		if !a.draining {
			a.deliver(ctx, m.OrderID, m, nil)
		}
	case *Drain:
		a.drain(ctx)
	}
}

func (a *orderActor) route(ctx actor.Context, cmd OrderCommand) {
	id := cmd.targetOrder()
	var err error
	switch {
	case a.draining:
		err = ErrShuttingDown
	case id == uuid.Nil:
		create, ok := cmd.(*CreateOrder)
		if !ok {
			err = &domain.ValidationError{Field: "order_id", Reason: "must not be the nil UUID", Err: domain.ErrInvalidOrderID}
			break
		}
		if id, err = a.cfg.NewID(); err != nil {
			break
		}
		assigned := *create
		assigned.OrderID = id
		cmd = &assigned
	}
	if err != nil {
		err = fmt.Errorf("actors: %s order %s: %w", cmd.commandLabel(), id, err)
		ctx.Respond(&OrderResult{Err: err})
		reportCommand(ctx, a.cfg, cmd, err, 0)
		return
	}
	a.deliver(ctx, id, cmd, ctx.Sender())
}

// deliver forwards msg to the child owning id, spawning it if needed, with
// sender as the sender so that the child answers the original caller.
func (a *orderActor) deliver(ctx actor.Context, id uuid.UUID, msg any, sender *actor.PID) {
	e := a.children[id]
	if e == nil {
		cfg := a.cfg
		props := actor.PropsFromProducer(func() actor.Actor { return newOrderChild(cfg, id) })
		pid, err := ctx.SpawnNamed(props, "order$"+id.String())
		if err != nil {
			// Unreachable while entries outlive their children; answer
			// rather than leave the caller waiting.
			a.cfg.Logger.Error("spawn order actor", zap.Stringer("order_id", id), zap.Error(err))
			if sender != nil {
				ctx.Send(sender, &OrderResult{Err: fmt.Errorf("actors: spawn actor for order %s: %w", id, err)})
			}
			return
		}
		e = &childEntry{pid: pid}
		a.children[id] = e
		a.byPID[pid.GetId()] = id
	}
	if e.stopping {
		e.pending = append(e.pending, pendingMessage{msg: msg, sender: sender})
		return
	}
	ctx.RequestWithCustomSender(e.pid, msg, sender)
}

func (a *orderActor) passivate(ctx actor.Context, m *passivate) {
	e := a.children[m.orderID]
	if e == nil || e.stopping || !e.pid.Equal(m.pid) {
		return
	}
	e.stopping = true
	ctx.Poison(e.pid)
}

func (a *orderActor) childStopped(ctx actor.Context, who *actor.PID) {
	id, ok := a.byPID[who.GetId()]
	if !ok {
		return
	}
	delete(a.byPID, who.GetId())
	e := a.children[id]
	delete(a.children, id)
	for _, p := range e.pending {
		if !a.draining {
			a.deliver(ctx, id, p.msg, p.sender)
			continue
		}
		if cmd, ok := p.msg.(OrderCommand); ok && p.sender != nil {
			err := fmt.Errorf("actors: %s order %s: %w", cmd.commandLabel(), id, ErrShuttingDown)
			ctx.Send(p.sender, &OrderResult{Err: err})
		}
	}
	if a.draining && len(a.children) == 0 {
		a.drained(ctx)
	}
}

func (a *orderActor) drain(ctx actor.Context) {
	a.draining = true
	if s := ctx.Sender(); s != nil {
		a.drainers = append(a.drainers, s)
	}
	for _, e := range a.children {
		if !e.stopping {
			e.stopping = true
			ctx.Poison(e.pid)
		}
	}
	if len(a.children) == 0 {
		a.drained(ctx)
	}
}

func (a *orderActor) drained(ctx actor.Context) {
	for _, d := range a.drainers {
		ctx.Send(d, &Drained{})
	}
	a.drainers = nil
}

// reportCommand tells the metrics actor, if any, how a command ended.
func reportCommand(ctx actor.Context, cfg *OrderConfig, cmd OrderCommand, err error, d time.Duration) {
	if cfg.Metrics == nil {
		return
	}
	ctx.Send(cfg.Metrics, &CommandHandled{Command: cmd.commandLabel(), Result: resultLabel(err), Duration: d})
}

// resultLabel classifies a command's error into the result label set.
func resultLabel(err error) string {
	var conflict *ConflictError
	var invalid *domain.ValidationError
	switch {
	case err == nil:
		return metrics.ResultOK
	case errors.Is(err, ErrSaveAmbiguous):
		// Checked first: settling may end in a conflict, but the
		// command's own outcome is what is unknown.
		return metrics.ResultError
	case errors.As(err, &conflict):
		return metrics.ResultConflict
	case errors.As(err, &invalid):
		return metrics.ResultInvalid
	case errors.Is(err, domain.ErrOrderCancelled):
		return metrics.ResultCancelled
	case errors.Is(err, ErrOrderNotFound):
		return metrics.ResultNotFound
	case errors.Is(err, ErrOrderExists):
		return metrics.ResultExists
	}
	return metrics.ResultError
}
