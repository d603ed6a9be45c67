package dlqtool_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/dlqtool"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// listFixture puts three entries: aggregate A's poison event and the event
// held behind it, and an unrelated aggregate's binary event.
func listFixture(t *testing.T, st *storage.DeadLetterStore) (a1, a2, b1 storage.DeadLetter) {
	t.Helper()
	aggA, aggB := uuid.New(), uuid.New()
	a1 = entry(aggA, 1, relay.KindPermanent)
	a1.EventType = "OrderCreated"
	a1.Error = "kafka server: Message was too large, server rejected it to avoid allocation error\n" +
		"\tcaused by: the record is 2097152 bytes and the topic allows 1048588"
	a1.FailureCount = 1
	a2 = entry(aggA, 2, relay.KindHeld)
	a2.Error = "held: an earlier event of this aggregate is in the dead-letter queue"
	b1 = entry(aggB, 7, relay.KindExhausted)
	b1.EventType = "OrderCreated"
	b1.ContentType = "application/octet-stream"
	b1.Payload = []byte{0xff, 0x00, 0x01, '"'}
	b1.Error = "kafka: broker not available"
	b1.FailureCount = 5
	b1.ReplayCount = 1
	b1.LastFailureAt = t0.Add(time.Hour)
	put(t, st, b1, a2, a1)
	return a1, a2, b1
}

func TestListTable(t *testing.T) {
	st := newStore(t)
	a1, a2, b1 := listFixture(t, st)
	ctx := context.Background()

	var buf bytes.Buffer
	n, err := dlqtool.List(ctx, st, storage.DeadLetterFilter{}, &buf, "table")
	if err != nil || n != 3 {
		t.Fatalf("List = %d, %v; want 3 entries", n, err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("table has %d lines, want a header and 3 rows (a multi-line error must not break a row):\n%s", len(lines), buf.String())
	}
	for _, col := range []string{"EVENT ID", "AGGREGATE", "SEQ", "TYPE", "KIND", "FAILURES", "REPLAYS", "LAST FAILURE", "ERROR"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header %q lacks column %q", lines[0], col)
		}
	}
	// Rows follow replay order: by aggregate, then sequence.
	want := []storage.DeadLetter{a1, a2, b1}
	if sortedIDs(a1.AggregateID, b1.AggregateID)[0] == b1.AggregateID {
		want = []storage.DeadLetter{b1, a1, a2}
	}
	for i, d := range want {
		f := strings.Fields(lines[i+1])
		if f[0] != d.EventID.String() || f[1] != d.AggregateID.String() {
			t.Errorf("row %d = %q, want event %s of aggregate %s", i, lines[i+1], d.EventID, d.AggregateID)
		}
	}
	row := lines[1+indexOf(want, a1)]
	f := strings.Fields(row)
	if got := strings.Join(f[2:8], " "); got != "1 OrderCreated permanent 1 0 "+a1.LastFailureAt.Format(time.RFC3339) {
		t.Errorf("row of a1: columns %q", got)
	}
	if !strings.Contains(row, "kafka server: Message was too large") || !strings.HasSuffix(row, "…") || strings.Contains(row, "1048588") {
		t.Errorf("row of a1 should end with the error truncated: %q", row)
	}
	if row := lines[1+indexOf(want, b1)]; !strings.Contains(row, " exhausted ") || !strings.Contains(row, " 5 ") {
		t.Errorf("row of b1: %q", row)
	}

	for _, tc := range []struct {
		name   string
		filter storage.DeadLetterFilter
		want   []storage.DeadLetter
	}{
		{"kind", storage.DeadLetterFilter{Kind: relay.KindHeld}, []storage.DeadLetter{a2}},
		{"aggregate", storage.DeadLetterFilter{AggregateID: a1.AggregateID}, []storage.DeadLetter{a1, a2}},
		{"event type", storage.DeadLetterFilter{EventType: "OrderCreated"}, []storage.DeadLetter{a1, b1}},
		{"since", storage.DeadLetterFilter{Since: t0.Add(30 * time.Minute)}, []storage.DeadLetter{b1}},
		{"until", storage.DeadLetterFilter{Until: t0.Add(2 * time.Minute)}, []storage.DeadLetter{a1}},
		{"none", storage.DeadLetterFilter{Kind: "nonexistent"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := dlqtool.List(ctx, st, tc.filter, &buf, "")
			if err != nil || n != len(tc.want) {
				t.Fatalf("List = %d, %v; want %d", n, err, len(tc.want))
			}
			rows := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")[1:]
			if len(rows) != len(tc.want) {
				t.Fatalf("%d rows, want %d:\n%s", len(rows), len(tc.want), buf.String())
			}
			for _, d := range tc.want {
				if !strings.Contains(buf.String(), d.EventID.String()) {
					t.Errorf("missing %s:\n%s", d.EventID, buf.String())
				}
			}
		})
	}

	if _, err := dlqtool.List(ctx, st, storage.DeadLetterFilter{}, &buf, "yaml"); err == nil {
		t.Error("List accepted format yaml")
	}
}

