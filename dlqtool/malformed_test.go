package dlqtool_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/dlqtool"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// malformedEntry is a dead letter as the relay writes it for a source row
// it could not decode: agg may be uuid.Nil (the row had none), and the
// columns are kept as text.
func malformedEntry(agg uuid.UUID, seq int64) storage.DeadLetter {
	return storage.DeadLetter{
		Record:         outbox.Record{Envelope: domain.Envelope{EventID: uuid.New(), AggregateID: agg, Sequence: seq}},
		Error:          "relay: outbox row: payload: not valid UTF-8",
		ErrorKind:      storage.KindMalformed,
		FailureCount:   1,
		FirstFailureAt: t0,
		LastFailureAt:  t0,
		Processor:      "cdc",
		Raw: map[string]string{
			"sequence":     "7",
			"aggregate_id": "null",
			"event_type":   "Order\nCreated\x1b[31m",
			"trace_parent": "",
		},
	}
}

// malformedFixture puts a malformed row without an aggregate, one of
// aggregate A with A's next event held behind it, and an ordinary entry of
// aggregate B.
func malformedFixture(t *testing.T, st *storage.DeadLetterStore) (orphan, a1, a2, b1 storage.DeadLetter) {
	t.Helper()
	aggA, aggB := uuid.New(), uuid.New()
	orphan, a1 = malformedEntry(uuid.Nil, 0), malformedEntry(aggA, 1)
	a2, b1 = entry(aggA, 2, relay.KindHeld), entry(aggB, 1, relay.KindPermanent)
	put(t, st, orphan, a1, a2, b1)
	return orphan, a1, a2, b1
}

func TestListMalformed(t *testing.T) {
	st := newStore(t)
	orphan, a1, a2, b1 := malformedFixture(t, st)
	ctx := context.Background()

	var buf bytes.Buffer
	n, err := dlqtool.List(ctx, st, storage.DeadLetterFilter{Kind: storage.KindMalformed}, &buf, dlqtool.FormatTable)
	if err != nil || n != 2 {
		t.Fatalf("List(kind malformed) = %d, %v; want 2", n, err)
	}
	out := buf.String()
	for _, d := range []storage.DeadLetter{a2, b1} {
		if strings.Contains(out, d.EventID.String()) {
			t.Errorf("the malformed filter let %s (%s) through:\n%s", d.EventID, d.ErrorKind, out)
		}
	}
	rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(rows) != 3 {
		t.Fatalf("%d lines, want a header and 2 rows:\n%s", len(rows), out)
	}
	// The orphan sorts first (the nil aggregate); its row shows no
	// aggregate and no type, and the kind.
	if got := strings.Fields(rows[1]); got[0] != orphan.EventID.String() || got[1] != "-" || got[3] != "-" || got[4] != storage.KindMalformed {
		t.Errorf("orphan row = %q, want %s - 0 - malformed ...", rows[1], orphan.EventID)
	}
	if got := strings.Fields(rows[2]); got[0] != a1.EventID.String() || got[1] != a1.AggregateID.String() || got[4] != storage.KindMalformed {
		t.Errorf("a1 row = %q", rows[2])
	}

	buf.Reset()
	if _, err := dlqtool.List(ctx, st, storage.DeadLetterFilter{}, &buf, dlqtool.FormatJSON); err != nil {
		t.Fatal(err)
	}
	type obj struct {
		EventID     uuid.UUID         `json:"event_id"`
		AggregateID *uuid.UUID        `json:"aggregate_id"`
		ErrorKind   string            `json:"error_kind"`
		Raw         map[string]string `json:"raw"`
	}
	got := map[uuid.UUID]obj{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var o obj
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got[o.EventID] = o
	}
	if o := got[orphan.EventID]; o.AggregateID != nil || o.ErrorKind != storage.KindMalformed || !reflect.DeepEqual(o.Raw, orphan.Raw) {
		t.Errorf("orphan as JSON = %+v, want aggregate_id null, kind malformed and raw %v", o, orphan.Raw)
	}
	if o := got[b1.EventID]; o.AggregateID == nil || *o.AggregateID != b1.AggregateID || o.Raw != nil {
		t.Errorf("b1 as JSON = %+v, want its aggregate id and no raw", o)
	}
}

func TestShowMalformed(t *testing.T) {
	st := newStore(t)
	orphan, _, _, b1 := malformedFixture(t, st)
	ctx := context.Background()

	var buf bytes.Buffer
	if err := dlqtool.Show(ctx, st, orphan.EventID, &buf); err != nil {
		t.Fatalf("Show: %v", err)
	}
	out := buf.String()
	// Columns sorted by name and aligned; a value that is not one plain
	// line is quoted, so a newline or an escape sequence cannot garble
	// the output.
	want := "raw columns (4, as the relay read them):\n" +
		"  aggregate_id  null\n" +
		"  event_type    \"Order\\nCreated\\x1b[31m\"\n" +
		"  sequence      7\n" +
		"  trace_parent  \"\"\n"
	for _, w := range []string{
		want,
		"aggregate id:     -\n",
		"kind:             malformed\n",
		"note:             cannot be replayed",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("Show output lacks %q:\n%s", w, out)
		}
	}

	buf.Reset()
	if err := dlqtool.Show(ctx, st, b1.EventID, &buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "raw columns") || strings.Contains(buf.String(), "note:") {
		t.Errorf("Show of an ordinary entry prints raw columns or a note:\n%s", buf.String())
	}
}

