package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

// Default restart limits: a transient fault (a panic on one bad message)
// gets a few fresh starts, while a crash loop is stopped within a minute
// instead of spinning forever and flooding the logs.
const (
	DefaultMaxRestarts   = 5
	DefaultRestartWindow = time.Minute
)

// NewSupervisorStrategy returns a one-for-one strategy that restarts a
// failing child unless it has already failed more than maxRetries times
// within window, in which case the child is stopped. maxRetries 0 (or less)
// stops on the first failure; window 0 (or less) counts failures over the
// child's whole life.
//
// Every failure is logged at Error with the child (actor), the panic value
// (reason), the type of the message that was dropped (message_type) and the
// failure count within the window (attempt), because protoactor itself logs
// failures only at Debug and the dropped message is otherwise invisible. The
// decision is logged separately by [System] from the event stream.
//
// Use it as the guardian of top-level actors ([WithGuardianLimits]) and as
// the supervisor in the props of actors that have children.
func NewSupervisorStrategy(maxRetries int, window time.Duration, logger *zap.Logger) actor.SupervisorStrategy {
	if logger == nil {
		logger = zap.NewNop()
	}
	maxRetries = max(maxRetries, 0)
	window = max(window, 0)
	// Only panics and escalations reach a strategy, and a fresh instance
	// rebuilt from storage is the remedy for both; the limit above is what
	// stops a crash loop.
	restart := func(any) actor.Directive { return actor.RestartDirective }
	return &loggingStrategy{
		inner:  actor.NewOneForOneStrategy(maxRetries, window, restart),
		window: window,
		logger: logger,
	}
}

type loggingStrategy struct {
	inner  actor.SupervisorStrategy
	window time.Duration
	logger *zap.Logger
}

// HandleFailure implements actor.SupervisorStrategy.
func (s *loggingStrategy) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, message any) {
	_, dropped, _ := actor.UnwrapEnvelope(message)
	s.logger.Error("actor failed; its message was dropped",
		zap.String("actor", child.GetId()),
		zap.String("reason", fmt.Sprint(reason)),
		zap.String("message_type", fmt.Sprintf("%T", dropped)),
		zap.Int("attempt", rs.NumberOfFailures(s.window)+1),
	)
	s.inner.HandleFailure(sys, sup, child, rs, reason, message)
}
