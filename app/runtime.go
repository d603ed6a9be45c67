package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/scylladb/gocqlx/v2"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/httpapi"
	"github.com/scylla-outbox/scylla-outbox/internal/connsec"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/metrics"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/resilience"
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

// Migrate applies the schema ([schema.Apply]): `outbox migrate`.
func Migrate(ctx context.Context, s Settings) error {
	return withSchemaSession(ctx, s, "migrate", schema.Apply)
}

// EnsureSchema creates what is missing of the schema but keeps the options
// of existing tables ([schema.Ensure]): what demo and dev run, since they
// may point at a cluster migrated with other TTLs.
func EnsureSchema(ctx context.Context, s Settings) error {
	return withSchemaSession(ctx, s, "schema", schema.Ensure)
}

func withSchemaSession(ctx context.Context, s Settings, what string, do func(context.Context, *gocql.Session, schema.Options) error) error {
	cfg := s.Storage
	cfg.Keyspace = "" // the keyspace may not exist yet
	session, err := storage.NewSession(ctx, cfg)
	if err != nil {
		return fmt.Errorf("scylla.hosts %v: %w", cfg.Hosts, err)
	}
	defer session.Close()
	if err := do(ctx, session.Session, s.Schema); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Runtime is a running service: relay, optionally the order service, the
// metrics actor and the HTTP server, in one supervised actor system.
//
// A Runtime can run before its dependencies answer. The publisher connects
// to Kafka in the background (see [messaging.Publisher]); when ScyllaDB does
// not answer, [Run] returns all the same, serves /healthz (200), /metrics
// and /readyz (503, naming scylla with the connection error), and keeps
// connecting with a capped exponential backoff; once connected it checks
// the schema and starts the relay and the order service, then closes
// [Runtime.Started].
type Runtime struct {
	Sys      *actors.System
	Registry *prometheus.Registry
	HTTPAddr string

	// Session, Relay and Orders are set once the runtime has connected to
	// ScyllaDB, before Started is closed, and never change afterwards:
	// read them after <-Started(). Orders is nil unless RunOptions.Orders.
	Session gocqlx.Session
	Relay   *Relay
	Orders  *actor.PID

	settings Settings
	opts     RunOptions
	logger   *zap.Logger
	pub      *messaging.Publisher
	metrics  *actor.PID
	server   *http.Server
	handler  atomic.Pointer[http.Handler] // the server's handler; the orders API joins it once started

	started chan struct{}
	failed  chan struct{}
	err     error // why starting failed; set before failed is closed

	// While waiting for ScyllaDB: the last connection failure, for /readyz.
	mu         sync.Mutex
	dbErr      error
	dbAttempts int

	stopWaiting context.CancelFunc // nil unless waiting started
	waitDone    chan struct{}      // closed when the wait for ScyllaDB ended
	draining    atomic.Bool
	stopOnce    sync.Once
	failOnce    sync.Once
	stopErr     error
}

// RunOptions choose what a Runtime starts.
type RunOptions struct {
	// Orders starts the order actor and the orders HTTP API (dev, demo).
	Orders bool
	// OrderOwner names this process in order leases (default: random).
	OrderOwner string
}

// ErrSchemaMissing is returned when the relay's tables (or its keyspace) do
// not exist: run `outbox migrate` first. It is final rather than waited out
// like an unreachable cluster: a missing schema is a deployment mistake
// that no amount of waiting fixes by itself, and exiting makes it visible
// (an orchestrator restarting the process still picks up a migration that
// runs meanwhile).
var ErrSchemaMissing = errors.New("the outbox schema is missing: run `outbox migrate` first")

// ErrInvalidSettings wraps the errors [Run] returns because a setting cannot
// work (an unknown processor, an unreadable TLS file, ...): the
// configuration must change, retrying cannot help.
var ErrInvalidSettings = errors.New("invalid settings")

// errWaitingForScylla is the relay's status before it started.
var errWaitingForScylla = errors.New("not started: waiting for ScyllaDB")

// connectBackoff paces connection attempts to ScyllaDB while it does not
// answer: 250 ms doubling to 5 s, with jitter so a fleet of relays does not
// reconnect in lockstep.
var connectBackoff = resilience.RetryPolicy{InitialBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second, Multiplier: 2, Jitter: 0.2}

// Run starts the services. It fails at once, with an error wrapping
// [ErrInvalidSettings], for settings that cannot work, and with
// [ErrSchemaMissing] when ScyllaDB answers without the schema. An
// unreachable ScyllaDB or Kafka is not an error: Run returns a Runtime that
// waits for them (see [Runtime]); ctx bounds that wait too. Shut the
// Runtime down with [Runtime.Shutdown]. On error everything started is
// stopped again.
func Run(ctx context.Context, s Settings, o RunOptions) (*Runtime, error) {
	logger := s.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	if s.Relay.Processor != outbox.ProcessorCDC && s.Relay.Processor != outbox.ProcessorPolling {
		return nil, fmt.Errorf("%w: relay: %w, got %q", ErrInvalidSettings, ErrUnknownProcessor, s.Relay.Processor)
	}
	if _, err := s.Storage.ClusterConfig(); err != nil {
		return nil, fmt.Errorf("%w: scylla: %w", ErrInvalidSettings, err)
	}
	rt := &Runtime{settings: s, opts: o, logger: logger, started: make(chan struct{}), failed: make(chan struct{})}
	var err error
	if rt.pub, err = messaging.NewPublisher(s.Messaging, logger); err != nil {
		return nil, fmt.Errorf("%w: kafka: %w", ErrInvalidSettings, err)
	}
	select {
	case <-rt.pub.Connected():
	default:
		// The publisher logs its attempts in its own terms; this line
		// names the setting.
		if err := rt.kafkaHealthy(); err != nil {
			if setting, ok := refused(err, kafkaKey); ok {
				logger.Error("Kafka refused the connection: fix the setting the error names; serving /healthz and /readyz and retrying, publishing starts once it connects",
					zap.String("setting", setting), zap.Error(err))
			}
		}
	}
	ok := false
	defer func() {
		if !ok {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Run's error is why it failed; failing to stop what it had
			// started is secondary, and is logged.
			if err := rt.Shutdown(sctx); err != nil {
				logger.Warn("stop after a failed start", zap.Error(err))
			}
		}
	}()
	rt.Registry = prometheus.NewRegistry()
	rt.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(rt.Registry)
	rt.Sys = actors.NewSystem(logger)
	mprops, err := actors.NewMetricsProps(actors.MetricsConfig{Metrics: m, Logger: logger})
	if err != nil {
		return nil, err
	}
	if rt.metrics, err = rt.Sys.Spawn(mprops, "metrics"); err != nil {
		return nil, err
	}
	rt.Sys.OnRestart(func(kind string) { rt.Sys.Root().Send(rt.metrics, &actors.ActorRestarted{Actor: kind}) })
	if s.HTTPListen != "" {
		if err := rt.serveHTTP(s.HTTPListen); err != nil {
			return nil, err
		}
	}
	retry, err := rt.connect(ctx)
	switch {
	case err == nil:
	case !retry:
		return nil, err
	default:
		rt.waiting(1, err)
		wctx, cancel := context.WithCancel(ctx)
		rt.stopWaiting, rt.waitDone = cancel, make(chan struct{})
		go rt.waitForScylla(wctx)
	}
	ok = true
	return rt, nil
}

// connect makes one attempt to connect to ScyllaDB and start the services
// that need it. retry reports an error worth retrying: the cluster did not
// answer. Other errors are final.
func (rt *Runtime) connect(ctx context.Context) (retry bool, err error) {
	s := rt.settings
	session, err := storage.NewSession(ctx, s.Storage)
	if err != nil {
		if setting, ok := refused(err, scyllaKey); ok {
			return true, fmt.Errorf("%s: %w", setting, err)
		}
		var missing *storage.KeyspaceMissingError
		if errors.As(err, &missing) {
			return false, fmt.Errorf("%w (keyspace %s does not exist)", ErrSchemaMissing, missing.Keyspace)
		}
		return true, fmt.Errorf("scylla.hosts %v: %w", s.Storage.Hosts, err)
	}
	if err := checkSchema(ctx, session, s.Relay.Keyspace); err != nil {
		session.Close()
		return !errors.Is(err, ErrSchemaMissing), err
	}
	rt.Session = session
	cfg := s.Relay
	cfg.Logger = rt.logger
	cfg.OnStopped = rt.fail
	if rt.Relay, err = StartRelay(ctx, rt.Sys, session, rt.pub, rt.metrics, s.Messaging, cfg); err != nil {
		return false, err
	}
	if rt.opts.Orders {
		store := storage.NewOrderStore(session, storage.OrderStoreOptions{Keyspace: s.Relay.Keyspace})
		ocfg := OrderActorConfig(store)
		ocfg.Owner, ocfg.Logger, ocfg.Metrics = rt.opts.OrderOwner, rt.logger, rt.metrics
		props, err := actors.NewOrderProps(ocfg)
		if err != nil {
			return false, err
		}
		if rt.Orders, err = rt.Sys.Spawn(props, "orders", actors.Drainable()); err != nil {
			return false, err
		}
		if rt.server != nil {
			h := rt.newHandler(&httpapi.Orders{Root: rt.Sys.Root(), PID: rt.Orders})
			rt.handler.Store(&h)
		}
	}
	close(rt.started)
	return false, nil
}

// checkSchema fails with ErrSchemaMissing when the relay's tables do not
// exist in keyspace (ScyllaDB answers such a query with an Invalid error);
// other errors mean the check could not run.
func checkSchema(ctx context.Context, session gocqlx.Session, keyspace string) error {
	err := session.Query(fmt.Sprintf("SELECT event_id FROM %s.%s LIMIT 1", keyspace, schema.TableDeadLetterQueue), nil).WithContext(ctx).Exec()
	var reqErr gocql.RequestError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &reqErr) && reqErr.Code() == gocql.ErrCodeInvalid:
		return fmt.Errorf("%w (%v)", ErrSchemaMissing, err)
	default:
		return fmt.Errorf("scylla: check the schema: %w", err)
	}
}

