package actors

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/metrics"
)

func spawnMetrics(t *testing.T, sys *System, cfg MetricsConfig) *actor.PID {
	t.Helper()
	props, err := NewMetricsProps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := sys.Spawn(props, "metrics")
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// metricsAddr asks the metrics actor for its address. Being a request from
// the root context, it also waits until everything the test sent before has
// been handled.
func metricsAddr(t *testing.T, sys *System, pid *actor.PID) string {
	t.Helper()
	res, err := sys.Root().RequestFuture(pid, &GetMetricsAddr{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	return res.(*MetricsAddr).Addr
}

// read returns the value of a counter or gauge series, or the sample count
// of a histogram series, and whether it exists. The module does not carry
// testutil's diff dependency, so tests read the registry directly.
func read(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsMatch(m.GetLabel(), labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func labelsMatch(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, lp := range got {
		if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
			return false
		}
	}
	return true
}

func TestMetricsActorUpdatesRegistry(t *testing.T) {
	sys, _ := newTestSystem(t)
	reg := prometheus.NewPedanticRegistry()
	pid := spawnMetrics(t, sys, MetricsConfig{Metrics: metrics.New(reg)})
	commit := time.Now().Add(-2 * time.Second)

	type series struct {
		name   string
		labels map[string]string
		value  float64
	}
	et := func(v string) map[string]string { return map[string]string{"event_type": v} }
	tests := []struct {
		msg  any
		want []series
	}{
		{&EventFailed{EventType: "Mystery"}, []series{{"cdc_events_failed_total", et("other"), 1}}},
		{&EventsPublished{Processor: "cdc", AckedAt: commit.Add(time.Second), Events: []AckedEvent{
			{EventType: "OrderUpdated", CommittedAt: commit},
			{EventType: "OrderUpdated", CommittedAt: commit.Add(-time.Millisecond)},
			{EventType: "OrderCancelled"}, // commit time unknown: counted, no latency
		}}, []series{
			{"outbox_events_published_total", map[string]string{"processor": "cdc", "event_type": "OrderUpdated"}, 2},
			{"outbox_events_published_total", map[string]string{"processor": "cdc", "event_type": "OrderCancelled"}, 1},
			{"outbox_end_to_end_latency_seconds", nil, 2},
			{"cdc_events_processed_total", et("OrderUpdated"), 2},
			{"cdc_processing_duration_seconds", et("OrderUpdated"), 2},
		}},
		{&DuplicateSkipped{}, []series{{"outbox_duplicates_total", nil, 1}}},
		{&RetryAttempted{EventType: "OrderCreated"}, []series{{"retry_attempts_total", et("OrderCreated"), 1}}},
		{&RetrySucceeded{EventType: "OrderCreated"}, []series{{"retry_success_total", et("OrderCreated"), 1}}},
		{&RetryExhausted{EventType: "OrderCancelled"}, []series{{"retry_failure_total", et("OrderCancelled"), 1}}},
		{&BreakerTransition{From: metrics.BreakerClosed, To: metrics.BreakerOpen}, []series{
			{"circuit_breaker_state", nil, 1},
			{"circuit_breaker_transitions_total", map[string]string{"from": "closed", "to": "open"}, 1},
		}},
		{&DLQWritten{EventType: "OrderCreated"}, []series{
			{"dlq_messages_total", nil, 1},
			{"dlq_messages_by_event_type", et("OrderCreated"), 1},
		}},
		{&DLQSize{N: 3}, []series{{"outbox_dlq_size", nil, 3}}},
		{&InFlight{N: 9}, []series{{"outbox_events_in_flight", nil, 9}}},
		{&ActorRestarted{Actor: "orders/order"}, []series{{"actor_restarts_total", map[string]string{"actor": "orders/order"}, 1}}},
		{&CommandHandled{Command: metrics.CommandCreate, Result: metrics.ResultOK, Duration: time.Millisecond}, []series{
			{"orders_commands_total", map[string]string{"command": "create", "result": "ok"}, 1},
			{"orders_command_duration_seconds", map[string]string{"command": "create"}, 1},
		}},
	}
	for _, tc := range tests {
		sys.Root().Send(pid, tc.msg)
	}
	metricsAddr(t, sys, pid)
	for _, tc := range tests {
		for _, s := range tc.want {
			if got, ok := read(t, reg, s.name, s.labels); !ok || got != s.value {
				t.Errorf("after %T: %s%v = %v (present %v), want %v", tc.msg, s.name, s.labels, got, ok, s.value)
			}
		}
	}
	if lag, _ := read(t, reg, "outbox_processing_lag_seconds", nil); lag < 2 {
		t.Errorf("outbox_processing_lag_seconds = %v, want at least 2", lag)
	}
}

func TestOrderCommandsAreCounted(t *testing.T) {
	sys, _ := newTestSystem(t)
	reg := prometheus.NewRegistry()
	mpid := spawnMetrics(t, sys, MetricsConfig{Metrics: metrics.New(reg)})
	pid := spawnOrders(t, sys, newFakeStore(), func(c *OrderConfig) { c.Metrics = mpid })
	id := mustCreate(t, sys, pid)
	if _, err := ask(t, sys, pid, &CreateOrder{OrderID: id, Items: items(1)}); err == nil {
		t.Fatal("second create succeeded")
	}
	want := []struct {
		command, result string
	}{
		{metrics.CommandCreate, metrics.ResultOK},
		{metrics.CommandCreate, metrics.ResultExists},
	}
	waitFor(t, "both commands counted", func() bool {
		for _, w := range want {
			if v, _ := read(t, reg, "orders_commands_total", map[string]string{"command": w.command, "result": w.result}); v != 1 {
				return false
			}
		}
		return true
	})
}

func TestMetricsActorServesHTTPWhileRunning(t *testing.T) {
	core, logs := observerCore()
	sys := NewSystem(zap.New(core))
	reg := prometheus.NewRegistry()
	pid := spawnMetrics(t, sys, MetricsConfig{
		Metrics: metrics.New(reg), Gatherer: reg, ListenAddr: "127.0.0.1:0", Logger: zap.New(core),
	})
	sys.Root().Send(pid, &InFlight{N: 4})
	addr := metricsAddr(t, sys, pid)
	if addr == "" || logs.FilterMessage("metrics server listening").Len() != 1 {
		t.Fatalf("no listener: addr %q", addr)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	if !strings.Contains(string(body), "outbox_events_in_flight 4") {
		t.Errorf("/metrics lacks outbox_events_in_flight 4:\n%s", body)
	}

	if err := sys.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("metrics server still answering after shutdown")
	}
}

func TestMetricsActorKeepsCollectingWhenListenFails(t *testing.T) {
	sys, _ := newTestSystem(t)
	core, logs := observerCore()
	reg := prometheus.NewRegistry()
	pid := spawnMetrics(t, sys, MetricsConfig{
		Metrics: metrics.New(reg), Gatherer: reg, ListenAddr: "256.0.0.1:0", Logger: zap.New(core),
	})
	sys.Root().Send(pid, &DLQSize{N: 2})
	if addr := metricsAddr(t, sys, pid); addr != "" {
		t.Errorf("addr = %q, want none", addr)
	}
	if logs.FilterMessage("metrics server cannot listen; metrics are collected but not served").Len() != 1 {
		t.Error("listen failure not logged")
	}
	if v, _ := read(t, reg, "outbox_dlq_size", nil); v != 2 {
		t.Errorf("outbox_dlq_size = %v, want 2", v)
	}
}

func TestNewMetricsPropsValidates(t *testing.T) {
	m := metrics.New(nil)
	tests := []struct {
		name string
		cfg  MetricsConfig
		ok   bool
	}{
		{"collect only", MetricsConfig{Metrics: m}, true},
		{"serve", MetricsConfig{Metrics: m, ListenAddr: ":0", Gatherer: prometheus.NewRegistry()}, true},
		{"no metrics", MetricsConfig{}, false},
		{"serve without gatherer", MetricsConfig{Metrics: m, ListenAddr: ":0"}, false},
		{"negative shutdown timeout", MetricsConfig{Metrics: m, ShutdownTimeout: -time.Second}, false},
	}
	for _, tc := range tests {
		if _, err := NewMetricsProps(tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
