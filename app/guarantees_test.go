package app

import (
	"context"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/resilience"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// orders are aggregates a test keeps writing to through store, one event
// per batch as the order actor writes them; the stack records what it
// expects to receive.
type orders struct {
	s     *stack
	store *storage.OrderStore
	gen   domain.IDGenerator
	list  []*domain.Order
}

func (s *stack) newOrders(t *testing.T, n int) *orders {
	t.Helper()
	return s.newOrdersWith(t, s.store, n)
}

func (s *stack) newOrdersWith(t *testing.T, store *storage.OrderStore, n int) *orders {
	t.Helper()
	o := &orders{s: s, store: store, gen: domain.NewUUIDv7Generator()}
	for i := 0; i < n; i++ {
		ord, ev, err := domain.NewOrder(uuid.New(), uuid.New(), []domain.Item{item}, time.Now(), o.gen)
		if err != nil {
			t.Fatal(err)
		}
		o.save(t, ord, ev)
		o.list = append(o.list, ord)
	}
	return o
}

// update appends one event to every order.
func (o *orders) update(t *testing.T) {
	t.Helper()
	for _, ord := range o.list {
		ev, err := ord.UpdateItems([]domain.Item{item}, time.Now(), o.gen)
		if err != nil {
			t.Fatal(err)
		}
		o.save(t, ord, ev)
	}
}

func (o *orders) save(t *testing.T, ord *domain.Order, ev domain.DomainEvent) {
	t.Helper()
	if err := o.store.Save(context.Background(), ord, ev); err != nil {
		t.Error(err)
		return
	}
	o.s.mu.Lock()
	o.s.committed[ev.EventID()] = time.Now()
	o.s.expected[ord.ID()] = append(o.s.expected[ord.ID()], ev.EventID())
	o.s.mu.Unlock()
}

// One event in flight during a 60 s broker outage, with the relay's default
// retry preset and breaker: it is published once the broker is back, and
// nothing is dead-lettered. With the breaker never opening for a single
// event, its three failed attempts used to send it to the DLQ as exhausted.
func TestRelayLoneEventOutage(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, 0)
			cfg := relayConfig(proc)
			cfg.Processing.Breaker = resilience.DefaultBreaker() // not the tests' quick breaker
			rr := s.startRelay(t, cfg, nil)
			s.broker.Stop()
			s.newOrders(t, 1)
			time.Sleep(60 * time.Second)
			if n := dlqCount(t, s); n != 0 {
				t.Fatalf("%d events dead-lettered during the outage", n)
			}
			if err := s.broker.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Read from the start of the topic once the broker is back.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			s.waitAll(t, r, 2*time.Minute)
			if n := dlqCount(t, s); n != 0 {
				t.Fatalf("%d events dead-lettered", n)
			}
			t.Logf("%s: the lone event arrived after the outage; breaker opened %v times; DLQ empty", proc,
				counterValue(t, rr.reg, "circuit_breaker_transitions_total", map[string]string{"to": "open"}))
		})
	}
}

