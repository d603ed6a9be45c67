package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/leader"
)

func (e testEnv) relayProgress() *RelayProgress {
	return NewRelayProgress(e.s, testKeyspace, RelayProgressOptions{})
}

// Epochs are taken one above the last, also when relays race for them,
// and the recorded leader is the last taker.
func TestAcquireTakesDistinctRisingEpochs(t *testing.T) {
	env := newEnv(t)
	p := env.relayProgress()
	ctx := context.Background()
	if info, err := p.Leader(ctx, "r"); err != nil || info.Epoch != 0 {
		t.Fatalf("Leader before any epoch = %+v, %v; want epoch 0", info, err)
	}
	for want := leader.Epoch(1); want <= 2; want++ {
		got, err := p.Acquire(ctx, "r", fmt.Sprintf("host:%d", want))
		if err != nil || got != want {
			t.Fatalf("Acquire = %d, %v; want %d", got, err, want)
		}
	}
	info, err := p.Leader(ctx, "r")
	if err != nil || info.Epoch != 2 || info.Member != "host:2" || time.Since(info.Since) > time.Minute {
		t.Fatalf("Leader = %+v, %v; want epoch 2 held by host:2 since just now", info, err)
	}

	const racers = 8
	var wg sync.WaitGroup
	epochs := make([]leader.Epoch, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			epochs[i], errs[i] = p.Acquire(ctx, "r", fmt.Sprintf("racer-%d", i))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sort.Slice(epochs, func(i, j int) bool { return epochs[i] < epochs[j] })
	for i, e := range epochs {
		if e != leader.Epoch(3+i) {
			t.Fatalf("racing epochs %v, want 3..%d once each", epochs, 2+racers)
		}
	}
	if other, err := p.Acquire(ctx, "another relay", "x"); err != nil || other != 1 {
		t.Fatalf("another relay name's first epoch = %d, %v; want 1", other, err)
	}
}

// Once a later epoch is taken, every progress write of the earlier one is
// rejected with leader.ErrFenced and changes nothing; the later epoch's
// writes go through.
func TestFencedWritesAreRejected(t *testing.T) {
	env := newEnv(t)
	p := env.relayProgress()
	ctx := context.Background()
	gen := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := gocql.TimeUUID()
	writes := []struct {
		name  string
		write func(*FencedProgress) error
		read  func(*FencedProgress) (any, error)
	}{
		{"stream progress",
			func(f *FencedProgress) error {
				return f.SaveStreams(ctx, []cdc.StreamPosition{{Generation: gen, Stream: []byte{byte(f.Epoch())}, At: at}})
			},
			func(f *FencedProgress) (any, error) { return f.StreamProgress(ctx, gen, []byte{1}) }},
		{"generation",
			func(f *FencedProgress) error {
				return f.StartGeneration(ctx, gen.Add(time.Duration(f.Epoch())*time.Hour))
			},
			func(f *FencedProgress) (any, error) { return f.CurrentGeneration(ctx) }},
		{"read start",
			func(f *FencedProgress) error {
				return f.SaveReadStartTime(ctx, gen.Add(time.Duration(f.Epoch())*time.Hour))
			},
			func(f *FencedProgress) (any, error) { return f.ReadStartTime(ctx) }},
		{"cursor",
			func(f *FencedProgress) error { return f.SaveCursor(ctx, gen.Add(time.Duration(f.Epoch())*time.Hour)) },
			func(f *FencedProgress) (any, error) {
				at, _, err := f.Cursor(ctx)
				return at, err
			}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			relay := "relay-" + w.name
			e1, err := p.Acquire(ctx, relay, "a")
			if err != nil {
				t.Fatal(err)
			}
			old := p.Fenced(relay, e1)
			if err := w.write(old); err != nil {
				t.Fatalf("write under the current epoch: %v", err)
			}
			before, err := w.read(old)
			if err != nil {
				t.Fatal(err)
			}
			e2, err := p.Acquire(ctx, relay, "b")
			if err != nil {
				t.Fatal(err)
			}
			if err := w.write(old); !errors.Is(err, leader.ErrFenced) {
				t.Fatalf("write under epoch %d after epoch %d was taken = %v, want ErrFenced", e1, e2, err)
			}
			if after, err := w.read(old); err != nil || after != before {
				t.Fatalf("a fenced write changed %v to %v (%v)", before, after, err)
			}
			if err := w.write(p.Fenced(relay, e2)); err != nil {
				t.Fatalf("write under the new epoch: %v", err)
			}
		})
	}
}

// Check passes under the current epoch and fails with ErrFenced once a
// later one was taken, leaving the later one in place.
func TestFencedCheck(t *testing.T) {
	env := newEnv(t)
	p := env.relayProgress()
	ctx := context.Background()
	e1, err := p.Acquire(ctx, "relay-check", "a")
	if err != nil {
		t.Fatal(err)
	}
	old := p.Fenced("relay-check", e1)
	if err := old.Check(ctx); err != nil {
		t.Fatalf("check under the current epoch: %v", err)
	}
	e2, err := p.Acquire(ctx, "relay-check", "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Check(ctx); !errors.Is(err, leader.ErrFenced) {
		t.Fatalf("check under epoch %d after epoch %d was taken = %v, want ErrFenced", e1, e2, err)
	}
	if h, err := p.Leader(ctx, "relay-check"); err != nil || h.Epoch != e2 || h.Member != "b" {
		t.Fatalf("after a refused check the holder is %+v (%v), want epoch %d held by b", h, err, e2)
	}
	if err := p.Fenced("relay-check", e2).Check(ctx); err != nil {
		t.Fatalf("check under the new epoch: %v", err)
	}
}

