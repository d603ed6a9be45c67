package actors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/metrics"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// Publisher sends records to the broker; *messaging.Publisher satisfies
// it. done is called exactly once, from any goroutine, with nil on the
// broker's acknowledgement.
type Publisher interface {
	Publish(rec outbox.Record, done func(error))
}

// DeadLetterIndex reads what the pipeline must know of the dead-letter
// queue: the events in it, and each aggregate's lowest dead-lettered
// sequence; *storage.DeadLetterStore satisfies it.
type DeadLetterIndex interface {
	Index(ctx context.Context) (events map[uuid.UUID]bool, from map[uuid.UUID]int64, err error)
}

// ProcessorConfig configures the CDC and polling processors alike: they
// differ only in where records come from.
type ProcessorConfig struct {
	Publisher Publisher
	// DLQ is the DlqActor's pid.
	DLQ *actor.PID
	// Metrics is the MetricsActor's pid; nil reports nothing.
	Metrics *actor.PID
	Retry   resilience.RetryPolicy
	Breaker resilience.BreakerConfig
	// Policy is what happens to later events of an aggregate with a
	// dead-lettered event (relay.Continue or relay.Hold).
	Policy relay.Policy
	// DeadLetters is loaded at start — nothing is published before — and
	// every DLQRefresh, so that an event read again after a restart is
	// known to be dead-lettered already, and (Hold policy) a replayed or
	// discarded entry releases its aggregate without a restart.
	DeadLetters DeadLetterIndex
	DLQRefresh  time.Duration
	// Classify says what a publish error means (Unavailable, Rejected or
	// Permanent); Ambiguous reports errors after which the record may
	// already be in the broker. See relay.Config.
	Classify  func(error) relay.Class
	Ambiguous func(error) bool
	// Fence, if set, fails with leader.ErrFenced once a newer epoch holds
	// the relay; it is checked before each dead letter is written (see
	// WriteDeadLetter.Fence), and a failure fences this processor.
	Fence func(context.Context) error
	// MaxInFlight bounds records read but not finished. When it is reached
	// the reader blocks: that is the backpressure that keeps a relay
	// facing a dead broker from reading the whole log into memory.
	MaxInFlight int
	// ProgressInterval is how often the progress of finished records is
	// saved (CDC per-stream progress; the polling cursor and finished set).
	// A crash re-publishes what finished since the last save — at most
	// this much traffic — plus what was in flight. Default
	// DefaultProgressInterval.
	ProgressInterval time.Duration
	// DrainTimeout bounds how long a graceful shutdown waits for in-flight
	// records; unfinished ones are not acknowledged, so their source
	// delivers them again after the restart.
	DrainTimeout time.Duration
	// PanicOn, if set, is asked about every record and the processor
	// panics when it says yes: fault injection for tests and the demo. The
	// record is not lost: the restarted processor recovers it.
	PanicOn func(outbox.Record) bool
	Logger  *zap.Logger
	Clock   func() time.Time
}

// Defaults of ProcessorConfig.
const (
	DefaultMaxInFlight  = 1000
	DefaultDrainTimeout = 10 * time.Second
	DefaultDLQRefresh   = 10 * time.Second
)