// A CDC generation switch while the old generation's events wait behind a
// broker outage, and the relay killed (SIGKILL) after scylla-cdc-go moved
// on to the new generation: the restarted relay publishes every event of
// both generations, each order's in sequence. scylla-cdc-go marks the new
// generation current as soon as the old stream readers end; without the
// barrier a restart never read the old generation again. In tablets mode
// (outboxtest.TabletsEnv) the switch is a tablet split of outbox_messages,
// which scylla-cdc-go follows as a generation of that table; the split
// takes over at once, so the write "stamped before the switch" goes to the
// new streams too.
func TestRelayGenerationSwitch(t *testing.T) {
	s := newStack(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := s.consume(t, ctx)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "OUTBOX_TEST_RELAY_CHILD="+outbox.ProcessorCDC, "OUTBOX_TEST_DB="+s.dbAddr, "OUTBOX_TEST_BROKER="+s.broker.Addr())
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer killChild(t, child)

	ords := s.newOrders(t, 20)
	ords.update(t)
	for r.unique() < 20 {
		time.Sleep(10 * time.Millisecond)
	}
	s.broker.Stop()
	ords.update(t) // old generation, stuck behind the outage
	gen, err := s.db.NewStreams(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ords.update(t) // stamped before the switch: still the old generation
	time.Sleep(time.Until(gen) + 200*time.Millisecond)
	ords.update(t) // the new generation's streams
	ords.update(t)

	// scylla-cdc-go looks for new generations every 15 s; once it has
	// seen this one, the old stream readers end and it asks to make the
	// new generation current — the worst moment to die.
	time.Sleep(time.Until(gen) + 20*time.Second)
	var current time.Time
	if err := s.session.Query(`SELECT cdc_generation FROM outbox.`+schema.TableRelayProgress+` WHERE relay = ? LIMIT 1`, nil).
		Bind("outbox-relay").Get(&current); err != nil {
		t.Fatal(err)
	}
	if !current.Before(gen) {
		t.Errorf("the new generation (%v) became current (%v) while old events were still unpublished", gen, current)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	reapKilled(t, child)
	s.launchRelay(t, relayConfig(outbox.ProcessorCDC), nil) // elected once the broker is back
	if err := s.broker.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.waitAll(t, r, 2*time.Minute)
	t.Logf("generation switch at %v under a broker outage, relay killed 20 s later: all %d events of both generations arrived, in order per order (%d duplicates, same event ids)",
		gen.Format(time.RFC3339Nano), s.total(), r.dupes)
}

// delayProxy forwards TCP connections to target, holding what clients send
// for the current delay: a write that reaches the database late, as under
// a loaded client, a GC pause or a slow network.
type delayProxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // nanoseconds
}

func startDelayProxy(t *testing.T, target string) *delayProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{ln: ln, target: target}
	closeAtEnd(t, "proxy listener", ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *delayProxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		hangUp(client)
		return
	}
	go func() {
		// The copy ends on the server's EOF or on an error alike; either
		// way the client is hung up, which is all the proxy can do.
		_, _ = io.Copy(client, server)
		hangUp(client)
	}()
	type chunk struct {
		due  time.Time
		data []byte
	}
	chunks := make(chan chunk, 1024)
	go func() {
		for c := range chunks {
			time.Sleep(time.Until(c.due))
			if _, err := server.Write(c.data); err != nil {
				return
			}
		}
		hangUp(server)
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			chunks <- chunk{due: time.Now().Add(time.Duration(p.delay.Load())), data: append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			close(chunks)
			return
		}
	}
}

func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

// hangUp closes one side of a proxied connection. Its error is dropped:
// the connection is over either way, and the proxy has no test to report
// to — the test watches the events that come through, not the proxy.
func hangUp(c net.Conn) { _ = c.Close() }

// A write that reaches the database seconds after the writer sent it —
// more than the CDC confidence window and the polling safety window of the
// low-latency settings — is still published: the batch carries no client
// timestamp and committed_at is the server's now(), so it is stamped when
// it becomes visible, and the emulator never stamps a write at or before a
// read it already answered. With the writer's clock in the log time and in
// committed_at, the relays had already read past it.
func TestRelayLateVisibleWrite(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			s.startRelay(t, relayConfig(proc), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			proxy := startDelayProxy(t, s.dbAddr)
			// Only the proxy: the driver must not discover the emulator's
			// own address and go around it.
			cluster := gocql.NewCluster(proxy.Addr())
			cluster.DisableInitialHostLookup = true
			cluster.Consistency = gocql.One
			cluster.Timeout = 10 * time.Second
			slow, err := gocqlx.WrapSession(cluster.CreateSession())
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			slowStore := storage.NewOrderStore(slow, storage.OrderStoreOptions{Keyspace: "outbox"})
			proxy.delay.Store(int64(3 * time.Second)) // > polling safety window (2 s) and CDC confidence window (100 ms)
			done := make(chan struct{})
			go func() {
				defer close(done)
				began := time.Now()
				s.newOrdersWith(t, slowStore, 1)
				if took := time.Since(began); took < 3*time.Second {
					t.Errorf("the late write took %s: the proxy did not hold it back", took)
				}
			}()
			// Meanwhile other orders commit and are published: the relay
			// reads on past the moment the late write was sent.
			for i := 0; i < 8; i++ {
				s.newOrders(t, 1)
				time.Sleep(500 * time.Millisecond)
			}
			<-done
			s.waitAll(t, r, time.Minute)
		})
	}
}

