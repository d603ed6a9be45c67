package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gocql/gocql"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/app"
	"github.com/scylla-outbox/scylla-outbox/config"
)

func parseConsistency(s string) (gocql.Consistency, error) {
	c, err := gocql.ParseConsistencyWrapper(s)
	if err != nil {
		return 0, fmt.Errorf("config: scylla.consistency: %w", err)
	}
	return c, nil
}

var demoFlags = []ownFlag{
	{name: "orders", help: "orders to create; each gets --updates updates and every third is cancelled", def: "10"},
	{name: "updates", help: "item updates per order", def: "2"},
	{name: "inject-fault", help: `"panic": make the processor panic once, to watch the supervisor restart it`, def: ""},
	{name: "wait", help: "how long to wait for every event to arrive", def: "60s"},
}

// runDemo: `outbox demo`.
func runDemo(ctx context.Context, env Env, args []string) int {
	cfg, own, _, code := loadConfig(env, "demo", args, demoFlags)
	if code != ExitOK {
		return max(code, ExitOK)
	}
	orders, err1 := strconv.Atoi(own["orders"])
	updates, err2 := strconv.Atoi(own["updates"])
	wait, err3 := time.ParseDuration(own["wait"])
	switch {
	case err1 != nil || orders < 1:
		fmt.Fprintf(env.Stderr, "outbox demo: --orders: %q is not a positive count\n", own["orders"])
		return ExitUsage
	case err2 != nil || updates < 0:
		fmt.Fprintf(env.Stderr, "outbox demo: --updates: %q is not a count\n", own["updates"])
		return ExitUsage
	case err3 != nil || wait <= 0:
		fmt.Fprintf(env.Stderr, "outbox demo: --wait: %q is not a positive duration\n", own["wait"])
		return ExitUsage
	case own["inject-fault"] != "" && own["inject-fault"] != "panic":
		fmt.Fprintf(env.Stderr, "outbox demo: --inject-fault: %q is not a fault (want panic)\n", own["inject-fault"])
		return ExitUsage
	}
	embedded := !envHas(env, args, []string{"scylla.hosts", "scylla-hosts", "kafka.brokers", "kafka-brokers"},
		[]string{"OUTBOX_SCYLLA_HOSTS", "OUTBOX_KAFKA_BROKERS"})
	logger := newLogger(env, cfg)
	defer logger.Sync()
	var emb *app.Embedded
	if embedded {
		var err error
		if emb, err = app.StartEmbedded(ctx, app.EmbeddedOptions{CQLAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0"}); err != nil {
			fmt.Fprintf(env.Stderr, "outbox demo: starting the embedded stack: %v\n", err)
			return ExitFailure
		}
		defer emb.Close()
		embeddedDefaults(&cfg, env, args, emb)
		fmt.Fprintf(env.Stdout, "embedded stack: ScyllaDB-compatible CQL at %s, Kafka at %s (in memory)\n", emb.DB.Addr(), emb.Broker.Addr())
	}
	if !envHas(env, args, []string{"http.listen"}, []string{"OUTBOX_HTTP_LISTEN"}) {
		// A demo should not fail because something already serves :8080.
		cfg.HTTP.Listen = "127.0.0.1:0"
	}
	if !validate(env, "demo", cfg) {
		return ExitUsage
	}
	s, err := settings(cfg, logger)
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox demo: %v\n", err)
		return ExitUsage
	}
	s.Relay.PanicOnce = own["inject-fault"] == "panic"
	fmt.Fprintf(env.Stdout, "processor: %s (cdc profile %s); seeding %d orders\n", cfg.Processor, cfg.CDC.Profile, orders)
	if err := app.Migrate(ctx, s); err != nil {
		fmt.Fprintf(env.Stderr, "outbox demo: %v\n", err)
		return ExitFailure
	}
	rt, code := start(ctx, env, "demo", s, app.RunOptions{Orders: true})
	if rt == nil {
		return code
	}
	if !awaitStart(ctx, env, "demo", rt) {
		shutdown(rt, cfg, logger)
		return ExitFailure
	}
	if rt.HTTPAddr != "" {
		fmt.Fprintf(env.Stdout, "metrics and status: http://%s/metrics  http://%s/status\n", rt.HTTPAddr, rt.HTTPAddr)
	}
	sum, derr := app.Demo(ctx, rt, cfg.Kafka.Brokers, app.DemoOptions{Orders: orders, Updates: updates, Wait: wait, Out: env.Stdout})
	shutdown(rt, cfg, logger)
	if derr != nil {
		fmt.Fprintf(env.Stderr, "outbox demo: %v\n", derr)
	}
	fmt.Fprint(env.Stdout, sum.String())
	if derr != nil || !sum.OK() {
		return ExitFailure
	}
	return ExitOK
}

