package actors

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/storage"
)

// DeadLetterWriter persists dead letters; *storage.DeadLetterStore
// satisfies it.
type DeadLetterWriter interface {
	Put(ctx context.Context, d storage.DeadLetter) error
	Count(ctx context.Context) (int, error)
}

// DlqConfig configures the DlqActor.
type DlqConfig struct {
	Store   DeadLetterWriter
	Metrics *actor.PID
	// WriteTimeout bounds one write; RetryInitial doubling to RetryMax
	// spaces retries of a failed write.
	WriteTimeout           time.Duration
	RetryInitial, RetryMax time.Duration
	// SizeRefresh is how often the DLQ size gauge is refreshed.
	SizeRefresh time.Duration
	Logger      *zap.Logger
	Clock       func() time.Time
}

// dlqState survives restarts of the DlqActor: the writes not yet durable,
// so a restart re-arms their retries instead of dropping them.
type dlqState struct {
	cfg      DlqConfig
	pending  map[uuid.UUID]*WriteDeadLetter
	attempts map[uuid.UUID]int
	started  bool
}

// NewDlqProps returns the DlqActor: the only writer of the dead-letter
// queue. It receives [*WriteDeadLetter] and replies [*DeadLetterWritten] to
// its ReplyTo once the entry is written — retrying failed writes on a timer,
// never dropping one — and reports the DLQ size to the MetricsActor.
func NewDlqProps(cfg DlqConfig) (*actor.Props, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("actors: DLQ actor needs a store")
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = 200 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryInitial {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.SizeRefresh <= 0 {
		cfg.SizeRefresh = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	st := &dlqState{cfg: cfg, pending: map[uuid.UUID]*WriteDeadLetter{}, attempts: map[uuid.UUID]int{}}
	return actor.PropsFromProducer(func() actor.Actor { return &dlqActor{st: st} }), nil
}

type dlqActor struct {
	st     *dlqState
	sched  *scheduler.TimerScheduler
	cancel []scheduler.CancelFunc
}

func (a *dlqActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.sched = scheduler.NewTimerScheduler(ctx.ActorSystem().Root)
		ctx.Send(ctx.Self(), &refreshDLQSize{})
		a.cancel = append(a.cancel, repeat(ctx.ActorSystem().Root, a.st.cfg.SizeRefresh, ctx.Self(), &refreshDLQSize{}))
		if a.st.started {
			for _, w := range a.st.pending {
				a.cancel = append(a.cancel, a.sched.SendOnce(a.st.cfg.RetryInitial, ctx.Self(), &retryDeadLetter{msg: w}))
			}
		}
		a.st.started = true
	case *actor.Stopping, *actor.Restarting:
		for _, c := range a.cancel {
			c()
		}
		a.cancel = nil
	case *WriteDeadLetter:
		a.st.pending[m.Record.EventID] = m
		a.write(ctx, m)
	case *retryDeadLetter:
		if _, ok := a.st.pending[m.msg.Record.EventID]; ok {
			a.write(ctx, m.msg)
		}
	case *refreshDLQSize:
		a.reportSize(ctx)
	}
}

func (a *dlqActor) write(ctx actor.Context, m *WriteDeadLetter) {
	cfg := a.st.cfg
	id := m.Record.EventID
	f := m.Failure
	errText := ""
	if f.Err != nil {
		errText = f.Err.Error()
	}
	d := storage.DeadLetter{
		Record: m.Record, Error: errText, ErrorKind: f.Kind, FailureCount: f.Attempts,
		FirstFailureAt: f.FirstFailure, LastFailureAt: f.LastFailure, Processor: m.Processor,
	}
	wctx, cancel := context.WithTimeout(context.Background(), cfg.WriteTimeout)
	err := cfg.Store.Put(wctx, d)
	cancel()
	if err != nil {
		a.st.attempts[id]++
		n := a.st.attempts[id]
		delay := cfg.RetryInitial << min(n-1, 16)
		if delay > cfg.RetryMax || delay <= 0 {
			delay = cfg.RetryMax
		}
		cfg.Logger.Warn("dead-letter write failed; retrying", zap.String("actor", "dlq"), zap.Stringer("event_id", id),
			zap.String("event_type", m.Record.EventType), zap.Int("attempt", n), zap.Duration("delay", delay), zap.Error(err))
		a.cancel = append(a.cancel, a.sched.SendOnce(delay, ctx.Self(), &retryDeadLetter{msg: m}))
		return
	}
	delete(a.st.pending, id)
	delete(a.st.attempts, id)
	cfg.Logger.Info("event dead-lettered", zap.String("actor", "dlq"), zap.Stringer("event_id", id),
		zap.Stringer("order_id", m.Record.AggregateID), zap.String("event_type", m.Record.EventType),
		zap.String("kind", f.Kind), zap.String("reason", errText))
	if cfg.Metrics != nil {
		ctx.Send(cfg.Metrics, &DLQWritten{EventType: m.Record.EventType})
	}
	if m.ReplyTo != nil {
		ctx.Send(m.ReplyTo, &DeadLetterWritten{EventID: id})
	}
	a.reportSize(ctx)
}

func (a *dlqActor) reportSize(ctx actor.Context) {
	cfg := a.st.cfg
	if cfg.Metrics == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.Background(), cfg.WriteTimeout)
	n, err := cfg.Store.Count(cctx)
	cancel()
	if err != nil {
		cfg.Logger.Debug("counting the dead-letter queue failed", zap.Error(err))
		return
	}
	ctx.Send(cfg.Metrics, &DLQSize{N: n})
}
