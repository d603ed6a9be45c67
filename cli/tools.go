package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/app"
	"github.com/scylla-outbox/scylla-outbox/dlqtool"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// runCQL: `outbox cql "<statement>"` — handy on the dev stack, which has no
// cqlsh. The statement may come before or after the flags.
func runCQL(ctx context.Context, env *cmdEnv, args []string) error {
	cl := newCmdLine("cql")
	cl.operands = `"STATEMENT"`
	cfg, positional, err := cl.parse(env, args, app.DefaultConfig())
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return badUsagef(`want exactly one statement, e.g. outbox cql "SELECT * FROM outbox.orders"`)
	}
	s, err := app.NewSettings(cfg, newLogger(env, cfg))
	if err != nil {
		return err
	}
	s.Storage.Keyspace = ""
	session, err := storage.NewSession(ctx, s.Storage)
	if err != nil {
		return err
	}
	defer session.Close()
	iter := session.Session.Query(positional[0]).WithContext(ctx).Iter()
	cols := iter.Columns()
	var rows [][]string
	for {
		row := map[string]any{}
		if !iter.MapScan(row) {
			break
		}
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = formatCell(row[c.Name])
		}
		rows = append(rows, cells)
	}
	if err := iter.Close(); err != nil {
		return err
	}
	if len(cols) == 0 {
		env.Stdout.println("OK")
		return nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	// tabwriter writes to env.Stdout only on Flush, whose error says it all.
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, strings.Join(names, "\t"))
	for _, r := range rows {
		_, _ = fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	env.Stdout.printf("(%d rows)\n", len(rows))
	return nil
}

func formatCell(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case []byte:
		if x == nil {
			return "null"
		}
		if len(x) > 32 {
			return "0x" + hex.EncodeToString(x[:32]) + "…"
		}
		return "0x" + hex.EncodeToString(x)
	case time.Time:
		if x.IsZero() {
			return "null"
		}
		return x.UTC().Format("2006-01-02 15:04:05.000Z")
	case gocql.UUID:
		return x.String()
	case string:
		s := strings.ReplaceAll(x, "\n", " ")
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		return s
	default:
		return fmt.Sprint(v)
	}
}

// dlqFlags are the flags of `outbox dlq`.
type dlqFlags struct {
	eventType, aggregate, kind, since, until, format string
	dryRun, all                                      bool
	maxReplays                                       int
}

func (f *dlqFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.eventType, "event-type", "", "only entries of this event type")
	fs.StringVar(&f.aggregate, "aggregate", "", "only entries of this aggregate id")
	fs.StringVar(&f.kind, "kind", "", "only entries of this kind ("+strings.Join(dlqKinds(), ", ")+")")
	fs.StringVar(&f.since, "since", "", "only entries whose last failure is at or after this RFC 3339 time")
	fs.StringVar(&f.until, "until", "", "only entries whose last failure is before this RFC 3339 time")
	fs.StringVar(&f.format, "format", dlqtool.FormatTable, "list output: table or json")
	fs.BoolVar(&f.dryRun, "dry-run", false, "replay/discard: show what would happen, change nothing")
	fs.IntVar(&f.maxReplays, "max-replays", 3, "replay: refuse entries already replayed this many times")
	fs.BoolVar(&f.all, "all", false, "discard: allow discarding every entry when no filter or id is given")
}

// dlqOperands are the positional arguments of an `outbox dlq` subcommand
// for its help; ok is false for an unknown subcommand.
func dlqOperands(sub string) (operands string, ok bool) {
	switch sub {
	case "list":
		return "", true
	case "show":
		return "EVENT_ID", true
	case "replay", "discard":
		return "[EVENT_ID...]", true
	}
	return "", false
}

// dlqSynopsis is the subcommands of `outbox dlq` with their arguments.
const dlqSynopsis = "list | show EVENT_ID | replay [EVENT_ID...] | discard [EVENT_ID...]"

// dlqKinds are the values of --kind: the kinds the relay dead-letters with.
func dlqKinds() []string {
	return []string{relay.KindPermanent, relay.KindExhausted, relay.KindHeld, relay.KindMalformed}
}

