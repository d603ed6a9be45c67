package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
)

// ErrSystemStopped is returned by [System.Spawn] after [System.Shutdown].
var ErrSystemStopped = errors.New("actors: system is shut down")

// System wraps a protoactor ActorSystem with what protoactor leaves to its
// users: logs in zap, supervision and dead letters logged with structured
// fields, a guardian with explicit restart limits for top-level actors, and a
// shutdown that actually stops the actors (ActorSystem.Shutdown does not).
type System struct {
	actorSystem *actor.ActorSystem
	root        *actor.RootContext
	logger      *zap.Logger
	logSub      *eventstream.Subscription

	mu       sync.Mutex
	topLevel []topLevelActor
	stopped  bool
}

type topLevelActor struct {
	pid   *actor.PID
	drain bool
}

type systemOptions struct {
	maxRestarts   int
	restartWindow time.Duration
	libraryLevel  zapcore.Level
}

// SystemOption configures [NewSystem].
type SystemOption func(*systemOptions)

// WithGuardianLimits sets the restart limits of the guardian that supervises
// top-level actors (see [NewSupervisorStrategy]). Defaults:
// [DefaultMaxRestarts] within [DefaultRestartWindow].
func WithGuardianLimits(maxRetries int, window time.Duration) SystemOption {
	return func(o *systemOptions) { o.maxRestarts, o.restartWindow = maxRetries, window }
}

// WithLibraryLogLevel sets the lowest level of protoactor's own log lines
// that reach zap (default Warn). Below Warn protoactor only repeats what
// System logs from the event stream, unstructured.
func WithLibraryLogLevel(level zapcore.Level) SystemOption {
	return func(o *systemOptions) { o.libraryLevel = level }
}

// NewSystem starts an actor system logging through logger (nil: no logs).
func NewSystem(logger *zap.Logger, opts ...SystemOption) *System {
	if logger == nil {
		logger = zap.NewNop()
	}
	o := systemOptions{
		maxRestarts:   DefaultMaxRestarts,
		restartWindow: DefaultRestartWindow,
		libraryLevel:  zapcore.WarnLevel,
	}
	for _, opt := range opts {
		opt(&o)
	}
	libCore := logger.Core()
	// NewIncreaseLevelCore refuses to lower a level; then the logger's own,
	// higher level already does the filtering.
	if c, err := zapcore.NewIncreaseLevelCore(libCore, o.libraryLevel); err == nil {
		libCore = c
	}
	libLogger := slog.New(zapslog.NewHandler(libCore, zapslog.WithName("protoactor")))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return libLogger }))
	s := &System{
		actorSystem: sys,
		logger:      logger,
		root: sys.Root.Copy().WithGuardian(
			NewSupervisorStrategy(o.maxRestarts, o.restartWindow, logger)),
	}
	s.logSub = sys.EventStream.Subscribe(func(evt any) {
		switch e := evt.(type) {
		case *actor.SupervisorEvent:
			s.logSupervision(e)
		case *actor.DeadLetterEvent:
			s.logDeadLetter(e)
		}
	})
	return s
}

// ActorSystem returns the underlying protoactor system.
func (s *System) ActorSystem() *actor.ActorSystem { return s.actorSystem }

// Root returns the root context whose spawns are supervised by the guardian.
// Use it to send to and request from actors.
func (s *System) Root() *actor.RootContext { return s.root }

// SpawnOption configures [System.Spawn].
type SpawnOption func(*topLevelActor)

// Drainable marks an actor that answers [*Drain] with [*Drained]: before
// stopping it, [System.Shutdown] asks it to finish the work it accepted.
func Drainable() SpawnOption { return func(t *topLevelActor) { t.drain = true } }

// Spawn starts a top-level actor named name under the guardian and registers
// it for [System.Shutdown]. Names must be unique; name them after the actor
// kind ("orders", "metrics") because the kind is the actor_restarts_total
// label (see [ActorKind]).
func (s *System) Spawn(props *actor.Props, name string, opts ...SpawnOption) (*actor.PID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, fmt.Errorf("actors: spawn %s: %w", name, ErrSystemStopped)
	}
	pid, err := s.root.SpawnNamed(props, name)
	if err != nil {
		return nil, fmt.Errorf("actors: spawn %s: %w", name, err)
	}
	t := topLevelActor{pid: pid}
	for _, opt := range opts {
		opt(&t)
	}
	s.topLevel = append(s.topLevel, t)
	return pid, nil
}

