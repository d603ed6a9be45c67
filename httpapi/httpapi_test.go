package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/leader"
)

type fakeRelay struct {
	st  *RelayState
	err error
}

func (f fakeRelay) Status(context.Context) (*RelayState, error) { return f.st, f.err }

// active is the state of the active relay with processor p.
func active(p *actors.ProcessorStatus) *RelayState {
	return &RelayState{Processor: "cdc", Leader: actors.LeaderStatus{Relay: "r", Role: "active", Member: "host:1",
		Holder: leader.Holder{Epoch: 3, Member: "host:1", Since: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}}, Processing: p}
}

// standby is the state of a standby relay whose name host:2 holds.
func standby(role string) *RelayState {
	return &RelayState{Processor: "cdc", Leader: actors.LeaderStatus{Relay: "r", Role: role, Member: "host:1",
		Holder: leader.Holder{Epoch: 3, Member: "host:2"}}}
}

func get(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("GET %s: %d %q: %v", path, rec.Code, rec.Body, err)
	}
	return rec.Code, doc
}

func TestReadiness(t *testing.T) {
	healthy := active(&actors.ProcessorStatus{Processor: "cdc", Reading: true, Breaker: "closed"})
	failing := Check{Name: "scylla", Fn: func(context.Context) error { return errors.New("no hosts") }}
	passing := Check{Name: "kafka", Fn: func(context.Context) error { return nil }}
	tests := []struct {
		name     string
		relay    StatusSource
		checks   []Check
		draining bool
		code     int
		status   string
		failing  string
	}{
		{"all good", fakeRelay{st: healthy}, []Check{passing}, false, http.StatusOK, "ready", ""},
		{"dependency down", fakeRelay{st: healthy}, []Check{passing, failing}, false, http.StatusServiceUnavailable, "not ready", "scylla"},
		{"reader stopped", fakeRelay{st: active(&actors.ProcessorStatus{Reading: false, Breaker: "closed"})}, nil, false, http.StatusServiceUnavailable, "not ready", "reader"},
		{"breaker open", fakeRelay{st: active(&actors.ProcessorStatus{Reading: true, Breaker: "open"})}, nil, false, http.StatusServiceUnavailable, "not ready", "breaker"},
		{"standby", fakeRelay{st: standby("standby")}, []Check{passing}, false, http.StatusOK, "ready", ""},
		{"fenced, about to stand by", fakeRelay{st: standby("fenced")}, []Check{passing}, false, http.StatusOK, "ready", ""},
		{"left its group", fakeRelay{st: standby("stopped")}, []Check{passing}, false, http.StatusServiceUnavailable, "not ready", "relay"},
		{"relay unresponsive", fakeRelay{err: errors.New("timeout")}, nil, false, http.StatusServiceUnavailable, "not ready", "relay"},
		{"draining", fakeRelay{st: healthy}, []Check{passing}, true, http.StatusServiceUnavailable, "draining", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			draining := func() bool { return tc.draining }
			code, doc := get(t, NewHandler(Options{Relay: tc.relay, Checks: tc.checks, Draining: draining}), "/readyz")
			if code != tc.code || doc["status"] != tc.status {
				t.Fatalf("code %d %v, want %d %q", code, doc, tc.code, tc.status)
			}
			if tc.failing != "" {
				if _, ok := doc["failures"].(map[string]any)[tc.failing]; !ok {
					t.Fatalf("failures %v lack %q", doc["failures"], tc.failing)
				}
			}
		})
	}
	if code, _ := get(t, NewHandler(Options{}), "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
}

func TestStatusDocument(t *testing.T) {
	committed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &actors.ProcessorStatus{Processor: "polling", Reading: true, Breaker: "half-open", InFlight: 7, Lag: 1500 * time.Millisecond,
		LastPublished: &actors.PublishedEvent{EventID: uuid.New(), Sequence: 4, EventType: "OrderUpdated", CommittedAt: committed}}
	state := active(st)
	state.Processor = "polling"
	h := NewHandler(Options{Relay: fakeRelay{st: state}, DLQSize: func(context.Context) (int, error) { return 2, nil }})
	code, doc := get(t, h, "/status")
	if code != http.StatusOK || doc["processor"] != "polling" || doc["breaker"] != "half-open" || doc["role"] != "active" ||
		doc["relay"] != "r" || doc["member"] != "host:1" ||
		doc["in_flight"].(float64) != 7 || doc["lag_seconds"].(float64) != 1.5 || doc["dlq_size"].(float64) != 2 {
		t.Fatalf("status %d %v", code, doc)
	}
	if last := doc["last_published"].(map[string]any); last["sequence"].(float64) != 4 {
		t.Fatalf("last_published %v", last)
	}
	if l := doc["leader"].(map[string]any); l["member"] != "host:1" || l["epoch"].(float64) != 3 || l["since"] != "2026-01-02T03:00:00Z" {
		t.Fatalf("leader %v", l)
	}

	// Before the relay has started it has no status: 503 with the reason.
	code, doc = get(t, NewHandler(Options{Relay: fakeRelay{err: errors.New("the relay has not started")}}), "/status")
	if code != http.StatusServiceUnavailable || doc["error"] != "the relay has not started" {
		t.Fatalf("status before the start %d %v", code, doc)
	}

	code, doc = get(t, NewHandler(Options{Relay: fakeRelay{st: standby("standby")}}), "/status")
	if code != http.StatusOK || doc["role"] != "standby" || doc["reading"] != false || doc["in_flight"].(float64) != 0 ||
		doc["leader"].(map[string]any)["member"] != "host:2" {
		t.Fatalf("standby status %d %v", code, doc)
	}
}

func TestCommandErrorsMapToHTTP(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{&domain.ValidationError{Field: "items", Reason: "empty", Err: domain.ErrNoItems}, http.StatusUnprocessableEntity},
		{fmt.Errorf("wrapped: %w", actors.ErrOrderNotFound), http.StatusNotFound},
		{actors.ErrOrderExists, http.StatusConflict},
		{fmt.Errorf("update: %w", domain.ErrOrderCancelled), http.StatusConflict},
		{&actors.ConflictError{OrderID: uuid.New(), Err: errors.New("held by b")}, http.StatusConflict},
		{errors.New("storage timeout"), http.StatusServiceUnavailable},
		{&actors.SaveAmbiguousError{OrderID: uuid.New(), Version: 2, EventID: uuid.New(), Err: errors.New("timeout")}, http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		if got := statusOf(tc.err); got != tc.code {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.code)
		}
	}
}

func TestBadRequests(t *testing.T) {
	h := NewHandler(Options{Orders: &Orders{}})
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/orders/not-a-uuid", ""},
		{http.MethodPost, "/orders", "{not json"},
		{http.MethodPost, "/orders", `{"unknown_field": 1}`},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s %s %q: %d, want 400", tc.method, tc.path, tc.body, rec.Code)
		}
	}
}
