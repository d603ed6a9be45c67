package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/scylladb/gocqlx/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/httpapi"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/metrics"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/resilience"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

const topic = "outbox.event.Order"

// stack is the embedded stack one relay test runs on.
type stack struct {
	db      *outboxtest.DB
	dbAddr  string
	broker  *kafkaemu.Broker
	session gocqlx.Session
	store   *storage.OrderStore
	// consumer, when set, is how consume reads the topic (TLS, SASL);
	// otherwise it reads the broker in plain text.
	consumer *messaging.Config

	mu        sync.Mutex
	committed map[uuid.UUID]time.Time // event id → when its Save returned
	expected  map[uuid.UUID][]uuid.UUID
}

func newStack(t *testing.T, brokerMaxBytes int, dbOpts ...outboxtest.Option) *stack {
	t.Helper()
	db := outboxtest.StartDB(t, dbOpts...)
	broker := outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{topic}, MaxMessageBytes: brokerMaxBytes})
	return &stack{db: db, dbAddr: db.Addr, broker: broker, session: db.Session,
		store:     storage.NewOrderStore(db.Session, storage.OrderStoreOptions{Keyspace: db.Keyspace}),
		committed: map[uuid.UUID]time.Time{}, expected: map[uuid.UUID][]uuid.UUID{}}
}

// newClockedStack is newStack on the given clocks: the database's, and
// that of the writer of the stack's orders.
func newClockedStack(t *testing.T, server, writer func() time.Time) *stack {
	t.Helper()
	s := newStack(t, 0, outboxtest.WithEmulator(scyllaemu.Options{Clock: server}))
	s.store = storage.NewOrderStore(s.session, storage.OrderStoreOptions{Keyspace: s.db.Keyspace, Clock: writer})
	return s
}

// relayConfig is the low-latency configuration recommended for the
// embedded stack, with a short breaker timeout so outages resolve quickly.
func relayConfig(processor string) RelayConfig {
	return RelayConfig{
		Processor:   processor,
		Keyspace:    "outbox",
		Consistency: 1, // ONE
		Processing:  actors.ProcessorConfig{Breaker: resilience.BreakerConfig{FailureThreshold: 5, OpenTimeout: time.Second, HalfOpenProbes: 3}},
		CDC:         cdc.LowLatency(cdc.ReaderConfig{ChangeAgeLimit: time.Minute}),
		Polling:     actors.PollingSource{Interval: 50 * time.Millisecond, SafetyWindow: 2 * time.Second},
		// Ten heartbeats per session: a race-instrumented test binary on a
		// loaded machine must not lose its leadership (and publish again
		// what was in flight) because a heartbeat came late.
		Election: messaging.ElectionConfig{SessionTimeout: 4 * time.Second, HeartbeatInterval: 400 * time.Millisecond},
	}
}

// childRelayConfig is relayConfig for a relay process a test kills: its
// successor is elected once the broker drops it, after its session
// timeout, so that is kept short. Losing the session under load costs
// only duplicates, which those tests allow.
func childRelayConfig(processor string) RelayConfig {
	cfg := relayConfig(processor)
	cfg.Election = messaging.ElectionConfig{SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond}
	return cfg
}

type runningRelay struct {
	sys   *actors.System
	relay *Relay
	pub   *messaging.Publisher
	reg   *prometheus.Registry
}

// startRelay starts a relay and waits until it is active: tests that
// fault the broker mean to fault an active relay, not one being elected.
func (s *stack) startRelay(t *testing.T, cfg RelayConfig, logger *zap.Logger) *runningRelay {
	t.Helper()
	rr := s.launchRelay(t, cfg, logger)
	awaitRole(t, rr.relay, "active")
	return rr
}

