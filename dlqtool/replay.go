package dlqtool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/storage"
)

// DefaultMaxReplays is the replay limit when ReplayOptions.MaxReplays is 0.
const DefaultMaxReplays = 3

// ReplayOptions selects and controls a replay. Entries are selected by
// Filter and, when EventIDs is not empty, restricted to those ids (each of
// which must exist and match Filter). A zero Filter and no ids select the
// whole queue.
type ReplayOptions struct {
	Filter   storage.DeadLetterFilter
	EventIDs []uuid.UUID
	// DryRun prints what would be replayed, refused or blocked, and
	// changes nothing: no replay count, no publish, no delete.
	DryRun bool
	// MaxReplays refuses entries whose replay_count has reached it
	// (default [DefaultMaxReplays]; negative is invalid).
	MaxReplays int
	// Progress receives one line per entry, or a single-line progress
	// bar when it is a terminal or more than 20 entries are selected
	// (refusals and failures are still printed in full), then a summary.
	// A dry run always prints one line per entry. Nil prints nothing.
	Progress io.Writer
}

// ReplayReport counts what a replay did; Selected is the sum of the other
// counts. In a dry run the counts say what a replay would do if every
// publish succeeded.
type ReplayReport struct {
	Selected int
	// Published entries were acknowledged by the broker and removed from
	// the queue. In a dry run: the entries a replay would publish.
	Published int
	// Skipped entries were refused because their replay_count reached
	// the limit; they stay in the queue unchanged.
	Skipped int
	// Failed entries stay in the queue with their replay_count
	// incremented; Failures says why.
	Failed int
	// Blocked entries were not attempted because an earlier event of the
	// same aggregate is still in the queue (failed, refused, or not
	// selected): publishing them would overtake it.
	Blocked int
	// Malformed entries were refused because they are of kind
	// storage.KindMalformed: the relay could not decode their source row,
	// so there is no event to publish. They stay in the queue: discard
	// them (and write corrected rows if the events must be published).
	Malformed int
	// Gone entries had left the queue between selection and replay
	// (replayed or discarded by someone else).
	Gone int
	// Failures has one error per failed entry, naming it and wrapping the
	// cause (for example a *messaging.PublishError). In a dry run an
	// entry fails only when its topic cannot be rendered.
	Failures []error
	// Topics counts, in a dry run, the entries that would be published
	// per destination topic; nil otherwise.
	Topics map[string]int
}

// Err joins Failures: nil when every attempted publish succeeded.
func (r ReplayReport) Err() error { return errors.Join(r.Failures...) }

// NotPublished counts the selected entries that stay in the queue although
// the replay (or, in a dry run, the replay it previews) tried to publish
// them: skipped, failed, blocked and malformed ones. A replay that leaves
// any has failed at part of its job. Gone entries are not counted: they
// left the queue, so nothing is left to replay.
func (r ReplayReport) NotPublished() int { return r.Skipped + r.Failed + r.Blocked + r.Malformed }

// counts is the outcome counts so far, for the bar and the summary.
func (r *ReplayReport) counts() string {
	s := fmt.Sprintf("published %d, skipped %d, failed %d, blocked %d", r.Published, r.Skipped, r.Failed, r.Blocked)
	if r.Topics != nil { // a dry run
		s = fmt.Sprintf("would publish %d%s, skipped %d, failed %d, blocked %d", r.Published, r.topics(), r.Skipped, r.Failed, r.Blocked)
	}
	if r.Malformed > 0 {
		s += fmt.Sprintf(", malformed %d (not replayable)", r.Malformed)
	}
	if r.Gone > 0 {
		s += fmt.Sprintf(", gone %d", r.Gone)
	}
	return s
}

// topics names the dry run's destination topics, with their counts when
// there are several.
func (r *ReplayReport) topics() string {
	switch len(r.Topics) {
	case 0:
		return ""
	case 1:
		for t := range r.Topics {
			return " to " + t
		}
	}
	parts := make([]string, 0, len(r.Topics))
	for _, t := range slices.Sorted(maps.Keys(r.Topics)) {
		parts = append(parts, fmt.Sprintf("%s %d", t, r.Topics[t]))
	}
	return " (to " + strings.Join(parts, ", ") + ")"
}

