// Package cli owns the `outbox` command line: subcommand dispatch, the
// flags that belong to one subcommand, signal handling and exit codes.
// Settings shared by the services come from package config (their defaults
// and their conversion into components from package app); the services
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
	"sort"
	"strconv"
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

// A subcommand returns nil, flag.ErrHelp after printing its help, a
// *usageError for a bad command line or configuration, or any other error
// for a failure; Run turns that into the exit code and prints the error
// once, each line prefixed with the command's name.
type command struct {
	name, summary string
	run           func(ctx context.Context, env *cmdEnv, args []string) error
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
	ce := &cmdEnv{Stdout: &console{w: env.Stdout}, Stderr: &console{w: env.Stderr}, Getenv: env.Getenv, Environ: env.Environ}
	if len(args) == 0 || isHelp(args[0]) {
		usage(ce.Stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return exit(ce, "outbox", ce.Stdout.Err())
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, ce, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				err = nil
			}
			if werr := ce.Stdout.Err(); werr != nil && !errors.Is(err, werr) {
				err = errors.Join(err, fmt.Errorf("writing output: %w", werr))
			}
			return exit(ce, "outbox "+c.name, err)
		}
	}
	ce.Stderr.printf("outbox: unknown command %q (run outbox --help)\n", args[0])
	return ExitUsage
}

// isHelp reports whether arg asks for help in place of a subcommand.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// usageError is a bad command line or configuration: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// badUsage marks err as a usage error.
func badUsage(err error) error { return &usageError{err: err} }

// badUsagef is badUsage of a formatted error.
func badUsagef(format string, args ...any) error { return badUsage(fmt.Errorf(format, args...)) }

// errReported is a failure whose explanation the command already printed.
var errReported = errors.New("failed")

// exit prints err under the command's name (see [errorLines]) and returns
// its exit code. If stderr itself fails there is nowhere left to say so; the
// exit code still does.
func exit(env *cmdEnv, cmd string, err error) int {
	var ue *usageError
	code := ExitFailure
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue), errors.Is(err, app.ErrInvalidSettings):
		code = ExitUsage
	}
	if errors.Is(err, errReported) {
		return code
	}
	msg := strings.TrimPrefix(err.Error(), app.ErrInvalidSettings.Error()+": ")
	for _, line := range errorLines(msg) {
		env.Stderr.printf("%s: %s\n", cmd, line)
	}
	return code
}

// errorLines splits an error message into the lines to print under the
// command's name: one per joined error (one per bad setting), so that each
// names what it is about. Drivers format some errors over several lines (a
// trailing newline, or causes indented below a header as in sarama's
// "2 errors occurred:\n\t* ..."), so blank lines are dropped and an
// indented line continues the line above it: no printed line is empty or a
// fragment without its subject. An error without a message still gets a
// line, so that a failure is never silent.
func errorLines(msg string) []string {
	var lines []string
	for _, line := range strings.Split(msg, "\n") {
		text := strings.TrimSpace(line)
		switch {
		case text == "":
		case len(lines) > 0 && strings.TrimLeft(line, " \t") != line:
			lines[len(lines)-1] += " " + text
		default:
			lines = append(lines, text)
		}
	}
	if len(lines) == 0 {
		lines = []string{"failed (the error has no message)"}
	}
	return lines
}

func usage(w *console) {
	w.println("outbox — transactional outbox on ScyllaDB CDC")
	w.println("\nUsage: outbox <command> [flags]    (outbox <command> --help for its flags)")
	w.println("\nCommands:")
	for _, c := range commands() {
		w.printf("  %-8s %s\n", c.name, c.summary)
	}
	w.println("\nSettings come from flags, OUTBOX_* environment variables and --config FILE.yaml, in that order.")
}

// SignalContext returns a context cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// cmdLine is a subcommand's command line: its own typed flags and every
// setting, over base.
type cmdLine struct {
	name     string
	operands string // the positional arguments' synopsis in the help; empty: none
	fs       *flag.FlagSet
	settings *config.Flags
	own      map[string]bool
}

// newCmdLine starts the command line of subcommand name; register its own
// flags on fs before calling parse.
func newCmdLine(name string) *cmdLine {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package would print errors and the full usage on every
	// mistake; Run prints one line instead, and the help only for --help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdLine{name: name, fs: fs}
}

