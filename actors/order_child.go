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
	// loaded reports whether order mirrors storage. A save that failed
	// without being applied clears it, and the next command reloads.
	loaded bool
	// pending is a save that failed but may have been applied, or may
	// still be: nothing else is written until it is settled (see
	// settle), so its version never gets a second event.
	pending *pendingSave
	// refusal, once set, answers every command: the child cannot own the
	// order and is waiting to be stopped.
	refusal error
	// hasLease reports that this child may hold the lease in storage and
	// should release it when stopping.
	hasLease bool
	// leaseUntil is when the lease expires unless renewed, measured on
	// cfg.leaseClock from before the call that obtained it so that it errs
	// early.
	leaseUntil  time.Time
	cancelRenew scheduler.CancelFunc
	lastActive  time.Time
	passivating bool
}

// pendingSave is the change of a save whose outcome is unknown.
type pendingSave struct {
	order *domain.Order
	event domain.DomainEvent
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
		if c.pending != nil && c.refusal == nil {
			if err := c.settle(ctx); err != nil {
				c.log.Warn("settle save of unknown outcome; retrying on the next tick", zap.Error(err))
			}
		}
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
	if p := c.pending; p != nil {
		// The save may still land. Releasing would let another process
		// load the order at once and build a second event for this
		// version; the lease's expiry gives the save time to land or lapse.
		c.log.Warn("stopping with a save of unknown outcome; leaving the lease to expire",
			zap.Stringer("event_id", p.event.EventID()), zap.Int64("version", p.event.Sequence()),
			zap.Duration("ttl", c.cfg.LeaseTTL))
		return
	}
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
	if err := c.holdLease(ctx); err != nil {
		return fail(err)
	}
	if err := c.settle(ctx); err != nil {
		return fail(err)
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
	if err := c.save(ctx, ev); err != nil {
		return fail(err)
	}
	c.log.Debug("order saved",
		zap.Stringer("event_id", ev.EventID()),
		zap.String("event_type", ev.EventType()),
		zap.Int64("version", ev.Sequence()))
	return &OrderResult{Order: c.order.State(), Event: ev}
}

// save stores c.order, which ev has just changed. c.order holds the change
// before it is stored, so on failure it is dropped (reloaded before the next
// command) or, when the failure may hide a stored batch, kept as pending
// and settled at once; if that fails too, the answer is a
// [*SaveAmbiguousError].
func (c *orderChild) save(ctx actor.Context, ev domain.DomainEvent) error {
	o := c.order
	if err := c.holdLease(ctx); err != nil {
		c.order, c.loaded = nil, false
		return err
	}
	err := c.storage(func(sctx context.Context) error { return c.cfg.Store.Save(sctx, o, ev) })
	if err == nil {
		return nil
	}
	c.order, c.loaded = nil, false
	if !c.cfg.SaveMaybeApplied(err) {
		return fmt.Errorf("save: %w", err)
	}
	c.pending = &pendingSave{order: o, event: ev}
	c.log.Warn("save outcome unknown; settling it", zap.Error(err),
		zap.Stringer("event_id", ev.EventID()), zap.Int64("version", ev.Sequence()))
	if serr := c.settle(ctx); serr != nil {
		c.log.Warn("save still unsettled; settling it before the next write", zap.Error(serr),
			zap.Stringer("event_id", ev.EventID()), zap.Int64("version", ev.Sequence()))
		return &SaveAmbiguousError{OrderID: c.id, Version: ev.Sequence(), EventID: ev.EventID(), Err: err}
	}
	return nil
}

// settle decides a pending save, if any, before anything else is written.
// It reads the order back: if the stored version is the pending one, the
// save landed; if it is the one before, the identical batch (same event id
// and sequence) is sent again, so that if the first attempt lands after
// all it rewrites the same rows instead of competing with a new event for
// the version. Any other version means another writer, and the lease is
// given up. Until settle succeeds the save stays pending.
func (c *orderChild) settle(ctx actor.Context) error {
	p := c.pending
	if p == nil {
		return nil
	}
	want := p.order.Version()
	unsettled := func(step string, err error) error {
		return fmt.Errorf("settle earlier save of version %d (event %s): %s: %w", want, p.event.EventID(), step, err)
	}
	var stored *domain.Order
	err := c.storage(func(sctx context.Context) (err error) {
		stored, err = c.cfg.Store.Load(sctx, c.id)
		return err
	})
	if err != nil && !c.cfg.IsNotFound(err) {
		return unsettled("read back", err)
	}
	var got int64
	if stored != nil {
		got = stored.Version()
	}
	switch got {
	case want:
		c.order, c.loaded, c.pending = stored, true, nil
		c.log.Info("save of unknown outcome had landed",
			zap.Stringer("event_id", p.event.EventID()), zap.Int64("version", want))
		return nil
	case want - 1:
	default:
		c.pending = nil
		c.loseLease(ctx, fmt.Errorf("stored version %d while the save of version %d (event %s) was unsettled: another writer", got, want, p.event.EventID()))
		return c.refusal
	}
	if err := c.holdLease(ctx); err != nil {
		return err
	}
	err = c.storage(func(sctx context.Context) error { return c.cfg.Store.Save(sctx, p.order, p.event) })
	if err != nil {
		return unsettled("send again", err)
	}
	c.order, c.loaded, c.pending = p.order, true, nil
	c.log.Info("save of unknown outcome sent again",
		zap.Stringer("event_id", p.event.EventID()), zap.Int64("version", want))
	return nil
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

// holdLease returns nil when the child may make a storage call under its
// lease now, and otherwise the refusal. It renews the lease first when a
// renewal is due: renewal ticks queue behind commands in the mailbox, so a
// backlog of commands would otherwise outlast the lease. It runs before
// every command and again right before every write, whatever storage calls
// came between.
func (c *orderChild) holdLease(ctx actor.Context) error {
	if c.refusal == nil && c.renewalDue() {
		c.renew(ctx)
	}
	if c.refusal != nil {
		return c.refusal
	}
	if !c.leaseValid() {
		c.loseLease(ctx, errors.New("lease not renewed in time"))
		return c.refusal
	}
	return nil
}

// renewalDue reports whether a renewal tick's interval, LeaseTTL/3, has
// passed since the lease was last obtained.
func (c *orderChild) renewalDue() bool {
	return c.leaseUntil.Sub(c.cfg.leaseClock()) <= c.cfg.LeaseTTL-c.cfg.LeaseTTL/3
}

// leaseValid reports whether the lease outlives a storage call started now,
// so that a write this child makes lands while it is still the only writer.
func (c *orderChild) leaseValid() bool {
	return c.cfg.leaseClock().Add(c.cfg.StorageTimeout).Before(c.leaseUntil)
}

// loseLease makes the child refuse commands and stop; the refusal it records
// in c.refusal is what every later command gets.
func (c *orderChild) loseLease(ctx actor.Context, cause error) {
	if c.cancelRenew != nil {
		c.cancelRenew()
		c.cancelRenew = nil
	}
	c.log.Warn("order lease lost; refusing commands and stopping", zap.Error(cause))
	c.refuse(ctx, &ConflictError{OrderID: c.id, Err: cause})
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
		if c.pending == nil {
			c.log.Debug("order actor idle; stopping")
			c.passivate(ctx)
			return
		}
		// A successor would load the order while the save may still
		// land: stay until a renewal tick has settled it.
		left = c.cfg.LeaseTTL / 3
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
