package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// DeadLetterWriter persists dead letters; *storage.DeadLetterStore
// satisfies it.
type DeadLetterWriter interface {
	// Put writes an entry; it is idempotent per event id.
	Put(ctx context.Context, d storage.DeadLetter) error
	// Exists reports whether an entry is in the queue. It is asked before
	// an entry is written, so that only writes that create an entry add
	// to the size the DlqActor reports.
	Exists(ctx context.Context, eventID uuid.UUID) (bool, error)
	// Count scans the whole queue: at start and every SizeRefresh only.
	Count(ctx context.Context) (int, error)
}

// Defaults of [DLQConfig].
const (
	DefaultDLQWriters      = 4
	DefaultDLQSizeRefresh  = time.Minute
	DefaultDLQCountTimeout = 30 * time.Second
)

// DLQConfig configures the DlqActor.
type DLQConfig struct {
	Store   DeadLetterWriter
	Metrics *actor.PID
	// WriteTimeout bounds one write attempt (the existence check and the
	// write); RetryInitial doubling to RetryMax spaces the attempts of an
	// entry whose writes fail.
	WriteTimeout           time.Duration
	RetryInitial, RetryMax time.Duration
	// Writers bounds the write attempts in flight (default
	// [DefaultDLQWriters]). Attempts run off the actor's goroutine, so a
	// bulk dead-lettering is written Writers entries at a time rather than
	// one after another, and the actor keeps answering meanwhile.
	Writers int
	// SizeRefresh is how often the queue is counted (default
	// [DefaultDLQSizeRefresh]). Between counts the size is kept from the
	// entries this actor creates; a count corrects what other processes
	// change, such as `outbox dlq replay` and `discard` deleting entries.
	// A count scans the whole table, and writes pause while it runs.
	SizeRefresh time.Duration
	// CountTimeout bounds one count (default [DefaultDLQCountTimeout]).
	CountTimeout time.Duration
	Logger       *zap.Logger
}

// setDefaults fills every zero optional field.
func (cfg *DLQConfig) setDefaults() {
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial = 200 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = max(30*time.Second, cfg.RetryInitial)
	}
	if cfg.Writers == 0 {
		cfg.Writers = DefaultDLQWriters
	}
	if cfg.SizeRefresh == 0 {
		cfg.SizeRefresh = DefaultDLQSizeRefresh
	}
	if cfg.CountTimeout == 0 {
		cfg.CountTimeout = DefaultDLQCountTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
}

// Validate reports a configuration the DlqActor cannot run with.
func (cfg DLQConfig) Validate() error {
	switch {
	case cfg.Store == nil:
		return errors.New("actors: DLQ actor needs a store")
	case cfg.WriteTimeout < 0 || cfg.RetryInitial < 0 || cfg.SizeRefresh < 0 || cfg.CountTimeout < 0:
		return errors.New("actors: DLQConfig durations must not be negative")
	case cfg.RetryMax < cfg.RetryInitial:
		return fmt.Errorf("actors: DLQConfig.RetryMax %s is below RetryInitial %s", cfg.RetryMax, cfg.RetryInitial)
	case cfg.Writers < 0:
		return fmt.Errorf("actors: DLQConfig.Writers must not be negative, got %d", cfg.Writers)
	}
	return nil
}

// NewDLQProps returns the DlqActor: the only writer of the dead-letter
// queue. It receives [*WriteDeadLetter] and replies [*DeadLetterWritten] to
// its ReplyTo once the entry is durably written — retrying failed writes on
// a timer, never dropping one — and reports the queue's size to the
// MetricsActor ([*DLQSize]) and in [*DLQStatus] (ask with
// [*GetDLQStatus]). [*InjectPanic] makes it panic, to exercise its
// restart: entries not yet written survive it. Spawn the props once: the
// state they carry belongs to one actor.
//
// Memory is bounded by the entries not yet written (each holds its record
// and at most one retry timer), which the processors bound by their
// in-flight limit.
func NewDLQProps(cfg DLQConfig) (*actor.Props, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st := &dlqState{cfg: cfg, pending: map[uuid.UUID]*dlqEntry{}}
	return actor.PropsFromProducer(func() actor.Actor { return &dlqActor{st: st} }), nil
}

