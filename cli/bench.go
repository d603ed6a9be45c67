package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/scylla-outbox/scylla-outbox/bench"
)

// runBench: `outbox bench`. The relay it measures is this binary again,
// started as a child process (so its CPU time and memory are its own);
// the child is recognised by its environment before any flag parsing.
func runBench(ctx context.Context, env *cmdEnv, args []string) error {
	if bench.IsRelayChild() {
		if err := bench.RunRelayChild(ctx); err != nil {
			return fmt.Errorf("relay child: %w", err)
		}
		return nil
	}
	o := bench.Options{JSONPath: "bench-report.json", SVGPath: "bench-latency.svg"}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	// As for the other subcommands: the help on stdout for --help only,
	// a mistake as one line on stderr (Run prints the error).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	o.RegisterFlags(fs)
	quiet := fs.Bool("quiet", false, "do not print progress and relay logs on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			env.Stdout.println("Usage: outbox bench [flags]\n\nbench flags:")
			fs.SetOutput(env.Stdout)
			fs.PrintDefaults()
			return err
		}
		return badUsage(err)
	}
	o.Out, o.Command = env.Stdout, strings.TrimSpace("outbox bench "+strings.Join(args, " "))
	o.RelayCommand = bench.SelfCommand("bench")
	if !*quiet {
		o.Progress = env.Stderr
	}
	if _, err := bench.Run(ctx, o); err != nil {
		return err
	}
	if o.JSONPath != "" {
		env.Stderr.printf("report: %s, histogram: %s\n", o.JSONPath, o.SVGPath)
	}
	return nil
}
