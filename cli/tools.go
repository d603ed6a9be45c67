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

// dlqFlags are the flags of `outbox dlq`; each subcommand takes only those
// its [dlqVerb] names.
type dlqFlags struct {
	eventType, aggregate, kind, since, until, format string
	dryRun, all                                      bool
	maxReplays                                       int
}

// registerAll adds every flag of every subcommand to fs.
func (f *dlqFlags) registerAll(fs *flag.FlagSet) {
	fs.StringVar(&f.eventType, "event-type", "", "only entries of this event type")
	fs.StringVar(&f.aggregate, "aggregate", "", "only entries of this aggregate id")
	fs.StringVar(&f.kind, "kind", "", "only entries of this kind ("+strings.Join(dlqKinds(), ", ")+")")
	fs.StringVar(&f.since, "since", "", "only entries whose last failure is at or after this RFC 3339 time")
	fs.StringVar(&f.until, "until", "", "only entries whose last failure is before this RFC 3339 time")
	fs.StringVar(&f.format, "format", dlqtool.FormatTable, "table, or json: JSON Lines, one object per entry with every field")
	fs.BoolVar(&f.dryRun, "dry-run", false, "show what would happen, change nothing")
	fs.IntVar(&f.maxReplays, "max-replays", 3, "refuse entries already replayed this many times")
	fs.BoolVar(&f.all, "all", false, "allow discarding every entry when no filter or id is given")
}

// register adds the flags of verb to fs, so that its help lists only
// those and the flag package refuses the others.
func (f *dlqFlags) register(fs *flag.FlagSet, verb dlqVerb) {
	all := flag.NewFlagSet("dlq", flag.ContinueOnError)
	f.registerAll(all)
	for _, name := range verb.flags {
		fl := all.Lookup(name)
		fs.Var(fl.Value, fl.Name, fl.Usage)
	}
}

// dlqVerb is a subcommand of `outbox dlq`.
type dlqVerb struct {
	name, operands, summary string
	flags                   []string // the dlqFlags it takes
}

// dlqVerbs are the subcommands of `outbox dlq`, in the order of its help.
func dlqVerbs() []dlqVerb {
	filters := []string{"event-type", "aggregate", "kind", "since", "until"}
	return []dlqVerb{
		{"list", "", "print the entries: a table, or JSON Lines with --format json", slices.Concat(filters, []string{"format"})},
		{"show", "EVENT_ID", "print every field of one entry", nil},
		{"replay", "[EVENT_ID...]", "publish entries again, aggregate by aggregate in sequence order", slices.Concat(filters, []string{"dry-run", "max-replays"})},
		{"discard", "[EVENT_ID...]", "delete entries that must never be published", slices.Concat(filters, []string{"dry-run", "all"})},
	}
}

// dlqKinds are the values of --kind: the kinds the relay dead-letters with.
func dlqKinds() []string {
	return []string{relay.KindPermanent, relay.KindExhausted, relay.KindHeld, relay.KindMalformed}
}

// dlqHelp is the help of `outbox dlq`: its subcommands, each of which has
// its own flags and help.
func dlqHelp(w *console) {
	w.println("Usage: outbox dlq list|show|replay|discard [flags] [EVENT_ID...]")
	w.println("\nSubcommands (outbox dlq SUBCOMMAND --help for its flags):")
	for _, v := range dlqVerbs() {
		w.printf("  %-22s %s\n", strings.TrimSpace(v.name+" "+v.operands), v.summary)
	}
}

