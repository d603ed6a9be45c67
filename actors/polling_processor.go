package actors

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/polling"
)

// PollingStore is what the polling processor reads and writes;
// *storage.PollingStore satisfies it.
type PollingStore interface {
	Scan(ctx context.Context, after, until time.Time, fn func(outbox.Record) bool) error
	Cursor(ctx context.Context, name string) (time.Time, bool, error)
	SaveCursor(ctx context.Context, name string, at time.Time) error
	MarkPublished(ctx context.Context, ids ...uuid.UUID) error
	Published(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
}

// PollingSource configures where and how often the polling processor reads.
type PollingSource struct {
	Store PollingStore
	// Name keys the persisted cursor; one active relay per name.
	Name string
	// Interval between polls. Default 1 s.
	Interval time.Duration
	// SafetyWindow is re-read behind the cursor on every poll, so a batch
	// whose commit became visible after later ones (slow coordinator,
	// lagging writer clock) is still found; events seen again are skipped
	// by event id. Default 5 s; it must exceed the worst commit delay.
	SafetyWindow time.Duration
	// Batch caps the records taken per poll. Default 1000.
	Batch int
	// StartFrom is where a relay with no saved cursor starts. Default: one
	// minute before it first starts.
	StartFrom time.Time
	// Timeout bounds each database call. Default 10 s.
	Timeout time.Duration
}

// pollState outlives restarts of the polling actor.
type pollState struct {
	core    *processorCore
	src     PollingSource
	started time.Time

	cursor    *polling.Cursor // nil until loaded
	scanning  bool
	closing   bool
	saved     time.Time
	saving    bool
	timerStop scheduler.CancelFunc
}

// NewPollingProcessorProps returns the PollingProcessorActor. Every Interval
// it reads outbox_by_bucket from SafetyWindow behind its cursor up to now —
// never with ALLOW FILTERING, one minute-bucket partition at a time — skips
// events it has finished (in memory, and in relay_published for what a
// previous run finished), and publishes the rest through the same relay
// pipeline as the CDC processor. The cursor, persisted after each poll, only
// passes events that are finished.
//
// Receives the messages listed in processor_messages.go.
func NewPollingProcessorProps(cfg ProcessorConfig, src PollingSource) (*actor.Props, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	if src.Store == nil || src.Name == "" {
		return nil, fmt.Errorf("actors: polling processor needs a store and a name")
	}
	if src.Interval <= 0 {
		src.Interval = time.Second
	}
	if src.SafetyWindow < 0 {
		return nil, fmt.Errorf("actors: polling safety window must not be negative, got %s", src.SafetyWindow)
	}
	if src.SafetyWindow == 0 {
		src.SafetyWindow = 5 * time.Second
	}
	if src.Batch <= 0 {
		src.Batch = 1000
	}
	if src.Timeout <= 0 {
		src.Timeout = 10 * time.Second
	}
	st := &pollState{core: newProcessorCore(ProcessorPolling, cfg), src: src}
	st.core.onFinished = st.finished
	return actor.PropsFromProducer(func() actor.Actor { return &pollingProcessor{st: st} }), nil
}

type pollingProcessor struct{ st *pollState }

type pollTick struct{}

type cursorLoaded struct {
	at  time.Time
	err error
}

type pollResult struct {
	recs  []outbox.Record
	until time.Time
	err   error
	// published lists records a previous run finished (relay_published).
	published map[uuid.UUID]bool
}

type reloadCursor struct{}

type cursorSaved struct {
	at  time.Time
	err error
}

func (a *pollingProcessor) Receive(ctx actor.Context) {
	st := a.st
	switch m := ctx.Message().(type) {
	case *actor.Started:
		first := !st.core.started
		st.core.start(ctx)
		if first {
			st.started = st.core.cfg.Clock()
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
			st.saveCursorNow()
		}
	case *cursorLoaded:
		if m.err != nil {
			st.core.cfg.Logger.Error("loading the polling cursor failed; retrying", zap.String("actor", ProcessorPolling), zap.Error(m.err))
			st.core.sched.SendOnce(st.src.Interval, ctx.Self(), &reloadCursor{})
			return
		}
		st.cursor, st.saved = polling.NewCursor(m.at), m.at
	case *reloadCursor:
		st.loadCursor()
	case *pollTick:
		st.poll()
	case *pollResult:
		st.scanning = false
		if m.err != nil {
			st.core.cfg.Logger.Warn("polling the outbox failed", zap.String("actor", ProcessorPolling), zap.Error(m.err))
			return
		}
		st.take(m)
	case *cursorSaved:
		st.saving = false
		if m.err != nil {
			st.core.cfg.Logger.Warn("saving the polling cursor failed", zap.String("actor", ProcessorPolling), zap.Error(m.err))
			return
		}
		st.saved = m.at
	case *Drain:
		st.closing = true
		st.core.drain(ctx)
	case *drainTimeout:
		st.core.flushDrainers()
	case *GetProcessorStatus:
		status := st.core.status()
		status.Reading = st.cursor != nil && !st.closing
		ctx.Respond(status)
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
		at, ok, err := src.Store.Cursor(ctx, src.Name)
		if err == nil && !ok {
			at = start
		}
		root.Send(self, &cursorLoaded{at: at, err: err})
	})
}

