package app

import (
	"errors"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// OrderActorConfig binds the order actor to the gocqlx store, teaching it
// storage's errors. Callers adjust the timing fields before spawning.
func OrderActorConfig(store *storage.OrderStore) actors.OrderConfig {
	return actors.OrderConfig{
		Store:      store,
		IsNotFound: func(err error) bool { return errors.Is(err, storage.ErrNotFound) },
		IsLeaseHeld: func(err error) bool {
			var held *storage.LeaseHeldError
			return errors.As(err, &held)
		},
		IsLeaseLost: func(err error) bool { return errors.Is(err, storage.ErrLeaseLost) },
		// Save's other errors (invalid arguments, bind failures) are
		// returned before anything is sent.
		SaveMaybeApplied: func(err error) bool {
			var be *storage.BatchError
			return errors.As(err, &be) && be.MaybeApplied()
		},
	}
}
