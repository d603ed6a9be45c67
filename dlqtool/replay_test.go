package dlqtool_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/dlqtool"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// TestReplayPublishesInOrderAfterAck: every entry is published in
// (aggregate, sequence) order with the relay's headers; its replay count is
// incremented before the publish and it stays in the queue until the
// broker acknowledged it; afterwards the queue and its index are empty.
func TestReplayPublishesInOrderAfterAck(t *testing.T) {
	st := newStore(t)
	b, pub := newKafka(t, 0)
	ctx := context.Background()

	aggA, aggB := uuid.New(), uuid.New()
	a1, a2, a3 := entry(aggA, 1, relay.KindPermanent), entry(aggA, 2, relay.KindHeld), entry(aggA, 3, relay.KindHeld)
	b1, b2 := entry(aggB, 4, relay.KindExhausted), entry(aggB, 5, relay.KindHeld)
	a2.ReplayCount = 2 // one below the default limit: still replayed
	b2.TraceParent = ""
	put(t, st, a3, b2, a1, b1, a2) // written out of order on purpose
	all := map[uuid.UUID]storage.DeadLetter{}
	for _, d := range []storage.DeadLetter{a1, a2, a3, b1, b2} {
		all[d.EventID] = d
	}

	rec := &recordingPublisher{pub: pub}
	rec.check = func(r outbox.Record, acked bool, err error) {
		// Observed on the real store from inside the publish: before and
		// right after the acknowledgement the entry is still there, with
		// this attempt already counted.
		d, ok := get(t, st, r.EventID)
		if !ok {
			t.Errorf("%s: not in the queue while being published (acked=%v)", r.EventID, acked)
			return
		}
		if want := all[r.EventID].ReplayCount + 1; d.ReplayCount != want {
			t.Errorf("%s: replay_count %d during publish, want %d (incremented before publishing)", r.EventID, d.ReplayCount, want)
		}
		if acked && err != nil {
			t.Errorf("%s: publish failed: %v", r.EventID, err)
		}
	}
	var progress bytes.Buffer
	rep, err := dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{Progress: &progress})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if want := (dlqtool.ReplayReport{Selected: 5, Published: 5}); !reflect.DeepEqual(rep, want) {
		t.Fatalf("report = %+v, want %+v", rep, want)
	}
	if n := count(t, st); n != 0 {
		t.Errorf("%d entries left after a full replay", n)
	}
	if h := held(t, st); len(h) != 0 {
		t.Errorf("aggregates still held (index rows left): %v", h)
	}

	// Publish order: aggregate by aggregate, sequence ascending.
	var wantOrder []uuid.UUID
	for _, agg := range sortedIDs(aggA, aggB) {
		if agg == aggA {
			wantOrder = append(wantOrder, a1.EventID, a2.EventID, a3.EventID)
		} else {
			wantOrder = append(wantOrder, b1.EventID, b2.EventID)
		}
	}
	var gotOrder []uuid.UUID
	for _, r := range rec.published() {
		gotOrder = append(gotOrder, r.EventID)
	}
	if !reflect.DeepEqual(gotOrder, wantOrder) {
		t.Errorf("publish order %v, want %v", gotOrder, wantOrder)
	}

	// One line per entry (5 <= 20, not a terminal), then a summary.
	lines := strings.Split(strings.TrimSuffix(progress.String(), "\n"), "\n")
	if len(lines) != 6 || strings.Contains(progress.String(), "\r") {
		t.Fatalf("progress is not one line per entry plus a summary:\n%q", progress.String())
	}
	for i, id := range wantOrder {
		if !strings.HasPrefix(lines[i], "published "+id.String()) {
			t.Errorf("progress line %d = %q, want published %s", i, lines[i], id)
		}
	}
	if !strings.Contains(lines[indexOfID(wantOrder, a2.EventID)], "(replay 3 of 3)") {
		t.Errorf("a2's line should say replay 3 of 3: %q", lines[indexOfID(wantOrder, a2.EventID)])
	}
	if lines[5] != "replay: 5 selected: published 5, skipped 0, failed 0, blocked 0" {
		t.Errorf("summary = %q", lines[5])
	}

	// What consumers see: the relay's topic, key and headers, and per
	// aggregate the sequence order.
	msgs := consume(t, b, 5, 300*time.Millisecond)
	if len(msgs) != 5 {
		t.Fatalf("consumed %d records, want 5", len(msgs))
	}
	lastSeq := map[string]int64{}
	for _, m := range msgs {
		id, err := uuid.Parse(m.Headers[messaging.HeaderEventID])
		d, ok := all[id]
		if err != nil || !ok {
			t.Fatalf("record with unknown event_id header %q", m.Headers[messaging.HeaderEventID])
		}
		seq, _ := strconv.ParseInt(m.Headers[messaging.HeaderSequence], 10, 64)
		wantHeaders := map[string]string{
			messaging.HeaderEventID:       d.EventID.String(),
			messaging.HeaderEventType:     d.EventType,
			messaging.HeaderAggregateType: "Order",
			messaging.HeaderAggregateID:   d.AggregateID.String(),
			messaging.HeaderSequence:      strconv.FormatInt(d.Sequence, 10),
			messaging.HeaderOccurredAt:    d.OccurredAt.UTC().Format(time.RFC3339Nano),
			messaging.HeaderContentType:   "application/json",
		}
		if d.TraceParent != "" {
			wantHeaders[messaging.HeaderTraceParent] = d.TraceParent
		}
		if !reflect.DeepEqual(m.Headers, wantHeaders) {
			t.Errorf("%s: headers %v, want %v", id, m.Headers, wantHeaders)
		}
		if m.Topic != orderTopic || string(m.Key) != d.AggregateID.String() || !bytes.Equal(m.Value, d.Payload) {
			t.Errorf("%s: topic %q key %q value %s", id, m.Topic, m.Key, m.Value)
		}
		agg := d.AggregateID.String()
		if seq <= lastSeq[agg] {
			t.Errorf("aggregate %s: sequence %d after %d", agg, seq, lastSeq[agg])
		}
		lastSeq[agg] = seq
	}
}