func indexOf(ds []storage.DeadLetter, d storage.DeadLetter) int {
	for i := range ds {
		if ds[i].EventID == d.EventID {
			return i
		}
	}
	return -1
}

func TestListJSON(t *testing.T) {
	st := newStore(t)
	a1, _, b1 := listFixture(t, st)
	ctx := context.Background()

	var buf bytes.Buffer
	n, err := dlqtool.List(ctx, st, storage.DeadLetterFilter{EventType: "OrderCreated"}, &buf, "json")
	if err != nil || n != 2 {
		t.Fatalf("List = %d, %v; want 2", n, err)
	}
	objs := map[string]map[string]json.RawMessage{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", sc.Text(), err)
		}
		var id string
		_ = json.Unmarshal(o["event_id"], &id)
		objs[id] = o
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects, want 2", len(objs))
	}
	fields := []string{"event_id", "event_type", "aggregate_type", "aggregate_id", "sequence", "occurred_at",
		"content_type", "trace_parent", "payload_encoding", "payload", "error", "error_kind", "failure_count",
		"first_failure_at", "last_failure_at", "replay_count", "processor"}
	for id, o := range objs {
		for _, f := range fields {
			if _, ok := o[f]; !ok {
				t.Errorf("object %s lacks %q", id, f)
			}
		}
	}

	// a1: JSON payload embedded as JSON, every field round-trips.
	var got struct {
		EventID         uuid.UUID       `json:"event_id"`
		AggregateID     uuid.UUID       `json:"aggregate_id"`
		Sequence        int64           `json:"sequence"`
		OccurredAt      time.Time       `json:"occurred_at"`
		TraceParent     string          `json:"trace_parent"`
		PayloadEncoding string          `json:"payload_encoding"`
		Payload         json.RawMessage `json:"payload"`
		Error           string          `json:"error"`
		ErrorKind       string          `json:"error_kind"`
		FailureCount    int             `json:"failure_count"`
		LastFailureAt   time.Time       `json:"last_failure_at"`
		ReplayCount     int             `json:"replay_count"`
		Processor       string          `json:"processor"`
	}
	line, _ := json.Marshal(objs[a1.EventID.String()])
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	if got.EventID != a1.EventID || got.AggregateID != a1.AggregateID || got.Sequence != 1 ||
		!got.OccurredAt.Equal(a1.OccurredAt) || got.TraceParent != a1.TraceParent || got.Error != a1.Error ||
		got.ErrorKind != relay.KindPermanent || got.FailureCount != 1 || !got.LastFailureAt.Equal(a1.LastFailureAt) ||
		got.ReplayCount != 0 || got.Processor != "cdc" {
		t.Errorf("a1 as JSON: %+v", got)
	}
	if got.PayloadEncoding != "json" || !jsonEqual(got.Payload, a1.Payload) {
		t.Errorf("a1 payload = %s (%s), want the JSON %s", got.Payload, got.PayloadEncoding, a1.Payload)
	}

	// b1: binary payload as base64.
	var bin struct {
		PayloadEncoding string `json:"payload_encoding"`
		Payload         string `json:"payload"`
		ContentType     string `json:"content_type"`
	}
	line, _ = json.Marshal(objs[b1.EventID.String()])
	if err := json.Unmarshal(line, &bin); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(bin.Payload)
	if bin.PayloadEncoding != "base64" || err != nil || !bytes.Equal(raw, b1.Payload) || bin.ContentType != "application/octet-stream" {
		t.Errorf("b1 payload = %q (%s, %v), want base64 of %x", bin.Payload, bin.PayloadEncoding, err, b1.Payload)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestShow(t *testing.T) {
	st := newStore(t)
	a1, _, b1 := listFixture(t, st)
	ctx := context.Background()

	var buf bytes.Buffer
	if err := dlqtool.Show(ctx, st, a1.EventID, &buf); err != nil {
		t.Fatalf("Show: %v", err)
	}
	out := buf.String()
	for _, want := range []string{
		"event id:         " + a1.EventID.String(),
		"event type:       OrderCreated",
		"aggregate type:   Order",
		"aggregate id:     " + a1.AggregateID.String(),
		"sequence:         1",
		"occurred at:      " + a1.OccurredAt.Format(time.RFC3339Nano),
		"content type:     application/json",
		"trace parent:     " + a1.TraceParent,
		"kind:             permanent",
		"error:            " + a1.Error, // whole, not truncated
		"failures:         1",
		"first failure at: " + a1.FirstFailureAt.Format(time.RFC3339Nano),
		"last failure at:  " + a1.LastFailureAt.Format(time.RFC3339Nano),
		"replays:          0",
		"processor:        cdc",
		"payload (" + strconv.Itoa(len(a1.Payload)) + " bytes, JSON):\n  {\n    \"note\": \"line1\",\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Show output lacks %q:\n%s", want, out)
		}
	}

	buf.Reset()
	if err := dlqtool.Show(ctx, st, b1.EventID, &buf); err != nil {
		t.Fatalf("Show: %v", err)
	}
	if want := "payload (4 bytes, base64):\n  " + base64.StdEncoding.EncodeToString(b1.Payload) + "\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("Show of a binary payload lacks %q:\n%s", want, buf.String())
	}

	if err := dlqtool.Show(ctx, st, uuid.New(), &buf); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Show of a missing entry = %v, want ErrNotFound", err)
	}
}