var crashEvents = flag.Int("crash.events", 0, "TestRelayCrashDuplicates: events to write (0 skips it; make crash-bench sets 20000)")

// The duplicates a crash costs: events written at about 170/s while the
// relay is killed with SIGKILL and restarted ten times. Every event must
// arrive, in order per order; the duplicates of each kill are reported
// against the bound the README states (progress_interval × rate, plus what
// was in flight).
func TestRelayCrashDuplicates(t *testing.T) {
	if *crashEvents == 0 {
		t.Skip("a measurement: run with -crash.events=N (make crash-bench)")
	}
	const rate, kills = 170, 10
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			startChild := func() *exec.Cmd {
				child := exec.Command(os.Args[0], "-test.run=^$")
				child.Env = append(os.Environ(), "OUTBOX_TEST_RELAY_CHILD="+proc, "OUTBOX_TEST_DB="+s.dbAddr, "OUTBOX_TEST_BROKER="+s.broker.Addr())
				child.Stderr = os.Stderr
				if err := child.Start(); err != nil {
					t.Fatal(err)
				}
				return child
			}
			child := startChild()
			ords := s.newOrders(t, 50)
			done := make(chan struct{})
			go func() {
				defer close(done)
				tick := time.NewTicker(time.Second / rate)
				defer tick.Stop()
				for i := 50; i < *crashEvents; i++ {
					<-tick.C
					ords.updateOne(t, i%len(ords.list))
				}
			}()
			// Kills spread over the writing; a kill's duplicates are those
			// received until the next kill (or the end).
			every := time.Duration(*crashEvents/rate) * time.Second / (kills + 1)
			perKill := make([]int, kills)
			for k := 0; k < kills; k++ {
				time.Sleep(every)
				if k > 0 {
					perKill[k-1] = r.duplicates() - sum(perKill[:k-1])
				}
				if err := child.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				reapKilled(t, child)
				child = startChild()
			}
			<-done
			s.waitAll(t, r, 2*time.Minute)
			perKill[kills-1] = r.duplicates() - sum(perKill[:kills-1])
			killChild(t, child)
			t.Logf("%s: %d events at %d/s, %d SIGKILLs: %d duplicates in all (same event ids), per kill %v; progress_interval × rate = %.0f events",
				proc, s.total(), rate, kills, r.dupes, perKill, actors.DefaultProgressInterval.Seconds()*rate)
		})
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// updateOne appends one event to the i-th order.
func (o *orders) updateOne(t *testing.T, i int) {
	ord := o.list[i]
	ev, err := ord.UpdateItems([]domain.Item{item}, time.Now(), o.gen)
	if err != nil {
		t.Error(err)
		return
	}
	o.save(t, ord, ev)
}

