package sim

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/polling"
	"github.com/scylla-outbox/scylla-outbox/relay"
)

// event is one committed outbox event and what the world does to it.
type event struct {
	agg       uuid.UUID     // the aggregate its writer wrote, even if rec lost it
	rec       outbox.Record // as committed; malformed ones are invalid
	malformed bool
	poison    bool // the broker rejects it for good
	flaky     int  // retriable rejections left while the broker is up
	rejected  int  // retriable rejections so far
	gen       int  // CDC generation it was logged in
	stream    string
	visible   time.Time // when reads start to see it (≥ commit time)
}

// change is one logged batch in one CDC stream.
type change struct {
	time    gocql.UUID
	visible time.Time
	events  []*event
}

// generation is a CDC generation: its start and its streams.
type generation struct {
	start   time.Time
	streams [][]byte
}

// window is a time interval during which a fault is on.
type window struct{ from, to time.Time }

type windows []window

func (ws windows) on(t time.Time) bool {
	for _, w := range ws {
		if !t.Before(w.from) && t.Before(w.to) {
			return true
		}
	}
	return false
}

// db is the simulated ScyllaDB: the outbox (as CDC log and as
// outbox_by_bucket) and the relay's durable state. Its state survives
// relay crashes; its fault windows make writes or reads fail.
type db struct {
	w      *world
	trace  func(what string, args ...any)
	events []*event // commit order
	byID   map[uuid.UUID]*event
	// visibleUntil is when each aggregate's latest batch becomes visible.
	visibleUntil map[uuid.UUID]time.Time

	gens []generation
	logs map[string][]*change // stream → changes in cdc$time order

	// scylla-cdc-go's TableBackedProgressManager rows.
	progress   map[string]gocql.UUID // generation|stream → last_timestamp
	currentGen time.Time
	appStart   time.Time

	// The polling relay's cursor and finished set.
	cursor    time.Time
	hasCursor bool
	finished  map[uuid.UUID]bool
	// minutes the polling relay recorded as holding its marks.
	minutes map[polling.Minute]bool

	dlq map[uuid.UUID]deadLetter
	// dlqCreated counts the entries created: an index read when it was n
	// holds the entries numbered up to n.
	dlqCreated uint64

	// The relay name's epoch store (relay_progress's epoch and leader):
	// epochs are taken by compare-and-set, and every write above that
	// keeps progress is conditional on the writer's epoch.
	epoch  leader.Epoch
	holder leader.Holder
	// rejected counts progress writes refused for a stale epoch.
	rejected int
	// acceptStale breaks the fencing, for the test that the simulator
	// catches a broken epoch store.
	acceptStale bool
	// applied hears every progress write the store applied, with the
	// writer's epoch; backwards hears a write that moves progress back.
	applied   func(epoch leader.Epoch, what string)
	backwards func(what string, from, to any)

	progressFail, dlqFail, readFail, dlqLoadFail windows
}

type deadLetter struct {
	rec  outbox.Record
	kind string
	at   time.Time
	// epoch is the writer's.
	epoch leader.Epoch
	// raced: written after a newer epoch was taken, by a stale leader
	// whose check of its epoch passed just before (the one window the
	// fence leaves).
	raced bool
	// n numbers the entry among those created (dlqCreated).
	n uint64
}

func newDB(w *world, streams int) *db {
	d := &db{w: w, byID: map[uuid.UUID]*event{}, visibleUntil: map[uuid.UUID]time.Time{}, logs: map[string][]*change{}, progress: map[string]gocql.UUID{},
		finished: map[uuid.UUID]bool{}, minutes: map[polling.Minute]bool{}, dlq: map[uuid.UUID]deadLetter{}}
	d.addGeneration(simStart.Add(-time.Hour), streams)
	return d
}