// What is saved is read back: stream positions (more than one conditional
// batch of them), the generation, the read start and the cursor.
func TestFencedProgressRoundTrip(t *testing.T) {
	env := newEnv(t)
	p := env.relayProgress()
	ctx := context.Background()
	e, err := p.Acquire(ctx, "r", "a")
	if err != nil {
		t.Fatal(err)
	}
	f := p.Fenced("r", e)
	gen := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for name, zero := range map[string]func() (bool, error){
		"stream": func() (bool, error) { at, err := f.StreamProgress(ctx, gen, []byte{1}); return at == gocql.UUID{}, err },
		"generation": func() (bool, error) {
			g, err := f.CurrentGeneration(ctx)
			return g.IsZero(), err
		},
		"read start": func() (bool, error) { s, err := f.ReadStartTime(ctx); return s.IsZero(), err },
		"cursor":     func() (bool, error) { _, ok, err := f.Cursor(ctx); return !ok, err },
	} {
		if ok, err := zero(); !ok || err != nil {
			t.Errorf("%s before any save: not empty (%v)", name, err)
		}
	}

	positions := make([]cdc.StreamPosition, 2*streamBatch+50)
	for i := range positions {
		positions[i] = cdc.StreamPosition{Generation: gen, Stream: []byte{byte(i >> 8), byte(i)}, At: gocql.MinTimeUUID(gen.Add(time.Duration(i) * time.Millisecond))}
	}
	if err := f.SaveStreams(ctx, positions); err != nil {
		t.Fatal(err)
	}
	for _, pos := range positions {
		if at, err := f.StreamProgress(ctx, gen, pos.Stream); err != nil || at != pos.At {
			t.Fatalf("stream %x: %v, %v; want %v", pos.Stream, at.Time(), err, pos.At.Time())
		}
	}
	if at, err := f.StreamProgress(ctx, gen.Add(time.Hour), positions[0].Stream); err != nil || at != (gocql.UUID{}) {
		t.Fatalf("the same stream in another generation: %v, %v; want nothing", at, err)
	}
	if err := f.StartGeneration(ctx, gen); err != nil {
		t.Fatal(err)
	}
	if g, err := f.CurrentGeneration(ctx); err != nil || !g.Equal(gen) {
		t.Fatalf("CurrentGeneration = %v, %v; want %v", g, err, gen)
	}
	if err := f.SaveReadStartTime(ctx, gen.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s, err := f.ReadStartTime(ctx); err != nil || !s.Equal(gen.Add(-time.Hour)) {
		t.Fatalf("ReadStartTime = %v, %v", s, err)
	}
	cursor := gen.Add(90 * time.Second)
	if err := f.SaveCursor(ctx, cursor); err != nil {
		t.Fatal(err)
	}
	if at, ok, err := f.Cursor(ctx); err != nil || !ok || !at.Equal(cursor) {
		t.Fatalf("Cursor = %v, %v, %v; want %v", at, ok, err, cursor)
	}
	if info, err := p.Leader(ctx, "r"); err != nil || info.Epoch != e || info.Member != "a" {
		t.Fatalf("progress writes changed the leader: %+v, %v", info, err)
	}
}

// A relay upgraded from a release that saved progress with scylla-cdc-go's
// own progress manager (cdc_progress) and in relay_cursor resumes from
// there: the old rows are read where relay_progress has none, and new
// saves take precedence.
func TestFencedProgressReadsLegacyProgress(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	gen := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	stream := scyllacdc.StreamID{0xab, 0xcd}
	old := gocql.MinTimeUUID(gen.Add(time.Minute))
	start := gen.Add(-time.Hour).Truncate(time.Millisecond)
	pm, err := scyllacdc.NewTableBackedProgressManager(env.s.Session, testKeyspace+".cdc_progress", "r")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		pm.StartGeneration(ctx, gen),
		pm.SaveProgress(ctx, gen, testKeyspace+".outbox_messages", stream, scyllacdc.Progress{LastProcessedRecordTime: old}),
		pm.SaveApplicationReadStartTime(ctx, start),
		NewPollingStore(env.s, testKeyspace).SaveCursor(ctx, "r", gen.Add(2*time.Minute)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}

	p := env.relayProgress()
	e, err := p.Acquire(ctx, "r", "upgraded")
	if err != nil {
		t.Fatal(err)
	}
	f := p.Fenced("r", e)
	if g, err := f.CurrentGeneration(ctx); err != nil || !g.Equal(gen) {
		t.Errorf("generation = %v, %v; want the legacy %v", g, err, gen)
	}
	if at, err := f.StreamProgress(ctx, gen, stream); err != nil || at != old {
		t.Errorf("stream progress = %v, %v; want the legacy %v", at.Time(), err, old.Time())
	}
	if s, err := f.ReadStartTime(ctx); err != nil || !s.Equal(start) {
		t.Errorf("read start = %v, %v; want the legacy %v", s, err, start)
	}
	if at, ok, err := f.Cursor(ctx); err != nil || !ok || !at.Equal(gen.Add(2*time.Minute)) {
		t.Errorf("cursor = %v, %v, %v; want the legacy one", at, ok, err)
	}

	newer := gocql.MinTimeUUID(gen.Add(time.Hour))
	if err := f.SaveStreams(ctx, []cdc.StreamPosition{{Generation: gen, Stream: stream, At: newer}}); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveCursor(ctx, gen.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if at, err := f.StreamProgress(ctx, gen, stream); err != nil || !bytes.Equal(at.Bytes(), newer.Bytes()) {
		t.Errorf("stream progress after a save = %v, %v; want the new %v", at.Time(), err, newer.Time())
	}
	if at, _, err := f.Cursor(ctx); err != nil || !at.Equal(gen.Add(time.Hour)) {
		t.Errorf("cursor after a save = %v, %v", at, err)
	}
}