func indexOfID(ids []uuid.UUID, id uuid.UUID) int {
	for i := range ids {
		if ids[i] == id {
			return i
		}
	}
	return -1
}

// TestReplayLimit: an entry whose replay_count reached the limit is
// refused and left unchanged, its aggregate's later entries wait behind
// it, other aggregates are replayed; a higher limit lets it through.
func TestReplayLimit(t *testing.T) {
	st := newStore(t)
	b, pub := newKafka(t, 0)
	ctx := context.Background()

	aggA, aggB := uuid.New(), uuid.New()
	a1, a2 := entry(aggA, 1, relay.KindPermanent), entry(aggA, 2, relay.KindHeld)
	b1 := entry(aggB, 1, relay.KindPermanent)
	a1.ReplayCount = dlqtool.DefaultMaxReplays // at the limit
	b1.ReplayCount = dlqtool.DefaultMaxReplays - 1
	put(t, st, a1, a2, b1)

	rec := &recordingPublisher{pub: pub}
	var progress bytes.Buffer
	rep, err := dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{Progress: &progress})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if want := (dlqtool.ReplayReport{Selected: 3, Published: 1, Skipped: 1, Blocked: 1}); !reflect.DeepEqual(rep, want) {
		t.Fatalf("report = %+v, want %+v", rep, want)
	}
	out := progress.String()
	for _, want := range []string{
		"\nreplay: 3 selected: published 1, skipped 1, failed 0, blocked 1; 2 not published (skipped 1, blocked 1)\n",
		"skipped  " + a1.EventID.String(),
		"replayed 3 times, limit is 3",
		"blocked  " + a2.EventID.String(),
		"earlier event " + a1.EventID.String() + " (seq 1) was refused at the replay limit",
		"published " + b1.EventID.String(),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if got := rec.published(); len(got) != 1 || got[0].EventID != b1.EventID {
		t.Errorf("published %v, want only b1", got)
	}
	if d, ok := get(t, st, a1.EventID); !ok || d.ReplayCount != 3 {
		t.Errorf("refused entry: present=%v replay_count=%d, want kept with 3 (a refusal is no attempt)", ok, d.ReplayCount)
	}
	if d, ok := get(t, st, a2.EventID); !ok || d.ReplayCount != 0 {
		t.Errorf("blocked entry: present=%v replay_count=%d, want kept with 0", ok, d.ReplayCount)
	}
	if _, ok := get(t, st, b1.EventID); ok {
		t.Error("b1 still in the queue after an acknowledged replay")
	}
	if h := held(t, st); !reflect.DeepEqual(h, []uuid.UUID{aggA}) {
		t.Errorf("held aggregates %v, want only A", h)
	}

	// The operator fixed the cause and raises the limit for A.
	rep, err = dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{
		Filter: storage.DeadLetterFilter{AggregateID: aggA}, MaxReplays: 4,
	})
	if err != nil || rep.Published != 2 || rep.Selected != 2 {
		t.Fatalf("Replay with MaxReplays 4 = %+v, %v; want both of A published", rep, err)
	}
	if count(t, st) != 0 {
		t.Error("queue not empty")
	}
	msgs := consume(t, b, 3, 300*time.Millisecond)
	if len(msgs) != 3 {
		t.Errorf("consumed %d records, want 3", len(msgs))
	}
}