// addGeneration publishes a generation starting at start with n new streams.
func (d *db) addGeneration(start time.Time, n int) {
	g := generation{start: start}
	for i := 0; i < n; i++ {
		id := make([]byte, 16)
		binary.BigEndian.PutUint64(id, d.w.rnd.Uint64())
		binary.BigEndian.PutUint64(id[8:], d.w.rnd.Uint64())
		g.streams = append(g.streams, id)
	}
	d.gens = append(d.gens, g)
}

// genAt is the index of the generation in force at t.
func (d *db) genAt(t time.Time) int {
	g := 0
	for i, gen := range d.gens {
		if !gen.start.After(t) {
			g = i
		}
	}
	return g
}

// commit applies one logged batch of events at the current time, visible
// after delay but never before the aggregate's previous batch: its single
// writer waited for that batch's acknowledgement, and the relay reads at a
// consistency that sees acknowledged writes.
func (d *db) commit(evs []*event, delay time.Duration) {
	now := d.w.now
	visible := now.Add(delay)
	agg := evs[0].agg
	if prev := d.visibleUntil[agg]; prev.After(visible) {
		visible = prev
	}
	d.visibleUntil[agg] = visible
	g := d.genAt(now)
	streams := d.gens[g].streams
	stream := fmt.Sprintf("%x", streams[int(binary.BigEndian.Uint32(agg[:4]))%len(streams)])
	for _, e := range evs {
		e.rec.CommittedAt = now
		e.gen, e.stream, e.visible = g, stream, visible
		d.events = append(d.events, e)
		d.byID[e.rec.EventID] = e
	}
	d.logs[stream] = append(d.logs[stream], &change{time: gocql.MinTimeUUID(now), visible: visible, events: evs})
	d.trace("commit", agg.String()[:4], evs[0].rec.Sequence, len(evs), "visible", visible.Sub(simStart))
}

// logRange returns the changes of a stream in (after, upTo] visible now.
func (d *db) logRange(stream string, after, upTo gocql.UUID) []*change {
	var out []*change
	for _, c := range d.logs[stream] {
		if scyllacdc.CompareTimeUUID(c.time, after) > 0 && scyllacdc.CompareTimeUUID(c.time, upTo) <= 0 && !c.visible.After(d.w.now) {
			out = append(out, c)
		}
	}
	return out
}

// records turns a change into what the CDC consumer decodes: a row that
// is not a valid event is a malformed record.
func (c *change) records() []outbox.Record {
	recs := make([]outbox.Record, len(c.events))
	for i, e := range c.events {
		recs[i] = e.rec
		if e.malformed {
			recs[i].Malformed = &outbox.Malformed{Reason: "incomplete outbox row"}
		}
	}
	return recs
}

// scan returns outbox_by_bucket rows committed in [after, until] visible
// now, in clustering order (committed_at, event_id).
func (d *db) scan(after, until time.Time) []outbox.Record {
	var out []outbox.Record
	for _, e := range d.events {
		c := e.rec.CommittedAt
		if !c.Before(after.Truncate(time.Millisecond)) && !c.After(until) && !e.visible.After(d.w.now) {
			out = append(out, e.rec)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CommittedAt.Equal(out[j].CommittedAt) {
			return out[i].CommittedAt.Before(out[j].CommittedAt)
		}
		return out[i].EventID.String() < out[j].EventID.String()
	})
	return out
}

// acquire takes the next epoch for member, as RelayProgress.Acquire does
// by compare-and-set.
func (d *db) acquire(member string) (leader.Epoch, error) {
	if d.progressFail.on(d.w.now) {
		return 0, errFault
	}
	d.epoch++
	d.holder = leader.Holder{Epoch: d.epoch, Member: member, Since: d.w.now}
	return d.epoch, nil
}

// leader reads the recorded holder.
func (d *db) leader() (leader.Holder, error) {
	if d.readFail.on(d.w.now) {
		return leader.Holder{}, errFault
	}
	return d.holder, nil
}