// launchRelay starts a relay without waiting for its election (which
// needs the broker).
func (s *stack) launchRelay(t *testing.T, cfg RelayConfig, logger *zap.Logger) *runningRelay {
	t.Helper()
	if logger == nil {
		logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	cfg.Logger = logger
	kafka := messaging.Config{Brokers: s.broker.Brokers(), Timeout: 2 * time.Second}
	pub, err := messaging.NewPublisher(kafka, logger)
	if err != nil {
		t.Fatal(err)
	}
	sys := actors.NewSystem(logger)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	mprops, err := actors.NewMetricsProps(actors.MetricsConfig{Metrics: m, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mpid, err := sys.Spawn(mprops, "metrics")
	if err != nil {
		t.Fatal(err)
	}
	sys.OnRestart(func(kind string) { sys.Root().Send(mpid, &actors.ActorRestarted{Actor: kind}) })
	r, err := StartRelay(context.Background(), sys, s.session, pub, mpid, kafka, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rr := &runningRelay{sys: sys, relay: r, pub: pub, reg: reg}
	t.Cleanup(func() {
		if err := rr.stop(); err != nil {
			t.Errorf("stop the relay: %v", err)
		}
	})
	return rr
}

// consumeThroughRelay starts a consumer of the topic and an active relay
// with cfg, both stopped when the test ends (the relay first).
func (s *stack) consumeThroughRelay(t *testing.T, cfg RelayConfig) *received {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := s.consume(t, ctx)
	rr := s.startRelay(t, cfg, nil)
	t.Cleanup(func() {
		if err := rr.stop(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// awaitStatus waits up to 30 s until the relay's status satisfies ok, which
// also describes the status for the failure message, as does want.
func awaitStatus(t *testing.T, r *Relay, want string, ok func(*httpapi.RelayState) (string, bool)) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := r.Status(ctx)
		cancel()
		if err != nil {
			last = err.Error()
			continue
		}
		var done bool
		if last, done = ok(st); done {
			return
		}
	}
	t.Fatalf("the relay: %s after 30s, want %s", last, want)
}

// awaitRole waits until the relay reports role.
func awaitRole(t *testing.T, r *Relay, role string) {
	t.Helper()
	awaitStatus(t, r, "role "+role, func(st *httpapi.RelayState) (string, bool) {
		return "role " + st.Leader.Role, st.Leader.Role == role
	})
}

// stop shuts the relay down, the actors before the publisher they use. A
// second call returns nil.
func (r *runningRelay) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := r.sys.Shutdown(ctx)
	return errors.Join(err, r.pub.Close())
}

var item = domain.Item{ProductID: "sku", Quantity: 1, UnitPrice: domain.Money{Minor: 100, Currency: "EUR"}}

// writeOrders saves `orders` orders with `perOrder` events each, the
// orders concurrently and each order's events in sequence.
func (s *stack) writeOrders(t *testing.T, orders, perOrder int, items []domain.Item) {
	t.Helper()
	if items == nil {
		items = []domain.Item{item}
	}
	gen := domain.NewUUIDv7Generator()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < orders; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o, ev, err := domain.NewOrder(uuid.New(), uuid.New(), items, time.Now(), gen)
			if err != nil {
				t.Error(err)
				return
			}
			var e domain.DomainEvent = ev
			for n := 0; n < perOrder; n++ {
				if n > 0 {
					if e, err = o.UpdateItems(items, time.Now(), gen); err != nil {
						t.Error(err)
						return
					}
				}
				if err := s.store.Save(context.Background(), o, e); err != nil {
					t.Error(err)
					return
				}
				s.mu.Lock()
				s.committed[e.EventID()] = time.Now()
				s.expected[o.ID()] = append(s.expected[o.ID()], e.EventID())
				s.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func (s *stack) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.committed)
}

// received is what a consumer has read so far.
type received struct {
	mu     sync.Mutex
	byAgg  map[uuid.UUID][]int64
	ids    map[uuid.UUID]int
	dupes  int
	lat    []time.Duration
	seqErr error
}

// consume reads the topic until stop; it records order violations.
func (s *stack) consume(t *testing.T, ctx context.Context) *received {
	r := &received{byAgg: map[uuid.UUID][]int64{}, ids: map[uuid.UUID]int{}}
	cfg := messaging.Config{Brokers: s.broker.Brokers()}
	if s.consumer != nil {
		cfg = *s.consumer
	}
	go func() {
		err := messaging.ConsumeWith(ctx, cfg, []string{topic}, func(m messaging.Message) error {
			id, _ := uuid.Parse(m.Headers[messaging.HeaderEventID])
			agg, _ := uuid.Parse(m.Headers[messaging.HeaderAggregateID])
			seq, _ := strconv.ParseInt(m.Headers[messaging.HeaderSequence], 10, 64)
			s.mu.Lock()
			committed := s.committed[id]
			s.mu.Unlock()
			r.mu.Lock()
			defer r.mu.Unlock()
			r.ids[id]++
			if r.ids[id] > 1 {
				r.dupes++
				return nil
			}
			if !committed.IsZero() {
				r.lat = append(r.lat, time.Since(committed))
			}
			prev := r.byAgg[agg]
			if len(prev) > 0 && seq <= prev[len(prev)-1] && r.seqErr == nil {
				r.seqErr = fmt.Errorf("aggregate %s: sequence %d after %d", agg, seq, prev[len(prev)-1])
			}
			r.byAgg[agg] = append(prev, seq)
			return nil
		})
		if err != nil && ctx.Err() == nil {
			t.Errorf("consume: %v", err)
		}
	}()
	return r
}

func (r *received) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dupes
}

func (r *received) unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// waitAll waits until every committed event was received, then checks
// per-aggregate order and completeness.
func (s *stack) waitAll(t *testing.T, r *received, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for r.unique() < s.total() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events arrived; missing (order: sequences) %s", r.unique(), s.total(), s.missing(r))
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seqErr != nil {
		t.Fatal(r.seqErr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for agg, ids := range s.expected {
		got := r.byAgg[agg]
		if len(got) != len(ids) {
			t.Fatalf("aggregate %s: %d of %d events", agg, len(got), len(ids))
		}
		for i, seq := range got {
			if seq != int64(i+1) {
				t.Fatalf("aggregate %s: position %d has sequence %d", agg, i, seq)
			}
		}
	}
}

// missing lists, per order, the sequences not received.
func (s *stack) missing(r *received) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for agg, ids := range s.expected {
		var seqs []string
		for i, id := range ids {
			if r.ids[id] == 0 {
				seqs = append(seqs, strconv.Itoa(i+1))
			}
		}
		if len(seqs) > 0 {
			fmt.Fprintf(&b, "%s: %s; ", agg, strings.Join(seqs, ","))
		}
	}
	return b.String()
}

func (r *received) latencies() (p50, p99, maxLat time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := slices.Clone(r.lat)
	if len(l) == 0 {
		return
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)/2], l[len(l)*99/100], l[len(l)-1]
}

func dlqCount(t *testing.T, s *stack) int {
	t.Helper()
	n, err := storage.NewDeadLetterStore(s.session, "outbox").Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// counterValue sums the values of reg's counters and gauges called name
// that carry labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// awaitMetric waits until a counter or gauge of reg reaches want: the
// metrics actor applies updates asynchronously.
func awaitMetric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for got := counterValue(t, reg, name, labels); got != want; got = counterValue(t, reg, name, labels) {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == k && lp.GetValue() == v {
			return true
		}
	}
	return false
}

var processors = []string{outbox.ProcessorCDC, outbox.ProcessorPolling}

// Happy path: 2,000 events over 100 orders arrive in order, none missing,
// none duplicated. The log line carries the latency figures.
func TestRelayHappyPath(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			rr := s.startRelay(t, relayConfig(proc), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			s.writeOrders(t, 100, 20, nil)
			s.waitAll(t, r, time.Minute)
			if r.dupes != 0 {
				t.Fatalf("%d duplicates on the happy path", r.dupes)
			}
			if n := counterValue(t, rr.reg, "outbox_events_published_total", map[string]string{"processor": proc}); n != 2000 {
				t.Fatalf("outbox_events_published_total = %v, want 2000", n)
			}
			p50, p99, maxLat := r.latencies()
			t.Logf("%s: 2000 events, end-to-end latency p50=%s p99=%s max=%s", proc, p50, p99, maxLat)
		})
	}
}

// A broker outage of 20 s mid-stream: every event arrives, nothing goes to
// the DLQ, and the breaker opened and closed.
func TestRelayBrokerOutage(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			rr := s.startRelay(t, relayConfig(proc), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			s.writeOrders(t, 20, 10, nil)
			for r.unique() < 50 {
				time.Sleep(10 * time.Millisecond)
			}
			s.broker.Stop()
			s.writeOrders(t, 20, 10, nil) // written while the broker is down
			time.Sleep(20 * time.Second)
			if err := s.broker.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			s.writeOrders(t, 10, 5, nil)
			s.waitAll(t, r, 2*time.Minute)
			if n := dlqCount(t, s); n != 0 {
				t.Fatalf("%d events dead-lettered by a broker outage", n)
			}
			opened := counterValue(t, rr.reg, "circuit_breaker_transitions_total", map[string]string{"to": "open"})
			closed := counterValue(t, rr.reg, "circuit_breaker_transitions_total", map[string]string{"to": "closed"})
			if opened < 1 || closed < 1 {
				t.Fatalf("breaker transitions: to open %v, to closed %v", opened, closed)
			}
			t.Logf("%s: %d events across a 20 s outage, %d duplicates, breaker opened %v times", proc, s.total(), r.dupes, opened)
		})
	}
}