// poll starts one scan off the actor's goroutine, from SafetyWindow behind
// the cursor to now.
func (st *pollState) poll() {
	if st.cursor == nil || st.scanning || st.closing {
		return
	}
	st.saveCursor()
	st.flushPublished()
	st.cursor.Forget(st.cursor.Position().Add(-2 * st.src.SafetyWindow))
	room := st.core.cfg.MaxInFlight - st.core.pipe.InFlight()
	if room <= 0 {
		return
	}
	st.scanning = true
	after := st.cursor.Position().Add(-st.src.SafetyWindow)
	until := st.core.cfg.Clock()
	limit := min(room, st.src.Batch)
	// Events committed before this run started may have been finished by
	// a previous run: those are checked against relay_published.
	checkBefore := st.started
	known := st.cursor.Known()
	root, self, src := st.core.root, st.core.self, st.src
	st.core.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), src.Timeout)
		defer cancel()
		res := &pollResult{until: until}
		var unsure []uuid.UUID
		res.err = src.Store.Scan(ctx, after, until, func(rec outbox.Record) bool {
			if known[rec.EventID] {
				return true
			}
			if len(res.recs) == limit {
				// Stop taking here: the cursor must not pass this event.
				res.until = rec.CommittedAt
				return false
			}
			res.recs = append(res.recs, rec)
			if rec.CommittedAt.Before(checkBefore) {
				unsure = append(unsure, rec.EventID)
			}
			return true
		})
		if res.err == nil && len(unsure) > 0 {
			res.published, res.err = src.Store.Published(ctx, unsure)
		}
		root.Send(self, res)
	})
}

// take offers a poll's new records, each aggregate's in sequence order.
// All are in the ledger before the first is offered, so a panic midway
// leaves nothing the restarted actor cannot recover.
func (st *pollState) take(m *pollResult) {
	recs := st.cursor.Take(m.recs, m.published, m.until)
	for _, rec := range recs {
		st.core.ledger.track(rec, nil)
	}
	for _, rec := range recs {
		if st.core.cfg.PanicOn != nil && st.core.cfg.PanicOn(rec) {
			panic(fmt.Errorf("%w: processing event %s", ErrInjectedPanic, rec.EventID))
		}
		st.core.pipe.Offer(rec)
	}
}

// finished is the core's hook: a finished event no longer holds the cursor.
func (st *pollState) finished(rec outbox.Record, _ bool) { st.cursor.Finished(rec) }

func (st *pollState) saveCursor() {
	if st.saving || !st.cursor.Position().After(st.saved) {
		return
	}
	st.saving = true
	root, self, src, at := st.core.root, st.core.self, st.src, st.cursor.Position()
	st.core.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), src.Timeout)
		defer cancel()
		root.Send(self, &cursorSaved{at: at, err: src.Store.SaveCursor(ctx, src.Name, at)})
	})
}

// saveCursorNow persists the cursor synchronously at shutdown.
func (st *pollState) saveCursorNow() {
	if st.cursor == nil || !st.cursor.Position().After(st.saved) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), st.src.Timeout)
	defer cancel()
	if err := st.src.Store.SaveCursor(ctx, st.src.Name, st.cursor.Position()); err != nil {
		st.core.cfg.Logger.Warn("saving the polling cursor at shutdown failed", zap.String("actor", ProcessorPolling), zap.Error(err))
	}
	st.flushPublishedNow(ctx)
}

// flushPublished records finished events in relay_published, so a restart
// re-reading the window behind the cursor skips them.
func (st *pollState) flushPublished() {
	ids := st.cursor.TakeMarks()
	if len(ids) == 0 {
		return
	}
	store, timeout, logger := st.src.Store, st.src.Timeout, st.core.cfg.Logger
	st.core.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := store.MarkPublished(ctx, ids...); err != nil {
			// Only costs a duplicate if the relay restarts within the
			// re-read window: the cursor is what guarantees no loss.
			logger.Warn("recording published events failed", zap.String("actor", ProcessorPolling), zap.Int("events", len(ids)), zap.Error(err))
		}
	})
}

func (st *pollState) flushPublishedNow(ctx context.Context) {
	ids := st.cursor.TakeMarks()
	if err := st.src.Store.MarkPublished(ctx, ids...); err != nil {
		st.cursor.ReturnMarks(ids)
	}
}
