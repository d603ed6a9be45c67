package scyllaemu_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// TestReaderFollowsGenerationChange runs scylla-cdc-go's reader, with a tiny
// confidence window and its table-backed progress manager, across a
// generation change made while writes are in flight: every row of both
// generations must be delivered once, each from a stream of the generation
// in force at its cdc$time, in order per stream, and the progress manager
// must be told about the new generation (and remember it for a restart).
// It waits for the library's generation poll, which runs every 15 s.
func TestReaderFollowsGenerationChange(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for scylla-cdc-go's 15 s generation poll")
	}
	srv, s := startEmu(t, scyllaemu.Options{Vnodes: 4})
	mustExec(t, s, createKS, `CREATE TABLE ks.ev (w int, seq int, v text, PRIMARY KEY (w, seq)) WITH cdc = {'enabled': true}`)
	tbpm, err := scyllacdc.NewTableBackedProgressManager(s.Session, "ks.cdc_progress", "emu-test")
	if err != nil {
		t.Fatal(err)
	}
	progress := &recordingProgress{TableBackedProgressManager: tbpm}
	consumed := &changeLog{notify: make(chan struct{}, 1)}
	stop := startReader(t, scyllacdc.ReaderConfig{Session: s.Session, TableNames: []string{"ks.ev"},
		ChangeConsumerFactory: consumed, ProgressManager: progress})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("reader: %v", err)
		}
	})

	const writers = 4
	written := 0
	write := func(seq int) {
		t.Helper()
		for w := 0; w < writers; w++ {
			if err := s.Session.Query(`INSERT INTO ks.ev (w, seq, v) VALUES (?, ?, 'x')`, w, seq).DefaultTimestamp(false).Exec(); err != nil {
				t.Fatal(err)
			}
			written++
		}
	}
	seq := 0
	for ; seq < 5; seq++ {
		write(seq)
	}
	consumed.waitFor(t, written, 10*time.Second)

	at, err := srv.NewGeneration(200 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Keep writing across the switch, and a little past it.
	for after := 0; after < 5; seq++ {
		write(seq)
		if time.Now().After(at) {
			after++
		}
	}
	consumed.waitFor(t, written, 40*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("reader: %v", err)
	}

	gens := srv.Engine().Generations()
	if len(gens) != 2 || !gens[1].Time.Equal(at) {
		t.Fatalf("generations %v, want the second at %v", gens, at)
	}
	if got := progress.generations(); len(got) != 2 || !got[0].Equal(gens[0].Time) || !got[1].Equal(at) {
		t.Fatalf("StartGeneration calls %v, want [%v %v]", got, gens[0].Time, at)
	}
	streamGen := map[string]int{}
	for i, g := range gens {
		for _, v := range g.Vnodes {
			streamGen[string(v.Stream)] = i
		}
	}
	seen := map[logKey]int{}
	last := map[string]gocql.UUID{}
	perGen := [2]int{}
	for _, c := range consumed.all() {
		seen[c.key]++
		want := 0
		if !c.time.Time().Before(at) {
			want = 1
		}
		if g, ok := streamGen[c.stream]; !ok || g != want {
			t.Errorf("row %v at %v: stream %x is not one of generation %d", c.key, c.time.Time(), c.stream, want)
		}
		perGen[want]++
		if prev, ok := last[c.stream]; ok && scyllacdc.CompareTimeUUID(prev, c.time) >= 0 {
			t.Errorf("stream %x: change at %v delivered after one at %v", c.stream, c.time.Time(), prev.Time())
		}
		last[c.stream] = c.time
	}
	for w := 0; w < writers; w++ {
		for q := 0; q < seq; q++ {
			if n := seen[logKey{w, q}]; n != 1 {
				t.Errorf("row (%d, %d) delivered %d times", w, q, n)
			}
		}
	}
	if perGen[0] == 0 || perGen[1] == 0 {
		t.Errorf("rows per generation %v: want both generations used", perGen)
	}
	restarted, err := scyllacdc.NewTableBackedProgressManager(s.Session, "ks.cdc_progress", "emu-test")
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := restarted.GetCurrentGeneration(context.Background()); err != nil || !cur.Equal(at) {
		t.Fatalf("saved current generation %v (%v), want %v", cur, err, at)
	}
}

// recordingProgress records the generations the reader starts.
type recordingProgress struct {
	*scyllacdc.TableBackedProgressManager
	mu      sync.Mutex
	started []time.Time
}

func (p *recordingProgress) StartGeneration(ctx context.Context, gen time.Time) error {
	p.mu.Lock()
	p.started = append(p.started, gen)
	p.mu.Unlock()
	return p.TableBackedProgressManager.StartGeneration(ctx, gen)
}

func (p *recordingProgress) generations() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.started...)
}

type seenChange struct {
	stream string
	time   gocql.UUID
	key    logKey
}

// changeLog is a ChangeConsumerFactory whose consumers record every change
// and report progress after each.
type changeLog struct {
	mu      sync.Mutex
	changes []seenChange
	notify  chan struct{}
}

func (l *changeLog) CreateChangeConsumer(_ context.Context, in scyllacdc.CreateChangeConsumerInput) (scyllacdc.ChangeConsumer, error) {
	return &streamConsumer{log: l, progress: in.ProgressReporter}, nil
}

func (l *changeLog) all() []seenChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]seenChange(nil), l.changes...)
}

// waitFor returns once n changes were consumed.
func (l *changeLog) waitFor(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		got := len(l.changes)
		l.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-l.notify:
		case <-deadline:
			t.Fatalf("consumed %d changes of %d after %v", got, n, timeout)
		}
	}
}

type streamConsumer struct {
	log      *changeLog
	progress *scyllacdc.ProgressReporter
}

func (c *streamConsumer) Consume(ctx context.Context, ch scyllacdc.Change) error {
	if len(ch.Delta) != 1 {
		return fmt.Errorf("change at %v has %d delta rows, want 1", ch.Time.Time(), len(ch.Delta))
	}
	w, _ := ch.Delta[0].GetValue("w")
	seq, _ := ch.Delta[0].GetValue("seq")
	wi, ok1 := w.(*int)
	si, ok2 := seq.(*int)
	if !ok1 || !ok2 || wi == nil || si == nil {
		return fmt.Errorf("change at %v: key (%#v, %#v)", ch.Time.Time(), w, seq)
	}
	c.log.mu.Lock()
	c.log.changes = append(c.log.changes, seenChange{stream: string(ch.StreamID), time: ch.Time, key: logKey{*wi, *si}})
	c.log.mu.Unlock()
	select {
	case c.log.notify <- struct{}{}:
	default:
	}
	return c.progress.MarkProgress(ctx, scyllacdc.Progress{LastProcessedRecordTime: ch.Time})
}

func (c *streamConsumer) End() error { return nil }