// dlqState survives restarts of the DlqActor: the entries not yet durably
// written, so a restart retries them instead of dropping them, and the
// queue's size.
//
// The size is exact as far as this process's writes go. A count never
// overlaps a write attempt (attempts pause while one is due), so it
// includes exactly the writes that completed before it; after it, each
// write that creates its entry adds one. Whether a write creates its entry
// is asked (Exists) before the entry's first attempt, and asked again after
// every count, because a failed attempt may have written the entry all the
// same (a timeout) and the count then included it; a re-sent request for
// an entry already written finds it and adds nothing. One case is off by
// one until the next count: a timed-out write that the database applies
// after a count but before the entry's next check. Deletions by other
// processes are seen at the next count.
type dlqState struct {
	cfg     DLQConfig
	pending map[uuid.UUID]*dlqEntry
	ready   []*dlqEntry // queued entries, in arrival order
	writing int         // attempts in flight started by this incarnation
	tokens  uint64      // last token handed out

	size      int
	sizeKnown bool
	countDue  bool
	counting  uint64 // token of the count in flight; 0 for none
	countGen  uint64 // counts started; checks made before the latest are stale

	// ctx is cancelled when the actor stops, ending background work.
	ctx     context.Context
	cancel  context.CancelFunc
	jobs    sync.WaitGroup
	started bool
}

type entryState int

const (
	entryQueued  entryState = iota // in ready, waiting for a writer
	entryWriting                   // an attempt is in flight
	entryWaiting                   // its retry timer is armed
)

// dlqEntry is a dead letter not yet durably written.
type dlqEntry struct {
	msg *WriteDeadLetter
	// tried is the request the attempt in flight was made for: a newer
	// one (another processor's, under another epoch) may replace msg
	// meanwhile, and the old request's fence says nothing about it.
	tried    *WriteDeadLetter
	state    entryState
	token    uint64               // of the attempt in flight or the armed timer
	cancel   scheduler.CancelFunc // the armed timer
	attempts int                  // failed attempts
	// isNew is whether writing the entry creates it, as found by the
	// check made in count generation checkedGen (if checked).
	checked    bool
	isNew      bool
	checkedGen uint64
}

func (st *dlqState) next() uint64 {
	st.tokens++
	return st.tokens
}

func (st *dlqState) enqueue(e *dlqEntry) {
	e.state, e.cancel = entryQueued, nil
	st.ready = append(st.ready, e)
}

type dlqActor struct {
	st          *dlqState
	root        *actor.RootContext
	self        *actor.PID
	sched       *scheduler.TimerScheduler
	stopRefresh scheduler.CancelFunc
}

func (a *dlqActor) Receive(ctx actor.Context) {
	st := a.st
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Restarting:
		a.stopTimers()
	case *actor.Stopping:
		a.stopTimers()
		st.cancel()
		a.waitJobs()
	case *WriteDeadLetter:
		a.accept(m)
	case *retryDeadLetter:
		if e := st.pending[m.eventID]; e != nil && e.state == entryWaiting && e.token == m.token {
			st.enqueue(e)
		}
	case *deadLetterWriteDone:
		a.written(ctx, m)
	case *refreshDLQSize:
		st.countDue = true
	case *dlqCounted:
		a.counted(m)
	case *GetDLQStatus:
		ctx.Respond(a.status())
	case *InjectPanic:
		panic(fmt.Errorf("%w: %s", ErrInjectedPanic, m.Reason))
	}
	a.pump()
}

// start runs on every Started. After a restart, the timers of the dead
// incarnation are cancelled and the outcomes of its attempts and count will
// be ignored (their tokens are stale), so every entry not queued is queued
// again and the queue counted again.
func (a *dlqActor) start(ctx actor.Context) {
	st := a.st
	a.root, a.self = ctx.ActorSystem().Root, ctx.Self()
	a.sched = scheduler.NewTimerScheduler(a.root)
	a.stopRefresh = repeat(a.root, st.cfg.SizeRefresh, a.self, &refreshDLQSize{})
	st.countDue = true
	if !st.started {
		st.started = true
		st.ctx, st.cancel = context.WithCancel(context.Background())
		return
	}
	st.writing, st.counting = 0, 0
	for _, e := range st.pending {
		if e.state != entryQueued {
			st.enqueue(e)
		}
	}
}