// TestReplayFailureStopsAggregate: a publish the broker rejects (the record
// is over its message.max.bytes) leaves the entry in the queue with its
// replay counted, and the aggregate's later entry is not published; the
// other aggregate is replayed completely.
func TestReplayFailureStopsAggregate(t *testing.T) {
	st := newStore(t)
	b, pub := newKafka(t, 4096)
	ctx := context.Background()

	aggA, aggB := uuid.New(), uuid.New()
	a1, a2 := entry(aggA, 1, relay.KindPermanent), entry(aggA, 2, relay.KindHeld)
	a1.Payload = []byte(`{"blob":"` + strings.Repeat("x", 10_000) + `"}`)
	b1, b2 := entry(aggB, 1, relay.KindExhausted), entry(aggB, 2, relay.KindHeld)
	put(t, st, a1, a2, b1, b2)

	rec := &recordingPublisher{pub: pub}
	var progress bytes.Buffer
	rep, err := dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{Progress: &progress})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if rep.Selected != 4 || rep.Published != 2 || rep.Failed != 1 || rep.Blocked != 1 || rep.Skipped != 0 || len(rep.Failures) != 1 {
		t.Fatalf("report = %+v, want 2 published, 1 failed, 1 blocked", rep)
	}
	var perr *messaging.PublishError
	if !errors.As(rep.Failures[0], &perr) || perr.Kind != messaging.Permanent || !errors.Is(rep.Err(), messaging.ErrRecordTooLarge) ||
		!strings.Contains(rep.Failures[0].Error(), a1.EventID.String()) {
		t.Errorf("failure = %v, want a permanent too-large PublishError naming %s", rep.Failures[0], a1.EventID)
	}
	for _, r := range rec.published() {
		if r.EventID == a2.EventID {
			t.Error("a2 was published after a1 failed: out of order")
		}
	}
	if d, ok := get(t, st, a1.EventID); !ok || d.ReplayCount != 1 {
		t.Errorf("failed entry: present=%v replay_count=%d, want kept with 1", ok, d.ReplayCount)
	}
	if d, ok := get(t, st, a2.EventID); !ok || d.ReplayCount != 0 {
		t.Errorf("blocked entry: present=%v replay_count=%d, want kept with 0", ok, d.ReplayCount)
	}
	if h := held(t, st); !reflect.DeepEqual(h, []uuid.UUID{aggA}) {
		t.Errorf("held aggregates %v, want only A", h)
	}
	if out := progress.String(); !strings.Contains(out, "failed   dlqtool: replay "+a1.EventID.String()) ||
		!strings.Contains(out, "blocked  "+a2.EventID.String()) || !strings.Contains(out, "failed to replay") {
		t.Errorf("progress should report the failure and the blocked entry:\n%s", out)
	}

	msgs := consume(t, b, 2, 500*time.Millisecond)
	var got []string
	for _, m := range msgs {
		got = append(got, m.Headers[messaging.HeaderEventID])
	}
	if want := []string{b1.EventID.String(), b2.EventID.String()}; !reflect.DeepEqual(got, want) {
		t.Errorf("consumed %v, want only B's events in order %v", got, want)
	}
}