// fenced runs a progress write as FencedProgress does: a lightweight
// transaction IF epoch = ?, applied whole under the newest epoch and
// rejected with leader.ErrFenced under an older one.
func (d *db) fenced(epoch leader.Epoch, what string, apply func()) error {
	if d.progressFail.on(d.w.now) {
		return errFault
	}
	if epoch != d.epoch && !d.acceptStale {
		d.rejected++
		d.trace("rejected", what, "epoch", epoch, "holder", d.epoch)
		return fmt.Errorf("sim: %s under epoch %d: %w (epoch %d holds it)", what, epoch, leader.ErrFenced, d.epoch)
	}
	d.applied(epoch, what)
	apply()
	return nil
}

// saveStreams is FencedProgress.SaveStreams.
func (d *db) saveStreams(epoch leader.Epoch, positions []cdc.StreamPosition) error {
	return d.fenced(epoch, "save-streams", func() {
		for _, pos := range positions {
			key := progressKey(pos.Generation, fmt.Sprintf("%x", pos.Stream))
			if old, ok := d.progress[key]; ok && scyllacdc.CompareTimeUUID(pos.At, old) < 0 {
				d.backwards("stream "+key, old.Time().Sub(simStart), pos.At.Time().Sub(simStart))
			}
			d.progress[key] = pos.At
		}
	})
}

// startGeneration is FencedProgress.StartGeneration.
func (d *db) startGeneration(epoch leader.Epoch, gen time.Time) error {
	return d.fenced(epoch, "start-generation", func() {
		if gen.Before(d.currentGen) {
			d.backwards("generation", d.currentGen.Sub(simStart), gen.Sub(simStart))
		}
		d.currentGen = gen
	})
}

// saveReadStart is FencedProgress.SaveReadStartTime.
func (d *db) saveReadStart(epoch leader.Epoch, start time.Time) error {
	return d.fenced(epoch, "save-read-start", func() {
		if !d.appStart.IsZero() && !start.Equal(d.appStart) {
			d.backwards("read start", d.appStart.Sub(simStart), start.Sub(simStart))
		}
		d.appStart = start
	})
}

// saveCursor is FencedProgress.SaveCursor.
func (d *db) saveCursor(epoch leader.Epoch, at time.Time) error {
	return d.fenced(epoch, "save-cursor", func() {
		if d.hasCursor && at.Before(d.cursor) {
			d.backwards("cursor", d.cursor.Sub(simStart), at.Sub(simStart))
		}
		d.cursor, d.hasCursor = at, true
	})
}

// markFinished is PollingStore.MarkFinished: not fenced (an event a zombie
// finished is finished), but it fails with the progress writes.
// markFinished records the minutes the events fall in, then the events,
// as storage.PollingStore.MarkMinutes and MarkFinished.
func (d *db) markFinished(ms []polling.Minute, ids []uuid.UUID) error {
	if d.progressFail.on(d.w.now) {
		return errFault
	}
	for _, m := range ms {
		d.minutes[m] = true
	}
	for _, id := range ids {
		d.finished[id] = true
	}
	return nil
}

func progressKey(gen time.Time, stream string) string {
	return fmt.Sprintf("%d|%s", gen.UnixNano(), stream)
}

// checkEpoch is FencedProgress.Check: a conditional no-op write on the
// relay name's progress partition, linearizable with the epochs' own
// compare-and-set; it fails with leader.ErrFenced once a newer epoch was
// taken, and with the progress writes.
func (d *db) checkEpoch(epoch leader.Epoch) error {
	if d.progressFail.on(d.w.now) {
		return errFault
	}
	if epoch != d.epoch && !d.acceptStale {
		d.trace("check-refused", "epoch", epoch, "holder", d.epoch)
		return fmt.Errorf("sim: check the epoch under epoch %d: %w (epoch %d holds it)", epoch, leader.ErrFenced, d.epoch)
	}
	return nil
}

