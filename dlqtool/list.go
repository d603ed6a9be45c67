package dlqtool

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// Output formats of [List].
const (
	FormatTable = "table"
	FormatJSON  = "json"
)

// errorWidth is how much of an error the table shows: enough for a topic
// name and a broker's whole message (sarama's are up to about 90
// characters), as in "orders.OrderCreated: kafka server: Request was for a
// topic or partition that does not exist on this broker", short enough to
// keep one entry per line. Show prints it whole.
const errorWidth = 120

// List writes the entries matching filter to w, in replay order (aggregate,
// then sequence), and returns how many it wrote.
//
// FormatTable (the default for "") is for people: one row per entry with its
// event id, aggregate id, sequence, event type, kind, failure and replay
// counts, last failure time and the start of the error's cause (see
// [tableError]). FormatJSON is for scripts: JSON Lines, one object per
// line with every stored field and the whole error; the payload is
// embedded as JSON when the content type says JSON and it parses, otherwise
// as base64, and payload_encoding ("json" or "base64") says which, because
// a JSON string payload would otherwise look like base64.
func List(ctx context.Context, store Store, filter storage.DeadLetterFilter, w io.Writer, format string) (int, error) {
	if format == "" {
		format = FormatTable
	}
	if format != FormatTable && format != FormatJSON {
		return 0, fmt.Errorf("dlqtool: unknown format %q (want %q or %q)", format, FormatTable, FormatJSON)
	}
	entries, err := store.List(ctx, filter)
	if err != nil {
		return 0, fmt.Errorf("dlqtool: list dead letters: %w", err)
	}
	sortReplayOrder(entries)
	if format == FormatJSON {
		enc := json.NewEncoder(w) // Encode writes one line per value
		for i, d := range entries {
			if err := enc.Encode(toJSON(d)); err != nil {
				return i, fmt.Errorf("dlqtool: write entry %s: %w", d.EventID, err)
			}
		}
		return len(entries), nil
	}
	var rows strings.Builder
	fmt.Fprintln(&rows, "EVENT ID\tAGGREGATE\tSEQ\tTYPE\tKIND\tFAILURES\tREPLAYS\tLAST FAILURE\tERROR")
	for _, d := range entries {
		fmt.Fprintf(&rows, "%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\n",
			d.EventID, aggregate(d.AggregateID), d.Sequence, orDash(oneLine(d.EventType)), d.ErrorKind,
			d.FailureCount, d.ReplayCount, formatTime(d.LastFailureAt), truncate(tableError(d), errorWidth))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, err = io.WriteString(tw, rows.String())
	if err == nil {
		err = tw.Flush()
	}
	if err != nil {
		return 0, fmt.Errorf("dlqtool: write list: %w", err)
	}
	return len(entries), nil
}

// entryJSON is the JSON form of a dead letter. Field names are the
// dead_letter_queue column names, which operators already know from cqlsh.
// aggregate_id is null for a malformed entry whose row had none; raw is
// present only for malformed entries.
type entryJSON struct {
	EventID         uuid.UUID         `json:"event_id"`
	EventType       string            `json:"event_type"`
	AggregateType   string            `json:"aggregate_type"`
	AggregateID     *uuid.UUID        `json:"aggregate_id"`
	Sequence        int64             `json:"sequence"`
	OccurredAt      time.Time         `json:"occurred_at"`
	ContentType     string            `json:"content_type"`
	TraceParent     string            `json:"trace_parent"`
	PayloadEncoding string            `json:"payload_encoding"`
	Payload         any               `json:"payload"` // json.RawMessage or a base64 string
	Error           string            `json:"error"`
	ErrorKind       string            `json:"error_kind"`
	FailureCount    int               `json:"failure_count"`
	FirstFailureAt  time.Time         `json:"first_failure_at"`
	LastFailureAt   time.Time         `json:"last_failure_at"`
	ReplayCount     int               `json:"replay_count"`
	Processor       string            `json:"processor"`
	Raw             map[string]string `json:"raw,omitempty"`
}

func toJSON(d storage.DeadLetter) entryJSON {
	e := entryJSON{
		EventID: d.EventID, EventType: d.EventType, AggregateType: d.AggregateType,
		Sequence: d.Sequence, OccurredAt: d.OccurredAt.UTC(), ContentType: d.ContentType, TraceParent: d.TraceParent,
		Error: d.Error, ErrorKind: d.ErrorKind, FailureCount: d.FailureCount,
		FirstFailureAt: d.FirstFailureAt.UTC(), LastFailureAt: d.LastFailureAt.UTC(),
		ReplayCount: d.ReplayCount, Processor: d.Processor, Raw: d.Raw,
	}
	if d.AggregateID != uuid.Nil {
		e.AggregateID = &d.AggregateID
	}
	if isJSONPayload(d.ContentType, d.Payload) {
		e.PayloadEncoding, e.Payload = "json", json.RawMessage(d.Payload)
	} else {
		e.PayloadEncoding, e.Payload = "base64", base64.StdEncoding.EncodeToString(d.Payload)
	}
	return e
}

// isJSONPayload reports whether payload can be shown as JSON: its content
// type is application/json or a +json type, and it parses — a payload that
// lies about its type is shown as base64 rather than failing the whole
// listing.
func isJSONPayload(stored string, payload []byte) bool {
	mt, _, err := mime.ParseMediaType(domain.ContentTypeOf(stored))
	if err != nil || (mt != domain.ContentTypeJSON && !strings.HasSuffix(mt, "+json")) {
		return false
	}
	return len(payload) > 0 && json.Valid(payload)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// publishErrorPrefix starts the text of a *messaging.PublishError, the
// error of most permanent and exhausted entries: "messaging: publish event
// <id> to <topic> failed (<kind>): <cause>".
const publishErrorPrefix = "messaging: publish event "

// tableError is the error as the table shows it: on one line, and without
// the publish error's prefix when it names the entry's own event. That
// prefix repeats the event id and takes most of the column, so the cause
// ("... topic or partition that does not exist ...") was cut off. The topic
// goes with it; Show and the JSON keep the whole error.
func tableError(d storage.DeadLetter) string {
	s := oneLine(d.Error)
	rest, ok := strings.CutPrefix(s, publishErrorPrefix+d.EventID.String()+" to ")
	if !ok {
		return s
	}
	// A topic name cannot contain a space or a parenthesis, the kind is
	// one word: the first "): " ends the prefix.
	if _, cause, ok := strings.Cut(rest, "): "); ok && strings.Contains(rest[:len(rest)-len(cause)], " failed (") {
		return cause
	}
	return s
}

// oneLine folds whitespace, so a multi-line error cannot break the table.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Show writes every field of one entry to w, the payload indented when it
// is JSON and as base64 otherwise. A missing entry is an error wrapping
// storage.ErrNotFound.
func Show(ctx context.Context, store Store, eventID uuid.UUID, w io.Writer) error {
	d, err := store.Get(ctx, eventID)
	if err != nil {
		return fmt.Errorf("dlqtool: show: %w", err)
	}
	var b strings.Builder
	field := func(name, value string) { fmt.Fprintf(&b, "%-17s %s\n", name+":", value) }
	field("event id", d.EventID.String())
	field("event type", d.EventType)
	field("aggregate type", d.AggregateType)
	field("aggregate id", aggregate(d.AggregateID))
	field("sequence", strconv.FormatInt(d.Sequence, 10))
	field("occurred at", formatTimeNano(d.OccurredAt))
	field("content type", domain.ContentTypeOf(d.ContentType))
	field("trace parent", orDash(d.TraceParent))
	field("kind", d.ErrorKind)
	if d.ErrorKind == storage.KindMalformed {
		field("note", malformedAdvice)
	}
	field("error", d.Error)
	field("failures", strconv.Itoa(d.FailureCount))
	field("first failure at", formatTimeNano(d.FirstFailureAt))
	field("last failure at", formatTimeNano(d.LastFailureAt))
	field("replays", strconv.Itoa(d.ReplayCount))
	field("processor", orDash(d.Processor))
	if len(d.Raw) > 0 {
		writeRaw(&b, d.Raw)
	}
	if isJSONPayload(d.ContentType, d.Payload) {
		fmt.Fprintf(&b, "payload (%d bytes, JSON):\n  ", len(d.Payload))
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, d.Payload, "  ", "  ") // cannot fail: validity checked above
		b.Write(pretty.Bytes())
		b.WriteByte('\n')
	} else {
		fmt.Fprintf(&b, "payload (%d bytes, base64):\n", len(d.Payload))
		enc := base64.StdEncoding.EncodeToString(d.Payload)
		for len(enc) > 0 {
			n := min(76, len(enc)) // MIME line length: pastes cleanly into `base64 -d`
			fmt.Fprintf(&b, "  %s\n", enc[:n])
			enc = enc[n:]
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("dlqtool: show: %w", err)
	}
	return nil
}

// writeRaw prints a malformed entry's source columns, sorted by name. A
// value that is not one line of printable text is quoted, so that what the
// relay read is shown exactly and cannot garble the terminal.
func writeRaw(b *strings.Builder, raw map[string]string) {
	names := slices.Sorted(maps.Keys(raw))
	width := 0
	for _, n := range names {
		width = max(width, utf8.RuneCountInString(n))
	}
	fmt.Fprintf(b, "raw columns (%d, as the relay read them):\n", len(raw))
	for _, n := range names {
		v := raw[n]
		if !isPlainLine(v) {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(b, "  %-*s  %s\n", width, n, v)
	}
}

func isPlainLine(s string) bool {
	return s != "" && s == strings.TrimSpace(s) && utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// aggregate renders an aggregate id; a malformed entry may have none.
func aggregate(id uuid.UUID) string {
	if id == uuid.Nil {
		return "-"
	}
	return id.String()
}

func formatTimeNano(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
