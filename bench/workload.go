package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// tracker follows one run's events from the writer to the consumer. The
// writer registers an event before its Save (so a consumer that is faster
// than the writer's bookkeeping still finds it) and stamps it when Save
// returns; the consumer stamps it on arrival. Latency is computed once both
// stamps exist, whichever comes last.
type tracker struct {
	mu         sync.Mutex
	events     map[uuid.UUID]*eventTimes
	lastSeq    map[uuid.UUID]int64 // per aggregate, highest sequence received
	lat        []time.Duration
	unique     int
	dupes      int
	outOfOrder int
	unknown    int
	msgBytes   int64
	first      time.Time // first arrival
	complete   time.Time // arrival that made unique reach want
	want       int
	done       chan struct{}
	// after, once set by watchAfter, makes receive note the earliest
	// record published later (by its Kafka timestamp, duplicates
	// included) and the first such record to arrive.
	after                    time.Time
	publishedAfter, gotAfter time.Time
}

type eventTimes struct {
	committed time.Time // Save returned
	received  time.Time // the consumer read it
}

func newTracker() *tracker {
	return &tracker{events: map[uuid.UUID]*eventTimes{}, lastSeq: map[uuid.UUID]int64{}, done: make(chan struct{})}
}

// expect registers an event about to be written.
func (t *tracker) expect(id uuid.UUID) {
	t.mu.Lock()
	t.events[id] = &eventTimes{}
	t.mu.Unlock()
}

// committed stamps an event whose Save returned at `at`.
func (t *tracker) committed(id uuid.UUID, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.events[id]
	if e == nil {
		return
	}
	e.committed = at
	if !e.received.IsZero() {
		t.lat = append(t.lat, max(e.received.Sub(at), 0))
	}
}

// receive is the consumer's callback.
func (t *tracker) receive(m messaging.Message) error {
	now := time.Now()
	id, err := uuid.Parse(m.Headers[messaging.HeaderEventID])
	agg, _ := uuid.Parse(m.Headers[messaging.HeaderAggregateID])
	seq, _ := strconv.ParseInt(m.Headers[messaging.HeaderSequence], 10, 64)
	size := len(m.Key) + len(m.Value)
	for k, v := range m.Headers {
		size += len(k) + len(v)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.after.IsZero() && m.Timestamp.After(t.after) {
		if t.publishedAfter.IsZero() || m.Timestamp.Before(t.publishedAfter) {
			t.publishedAfter = m.Timestamp
		}
		if t.gotAfter.IsZero() {
			t.gotAfter = now
		}
	}
	e := t.events[id]
	if err != nil || e == nil {
		t.unknown++
		return nil
	}
	if !e.received.IsZero() {
		t.dupes++
		return nil
	}
	e.received = now
	t.unique++
	t.msgBytes += int64(size)
	if t.first.IsZero() {
		t.first = now
	}
	if !e.committed.IsZero() {
		t.lat = append(t.lat, max(now.Sub(e.committed), 0))
	}
	if seq <= t.lastSeq[agg] {
		t.outOfOrder++
	} else {
		t.lastSeq[agg] = seq
	}
	if t.want > 0 && t.unique == t.want {
		t.complete = now
		close(t.done)
	}
	return nil
}

// waitAll waits until n distinct events have arrived and returns the time
// the last of them did; on timeout it returns how many were missing.
func (t *tracker) waitAll(ctx context.Context, n int, timeout time.Duration) (time.Time, int, error) {
	t.mu.Lock()
	t.want = n
	if t.unique >= n && t.complete.IsZero() {
		t.complete = time.Now()
		close(t.done)
	}
	t.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.done:
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.complete, 0, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Time{}, n - t.unique, fmt.Errorf("bench: %d of %d events arrived within %s", t.unique, n, timeout)
}

// watchAfter starts watching for records published after at.
func (t *tracker) watchAfter(at time.Time) {
	t.mu.Lock()
	t.after = at
	t.mu.Unlock()
}

// firstAfter returns the earliest Kafka timestamp of a record published
// after the watchAfter time, and when the first such record arrived; zero
// times if none has.
func (t *tracker) firstAfter() (published, received time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.publishedAfter, t.gotAfter
}

type trackerStats struct {
	unique, dupes, outOfOrder, unknown int
	msgBytes                           int64
	first                              time.Time
	lat                                []time.Duration
}

// timeline counts arrivals per step after start.
func (t *tracker) timeline(start time.Time, step time.Duration) []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	for _, e := range t.events {
		if e.received.IsZero() {
			continue
		}
		i := max(int(e.received.Sub(start)/step), 0)
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i]++
	}
	return out
}

// received is how many distinct events have arrived.
func (t *tracker) received() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unique
}

func (t *tracker) stats() trackerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return trackerStats{unique: t.unique, dupes: t.dupes, outOfOrder: t.outOfOrder, unknown: t.unknown,
		msgBytes: t.msgBytes, first: t.first, lat: slices.Clone(t.lat)}
}