// embeddedDefaults points the configuration at the embedded stack and, unless
// the user chose otherwise, uses settings that suit one local node: the
// low-latency CDC profile, consistency ONE and a short polling interval.
func embeddedDefaults(cfg *config.Config, env Env, args []string, emb *app.Embedded) {
	cfg.Scylla.Hosts = []string{emb.DB.Addr()}
	cfg.Kafka.Brokers = emb.Broker.Brokers()
	if !envHas(env, args, []string{"cdc.profile"}, []string{"OUTBOX_CDC_PROFILE"}) {
		cfg.CDC.Profile = config.ProfileLowLatency
	}
	if !envHas(env, args, []string{"scylla.consistency"}, []string{"OUTBOX_SCYLLA_CONSISTENCY"}) {
		cfg.Scylla.Consistency = "ONE"
	}
	if !envHas(env, args, []string{"polling.interval"}, []string{"OUTBOX_POLLING_INTERVAL"}) {
		cfg.Polling.Interval = 50 * time.Millisecond
	}
	if !envHas(env, args, []string{"polling.safety-window"}, []string{"OUTBOX_POLLING_SAFETY_WINDOW"}) {
		cfg.Polling.SafetyWindow = 2 * time.Second
	}
}

var devFlags = []ownFlag{
	{name: "cql-listen", help: "address of the embedded CQL server", def: "127.0.0.1:9042"},
	{name: "kafka-listen", help: "address of the embedded Kafka broker", def: "127.0.0.1:9092"},
	{name: "data-dir", help: "keep the embedded ScyllaDB's and Kafka's data in this directory, so a restart resumes (default: ScyllaDB data in memory)", def: ""},
}

// runDev: `outbox dev`.
func runDev(ctx context.Context, env Env, args []string) int {
	cfg, own, _, code := loadConfig(env, "dev", args, devFlags)
	if code != ExitOK {
		return max(code, ExitOK)
	}
	logger := newLogger(env, cfg)
	defer logger.Sync()
	emb, err := app.StartEmbedded(ctx, app.EmbeddedOptions{CQLAddr: own["cql-listen"], KafkaAddr: own["kafka-listen"], Logger: logger, DataDir: own["data-dir"]})
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox dev: starting the embedded stack: %v\n", err)
		return ExitFailure
	}
	defer emb.Close()
	embeddedDefaults(&cfg, env, args, emb)
	if !validate(env, "dev", cfg) {
		return ExitUsage
	}
	s, err := settings(cfg, logger)
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox dev: %v\n", err)
		return ExitUsage
	}
	if err := app.Migrate(ctx, s); err != nil {
		fmt.Fprintf(env.Stderr, "outbox dev: %v\n", err)
		return ExitFailure
	}
	rt, code := start(ctx, env, "dev", s, app.RunOptions{Orders: true})
	if rt == nil {
		return code
	}
	if !awaitStart(ctx, env, "dev", rt) {
		shutdown(rt, cfg, logger)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "cql:   %s   (outbox cql --scylla.hosts %s \"SELECT * FROM %s.orders\")\n", emb.DB.Addr(), emb.DB.Addr(), cfg.Scylla.Keyspace)
	fmt.Fprintf(env.Stdout, "kafka: %s   (kcat -b %s -t outbox.event.Order -C -f '%%k %%h %%s\\n')\n", emb.Broker.Addr(), emb.Broker.Addr())
	if rt.HTTPAddr != "" {
		fmt.Fprintf(env.Stdout, "http:  http://%s   (/metrics /healthz /readyz /status /orders)\n", rt.HTTPAddr)
	}
	fmt.Fprintf(env.Stdout, "processor: %s — ready; Ctrl-C to stop\n", cfg.Processor)
	<-ctx.Done()
	if shutdown(rt, cfg, logger) != nil {
		return ExitFailure
	}
	return ExitOK
}

