package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// The CDC reader's cadence: the low-latency profile's delays.
const (
	postNonEmptyDelay = 20 * time.Millisecond
	postEmptyDelay    = 50 * time.Millisecond
	postFailedDelay   = 200 * time.Millisecond
	queryWindow       = 5 * time.Second
	changeAgeLimit    = time.Minute
	readerRestart     = time.Second // the CDC processor's RestartDelay
	generationLead    = 2 * time.Second
)

// cdcSource is the CDC processor's source: the real cdc.ConsumerFactory and
// cdc.Stream consumers, fed by a model of scylla-cdc-go's reader (one
// stream per reader, windows bounded by the confidence window, generation
// switches through the progress manager).
type cdcSource struct {
	p       *process
	factory *cdc.ConsumerFactory
	lib     *cdcLib
}

func (s *cdcSource) start() {
	s.factory = cdc.NewConsumerFactory(simSink{p: s.p}, progressStore{p: s.p})
	s.startLib()
}

// simSink is the processor's sink: credits were checked by the reader.
type simSink struct{ p *process }

func (k simSink) Deliver(_ context.Context, rec outbox.Record, ack func()) error {
	k.p.deliver(rec, ack, true)
	return nil
}

func (s *cdcSource) finished(outbox.Record) {
	if l := s.lib; l != nil && l.alive && l.awaiting != nil {
		s.p.after(0, func() {
			if l.alive && l.awaiting != nil {
				l.awaiting()
			}
		})
	}
}

// saveProgress is the processor's periodic progress save; a rejected one
// fences the processor.
func (s *cdcSource) saveProgress() {
	if err := s.factory.Flush(background); errors.Is(err, leader.ErrFenced) {
		s.p.fenced(err, "a progress write was rejected")
	}
}

// finalSave is the save of cdcState.stop.
func (s *cdcSource) finalSave() error { return s.factory.Flush(background) }

// restarted is what the processor actor does when its supervisor restarts
// it: start the reader unless it is running.
func (s *cdcSource) restarted() {
	if s.lib == nil || !s.lib.alive {
		s.startLib()
	}
}

func (s *cdcSource) creditsFreed() {
	if s.lib == nil {
		return
	}
	for _, r := range s.lib.readers {
		if r.blocked {
			r.blocked = false
			s.p.after(0, r.drain)
		}
	}
}

// cdcLib is one running scylla-cdc-go Reader.
type cdcLib struct {
	s       *cdcSource
	alive   bool
	gen     int
	readers []*streamReader
	// closeAt is where the current generation's readers stop, once the
	// generation fetcher has seen the next one.
	closeAt *time.Time
	// awaiting is the generation switch waiting for old records to finish.
	awaiting func()
}

func (s *cdcSource) startLib() {
	r := s.p.r
	if s.p.closing {
		return
	}
	lib := &cdcLib{s: s, alive: true}
	s.lib = lib
	d := r.db
	if d.progressFail.on(r.w.now) {
		lib.fail(fmt.Errorf("loading progress: %w", errFault))
		return
	}
	readFrom := d.currentGen
	if d.appStart.After(readFrom) {
		readFrom = d.appStart
	}
	if readFrom.IsZero() {
		readFrom = r.w.now.Add(-changeAgeLimit)
		if err := d.saveReadStart(s.p.epoch, readFrom); err != nil {
			lib.failed(err)
			return
		}
	}
	g := d.genAt(readFrom)
	if readFrom.Before(d.gens[g].start) {
		readFrom = d.gens[g].start
	}
	lib.startGeneration(g, readFrom)
	lib.fetchLater()
}

// failed ends the reader with a failed progress write: a rejected one
// fences the processor, any other restarts the reader.
func (l *cdcLib) failed(err error) {
	if errors.Is(err, leader.ErrFenced) {
		l.stop(true)
		l.s.p.fenced(err, "a progress write was rejected")
		return
	}
	l.fail(err)
}

// fail ends the reader with an error: the processor restarts it.
func (l *cdcLib) fail(error) {
	l.stop(true)
	p := l.s.p
	p.timer(readerRestart, func() {
		if l.s.lib == l {
			l.s.startLib()
		}
	})
}

// stop ends every stream reader; the library calls End on each consumer
// when its stream reader returns, a crash does not.
func (l *cdcLib) stop(end bool) {
	if !l.alive {
		return
	}
	l.alive = false
	if !end {
		return
	}
	for _, r := range l.readers {
		if !r.ended {
			r.ended = true
			_ = r.consumer.End()
		}
	}
}

func (l *cdcLib) startGeneration(g int, from time.Time) {
	d := l.s.p.r.db
	if !l.s.factory.SwitchReady(d.gens[g].start) {
		// The progress manager's StartGeneration waits for the older
		// generations' records to finish: it checks again whenever one
		// finishes.
		l.awaiting = func() { l.startGeneration(g, from) }
		return
	}
	l.awaiting = nil
	if !l.saveGeneration(d.gens[g].start) {
		return
	}
	l.s.factory.GenerationStarted(d.gens[g].start)
	l.gen, l.closeAt, l.readers = g, nil, nil
	for _, id := range d.gens[g].streams {
		stream := fmt.Sprintf("%x", id)
		last := gocql.MinTimeUUID(from)
		if saved, ok := d.progress[progressKey(d.gens[g].start, stream)]; ok && scyllacdc.CompareTimeUUID(saved, last) > 0 {
			last = saved
		}
		r := &streamReader{lib: l, stream: stream, last: last}
		r.consumer = l.s.factory.OpenStream(id)
		l.readers = append(l.readers, r)
		l.s.p.after(l.s.p.r.w.between(0, postNonEmptyDelay), r.poll)
	}
}

