// Package cli owns the `outbox` command line: subcommand dispatch, the
// few flags that belong to one subcommand, signal handling and exit codes.
// Settings shared by the services come from package config; the services
// themselves from package app. cmd/outbox only calls Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scylla-outbox/scylla-outbox/app"
	"github.com/scylla-outbox/scylla-outbox/config"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed (demo: an event did not arrive)
	ExitUsage   = 2 // bad command line or configuration
)

// Env is the process environment, injectable for tests.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Environ        []string
}

// OSEnv is the real process environment.
func OSEnv() Env {
	return Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Environ: os.Environ()}
}

type command struct {
	name, summary string
	run           func(ctx context.Context, env Env, args []string) int
}

func commands() []command {
	return []command{
		{"demo", "seed orders on the embedded stack (or given clusters), relay them and print every event; exit 0 only if all arrived", runDemo},
		{"dev", "embedded ScyllaDB (9042) and Kafka (9092) plus the relay and an orders HTTP API, until Ctrl-C", runDev},
		{"relay", "the relay service against configured clusters, until SIGINT/SIGTERM", runRelay},
		{"migrate", "apply the schema (idempotent)", runMigrate},
		{"cql", `run one CQL statement and print the rows: outbox cql "SELECT * FROM outbox.orders"`, runCQL},
		{"dlq", "inspect and repair the dead-letter queue: list | show | replay | discard", runDLQ},
		{"bench", "measure relay throughput, latency and cost against a raw producer (--quick: under 2 minutes)", runBench},
	}
}

// Run executes the command line args (without the program name) and
// returns the process exit code. ctx ends on SIGINT/SIGTERM in main.
func Run(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "outbox: unknown command %q (run outbox --help)\n", args[0])
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "outbox — transactional outbox on ScyllaDB CDC")
	fmt.Fprintln(w, "\nUsage: outbox <command> [flags]    (outbox <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nSettings come from flags, OUTBOX_* environment variables and --config FILE.yaml, in that order.")
}

// SignalContext returns a context cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// ownFlag is a flag that belongs to one subcommand, not to config.
type ownFlag struct {
	name, help, def string
	boolean         bool
}

// parseOwn takes a subcommand's own flags out of args (so config.Load does
// not reject them) and returns their values and the rest.
func parseOwn(args []string, own []ownFlag) (map[string]string, []string, error) {
	vals := map[string]string{}
	byName := map[string]ownFlag{}
	for _, f := range own {
		vals[f.name] = f.def
		byName[f.name] = f
	}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name, value, hasValue = name[:eq], name[eq+1:], true
		}
		f, ok := byName[name]
		if !strings.HasPrefix(a, "-") || !ok {
			rest = append(rest, a)
			continue
		}
		switch {
		case hasValue:
		case f.boolean:
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			return nil, nil, fmt.Errorf("flag --%s needs a value", name)
		}
		vals[name] = value
	}
	return vals, rest, nil
}

// loadConfig loads and validates the configuration; on a problem it prints
// one line per bad setting and returns the exit code to use.
func loadConfig(env Env, sub string, args []string, own []ownFlag) (config.Config, map[string]string, []string, int) {
	vals, rest, err := parseOwn(args, own)
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox %s: %v\n", sub, err)
		return config.Config{}, nil, nil, ExitUsage
	}
	var helpBuf strings.Builder
	cfg, positional, err := config.Load(sub, rest, env.Getenv, env.Environ, &helpBuf)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(env.Stdout, "Usage: outbox %s [flags]\n", sub)
		if len(own) > 0 {
			fmt.Fprintf(env.Stdout, "\n%s flags:\n", sub)
			for _, f := range own {
				fmt.Fprintf(env.Stdout, "  --%-16s %s (default %q)\n", f.name, f.help, f.def)
			}
			fmt.Fprintln(env.Stdout, "\nShared settings:")
		}
		io.WriteString(env.Stdout, helpBuf.String())
		return config.Config{}, nil, nil, -1
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox %s: %v\n", sub, err)
		return config.Config{}, nil, nil, ExitUsage
	}
	return cfg, vals, positional, ExitOK
}

func validate(env Env, sub string, cfg config.Config) bool {
	if err := cfg.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(env.Stderr, "outbox %s: %s\n", sub, line)
		}
		return false
	}
	return true
}

// newLogger builds the zap logger the configuration asks for, on stderr.
func newLogger(env Env, cfg config.Config) *zap.Logger {
	level, err := zapcore.ParseLevel(cfg.Log.Level)
	if err != nil {
		level = zapcore.InfoLevel
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if cfg.Log.Format == "json" {
		enc = zapcore.NewJSONEncoder(encCfg)
	} else {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(env.Stderr), level))
}

// settings converts the configuration into the services' settings.
func settings(cfg config.Config, logger *zap.Logger) (app.Settings, error) {
	retry, err := cfg.RetryPolicy()
	if err != nil {
		return app.Settings{}, err
	}
	policy, err := cfg.Policy()
	if err != nil {
		return app.Settings{}, err
	}
	consistency, err := parseConsistency(cfg.Scylla.Consistency)
	if err != nil {
		return app.Settings{}, err
	}
	return app.Settings{
		Storage:   cfg.StorageConfig(),
		Messaging: cfg.MessagingConfig(),
		Relay: app.RelayConfig{
			Processor:        cfg.Processor,
			Keyspace:         cfg.Scylla.Keyspace,
			Name:             cfg.Relay.Name,
			Retry:            retry,
			Breaker:          cfg.BreakerConfig(),
			Policy:           policy,
			MaxInFlight:      cfg.Relay.MaxInFlight,
			DrainTimeout:     cfg.Relay.DrainTimeout,
			ProgressInterval: cfg.Relay.ProgressInterval,
			CDC:              cfg.ReaderConfig(),
			Polling:          cfg.PollingSource(),
			Consistency:      consistency,
			WriteTimeout:     cfg.Scylla.Timeout,
		},
		Schema:     cfg.SchemaOptions(),
		HTTPListen: cfg.HTTP.Listen,
		Logger:     logger,
	}, nil
}

// shutdown stops a runtime within the drain timeout plus a margin.
func shutdown(rt *app.Runtime, cfg config.Config, logger *zap.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Relay.DrainTimeout+10*time.Second)
	defer cancel()
	logger.Info("shutting down: stopping intake, draining in-flight events, saving progress")
	err := rt.Shutdown(ctx)
	if err != nil {
		logger.Warn("shutdown finished with errors", zap.Error(err))
	} else {
		logger.Info("shutdown complete")
	}
	return err
}

// envHas reports whether any of the settings was given on the command line
// or in the environment (the demo uses the embedded stack otherwise).
func envHas(env Env, args []string, flags []string, vars []string) bool {
	for _, a := range args {
		name := strings.TrimLeft(a, "-")
		if i := strings.IndexByte(name, '='); i >= 0 {
			name = name[:i]
		}
		for _, f := range flags {
			if strings.HasPrefix(a, "-") && name == f {
				return true
			}
		}
	}
	for _, v := range vars {
		if env.Getenv(v) != "" {
			return true
		}
	}
	return false
}
