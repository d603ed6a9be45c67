package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/app"
	"github.com/scylla-outbox/scylla-outbox/config"
)

// embeddedBase is the configuration demo and dev start from: settings that
// suit one local node (the low-latency CDC profile, consistency ONE, a
// short polling interval and safety window), and no hosts or brokers —
// unset, they mean the embedded stack.
func embeddedBase() config.Config {
	cfg := app.DefaultConfig()
	cfg.Scylla.Hosts, cfg.Kafka.Brokers = nil, nil
	cfg.CDC.Profile = config.ProfileLowLatency
	cfg.Scylla.Consistency = "ONE"
	cfg.Polling.Interval = 50 * time.Millisecond
	cfg.Polling.SafetyWindow = 2 * time.Second
	return cfg
}

// useEmbedded points cfg at the embedded stack.
func useEmbedded(cfg *config.Config, emb *app.Embedded) {
	cfg.Scylla.Hosts = []string{emb.DB.Addr()}
	cfg.Kafka.Brokers = emb.Broker.Brokers()
}

// runDemo: `outbox demo`.
func runDemo(ctx context.Context, env *cmdEnv, args []string) (err error) {
	cl := newCmdLine("demo")
	orders := cl.fs.Int("orders", 10, "orders to create; each gets --updates updates and every third is cancelled")
	updates := cl.fs.Int("updates", 2, "item updates per order")
	fault := cl.fs.String("inject-fault", "", `"panic": make the processor panic once, to watch the supervisor restart it`)
	wait := cl.fs.Duration("wait", 60*time.Second, "how long to wait for every event to arrive")
	base := embeddedBase()
	// A demo should not fail because something already serves :8080.
	base.HTTP.Listen = "127.0.0.1:0"
	cfg, err := cl.parseFlags(env, args, base)
	if err != nil {
		return err
	}
	switch {
	case *orders < 1:
		return badUsagef("--orders: %d is not a positive count", *orders)
	case *updates < 0:
		return badUsagef("--updates: %d is not a count", *updates)
	case *wait <= 0:
		return badUsagef("--wait: %s is not a positive duration", *wait)
	case *fault != "" && *fault != "panic":
		return badUsagef("--inject-fault: %q is not a fault (want panic)", *fault)
	}
	logger := newLogger(env, cfg)
	if len(cfg.Scylla.Hosts) == 0 && len(cfg.Kafka.Brokers) == 0 {
		emb, err := app.StartEmbedded(ctx, app.EmbeddedOptions{CQLAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0"})
		if err != nil {
			return fmt.Errorf("starting the embedded stack: %w", err)
		}
		defer func() { err = errors.Join(err, emb.Close()) }()
		useEmbedded(&cfg, emb)
		env.Stdout.printf("embedded stack: ScyllaDB-compatible CQL at %s, Kafka at %s (in memory)\n", emb.DB.Addr(), emb.Broker.Addr())
	} else {
		// Clusters given: the other one defaults as for `outbox relay`.
		def := app.DefaultConfig()
		if len(cfg.Scylla.Hosts) == 0 {
			cfg.Scylla.Hosts = def.Scylla.Hosts
		}
		if len(cfg.Kafka.Brokers) == 0 {
			cfg.Kafka.Brokers = def.Kafka.Brokers
		}
	}
	s, err := app.NewSettings(cfg, logger)
	if err != nil {
		return err
	}
	if *fault == "panic" {
		s.Relay.PanicOn = app.PanicOnce()
	}
	env.Stdout.printf("processor: %s (cdc profile %s); seeding %d orders\n", cfg.Processor, cfg.CDC.Profile, *orders)
	rt, err := startServices(ctx, s, cfg, logger)
	if err != nil {
		return err
	}
	if rt.HTTPAddr != "" {
		env.Stdout.printf("metrics and status: http://%s/metrics  http://%s/status\n", rt.HTTPAddr, rt.HTTPAddr)
	}
	sum, derr := app.Demo(ctx, rt, cfg.Kafka.Brokers, app.DemoOptions{Orders: *orders, Updates: *updates, Wait: *wait, Out: env.Stdout})
	env.Stdout.printf("%s", sum.String())
	if err := errors.Join(derr, shutdown(rt, cfg, logger)); err != nil {
		return err
	}
	if !sum.OK() {
		return errReported
	}
	return nil
}

// runDev: `outbox dev`.
func runDev(ctx context.Context, env *cmdEnv, args []string) (err error) {
	cl := newCmdLine("dev")
	cqlListen := cl.fs.String("cql-listen", "127.0.0.1:9042", "address of the embedded CQL server")
	kafkaListen := cl.fs.String("kafka-listen", "127.0.0.1:9092", "address of the embedded Kafka broker")
	dataDir := cl.fs.String("data-dir", "", "keep the embedded ScyllaDB's and Kafka's data in this directory, so a restart resumes (default: ScyllaDB data in memory)")
	cfg, err := cl.parseFlags(env, args, embeddedBase())
	if err != nil {
		return err
	}
	logger := newLogger(env, cfg)
	emb, err := app.StartEmbedded(ctx, app.EmbeddedOptions{CQLAddr: *cqlListen, KafkaAddr: *kafkaListen, Logger: logger, DataDir: *dataDir})
	if err != nil {
		return fmt.Errorf("starting the embedded stack: %w", err)
	}
	defer func() { err = errors.Join(err, emb.Close()) }()
	useEmbedded(&cfg, emb)
	s, err := app.NewSettings(cfg, logger)
	if err != nil {
		return err
	}
	rt, err := startServices(ctx, s, cfg, logger)
	if err != nil {
		return err
	}
	env.Stdout.printf("cql:   %s   (outbox cql --scylla.hosts %s \"SELECT * FROM %s.orders\")\n", emb.DB.Addr(), emb.DB.Addr(), cfg.Scylla.Keyspace)
	env.Stdout.printf("kafka: %s   (kcat -b %s -t outbox.event.Order -C -f '%%k %%h %%s\\n')\n", emb.Broker.Addr(), emb.Broker.Addr())
	if rt.HTTPAddr != "" {
		env.Stdout.printf("http:  http://%s   (/metrics /healthz /readyz /status /orders)\n", rt.HTTPAddr)
	}
	env.Stdout.printf("processor: %s — ready; Ctrl-C to stop\n", cfg.Processor)
	<-ctx.Done()
	return shutdown(rt, cfg, logger)
}

// runRelay: `outbox relay`.
func runRelay(ctx context.Context, env *cmdEnv, args []string) error {
	cl := newCmdLine("relay")
	printConfig := cl.fs.Bool("print-config", false, "print the effective configuration (secrets masked) and exit")
	cfg, err := cl.parseFlags(env, args, app.DefaultConfig())
	if err != nil {
		return err
	}
	logger := newLogger(env, cfg)
	if *printConfig {
		out, err := cfg.AnnotatedYAML(app.StartNotes(cfg))
		if err != nil {
			return err
		}
		if _, err := env.Stdout.Write(out); err != nil {
			return err
		}
		_, err = app.NewSettings(cfg, logger)
		return err
	}
	s, err := app.NewSettings(cfg, logger)
	if err != nil {
		return err
	}
	rt, err := app.Run(ctx, s, app.RunOptions{})
	if err != nil {
		return err
	}
	fields := []zap.Field{zap.String("processor", cfg.Processor), zap.String("http", rt.HTTPAddr),
		zap.Strings("scylla", cfg.Scylla.Hosts), zap.Strings("kafka", cfg.Kafka.Brokers)}
	started := rt.Started()
	select {
	case <-started:
	default:
		logger.Warn("relay waiting for ScyllaDB; /readyz reports not ready until it starts", fields...)
	}
	for {
		select {
		case <-started:
			logger.Info("relay running", fields...)
			started = nil
		case <-rt.Failed():
			return errors.Join(rt.Err(), shutdown(rt, cfg, logger))
		case <-ctx.Done():
			return shutdown(rt, cfg, logger)
		}
	}
}

// startServices creates what is missing of the schema and runs the relay
// with the orders API, as demo and dev do, and waits until they have
// started.
func startServices(ctx context.Context, s app.Settings, cfg config.Config, logger *zap.Logger) (*app.Runtime, error) {
	if err := app.EnsureSchema(ctx, s); err != nil {
		return nil, err
	}
	rt, err := app.Run(ctx, s, app.RunOptions{Orders: true})
	if err != nil {
		return nil, err
	}
	if err := awaitStart(ctx, rt); err != nil {
		return nil, errors.Join(err, shutdown(rt, cfg, logger))
	}
	return rt, nil
}

// awaitStart waits until rt has started its services, or says why not.
func awaitStart(ctx context.Context, rt *app.Runtime) error {
	select {
	case <-rt.Started():
		return nil
	case <-rt.Failed():
		return rt.Err()
	case <-ctx.Done():
		return errors.New("interrupted before the services started")
	}
}

// runMigrate: `outbox migrate`.
func runMigrate(ctx context.Context, env *cmdEnv, args []string) error {
	cfg, err := newCmdLine("migrate").parseFlags(env, args, app.DefaultConfig())
	if err != nil {
		return err
	}
	s, err := app.NewSettings(cfg, newLogger(env, cfg))
	if err != nil {
		return err
	}
	if err := app.Migrate(ctx, s); err != nil {
		return err
	}
	env.Stdout.printf("schema applied to keyspace %s\n", cfg.Scylla.Keyspace)
	return nil
}