// waitForScylla retries connect until it succeeds, fails for good, or ctx
// ends (Shutdown, or the ctx given to Run).
func (rt *Runtime) waitForScylla(ctx context.Context) {
	defer close(rt.waitDone)
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for attempt := 2; ; attempt++ {
		wait := time.NewTimer(connectBackoff.Backoff(attempt-1, rnd))
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		retry, err := rt.connect(ctx)
		switch {
		case err == nil:
			rt.logger.Info("connected to ScyllaDB; relay started", zap.Int("attempt", attempt))
			return
		case ctx.Err() != nil:
			return
		case !retry:
			rt.logger.Error("starting failed after connecting to ScyllaDB", zap.Int("attempt", attempt), zap.Error(err))
			rt.fail(err)
			return
		}
		rt.waiting(attempt, err)
	}
}

// waiting records and logs a failed connection attempt.
func (rt *Runtime) waiting(attempt int, err error) {
	rt.mu.Lock()
	rt.dbErr, rt.dbAttempts = err, attempt
	rt.mu.Unlock()
	if setting, ok := refused(err, scyllaKey); ok {
		rt.logger.Error("ScyllaDB refused the connection: fix the setting the error names; serving /healthz and /readyz and retrying, the relay starts once it connects",
			zap.Int("attempt", attempt), zap.String("setting", setting), zap.Error(err))
		return
	}
	rt.logger.Warn("ScyllaDB does not answer; serving /healthz and /readyz and retrying, the relay starts once it answers",
		zap.Int("attempt", attempt), zap.Error(err))
}