// parse parses args (flags may follow positional arguments) and builds
// the configuration over base. For --help it prints the subcommand's flags
// and the settings, and returns flag.ErrHelp.
//
// A boolean flag takes its value only as --flag=value: the flag package
// reads `--flag false` as the flag set to true and a positional "false".
// No subcommand has a positional argument that is a boolean, so such an
// argument is refused here, saying how to write it.
func (c *cmdLine) parse(env *cmdEnv, args []string, base config.Config) (config.Config, []string, error) {
	c.own = map[string]bool{}
	c.fs.VisitAll(func(f *flag.Flag) { c.own[f.Name] = true })
	c.settings = config.AddFlags(c.fs)
	var positional []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.help(env.Stdout, base)
				return config.Config{}, nil, err
			}
			return config.Config{}, nil, badUsage(c.parseError(err))
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			positional = append(positional, rest[1:]...)
			break
		}
		if n := len(args) - len(rest); n > 0 {
			if name, ok := c.bareBoolFlag(args[n-1]); ok {
				if _, err := strconv.ParseBool(rest[0]); err == nil {
					return config.Config{}, nil, badUsagef("unexpected argument %q after --%s: a boolean flag takes its value as --%s=%s", rest[0], name, name, rest[0])
				}
			}
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	cfg, err := c.settings.Load(base, env.Getenv, env.Environ)
	if err != nil {
		return config.Config{}, nil, badUsage(err)
	}
	return cfg, positional, nil
}

// bareBoolFlag reports whether arg is a boolean flag of c given without a
// value (--flag, not --flag=value), and its name.
func (c *cmdLine) bareBoolFlag(arg string) (string, bool) {
	if !strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
		return "", false
	}
	name := strings.TrimLeft(arg, "-")
	f := c.fs.Lookup(name)
	if f == nil {
		return "", false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return name, ok && b.IsBoolFlag()
}

// parseFlags is parse for a subcommand that takes flags only: a
// positional argument is a usage error naming it.
func (c *cmdLine) parseFlags(env *cmdEnv, args []string, base config.Config) (config.Config, error) {
	cfg, positional, err := c.parse(env, args, base)
	if err == nil && len(positional) > 0 {
		err = c.unexpected(positional[0])
	}
	return cfg, err
}

// unexpected is the usage error for a positional argument the subcommand
// does not take.
func (c *cmdLine) unexpected(arg string) error {
	return badUsagef("unexpected argument %q: outbox %s takes flags only (see --help)", arg, c.name)
}

// parseError words a flag error: the subcommand's own flags by name, the
// settings as package config does.
func (c *cmdLine) parseError(err error) error {
	msg := err.Error()
	for name := range c.own {
		if strings.Contains(msg, "flag -"+name+":") || strings.HasSuffix(msg, "flag -"+name) {
			if _, value, ok := strings.Cut(msg, "invalid value "); ok {
				value, _, _ = strings.Cut(value, " for flag")
				return fmt.Errorf("--%s: %s is not valid", name, value)
			}
			return fmt.Errorf("--%s: %s", name, strings.TrimPrefix(msg, "flag needs an argument: -"+name))
		}
	}
	return c.settings.ParseError(err)
}

func (c *cmdLine) help(w *console, base config.Config) {
	w.printf("Usage: outbox %s [flags]", c.name)
	if c.operands != "" {
		w.printf(" %s", c.operands)
	}
	w.println()
	var own []*flag.Flag
	c.fs.VisitAll(func(f *flag.Flag) {
		if c.own[f.Name] {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		sort.Slice(own, func(i, j int) bool { return own[i].Name < own[j].Name })
		w.printf("\n%s flags:\n", c.name)
		for _, f := range own {
			// As the flag package's own help: a default that is the zero
			// value (false, "") says nothing.
			if f.DefValue == "false" || f.DefValue == "" {
				w.printf("  --%-16s %s\n", f.Name, f.Usage)
				continue
			}
			w.printf("  --%-16s %s (default %q)\n", f.Name, f.Usage, f.DefValue)
		}
		w.println("\nShared settings:")
	}
	// A failed write is kept by w and reported by Run.
	_ = config.Usage(w, base)
}

// newLogger builds the zap logger the configuration asks for, on stderr.
func newLogger(env *cmdEnv, cfg config.Config) *zap.Logger {
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