// A poison event (larger than the broker accepts) goes to the DLQ with its
// reason; other events are published. Later events of the same aggregate
// follow the configured policy.
func TestRelayPoisonEvent(t *testing.T) {
	bigItems := make([]domain.Item, 100)
	for i := range bigItems {
		bigItems[i] = domain.Item{ProductID: strings.Repeat("x", 60) + strconv.Itoa(i), Quantity: 1, UnitPrice: domain.Money{Minor: 1, Currency: "EUR"}}
	}
	for _, proc := range processors {
		for _, policy := range []relay.Policy{relay.Continue, relay.Hold} {
			t.Run(proc+"/"+policy.String(), func(t *testing.T) {
				s := newStack(t, 4096)
				cfg := relayConfig(proc)
				cfg.Processing.Policy = policy
				s.startRelay(t, cfg, nil)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				r := s.consume(t, ctx)
				s.writeOrders(t, 5, 3, nil)

				// One order whose second event is too large for the broker,
				// written as the order actor would: one batch per change.
				gen := domain.NewUUIDv7Generator()
				o, created, err := domain.NewOrder(uuid.New(), uuid.New(), []domain.Item{item}, time.Now(), gen)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.store.Save(context.Background(), o, created); err != nil {
					t.Fatal(err)
				}
				poison, err := o.UpdateItems(bigItems, time.Now(), gen)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.store.Save(context.Background(), o, poison); err != nil {
					t.Fatal(err)
				}
				after, err := o.UpdateItems([]domain.Item{item}, time.Now(), gen)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.store.Save(context.Background(), o, after); err != nil {
					t.Fatal(err)
				}
				s.writeOrders(t, 5, 3, nil)

				dlq := storage.NewDeadLetterStore(s.session, "outbox")
				var entries []storage.DeadLetter
				deadline := time.Now().Add(30 * time.Second)
				wantDLQ := 1
				if policy == relay.Hold {
					wantDLQ = 2
				}
				for len(entries) < wantDLQ {
					if time.Now().After(deadline) {
						t.Fatalf("DLQ has %d entries, want %d", len(entries), wantDLQ)
					}
					time.Sleep(50 * time.Millisecond)
					if entries, err = dlq.List(context.Background(), storage.DeadLetterFilter{AggregateID: o.ID()}); err != nil {
						t.Fatal(err)
					}
				}
				if e := entries[0]; e.EventID != poison.EventID() || e.ErrorKind != relay.KindPermanent || !strings.Contains(strings.ToLower(e.Error), "large") {
					t.Fatalf("poison entry: %+v", e)
				}
				// Everything but the DLQ'd events arrives.
				for r.unique() < s.total()+3-wantDLQ {
					if time.Now().After(deadline) {
						t.Fatalf("%d events arrived, want %d", r.unique(), s.total()+3-wantDLQ)
					}
					time.Sleep(20 * time.Millisecond)
				}
				r.mu.Lock()
				defer r.mu.Unlock()
				if r.ids[created.EventID()] != 1 {
					t.Fatal("the event before the poison one was not published")
				}
				switch policy {
				case relay.Continue:
					if r.ids[after.EventID()] != 1 {
						t.Fatal("continue: the event after the poison one must be published")
					}
				case relay.Hold:
					if r.ids[after.EventID()] != 0 || entries[1].EventID != after.EventID() || entries[1].ErrorKind != relay.KindHeld {
						t.Fatalf("hold: the later event must wait in the DLQ, got %+v", entries)
					}
				}
			})
		}
	}
}