// OnRestart calls fn with the [ActorKind] of every actor a supervisor
// restarts, until the returned cancel is called. It is the hook for
// actor_restarts_total: fn typically sends [*ActorRestarted] to the metrics
// actor. fn runs on the failing actor's supervisor goroutine and must not
// block.
func (s *System) OnRestart(fn func(actorKind string)) (cancel func()) {
	sub := s.actorSystem.EventStream.Subscribe(func(evt any) {
		if e, ok := evt.(*actor.SupervisorEvent); ok && e.Directive == actor.RestartDirective {
			fn(ActorKind(e.Child.GetId()))
		}
	})
	return func() { s.actorSystem.EventStream.Unsubscribe(sub) }
}

// Shutdown stops the top-level actors one at a time, newest first, because
// later actors usually depend on earlier ones (the order actor reports to
// the metrics actor spawned before it). A [Drainable] actor is first asked
// to drain; then each is poisoned, so it handles the messages already in its
// mailbox before stopping, and its children stop with it. Shutdown waits
// for each actor to terminate or ctx to end, then shuts the system down. It
// returns the errors of actors that did not stop in time; calling it again
// does nothing.
func (s *System) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	topLevel := s.topLevel
	s.topLevel = nil
	s.mu.Unlock()

	var errs []error
	for i := len(topLevel) - 1; i >= 0; i-- {
		t := topLevel[i]
		if t.drain {
			f := s.root.RequestFuture(t.pid, &Drain{}, futureTimeout(ctx))
			reply, err := awaitFuture(ctx, f)
			if d, ok := reply.(*Drained); ok && err == nil {
				err = d.Err
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("actors: drain %s: %w", t.pid.GetId(), err))
			}
		}
		if _, err := awaitFuture(ctx, s.root.PoisonFuture(t.pid)); err != nil {
			errs = append(errs, fmt.Errorf("actors: stop %s: %w", t.pid.GetId(), err))
		}
	}
	s.actorSystem.EventStream.Unsubscribe(s.logSub)
	s.actorSystem.Shutdown()
	return errors.Join(errs...)
}

// ActorKind returns the actor path of id with instance ids removed, the
// bounded value used as the actor label: every path segment is cut at its
// first '$', which is where protoactor's generated names ("$12", "prefix$12")
// and this package's per-entity children ("order$<uuid>") put the instance
// part. A segment that is nothing but an instance part becomes "anonymous".
func ActorKind(id string) string {
	segs := strings.Split(id, "/")
	for i, seg := range segs {
		seg, _, _ = strings.Cut(seg, "$")
		if seg == "" {
			seg = "anonymous"
		}
		segs[i] = seg
	}
	return strings.Join(segs, "/")
}

func (s *System) logSupervision(e *actor.SupervisorEvent) {
	fields := []zap.Field{
		zap.String("actor", e.Child.GetId()),
		zap.String("reason", fmt.Sprint(e.Reason)),
		zap.Stringer("directive", e.Directive),
	}
	switch e.Directive {
	case actor.RestartDirective:
		s.logger.Warn("supervisor restarted actor", fields...)
	case actor.StopDirective:
		// The actor is gone for good; whatever it served now fails.
		s.logger.Error("supervisor stopped actor", fields...)
	default:
		s.logger.Info("supervisor applied directive", fields...)
	}
}

func (s *System) logDeadLetter(e *actor.DeadLetterEvent) {
	fields := []zap.Field{
		zap.String("actor", e.PID.GetId()),
		zap.String("message_type", fmt.Sprintf("%T", e.Message)),
	}
	if e.Sender != nil {
		// Someone is waiting: protoactor answers it with a dead-letter error.
		s.logger.Info("request to a stopped actor", append(fields, zap.String("sender", e.Sender.GetId()))...)
		return
	}
	s.logger.Debug("message to a stopped actor dropped", fields...)
}

// defaultFutureTimeout bounds a wait whose context has no deadline, so that
// the goroutine waiting on the Future always ends.
const defaultFutureTimeout = 30 * time.Second

func futureTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return defaultFutureTimeout
}

// awaitFuture waits for f or ctx, whichever ends first. It is the single
// waiter of f (a protoactor Future wakes only one); when ctx wins, the
// waiting goroutine lives on until f resolves or times out.
func awaitFuture(ctx context.Context, f *actor.Future) (any, error) {
	type outcome struct {
		res any
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := f.Result()
		done <- outcome{res, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case o := <-done:
		return o.res, o.err
	}
}