// TestReplayDryRun: a dry run reports what would happen and changes
// nothing — no publish, no replay count, no delete.
func TestReplayDryRun(t *testing.T) {
	st := newStore(t)
	_, pub := newKafka(t, 0)
	ctx := context.Background()

	aggA, aggB := uuid.New(), uuid.New()
	a1, a2 := entry(aggA, 1, relay.KindPermanent), entry(aggA, 2, relay.KindHeld)
	b1 := entry(aggB, 1, relay.KindPermanent)
	b1.ReplayCount = 3
	put(t, st, a1, a2, b1)
	before, err := st.List(ctx, storage.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}

	rec := &recordingPublisher{pub: pub}
	var progress bytes.Buffer
	rep, err := dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{DryRun: true, Progress: &progress})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if want := (dlqtool.ReplayReport{Selected: 3, Published: 2, Skipped: 1, Topics: map[string]int{orderTopic: 2}}); !reflect.DeepEqual(rep, want) {
		t.Errorf("report = %+v, want %+v", rep, want)
	}
	if n := len(rec.published()); n != 0 {
		t.Errorf("dry run published %d records", n)
	}
	after, err := st.List(ctx, storage.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("dry run changed the queue:\nbefore %+v\nafter  %+v", before, after)
	}
	out := progress.String()
	for _, want := range []string{
		"would replay " + a1.EventID.String() + " (aggregate Order/" + a1.AggregateID.String() + ", seq 1, OrderUpdated) to " + orderTopic + " (replay 1 of 3)\n",
		"would replay " + a2.EventID.String(),
		"skipped  " + b1.EventID.String(),
		"\ndry run: 3 selected: would publish 2 to " + orderTopic + ", skipped 1, failed 0, blocked 0; would leave 1 not published (skipped 1); nothing changed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
}

// TestReplaySelection: explicit ids and filters select entries, but never
// let a selected entry overtake an earlier unselected one of its aggregate;
// an unknown id fails the command before anything changes.
func TestReplaySelection(t *testing.T) {
	st := newStore(t)
	b, pub := newKafka(t, 0)
	ctx := context.Background()

	aggA, aggB := uuid.New(), uuid.New()
	a1, a2 := entry(aggA, 1, relay.KindPermanent), entry(aggA, 2, relay.KindHeld)
	b1 := entry(aggB, 1, relay.KindPermanent)
	put(t, st, a1, a2, b1)
	rec := &recordingPublisher{pub: pub}

	t.Run("unknown id", func(t *testing.T) {
		missing := uuid.New()
		_, err := dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{EventIDs: []uuid.UUID{b1.EventID, missing}})
		if err == nil || !strings.Contains(err.Error(), missing.String()+" is not in the dead-letter queue") {
			t.Errorf("Replay with an unknown id = %v", err)
		}
		_, err = dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{
			EventIDs: []uuid.UUID{b1.EventID}, Filter: storage.DeadLetterFilter{Kind: relay.KindHeld}})
		if err == nil || !strings.Contains(err.Error(), b1.EventID.String()+" does not match the filter") {
			t.Errorf("Replay with a filtered-out id = %v", err)
		}
		if _, err := dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{MaxReplays: -1}); err == nil {
			t.Error("Replay accepted MaxReplays -1")
		}
		if n := len(rec.published()); n != 0 || count(t, st) != 3 {
			t.Errorf("a failed selection changed something: %d published, %d entries", n, count(t, st))
		}
		if d, _ := get(t, st, b1.EventID); d.ReplayCount != 0 {
			t.Errorf("b1 replay_count %d after failed selections", d.ReplayCount)
		}
	})

	t.Run("held entries wait for the unselected poison event", func(t *testing.T) {
		var progress bytes.Buffer
		rep, err := dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{
			Filter: storage.DeadLetterFilter{Kind: relay.KindHeld}, Progress: &progress})
		if err != nil {
			t.Fatal(err)
		}
		if want := (dlqtool.ReplayReport{Selected: 1, Blocked: 1}); !reflect.DeepEqual(rep, want) {
			t.Errorf("report = %+v, want %+v", rep, want)
		}
		if want := "earlier event " + a1.EventID.String() + " (seq 1) is still in the queue and not selected"; !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
		if d, _ := get(t, st, a2.EventID); d.ReplayCount != 0 || len(rec.published()) != 0 {
			t.Errorf("blocked entry touched: replay_count %d, %d published", d.ReplayCount, len(rec.published()))
		}
	})

	t.Run("ids in any order replay in sequence order", func(t *testing.T) {
		rep, err := dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{EventIDs: []uuid.UUID{a2.EventID, a1.EventID, a2.EventID}})
		if err != nil || rep.Selected != 2 || rep.Published != 2 {
			t.Fatalf("Replay = %+v, %v; want a1 and a2 published", rep, err)
		}
		got := rec.published()
		if len(got) != 2 || got[0].EventID != a1.EventID || got[1].EventID != a2.EventID {
			t.Errorf("published %v, want a1 then a2", got)
		}
		if h := held(t, st); !reflect.DeepEqual(h, []uuid.UUID{aggB}) {
			t.Errorf("held aggregates %v, want only B", h)
		}
	})

	msgs := consume(t, b, 2, 300*time.Millisecond)
	if len(msgs) != 2 {
		t.Errorf("consumed %d records, want 2", len(msgs))
	}
}