// setDefaults fills every zero optional field.
func (c *ProcessorConfig) setDefaults() {
	if c.Retry.MaxAttempts == 0 {
		c.Retry = resilience.DefaultRetry()
	}
	if c.Breaker.FailureThreshold == 0 {
		c.Breaker = resilience.DefaultBreaker()
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.DLQRefresh == 0 {
		c.DLQRefresh = DefaultDLQRefresh
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

// Validate reports a configuration a processor cannot run with.
func (c ProcessorConfig) Validate() error {
	var errs []error
	if c.Publisher == nil || c.DLQ == nil || c.DeadLetters == nil {
		errs = append(errs, errors.New("actors: processor needs a publisher, a DLQ actor and the dead-letter index"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DLQRefresh", c.DLQRefresh}, {"DrainTimeout", c.DrainTimeout}, {"ProgressInterval", c.ProgressInterval}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("actors: processor %s must not be negative, got %s", d.name, d.v))
		}
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("actors: processor MaxInFlight must not be negative, got %d", c.MaxInFlight))
	}
	if c.Retry.MaxAttempts != 0 {
		errs = append(errs, c.Retry.Validate())
	}
	if c.Breaker.FailureThreshold != 0 {
		errs = append(errs, c.Breaker.Validate())
	}
	return errors.Join(errs...)
}

// DefaultProgressInterval is ProcessorConfig.ProgressInterval's default:
// short enough that a crash re-publishes well under a second of traffic,
// long enough that saving costs one write per active stream a tenth of a
// second.
const DefaultProgressInterval = 100 * time.Millisecond

// processorCore is a processor's state that survives restarts of its actor:
// the pipeline, the ledger and the hooks. Only the actor's goroutine touches
// the pipeline.
type processorCore struct {
	name    string
	cfg     ProcessorConfig
	self    *actor.PID
	parent  *actor.PID
	root    *actor.RootContext
	sched   *scheduler.TimerScheduler
	ledger  *ledger
	pipe    *relay.Pipeline
	started bool
	// onFinished lets the polling processor track its cursor.
	onFinished func(rec outbox.Record, published bool)
	// draining callers, answered when nothing is in flight.
	drainers []*actor.PID
	// lastPub is the last published event, if published says there is one:
	// kept by value, since it changes on every publish.
	lastPub   PublishedEvent
	published bool
	// acked collects the events published in a batch of publish results,
	// for one metrics message.
	acked []AckedEvent
	// inbox batches records and publish results between wake-ups.
	inbox *inbox
	// The source's part, set by each processor: saveProgress saves its
	// progress over finished records (off the actor's goroutine, every
	// ProgressInterval), finalSave saves it at the end of a drain (on the
	// actor's goroutine: its error is the drain's reply), stopIntake makes
	// it deliver nothing more (a graceful drain), reading reports whether
	// it is reading (/status).
	saveProgress func()
	finalSave    func() error
	stopIntake   func()
	reading      func() bool
	// bg tracks I/O the actor started off its goroutine; Stopping waits for
	// it so nothing outlives the actor.
	bg         tasks
	stopGauges scheduler.CancelFunc
	stopDLQ    scheduler.CancelFunc
	// halted: fenced; no publish or dead letter leaves the processor.
	halted bool
	// loadingDLQ: a load of the dead-letter index is under way.
	loadingDLQ   bool
	stopProgress scheduler.CancelFunc
}

// background runs fn off the actor's goroutine, tracked for shutdown.
func (c *processorCore) background(fn func()) {
	c.bg.start()
	go func() {
		defer c.bg.done()
		fn()
	}()
}

// waitBackground stops the periodic timers and waits (bounded) for
// background work at shutdown.
func (c *processorCore) waitBackground(timeout time.Duration) {
	for _, stop := range []scheduler.CancelFunc{c.stopGauges, c.stopProgress, c.stopDLQ} {
		if stop != nil {
			stop()
		}
	}
	c.awaitBackground(timeout)
}

// awaitBackground waits (bounded) for the background work started so far.
func (c *processorCore) awaitBackground(timeout time.Duration) {
	select {
	case <-c.bg.idle():
	case <-time.After(timeout):
		c.cfg.Logger.Warn("background work still running at shutdown", zap.String("actor", c.name))
	}
}

// tasks counts background work. Unlike a sync.WaitGroup it may be waited
// for with a timeout and then started again: a drain waits for running
// saves, and periodic saves go on if the drain timed out.
type tasks struct {
	mu      sync.Mutex
	running int
	none    chan struct{} // closed while running is 0
}

func (t *tasks) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running == 0 {
		t.none = make(chan struct{})
	}
	t.running++
}

func (t *tasks) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.running--
	if t.running == 0 {
		close(t.none)
	}
}

// idle returns a channel closed once no task runs.
func (t *tasks) idle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running == 0 {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return t.none
}

func newProcessorCore(name string, cfg ProcessorConfig) *processorCore {
	return &processorCore{name: name, cfg: cfg, ledger: newLedger(cfg.MaxInFlight), inbox: &inbox{}}
}

// start runs on the actor's first Started; on a later Started (a restart)
// it recovers what the dead instance may have dropped.
func (c *processorCore) start(ctx actor.Context) {
	if c.started {
		c.recover()
		return
	}
	c.started = true
	c.self, c.parent = ctx.Self(), ctx.Parent()
	c.root = ctx.ActorSystem().Root
	c.sched = scheduler.NewTimerScheduler(c.root)
	c.pipe = relay.New(relay.Config{Retry: c.cfg.Retry, Breaker: c.cfg.Breaker, Policy: c.cfg.Policy,
		Classify: c.cfg.Classify, Ambiguous: c.cfg.Ambiguous},
		c, c, c.cfg.Clock, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed)))
	// Nothing is published until the dead-letter index is loaded.
	c.refreshDLQ()
	c.stopDLQ = repeat(c.root, c.cfg.DLQRefresh, c.self, &refreshDLQ{})
	// Gauges are sampled, not sent per event: a message to the metrics
	// actor for every event would double the relay's actor traffic.
	c.stopGauges = repeat(c.root, gaugeInterval, c.self, &reportGauges{})
	c.stopProgress = repeat(c.root, c.cfg.ProgressInterval, c.self, &saveProgress{})
}

