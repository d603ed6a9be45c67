package dlqtool

import (
	"context"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/storage"
)

// DiscardOptions selects entries to delete without publishing them, as
// [ReplayOptions] does.
type DiscardOptions struct {
	Filter   storage.DeadLetterFilter
	EventIDs []uuid.UUID
	// All must be set to discard the whole queue (a zero Filter and no
	// EventIDs); without it that selection is refused with
	// [ErrNoSelection], because a forgotten flag must not delete every
	// event nobody has looked at yet.
	All bool
	// DryRun prints what would be discarded and deletes nothing.
	DryRun bool
	// Progress receives output as for [ReplayOptions.Progress].
	Progress io.Writer
}

// Discard deletes the selected entries (and their per-aggregate index
// rows), for events that must never be published. It returns how many it
// deleted — in a dry run, how many it would delete. It stops at the first
// failed delete, returning the count so far.
//
// An aggregate whose last entry is discarded is released from the relay's
// Hold policy: the relay holds the aggregates that still have entries. Its
// events still in the queue (for example the held ones behind a discarded
// poison event) are not touched unless selected; replay them to release it.
func Discard(ctx context.Context, store Store, opts DiscardOptions) (int, error) {
	if !opts.All && opts.Filter == (storage.DeadLetterFilter{}) && len(opts.EventIDs) == 0 {
		return 0, ErrNoSelection
	}
	sel, err := selectEntries(ctx, store, opts.Filter, opts.EventIDs)
	if err != nil {
		return 0, err
	}
	n := 0
	verb := "discard"
	if opts.DryRun {
		verb = "discard (dry run)"
	}
	p := newProgress(opts.Progress, verb, len(sel), opts.DryRun, func() string { return fmt.Sprintf("discarded %d", n) })
	for _, d := range sel {
		if opts.DryRun {
			n++
			p.step(true, "would discard %s", describe(d))
			continue
		}
		if err := ctx.Err(); err != nil {
			p.finish()
			return n, fmt.Errorf("dlqtool: discard interrupted after %d of %d entries: %w", n, len(sel), err)
		}
		if err := store.Delete(ctx, d); err != nil {
			p.finish()
			return n, fmt.Errorf("dlqtool: discard %s: %w", describe(d), err)
		}
		n++
		p.step(false, "discarded %s", describe(d))
	}
	p.finish()
	if opts.DryRun {
		p.note("dry run: %s would be discarded; nothing changed", CountEntries(n))
	} else {
		p.note("discarded %s", CountEntries(n))
	}
	return n, nil
}

// CountEntries is "1 entry" or "N entries".
func CountEntries(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}