// TestReplayDryRunTopics: a dry run names the topic each entry would be
// published to, by the publisher's own template, and counts them per topic
// in its summary; an entry whose topic the template cannot render is
// counted as failed and stops its aggregate, as the replay would.
func TestReplayDryRunTopics(t *testing.T) {
	st := newStore(t)
	b, _ := newKafka(t, 0)
	pub, err := messaging.NewPublisher(messaging.Config{Brokers: b.Brokers(), TopicTemplate: "orders.{{.EventType}}", Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pub.Close(); err != nil {
			t.Errorf("close publisher: %v", err)
		}
	})
	ctx := context.Background()

	aggA, aggB, aggC := uuid.New(), uuid.New(), uuid.New()
	a1, a2 := entry(aggA, 1, relay.KindPermanent), entry(aggA, 2, relay.KindHeld)
	a1.EventType = "OrderCreated"
	b1 := entry(aggB, 1, relay.KindExhausted)
	c1, c2 := entry(aggC, 1, relay.KindPermanent), entry(aggC, 2, relay.KindHeld)
	c1.EventType = "Order Paid" // a space: not a legal topic name
	put(t, st, a1, a2, b1, c1, c2)

	var progress bytes.Buffer
	rep, err := dlqtool.Replay(ctx, st, pub, dlqtool.ReplayOptions{DryRun: true, Progress: &progress})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	wantTopics := map[string]int{"orders.OrderCreated": 1, "orders.OrderUpdated": 2}
	if rep.Selected != 5 || rep.Published != 3 || rep.Failed != 1 || rep.Blocked != 1 || rep.NotPublished() != 2 || !reflect.DeepEqual(rep.Topics, wantTopics) {
		t.Errorf("report = %+v, want 3 would be published (%v), 1 failed, 1 blocked", rep, wantTopics)
	}
	if !errors.Is(rep.Err(), messaging.ErrInvalidTopic) {
		t.Errorf("failure = %v, want ErrInvalidTopic", rep.Err())
	}
	out := progress.String()
	for _, want := range []string{
		"would replay " + a1.EventID.String() + " (aggregate Order/" + aggA.String() + ", seq 1, OrderCreated) to orders.OrderCreated (replay 1 of 3)",
		"would replay " + a2.EventID.String() + " (aggregate Order/" + aggA.String() + ", seq 2, OrderUpdated) to orders.OrderUpdated (replay 1 of 3)",
		"failed   dlqtool: replay " + c1.EventID.String(),
		"blocked  " + c2.EventID.String(),
		"\ndry run: 5 selected: would publish 3 (to orders.OrderCreated 1, orders.OrderUpdated 2), skipped 0, failed 1, blocked 1; " +
			"would leave 2 not published (failed 1, blocked 1); nothing changed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	for _, d := range []storage.DeadLetter{a1, a2, b1, c1, c2} {
		if got, ok := get(t, st, d.EventID); !ok || got.ReplayCount != 0 {
			t.Errorf("%s: in queue %v, replay count %d; a dry run changes nothing", d.EventID, ok, got.ReplayCount)
		}
	}
}

// TestReplayReportNotPublished: every selected entry left in the queue
// counts (the CLI exits 1 on it); gone ones, which left the queue, do not.
func TestReplayReportNotPublished(t *testing.T) {
	tests := []struct {
		name string
		rep  dlqtool.ReplayReport
		want int
	}{
		{"all published", dlqtool.ReplayReport{Selected: 4, Published: 4}, 0},
		{"nothing selected", dlqtool.ReplayReport{}, 0},
		{"gone only", dlqtool.ReplayReport{Selected: 2, Published: 1, Gone: 1}, 0},
		{"skipped", dlqtool.ReplayReport{Selected: 2, Published: 1, Skipped: 1}, 1},
		{"blocked under hold", dlqtool.ReplayReport{Selected: 3, Blocked: 3}, 3},
		{"malformed", dlqtool.ReplayReport{Selected: 1, Malformed: 1}, 1},
		{"every kind", dlqtool.ReplayReport{Selected: 9, Published: 1, Skipped: 1, Failed: 2, Blocked: 3, Malformed: 1, Gone: 1}, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rep.NotPublished(); got != tc.want {
				t.Errorf("NotPublished() = %d, want %d", got, tc.want)
			}
		})
	}
}