// saveGeneration is ProgressManager.StartGeneration.
func (l *cdcLib) saveGeneration(start time.Time) bool {
	r := l.s.p.r
	switched := r.db.currentGen.Before(start) && !r.db.currentGen.IsZero()
	if err := r.db.startGeneration(l.s.p.epoch, start); err != nil {
		l.failed(err)
		return false
	}
	if switched {
		r.switches++
	}
	r.trace("gen-saved", start.Sub(simStart))
	return true
}

// fetchLater models the generation fetcher's periodic look at the
// generation tables.
func (l *cdcLib) fetchLater() {
	r := l.s.p.r
	l.s.p.after(r.s.GenerationFetch, func() {
		if !l.alive || l.s.lib != l {
			return
		}
		if l.closeAt == nil && l.gen+1 < len(r.db.gens) {
			at := r.db.gens[l.gen+1].start
			l.closeAt = &at
		}
		l.fetchLater()
	})
}

// readerEnded moves to the next generation once every stream reader of the
// current one ended.
func (l *cdcLib) readerEnded() {
	for _, r := range l.readers {
		if !r.ended {
			return
		}
	}
	l.startGeneration(l.gen+1, *l.closeAt)
}

// streamReader models scylla-cdc-go's reader of one stream.
type streamReader struct {
	lib      *cdcLib
	stream   string
	consumer *cdc.Stream
	last     gocql.UUID // the library's per-stream progress
	queue    []*change  // read, not yet consumed
	end      gocql.UUID // end of the window being consumed
	hadRows  bool
	blocked  bool // waiting for in-flight credits
	ended    bool
}

func (r *streamReader) poll() {
	l := r.lib
	if !l.alive || r.ended {
		return
	}
	run := l.s.p.r
	now := run.w.now
	if l.closeAt != nil && scyllacdc.CompareTimeUUID(gocql.MinTimeUUID(*l.closeAt), r.last) <= 0 {
		r.ended = true
		_ = r.consumer.End()
		l.readerEnded()
		return
	}
	if run.db.readFail.on(now) {
		l.s.p.after(postFailedDelay, r.poll)
		return
	}
	end := r.last.Time().Add(queryWindow)
	if limit := now.Add(-run.s.ConfidenceWindow); limit.Before(end) {
		end = limit
	}
	r.end = gocql.MinTimeUUID(end)
	if scyllacdc.CompareTimeUUID(r.last, r.end) >= 0 {
		l.s.p.after(postEmptyDelay, r.poll)
		return
	}
	r.queue = run.db.logRange(r.stream, r.last, r.end)
	r.hadRows = len(r.queue) > 0
	r.drain()
}

// drain consumes the window's changes while the in-flight limit allows.
func (r *streamReader) drain() {
	l := r.lib
	if !l.alive || r.ended {
		return
	}
	p := l.s.p
	for len(r.queue) > 0 {
		c := r.queue[0]
		if p.closing || !p.led.room(len(c.events)) {
			r.blocked = true
			return
		}
		r.queue = r.queue[1:]
		if err := r.consumer.Consume(background, c.time, c.records()); err != nil {
			l.fail(err)
			return
		}
		r.last = c.time
	}
	if scyllacdc.CompareTimeUUID(r.end, r.last) > 0 {
		r.last = r.end
	}
	delay := postNonEmptyDelay
	if !r.hadRows {
		delay = postEmptyDelay
		_ = r.consumer.Empty(background, r.end)
	}
	p.after(delay, r.poll)
}

// progressStore is the relay's progress store under the processor's
// epoch (storage.FencedProgress) as the factory's Flush uses it; a dead
// process writes nothing. The model of the library reads the database
// directly.
type progressStore struct{ p *process }

func (s progressStore) SaveStreams(_ context.Context, positions []cdc.StreamPosition) error {
	if !s.p.up() {
		return errFault
	}
	return s.p.r.db.saveStreams(s.p.epoch, positions)
}

// The reads and the generation are the model library's (cdcLib), which
// uses the database directly; the factory never calls these.
func (s progressStore) StreamProgress(context.Context, time.Time, []byte) (gocql.UUID, error) {
	return gocql.UUID{}, errUnused
}
func (s progressStore) CurrentGeneration(context.Context) (time.Time, error) {
	return time.Time{}, errUnused
}
func (s progressStore) StartGeneration(context.Context, time.Time) error { return errUnused }
func (s progressStore) ReadStartTime(context.Context) (time.Time, error) {
	return time.Time{}, errUnused
}
func (s progressStore) SaveReadStartTime(context.Context, time.Time) error { return errUnused }

var errUnused = errors.New("sim: the model library reads progress itself")