// gaugeInterval is how often the in-flight gauge is sampled.
const gaugeInterval = 250 * time.Millisecond

// recover re-offers records whose delivery message was lost and re-issues
// effects whose outcome may have been lost.
func (c *processorCore) recover() {
	c.loadingDLQ = false
	c.pipe.Recover()
	// Records whose delivery message is still queued are offered now and
	// again when it arrives; the pipeline treats the second as a duplicate.
	for _, u := range c.ledger.outstanding() {
		for i := c.pipe.Offers(u.rec.EventID); i < u.deliveries; i++ {
			c.pipe.Offer(u.rec)
		}
	}
	c.cfg.Logger.Warn("processor recovered after restart", zap.String("actor", c.name), zap.Int("in_flight", c.pipe.InFlight()))
}

func (c *processorCore) metric(m any) {
	if c.cfg.Metrics != nil {
		c.root.Send(c.cfg.Metrics, m)
	}
}

// receive handles the messages every processor shares; it reports whether
// msg was one of them.
func (c *processorCore) receive(ctx actor.Context) bool {
	switch m := ctx.Message().(type) {
	case *recordsArrived:
		for _, rec := range c.inbox.takeRecords() {
			c.offer(rec)
		}
	case *publishResults:
		results := c.inbox.takeResults()
		if c.cfg.Metrics != nil && c.acked == nil {
			c.acked = make([]AckedEvent, 0, len(results))
		}
		for _, r := range results {
			c.pipe.OnPublished(r.eventID, r.err)
		}
		if len(c.acked) > 0 {
			c.metric(&EventsPublished{Processor: c.name, AckedAt: c.cfg.Clock(), Events: c.acked})
		}
		c.acked = nil
	case *retryDue:
		c.pipe.OnRetryDue(m.eventID)
	case *probeDue:
		c.pipe.OnProbeDue()
	case *DeadLetterWritten:
		c.pipe.OnDeadLettered(m.EventID)
	case *dlqLoaded:
		c.loadingDLQ = false
		if m.err != nil {
			c.cfg.Logger.Warn("loading the dead-letter index failed; retrying", zap.String("actor", c.name),
				zap.Duration("delay", dlqRetry), zap.Error(m.err))
			c.sched.SendOnce(dlqRetry, c.self, &refreshDLQ{})
			break
		}
		c.pipe.DLQLoaded(relay.DeadLetters{Events: m.events, From: m.from}, m.mark)
	case *refreshDLQ:
		c.refreshDLQ()
	case *GetProcessorStatus:
		ctx.Respond(c.status())
	case *Drain:
		// Stop intake first: no new record is admitted, so the in-flight
		// set can only shrink.
		c.stopIntake()
		c.drain(ctx)
	case *drainTimeout:
		c.flushDrainers()
	case *reportGauges:
		c.metric(&InFlight{N: c.pipe.InFlight()})
	case *saveProgress:
		c.saveProgress()
	case *progressFenced:
		c.fenced(m.err)
	case *DeadLetterFenced:
		c.fenced(m.Err)
	default:
		return false
	}
	c.answerDrainers()
	return true
}

// logRejected records, from the goroutine that made it, a progress write a
// newer epoch rejected: the evidence that fencing held, logged even when
// the processor is already stopping and will handle no report of it.
func (c *processorCore) logRejected(err error) {
	c.cfg.Logger.Warn("progress write rejected: a newer epoch holds the relay", zap.String("actor", c.name), zap.Error(err))
}

