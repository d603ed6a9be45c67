package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// series identifies one time series in a gather.
type series struct {
	name   string
	labels map[string]string
}

// read returns the value of a counter or gauge series, or the sample count
// of a histogram series, and whether the series exists. The module does not
// carry testutil's diff dependency, so tests read the registry directly.
func read(t *testing.T, g prometheus.Gatherer, s series) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != s.name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsEqual(m.GetLabel(), s.labels) {
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

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
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

func TestUpdates(t *testing.T) {
	commit := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	type want struct {
		series
		value float64
	}
	s := func(name string, kv ...string) series {
		l := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return series{name, l}
	}
	tests := []struct {
		name   string
		update func(m *Metrics)
		want   []want
	}{
		{
			name:   "processed",
			update: func(m *Metrics) { m.EventProcessed("OrderCreated", 3*time.Millisecond) },
			want: []want{
				{s("cdc_events_processed_total", "event_type", "OrderCreated"), 1},
				{s("cdc_processing_duration_seconds", "event_type", "OrderCreated"), 1},
			},
		},
		{
			name:   "failed clamps unknown event types",
			update: func(m *Metrics) { m.EventFailed("CustomerDeleted"); m.EventFailed("") },
			want:   []want{{s("cdc_events_failed_total", "event_type", "other"), 2}},
		},
		{
			name: "retries",
			update: func(m *Metrics) {
				m.RetryAttempted("OrderUpdated")
				m.RetryAttempted("OrderUpdated")
				m.RetrySucceeded("OrderUpdated")
				m.RetryExhausted("OrderCancelled")
			},
			want: []want{
				{s("retry_attempts_total", "event_type", "OrderUpdated"), 2},
				{s("retry_success_total", "event_type", "OrderUpdated"), 1},
				{s("retry_failure_total", "event_type", "OrderCancelled"), 1},
			},
		},
		{
			name:   "dead-letter writes",
			update: func(m *Metrics) { m.DLQWritten("OrderCancelled"); m.DLQWritten("Unknown"); m.SetDLQSize(4) },
			want: []want{
				{s("dlq_messages_total"), 2},
				{s("dlq_messages_by_event_type", "event_type", "OrderCancelled"), 1},
				{s("dlq_messages_by_event_type", "event_type", "other"), 1},
				{s("outbox_dlq_size"), 4},
			},
		},
		{
			name: "breaker state is the last transition's target",
			update: func(m *Metrics) {
				m.BreakerTransition(BreakerClosed, BreakerOpen)
				m.BreakerTransition(BreakerOpen, BreakerHalfOpen)
				m.BreakerTransition(BreakerHalfOpen, BreakerOpen)
				m.BreakerTransition(BreakerOpen, BreakerHalfOpen)
			},
			want: []want{
				{s("circuit_breaker_state"), 2},
				{s("circuit_breaker_transitions_total", "from", "closed", "to", "open"), 1},
				{s("circuit_breaker_transitions_total", "from", "open", "to", "half_open"), 2},
				{s("circuit_breaker_transitions_total", "from", "half_open", "to", "open"), 1},
			},
		},
		{
			name: "published; latency skips unknown commit times",
			update: func(m *Metrics) {
				m.EventPublished("cdc", "OrderCreated", commit, commit.Add(40*time.Second))
				m.EventPublished("cdc", "OrderCreated", time.Time{}, commit)
				m.EventPublished("cdc", "OrderUpdated", commit, commit.Add(-time.Second))
			},
			want: []want{
				{s("outbox_events_published_total", "processor", "cdc", "event_type", "OrderCreated"), 2},
				{s("outbox_events_published_total", "processor", "cdc", "event_type", "OrderUpdated"), 1},
				{s("outbox_end_to_end_latency_seconds"), 2},
			},
		},
		{
			name:   "in flight and duplicates",
			update: func(m *Metrics) { m.SetInFlight(7); m.SetInFlight(3); m.DuplicateSkipped() },
			want: []want{
				{s("outbox_events_in_flight"), 3},
				{s("outbox_duplicates_total"), 1},
			},
		},
		{
			name: "relay leadership",
			update: func(m *Metrics) {
				m.SetRelayActive("outbox-relay", false)
				m.LeadershipChanged("outbox-relay", true)
				m.LeadershipChanged("outbox-relay", false)
				m.LeadershipChanged("outbox-relay", true)
			},
			want: []want{
				{s("relay_active", "relay", "outbox-relay"), 1},
				{s("relay_leadership_changes_total", "relay", "outbox-relay"), 3},
			},
		},
		{
			name:   "actor restarts",
			update: func(m *Metrics) { m.ActorRestarted("orders/order"); m.ActorRestarted("orders") },
			want: []want{
				{s("actor_restarts_total", "actor", "orders"), 1},
				{s("actor_restarts_total", "actor", "orders/order"), 1},
			},
		},
		{
			name: "commands",
			update: func(m *Metrics) {
				m.CommandHandled(CommandCreate, ResultOK, time.Millisecond)
				m.CommandHandled(CommandUpdate, ResultConflict, time.Millisecond)
				m.CommandHandled(CommandUpdate, ResultConflict, time.Millisecond)
			},
			want: []want{
				{s("orders_commands_total", "command", "create", "result", "ok"), 1},
				{s("orders_commands_total", "command", "update", "result", "conflict"), 2},
				{s("orders_command_duration_seconds", "command", "update"), 2},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			tc.update(New(reg))
			for _, w := range tc.want {
				got, ok := read(t, reg, w.series)
				if !ok || got != w.value {
					t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, got, ok, w.value)
				}
			}
		})
	}
}

