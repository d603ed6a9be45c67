package actors

import (
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/polling"
)

// The PollingProcessorActor's own messages ([NewPollingProcessorProps]):
// its timers and the outcomes of the reads and writes it runs off its
// goroutine. The messages it shares with the CDC processor are in
// processor_messages.go.

// pollTick is the repeating poll timer.
type pollTick struct{}

// cursorLoaded is the saved cursor, read at start, and whether a previous
// run may have marked events without recording their minutes.
type cursorLoaded struct {
	at     time.Time
	legacy bool
	err    error
}

// pollResult is one poll's selection.
type pollResult struct {
	sel *polling.Selection
	err error
	// finished lists records a previous run finished (relay_finished).
	finished map[uuid.UUID]bool
}

// reloadCursor retries a failed cursor load.
type reloadCursor struct{}

// finishedMarked is the outcome of recording finished events and the
// minutes they were committed in.
type finishedMarked struct {
	minutes []polling.Minute
	ids     []uuid.UUID
	// kept: minutes were recorded as kept (see pollState.legacy).
	kept bool
	err  error
}

// cursorSaved is the outcome of saving the cursor.
type cursorSaved struct {
	at  time.Time
	err error
}