// A row that is not a valid event — written by hand, or by a buggy writer —
// is dead-lettered as malformed with its columns, in its order's turn, and
// neither blocks the relay nor is skipped: the order's later events are
// published (continue policy) and the relay's progress moves past it.
func TestRelayMalformedRow(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			s.startRelay(t, relayConfig(proc), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			ords := s.newOrders(t, 3)
			bad := uuid.New()
			ord := ords.list[0]
			// Sequence 2 of the first order, without an event type, in both
			// outbox tables as one batch, as the write path would.
			b := s.session.Session.Batch(gocql.LoggedBatch)
			b.Query(`INSERT INTO outbox.outbox_messages (aggregate_id, sequence, event_id, aggregate_type, payload, committed_at) VALUES (?, 2, ?, 'Order', 0x7b7d, now())`, ord.ID(), bad)
			b.Query(`INSERT INTO outbox.outbox_by_bucket (bucket, committed_at, event_id, aggregate_id, sequence, aggregate_type, payload) VALUES (?, now(), ?, ?, 2, 'Order', 0x7b7d)`,
				storage.BucketOf(time.Now()), bad, ord.ID())
			if err := s.session.Session.ExecuteBatch(b); err != nil {
				t.Fatal(err)
			}
			// The first order's next event is sequence 3: its writer's
			// sequence 2 is the malformed row.
			if _, err := ord.UpdateItems([]domain.Item{item}, time.Now(), ords.gen); err != nil {
				t.Fatal(err)
			}
			ords.update(t)
			s.mu.Lock()
			after := s.expected[ord.ID()][1]
			s.expected[ord.ID()] = s.expected[ord.ID()][:1]
			s.mu.Unlock()
			dlq := storage.NewDeadLetterStore(s.session, "outbox")
			deadline := time.Now().Add(30 * time.Second)
			var entry storage.DeadLetter
			for {
				var err error
				if entry, err = dlq.Get(context.Background(), bad); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no DLQ entry for the malformed row: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if entry.ErrorKind != relay.KindMalformed || !strings.Contains(entry.Error, "event_type") || entry.Raw["sequence"] != "2" {
				t.Fatalf("malformed entry: kind %q error %q raw %v", entry.ErrorKind, entry.Error, entry.Raw)
			}
			for r.unique() < s.total() {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d events arrived", r.unique(), s.total())
				}
				time.Sleep(50 * time.Millisecond)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if got := r.byAgg[ord.ID()]; len(got) != 2 || got[0] != 1 || got[1] != 3 || r.ids[after] != 1 {
				t.Fatalf("the order's events: sequences %v, want 1 then 3 (2 is in the DLQ)", got)
			}
		})
	}
}

// A CDC log row without an event id is dead-lettered under an id derived
// from its position in the log (stream, cdc$time, row), so that reading it
// again files the same entry instead of a second one: a second relay name,
// which reads the log from the start, leaves one entry.
func TestRelayMalformedRowWithoutEventID(t *testing.T) {
	s := newStack(t, 0)
	first := s.startRelay(t, relayConfig(outbox.ProcessorCDC), nil)
	ords := s.newOrders(t, 1)
	ord := ords.list[0]
	if err := s.session.Query(`INSERT INTO outbox.outbox_messages (aggregate_id, sequence, aggregate_type, event_type, payload, committed_at) VALUES (?, 2, 'Order', 'OrderUpdated', 0x7b7d, now())`, nil).
		Bind(ord.ID()).ExecRelease(); err != nil {
		t.Fatal(err)
	}
	dlq := storage.NewDeadLetterStore(s.session, "outbox")
	entries := func() []storage.DeadLetter {
		t.Helper()
		list, err := dlq.List(context.Background(), storage.DeadLetterFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the malformed row's DLQ entry", func() bool { return len(entries()) == 1 })
	entry := entries()[0]
	if entry.EventID == uuid.Nil || entry.ErrorKind != relay.KindMalformed || !strings.Contains(entry.Error, "event_id") || entry.Raw["sequence"] != "2" {
		t.Fatalf("entry: id %s kind %q error %q raw %v", entry.EventID, entry.ErrorKind, entry.Error, entry.Raw)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	cfg := relayConfig(outbox.ProcessorCDC)
	cfg.Name = "second-reader"
	second := s.startRelay(t, cfg, nil)
	defer func() {
		if err := second.stop(); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := s.consume(t, ctx)
	ords.update(t) // sequence 3, after the malformed row in the stream
	waitFor("the event after the malformed row", func() bool { return r.unique() == s.total() })
	if list := entries(); len(list) != 1 || list[0].EventID != entry.EventID {
		ids := make([]uuid.UUID, len(list))
		for i, d := range list {
			ids[i] = d.EventID
		}
		t.Fatalf("after a second read of the log: entries %v, want only %s", ids, entry.EventID)
	}
}
