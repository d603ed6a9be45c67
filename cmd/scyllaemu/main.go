// Command scyllaemu serves the embedded ScyllaDB-compatible CQL server with
// CDC on a TCP address until SIGINT or SIGTERM, for cqlsh-less poking, the
// scylla-cdc-go conformance tests and demos. It is not a production database:
// everything is in memory.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9042", "TCP address to serve CQL on")
	vnodes := flag.Int("vnodes", 16, "number of vnodes, and so of CDC streams")
	genStart := flag.Duration("generation-age", 0, "start the CDC generation this long before now (writes stamped earlier are rejected)")
	verbose := flag.Bool("v", false, "log connection-level problems")
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := scyllaemu.Start(ctx, scyllaemu.Options{
		Listen:          *listen,
		Vnodes:          *vnodes,
		GenerationStart: time.Now().Add(-*genStart),
		Logger:          logger,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("scyllaemu listening on %s (in-memory test server, not a production database)\n", srv.Addr())
	<-ctx.Done()
	srv.Close()
}