// consume runs messaging.Consume on topic into t until ctx ends; the
// returned channel yields its error (nil after ctx ends).
func consume(ctx context.Context, brokers []string, topic string, t *tracker) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- messaging.Consume(ctx, brokers, []string{topic}, t.receive) }()
	return ch
}

// orderFlow is one order's life in the workload: created, then updated
// until it has carried perOrder events. Each event is saved in its own
// batch, as the order actor does.
type orderFlow struct {
	o *domain.Order
	n int
}

// benchItem is a realistic line item: with it an OrderCreated or
// OrderUpdated payload is about 320 bytes of JSON.
func benchItem(n int) []domain.Item {
	return []domain.Item{{ProductID: "sku-espresso-beans-1kg", Quantity: 1 + n%5,
		UnitPrice: domain.Money{Minor: 1890, Currency: "EUR"}}}
}

// next advances f by one event.
func (f *orderFlow) next(gen domain.IDGenerator) (domain.DomainEvent, error) {
	now := time.Now()
	f.n++
	if f.o == nil {
		o, ev, err := domain.NewOrder(uuid.New(), uuid.New(), benchItem(0), now, gen)
		f.o = o
		return ev, err
	}
	return f.o.UpdateItems(benchItem(f.n), now, gen)
}

// writer saves order events through storage.OrderStore, as the order actor
// does, registering each with the tracker.
type writer struct {
	store    *storage.OrderStore
	tr       *tracker
	gen      domain.IDGenerator
	perOrder int
	// written counts the events saved so far, for progress reports.
	written atomic.Int64
}

// writeStats describe what a writer achieved.
type writeStats struct {
	events  int
	elapsed time.Duration
	saveLat []time.Duration
}

func (w *writer) save(ctx context.Context, f *orderFlow) (time.Duration, error) {
	ev, err := f.next(w.gen)
	if err != nil {
		return 0, err
	}
	w.tr.expect(ev.EventID())
	start := time.Now()
	if err := w.store.Save(ctx, f.o, ev); err != nil {
		return 0, err
	}
	now := time.Now()
	w.tr.committed(ev.EventID(), now)
	return now.Sub(start), nil
}

// steady writes rate events/s for d with `workers` goroutines. A pacer
// hands out one token per event on schedule; each worker owns a few open
// orders and advances one per token, so an order's events are written in
// sequence by one goroutine (the single-writer rule) yet spread in time,
// interleaved with other orders, as real traffic is. If the workers cannot
// keep up, the pacer blocks and the achieved rate shows it.
func (w *writer) steady(ctx context.Context, rate int, d time.Duration, workers int) (writeStats, error) {
	total := int(float64(rate) * d.Seconds())
	tokens := make(chan struct{}, workers*4)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	go func() {
		defer close(tokens)
		// A 2 ms tick releases the tokens due so far: at 1,000/s that is
		// two at a time, smooth enough that bursts do not show in latency.
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		emitted := 0
		for emitted < total {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			due := min(total, int(time.Since(start).Seconds()*float64(rate)))
			for ; emitted < due; emitted++ {
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return w.run(ctx, cancel, workers, start, func(_ int, step func(f *orderFlow) error) error {
		const open = 4
		flows := make([]orderFlow, open)
		i := 0
		for range tokens {
			f := &flows[i%open]
			i++
			if f.o == nil || f.n >= w.perOrder {
				*f = orderFlow{}
			}
			if err := step(f); err != nil {
				return err
			}
		}
		return nil
	})
}

// backlog writes n events as fast as `workers` goroutines can, each
// writing one order's events in a row.
func (w *writer) backlog(ctx context.Context, n, workers int) (writeStats, error) {
	var left atomic.Int64
	left.Store(int64(n))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return w.run(ctx, cancel, workers, time.Now(), func(_ int, step func(f *orderFlow) error) error {
		for {
			k := int64(w.perOrder)
			rem := left.Add(-k)
			if rem <= -k {
				return nil
			}
			if rem < 0 {
				k += rem // the last order is shorter
			}
			var f orderFlow
			for range k {
				if err := step(&f); err != nil {
					return err
				}
			}
		}
	})
}

// run starts workers running body and collects their statistics.
func (w *writer) run(ctx context.Context, cancel context.CancelFunc, workers int, start time.Time,
	body func(worker int, step func(f *orderFlow) error) error) (writeStats, error) {
	var (
		mu   sync.Mutex
		st   writeStats
		errs []error
		wg   sync.WaitGroup
		last time.Time
	)
	w.written.Store(0)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lats []time.Duration
			err := body(i, func(f *orderFlow) error {
				d, err := w.save(ctx, f)
				if err != nil {
					return err
				}
				lats = append(lats, d)
				w.written.Add(1)
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			st.saveLat = append(st.saveLat, lats...)
			if now := time.Now(); now.After(last) {
				last = now
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	st.events = int(w.written.Load())
	st.elapsed = last.Sub(start)
	if len(errs) > 0 {
		return st, fmt.Errorf("bench: writing orders: %w", errors.Join(errs...))
	}
	return st, ctx.Err()
}
