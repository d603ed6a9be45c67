// Command outbox runs the scylla-outbox services and tools: demo, dev,
// relay, migrate, cql and dlq. See `outbox --help` and the README.
package main

import (
	"os"

	"github.com/scylla-outbox/scylla-outbox/cli"
)

func main() {
	ctx, stop := cli.SignalContext()
	code := cli.Run(ctx, cli.OSEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}
