package dlqtool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// Store is the part of *storage.DeadLetterStore the tool uses.
type Store interface {
	// Get returns one entry, or an error wrapping storage.ErrNotFound.
	Get(ctx context.Context, eventID uuid.UUID) (storage.DeadLetter, error)
	// List returns the entries matching the filter.
	List(ctx context.Context, f storage.DeadLetterFilter) ([]storage.DeadLetter, error)
	// Delete removes an entry and its per-aggregate index row.
	Delete(ctx context.Context, d storage.DeadLetter) error
	// SetReplayCount records a replay attempt.
	SetReplayCount(ctx context.Context, eventID uuid.UUID, n int) error
}

// Publisher publishes one record and waits for the broker's
// acknowledgement; *messaging.Publisher implements it.
type Publisher interface {
	PublishSync(ctx context.Context, rec outbox.Record) error
	// Topic returns the topic rec would be published to, with the
	// error its publish would fail with: a dry run reports it.
	Topic(rec outbox.Record) (string, error)
}

// ErrNoSelection is returned by [Discard] when neither a filter, event ids
// nor All select anything: an empty selection means "everything", which
// must not be deleted by accident.
var ErrNoSelection = errors.New("dlqtool: nothing selected: give event ids or a filter, or select all")

// selectEntries returns the entries matching f and, when ids is not empty,
// only those ids, in replay order. Every id must exist and match f: a typo
// fails the whole command before anything changes, rather than silently
// acting on fewer entries than the operator named.
func selectEntries(ctx context.Context, st Store, f storage.DeadLetterFilter, ids []uuid.UUID) ([]storage.DeadLetter, error) {
	all, err := st.List(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("dlqtool: list dead letters: %w", err)
	}
	if len(ids) == 0 {
		sortReplayOrder(all)
		return all, nil
	}
	want := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var out []storage.DeadLetter
	for _, d := range all {
		if want[d.EventID] {
			out = append(out, d)
			delete(want, d.EventID)
		}
	}
	var errs []error
	for _, id := range ids {
		if !want[id] {
			continue // found, or a duplicate id already reported
		}
		delete(want, id)
		// Tell "no such entry" from "filtered out": they call for
		// different fixes.
		if _, err := st.Get(ctx, id); errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, fmt.Errorf("dlqtool: event %s is not in the dead-letter queue", id))
		} else if err != nil {
			errs = append(errs, fmt.Errorf("dlqtool: event %s: %w", id, err))
		} else {
			errs = append(errs, fmt.Errorf("dlqtool: event %s does not match the filter", id))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sortReplayOrder(out)
	return out, nil
}

// sortReplayOrder sorts by aggregate, then sequence. The store already
// returns this order, but the ordering guarantee of Replay must not depend
// on an implementation detail of whichever Store it is given. Byte order of
// the ids equals the string order storage uses (lower-case hex).
func sortReplayOrder(ds []storage.DeadLetter) {
	sort.SliceStable(ds, func(i, j int) bool {
		if c := bytes.Compare(ds[i].AggregateID[:], ds[j].AggregateID[:]); c != 0 {
			return c < 0
		}
		if ds[i].Sequence != ds[j].Sequence {
			return ds[i].Sequence < ds[j].Sequence
		}
		return bytes.Compare(ds[i].EventID[:], ds[j].EventID[:]) < 0
	})
}

// describe names an entry in progress lines and errors.
func describe(d storage.DeadLetter) string {
	if d.ErrorKind == storage.KindMalformed {
		// What could be decoded of its row; the type may be missing too.
		if d.AggregateID == uuid.Nil {
			return fmt.Sprintf("%s (malformed, no aggregate id)", d.EventID)
		}
		return fmt.Sprintf("%s (malformed, aggregate %s, seq %d)", d.EventID, d.AggregateID, d.Sequence)
	}
	return fmt.Sprintf("%s (aggregate %s/%s, seq %d, %s)", d.EventID, d.AggregateType, d.AggregateID, d.Sequence, d.EventType)
}