// runDLQ: `outbox dlq list|show|replay|discard [flags] [event-id...]`.
func runDLQ(ctx context.Context, env *cmdEnv, args []string) (err error) {
	if len(args) > 0 && isHelp(args[0]) {
		dlqHelp(env.Stdout)
		return flag.ErrHelp
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return badUsagef("want a subcommand: list | show EVENT_ID | replay [EVENT_ID...] | discard [EVENT_ID...]")
	}
	sub, rest := args[0], args[1:]
	i := slices.IndexFunc(dlqVerbs(), func(v dlqVerb) bool { return v.name == sub })
	if i < 0 {
		return badUsagef("unknown subcommand %q (want list, show, replay or discard)", sub)
	}
	verb := dlqVerbs()[i]
	cl := newCmdLine("dlq " + sub)
	cl.operands = verb.operands
	var f dlqFlags
	f.register(cl.fs, verb)
	cfg, positional, err := cl.parse(env, rest, app.DefaultConfig())
	if err != nil {
		if name, ok := foreignFlag(rest, cl.fs); ok && !errors.Is(err, flag.ErrHelp) {
			return badUsagef("--%s: outbox dlq %s does not take it (see outbox dlq %s --help)", name, sub, sub)
		}
		return err
	}
	if sub == "list" && len(positional) > 0 {
		return cl.unexpected(positional[0])
	}
	filter, ids, err := f.selection(positional)
	if err != nil {
		return badUsage(fmt.Errorf("%s: %w", sub, err))
	}
	switch {
	case sub == "show" && len(ids) != 1:
		return badUsagef("show: want exactly one event id")
	case sub == "replay" && f.maxReplays < 1:
		return badUsagef("replay: --max-replays: %d is not a positive count", f.maxReplays)
	case sub == "discard" && !f.all && filter == (storage.DeadLetterFilter{}) && len(ids) == 0:
		// Checked here rather than left to dlqtool.ErrNoSelection: it is a
		// command line to correct, which needs no database.
		return badUsagef("discard: nothing selected: give event ids or a filter, or pass --all")
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
			env.Stdout.printf("(%s)\n", dlqtool.CountEntries(n))
		}
	case "show":
		if err := dlqtool.Show(ctx, store, ids[0], env.Stdout); err != nil {
			return fmt.Errorf("show: %w", err)
		}
	case "replay":
		pub, err := messaging.NewPublisher(s.Messaging, logger)
		if err != nil {
			return fmt.Errorf("replay: kafka.brokers %v: %w", cfg.Kafka.Brokers, err)
		}
		defer func() { err = errors.Join(err, pub.Close()) }()
		rep, err := dlqtool.Replay(ctx, store, pub, dlqtool.ReplayOptions{Filter: filter, EventIDs: ids, DryRun: f.dryRun, MaxReplays: f.maxReplays, Progress: env.Stdout})
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		// The summary, already printed, names the counts: exit 1 when an
		// entry the replay was to publish stays in the queue (a dry run:
		// would stay), so a script does not take a refused, blocked or
		// failed entry for a replayed one.
		if rep.NotPublished() > 0 {
			return errReported
		}
	case "discard":
		if _, err := dlqtool.Discard(ctx, store, dlqtool.DiscardOptions{Filter: filter, EventIDs: ids, All: f.all, DryRun: f.dryRun, Progress: env.Stdout}); err != nil {
			return fmt.Errorf("discard: %w", err)
		}
	}
	return nil
}

// foreignFlag returns the first flag in args that belongs to another `outbox
// dlq` subcommand than the one whose flags (and settings) fs holds: the flag
// package would only call it undefined, as if it were a typo. It reads
// args as the flag package does, skipping the value of each of fs's flags
// that takes one.
func foreignFlag(args []string, fs *flag.FlagSet) (string, bool) {
	var probe dlqFlags
	all := flag.NewFlagSet("dlq", flag.ContinueOnError)
	probe.registerAll(all)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if len(a) < 2 || a[0] != '-' {
			continue // a positional argument
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if own := fs.Lookup(name); own != nil {
			if b, ok := own.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
				i++
			}
			continue
		}
		// A flag of no subcommand stops the flag package: its error
		// is the one to report.
		return name, all.Lookup(name) != nil
	}
	return "", false
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
