package dlqtool_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/dlqtool"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// TestDiscard: discarding deletes entries and their index rows, which
// releases held aggregates; a dry run and an empty selection delete
// nothing.
func TestDiscard(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()

	aggA, aggB := uuid.New(), uuid.New()
	a1, a2 := entry(aggA, 1, relay.KindPermanent), entry(aggA, 2, relay.KindHeld)
	b1 := entry(aggB, 1, relay.KindPermanent)
	put(t, st, a1, a2, b1)

	if n, err := dlqtool.Discard(ctx, st, dlqtool.DiscardOptions{}); !errors.Is(err, dlqtool.ErrNoSelection) || n != 0 {
		t.Errorf("Discard with no selection = %d, %v; want ErrNoSelection", n, err)
	}
	var out bytes.Buffer
	n, err := dlqtool.Discard(ctx, st, dlqtool.DiscardOptions{All: true, DryRun: true, Progress: &out})
	if err != nil || n != 3 || count(t, st) != 3 {
		t.Errorf("dry-run Discard = %d, %v, %d entries left; want 3 counted, 3 left", n, err, count(t, st))
	}
	if !strings.Contains(out.String(), "would discard "+b1.EventID.String()) || !strings.Contains(out.String(), "nothing changed") {
		t.Errorf("dry-run output:\n%s", out.String())
	}
	if _, err := dlqtool.Discard(ctx, st, dlqtool.DiscardOptions{EventIDs: []uuid.UUID{uuid.New()}}); err == nil || count(t, st) != 3 {
		t.Errorf("Discard of an unknown id = %v, want an error and nothing deleted", err)
	}

	out.Reset()
	n, err = dlqtool.Discard(ctx, st, dlqtool.DiscardOptions{Filter: storage.DeadLetterFilter{AggregateID: aggA}, Progress: &out})
	if err != nil || n != 2 {
		t.Fatalf("Discard of aggregate A = %d, %v; want 2", n, err)
	}
	if _, ok := get(t, st, a1.EventID); ok {
		t.Error("a1 still in the queue")
	}
	if h := held(t, st); !reflect.DeepEqual(h, []uuid.UUID{aggB}) {
		t.Errorf("held aggregates %v, want only B (A's index rows must be gone)", h)
	}
	if want := "discarded " + a1.EventID.String(); !strings.HasPrefix(out.String(), want) || !strings.HasSuffix(out.String(), "discarded 2 entries\n") {
		t.Errorf("output:\n%s", out.String())
	}

	out.Reset()
	n, err = dlqtool.Discard(ctx, st, dlqtool.DiscardOptions{EventIDs: []uuid.UUID{b1.EventID}, Progress: &out})
	if want := "discarded 1 entry\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("output of one discard does not end with %q:\n%s", want, out.String())
	}
	if err != nil || n != 1 || count(t, st) != 0 || len(held(t, st)) != 0 {
		t.Errorf("Discard of b1 = %d, %v; %d entries and held %v left", n, err, count(t, st), held(t, st))
	}
}

// TestDiscardProgressBar: more than 20 entries get a single-line bar
// rewritten with '\r' and ended with a newline; afterwards no aggregate is
// held.
func TestDiscardProgressBar(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	for a := 0; a < 5; a++ {
		agg := uuid.New()
		for seq := int64(1); seq <= 5; seq++ {
			kind := relay.KindHeld
			if seq == 1 {
				kind = relay.KindPermanent
			}
			put(t, st, entry(agg, seq, kind))
		}
	}
	if h := held(t, st); len(h) != 5 {
		t.Fatalf("%d held aggregates, want 5", len(h))
	}

	var out bytes.Buffer
	n, err := dlqtool.Discard(ctx, st, dlqtool.DiscardOptions{All: true, Progress: &out})
	if err != nil || n != 25 {
		t.Fatalf("Discard = %d, %v; want 25", n, err)
	}
	if count(t, st) != 0 || len(held(t, st)) != 0 {
		t.Errorf("%d entries and %d held aggregates left", count(t, st), len(held(t, st)))
	}
	s := out.String()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "\r") || lines[1] != "discarded 25 entries" {
		t.Fatalf("want one bar line and a summary, got:\n%q", s)
	}
	frames := strings.Split(lines[0], "\r")
	last := frames[len(frames)-1]
	if !strings.HasPrefix(last, "discard [########################] 25/25 discarded 25 done in ") {
		t.Errorf("final frame = %q", last)
	}
}
