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

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/polling"
)

// PollingStore is what the polling processor reads and the events it marks
// finished, with the minutes of commit time it marks them in;
// *storage.PollingStore satisfies it.
type PollingStore interface {
	Scan(ctx context.Context, after, until time.Time, fn func(outbox.Record) bool) error
	Keys(ctx context.Context, after, before time.Time, fn func(committed time.Time, id uuid.UUID) bool) error
	MarkFinished(ctx context.Context, name string, ids ...uuid.UUID) error
	Finished(ctx context.Context, name string, ids []uuid.UUID) (map[uuid.UUID]bool, error)
	MarkMinutes(ctx context.Context, name string, ms []polling.Minute) error
	MarkedMinutes(ctx context.Context, name string, ms []polling.Minute) (map[polling.Minute]bool, error)
	KeepMinutes(ctx context.Context, name string) error
	MinutesKept(ctx context.Context, name string) (bool, error)
}

// CursorStore keeps the polling processor's cursor. The relay's store
// makes every write conditional on its leadership epoch: a relay that
// another one replaced has its saves rejected with leader.ErrFenced.
// *storage.FencedProgress satisfies it.
type CursorStore interface {
	Cursor(ctx context.Context) (time.Time, bool, error)
	SaveCursor(ctx context.Context, at time.Time) error
}

// PollingSource configures where and how often the polling processor reads.
type PollingSource struct {
	Store    PollingStore
	Progress CursorStore
	// Name keys the events marked finished.
	Name string
	// Interval between polls. Default DefaultPollInterval.
	Interval time.Duration
	// SafetyWindow is how late after its committed_at a batch may become
	// visible on the replicas read (a slow replica, a write acknowledged
	// just within its timeout). Every poll re-reads, by key, the rows
	// committed within it before the previous poll, so such a batch is
	// still found; events seen again are skipped by event id. A restart
	// re-reads it behind the saved cursor. It must exceed the writers'
	// storage timeout plus clock skew (config validation checks the
	// timeout). Default DefaultSafetyWindow.
	SafetyWindow time.Duration
	// Batch caps the records taken per poll. Default DefaultPollBatch.
	Batch int
	// StartFrom is where a relay with no saved cursor starts. Default: one
	// minute before it first starts.
	StartFrom time.Time
	// Timeout bounds each database call. Default DefaultPollTimeout.
	Timeout time.Duration
}

// Defaults of PollingSource. The safety window is twice the default
// storage timeout.
const (
	DefaultPollInterval = time.Second
	DefaultSafetyWindow = 10 * time.Second
	DefaultPollBatch    = 1000
	DefaultPollTimeout  = 10 * time.Second
)

func (src *PollingSource) setDefaults() {
	if src.Interval == 0 {
		src.Interval = DefaultPollInterval
	}
	if src.SafetyWindow == 0 {
		src.SafetyWindow = DefaultSafetyWindow
	}
	if src.Batch == 0 {
		src.Batch = DefaultPollBatch
	}
	if src.Timeout == 0 {
		src.Timeout = DefaultPollTimeout
	}
}