func (a *dlqActor) stopTimers() {
	if a.stopRefresh != nil {
		a.stopRefresh()
	}
	for _, e := range a.st.pending {
		if e.state == entryWaiting && e.cancel != nil {
			e.cancel()
			e.cancel = nil
		}
	}
}

// waitJobs waits, bounded, for background work to end after its context
// was cancelled, so that none uses the session after the relay closed it.
func (a *dlqActor) waitJobs() {
	done := make(chan struct{})
	go func() {
		a.st.jobs.Wait()
		close(done)
	}()
	t := time.NewTimer(a.st.cfg.WriteTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		a.st.cfg.Logger.Warn("dead-letter writes still running at shutdown", zap.String("actor", "dlq"))
	}
}

func (a *dlqActor) accept(m *WriteDeadLetter) {
	st := a.st
	if e := st.pending[m.Record.EventID]; e != nil {
		// The sender asks again (after its own restart): answer the
		// latest request, and do not make it wait for a backoff.
		e.msg = m
		if e.state == entryWaiting {
			if e.cancel != nil {
				e.cancel()
			}
			st.enqueue(e)
		}
		return
	}
	e := &dlqEntry{msg: m}
	st.pending[m.Record.EventID] = e
	st.enqueue(e)
}

// pump starts a count when one is due and no attempt is in flight, and
// otherwise write attempts up to the Writers limit.
func (a *dlqActor) pump() {
	st := a.st
	if !st.started || st.ctx.Err() != nil {
		return
	}
	if st.countDue && st.counting == 0 && st.writing == 0 {
		a.startCount()
	}
	if st.countDue || st.counting != 0 {
		return
	}
	for st.writing < st.cfg.Writers && len(st.ready) > 0 {
		e := st.ready[0]
		st.ready[0] = nil
		st.ready = st.ready[1:]
		a.startWrite(e)
	}
	if len(st.ready) == 0 {
		st.ready = nil // let a bulk's backing array go
	}
}

func (a *dlqActor) background(fn func()) {
	a.st.jobs.Add(1)
	go func() {
		defer a.st.jobs.Done()
		fn()
	}()
}

func (a *dlqActor) startCount() {
	st := a.st
	st.countDue = false
	st.countGen++
	tok := st.next()
	st.counting = tok
	bctx, store, timeout := st.ctx, st.cfg.Store, st.cfg.CountTimeout
	root, self := a.root, a.self
	a.background(func() {
		ctx, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		n, err := store.Count(ctx)
		root.Send(self, &dlqCounted{token: tok, n: n, err: err})
	})
}

func (a *dlqActor) counted(m *dlqCounted) {
	st := a.st
	if m.token != st.counting {
		return // a count from before a restart
	}
	st.counting = 0
	if m.err != nil {
		st.cfg.Logger.Warn("counting the dead-letter queue failed; trying again at the next refresh",
			zap.String("actor", "dlq"), zap.Error(m.err))
		return
	}
	st.size, st.sizeKnown = m.n, true
	a.reportSize()
}

func (a *dlqActor) startWrite(e *dlqEntry) {
	st := a.st
	tok := st.next()
	e.state, e.token = entryWriting, tok
	st.writing++
	check := !e.checked || e.checkedGen != st.countGen
	d := deadLetter(e.msg)
	e.tried = e.msg
	fence := e.msg.Fence
	bctx, store, timeout := st.ctx, st.cfg.Store, st.cfg.WriteTimeout
	root, self := a.root, a.self
	a.background(func() {
		ctx, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		done := &deadLetterWriteDone{eventID: d.EventID, token: tok}
		if fence != nil {
			if done.err = fence(ctx); done.err != nil {
				root.Send(self, done)
				return
			}
		}
		if check {
			exists, err := store.Exists(ctx, d.EventID)
			if err != nil {
				done.err = fmt.Errorf("actors: check for an existing entry: %w", err)
				root.Send(self, done)
				return
			}
			done.checked, done.isNew = true, !exists
		}
		done.err = store.Put(ctx, d)
		root.Send(self, done)
	})
}

func deadLetter(m *WriteDeadLetter) storage.DeadLetter {
	f := m.Failure
	errText := ""
	if f.Err != nil {
		errText = f.Err.Error()
	}
	return storage.DeadLetter{
		Record: m.Record, Error: errText, ErrorKind: f.Kind, FailureCount: f.Attempts,
		FirstFailureAt: f.FirstFailure, LastFailureAt: f.LastFailure, Processor: m.Processor, Raw: m.Raw,
	}
}

