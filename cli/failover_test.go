package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// fleetMember is one `outbox relay` process of a relay name.
type fleetMember struct {
	name   string
	proc   *os.Process
	log    *syncBuf
	exited <-chan error
	http   string
}

func (m *fleetMember) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := m.proc.Signal(sig); err != nil {
		t.Fatalf("%s: %v: %v", m.name, sig, err)
	}
}

// role is the member's /status role, "" if it does not answer (stopped,
// killed) within a second.
func (m *fleetMember) role() string {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + m.http + "/status")
	if err != nil {
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	var doc struct {
		Role string `json:"role"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return ""
	}
	return doc.Role
}

// startFleet starts n relays of one relay name, named r1..rn, with the
// default election timing.
func startFleet(t *testing.T, n int, common []string) []*fleetMember {
	t.Helper()
	var fleet []*fleetMember
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("r%d", i)
		child, log, exited := relayChild(t, append([]string{"--relay.member", name, "--http.listen", "127.0.0.1:0"}, common...))
		fleet = append(fleet, &fleetMember{name: name, proc: child.Process, log: log, exited: exited})
	}
	for _, m := range fleet {
		m.http = waitFor(t, m.log, httpListening)
	}
	return fleet
}

// awaitActive waits until exactly one of candidates reports the role
// active and returns it.
func awaitActive(t *testing.T, candidates ...*fleetMember) *fleetMember {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var active []*fleetMember
		for _, m := range candidates {
			if m.role() == "active" {
				active = append(active, m)
			}
		}
		if len(active) == 1 {
			return active[0]
		}
	}
	var roles []string
	for _, m := range candidates {
		roles = append(roles, m.name+"="+m.role())
	}
	t.Fatalf("no single active relay after 60s: %v", roles)
	return nil
}

// orderWriter saves events of a fixed set of orders, round robin, one
// batch per event, until stopped: a steady flow whose per-order sequence
// the consumer checks.
type orderWriter struct {
	store  *storage.OrderStore
	orders []*domain.Order
	gen    domain.IDGenerator

	mu       sync.Mutex
	expected map[string][]string // aggregate id → event ids in sequence order
	total    int

	stop chan struct{}
	done chan error
}

var fleetItems = []domain.Item{{ProductID: "sku-1", Quantity: 1, UnitPrice: domain.Money{Minor: 100, Currency: "EUR"}}}

func startWriter(t *testing.T, s gocqlx.Session, orders int, pace time.Duration) *orderWriter {
	t.Helper()
	w := &orderWriter{store: storage.NewOrderStore(s, storage.OrderStoreOptions{Keyspace: "outbox"}), gen: domain.NewUUIDv7Generator(),
		expected: map[string][]string{}, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() { w.done <- w.run(orders, pace) }()
	t.Cleanup(func() { w.halt(t) })
	return w
}

func (w *orderWriter) run(orders int, pace time.Duration) error {
	ctx := context.Background()
	tick := time.NewTicker(pace)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return nil
		case <-tick.C:
		}
		var e domain.DomainEvent
		var o *domain.Order
		var err error
		if len(w.orders) < orders {
			var created domain.DomainEvent
			o, created, err = domain.NewOrder(uuid.New(), uuid.New(), fleetItems, time.Now(), w.gen)
			w.orders, e = append(w.orders, o), created
		} else {
			o = w.orders[i%orders]
			e, err = o.UpdateItems(fleetItems, time.Now(), w.gen)
		}
		if err != nil {
			return err
		}
		if err := w.store.Save(ctx, o, e); err != nil {
			return fmt.Errorf("save %s: %w", e.EventID(), err)
		}
		w.mu.Lock()
		agg := o.ID().String()
		w.expected[agg] = append(w.expected[agg], e.EventID().String())
		w.total++
		w.mu.Unlock()
	}
}

// halt stops the writer; a second call returns at once.
func (w *orderWriter) halt(t *testing.T) {
	t.Helper()
	select {
	case <-w.stop:
		return
	default:
	}
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Errorf("writer: %v", err)
	}
}

func (w *orderWriter) written() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total
}

// fleetConsumer reads the topic and keeps, per aggregate, its first
// deliveries in order, and the publish time of every record.
type fleetConsumer struct {
	mu        sync.Mutex
	seen      map[string]int      // event id → deliveries
	firsts    map[string][]string // aggregate id → event ids of first deliveries
	published []time.Time         // Kafka timestamps, in arrival order
	dupes     int
}

func startConsumer(t *testing.T, brokers []string) *fleetConsumer {
	t.Helper()
	c := &fleetConsumer{seen: map[string]int{}, firsts: map[string][]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- messaging.Consume(ctx, brokers, []string{"outbox.event.Order"}, func(m messaging.Message) error {
			id, agg := m.Headers[messaging.HeaderEventID], m.Headers[messaging.HeaderAggregateID]
			c.mu.Lock()
			defer c.mu.Unlock()
			c.published = append(c.published, m.Timestamp)
			if c.seen[id]++; c.seen[id] > 1 {
				c.dupes++
				return nil
			}
			c.firsts[agg] = append(c.firsts[agg], id)
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consume: %v", err)
		}
	})
	return c
}

func (c *fleetConsumer) unique() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// firstPublishedAfter waits for a record published after t and returns
// how long after t that was.
func (c *fleetConsumer) firstPublishedAfter(tt *testing.T, t time.Time) time.Duration {
	tt.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		var first time.Time
		for _, p := range c.published {
			if p.After(t) && (first.IsZero() || p.Before(first)) {
				first = p
			}
		}
		c.mu.Unlock()
		if !first.IsZero() {
			return first.Sub(t)
		}
	}
	tt.Fatalf("nothing published within 60s after %s", t.Format(time.RFC3339Nano))
	return 0
}

// verify waits until every written event arrived and checks that each
// aggregate's first deliveries are its events in sequence order. It
// returns the number of duplicate deliveries (each a repeated event id).
func (c *fleetConsumer) verify(t *testing.T, w *orderWriter) int {
	t.Helper()
	total := w.written()
	for deadline := time.Now().Add(90 * time.Second); c.unique() < total; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events arrived", c.unique(), total)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for agg, ids := range w.expected {
		if !slices.Equal(c.firsts[agg], ids) {
			t.Fatalf("order %s: first deliveries %v, want %v", agg, c.firsts[agg], ids)
		}
	}
	if len(c.seen) != total {
		t.Fatalf("%d distinct event ids in Kafka, %d written", len(c.seen), total)
	}
	return c.dupes
}

// Three relays of one name, default election timing. The active one is
// killed (SIGKILL) while events flow; the next active one is paused
// (SIGSTOP) until a third takes over, then resumed (SIGCONT), a zombie
// that still believes it leads. Every event arrives, each order's first
// deliveries in sequence, duplicates only as repeated event ids; the
// zombie's progress writes are rejected by the newer epoch and it stops
// publishing. The time from each fault to the first record its successor
// published is reported (target: under 10 s with the defaults).
func TestRelayFailoverThreeProcesses(t *testing.T) {
	for _, proc := range []string{outbox.ProcessorCDC, outbox.ProcessorPolling} {
		t.Run(proc, func(t *testing.T) {
			t.Parallel()
			fleet, first, consumer, w := flowingFleet(t, proc, 3)

			killed := time.Now()
			first.signal(t, syscall.SIGKILL)
			if err := <-first.exited; err == nil {
				t.Fatalf("%s exited cleanly after SIGKILL", first.name)
			}
			rest := without(fleet, first)
			second := awaitActive(t, rest...)
			killGap := consumer.firstPublishedAfter(t, killed)
			awaitDelivered(t, consumer, consumer.unique()+100)

			paused := time.Now()
			second.signal(t, syscall.SIGSTOP)
			third := awaitActive(t, without(rest, second)...)
			pauseGap := consumer.firstPublishedAfter(t, paused)
			awaitDelivered(t, consumer, consumer.unique()+100)
			second.signal(t, syscall.SIGCONT)
			// The zombie learns from its group, its epoch's row or a
			// rejected write, whichever answers first; it must not stay
			// active, and its saves must have been refused.
			for deadline := time.Now().Add(30 * time.Second); second.role() == "active"; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the resumed zombie %s is still active after 30s:\n%s", second.name, second.log.String())
				}
			}
			if third.role() != "active" {
				t.Fatalf("%s is %q after the zombie resumed, want active", third.name, third.role())
			}
			awaitDelivered(t, consumer, consumer.unique()+100)
			w.halt(t)
			dupes := consumer.verify(t, w)
			rejected := rejectedWrites.FindAllString(second.log.String(), -1)
			if len(rejected) == 0 {
				t.Errorf("the zombie %s logged no rejected progress write:\n%s", second.name, second.log.String())
			}
			t.Logf("%s: %d events; SIGKILL of %s: %s published the first record %s later; SIGSTOP of %s: %s published %s later; "+
				"the zombie's progress writes rejected %d times; %d duplicate deliveries (repeated event ids)",
				proc, w.written(), first.name, second.name, killGap.Round(time.Millisecond), second.name, third.name,
				pauseGap.Round(time.Millisecond), len(rejected), dupes)
		})
	}
}

var rejectedWrites = regexp.MustCompile(`progress write rejected: a newer epoch holds the relay`)

// SIGTERM of the active relay: it drains, saves its progress and leaves
// its group, and the standby takes over where it stopped: every event
// arrives once.
func TestRelayGracefulHandover(t *testing.T) {
	for _, proc := range []string{outbox.ProcessorCDC, outbox.ProcessorPolling} {
		t.Run(proc, func(t *testing.T) {
			t.Parallel()
			fleet, active, consumer, w := flowingFleet(t, proc, 2)

			stopped := time.Now()
			active.signal(t, syscall.SIGTERM)
			if err := <-active.exited; err != nil {
				t.Fatalf("%s exit after SIGTERM: %v\n%s", active.name, err, active.log.String())
			}
			successor := awaitActive(t, without(fleet, active)...)
			gap := consumer.firstPublishedAfter(t, stopped)
			awaitDelivered(t, consumer, consumer.unique()+100)
			w.halt(t)
			if dupes := consumer.verify(t, w); dupes != 0 {
				t.Fatalf("%d duplicate deliveries after a graceful handover", dupes)
			}
			t.Logf("%s: %d events, none twice; %s took over from %s; first record published %s after the SIGTERM",
				proc, w.written(), successor.name, active.name, gap.Round(time.Millisecond))
		})
	}
}

// flowingFleet starts the embedded stack, n relays of one name running
// proc, a consumer and the writer, and returns once events flow through
// the active relay.
func flowingFleet(t *testing.T, proc string, n int) (fleet []*fleetMember, active *fleetMember, c *fleetConsumer, w *orderWriter) {
	t.Helper()
	db, broker := startStack(t)
	common := []string{"--scylla-hosts", db.Addr(), "--kafka-brokers", broker.Addr(), "--scylla.consistency", "ONE",
		"--processor", proc, "--cdc.profile", "low-latency"}
	migrate(t, common)
	s := openSession(t, db.Addr())
	c = startConsumer(t, broker.Brokers())
	fleet = startFleet(t, n, common)
	active = awaitActive(t, fleet...)
	w = startWriter(t, s, 20, 10*time.Millisecond)
	awaitDelivered(t, c, 100)
	return fleet, active, c, w
}

func migrate(t *testing.T, common []string) {
	t.Helper()
	env, _, errOut := testEnv(nil)
	if code := Run(context.Background(), env, append([]string{"migrate"}, common...)); code != ExitOK {
		t.Fatalf("migrate: %s", errOut.String())
	}
}

func openSession(t *testing.T, addr string) gocqlx.Session {
	t.Helper()
	s, err := storage.NewSession(context.Background(), storage.Config{Hosts: []string{addr}, Keyspace: "outbox", Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func awaitDelivered(t *testing.T, c *fleetConsumer, n int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); c.unique() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered after 60s", c.unique(), n)
		}
	}
}

func without(fleet []*fleetMember, gone *fleetMember) []*fleetMember {
	return slices.DeleteFunc(slices.Clone(fleet), func(m *fleetMember) bool { return m == gone })
}
