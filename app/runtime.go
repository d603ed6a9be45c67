package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/scylladb/gocqlx/v2"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/httpapi"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/metrics"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// Settings are the converted configuration of a service.
type Settings struct {
	Storage   storage.Config
	Messaging messaging.Config
	Relay     RelayConfig
	Schema    schema.Options
	// HTTPListen is the address of /metrics, /healthz, /readyz, /status
	// (and the orders API when enabled); empty disables HTTP.
	HTTPListen string
	Logger     *zap.Logger
}

// Migrate applies the schema.
func Migrate(ctx context.Context, s Settings) error {
	cfg := s.Storage
	cfg.Keyspace = "" // the keyspace may not exist yet
	session, err := storage.NewSession(ctx, cfg)
	if err != nil {
		return fmt.Errorf("scylla.hosts %v: %w", cfg.Hosts, err)
	}
	defer session.Close()
	if err := schema.Apply(ctx, session.Session, s.Schema); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Runtime is a running service: relay, optionally the order service, the
// metrics actor and the HTTP server, in one supervised actor system.
type Runtime struct {
	Sys      *actors.System
	Session  gocqlx.Session
	Relay    *Relay
	Orders   *actor.PID
	Registry *prometheus.Registry
	HTTPAddr string

	pub    *messaging.Publisher
	server *http.Server
	logger *zap.Logger
}

// RunOptions choose what a Runtime starts.
type RunOptions struct {
	// Orders starts the order actor and the orders HTTP API (dev, demo).
	Orders bool
	// OrderOwner names this process in order leases (default: random).
	OrderOwner string
}

// ErrSchemaMissing is returned when the relay's tables do not exist: run
// `outbox migrate` first.
var ErrSchemaMissing = errors.New("the outbox schema is missing: run `outbox migrate` first")

// Run connects to the cluster and broker and starts the services. On error
// everything started is stopped again.
func Run(ctx context.Context, s Settings, o RunOptions) (rt *Runtime, err error) {
	logger := s.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	rt = &Runtime{logger: logger}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rt.Shutdown(sctx)
			rt = nil
		}
	}()
	if rt.Session, err = storage.NewSession(ctx, s.Storage); err != nil {
		return rt, fmt.Errorf("scylla.hosts %v: %w", s.Storage.Hosts, err)
	}
	if err := rt.Session.Query(fmt.Sprintf("SELECT event_id FROM %s.%s LIMIT 1", s.Relay.Keyspace, schema.TableDeadLetterQueue), nil).WithContext(ctx).Exec(); err != nil {
		return rt, fmt.Errorf("%w (%v)", ErrSchemaMissing, err)
	}
	if rt.pub, err = messaging.NewPublisher(s.Messaging, logger); err != nil {
		return rt, fmt.Errorf("kafka.brokers %v: %w", s.Messaging.Brokers, err)
	}
	rt.Registry = prometheus.NewRegistry()
	rt.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(rt.Registry)
	rt.Sys = actors.NewSystem(logger)
	mprops, err := actors.NewMetricsProps(actors.MetricsConfig{Metrics: m, Logger: logger})
	if err != nil {
		return rt, err
	}
	mpid, err := rt.Sys.Spawn(mprops, "metrics")
	if err != nil {
		return rt, err
	}
	rt.Sys.OnRestart(func(kind string) { rt.Sys.Root().Send(mpid, &actors.ActorRestarted{Actor: kind}) })
	cfg := s.Relay
	cfg.Logger = logger
	if rt.Relay, err = StartRelay(ctx, rt.Sys, rt.Session, rt.pub, mpid, cfg); err != nil {
		return rt, err
	}
	if o.Orders {
		store := storage.NewOrderStore(rt.Session, storage.OrderStoreOptions{Keyspace: s.Relay.Keyspace})
		ocfg := OrderActorConfig(store)
		ocfg.Owner, ocfg.Logger, ocfg.Metrics = o.OrderOwner, logger, mpid
		props, err := actors.NewOrderProps(ocfg)
		if err != nil {
			return rt, err
		}
		if rt.Orders, err = rt.Sys.Spawn(props, "orders", actors.Drainable()); err != nil {
			return rt, err
		}
	}
	if s.HTTPListen != "" {
		if err := rt.serveHTTP(s.HTTPListen); err != nil {
			return rt, err
		}
	}
	return rt, nil
}

func (rt *Runtime) serveHTTP(addr string) error {
	opts := httpapi.Options{
		Gatherer: rt.Registry,
		Relay:    rt.Relay,
		DLQSize:  rt.Relay.DLQ.Count,
		Checks: []httpapi.Check{
			{Name: "scylla", Fn: func(ctx context.Context) error {
				return rt.Session.Query("SELECT release_version FROM system.local WHERE key = 'local'", nil).WithContext(ctx).Exec()
			}},
			{Name: "kafka", Fn: func(context.Context) error { return rt.pub.Healthy() }},
		},
	}
	if rt.Orders != nil {
		opts.Orders = &httpapi.Orders{Root: rt.Sys.Root(), PID: rt.Orders}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", addr, err)
	}
	rt.HTTPAddr = ln.Addr().String()
	rt.server = &http.Server{Handler: httpapi.NewHandler(opts), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := rt.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			rt.logger.Error("http server stopped", zap.Error(err))
		}
	}()
	rt.logger.Info("http listening", zap.String("addr", rt.HTTPAddr))
	return nil
}

// Shutdown stops intake, drains in-flight events within the drain timeout,
// saves progress, and closes the HTTP server, actors, producer and session,
// in that order.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	var errs []error
	if rt.server != nil {
		errs = append(errs, rt.server.Shutdown(ctx))
	}
	if rt.Sys != nil {
		errs = append(errs, rt.Sys.Shutdown(ctx))
	}
	if rt.pub != nil {
		errs = append(errs, rt.pub.Close())
	}
	if rt.Session.Session != nil {
		rt.Session.Close()
	}
	return errors.Join(errs...)
}

// Embedded is the in-process stack: the CQL emulator and a Kafka broker.
type Embedded struct {
	DB     *scyllaemu.Server
	Broker *kafkaemu.Broker
}

// EmbeddedOptions place the embedded stack; empty addresses pick free
// loopback ports.
type EmbeddedOptions struct {
	CQLAddr, KafkaAddr string
	Topics             []string
	// MaxMessageBytes is the broker's message.max.bytes (0: Kafka's default).
	MaxMessageBytes int
	Logger          *zap.Logger
}

// StartEmbedded starts the stack.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Embedded, error) {
	db, err := scyllaemu.Start(ctx, scyllaemu.Options{Listen: o.CQLAddr})
	if err != nil {
		return nil, err
	}
	if len(o.Topics) == 0 {
		o.Topics = []string{"outbox.event.Order"}
	}
	broker, err := kafkaemu.Start(ctx, kafkaemu.Options{Addr: o.KafkaAddr, Topics: o.Topics, MaxMessageBytes: o.MaxMessageBytes, Logger: o.Logger})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Embedded{DB: db, Broker: broker}, nil
}

// Close stops both.
func (e *Embedded) Close() error {
	return errors.Join(e.Broker.Close(), e.DB.Close())
}