// refused reports whether err is a connection a dependency refused for a
// TLS or login reason, and the setting to fix, which key names from the
// component's Config field.
func refused(err error, key func(field string) string) (string, bool) {
	var ce *connsec.Error
	if !errors.As(err, &ce) {
		return "", false
	}
	return key(ce.Field), true
}

// kafkaHealthy is the kafka readiness check: the publisher's, naming the
// setting to fix when the brokers refused the connection for a TLS or
// SASL reason.
func (rt *Runtime) kafkaHealthy() error {
	err := rt.pub.Healthy()
	if setting, ok := refused(err, kafkaKey); ok {
		return fmt.Errorf("%s: %w", setting, err)
	}
	return err
}

// Started is closed once the runtime has connected to ScyllaDB and started
// the relay (and the order service): at once if ScyllaDB answered Run.
func (rt *Runtime) Started() <-chan struct{} { return rt.started }

// Failed is closed when starting failed after Run returned, while waiting
// for ScyllaDB (the schema was missing, say), or when the relay left its
// group because its processor cannot run; [Runtime.Err] says why. The
// runtime keeps serving HTTP until Shutdown.
func (rt *Runtime) Failed() <-chan struct{} { return rt.failed }

// fail records why the runtime cannot serve and closes Failed, once.
func (rt *Runtime) fail(err error) {
	rt.failOnce.Do(func() {
		rt.err = err
		close(rt.failed)
	})
}

// Err is why starting failed, once Failed is closed; nil before.
func (rt *Runtime) Err() error {
	select {
	case <-rt.failed:
		return rt.err
	default:
		return nil
	}
}