// An injected panic while processing: the supervisor restarts the
// processor, the log shows it, and nothing is lost.
func TestRelayProcessorPanic(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			core, logs := observer.New(zap.InfoLevel)
			cfg := relayConfig(proc)
			cfg.PanicOn = PanicOnce()
			s.startRelay(t, cfg, zap.New(core))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			s.writeOrders(t, 20, 5, nil)
			s.waitAll(t, r, time.Minute)
			restarts := logs.FilterMessage("supervisor restarted actor").All()
			if len(restarts) == 0 {
				t.Fatal("no supervision log line for the restart")
			}
			fields := restarts[0].ContextMap()
			if !strings.Contains(fmt.Sprint(fields["actor"]), proc+"-processor") || !strings.Contains(fmt.Sprint(fields["reason"]), "injected panic") {
				t.Fatalf("supervision line fields: %v", fields)
			}
		})
	}
}

// A processor that panics on every record it is handed: past its restart
// limit the supervisor stops it, the relay leaves its group and reports
// that it can serve no more (the process exits 1), and a standby of the
// same name takes over and publishes every event, in order. A record
// recovered after a restart is republished without being handed again, so
// the test keeps writing until the relay gives up: a crash loop needs new
// records. Duplicates are allowed: each restart republishes what was in
// flight (README, duplicates case 2).
func TestRelayCrashLoopingProcessorHandsOver(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			core, logs := observer.New(zap.InfoLevel)
			stopped := make(chan error, 1)
			cfg := relayConfig(proc)
			cfg.PanicOn = func(outbox.Record) bool { return true }
			cfg.OnStopped = func(err error) { stopped <- err }
			looping := s.startRelay(t, cfg, zap.New(core))
			standby := s.launchRelay(t, relayConfig(proc), nil)
			defer func() {
				for _, rr := range []*runningRelay{looping, standby} {
					if err := rr.stop(); err != nil {
						t.Error(err)
					}
				}
			}()
			relay := map[string]string{"relay": looping.relay.cfg.Name}
			awaitMetric(t, looping.reg, "relay_active", relay, 1)
			awaitMetric(t, standby.reg, "relay_active", relay, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			giveUp := time.After(time.Minute)
		writing:
			for {
				s.writeOrders(t, 1, 1, nil)
				select {
				case err := <-stopped:
					if !strings.Contains(err.Error(), "cannot run") {
						t.Fatalf("OnStopped error %q, want the processor named as unable to run", err)
					}
					break writing
				case <-giveUp:
					t.Fatal("the crash-looping relay never gave up")
				case <-time.After(100 * time.Millisecond):
				}
			}
			if n := len(logs.FilterMessage("supervisor restarted actor").All()); n < actors.DefaultMaxRestarts {
				t.Fatalf("%d restarts logged before giving up, want %d", n, actors.DefaultMaxRestarts)
			}
			if len(logs.FilterMessage("relay left its group: its processor cannot run").All()) == 0 {
				t.Fatal("no log line for the relay leaving its group")
			}
			s.writeOrders(t, 5, 3, nil)
			s.waitAll(t, r, time.Minute)
			awaitMetric(t, looping.reg, "relay_active", relay, 0)
			awaitMetric(t, standby.reg, "relay_active", relay, 1)
			awaitMetric(t, looping.reg, "relay_leadership_changes_total", relay, 2)
			awaitMetric(t, standby.reg, "relay_leadership_changes_total", relay, 1)
		})
	}
}

