package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scylla-outbox/scylla-outbox/httpapi"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// awaitRelayInFlight waits until the relay's processor has n events in
// flight (read and not finished).
func awaitRelayInFlight(t *testing.T, r *Relay, n int) {
	t.Helper()
	awaitStatus(t, r, fmt.Sprintf("%d events in flight", n), func(st *httpapi.RelayState) (string, bool) {
		if st.Processing == nil {
			return "no processor", false
		}
		return fmt.Sprintf("%d in flight", st.Processing.InFlight), st.Processing.InFlight == n
	})
}

// awaitPublished waits until the relay's registry counts n events
// published by proc, and fails if it counts more.
func awaitPublished(t *testing.T, rr *runningRelay, proc string, n int) {
	t.Helper()
	labels := map[string]string{"processor": proc}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := counterValue(t, rr.reg, "outbox_events_published_total", labels)
		if got == float64(n) {
			return
		}
		if got > float64(n) || time.Now().After(deadline) {
			t.Fatalf("outbox_events_published_total = %v, want %d", got, n)
		}
	}
}

// A graceful stop whose drain times out (relay.drain_timeout, here 1 s)
// while the broker holds every publish: the events not finished by the
// deadline are not acknowledged, so the next relay reads and publishes
// every one of them again. The held publishes land once the broker lets
// them through: those copies are duplicates with the same event id.
func TestRelayDrainTimeoutLeavesEventsUnacknowledged(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			cfg := relayConfig(proc)
			cfg.Processing.DrainTimeout = time.Second
			first := s.startRelay(t, cfg, nil)
			release := s.holdProduce(t)
			s.writeOrders(t, 5, 2, nil)
			awaitRelayInFlight(t, first.relay, s.total())

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := first.sys.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown with the drain timing out: %v", err)
			}
			if n := counterValue(t, first.reg, "outbox_events_published_total", map[string]string{"processor": proc}); n != 0 {
				t.Fatalf("%v events published while the broker held every publish", n)
			}
			release()
			// The stopped relay's producer delivers what it had sent.
			if err := first.pub.Close(); err != nil {
				t.Fatalf("close the first relay's publisher: %v", err)
			}

			second := s.startRelay(t, cfg, nil)
			awaitPublished(t, second, proc, s.total())
			cctx, ccancel := context.WithCancel(context.Background())
			defer ccancel()
			r := s.consume(t, cctx)
			s.waitAll(t, r, time.Minute)
			if n := dlqCount(t, s); n != 0 {
				t.Fatalf("%d events dead-lettered", n)
			}
			t.Logf("%s: %d events in flight at the drain deadline, all published again by the next relay; %d duplicates (same event ids)",
				proc, s.total(), r.duplicates())
		})
	}
}

// awaitDB waits until the test's session reads from the database again
// after a restart (gocql reconnects in the background).
func (s *stack) awaitDB(t *testing.T) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var key string
		if err = s.session.Query(`SELECT key FROM system.local WHERE key = 'local'`, nil).Scan(&key); err == nil {
			return
		}
	}
	t.Fatalf("the session does not reach the restarted database: %v", err)
}

// recoverFromOutage restarts the stopped database on its data, writes
// more with write, and checks what the README promises of a ScyllaDB
// outage: every event arrives, in order, none twice (dupCause says why a
// duplicate would be a bug), nothing is dead-lettered, and the relay's
// processor reads again.
func (s *stack) recoverFromOutage(t *testing.T, r *received, relay *Relay, write func(), dupCause string) {
	t.Helper()
	if err := s.db.Restart(); err != nil {
		t.Fatal(err)
	}
	s.awaitDB(t)
	write()
	s.waitAll(t, r, time.Minute)
	if n := r.duplicates(); n != 0 {
		t.Errorf("%d duplicates after a ScyllaDB outage: %s", n, dupCause)
	}
	if n := dlqCount(t, s); n != 0 {
		t.Errorf("%d events dead-lettered by a ScyllaDB outage", n)
	}
	awaitReading(t, relay)
}

// awaitReading waits until the relay's processor reports its source read.
func awaitReading(t *testing.T, r *Relay) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := r.Status(ctx)
		cancel()
		if err == nil && st.Processing != nil && st.Processing.Reading {
			return
		}
	}
	t.Fatal("the relay's processor does not read after 30s")
}