// Validate reports a source the polling processor cannot read.
func (src PollingSource) Validate() error {
	var errs []error
	if src.Store == nil || src.Progress == nil || src.Name == "" {
		errs = append(errs, errors.New("actors: polling processor needs a store, a cursor store and a name"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", src.Interval}, {"SafetyWindow", src.SafetyWindow}, {"Timeout", src.Timeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("actors: polling %s must not be negative, got %s", d.name, d.v))
		}
	}
	if src.Batch < 0 {
		errs = append(errs, fmt.Errorf("actors: polling Batch must not be negative, got %d", src.Batch))
	}
	return errors.Join(errs...)
}

// pollState outlives restarts of the polling actor.
type pollState struct {
	core    *processorCore
	src     PollingSource
	started time.Time

	cursor   *polling.Cursor // nil until loaded
	scanning bool
	// behind: the last poll stopped at its limit, so more rows wait. The
	// next poll starts as soon as there is room for half a batch instead
	// of at the next tick, and not before: a drain reads in large batches.
	behind  bool
	closing bool
	// legacy: a previous run may have marked events finished without
	// recording their minutes (a version before minutes, seen as a saved
	// cursor without MinutesKept). Every row committed before the start is
	// then checked against the marks, and minutes are recorded as kept
	// only once the cursor has passed the start, every mark of a previous
	// run found having its minute recorded by then.
	legacy    bool
	saved     time.Time
	saving    bool
	marking   bool
	timerStop scheduler.CancelFunc

	// An outage fails every poll, save and mark: each is logged once,
	// then every failureLogEvery.
	pollFailures, saveFailures, markFailures *failureLog
}

// NewPollingProcessorProps returns the PollingProcessorActor. Every Interval
// it reads outbox_by_bucket up to now from where a row may still be unread
// (polling.Cursor.Next: the safety window behind the previous poll while it
// keeps up, where the last poll stopped while it drains a backlog) — never
// with ALLOW FILTERING, one minute-bucket partition at a time — skips
// events it has finished (in memory, and in relay_finished for what a
// previous run finished, looked up only in minutes holding marks), and
// publishes the rest through the same relay pipeline as the CDC processor.
// A poll that stopped at its limit is followed by the next as soon as there
// is room for half a batch. The cursor, saved with the finished set every
// ProgressInterval, only passes events that are finished. After a version
// that did not record minutes (a saved cursor, minutes not recorded as
// kept), the first run checks every row committed before its start, as
// that version did, until its cursor has passed its start.
//
// Receives the messages listed in processor_messages.go.
func NewPollingProcessorProps(cfg ProcessorConfig, src PollingSource) (*actor.Props, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src.setDefaults()
	if err := src.Validate(); err != nil {
		return nil, err
	}
	st := &pollState{core: newProcessorCore(outbox.ProcessorPolling, cfg), src: src}
	log := st.core.cfg.Logger.With(zap.String("actor", outbox.ProcessorPolling))
	st.pollFailures = newFailureLog(log, "polling the outbox failed", "polling the outbox works again")
	st.saveFailures = newFailureLog(log, "saving the polling cursor failed", "saving the polling cursor works again")
	st.markFailures = newFailureLog(log, "recording finished events failed; retrying", "recording finished events works again")
	st.core.onFinished = st.finished
	st.core.saveProgress = st.saveProgress
	st.core.finalSave = st.saveNow
	st.core.stopIntake = func() { st.closing = true }
	st.core.reading = func() bool { return st.cursor != nil && !st.closing }
	return actor.PropsFromProducer(func() actor.Actor { return &pollingProcessor{st: st} }), nil
}

type pollingProcessor struct{ st *pollState }

func (a *pollingProcessor) Receive(ctx actor.Context) {
	st := a.st
	switch m := ctx.Message().(type) {
	case *actor.Started:
		first := !st.core.started
		st.core.start(ctx)
		if first {
			st.started = st.core.cfg.Clock()
		}
		// After a restart, the reply that would have cleared a flag may
		// have died with the old instance: start over. A late reply is
		// harmless (a scan's records are taken once, a save is idempotent).
		st.scanning, st.saving, st.marking = false, false, false
		if st.cursor == nil {
			st.loadCursor()
		}
		st.timerStop = repeat(st.core.root, st.src.Interval, ctx.Self(), &pollTick{})
	case *actor.Restarting, *actor.Stopping:
		if st.timerStop != nil {
			st.timerStop()
		}
		if _, stopping := m.(*actor.Stopping); stopping {
			st.closing = true
			st.core.waitBackground(st.src.Timeout)
			switch err := st.saveCursorNow(); {
			case errors.Is(err, leader.ErrFenced):
				st.core.logRejected(err)
			case err != nil:
				st.core.cfg.Logger.Warn("saving the polling progress at shutdown failed; a restart may publish events again",
					zap.String("actor", outbox.ProcessorPolling), zap.Error(err))
			}
		}
	case *cursorLoaded:
		if st.cursor != nil {
			return // a second load, requested by a restart
		}
		if m.err != nil {
			st.core.cfg.Logger.Error("loading the polling cursor failed; retrying", zap.String("actor", outbox.ProcessorPolling), zap.Error(m.err))
			st.core.sched.SendOnce(st.src.Interval, ctx.Self(), &reloadCursor{})
			return
		}
		st.cursor, st.saved, st.legacy = polling.NewCursor(m.at), m.at, m.legacy
	case *reloadCursor:
		st.loadCursor()
	case *pollTick:
		st.poll()
	case *pollResult:
		st.scanning = false
		if m.err != nil {
			// The next attempt waits for the tick.
			st.behind = false
			st.pollFailures.failure(st.core.cfg.Clock(), m.err)
			return
		}
		st.pollFailures.success(st.core.cfg.Clock())
		st.take(m)
	case *finishedMarked:
		st.marking = false
		if m.err != nil {
			st.cursor.ReturnMarks(m.ids)
			st.markFailures.failure(st.core.cfg.Clock(), m.err, zap.Int("events", len(m.ids)))
			return
		}
		st.markFailures.success(st.core.cfg.Clock())
		st.markedAll(m.minutes, m.kept)
	case *cursorSaved:
		st.saving = false
		if errors.Is(m.err, leader.ErrFenced) {
			st.core.fenced(m.err)
			return
		}
		if m.err != nil {
			st.saveFailures.failure(st.core.cfg.Clock(), m.err)
			return
		}
		st.saveFailures.success(st.core.cfg.Clock())
		// A save at the end of a drain may have overtaken this one.
		if m.at.After(st.saved) {
			st.saved = m.at
		}
	default:
		st.core.receive(ctx)
	}
}

func (st *pollState) loadCursor() {
	root, self, src := st.core.root, st.core.self, st.src
	start := src.StartFrom
	if start.IsZero() {
		start = st.core.cfg.Clock().Add(-time.Minute)
	}
	st.core.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), src.Timeout)
		defer cancel()
		at, ok, err := src.Progress.Cursor(ctx)
		if err == nil && !ok {
			at = start
		}
		kept := !ok
		if err == nil && ok {
			kept, err = src.Store.MinutesKept(ctx, src.Name)
		}
		root.Send(self, &cursorLoaded{at: at, legacy: !kept, err: err})
	})
}

