package storage

import (
	"errors"
	"fmt"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
)

var (
	// ErrNotFound reports that no row exists for the requested key.
	ErrNotFound = errors.New("storage: not found")
	// ErrCorruptOrder reports an orders row that cannot be turned back
	// into a valid order (bad JSON, unknown status, a row the domain
	// rejects). Retrying will not help; the row needs repair.
	ErrCorruptOrder = errors.New("storage: corrupt order row")
	// ErrInvalidSave reports a Save whose arguments do not describe one
	// consistent change of one order: no events, an event of another
	// aggregate, sequences that do not end at the order's version, or a
	// repeated event id. It is a bug in the caller; nothing was written.
	ErrInvalidSave = errors.New("storage: invalid save")
	// ErrLeaseLost reports that a lease could not be renewed because the
	// caller no longer holds it (it expired, or another owner took it).
	// The caller must stop writing the order.
	ErrLeaseLost = errors.New("storage: lease lost")
	// ErrInvalidDeadLetter reports a dead letter that can never be
	// written because an id it needs is missing (see
	// DeadLetterStore.Put). Retrying will not help; it is a bug in the
	// caller.
	ErrInvalidDeadLetter = errors.New("storage: invalid dead letter")
)

// BatchError reports that the database failed the logged batch of a Save.
// Nothing was written if [BatchError.MaybeApplied] is false; otherwise the
// outcome is unknown (for example a timeout) and the batch may still be
// applied in full, never in part.
type BatchError struct {
	// OrderID is the order being saved.
	OrderID uuid.UUID
	// Version is the order version the batch would have stored.
	Version int64
	// Events is the number of events in the batch.
	Events int
	// Err is the driver's error.
	Err error
}

// Error implements error.
func (e *BatchError) Error() string {
	return fmt.Sprintf("storage: save order %s version %d (%d events): logged batch failed: %v", e.OrderID, e.Version, e.Events, e.Err)
}

// Unwrap returns the driver's error.
func (e *BatchError) Unwrap() error { return e.Err }

// MaybeApplied reports whether the batch may have been applied despite the
// error. It is false only for errors with which the coordinator refused the
// batch before writing anything (invalid, unavailable, overloaded, ...).
// When true, the caller must settle the outcome before writing another
// version of the order: read the order back and, if its version shows the
// batch did not land, retry the same Save (same events, so the same event
// ids and sequences), while still holding the order's lease. Building new
// events for the version instead could store two events with one sequence
// if the first batch lands late. The retry is safe: the orders and
// outbox_messages rows are keyed by the order id and the event sequence,
// so a late first batch rewrites them with the same values (a batch the
// coordinator stamped before the retry and applies late, from its batchlog
// or hints, keeps that older stamp and cannot overwrite a later version of
// the order; only one the coordinator received after later writes could).
// Its outbox_by_bucket rows, though, have their own committed_at (now() is
// evaluated per write), and both batches reach the CDC log, so relays may
// publish the events twice, with the same event ids (consumers deduplicate
// by event id).
func (e *BatchError) MaybeApplied() bool {
	var re gocql.RequestError
	if !errors.As(e.Err, &re) {
		// Connection failures and timeouts: the batch may have reached
		// the coordinator.
		return true
	}
	switch re.Code() {
	case gocql.ErrCodeUnavailable, gocql.ErrCodeOverloaded, gocql.ErrCodeBootstrapping,
		gocql.ErrCodeSyntax, gocql.ErrCodeUnauthorized, gocql.ErrCodeInvalid,
		gocql.ErrCodeConfig, gocql.ErrCodeUnprepared, gocql.ErrCodeProtocol, gocql.ErrCodeCredentials:
		return false
	}
	return true
}

// LeaseHeldError reports that another owner holds the lease on an order.
type LeaseHeldError struct {
	OrderID uuid.UUID
	// Owner is the current holder.
	Owner string
}

// Error implements error.
func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("storage: lease on order %s is held by %q", e.OrderID, e.Owner)
}