// putDeadLetter validates like storage.DeadLetterStore.Put: an entry
// needs an event id, and an aggregate id unless it is malformed. A write
// of an entry already there changes nothing.
func (d *db) putDeadLetter(dl deadLetter) error {
	if dl.rec.EventID == uuid.Nil || (dl.rec.AggregateID == uuid.Nil && dl.kind != relay.KindMalformed) {
		return fmt.Errorf("dead letter: event and aggregate ids are required")
	}
	if _, ok := d.dlq[dl.rec.EventID]; !ok {
		d.dlqCreated++
		dl.n = d.dlqCreated
		d.dlq[dl.rec.EventID] = dl
	}
	return nil
}

// deadLetterIndex is what the relay loads of the DLQ: the events in it
// that have an aggregate, and each aggregate's lowest dead-lettered
// sequence.
func (d *db) deadLetterIndex() relay.DeadLetters {
	idx := relay.DeadLetters{Events: map[uuid.UUID]bool{}, From: map[uuid.UUID]int64{}}
	for _, e := range d.events {
		if _, ok := d.dlq[e.rec.EventID]; !ok || e.rec.AggregateID == uuid.Nil {
			continue
		}
		idx.Events[e.rec.EventID] = true
		if from, held := idx.From[e.rec.AggregateID]; !held || e.rec.Sequence < from {
			idx.From[e.rec.AggregateID] = e.rec.Sequence
		}
	}
	return idx
}

// errFault is what a failing database call returns.
var errFault = fmt.Errorf("sim: database unavailable")

// newEventID returns a deterministic UUIDv7-like id from the world's random
// source.
func (d *db) newID() uuid.UUID {
	var id uuid.UUID
	binary.BigEndian.PutUint64(id[:8], d.w.rnd.Uint64())
	binary.BigEndian.PutUint64(id[8:], d.w.rnd.Uint64())
	return id
}

// workload schedules the writers: each aggregate's events in sequence,
// one or two per batch, at random times within the write phase.
func (d *db) workload(s Scenario) {
	aggs := make([]uuid.UUID, s.Aggregates)
	for i := range aggs {
		aggs[i] = d.newID()
	}
	next := make([]int64, len(aggs))
	var times []time.Duration
	for i := 0; i < s.Events; i++ {
		times = append(times, d.w.between(0, s.WritePhase))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	for i := 0; i < len(times); {
		a := d.w.rnd.IntN(len(aggs))
		n := 1
		if i+1 < len(times) && d.w.chance(0.2) {
			n = 2
		}
		var evs []*event
		for k := 0; k < n; k++ {
			next[a]++
			evs = append(evs, d.newEvent(s, aggs[a], next[a]))
		}
		delay := time.Duration(0)
		if s.LateVisibleMax > 0 && d.w.chance(0.3) {
			delay = d.w.between(0, s.LateVisibleMax)
		}
		at := times[i]
		d.w.after(at, func() { d.commit(evs, delay) })
		i += n
	}
}

func (d *db) newEvent(s Scenario, agg uuid.UUID, seq int64) *event {
	e := &event{agg: agg, rec: outbox.Record{Envelope: domain.Envelope{
		EventID: d.newID(), AggregateID: agg, Sequence: seq, EventType: "OrderUpdated", AggregateType: "Order",
		ContentType: domain.ContentTypeJSON, Payload: []byte(`{}`),
	}}}
	switch r := d.w.rnd.Float64(); {
	case r < s.Malformed:
		// What can be missing depends on the table read: the aggregate id
		// is outbox_messages' partition key (never null in the CDC log) but
		// a plain column of outbox_by_bucket.
		e.malformed = true
		switch d.w.rnd.IntN(3) {
		case 0:
			if s.Processor == "polling" {
				e.rec.AggregateID = uuid.Nil
			} else {
				e.rec.AggregateType = ""
			}
		case 1:
			e.rec.EventType = ""
		default:
			e.rec.Payload = nil
		}
	case r < s.Malformed+s.Poison:
		e.poison = true
	case r < s.Malformed+s.Poison+s.Flaky:
		e.flaky = 1 + d.w.rnd.IntN(8)
	}
	return e
}