// poll starts one scan off the actor's goroutine, up to now from where the
// cursor says a row may still be unread (see polling.Cursor.Next): the
// keys of rows an earlier poll read, then rows in full.
func (st *pollState) poll() {
	if st.cursor == nil || st.scanning || st.closing {
		return
	}
	batch := min(st.core.cfg.MaxInFlight, st.src.Batch)
	limit := min(st.core.cfg.MaxInFlight-st.core.pipe.InFlight(), batch)
	if limit <= 0 || (st.behind && limit < (batch+1)/2) {
		return
	}
	st.scanning = true
	sel := st.cursor.Next(limit, st.core.cfg.Clock(), st.started, st.src.SafetyWindow)
	root, self, src, legacy := st.core.root, st.core.self, st.src, st.legacy
	st.core.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), src.Timeout)
		defer cancel()
		res := &pollResult{sel: sel}
		if sel.Seen.After(sel.From) {
			res.err = src.Store.Keys(ctx, sel.From, sel.Seen, sel.Reread)
		}
		if res.err == nil {
			res.err = src.Store.Scan(ctx, sel.ReadFrom, sel.Until, sel.Add)
		}
		if res.err == nil && len(sel.Unsure) > 0 {
			res.finished, res.err = previouslyFinished(ctx, src, sel, legacy)
		}
		root.Send(self, res)
	})
}

// previouslyFinished returns which of a poll's rows committed before the
// relay started a previous run finished: it looks up the minutes it does
// not know yet, then the rows of minutes that hold marks (every minute, in
// legacy mode).
func previouslyFinished(ctx context.Context, src PollingSource, sel *polling.Selection, legacy bool) (map[uuid.UUID]bool, error) {
	var marked map[polling.Minute]bool
	switch ms := sel.UnknownMinutes(); {
	case legacy:
		marked = map[polling.Minute]bool{}
		for _, m := range ms {
			marked[m] = true
		}
	case len(ms) > 0:
		var err error
		if marked, err = src.Store.MarkedMinutes(ctx, src.Name, ms); err != nil {
			return nil, err
		}
	}
	ids := sel.Check(marked)
	if len(ids) == 0 {
		return nil, nil
	}
	return src.Store.Finished(ctx, src.Name, ids)
}

// take offers a poll's new records, each aggregate's in sequence order.
// All are in the ledger before the first is offered, so a panic midway
// leaves nothing the restarted actor cannot recover.
// A poll that stopped at its limit polls again at once, or as soon as there
// is room (see finished): a backlog drains at the speed of the reads and
// the broker, not one batch per Interval.
func (st *pollState) take(m *pollResult) {
	recs := st.cursor.Take(m.sel, m.finished)
	for _, rec := range recs {
		st.core.ledger.track(rec, nil)
	}
	for _, rec := range recs {
		st.core.offer(rec)
	}
	if st.behind = m.sel.Full; st.behind {
		st.poll()
	}
}