// ScyllaDB goes down while the relay streams events, stays down for 3 s and
// comes back on the same address with its data: every event written before
// and after the outage arrives, in order per order, none twice (an outage
// is not among the README's causes of duplicates), nothing is
// dead-lettered, and the processor reads again. The CDC reader rides the
// outage out: scylla-cdc-go retries failed queries itself, so the reader
// does not stop (TestRelayCDCReaderRestartsAfterScyllaOutage makes it stop).
func TestRelayScyllaOutage(t *testing.T) {
	const outage = 3 * time.Second
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0, outboxtest.WithEmulator(scyllaemu.Options{DataDir: t.TempDir()}))
			rr := s.startRelay(t, relayConfig(proc), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)

			s.writeOrders(t, 20, 5, nil)
			for deadline := time.Now().Add(30 * time.Second); r.unique() < s.total(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d events arrived before the outage", r.unique(), s.total())
				}
			}
			// Stopped as soon as these writes are acknowledged: the relay
			// is still reading and publishing them.
			s.writeOrders(t, 40, 10, nil)
			if err := s.db.Stop(); err != nil {
				t.Fatal(err)
			}
			stoppedAt := r.unique()
			time.Sleep(outage)
			s.recoverFromOutage(t, r, rr.relay, func() { s.writeOrders(t, 20, 5, nil) }, "an outage is not a cause of duplicates")
			t.Logf("%s: %d of %d events had arrived when ScyllaDB stopped for %s; all arrived", proc, stoppedAt, s.total(), outage)
		})
	}
}

// cdcLines takes scylla-cdc-go's log (cdc.ReaderConfig.Logger) and passes
// on the lines containing match, for tests that wait for a step of the
// library's reader; lines nobody waits for are dropped.
type cdcLines struct {
	match string
	seen  chan string
}

func (l *cdcLines) Printf(format string, v ...any) {
	line := fmt.Sprintf(format, v...)
	if strings.Contains(line, l.match) {
		select {
		case l.seen <- line:
		default:
		}
	}
}

// ScyllaDB goes down at the moment the CDC reader fails for it: at a CDC
// generation switch, after the old generation's streams were read and
// while the generation barrier waits for their events (held at the
// broker), so that making the new generation current fails and
// scylla-cdc-go's Run returns. The processor logs "CDC reader stopped;
// restarting it" (the runbook's line) and keeps restarting the reader
// until ScyllaDB is back; then every event of both generations arrives, in
// order per order, and — a reader restarted inside the process re-delivers
// nothing (README) — none twice. Nothing is dead-lettered.
//
// scylla-cdc-go looks for new generations every 15 s, hence the test's
// length.
func TestRelayCDCReaderRestartsAfterScyllaOutage(t *testing.T) {
	if outboxtest.Tablets() {
		t.Skip("a generation switch of vnodes keyspaces")
	}
	s := newStack(t, 0, outboxtest.WithEmulator(scyllaemu.Options{DataDir: t.TempDir()}))
	core, logs := observer.New(zap.InfoLevel)
	logger := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Core()))
	cfg := relayConfig(outbox.ProcessorCDC)
	switched := &cdcLines{match: "starting reading generation", seen: make(chan string, 8)}
	cfg.CDC.Logger = switched
	rr := s.startRelay(t, cfg, logger)
	awaitLine := func(what string) {
		t.Helper()
		select {
		case line := <-switched.seen:
			t.Logf("scylla-cdc-go: %s", line)
		case <-time.After(40 * time.Second):
			t.Fatalf("scylla-cdc-go did not start reading the %s within 40 s", what)
		}
	}
	awaitLine("first generation")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := s.consume(t, ctx)

	ords := s.newOrders(t, 20)
	for deadline := time.Now().Add(30 * time.Second); r.unique() < s.total(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events arrived", r.unique(), s.total())
		}
	}
	release := s.holdProduce(t)
	ords.update(t) // old generation, held in flight at the broker
	gen, err := s.db.NewStreams(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(gen) + time.Millisecond)
	ords.update(t) // the new generation's streams

	awaitLine("new generation")
	// The switch waits at the barrier for the held events: stop ScyllaDB,
	// then let them through, so that the switch's write fails.
	if err := s.db.Stop(); err != nil {
		t.Fatal(err)
	}
	release()
	for deadline := time.Now().Add(30 * time.Second); logs.FilterMessage("CDC reader stopped; restarting it").Len() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf(`%d "CDC reader stopped; restarting it" log lines with ScyllaDB down, want a failure and a failed restart`,
				logs.FilterMessage("CDC reader stopped; restarting it").Len())
		}
	}
	s.recoverFromOutage(t, r, rr.relay, func() { ords.update(t) }, "the restarted reader delivered again what the previous one had")
	line := logs.FilterMessage("CDC reader stopped; restarting it").All()[0].ContextMap()
	t.Logf("reader restarts: %d; the first: %v; all %d events arrived", logs.FilterMessage("CDC reader stopped; restarting it").Len(), line["error"], s.total())
}
