package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// getJSON fetches an HTTP endpoint of a runtime.
func getJSON(addr, path string) (int, map[string]any, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, nil, err
	}
	var doc map[string]any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return resp.StatusCode, doc, nil
}

// settingsFor are the runtime settings of the tests: the embedded stack's
// addresses, the low-latency relay configuration and HTTP on a free port.
func settingsFor(cqlAddr string, brokers []string, processor string, logger *zap.Logger) Settings {
	return Settings{
		Storage:    storage.Config{Hosts: []string{cqlAddr}, Keyspace: "outbox", Consistency: "ONE", ConnectTimeout: time.Second},
		Messaging:  messaging.Config{Brokers: brokers, Timeout: 2 * time.Second},
		Relay:      relayConfig(processor),
		HTTPListen: "127.0.0.1:0",
		Logger:     logger,
	}
}

// holdProduce holds every produce request at the broker until the
// returned release is called (by the test, or at its end).
func (s *stack) holdProduce(t *testing.T) (release func()) {
	held := make(chan struct{})
	c := s.broker.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-held })
		return nil, nil, false
	})
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	t.Cleanup(release)
	return release
}

// awaitInFlight waits until the runtime's /status shows n events in flight.
func awaitInFlight(t *testing.T, rt *Runtime, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, doc, _ := getJSON(rt.HTTPAddr, "/status")
		if got, _ := doc["in_flight"].(float64); int(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %v: the relay did not read the %d events", doc, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitStatusRole waits until /status reports role.
func awaitStatusRole(t *testing.T, rt *Runtime, role string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, doc, _ := getJSON(rt.HTTPAddr, "/status")
		if doc["role"] == role {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %v: the relay is not %s", doc, role)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func shutdownOnCleanup(t *testing.T, rt *Runtime) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shut down the runtime: %v", err)
		}
	})
}

// A relay started while both ScyllaDB and Kafka are down runs and reports
// not ready, naming both; ScyllaDB comes up (with the schema) and the relay
// starts; orders are written while Kafka is still down, then Kafka comes up
// and more orders are written: every event arrives, none is dead-lettered,
// and the relay becomes ready.
func TestRunStartsWhileScyllaAndKafkaAreDown(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			ctx := context.Background()
			cqlAddr := outboxtest.FreeAddr(t)
			broker := outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{topic}})
			broker.Stop()
			core, logs := observer.New(zap.InfoLevel)
			rt, err := Run(ctx, settingsFor(cqlAddr, broker.Brokers(), proc, zap.New(core)), RunOptions{})
			if err != nil {
				t.Fatalf("Run with both dependencies down: %v", err)
			}
			shutdownOnCleanup(t, rt)
			select {
			case <-rt.Started():
				t.Fatal("Started is closed without ScyllaDB")
			default:
			}
			code, doc, err := getJSON(rt.HTTPAddr, "/readyz")
			if err != nil || code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz: %d %v %v, want 503", code, doc, err)
			}
			failures, _ := doc["failures"].(map[string]any)
			for _, dep := range []string{"scylla", "kafka"} {
				if msg, _ := failures[dep].(string); !strings.Contains(msg, "refused") {
					t.Errorf("/readyz failure %q = %q, want the connection error", dep, msg)
				}
			}
			if code, _, err := getJSON(rt.HTTPAddr, "/healthz"); code != http.StatusOK {
				t.Errorf("/healthz: %d %v, want 200", code, err)
			}

			// The runtime keeps trying, and says so at Warn with the
			// attempt number.
			for deadline := time.Now().Add(30 * time.Second); ; {
				retried := logs.Filter(func(e observer.LoggedEntry) bool {
					return e.Level == zap.WarnLevel && strings.Contains(e.Message, "ScyllaDB does not answer") &&
						e.ContextMap()["attempt"] == int64(2)
				})
				if retried.Len() > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no warning for a second attempt to reach ScyllaDB; logs: %v", logs.All())
				}
				time.Sleep(20 * time.Millisecond)
			}

			session := outboxtest.StartDB(t, outboxtest.WithEmulator(scyllaemu.Options{Listen: cqlAddr})).Session
			select {
			case <-rt.Started():
			case <-rt.Failed():
				t.Fatalf("starting failed once ScyllaDB answered: %v", rt.Err())
			case <-time.After(time.Minute):
				t.Fatal("not started a minute after ScyllaDB came up")
			}

			s := &stack{dbAddr: cqlAddr, broker: broker, session: session,
				store:     storage.NewOrderStore(session, storage.OrderStoreOptions{Keyspace: "outbox"}),
				committed: map[uuid.UUID]time.Time{}, expected: map[uuid.UUID][]uuid.UUID{}}
			s.writeOrders(t, 10, 3, nil) // Kafka still down
			if err := broker.Start(ctx); err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			r := s.consume(t, cctx)
			s.writeOrders(t, 10, 3, nil)
			s.waitAll(t, r, 2*time.Minute)
			if n := dlqCount(t, s); n != 0 {
				t.Fatalf("%d events dead-lettered while the dependencies came up", n)
			}
			for deadline := time.Now().Add(time.Minute); ; {
				code, doc, err := getJSON(rt.HTTPAddr, "/readyz")
				if code == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/readyz still %d %v %v after every event arrived", code, doc, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
			defer scancel()
			if err := rt.Shutdown(sctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}

// Shutting down while still waiting for ScyllaDB is prompt and clean.
func TestShutdownWhileWaitingForScylla(t *testing.T) {
	ctx := context.Background()
	broker := outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{topic}})
	rt, err := Run(ctx, settingsFor(outboxtest.FreeAddr(t), broker.Brokers(), outbox.ProcessorCDC, nil), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rt.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown while waiting: %v", err)
	}
	if sctx.Err() != nil {
		t.Fatal("Shutdown used up its deadline")
	}
	if _, _, err := getJSON(rt.HTTPAddr, "/healthz"); err == nil {
		t.Error("the HTTP server still answers after Shutdown")
	}
	select {
	case <-rt.Started():
		t.Error("Started closed after shutting down while waiting")
	case <-rt.Failed():
		t.Errorf("Failed closed by a shutdown: %v", rt.Err())
	default:
	}
}