var relayFlags = []ownFlag{
	{name: "print-config", help: "print the effective configuration (secrets masked) and exit", def: "false", boolean: true},
}

// runRelay: `outbox relay`.
func runRelay(ctx context.Context, env Env, args []string) int {
	cfg, own, _, code := loadConfig(env, "relay", args, relayFlags)
	if code != ExitOK {
		return max(code, ExitOK)
	}
	if own["print-config"] == "true" {
		out, err := cfg.YAML()
		if err != nil {
			fmt.Fprintf(env.Stderr, "outbox relay: %v\n", err)
			return ExitFailure
		}
		env.Stdout.Write(out)
		if !validate(env, "relay", cfg) {
			return ExitUsage
		}
		return ExitOK
	}
	if !validate(env, "relay", cfg) {
		return ExitUsage
	}
	logger := newLogger(env, cfg)
	defer logger.Sync()
	s, err := settings(cfg, logger)
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox relay: %v\n", err)
		return ExitUsage
	}
	rt, code := start(ctx, env, "relay", s, app.RunOptions{})
	if rt == nil {
		return code
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
			fmt.Fprintf(env.Stderr, "outbox relay: %v\n", rt.Err())
			shutdown(rt, cfg, logger)
			return ExitFailure
		case <-ctx.Done():
			if shutdown(rt, cfg, logger) != nil {
				return ExitFailure
			}
			return ExitOK
		}
	}
}

// start runs the services for subcommand sub. On failure it prints the
// error and returns a nil runtime and the exit code: ExitUsage for settings
// that cannot work, ExitFailure otherwise. Unreachable clusters are not a
// failure (the runtime waits for them).
func start(ctx context.Context, env Env, sub string, s app.Settings, o app.RunOptions) (*app.Runtime, int) {
	rt, err := app.Run(ctx, s, o)
	switch {
	case err == nil:
		return rt, ExitOK
	case errors.Is(err, app.ErrInvalidSettings):
		fmt.Fprintf(env.Stderr, "outbox %s: %v\n", sub, err)
		return nil, ExitUsage
	default:
		fmt.Fprintf(env.Stderr, "outbox %s: %v\n", sub, err)
		return nil, ExitFailure
	}
}

// awaitStart waits until rt has started its services. It reports false,
// after printing why, when starting failed or ctx ended first.
func awaitStart(ctx context.Context, env Env, sub string, rt *app.Runtime) bool {
	select {
	case <-rt.Started():
		return true
	case <-rt.Failed():
		fmt.Fprintf(env.Stderr, "outbox %s: %v\n", sub, rt.Err())
	case <-ctx.Done():
		fmt.Fprintf(env.Stderr, "outbox %s: interrupted before the services started\n", sub)
	}
	return false
}

// runMigrate: `outbox migrate`.
func runMigrate(ctx context.Context, env Env, args []string) int {
	cfg, _, _, code := loadConfig(env, "migrate", args, nil)
	if code != ExitOK {
		return max(code, ExitOK)
	}
	if !validate(env, "migrate", cfg) {
		return ExitUsage
	}
	logger := newLogger(env, cfg)
	s, err := settings(cfg, logger)
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox migrate: %v\n", err)
		return ExitUsage
	}
	if err := app.Migrate(ctx, s); err != nil {
		fmt.Fprintf(env.Stderr, "outbox migrate: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "schema applied to keyspace %s\n", cfg.Scylla.Keyspace)
	return ExitOK
}