// relay returns the relay once started, else nil.
func (rt *Runtime) relay() *Relay {
	select {
	case <-rt.started:
		return rt.Relay
	default:
		return nil
	}
}

// Status reports the relay's state, or that it has not started yet; it is
// the runtime's [httpapi.StatusSource].
func (rt *Runtime) Status(ctx context.Context) (*httpapi.RelayState, error) {
	r := rt.relay()
	if r == nil {
		return nil, errWaitingForScylla
	}
	return r.Status(ctx)
}

// scyllaHealthy is the scylla readiness check.
func (rt *Runtime) scyllaHealthy(ctx context.Context) error {
	if rt.relay() != nil {
		return rt.Session.Query("SELECT release_version FROM system.local WHERE key = 'local'", nil).WithContext(ctx).Exec()
	}
	if err := rt.Err(); err != nil {
		return err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return fmt.Errorf("not connected (%d attempts, the last failed: %w)", rt.dbAttempts, rt.dbErr)
}

func (rt *Runtime) newHandler(orders *httpapi.Orders) http.Handler {
	return httpapi.NewHandler(httpapi.Options{
		Gatherer: rt.Registry,
		Relay:    rt,
		DLQSize: func(ctx context.Context) (int, error) {
			r := rt.relay()
			if r == nil {
				return 0, errWaitingForScylla
			}
			return r.DLQSize(ctx)
		},
		Checks: []httpapi.Check{
			{Name: "scylla", Fn: rt.scyllaHealthy},
			{Name: "kafka", Fn: func(context.Context) error { return rt.kafkaHealthy() }},
		},
		Orders:   orders,
		Draining: rt.draining.Load,
	})
}

func (rt *Runtime) serveHTTP(addr string) error {
	h := rt.newHandler(nil)
	rt.handler.Store(&h)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", addr, err)
	}
	rt.HTTPAddr = ln.Addr().String()
	rt.server = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*rt.handler.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := rt.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			rt.logger.Error("http server stopped", zap.Error(err))
		}
	}()
	rt.logger.Info("http listening", zap.String("addr", rt.HTTPAddr))
	return nil
}

// Shutdown stops the runtime in the order the README promises: /readyz
// turns 503 "draining" at once; the actors stop intake, finish in-flight
// events within the drain timeout, save progress and stop, while /metrics
// and /status keep answering; then the HTTP server, the producer and the
// session close. A runtime still waiting for ScyllaDB stops waiting first.
// Shutdown is idempotent; later calls return the first result.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	rt.stopOnce.Do(func() {
		rt.draining.Store(true)
		if rt.stopWaiting != nil {
			rt.stopWaiting()
			<-rt.waitDone
		}
		var errs []error
		if rt.Sys != nil {
			errs = append(errs, rt.Sys.Shutdown(ctx))
		}
		if rt.server != nil {
			errs = append(errs, rt.server.Shutdown(ctx))
		}
		if rt.pub != nil {
			errs = append(errs, rt.pub.Close())
		}
		if rt.Session.Session != nil {
			rt.Session.Close()
		}
		rt.stopErr = errors.Join(errs...)
	})
	return rt.stopErr
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
	// DataDir, when set, keeps the stack's data across restarts: the CQL
	// emulator's write-ahead log in DataDir/scylla, the broker's log in
	// DataDir/kafka. Empty keeps the CQL data in memory only.
	DataDir string
}

// StartEmbedded starts the stack; ctx bounds the start only. The stack
// runs until Close, not until ctx ends: a service shutting down on SIGINT
// still needs its database to drain and save its progress.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Embedded, error) {
	ctx = context.WithoutCancel(ctx)
	var cqlDir, kafkaDir string
	if o.DataDir != "" {
		cqlDir, kafkaDir = filepath.Join(o.DataDir, "scylla"), filepath.Join(o.DataDir, "kafka")
	}
	db, err := scyllaemu.Start(ctx, scyllaemu.Options{Listen: o.CQLAddr, DataDir: cqlDir})
	if err != nil {
		return nil, err
	}
	if len(o.Topics) == 0 {
		o.Topics = []string{"outbox.event.Order"}
	}
	broker, err := kafkaemu.Start(ctx, kafkaemu.Options{Addr: o.KafkaAddr, Topics: o.Topics, MaxMessageBytes: o.MaxMessageBytes, Logger: o.Logger, DataDir: kafkaDir})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &Embedded{DB: db, Broker: broker}, nil
}

// Close stops both.
func (e *Embedded) Close() error {
	return errors.Join(e.Broker.Close(), e.DB.Close())
}