// TestReplayRefusesMalformed: malformed entries are refused with advice,
// left unchanged, and stop their aggregate; the rest is replayed.
func TestReplayRefusesMalformed(t *testing.T) {
	for _, dry := range []bool{false, true} {
		name := "replay"
		if dry {
			name = "dry run"
		}
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			_, pub := newKafka(t, 0)
			ctx := context.Background()
			orphan, a1, a2, b1 := malformedFixture(t, st)

			rec := &recordingPublisher{pub: pub}
			var progress bytes.Buffer
			rep, err := dlqtool.Replay(ctx, st, rec, dlqtool.ReplayOptions{DryRun: dry, Progress: &progress})
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			want := dlqtool.ReplayReport{Selected: 4, Published: 1, Malformed: 2, Blocked: 1}
			if dry {
				want.Topics = map[string]int{orderTopic: 1}
			}
			if !reflect.DeepEqual(rep, want) {
				t.Errorf("report = %+v, want %+v", rep, want)
			}
			var published []uuid.UUID
			for _, r := range rec.published() {
				published = append(published, r.EventID)
			}
			if want := []uuid.UUID{b1.EventID}; !dry && !reflect.DeepEqual(published, want) {
				t.Errorf("published %v, want only b1 %v", published, want)
			}
			if dry && len(published) != 0 {
				t.Errorf("dry run published %v", published)
			}
			for _, d := range []storage.DeadLetter{orphan, a1, a2} {
				got, ok := get(t, st, d.EventID)
				if !ok || got.ReplayCount != 0 {
					t.Errorf("%s (%s): in queue %v, replay count %d; want it kept unchanged", d.EventID, d.ErrorKind, ok, got.ReplayCount)
				}
			}
			out := progress.String()
			for _, w := range []string{
				"refused  " + orphan.EventID.String() + " (malformed, no aggregate id): cannot be replayed",
				"refused  " + a1.EventID.String() + " (malformed, aggregate " + a1.AggregateID.String() + ", seq 1): cannot be replayed",
				"discard it, and write a corrected row to the outbox if the event must still be published",
				"blocked  " + a2.EventID.String(),
				"is malformed and cannot be replayed",
				"malformed 2 (not replayable)",
			} {
				if !strings.Contains(out, w) {
					t.Errorf("progress lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestReplayMalformedByID: naming a malformed entry refuses it and
// publishes nothing; the entry stays.
func TestReplayMalformedByID(t *testing.T) {
	st := newStore(t)
	_, pub := newKafka(t, 0)
	orphan, _, _, _ := malformedFixture(t, st)
	rec := &recordingPublisher{pub: pub}
	rep, err := dlqtool.Replay(context.Background(), st, rec, dlqtool.ReplayOptions{EventIDs: []uuid.UUID{orphan.EventID}})
	if err != nil || !reflect.DeepEqual(rep, dlqtool.ReplayReport{Selected: 1, Malformed: 1}) || len(rec.published()) != 0 {
		t.Fatalf("Replay = %+v, %v, published %d; want one malformed refusal", rep, err, len(rec.published()))
	}
	if _, ok := get(t, st, orphan.EventID); !ok {
		t.Error("the refused entry left the queue")
	}
}

func TestDiscardMalformed(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	orphan, a1, a2, b1 := malformedFixture(t, st)
	aggA := a1.AggregateID

	if n, err := dlqtool.Discard(ctx, st, dlqtool.DiscardOptions{EventIDs: []uuid.UUID{orphan.EventID}}); err != nil || n != 1 {
		t.Fatalf("Discard(orphan) = %d, %v", n, err)
	}
	if _, ok := get(t, st, orphan.EventID); ok {
		t.Error("orphan still in the queue")
	}
	var out bytes.Buffer
	n, err := dlqtool.Discard(ctx, st, dlqtool.DiscardOptions{Filter: storage.DeadLetterFilter{Kind: storage.KindMalformed}, Progress: &out})
	if err != nil || n != 1 || !strings.Contains(out.String(), "discarded "+a1.EventID.String()) {
		t.Fatalf("Discard(kind malformed) = %d, %v:\n%s", n, err, out.String())
	}
	// A is still held, by its held entry; its malformed index row is gone.
	if h := held(t, st); !reflect.DeepEqual(h, sortedIDs(aggA, b1.AggregateID)) {
		t.Errorf("held %v, want A and B", h)
	}
	if err := st.Delete(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if h := held(t, st); !reflect.DeepEqual(h, []uuid.UUID{b1.AggregateID}) {
		t.Errorf("held %v after A's last entry went, want only B", h)
	}
}