func TestEndToEndLatencyClampsClockSkew(t *testing.T) {
	m := New(nil)
	commit := time.Now()
	m.EventPublished("cdc", "OrderCreated", commit, commit.Add(-time.Second))
	var d dto.Metric
	if err := m.endToEnd.(prometheus.Metric).Write(&d); err != nil {
		t.Fatal(err)
	}
	if h := d.GetHistogram(); h.GetSampleSum() != 0 || h.GetSampleCount() != 1 {
		t.Errorf("sum %v count %d, want 0 and 1", h.GetSampleSum(), h.GetSampleCount())
	}
}

func TestProcessingLagGrowsFromNewestCommit(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	lag := series{name: "outbox_processing_lag_seconds", labels: map[string]string{}}
	if got, _ := read(t, reg, lag); got != 0 {
		t.Errorf("lag before any publish = %v, want 0", got)
	}
	now := time.Now()
	m.EventPublished("cdc", "OrderCreated", now.Add(-30*time.Second), now)
	// An older event published late must not pull the lag back.
	m.EventPublished("cdc", "OrderCreated", now.Add(-90*time.Second), now)
	if got, _ := read(t, reg, lag); got < 30 || got > 40 {
		t.Errorf("lag = %v, want about 30", got)
	}
}

func TestHandlerServesRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg).CommandHandled(CommandCancel, ResultCancelled, time.Millisecond)
	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := `orders_commands_total{command="cancel",result="cancelled"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("body lacks %q:\n%s", want, body)
	}
}

// TestNamingLint runs the Prometheus naming linter over every metric. The
// only accepted finding is dlq_messages_by_event_type, a counter without the
// _total suffix, whose name dashboards built for the original system use.
func TestNamingLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	// Vectors appear in a gather only once they have a series.
	m.EventProcessed("OrderCreated", 0)
	m.EventFailed("OrderCreated")
	m.RetryAttempted("OrderCreated")
	m.RetrySucceeded("OrderCreated")
	m.RetryExhausted("OrderCreated")
	m.DLQWritten("OrderCreated")
	m.BreakerTransition(BreakerClosed, BreakerOpen)
	m.ActorRestarted("orders")
	m.EventPublished("cdc", "OrderCreated", time.Now(), time.Now())
	m.CommandHandled(CommandCreate, ResultOK, 0)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 19 {
		t.Errorf("gathered %d metric families, want 19", len(mfs))
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if p.Metric == "dlq_messages_by_event_type" && strings.Contains(p.Text, "_total") {
			continue
		}
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestRegisteringTwiceOnOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(reg)
}

func TestBreakerStateString(t *testing.T) {
	for s, want := range map[BreakerState]string{
		BreakerClosed: "closed", BreakerOpen: "open", BreakerHalfOpen: "half_open", 7: "unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", s, got, want)
		}
	}
}
