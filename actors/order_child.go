package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/domain"
)

// orderChild owns one order while it is active: the single writer of that
// aggregate. It receives the order commands forwarded by the order actor and
// replies [*OrderResult] to their original sender; it also receives its own
// [renewLease] ticks and [*InjectPanic]. Its state is rebuilt from storage
// on every (re)start, which is what makes a restart after a panic safe.
type orderChild struct {
	cfg   *OrderConfig
	id    uuid.UUID
	log   *zap.Logger
	owner string

	order *domain.Order
	// loaded reports whether order mirrors storage. A failed save leaves
	// the outcome unknown, so it clears loaded and the next command
	// reloads.
	loaded bool
	// refusal, once set, answers every command: the child cannot own the
	// order and is waiting to be stopped.
	refusal error
	// hasLease reports that this child may hold the lease in storage and
	// should release it when stopping.
	hasLease bool
	// leaseUntil is when the lease expires unless renewed, measured from
	// before the call that obtained it so that it errs early.
	leaseUntil  time.Time
	cancelRenew scheduler.CancelFunc
	lastActive  time.Time
	passivating bool
}

func newOrderChild(cfg *OrderConfig, id uuid.UUID) *orderChild {
	return &orderChild{cfg: cfg, id: id}
}

// Receive implements actor.Actor.
func (c *orderChild) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		// A restarted child starts from storage again, with a lease of its
		// own, so the old incarnation lets go of everything.
		c.stop()
		return
	case OrderCommand:
		began := time.Now()
		c.lastActive = began
		res := c.apply(ctx, m)
		ctx.Respond(res)
		reportCommand(ctx, c.cfg, m, res.Err, time.Since(began))
	case *renewLease:
		c.renew(ctx)
	case *actor.ReceiveTimeout:
		// armIdle below decides whether the idle time has really elapsed.
	case *InjectPanic:
		panic(fmt.Errorf("%w: %s", ErrInjectedPanic, m.Reason))
	default:
		return
	}
	c.armIdle(ctx)
}

func (c *orderChild) start(ctx actor.Context) {
	c.log = c.cfg.Logger.With(zap.String("actor", ctx.Self().GetId()), zap.Stringer("order_id", c.id))
	c.owner = c.cfg.Owner
	if c.owner == "" {
		c.owner = ctx.ActorSystem().ID
	}
	c.lastActive = time.Now()
	began := c.cfg.leaseClock()
	err := c.storage(func(sctx context.Context) error {
		return c.cfg.Store.AcquireLease(sctx, c.id, c.owner, c.cfg.LeaseTTL)
	})
	switch {
	case err == nil:
	case c.cfg.IsLeaseHeld(err):
		c.log.Info("order is owned by another process; refusing its commands", zap.Error(err))
		c.refuse(ctx, &ConflictError{OrderID: c.id, Err: err})
		return
	default:
		c.log.Warn("cannot acquire order lease; refusing queued commands, the next one retries", zap.Error(err))
		c.refuse(ctx, fmt.Errorf("actors: acquire lease of order %s: %w", c.id, err))
		return
	}
	c.hasLease = true
	c.leaseUntil = began.Add(c.cfg.LeaseTTL)
	// The system's root context, not ctx: the timer goroutine must not
	// touch the actor's context (protoactor races there).
	every := c.cfg.LeaseTTL / 3
	c.cancelRenew = repeat(ctx.ActorSystem().Root, every, ctx.Self(), &renewLease{})
	if err := c.ensureLoaded(); err != nil {
		// The first command retries the load and reports the error.
		c.log.Warn("load order", zap.Error(err))
	}
}

func (c *orderChild) stop() {
	if c.cancelRenew != nil {
		c.cancelRenew()
		c.cancelRenew = nil
	}
	if !c.hasLease {
		return
	}
	c.hasLease = false
	err := c.storage(func(sctx context.Context) error {
		return c.cfg.Store.ReleaseLease(sctx, c.id, c.owner)
	})
	if err != nil {
		c.log.Warn("release order lease; it expires on its own", zap.Error(err), zap.Duration("ttl", c.cfg.LeaseTTL))
		return
	}
	c.log.Debug("order lease released")
}

