package actors

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/metrics"
)

// DefaultMetricsShutdownTimeout bounds how long the metrics actor waits for
// in-flight scrapes when it stops.
const DefaultMetricsShutdownTimeout = 5 * time.Second

// MetricsConfig configures the metrics actor.
type MetricsConfig struct {
	// Metrics receives every update; required.
	Metrics *metrics.Metrics
	// ListenAddr, when set (for example ":9090", or "127.0.0.1:0" in
	// tests), makes the actor serve Gatherer on /metrics there while it
	// runs.
	ListenAddr string
	// Gatherer is what /metrics serves: the registry Metrics was
	// registered on. Required with ListenAddr.
	Gatherer prometheus.Gatherer
	// ShutdownTimeout bounds the HTTP shutdown. Default
	// [DefaultMetricsShutdownTimeout].
	ShutdownTimeout time.Duration
	// Logger defaults to a no-op logger.
	Logger *zap.Logger
}

// NewMetricsProps returns the props of the metrics actor, the one owner of
// metric updates: components send it the messages of metrics_messages.go
// instead of sharing a *metrics.Metrics. Spawn it before the actors that
// report to it, so that [System.Shutdown] stops it after them.
//
// It receives every message of metrics_messages.go. Only [*GetMetricsAddr]
// is answered ([*MetricsAddr]). With a ListenAddr it serves /metrics from
// Started until Stopping (and across restarts, rebinding). A listener that
// cannot bind is logged at Error and the actor carries on collecting, since
// dropping the metrics would not bring the port back.
func NewMetricsProps(cfg MetricsConfig) (*actor.Props, error) {
	switch {
	case cfg.Metrics == nil:
		return nil, errors.New("actors: MetricsConfig.Metrics is required")
	case cfg.ListenAddr != "" && cfg.Gatherer == nil:
		return nil, errors.New("actors: MetricsConfig.Gatherer is required with ListenAddr")
	case cfg.ShutdownTimeout < 0:
		return nil, errors.New("actors: MetricsConfig.ShutdownTimeout must not be negative")
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultMetricsShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return actor.PropsFromProducer(func() actor.Actor { return &metricsActor{cfg: &cfg} }), nil
}

type metricsActor struct {
	cfg *MetricsConfig
	srv *http.Server
	// served is closed when the server's Serve goroutine has returned.
	served chan struct{}
	addr   string
}

// Receive implements actor.Actor.
func (a *metricsActor) Receive(ctx actor.Context) {
	m := a.cfg.Metrics
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.serve()
	case *actor.Stopping, *actor.Restarting:
		a.shutdown()
	case *GetMetricsAddr:
		ctx.Respond(&MetricsAddr{Addr: a.addr})
	case *EventFailed:
		m.EventFailed(msg.EventType)
	case *EventsPublished:
		for _, e := range msg.Events {
			m.EventPublished(msg.Processor, e.EventType, e.CommittedAt, msg.AckedAt)
			if !e.CommittedAt.IsZero() {
				// One message feeds both.
				m.EventProcessed(e.EventType, msg.AckedAt.Sub(e.CommittedAt))
			}
		}
	case *DuplicateSkipped:
		m.DuplicateSkipped()
	case *EventRepublished:
		m.Republished(msg.Reason)
	case *RetryAttempted:
		m.RetryAttempted(msg.EventType)
	case *RetrySucceeded:
		m.RetrySucceeded(msg.EventType)
	case *RetryExhausted:
		m.RetryExhausted(msg.EventType)
	case *BreakerTransition:
		m.BreakerTransition(msg.From, msg.To)
	case *DLQWritten:
		m.DLQWritten(msg.EventType)
	case *DLQSize:
		m.SetDLQSize(msg.N)
	case *InFlight:
		m.SetInFlight(msg.N)
	case *RelayActive:
		m.SetRelayActive(msg.Relay, msg.Active)
	case *LeadershipChanged:
		m.LeadershipChanged(msg.Relay, msg.Active)
	case *ActorRestarted:
		m.ActorRestarted(msg.Actor)
	case *CommandHandled:
		m.CommandHandled(msg.Command, msg.Result, msg.Duration)
	}
}

func (a *metricsActor) serve() {
	if a.cfg.ListenAddr == "" {
		return
	}
	log := a.cfg.Logger
	// Listening here rather than in the goroutine makes a bind failure
	// visible now and the bound address (":0" in tests) known.
	ln, err := net.Listen("tcp", a.cfg.ListenAddr)
	if err != nil {
		log.Error("metrics server cannot listen; metrics are collected but not served",
			zap.String("addr", a.cfg.ListenAddr), zap.Error(err))
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(a.cfg.Gatherer))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", zap.Error(err))
		}
	}()
	a.srv, a.served, a.addr = srv, served, ln.Addr().String()
	log.Info("metrics server listening", zap.String("addr", a.addr))
}

func (a *metricsActor) shutdown() {
	if a.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.cfg.Logger.Warn("metrics server did not shut down in time; closing it", zap.Error(err))
		_ = a.srv.Close()
	}
	select {
	case <-a.served:
	case <-ctx.Done():
	}
	a.srv, a.served, a.addr = nil, nil, ""
}
