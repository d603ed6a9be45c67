// Command scyllaemu serves the embedded ScyllaDB-compatible CQL server with
// CDC on a TCP address until SIGINT or SIGTERM, for cqlsh-less poking, the
// scylla-cdc-go conformance tests and demos. SIGUSR1 (or a timer) publishes
// a new CDC generation, as a topology change does in ScyllaDB. It is not a
// production database: data is in memory, and with --data-dir also in a
// write-ahead log that survives restarts and kill -9.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

const usage = `Usage: scyllaemu [flags]

Serves a one-node ScyllaDB stand-in with CDC (not a production database).
Prints "scyllaemu listening on HOST:PORT ..." on stdout when ready.

Data is in memory unless --data-dir is given: then every write is appended
to a write-ahead log in that directory before it is acknowledged (so it
survives kill -9 of the emulator), the log is fsynced once a second (or
before every acknowledgement with --fsync-always, which also survives power
loss), and a restart on the same directory restores everything: schema,
rows, CDC log, CDC generations, host id.

Signals:
  SIGINT, SIGTERM  stop
  SIGUSR1          start a new CDC generation (new stream ids) starting
                   --generation-delay from now, and print
                   "scyllaemu new CDC generation at <RFC 3339 time>" on stdout.
                   Writes stamped before that time still go to the old streams.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scyllaemu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		// The usage goes to stderr, and a failing stderr has nowhere to
		// report to; the exit status still does.
		_, _ = fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:9042", "TCP address to serve CQL on")
	vnodes := fs.Int("vnodes", 16, "number of vnodes, and so of CDC streams per generation")
	genAge := fs.Duration("generation-age", 0, "start the first CDC generation this long before now (writes stamped earlier are rejected)")
	genDelay := fs.Duration("generation-delay", scyllaemu.DefaultGenerationDelay, "how far in the future a new CDC generation starts (SIGUSR1, --generation-every)")
	genEvery := fs.Duration("generation-every", 0, "also start a new CDC generation at this interval (0: only on SIGUSR1)")
	dataDir := fs.String("data-dir", "", "keep all data in a write-ahead log in this directory (default: memory only)")
	fsyncAlways := fs.Bool("fsync-always", false, "with --data-dir, fsync before every acknowledgement instead of once a second")
	verbose := fs.Bool("v", false, "log connection-level problems")
	sec := addSecurityFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *genDelay < 0 || *genEvery < 0 {
		complain(stderr, "scyllaemu: --generation-delay and --generation-every must not be negative")
		return 2
	}
	tlsConfig, users, err := sec.options(os.Getenv)
	if err != nil {
		complain(stderr, "scyllaemu:", err)
		return 2
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)

	srv, err := scyllaemu.Start(ctx, scyllaemu.Options{
		Listen:          *listen,
		Vnodes:          *vnodes,
		GenerationStart: time.Now().Add(-*genAge),
		Logger:          logger,
		DataDir:         *dataDir,
		FsyncAlways:     *fsyncAlways,
		TLS:             tlsConfig,
		Users:           users,
	})
	if err != nil {
		complain(stderr, err)
		return 1
	}
	kind := "in-memory test server"
	if *dataDir != "" {
		kind = "test server with data in " + *dataDir
	}
	status := serve(ctx, srv, kind, usr1, *genEvery, *genDelay, stdout, stderr)
	if err := srv.Close(); err != nil {
		complain(stderr, "scyllaemu: close:", err)
		return 1
	}
	return status
}

// serve announces srv on stdout and starts new CDC generations on SIGUSR1
// and every genEvery until ctx ends. Scripts wait for its stdout lines, so
// a failure to write them ends the server with status 1.
func serve(ctx context.Context, srv *scyllaemu.Server, kind string, usr1 <-chan os.Signal, genEvery, genDelay time.Duration, stdout, stderr io.Writer) int {
	if _, err := fmt.Fprintf(stdout, "scyllaemu listening on %s (%s, not a production database)\n", srv.Addr(), kind); err != nil {
		complain(stderr, "scyllaemu: stdout:", err)
		return 1
	}

	var tick <-chan time.Time
	if genEvery > 0 {
		t := time.NewTicker(genEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-usr1:
		case <-tick:
		}
		at, err := srv.NewGeneration(genDelay)
		if err != nil {
			complain(stderr, "scyllaemu: new CDC generation:", err)
			continue
		}
		if _, err := fmt.Fprintf(stdout, "scyllaemu new CDC generation at %s\n", at.UTC().Format(time.RFC3339Nano)); err != nil {
			complain(stderr, "scyllaemu: stdout:", err)
			return 1
		}
	}
}

// complain prints a problem on stderr, the last resort: if that fails
// too, only the exit status is left to tell.
func complain(stderr io.Writer, a ...any) { _, _ = fmt.Fprintln(stderr, a...) }