// A ScyllaDB that answers without the schema fails Run (or, when it came
// up while the runtime waited, the runtime) with ErrSchemaMissing; an
// invalid setting fails at once with ErrInvalidSettings.
func TestRunSchemaMissingAndInvalidSettings(t *testing.T) {
	ctx := context.Background()
	broker := outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{topic}})
	tests := []struct {
		name string
		// waiting: ScyllaDB starts only after Run returned.
		waiting  bool
		keyspace bool // the keyspace exists, without tables
	}{
		{"keyspace missing at start", false, false},
		{"tables missing at start", false, true},
		{"keyspace missing after waiting", true, false},
		{"tables missing after waiting", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := outboxtest.FreeAddr(t)
			startDB := func() {
				db := outboxtest.StartDB(t, outboxtest.WithEmulator(scyllaemu.Options{Listen: addr}), outboxtest.WithoutSchema())
				if tc.keyspace {
					if err := db.Session.Query(`CREATE KEYSPACE outbox WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`, nil).Exec(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if !tc.waiting {
				startDB()
			}
			rt, err := Run(ctx, settingsFor(addr, broker.Brokers(), outbox.ProcessorCDC, nil), RunOptions{})
			if !tc.waiting {
				if !errors.Is(err, ErrSchemaMissing) || rt != nil {
					t.Fatalf("Run = %v, %v; want ErrSchemaMissing", rt, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			shutdownOnCleanup(t, rt)
			startDB()
			select {
			case <-rt.Failed():
			case <-rt.Started():
				t.Fatal("started without the schema")
			case <-time.After(time.Minute):
				t.Fatal("no failure a minute after ScyllaDB came up")
			}
			if !errors.Is(rt.Err(), ErrSchemaMissing) {
				t.Fatalf("Err() = %v, want ErrSchemaMissing", rt.Err())
			}
			code, doc, _ := getJSON(rt.HTTPAddr, "/readyz")
			if msg, _ := doc["failures"].(map[string]any)["scylla"].(string); code != http.StatusServiceUnavailable || !strings.Contains(msg, "migrate") {
				t.Fatalf("/readyz after the failure: %d %v, want 503 naming the missing schema", code, doc)
			}
		})
	}

	s := settingsFor(outboxtest.FreeAddr(t), broker.Brokers(), "magic", nil)
	if _, err := Run(ctx, s, RunOptions{}); !errors.Is(err, ErrInvalidSettings) {
		t.Errorf("Run(unknown processor) = %v, want ErrInvalidSettings", err)
	}
	s = settingsFor(outboxtest.FreeAddr(t), broker.Brokers(), outbox.ProcessorCDC, nil)
	s.Storage.TLS = &storage.TLSConfig{CAFile: "/does/not/exist.pem"}
	if _, err := Run(ctx, s, RunOptions{}); !errors.Is(err, ErrInvalidSettings) {
		t.Errorf("Run(missing CA file) = %v, want ErrInvalidSettings", err)
	}
}

// A window that does not exceed the write timeout is refused on a cluster
// other than the emulator, once the relay has read the cluster's name, as
// an invalid setting naming the window; the emulator's name exempts it.
func TestRunRefusesAnUnsafeWindowOnARealCluster(t *testing.T) {
	broker := outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{topic}})
	tests := []struct {
		name, processor, cluster string
		setting                  string // empty: the relay starts
	}{
		{"cdc on another cluster", outbox.ProcessorCDC, "prod-eu1", "cdc.confidence_window"},
		{"polling on another cluster", outbox.ProcessorPolling, "prod-eu1", "polling.safety_window"},
		{"cdc on the emulator", outbox.ProcessorCDC, "", ""},
		{"polling on the emulator", outbox.ProcessorPolling, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := outboxtest.StartDB(t, outboxtest.WithEmulator(scyllaemu.Options{ClusterName: tc.cluster}))
			s := settingsFor(db.Addr, broker.Brokers(), tc.processor, nil)
			s.Relay.WriteTimeout = 2 * time.Second
			s.Relay.Polling.SafetyWindow = s.Relay.WriteTimeout // the low-latency CDC window is 10 ms
			rt, err := Run(context.Background(), s, RunOptions{})
			if tc.setting == "" {
				if err != nil {
					t.Fatalf("Run on the emulator: %v", err)
				}
				shutdownOnCleanup(t, rt)
				select {
				case <-rt.Started():
				case <-rt.Failed():
					t.Fatalf("the relay failed on the emulator: %v", rt.Err())
				case <-time.After(time.Minute):
					t.Fatal("the relay did not start on the emulator within a minute")
				}
				return
			}
			if rt != nil || !errors.Is(err, ErrUnsafeWindow) || !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), tc.setting) {
				t.Fatalf("Run = %v, %v; want ErrUnsafeWindow and ErrInvalidSettings naming %s", rt, err, tc.setting)
			}
		})
	}
}

