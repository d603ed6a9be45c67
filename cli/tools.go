package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/dlqtool"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// runCQL: `outbox cql "<statement>"` — handy on the dev stack, which has no
// cqlsh.
func runCQL(ctx context.Context, env Env, args []string) int {
	// The statement may come first (outbox cql "SELECT ..." --scylla-hosts h)
	// or after the flags; flag parsing stops at the first non-flag.
	var lead []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		lead, args = args[:1], args[1:]
	}
	cfg, _, positional, code := loadConfig(env, "cql", args, nil)
	if code != ExitOK {
		return max(code, ExitOK)
	}
	positional = append(lead, positional...)
	if len(positional) != 1 {
		fmt.Fprintln(env.Stderr, `outbox cql: want exactly one statement, e.g. outbox cql "SELECT * FROM outbox.orders"`)
		return ExitUsage
	}
	if !validate(env, "cql", cfg) {
		return ExitUsage
	}
	sc := cfg.StorageConfig()
	sc.Keyspace = ""
	session, err := storage.NewSession(ctx, sc)
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox cql: %v\n", err)
		return ExitFailure
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
		fmt.Fprintf(env.Stderr, "outbox cql: %v\n", err)
		return ExitFailure
	}
	if len(cols) == 0 {
		fmt.Fprintln(env.Stdout, "OK")
		return ExitOK
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "(%d rows)\n", len(rows))
	return ExitOK
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

var dlqFlags = []ownFlag{
	{name: "event-type", help: "only entries of this event type", def: ""},
	{name: "aggregate", help: "only entries of this aggregate id", def: ""},
	{name: "kind", help: "only entries of this kind (permanent, exhausted, held, malformed)", def: ""},
	{name: "since", help: "only entries whose last failure is at or after this RFC 3339 time", def: ""},
	{name: "until", help: "only entries whose last failure is before this RFC 3339 time", def: ""},
	{name: "format", help: "list output: table or json", def: "table"},
	{name: "dry-run", help: "replay/discard: show what would happen, change nothing", def: "false", boolean: true},
	{name: "max-replays", help: "replay: refuse entries already replayed this many times", def: "3"},
	{name: "all", help: "discard: allow discarding every entry when no filter or id is given", def: "false", boolean: true},
}

// runDLQ: `outbox dlq list|show|replay|discard [flags] [event-id...]`.
func runDLQ(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(env.Stderr, "outbox dlq: want a subcommand: list | show EVENT_ID | replay [EVENT_ID...] | discard [EVENT_ID...]")
		return ExitUsage
	}
	sub := args[0]
	cfg, own, positional, code := loadConfig(env, "dlq "+sub, args[1:], dlqFlags)
	if code != ExitOK {
		return max(code, ExitOK)
	}
	if !validate(env, "dlq", cfg) {
		return ExitUsage
	}
	filter, ids, err := dlqSelection(own, positional)
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox dlq %s: %v\n", sub, err)
		return ExitUsage
	}
	session, err := storage.NewSession(ctx, cfg.StorageConfig())
	if err != nil {
		fmt.Fprintf(env.Stderr, "outbox dlq: %v\n", err)
		return ExitFailure
	}
	defer session.Close()
	store := storage.NewDeadLetterStore(session, cfg.Scylla.Keyspace)
	dry := own["dry-run"] == "true"
	switch sub {
	case "list":
		n, err := dlqtool.List(ctx, store, filter, env.Stdout, own["format"])
		if err != nil {
			fmt.Fprintf(env.Stderr, "outbox dlq list: %v\n", err)
			return ExitFailure
		}
		if own["format"] != dlqtool.FormatJSON {
			fmt.Fprintf(env.Stdout, "(%d entries)\n", n)
		}
	case "show":
		if len(ids) != 1 {
			fmt.Fprintln(env.Stderr, "outbox dlq show: want exactly one event id")
			return ExitUsage
		}
		if err := dlqtool.Show(ctx, store, ids[0], env.Stdout); err != nil {
			fmt.Fprintf(env.Stderr, "outbox dlq show: %v\n", err)
			return ExitFailure
		}
	case "replay":
		var maxReplays int
		if _, err := fmt.Sscan(own["max-replays"], &maxReplays); err != nil || maxReplays < 1 {
			fmt.Fprintf(env.Stderr, "outbox dlq replay: --max-replays: %q is not a positive count\n", own["max-replays"])
			return ExitUsage
		}
		pub, err := messaging.NewPublisher(cfg.MessagingConfig(), newLogger(env, cfg))
		if err != nil {
			fmt.Fprintf(env.Stderr, "outbox dlq replay: kafka.brokers %v: %v\n", cfg.Kafka.Brokers, err)
			return ExitFailure
		}
		defer pub.Close()
		rep, err := dlqtool.Replay(ctx, store, pub, dlqtool.ReplayOptions{Filter: filter, EventIDs: ids, DryRun: dry, MaxReplays: maxReplays, Progress: env.Stdout})
		if err != nil {
			fmt.Fprintf(env.Stderr, "outbox dlq replay: %v\n", err)
			return ExitFailure
		}
		if rep.Err() != nil || rep.Failed > 0 {
			return ExitFailure
		}
	case "discard":
		if _, err := dlqtool.Discard(ctx, store, dlqtool.DiscardOptions{Filter: filter, EventIDs: ids, All: own["all"] == "true", DryRun: dry, Progress: env.Stdout}); err != nil {
			fmt.Fprintf(env.Stderr, "outbox dlq discard: %v\n", err)
			return ExitFailure
		}
	default:
		fmt.Fprintf(env.Stderr, "outbox dlq: unknown subcommand %q (want list, show, replay or discard)\n", sub)
		return ExitUsage
	}
	return ExitOK
}

func dlqSelection(own map[string]string, positional []string) (storage.DeadLetterFilter, []uuid.UUID, error) {
	var f storage.DeadLetterFilter
	f.EventType, f.Kind = own["event-type"], own["kind"]
	if a := own["aggregate"]; a != "" {
		id, err := uuid.Parse(a)
		if err != nil {
			return f, nil, fmt.Errorf("--aggregate: %q is not a UUID", a)
		}
		f.AggregateID = id
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := own[b.name]; v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, nil, fmt.Errorf("--%s: %q is not an RFC 3339 time", b.name, v)
			}
			*b.dst = t
		}
	}
	if own["format"] != dlqtool.FormatTable && own["format"] != dlqtool.FormatJSON {
		return f, nil, fmt.Errorf("--format: %q is not table or json", own["format"])
	}
	var ids []uuid.UUID
	for _, p := range positional {
		id, err := uuid.Parse(p)
		if err != nil {
			return f, nil, fmt.Errorf("%q is not an event id (UUID)", p)
		}
		ids = append(ids, id)
	}
	return f, ids, nil
}