// TestListTableShowsTheCause: the table's ERROR column drops the prefix of
// the publisher's error ("messaging: publish event <id> to <topic> failed
// (<kind>): "), which repeats the event id and pushed the cause out of the
// column, and keeps other errors as they are; JSON and Show keep the whole
// error. The errors are built by messaging.PublishError itself, so a
// change of its wording fails here.
func TestListTableShowsTheCause(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	publishError := func(d storage.DeadLetter, kind messaging.ErrorKind, topic string, cause error) string {
		return (&messaging.PublishError{Kind: kind, Err: cause, Topic: topic, EventID: d.EventID}).Error()
	}
	tests := []struct {
		name  string
		kind  string
		error func(d storage.DeadLetter) string
		want  string // the column, truncated to 120 characters
	}{
		{"missing topic", relay.KindPermanent,
			func(d storage.DeadLetter) string {
				return publishError(d, messaging.Permanent, "orders.OrderCreated", fmt.Errorf("orders.OrderCreated: %w", sarama.ErrUnknownTopicOrPartition))
			},
			"orders.OrderCreated: kafka server: Request was for a topic or partition that does not exist on this broker"},
		{"exhausted retries", relay.KindExhausted,
			func(d storage.DeadLetter) string {
				return publishError(d, messaging.Transient, "outbox.event.Order", sarama.ErrNotEnoughReplicas)
			},
			"kafka server: Messages are rejected since there are fewer in-sync replicas than required"},
		{"no topic rendered", relay.KindPermanent,
			func(d storage.DeadLetter) string {
				return publishError(d, messaging.Permanent, "", fmt.Errorf("%w: bad name", messaging.ErrInvalidTopic))
			},
			"messaging: invalid topic name: bad name"},
		{"another event's publish error is kept", relay.KindPermanent,
			func(storage.DeadLetter) string {
				return publishError(storage.DeadLetter{Record: outbox.Record{Envelope: domain.Envelope{EventID: uuid.Nil}}},
					messaging.Permanent, "t", errors.New("boom"))
			},
			"messaging: publish event 00000000-0000-0000-0000-000000000000 to t failed (permanent): boom"},
		{"held", relay.KindHeld,
			func(storage.DeadLetter) string {
				return "held: an earlier event of this aggregate is in the dead-letter queue"
			},
			"held: an earlier event of this aggregate is in the dead-letter queue"},
		{"long cause truncated", relay.KindPermanent,
			func(d storage.DeadLetter) string {
				return publishError(d, messaging.Permanent, "t", errors.New(strings.Repeat("x", 130)))
			},
			strings.Repeat("x", 119) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := entry(uuid.New(), 1, tc.kind)
			d.Error = tc.error(d)
			put(t, st, d)
			var buf bytes.Buffer
			if _, err := dlqtool.List(ctx, st, storage.DeadLetterFilter{AggregateID: d.AggregateID}, &buf, dlqtool.FormatTable); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("want a header and one row:\n%s", buf.String())
			}
			// ERROR is the last column: every row's starts under it.
			if got := lines[1][strings.Index(lines[0], "ERROR"):]; got != tc.want {
				t.Errorf("ERROR column = %q\nwant           %q", got, tc.want)
			}

			buf.Reset()
			if _, err := dlqtool.List(ctx, st, storage.DeadLetterFilter{AggregateID: d.AggregateID}, &buf, dlqtool.FormatJSON); err != nil {
				t.Fatal(err)
			}
			var obj struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(buf.Bytes(), &obj); err != nil || obj.Error != d.Error {
				t.Errorf("JSON error = %q (%v), want the whole %q", obj.Error, err, d.Error)
			}
			buf.Reset()
			if err := dlqtool.Show(ctx, st, d.EventID, &buf); err != nil || !strings.Contains(buf.String(), "error:            "+d.Error+"\n") {
				t.Errorf("Show (%v) lacks the whole error %q:\n%s", err, d.Error, buf.String())
			}
		})
	}
}