// saveProgress is the core's periodic save: the cursor, and the finished
// events a restart re-reading the safety window must skip.
func (st *pollState) saveProgress() {
	if st.cursor == nil {
		return
	}
	st.saveCursor()
	st.flushFinished()
}

// finished is the core's hook: a finished event no longer holds the cursor,
// and behind a backlog its slot may complete the room the next poll waits
// for.
func (st *pollState) finished(rec outbox.Record, _ bool) {
	st.cursor.Finished(rec)
	if st.behind && !st.scanning {
		st.poll()
	}
}

func (st *pollState) saveCursor() {
	if st.saving || !st.cursor.Position().After(st.saved) {
		return
	}
	st.saving = true
	root, self, src, at := st.core.root, st.core.self, st.src, st.cursor.Position()
	st.core.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), src.Timeout)
		defer cancel()
		err := src.Progress.SaveCursor(ctx, at)
		if errors.Is(err, leader.ErrFenced) {
			st.core.logRejected(err)
		}
		root.Send(self, &cursorSaved{at: at, err: err})
	})
}

// saveNow saves the cursor and the finished set before returning: the end
// of a drain. It first waits for saves already running, so that none of
// them lands after it with an older cursor.
func (st *pollState) saveNow() error {
	st.core.awaitBackground(st.src.Timeout)
	return st.saveCursorNow()
}

// saveCursorNow persists the cursor and the finished set synchronously.
func (st *pollState) saveCursorNow() error {
	if st.cursor == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), st.src.Timeout)
	defer cancel()
	if at := st.cursor.Position(); at.After(st.saved) {
		if err := st.src.Progress.SaveCursor(ctx, at); err != nil {
			return errors.Join(fmt.Errorf("saving the polling cursor: %w", err), st.flushFinishedNow(ctx))
		}
		st.saved = at
	}
	return st.flushFinishedNow(ctx)
}

// flushFinished records finished events in relay_finished, so a restart
// re-reading the window behind the cursor skips them: first the minutes
// they were committed in, then the events. A failed write puts them back
// for the next save.
func (st *pollState) flushFinished() {
	if st.marking {
		return
	}
	ms, ids := st.cursor.Unannounced(), st.cursor.TakeMarks()
	keep := st.keepMinutes(ms)
	if len(ids) == 0 && len(ms) == 0 && !keep {
		return
	}
	st.marking = true
	root, self, src := st.core.root, st.core.self, st.src
	st.core.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), src.Timeout)
		defer cancel()
		root.Send(self, &finishedMarked{minutes: ms, ids: ids, kept: keep, err: markFinished(ctx, src, ms, ids, keep)})
	})
}

// keepMinutes reports whether a flush recording the minutes ms records
// minutes as kept: with every new minute out of legacy mode (the row
// expires), and once the cursor has passed the start in legacy mode.
func (st *pollState) keepMinutes(ms []polling.Minute) bool {
	if st.legacy {
		return !st.cursor.Position().Before(st.started)
	}
	return len(ms) > 0
}

// markedAll reports a flush that succeeded.
func (st *pollState) markedAll(ms []polling.Minute, kept bool) {
	st.cursor.Announced(ms)
	if kept {
		st.legacy = false
	}
}

// flushFinishedNow records finished events in relay_finished synchronously;
// a failed write puts them back for a later save.
func (st *pollState) flushFinishedNow(ctx context.Context) error {
	ms, ids := st.cursor.Unannounced(), st.cursor.TakeMarks()
	keep := st.keepMinutes(ms)
	if len(ids) == 0 && len(ms) == 0 && !keep {
		return nil
	}
	if err := markFinished(ctx, st.src, ms, ids, keep); err != nil {
		st.cursor.ReturnMarks(ids)
		return fmt.Errorf("recording %d finished events: %w", len(ids), err)
	}
	st.markedAll(ms, keep)
	return nil
}

// markFinished records the minutes, then (keep) that minutes are kept, then
// the events: no mark is durable in a minute a restarted relay would not
// look at.
func markFinished(ctx context.Context, src PollingSource, ms []polling.Minute, ids []uuid.UUID, keep bool) error {
	if len(ms) > 0 {
		if err := src.Store.MarkMinutes(ctx, src.Name, ms); err != nil {
			return err
		}
	}
	if keep {
		if err := src.Store.KeepMinutes(ctx, src.Name); err != nil {
			return err
		}
	}
	return src.Store.MarkFinished(ctx, src.Name, ids...)
}