// fenced stops a processor whose progress write a newer epoch rejected:
// another relay of the same name is active, so this one reads nothing
// more, publishes nothing more (not even retries), writes no dead letter,
// and tells its parent, which stops it.
func (c *processorCore) fenced(err error) {
	if c.halted {
		return
	}
	c.halted = true
	c.stopIntake()
	c.cfg.Logger.Warn("fenced: another relay of this name is active; this one stops publishing",
		zap.String("actor", c.name), zap.Error(err))
	if c.parent != nil {
		// With this processor as the sender: the parent ignores a late
		// report from a processor it has already replaced.
		c.root.RequestWithCustomSender(c.parent, &ProcessorFenced{Err: err}, c.self)
	}
}

// offer hands a record to the pipeline, panicking first where PanicOn asks
// for it.
func (c *processorCore) offer(rec outbox.Record) {
	if c.cfg.PanicOn != nil && c.cfg.PanicOn(rec) {
		panic(fmt.Errorf("%w: processing event %s", ErrInjectedPanic, rec.EventID))
	}
	c.pipe.Offer(rec)
}

// refreshDLQ loads the dead-letter index off the actor's goroutine, one
// load at a time: at start (nothing is published before it), every
// DLQRefresh, and dlqRetry after a failure.
func (c *processorCore) refreshDLQ() {
	if c.loadingDLQ {
		return
	}
	c.loadingDLQ = true
	mark := c.pipe.DLQLoadStarted()
	c.background(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		events, from, err := c.cfg.DeadLetters.Index(ctx)
		c.root.Send(c.self, &dlqLoaded{events: events, from: from, mark: mark, err: err})
	})
}

// dlqRetry spaces loads of the dead-letter index after a failed one.
const dlqRetry = time.Second

func (c *processorCore) status() *ProcessorStatus {
	st := &ProcessorStatus{Processor: c.name, InFlight: c.pipe.InFlight(), Breaker: c.pipe.Breaker().String(), Reading: c.reading()}
	if c.published {
		last := c.lastPub
		st.LastPublished = &last
		st.Lag = c.cfg.Clock().Sub(last.CommittedAt)
	}
	return st
}

// drain answers once nothing is in flight, or when the drain timeout ends.
func (c *processorCore) drain(ctx actor.Context) {
	c.drainers = append(c.drainers, ctx.Sender())
	c.sched.SendOnce(c.cfg.DrainTimeout, c.self, &drainTimeout{})
	c.answerDrainers()
}

// answerDrainers replies once nothing is in flight — including records
// admitted by the source whose delivery message is still queued: the
// source's progress may only be saved past them once they finish.
func (c *processorCore) answerDrainers() {
	if len(c.drainers) == 0 || c.pipe.InFlight() > 0 || c.ledger.size() > 0 {
		return
	}
	c.flushDrainers()
}

// flushDrainers saves progress and answers the drainers with what could
// not be saved: a shutdown that loses progress says so.
func (c *processorCore) flushDrainers() {
	if len(c.drainers) == 0 {
		return
	}
	err := c.finalSave()
	if err != nil {
		c.cfg.Logger.Warn("saving progress at the end of the drain failed; a restart publishes those events again",
			zap.String("actor", c.name), zap.Error(err))
	}
	for _, pid := range c.drainers {
		if pid != nil {
			c.root.Send(pid, &Drained{Err: err})
		}
	}
	c.drainers = nil
}

// sink is the records' way in: it blocks on the ledger's credits, then hands
// the record to the actor.
type sink struct{ core *processorCore }

func (s sink) Deliver(ctx context.Context, rec outbox.Record, ack func()) error {
	if err := s.core.ledger.admit(ctx, rec, ack); err != nil {
		return err
	}
	if s.core.inbox.addRecord(rec) {
		s.core.root.Send(s.core.self, &recordsArrived{})
	}
	return nil
}

// relay.Effects, called on the actor's goroutine.

func (c *processorCore) Publish(rec outbox.Record) {
	if c.halted {
		return
	}
	// The callback keeps only the id: capturing rec would move the whole
	// record to the heap on every publish.
	self, root, inbox, id := c.self, c.root, c.inbox, rec.EventID
	c.cfg.Publisher.Publish(rec, func(err error) {
		if inbox.addResult(publishResult{eventID: id, err: err}) {
			root.Send(self, &publishResults{})
		}
	})
}