func (c *orderChild) apply(ctx actor.Context, cmd OrderCommand) *OrderResult {
	fail := func(err error) *OrderResult {
		return &OrderResult{Err: fmt.Errorf("actors: %s order %s: %w", cmd.commandLabel(), c.id, err)}
	}
	if c.refusal != nil {
		return fail(c.refusal)
	}
	if !c.leaseValid() {
		return fail(c.loseLease(ctx, errors.New("lease not renewed in time")))
	}
	if err := c.ensureLoaded(); err != nil {
		return fail(err)
	}
	if _, isCreate := cmd.(*CreateOrder); c.order == nil && !isCreate {
		return fail(ErrOrderNotFound)
	}
	now := c.cfg.Clock()
	var ev domain.DomainEvent
	var err error
	switch m := cmd.(type) {
	case *GetOrder:
		return &OrderResult{Order: c.order.State()}
	case *CreateOrder:
		if c.order != nil {
			return fail(ErrOrderExists)
		}
		var o *domain.Order
		if o, ev, err = domain.NewOrder(c.id, m.CustomerID, m.Items, now, c.cfg.NewID); err == nil {
			c.order = o
		}
	case *UpdateOrder:
		ev, err = c.order.UpdateItems(m.Items, now, c.cfg.NewID)
	case *CancelOrder:
		ev, err = c.order.Cancel(m.Reason, now, c.cfg.NewID)
	}
	if err != nil {
		// A rejected transition changes nothing, so the order still mirrors
		// storage.
		return fail(err)
	}
	if err := c.storage(func(sctx context.Context) error { return c.cfg.Store.Save(sctx, c.order, ev) }); err != nil {
		// The write may or may not have landed, and c.order already holds
		// the change: forget it and reload before the next command.
		c.order, c.loaded = nil, false
		return fail(fmt.Errorf("save: %w", err))
	}
	c.log.Debug("order saved",
		zap.Stringer("event_id", ev.EventID()),
		zap.String("event_type", ev.EventType()),
		zap.Int64("version", ev.Sequence()))
	return &OrderResult{Order: c.order.State(), Event: ev}
}

func (c *orderChild) ensureLoaded() error {
	if c.loaded {
		return nil
	}
	var o *domain.Order
	err := c.storage(func(sctx context.Context) (err error) {
		o, err = c.cfg.Store.Load(sctx, c.id)
		return err
	})
	switch {
	case err == nil:
		c.order = o
	case c.cfg.IsNotFound(err):
		c.order = nil
	default:
		return fmt.Errorf("load: %w", err)
	}
	c.loaded = true
	return nil
}

func (c *orderChild) renew(ctx actor.Context) {
	if !c.hasLease || c.refusal != nil {
		return
	}
	began := c.cfg.leaseClock()
	err := c.storage(func(sctx context.Context) error {
		return c.cfg.Store.RenewLease(sctx, c.id, c.owner, c.cfg.LeaseTTL)
	})
	switch {
	case err == nil:
		c.leaseUntil = began.Add(c.cfg.LeaseTTL)
	case c.cfg.IsLeaseLost(err):
		c.hasLease = false
		c.loseLease(ctx, err)
	case !c.leaseValid():
		c.loseLease(ctx, fmt.Errorf("lease expiring after failed renewals: %w", err))
	default:
		c.log.Warn("renew order lease; retrying on the next tick", zap.Error(err),
			zap.Duration("lease_left", c.leaseUntil.Sub(c.cfg.leaseClock())))
	}
}

// leaseValid reports whether the lease outlives a storage call started now,
// so that a write this child makes lands while it is still the only writer.
func (c *orderChild) leaseValid() bool {
	return c.cfg.leaseClock().Add(c.cfg.StorageTimeout).Before(c.leaseUntil)
}

// loseLease makes the child refuse commands and stop, and returns the
// refusal.
func (c *orderChild) loseLease(ctx actor.Context, cause error) error {
	if c.cancelRenew != nil {
		c.cancelRenew()
		c.cancelRenew = nil
	}
	c.log.Warn("order lease lost; refusing commands and stopping", zap.Error(cause))
	err := &ConflictError{OrderID: c.id, Err: cause}
	c.refuse(ctx, err)
	return err
}

func (c *orderChild) refuse(ctx actor.Context, err error) {
	c.refusal = err
	c.passivate(ctx)
}

// armIdle keeps the receive timeout pointed at lastActive+IdleTimeout.
// Lease ticks reset protoactor's receive timeout like any message, so it is
// re-armed with the time left after every message rather than set once;
// marking the ticks NotInfluenceReceiveTimeout instead would race inside
// protoactor.
func (c *orderChild) armIdle(ctx actor.Context) {
	if c.passivating {
		return
	}
	left := c.cfg.IdleTimeout - time.Since(c.lastActive)
	if left < time.Millisecond {
		c.log.Debug("order actor idle; stopping")
		c.passivate(ctx)
		return
	}
	ctx.SetReceiveTimeout(left)
}

// passivate asks the order actor to stop this child; see [passivate].
func (c *orderChild) passivate(ctx actor.Context) {
	if c.passivating {
		return
	}
	c.passivating = true
	ctx.CancelReceiveTimeout()
	ctx.Send(ctx.Parent(), &passivate{orderID: c.id, pid: ctx.Self()})
}

// storage runs one storage call bounded by StorageTimeout.
func (c *orderChild) storage(call func(context.Context) error) error {
	sctx, cancel := context.WithTimeout(context.Background(), c.cfg.StorageTimeout)
	defer cancel()
	return call(sctx)
}
