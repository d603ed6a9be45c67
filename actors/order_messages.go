package actors

import (
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/metrics"
)

// Messages of the order actor ([NewOrderProps]) and of the per-order
// children it routes to. Commands are received by the order actor, which
// forwards each to the child owning that order; the child replies
// [*OrderResult] to the original sender. A message must not be modified
// after it is sent.

// OrderCommand is implemented by the four order commands; [AskOrder] takes
// one.
type OrderCommand interface {
	targetOrder() uuid.UUID
	commandLabel() string
}

// CreateOrder creates an order. OrderID may be left nil for the order actor
// to assign one (a UUIDv7); a caller that retries after a timeout should set
// it, so that the retry answers [ErrOrderExists] instead of creating a
// second order. Reply: [*OrderResult] with the OrderCreated event.
type CreateOrder struct {
	OrderID    uuid.UUID
	CustomerID uuid.UUID
	Items      []domain.Item
}

// UpdateOrder replaces the items of a pending order. Reply: [*OrderResult]
// with the OrderUpdated event.
type UpdateOrder struct {
	OrderID uuid.UUID
	Items   []domain.Item
}

// CancelOrder cancels a pending order. Reply: [*OrderResult] with the
// OrderCancelled event.
type CancelOrder struct {
	OrderID uuid.UUID
	Reason  string
}

// GetOrder reads an order as its owning actor holds it, which is the stored
// state: the actor is the only writer while it holds the lease. Reply:
// [*OrderResult] without event.
type GetOrder struct {
	OrderID uuid.UUID
}

func (c *CreateOrder) targetOrder() uuid.UUID { return c.OrderID }
func (c *UpdateOrder) targetOrder() uuid.UUID { return c.OrderID }
func (c *CancelOrder) targetOrder() uuid.UUID { return c.OrderID }
func (c *GetOrder) targetOrder() uuid.UUID    { return c.OrderID }

func (*CreateOrder) commandLabel() string { return metrics.CommandCreate }
func (*UpdateOrder) commandLabel() string { return metrics.CommandUpdate }
func (*CancelOrder) commandLabel() string { return metrics.CommandCancel }
func (*GetOrder) commandLabel() string    { return metrics.CommandGet }

// OrderResult is the reply to every order command.
type OrderResult struct {
	// Order is the order after the command (for GetOrder, as it is); the
	// zero value when Err is set.
	Order domain.OrderState
	// Event is the event the command emitted and stored in the outbox in
	// the same batch as the order; nil for GetOrder and when Err is set.
	Event domain.DomainEvent
	// Err is why the command was not applied, or [*SaveAmbiguousError]
	// when it may have been. Branch with errors.Is/As: a
	// *domain.ValidationError or domain.ErrOrderCancelled (the command is
	// wrong for this order), [ErrOrderNotFound], [ErrOrderExists], a
	// [*ConflictError] (another process owns the order: retry later,
	// possibly elsewhere), [ErrShuttingDown], [ErrSaveAmbiguous] (the
	// outcome is unknown: see [SaveAmbiguousError]), or another wrapped
	// storage error (nothing was stored: retry).
	Err error
}

// InjectPanic makes an actor panic, to exercise supervision in tests and
// demos. With a nil OrderID the order actor itself panics (its guardian
// restarts it, stopping its children, which release their leases); otherwise
// the child owning OrderID panics (the order actor restarts it, and the new
// incarnation re-acquires the lease and reloads the order). Send it; there
// is no reply. The panic value wraps [ErrInjectedPanic].
type InjectPanic struct {
	OrderID uuid.UUID
	Reason  string
}

// Errors of the order actor, to be matched with errors.Is.
var (
	// ErrOrderBusy is wrapped by every [*ConflictError].
	ErrOrderBusy = errors.New("actors: order is owned by another process")
	// ErrOrderNotFound answers an update, cancel or get of an order that
	// does not exist.
	ErrOrderNotFound = errors.New("actors: order not found")
	// ErrOrderExists answers a create whose order id is taken.
	ErrOrderExists = errors.New("actors: order already exists")
	// ErrShuttingDown answers commands that arrive while the order actor
	// drains before shutdown.
	ErrShuttingDown = errors.New("actors: shutting down")
	// ErrInjectedPanic is wrapped by the panic value of [InjectPanic].
	ErrInjectedPanic = errors.New("actors: injected panic")
	// ErrSaveAmbiguous is wrapped by every [*SaveAmbiguousError].
	ErrSaveAmbiguous = errors.New("actors: save outcome unknown")
)

// SaveAmbiguousError answers a command whose save failed in a way that may
// have stored it all the same (a timeout, a lost connection) and that the
// child could not settle before answering. The command's event, EventID at
// sequence Version, is stored at most once and no other event ever takes
// that sequence: before it writes anything else, the child reads the order
// back and, if the save did not land, sends the identical batch again. It
// does so before the next command for the order and on its renewal ticks.
//
// To learn the outcome, send [GetOrder] (it settles the save first): the
// command was applied if the order's Version is at least Version. Retrying
// the command blindly may apply it twice (as two events).
type SaveAmbiguousError struct {
	OrderID uuid.UUID
	// Version is the order version, and event sequence, the save wrote.
	Version int64
	// EventID is the id of the event the save wrote.
	EventID uuid.UUID
	// Err is the error of the save.
	Err error
}

// Error implements error.
func (e *SaveAmbiguousError) Error() string {
	return fmt.Sprintf("actors: save of order %s version %d (event %s) may or may not have been applied: %v", e.OrderID, e.Version, e.EventID, e.Err)
}

// Unwrap exposes both ErrSaveAmbiguous and the save's error.
func (e *SaveAmbiguousError) Unwrap() []error { return []error{ErrSaveAmbiguous, e.Err} }

// ConflictError reports that this process may not write the order: another
// owner holds its lease, or this process lost it. It wraps both
// [ErrOrderBusy] and the storage error, so callers can test
// errors.Is(err, ErrOrderBusy) or errors.As the storage lease error.
type ConflictError struct {
	OrderID uuid.UUID
	Err     error
}

// Error implements error.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("actors: order %s is owned by another process: %v", e.OrderID, e.Err)
}

// Unwrap exposes both ErrOrderBusy and the cause.
func (e *ConflictError) Unwrap() []error { return []error{ErrOrderBusy, e.Err} }

// renewLease is the child's lease renewal tick, sent by its scheduler timer.
type renewLease struct{}

// passivate is sent by a child to the order actor when it wants to stop
// (idle, or unable to own its order). The order actor then poisons it, so
// commands already forwarded are still answered, and holds back new commands
// for that order until it has stopped. pid tells a request of an earlier
// incarnation from one of the current child.
type passivate struct {
	orderID uuid.UUID
	pid     *actor.PID
}