// TestMain lets a test re-run this binary as a relay process that another
// test kills with SIGKILL: a crash no in-process trick can fake.
func TestMain(m *testing.M) {
	if os.Getenv("OUTBOX_TEST_RELAY_CHILD") != "" {
		runChildRelay()
		return
	}
	os.Exit(m.Run())
}

func runChildRelay() {
	ctx := context.Background()
	s, err := storage.NewSession(ctx, storage.Config{Hosts: []string{os.Getenv("OUTBOX_TEST_DB")}, Consistency: "ONE"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kafka := messaging.Config{Brokers: []string{os.Getenv("OUTBOX_TEST_BROKER")}}
	pub, err := messaging.NewPublisher(kafka, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := childRelayConfig(os.Getenv("OUTBOX_TEST_RELAY_CHILD"))
	if cfg.Processing.MaxInFlight, err = childSetting(envMaxInFlight, strconv.Atoi); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if cfg.Processing.ProgressInterval, err = childSetting(envProgressInterval, time.ParseDuration); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sys := actors.NewSystem(nil)
	if _, err := StartRelay(ctx, sys, s, pub, nil, kafka, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("relay running")
	select {}
}

// Settings of a child relay (runChildRelay) beyond childRelayConfig; unset,
// the processor's defaults apply.
const (
	envMaxInFlight      = "OUTBOX_TEST_MAX_IN_FLIGHT"
	envProgressInterval = "OUTBOX_TEST_PROGRESS_INTERVAL"
)

// childSetting parses the environment variable name, or returns the zero
// value when it is unset.
func childSetting[T any](name string, parse func(string) (T, error)) (T, error) {
	var zero T
	v := os.Getenv(name)
	if v == "" {
		return zero, nil
	}
	x, err := parse(v)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", name, err)
	}
	return x, nil
}

// A relay killed (SIGKILL) mid-stream, three times, each time replaced by
// a new relay process: every event arrives, in order per order, and each
// kill re-publishes no more than the README promises: the events finished
// since the last progress save (progress_interval of traffic) plus those
// in flight (max_in_flight). Events are written at a steady rate the relay
// keeps up with, so that "progress_interval of traffic" is rate ×
// progress_interval; before the next kill the successor publishes a
// second of events written after this one, so that the duplicates of a
// kill are received before the next kill is counted.
func TestRelayCrashAndRestart(t *testing.T) {
	const (
		rate        = 200 // events written per second
		kills       = 3
		maxInFlight = 32
		// How many events a relay publishes before it is killed, and its
		// successor after the kill before the next: a second of traffic.
		steady = rate
	)
	progressInterval := actors.DefaultProgressInterval
	bound := int(math.Ceil(rate*progressInterval.Seconds())) + maxInFlight
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			startChild := func() *exec.Cmd {
				child := exec.Command(os.Args[0], "-test.run=^$")
				child.Env = append(os.Environ(), "OUTBOX_TEST_RELAY_CHILD="+proc, "OUTBOX_TEST_DB="+s.dbAddr, "OUTBOX_TEST_BROKER="+s.broker.Addr(),
					envMaxInFlight+"="+strconv.Itoa(maxInFlight), envProgressInterval+"="+progressInterval.String())
				child.Stderr = os.Stderr
				if err := child.Start(); err != nil {
					t.Fatal(err)
				}
				return child
			}
			child := startChild()
			defer func() { killChild(t, child) }() // the one running at the end
			ords := s.newOrders(t, 50)
			stopWriting := make(chan struct{})
			done := make(chan struct{})
			// Also when the test fails early: a write after the test ended
			// must not report to it.
			stop := sync.OnceFunc(func() { close(stopWriting); <-done })
			defer stop()
			go func() {
				defer close(done)
				tick := time.NewTicker(time.Second / rate)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-stopWriting:
						return
					case <-tick.C:
						ords.updateOne(t, i%len(ords.list))
					}
				}
			}()
			awaitUnique := func(n int) {
				t.Helper()
				for deadline := time.Now().Add(time.Minute); r.unique() < n; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d events arrived, want %d", r.unique(), n)
					}
				}
			}
			perKill := make([]int, kills)
			for k := 0; k < kills; k++ {
				awaitUnique(s.total() + steady)
				before := r.duplicates()
				if err := child.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				reapKilled(t, child)
				child = startChild()
				awaitUnique(s.total() + steady)
				perKill[k] = r.duplicates() - before
			}
			stop()
			s.waitAll(t, r, time.Minute)
			t.Logf("%s: %d events at %d/s, %d SIGKILLs: duplicates per kill %v (same event ids), bound %d",
				proc, s.total(), rate, kills, perKill, bound)
			for k, n := range perKill {
				if n > bound {
					t.Errorf("kill %d re-published %d events; the bound is %d: progress_interval %s × %d events/s + max_in_flight %d",
						k+1, n, bound, progressInterval, rate, maxInFlight)
				}
			}
		})
	}
}

// A graceful stop finishes in-flight events and saves progress: the next
// relay publishes nothing twice.
func TestRelayGracefulRestartHasNoDuplicates(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			first := s.startRelay(t, relayConfig(proc), nil)
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.writeOrders(t, 50, 20, nil)
			}()
			for r.unique() < 300 {
				time.Sleep(5 * time.Millisecond)
			}
			if err := first.stop(); err != nil {
				t.Fatal(err)
			}
			stoppedAt := r.unique()
			<-done
			s.startRelay(t, relayConfig(proc), nil)
			s.waitAll(t, r, time.Minute)
			if r.dupes != 0 {
				t.Fatalf("%d duplicates after a graceful restart (stopped after %d events)", r.dupes, stoppedAt)
			}
		})
	}
}
