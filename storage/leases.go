package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2/qb"

	"github.com/scylla-outbox/scylla-outbox/schema"
)

// Leases make one process the single writer of an order across processes.
// They are lightweight transactions on order_leases with a TTL, so a lease
// whose owner died lapses by itself. The holder must renew well within the
// TTL and stop writing when renewal fails: a lease only excludes writers
// that check it, and a Save already in flight when the lease lapses still
// lands.

func (st *OrderStore) initLeases(ks string) {
	t := qualified(ks, schema.TableOrderLeases)
	// INSERT ... IF NOT EXISTS USING TTL ?
	st.leaseAcquire.stmt, st.leaseAcquire.names = qb.Insert(t).Columns("order_id", "owner").Unique().TTLNamed("ttl").ToCql()
	// UPDATE ... USING TTL ? SET owner = ? WHERE order_id = ? IF owner = ?
	st.leaseRenew.stmt, st.leaseRenew.names = qb.Update(t).TTLNamed("ttl").Set("owner").
		Where(qb.Eq("order_id")).If(qb.EqNamed("owner", "expected")).ToCql()
	// UPDATE ... IF owner = null: see AcquireLease.
	st.leaseTake.stmt, st.leaseTake.names = qb.Update(t).TTLNamed("ttl").Set("owner").
		Where(qb.Eq("order_id")).If(qb.EqLit("owner", "null")).ToCql()
	// DELETE ... WHERE order_id = ? IF owner = ?
	st.leaseRelease.stmt, st.leaseRelease.names = qb.Delete(t).
		Where(qb.Eq("order_id")).If(qb.EqNamed("owner", "expected")).ToCql()
}

// leaseAttempts bounds AcquireLease's retries when the lease changes hands
// between its statements.
const leaseAttempts = 3

func leaseArgs(id uuid.UUID, owner string) error {
	switch {
	case id == uuid.Nil:
		return errors.New("storage: lease: order id must not be the nil UUID")
	case owner == "":
		return errors.New("storage: lease: owner must not be empty")
	}
	return nil
}

// ttlSeconds converts a lease TTL to CQL seconds, rounding up so a lease
// never lasts shorter than asked.
func ttlSeconds(ttl time.Duration) (int, error) {
	if ttl < time.Second || ttl > schema.MaxTTL {
		return 0, fmt.Errorf("storage: lease TTL must be between 1s and %v, got %v", schema.MaxTTL, ttl)
	}
	return int((ttl + time.Second - 1) / time.Second), nil
}

// AcquireLease makes owner the holder of the lease on order id for ttl
// (whole seconds, rounded up): INSERT ... IF NOT EXISTS USING TTL. If owner
// already holds it, the lease is renewed for ttl and AcquireLease succeeds,
// so a restarted actor with a stable owner name gets its order back at
// once. If another owner holds it, the result is a [*LeaseHeldError].
//
// A renewal with a shorter TTL than the lease was taken with can leave the
// row alive with its owner expired; such an orphaned row counts as free and
// is taken with UPDATE ... IF owner = null.
func (st *OrderStore) AcquireLease(ctx context.Context, id uuid.UUID, owner string, ttl time.Duration) error {
	if st.err != nil {
		return st.err
	}
	if err := leaseArgs(id, owner); err != nil {
		return err
	}
	secs, err := ttlSeconds(ttl)
	if err != nil {
		return err
	}
	var lastOwner string
	for range leaseAttempts {
		var cur leaseRow
		applied, err := st.s.ContextQuery(ctx, st.leaseAcquire.stmt, st.leaseAcquire.names).
			BindMap(map[string]any{"order_id": id, "owner": owner, "ttl": secs}).GetCASRelease(&cur)
		if err != nil {
			return fmt.Errorf("storage: acquire lease on order %s for %q: %w", id, owner, err)
		}
		if applied {
			return nil
		}
		lastOwner = cur.Owner
		switch cur.Owner {
		case owner:
			err := st.RenewLease(ctx, id, owner, ttl)
			if !errors.Is(err, ErrLeaseLost) {
				return err // nil: renewed
			}
			// Expired or taken between the two statements: start over.
		case "":
			applied, err := st.s.ContextQuery(ctx, st.leaseTake.stmt, st.leaseTake.names).
				BindMap(map[string]any{"order_id": id, "owner": owner, "ttl": secs}).ExecCASRelease()
			if err != nil {
				return fmt.Errorf("storage: acquire orphaned lease on order %s for %q: %w", id, owner, err)
			}
			if applied {
				return nil
			}
		default:
			return &LeaseHeldError{OrderID: id, Owner: cur.Owner}
		}
	}
	return fmt.Errorf("storage: acquire lease on order %s for %q: lease changed hands %d times while acquiring (last owner %q)", id, owner, leaseAttempts, lastOwner)
}

// RenewLease extends owner's lease on order id to ttl from now:
// UPDATE ... USING TTL ... IF owner = ?. If owner no longer holds it
// (expired, released, or taken by another owner) the result is
// [ErrLeaseLost].
func (st *OrderStore) RenewLease(ctx context.Context, id uuid.UUID, owner string, ttl time.Duration) error {
	if st.err != nil {
		return st.err
	}
	if err := leaseArgs(id, owner); err != nil {
		return err
	}
	secs, err := ttlSeconds(ttl)
	if err != nil {
		return err
	}
	applied, err := st.s.ContextQuery(ctx, st.leaseRenew.stmt, st.leaseRenew.names).
		BindMap(map[string]any{"order_id": id, "owner": owner, "expected": owner, "ttl": secs}).ExecCASRelease()
	if err != nil {
		return fmt.Errorf("storage: renew lease on order %s for %q: %w", id, owner, err)
	}
	if !applied {
		return fmt.Errorf("storage: renew lease on order %s for %q: %w", id, owner, ErrLeaseLost)
	}
	return nil
}

// ReleaseLease gives up owner's lease on order id: DELETE ... IF owner = ?.
// A lease that is already gone or held by someone else is left alone and
// is not an error, so releasing is idempotent.
func (st *OrderStore) ReleaseLease(ctx context.Context, id uuid.UUID, owner string) error {
	if st.err != nil {
		return st.err
	}
	if err := leaseArgs(id, owner); err != nil {
		return err
	}
	if _, err := st.s.ContextQuery(ctx, st.leaseRelease.stmt, st.leaseRelease.names).
		BindMap(map[string]any{"order_id": id, "expected": owner}).ExecCASRelease(); err != nil {
		return fmt.Errorf("storage: release lease on order %s for %q: %w", id, owner, err)
	}
	return nil
}