func (a *dlqActor) written(ctx actor.Context, m *deadLetterWriteDone) {
	st := a.st
	e := st.pending[m.eventID]
	if e == nil || e.state != entryWriting || e.token != m.token {
		return // an attempt from before a restart
	}
	st.writing--
	if m.checked {
		e.checked, e.isNew, e.checkedGen = true, m.isNew, st.countGen
	}
	if errors.Is(m.err, leader.ErrFenced) && e.tried != e.msg {
		// The stale request was replaced while its check ran: try again
		// for the new one, under its own fence.
		a.retryLater(e, m.err)
		return
	}
	if errors.Is(m.err, leader.ErrFenced) {
		delete(st.pending, m.eventID)
		rec := e.msg.Record
		st.cfg.Logger.Warn("dead letter not written: a newer epoch holds the relay, whose leader reads the event again",
			zap.String("actor", "dlq"), zap.Stringer("event_id", rec.EventID), zap.Stringer("order_id", rec.AggregateID),
			zap.String("event_type", rec.EventType), zap.Error(m.err))
		if e.msg.ReplyTo != nil {
			ctx.Send(e.msg.ReplyTo, &DeadLetterFenced{EventID: rec.EventID, Err: m.err})
		}
		return
	}
	if m.err != nil {
		a.retryLater(e, m.err)
		return
	}
	delete(st.pending, m.eventID)
	cfg := st.cfg
	rec := e.msg.Record
	reason := ""
	if e.msg.Failure.Err != nil {
		reason = e.msg.Failure.Err.Error()
	}
	cfg.Logger.Info("event dead-lettered", zap.String("actor", "dlq"), zap.Stringer("event_id", rec.EventID),
		zap.Stringer("order_id", rec.AggregateID), zap.String("event_type", rec.EventType),
		zap.String("kind", e.msg.Failure.Kind), zap.String("reason", reason), zap.Int("attempt", e.attempts+1))
	if cfg.Metrics != nil {
		ctx.Send(cfg.Metrics, &DLQWritten{EventType: rec.EventType})
	}
	if e.isNew && st.sizeKnown {
		// Unknown size: the count to come includes this entry.
		st.size++
		a.reportSize()
	}
	if e.msg.ReplyTo != nil {
		ctx.Send(e.msg.ReplyTo, &DeadLetterWritten{EventID: rec.EventID})
	}
}

func (a *dlqActor) retryLater(e *dlqEntry, err error) {
	cfg := a.st.cfg
	e.attempts++
	delay := cfg.RetryInitial << min(e.attempts-1, 16)
	if delay > cfg.RetryMax || delay <= 0 {
		delay = cfg.RetryMax
	}
	tok := a.st.next()
	e.state, e.token = entryWaiting, tok
	e.cancel = a.sched.SendOnce(delay, a.self, &retryDeadLetter{eventID: e.msg.Record.EventID, token: tok})
	fields := []zap.Field{zap.String("actor", "dlq"), zap.Stringer("event_id", e.msg.Record.EventID),
		zap.String("event_type", e.msg.Record.EventType), zap.Int("attempt", e.attempts), zap.Duration("delay", delay), zap.Error(err)}
	if errors.Is(err, storage.ErrInvalidDeadLetter) {
		// Retrying cannot help, but dropping the entry would lose its
		// event: it stays unacknowledged, and visible here.
		cfg.Logger.Error("dead letter can never be written (a bug in its sender); its event stays unacknowledged", fields...)
		return
	}
	cfg.Logger.Warn("dead-letter write failed; retrying", fields...)
}

func (a *dlqActor) reportSize() {
	if m := a.st.cfg.Metrics; m != nil && a.st.sizeKnown {
		a.root.Send(m, &DLQSize{N: a.st.size})
	}
}

func (a *dlqActor) status() *DLQStatus {
	st := a.st
	s := &DLQStatus{Size: st.size, SizeKnown: st.sizeKnown, Pending: len(st.pending)}
	for _, e := range st.pending {
		switch e.state {
		case entryWriting:
			s.Writing++
		case entryWaiting:
			s.Waiting++
		}
	}
	return s
}
