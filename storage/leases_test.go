package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

func leaseOwner(t *testing.T, env testEnv, id uuid.UUID) (owner string, ttl int, found bool) {
	t.Helper()
	iter := env.s.Query(`SELECT owner, TTL(owner) FROM outbox.order_leases WHERE order_id = ?`, nil).Bind(id).Iter()
	found = iter.Scan(&owner, &ttl)
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return owner, ttl, found
}

func TestLeaseLifecycle(t *testing.T) {
	env := newEnv(t)
	st := env.store()
	ctx := context.Background()
	id := uuid.New()
	const a, b = "node-a/actor-1", "node-b/actor-7"

	steps := []struct {
		name    string
		do      func() error
		wantErr func(error) bool
		owner   string // "" = no lease row
	}{
		{"a acquires", func() error { return st.AcquireLease(ctx, id, a, time.Minute) }, nil, a},
		{"a acquires again (renew)", func() error { return st.AcquireLease(ctx, id, a, time.Hour) }, nil, a},
		{"b is refused", func() error { return st.AcquireLease(ctx, id, b, time.Minute) }, func(err error) bool {
			var held *LeaseHeldError
			return errors.As(err, &held) && held.Owner == a && held.OrderID == id
		}, a},
		{"a renews", func() error { return st.RenewLease(ctx, id, a, time.Minute) }, nil, a},
		{"b cannot renew", func() error { return st.RenewLease(ctx, id, b, time.Minute) }, is(ErrLeaseLost), a},
		{"b's release leaves a's lease", func() error { return st.ReleaseLease(ctx, id, b) }, nil, a},
		{"a releases", func() error { return st.ReleaseLease(ctx, id, a) }, nil, ""},
		{"release is idempotent", func() error { return st.ReleaseLease(ctx, id, a) }, nil, ""},
		{"a cannot renew a released lease", func() error { return st.RenewLease(ctx, id, a, time.Minute) }, is(ErrLeaseLost), ""},
		{"b acquires", func() error { return st.AcquireLease(ctx, id, b, time.Minute) }, nil, b},
	}
	for _, s := range steps {
		err := s.do()
		if s.wantErr == nil && err != nil || s.wantErr != nil && !s.wantErr(err) {
			t.Fatalf("%s: err = %v", s.name, err)
		}
		owner, _, found := leaseOwner(t, env, id)
		if owner != s.owner || found != (s.owner != "") {
			t.Fatalf("%s: lease owner = %q (row found %v), want %q", s.name, owner, found, s.owner)
		}
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func TestLeaseRenewExtendsTTL(t *testing.T) {
	env := newEnv(t)
	st := env.store()
	ctx := context.Background()
	id := uuid.New()
	if err := st.AcquireLease(ctx, id, "a", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ttl, _ := leaseOwner(t, env, id); ttl < 8 || ttl > 10 {
		t.Errorf("TTL after acquire = %d, want about 10", ttl)
	}
	// Re-acquiring by the holder renews with the new TTL; a fractional
	// TTL rounds up.
	if err := st.AcquireLease(ctx, id, "a", 99500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, ttl, _ := leaseOwner(t, env, id); ttl < 98 || ttl > 100 {
		t.Errorf("TTL after re-acquire = %d, want about 100", ttl)
	}
}

func TestLeaseExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for TTLs")
	}
	env := newEnv(t)
	st := env.store()
	ctx := context.Background()
	expiring, shrunk := uuid.New(), uuid.New()

	if err := st.AcquireLease(ctx, expiring, "a", time.Second); err != nil {
		t.Fatal(err)
	}
	// A renewal with a shorter TTL than the acquire leaves the row alive
	// (its row marker has the longer TTL) with the owner expired.
	if err := st.AcquireLease(ctx, shrunk, "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.RenewLease(ctx, shrunk, "a", time.Second); err != nil {
		t.Fatal(err)
	}
	var held *LeaseHeldError
	if err := st.AcquireLease(ctx, expiring, "b", time.Minute); !errors.As(err, &held) {
		t.Fatalf("before expiry, b's acquire = %v, want *LeaseHeldError", err)
	}

	time.Sleep(2100 * time.Millisecond)

	if owner, _, found := leaseOwner(t, env, shrunk); !found || owner != "" {
		t.Fatalf("shrunk lease: row found %v owner %q; want an orphaned row with a null owner", found, owner)
	}

	if err := st.RenewLease(ctx, expiring, "a", time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("after expiry, a's renew = %v, want ErrLeaseLost", err)
	}
	for _, id := range []uuid.UUID{expiring, shrunk} {
		if err := st.AcquireLease(ctx, id, "b", time.Minute); err != nil {
			t.Errorf("after expiry, b's acquire of %s = %v, want success", id, err)
		}
		if owner, _, _ := leaseOwner(t, env, id); owner != "b" {
			t.Errorf("owner of %s = %q, want b", id, owner)
		}
	}
}

func TestLeaseArgumentErrors(t *testing.T) {
	env := newEnv(t)
	st := env.store()
	ctx := context.Background()
	id := uuid.New()
	for name, err := range map[string]error{
		"nil id":       st.AcquireLease(ctx, uuid.Nil, "a", time.Minute),
		"empty owner":  st.RenewLease(ctx, id, "", time.Minute),
		"short ttl":    st.AcquireLease(ctx, id, "a", 500*time.Millisecond),
		"negative ttl": st.RenewLease(ctx, id, "a", -time.Second),
		"huge ttl":     st.AcquireLease(ctx, id, "a", 100*365*24*time.Hour),
		"release nil":  st.ReleaseLease(ctx, uuid.Nil, "a"),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, _, found := leaseOwner(t, env, id); found {
		t.Error("a rejected call wrote a lease")
	}
}