// notPublished says which counts make up NotPublished, for the summary:
// they are why the command fails.
func (r *ReplayReport) notPublished() string {
	var parts []string
	for _, c := range []struct {
		name string
		n    int
	}{{"skipped", r.Skipped}, {"failed", r.Failed}, {"blocked", r.Blocked}, {"malformed", r.Malformed}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.name, c.n))
		}
	}
	return fmt.Sprintf("%d not published (%s)", r.NotPublished(), strings.Join(parts, ", "))
}

// malformedAdvice says why a malformed entry is refused and what to do.
const malformedAdvice = "cannot be replayed: the relay could not decode its source row, so there is no event to publish; " +
	"discard it, and write a corrected row to the outbox if the event must still be published"

// Replay publishes the selected entries again through pub, which must be
// the relay's publisher so the records get the same topic, key and
// headers.
//
// Entries are handled aggregate by aggregate, in sequence order. For each
// one, Replay re-reads it (it may have been replayed or discarded since it
// was listed), refuses it if its replay_count has reached the limit, then
// increments replay_count BEFORE publishing — so a crash mid-replay still
// counts towards the limit — publishes it and waits for the broker's
// acknowledgement, and only then deletes it from the queue. Nothing is
// removed from the queue until its replay is acknowledged.
//
// Entries of kind storage.KindMalformed are refused, dry run or not
// (counted as Malformed): they hold the columns of a row the relay could
// not decode, not an event that could be published.
//
// The first entry of an aggregate that is not published (refused, failed,
// or behind an earlier entry of the aggregate that was not selected) stops
// that aggregate: its later entries are counted as Blocked and stay in the
// queue, so consumers never see them before the earlier event. Other
// aggregates carry on.
//
// The error is non-nil only when the replay could not run to its end: an
// invalid option, the selection failing (for example an unknown event id;
// nothing is changed then), or ctx ending (the report counts what was done
// before). Per-entry failures are in the report; see [ReplayReport.Err].
func Replay(ctx context.Context, store Store, pub Publisher, opts ReplayOptions) (ReplayReport, error) {
	var rep ReplayReport
	limit := opts.MaxReplays
	switch {
	case limit == 0:
		limit = DefaultMaxReplays
	case limit < 0:
		return rep, fmt.Errorf("dlqtool: MaxReplays must not be negative, got %d", limit)
	}
	if pub == nil {
		// A dry run needs it too: it names the topics.
		return rep, errors.New("dlqtool: replay needs a publisher")
	}
	if opts.DryRun {
		rep.Topics = map[string]int{}
	}
	sel, err := selectEntries(ctx, store, opts.Filter, opts.EventIDs)
	if err != nil {
		return rep, err
	}
	rep.Selected = len(sel)
	blockers, err := unselectedBlockers(ctx, store, opts, sel)
	if err != nil {
		return rep, err
	}

	verb := "replay"
	if opts.DryRun {
		verb = "replay (dry run)"
	}
	p := newProgress(opts.Progress, verb, len(sel), opts.DryRun, rep.counts)
	// stopped holds, per aggregate, why its remaining entries are blocked.
	stopped := map[uuid.UUID]string{}
	stop := func(d storage.DeadLetter, why string) {
		stopped[d.AggregateID] = fmt.Sprintf("earlier event %s (seq %d) %s", d.EventID, d.Sequence, why)
	}
	fail := func(d storage.DeadLetter, err error) {
		err = fmt.Errorf("dlqtool: replay %s: %w", describe(d), err)
		rep.Failed++
		rep.Failures = append(rep.Failures, err)
		stop(d, "failed to replay")
		p.step(true, "failed   %s", err)
	}

	for _, d := range sel {
		if err := ctx.Err(); err != nil {
			p.finish()
			return rep, fmt.Errorf("dlqtool: replay interrupted after %d of %d entries: %w", p.done, len(sel), err)
		}
		if d.ErrorKind == storage.KindMalformed {
			// Refused before anything else, dry run or not: no
			// publish, no replay count. Its aggregate, if it has one,
			// stops here like at any refusal.
			rep.Malformed++
			if d.AggregateID != uuid.Nil {
				if _, ok := stopped[d.AggregateID]; !ok {
					stop(d, "is malformed and cannot be replayed")
				}
			}
			p.step(true, "refused  %s: %s", describe(d), malformedAdvice)
			continue
		}
		if why, ok := stopped[d.AggregateID]; ok {
			rep.Blocked++
			p.step(true, "blocked  %s: %s", describe(d), why)
			continue
		}
		if b, ok := blockers[d.AggregateID]; ok && b.Sequence < d.Sequence {
			stop(b, "is still in the queue and not selected")
			rep.Blocked++
			p.step(true, "blocked  %s: %s", describe(d), stopped[d.AggregateID])
			continue
		}

		cur := d
		if !opts.DryRun {
			// Re-read: the listing may be minutes old, and
			// SetReplayCount on an entry deleted meanwhile would
			// recreate it as a ghost row (a CQL UPDATE is an upsert).
			cur, err = store.Get(ctx, d.EventID)
			if errors.Is(err, storage.ErrNotFound) {
				rep.Gone++
				p.step(true, "gone     %s: no longer in the queue (replayed or discarded meanwhile)", describe(d))
				continue
			}
			if err != nil {
				fail(d, fmt.Errorf("re-read entry: %w", err))
				continue
			}
		}
		if cur.ReplayCount >= limit {
			rep.Skipped++
			stop(cur, "was refused at the replay limit")
			p.step(true, "skipped  %s: replayed %d times, limit is %d; fix the cause and raise the limit, or discard it",
				describe(cur), cur.ReplayCount, limit)
			continue
		}
		if opts.DryRun {
			topic, err := pub.Topic(cur.Record)
			if err != nil {
				fail(cur, fmt.Errorf("choose its topic: %w", err))
				continue
			}
			rep.Published++
			rep.Topics[topic]++
			p.step(true, "would replay %s to %s (replay %d of %d)", describe(cur), topic, cur.ReplayCount+1, limit)
			continue
		}

		if err := store.SetReplayCount(ctx, cur.EventID, cur.ReplayCount+1); err != nil {
			fail(cur, fmt.Errorf("record replay attempt (nothing published): %w", err))
			continue
		}
		if err := pub.PublishSync(ctx, cur.Record); err != nil {
			fail(cur, fmt.Errorf("publish (entry kept, replay count %d): %w", cur.ReplayCount+1, err))
			continue
		}
		// Acknowledged: only now may the entry leave the queue.
		if err := store.Delete(ctx, cur); err != nil {
			fail(cur, fmt.Errorf("published, but not removed from the queue (a later replay publishes a duplicate, "+
				"which consumers drop by event id): %w", err))
			continue
		}
		rep.Published++
		p.step(false, "published %s (replay %d of %d)", describe(cur), cur.ReplayCount+1, limit)
	}
	p.finish()
	summary := fmt.Sprintf("replay: %d selected: %s", rep.Selected, rep.counts())
	if opts.DryRun {
		summary = fmt.Sprintf("dry run: %d selected: %s", rep.Selected, rep.counts())
	}
	if rep.NotPublished() > 0 {
		if opts.DryRun {
			summary += "; would leave " + rep.notPublished()
		} else {
			summary += "; " + rep.notPublished()
		}
	}
	if opts.DryRun {
		summary += "; nothing changed"
	}
	p.note("%s", summary)
	return rep, nil
}