// runDLQ: `outbox dlq list|show|replay|discard [flags] [event-id...]`.
func runDLQ(ctx context.Context, env *cmdEnv, args []string) (err error) {
	cl := newCmdLine("dlq")
	var sub string
	var rest []string
	switch {
	case len(args) > 0 && isHelp(args[0]):
		// The subcommands share every flag: the help of `outbox dlq` is
		// theirs.
		cl.name, cl.operands, rest = "dlq list|show|replay|discard", "[EVENT_ID...]", []string{"--help"}
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
		return badUsagef("want a subcommand: %s", dlqSynopsis)
	default:
		sub, rest = args[0], args[1:]
		operands, ok := dlqOperands(sub)
		if !ok {
			return badUsagef("unknown subcommand %q (want list, show, replay or discard)", sub)
		}
		cl.name, cl.operands = "dlq "+sub, operands
	}
	var f dlqFlags
	f.register(cl.fs)
	cfg, positional, err := cl.parse(env, rest, app.DefaultConfig())
	if err != nil {
		return err
	}
	if sub == "list" && len(positional) > 0 {
		return cl.unexpected(positional[0])
	}
	filter, ids, err := f.selection(positional)
	if err != nil {
		return badUsage(fmt.Errorf("%s: %w", sub, err))
	}
	logger := newLogger(env, cfg)
	s, err := app.NewSettings(cfg, logger)
	if err != nil {
		return err
	}
	session, err := storage.NewSession(ctx, s.Storage)
	if err != nil {
		return err
	}
	defer session.Close()
	store := storage.NewDeadLetterStore(session, cfg.Scylla.Keyspace)
	switch sub {
	case "list":
		n, err := dlqtool.List(ctx, store, filter, env.Stdout, f.format)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if f.format != dlqtool.FormatJSON {
			env.Stdout.printf("(%d entries)\n", n)
		}
	case "show":
		if len(ids) != 1 {
			return badUsagef("show: want exactly one event id")
		}
		if err := dlqtool.Show(ctx, store, ids[0], env.Stdout); err != nil {
			return fmt.Errorf("show: %w", err)
		}
	case "replay":
		if f.maxReplays < 1 {
			return badUsagef("replay: --max-replays: %d is not a positive count", f.maxReplays)
		}
		pub, err := messaging.NewPublisher(s.Messaging, logger)
		if err != nil {
			return fmt.Errorf("replay: kafka.brokers %v: %w", cfg.Kafka.Brokers, err)
		}
		defer func() { err = errors.Join(err, pub.Close()) }()
		rep, err := dlqtool.Replay(ctx, store, pub, dlqtool.ReplayOptions{Filter: filter, EventIDs: ids, DryRun: f.dryRun, MaxReplays: f.maxReplays, Progress: env.Stdout})
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if rep.Err() != nil || rep.Failed > 0 {
			return errReported
		}
	case "discard":
		if _, err := dlqtool.Discard(ctx, store, dlqtool.DiscardOptions{Filter: filter, EventIDs: ids, All: f.all, DryRun: f.dryRun, Progress: env.Stdout}); err != nil {
			return fmt.Errorf("discard: %w", err)
		}
	}
	return nil
}

// selection is the entries the flags and the positional event ids choose.
func (f *dlqFlags) selection(positional []string) (storage.DeadLetterFilter, []uuid.UUID, error) {
	filter := storage.DeadLetterFilter{EventType: f.eventType, Kind: f.kind}
	if f.kind != "" && !slices.Contains(dlqKinds(), f.kind) {
		return filter, nil, fmt.Errorf("--kind: %q is not a kind (want %s)", f.kind, strings.Join(dlqKinds(), ", "))
	}
	if f.aggregate != "" {
		id, err := uuid.Parse(f.aggregate)
		if err != nil {
			return filter, nil, fmt.Errorf("--aggregate: %q is not a UUID", f.aggregate)
		}
		filter.AggregateID = id
	}
	for _, b := range []struct {
		name, value string
		dst         *time.Time
	}{{"since", f.since, &filter.Since}, {"until", f.until, &filter.Until}} {
		if b.value != "" {
			t, err := time.Parse(time.RFC3339, b.value)
			if err != nil {
				return filter, nil, fmt.Errorf("--%s: %q is not an RFC 3339 time", b.name, b.value)
			}
			*b.dst = t
		}
	}
	if f.format != dlqtool.FormatTable && f.format != dlqtool.FormatJSON {
		return filter, nil, fmt.Errorf("--format: %q is not table or json", f.format)
	}
	var ids []uuid.UUID
	for _, p := range positional {
		id, err := uuid.Parse(p)
		if err != nil {
			return filter, nil, fmt.Errorf("%q is not an event id (UUID)", p)
		}
		ids = append(ids, id)
	}
	return filter, ids, nil
}