func (c *processorCore) ScheduleRetry(id uuid.UUID, after time.Duration) {
	c.sched.SendOnce(after, c.self, &retryDue{eventID: id})
}

func (c *processorCore) ScheduleProbe(after time.Duration) {
	c.sched.SendOnce(after, c.self, &probeDue{})
}

func (c *processorCore) DeadLetter(rec outbox.Record, f relay.Failure) {
	if c.halted {
		return
	}
	w := &WriteDeadLetter{Record: rec, Failure: f, Processor: c.name, ReplyTo: c.self, Fence: c.cfg.Fence}
	if rec.Malformed != nil {
		w.Raw = rec.Malformed.Raw
	}
	c.root.Send(c.cfg.DLQ, w)
}

func (c *processorCore) Finished(rec outbox.Record, published bool) {
	c.ledger.settle(rec.EventID)
	if c.onFinished != nil {
		c.onFinished(rec, published)
	}
}

// relay.Observer: metrics and logs.

// Published is called only while a batch of publish results is handled:
// the batch reports its events to the metrics actor in one message.
func (c *processorCore) Published(rec outbox.Record, attempts int) {
	c.lastPub = PublishedEvent{EventID: rec.EventID, AggregateID: rec.AggregateID, Sequence: rec.Sequence,
		EventType: rec.EventType, CommittedAt: rec.CommittedAt}
	c.published = true
	if c.cfg.Metrics != nil {
		c.acked = append(c.acked, AckedEvent{EventType: rec.EventType, CommittedAt: rec.CommittedAt})
	}
	if attempts > 1 {
		c.metric(&RetrySucceeded{EventType: rec.EventType})
	}
}

func (c *processorCore) PublishFailed(rec outbox.Record, attempt int, err error, permanent bool) {
	c.cfg.Logger.Warn("publish failed", zap.String("actor", c.name), zap.Stringer("event_id", rec.EventID),
		zap.Stringer("order_id", rec.AggregateID), zap.String("event_type", rec.EventType),
		zap.Int("attempt", attempt), zap.Bool("permanent", permanent), zap.Error(err))
}

func (c *processorCore) Retrying(rec outbox.Record, attempt int, delay time.Duration) {
	c.metric(&RetryAttempted{EventType: rec.EventType})
	c.cfg.Logger.Info("publish retry scheduled", zap.String("actor", c.name), zap.Stringer("event_id", rec.EventID),
		zap.String("event_type", rec.EventType), zap.Int("attempt", attempt), zap.Duration("delay", delay))
}

func (c *processorCore) DeadLettered(rec outbox.Record, f relay.Failure) {
	c.metric(&EventFailed{EventType: rec.EventType})
	if f.Kind == relay.KindExhausted {
		c.metric(&RetryExhausted{EventType: rec.EventType})
	}
	c.cfg.Logger.Warn("event goes to the dead-letter queue", zap.String("actor", c.name), zap.Stringer("event_id", rec.EventID),
		zap.Stringer("order_id", rec.AggregateID), zap.String("event_type", rec.EventType), zap.String("kind", f.Kind),
		zap.Int("attempt", f.Attempts), zap.Error(f.Err))
}

func (c *processorCore) BreakerChanged(from, to resilience.BreakerState) {
	c.metric(&BreakerTransition{From: metrics.BreakerState(from), To: metrics.BreakerState(to)})
	c.cfg.Logger.Warn("circuit breaker "+to.String(), zap.String("actor", c.name), zap.String("from", from.String()), zap.String("to", to.String()))
}

func (c *processorCore) Duplicate(rec outbox.Record) {
	c.metric(&DuplicateSkipped{})
}

func (c *processorCore) Republished(rec outbox.Record, reason string) {
	c.metric(&EventRepublished{Reason: reason})
	c.cfg.Logger.Info("publishing an event that may already be in the broker", zap.String("actor", c.name),
		zap.Stringer("event_id", rec.EventID), zap.Stringer("order_id", rec.AggregateID), zap.String("event_type", rec.EventType),
		zap.String("reason", reason))
}