// unselectedBlockers returns, per aggregate of the selection, its earliest
// queue entry that is not selected. A selected entry after it must not be
// published: that would overtake an event still in the queue, which is
// exactly what the Hold policy exists to prevent. The whole queue is read
// only when the selection is partial.
func unselectedBlockers(ctx context.Context, store Store, opts ReplayOptions, sel []storage.DeadLetter) (map[uuid.UUID]storage.DeadLetter, error) {
	out := map[uuid.UUID]storage.DeadLetter{}
	if opts.Filter == (storage.DeadLetterFilter{}) && len(opts.EventIDs) == 0 {
		return out, nil
	}
	selected := make(map[uuid.UUID]bool, len(sel))
	aggs := map[uuid.UUID]bool{}
	for _, d := range sel {
		selected[d.EventID] = true
		aggs[d.AggregateID] = true
	}
	all, err := store.List(ctx, storage.DeadLetterFilter{})
	if err != nil {
		return nil, fmt.Errorf("dlqtool: list dead letters: %w", err)
	}
	for _, d := range all {
		// A malformed entry without an aggregate holds nothing back.
		if selected[d.EventID] || !aggs[d.AggregateID] || d.AggregateID == uuid.Nil {
			continue
		}
		if cur, ok := out[d.AggregateID]; !ok || d.Sequence < cur.Sequence {
			out[d.AggregateID] = d
		}
	}
	return out, nil
}