// A session timeout the brokers refuse (below their
// group.min.session.timeout.ms) cannot work however long the relay retries:
// the runtime fails with an invalid-settings error naming the setting.
func TestRunFailsOnRefusedSessionTimeout(t *testing.T) {
	s := newStack(t, 0)
	cfg := settingsFor(s.dbAddr, s.broker.Brokers(), outbox.ProcessorCDC, nil)
	cfg.Relay.Election.SessionTimeout = outboxtest.BrokerMinSessionTimeout / 2
	cfg.Relay.Election.HeartbeatInterval = cfg.Relay.Election.SessionTimeout / 5
	rt, err := Run(context.Background(), cfg, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	shutdownOnCleanup(t, rt)
	select {
	case <-rt.Failed():
	case <-time.After(30 * time.Second):
		t.Fatal("the runtime keeps running with a session timeout the broker refuses")
	}
	if err := rt.Err(); !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), "relay.election.session_timeout") {
		t.Fatalf("Err() = %v, want ErrInvalidSettings naming relay.election.session_timeout", err)
	}
}

// Shutdown drains before it closes HTTP: while an event is held in flight
// at the broker, /readyz answers 503 "draining" and /metrics and /status
// still answer; once the broker lets it through, the drain publishes every
// in-flight event, and only then does the server close.
func TestShutdownDrainsBeforeClosingHTTP(t *testing.T) {
	s := newStack(t, 0)
	cfg := settingsFor(s.dbAddr, s.broker.Brokers(), outbox.ProcessorCDC, nil)
	cfg.Relay.Processing.DrainTimeout = time.Minute
	rt, err := Run(context.Background(), cfg, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	shutdownOnCleanup(t, rt)

	releaseOnce := s.holdProduce(t)
	s.writeOrders(t, 3, 2, nil)
	awaitInFlight(t, rt, s.total())

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stopped <- rt.Shutdown(ctx)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, doc, err := getJSON(rt.HTTPAddr, "/readyz")
		if err != nil {
			t.Fatalf("/readyz during the drain: %v (the HTTP server closed before the drain)", err)
		}
		if code == http.StatusServiceUnavailable && doc["status"] == "draining" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %v, want 503 draining", code, doc)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _, err := getJSON(rt.HTTPAddr, "/metrics"); code != http.StatusOK {
		t.Errorf("/metrics during the drain: %d %v", code, err)
	}
	code, doc, err := getJSON(rt.HTTPAddr, "/status")
	if n, _ := doc["in_flight"].(float64); code != http.StatusOK || n == 0 {
		t.Errorf("/status during the drain: %d %v %v, want 200 with events in flight", code, doc, err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) while events were held in flight", err)
	default:
	}

	releaseOnce()
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, _, err := getJSON(rt.HTTPAddr, "/healthz"); err == nil {
		t.Error("the HTTP server still answers after Shutdown")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.waitAll(t, s.consume(t, ctx), 30*time.Second)
}

// A graceful shutdown that cannot save the progress of the events it
// published says so: Shutdown returns the failure (and `outbox relay`
// exits non-zero), instead of a clean result after which a restart
// publishes those events again unannounced. The events are acknowledged by
// Kafka only after ScyllaDB is gone, so no save can have covered them.
func TestShutdownReportsUnsavedProgress(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newStack(t, 0)
			rt, err := Run(context.Background(), settingsFor(s.dbAddr, s.broker.Brokers(), proc, nil), RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			release := s.holdProduce(t)
			s.writeOrders(t, 2, 2, nil)
			awaitInFlight(t, rt, s.total())
			if err := s.db.Server.Close(); err != nil {
				t.Fatal(err)
			}
			release()
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err = rt.Shutdown(sctx)
			if err == nil || !strings.Contains(err.Error(), "drain") || !strings.Contains(err.Error(), "saving") {
				t.Fatalf("Shutdown with ScyllaDB gone = %v, want the failed progress save", err)
			}
		})
	}
}
