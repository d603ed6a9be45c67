// Package httpapi owns the services' HTTP surface: /metrics, /healthz
// (alive), /readyz (dependencies usable, reader running, breaker not open,
// not shutting down),
// /status (the relay's state as JSON) and, on the dev stack, a small JSON
// API over the order actor (create, update, cancel, get).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/domain"
)

// StatusSource reports the relay's state; *app.Relay satisfies it.
type StatusSource interface {
	Status(ctx context.Context) (*RelayState, error)
}

// RelayState is the relay as /status and /readyz see it: its role among
// the relays of its name and, while it is the active one, its processor.
type RelayState struct {
	// Processor is the kind: cdc or polling.
	Processor string
	Leader    actors.LeaderStatus
	// Processing is nil unless a processor runs (active, or draining).
	Processing *actors.ProcessorStatus
}

// Check is one readiness dependency.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Orders is the order actor the dev API drives.
type Orders struct {
	Root *actor.RootContext
	PID  *actor.PID
}

// Options configure the handler; every field is optional.
type Options struct {
	Gatherer prometheus.Gatherer
	Relay    StatusSource
	Checks   []Check
	DLQSize  func(ctx context.Context) (int, error)
	Orders   *Orders
	// Draining, when it returns true, makes /readyz answer 503 "draining"
	// without running the checks: the service is shutting down and must
	// get no new traffic, while /metrics, /status and /healthz keep
	// answering until the server closes.
	Draining func() bool
	// Timeout bounds each request's work. Default 10 s.
	Timeout time.Duration
}

// Status is the /status document.
type Status struct {
	Relay string `json:"relay"`
	// Role is active, standby, acquiring, fenced, releasing or stopped.
	Role   string     `json:"role"`
	Member string     `json:"member"`
	Leader *LeaderDoc `json:"leader,omitempty"`
	// The processing fields are zero unless Role is active.
	Processor     string                 `json:"processor"`
	Reading       bool                   `json:"reading"`
	Breaker       string                 `json:"breaker"`
	InFlight      int                    `json:"in_flight"`
	LagSeconds    float64                `json:"lag_seconds"`
	DLQSize       int                    `json:"dlq_size"`
	LastPublished *actors.PublishedEvent `json:"last_published,omitempty"`
}

// LeaderDoc is the relay name's active relay as last recorded: who, under
// which epoch, since when.
type LeaderDoc struct {
	Member string    `json:"member"`
	Epoch  int64     `json:"epoch"`
	Since  time.Time `json:"since"`
}

// NewHandler returns the mux.
func NewHandler(o Options) http.Handler {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	mux := http.NewServeMux()
	if o.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if o.Draining != nil && o.Draining() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), o.Timeout)
		defer cancel()
		failures := map[string]string{}
		for _, c := range o.Checks {
			if err := c.Fn(ctx); err != nil {
				failures[c.Name] = err.Error()
			}
		}
		if o.Relay != nil {
			st, err := o.Relay.Status(ctx)
			// A standby is ready: healthy and able to take over. Only the
			// active relay's reader and breaker are checked.
			switch {
			case err != nil:
				failures["relay"] = err.Error()
			case st.Leader.Role == "stopped":
				failures["relay"] = "left its group: it cannot become active"
			case st.Processing == nil:
			case !st.Processing.Reading:
				failures["reader"] = "not running"
			case st.Processing.Breaker == "open":
				failures["breaker"] = "open: the broker is failing"
			}
		}
		if len(failures) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failures": failures})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if o.Relay != nil {
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), o.Timeout)
			defer cancel()
			st, err := o.Relay.Status(ctx)
			if err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
				return
			}
			doc := Status{Relay: st.Leader.Relay, Role: st.Leader.Role, Member: st.Leader.Member, Processor: st.Processor, DLQSize: -1}
			if h := st.Leader.Holder; h.Epoch > 0 {
				doc.Leader = &LeaderDoc{Member: h.Member, Epoch: int64(h.Epoch), Since: h.Since.UTC()}
			}
			if p := st.Processing; p != nil {
				doc.Reading, doc.Breaker, doc.InFlight = p.Reading, p.Breaker, p.InFlight
				doc.LagSeconds, doc.LastPublished = p.Lag.Seconds(), p.LastPublished
			}
			if o.DLQSize != nil {
				if n, err := o.DLQSize(ctx); err == nil {
					doc.DLQSize = n
				}
			}
			writeJSON(w, http.StatusOK, doc)
		})
	}
	if o.Orders != nil {
		api := &ordersAPI{o: o.Orders, timeout: o.Timeout}
		mux.HandleFunc("POST /orders", api.create)
		mux.HandleFunc("GET /orders/{id}", api.get)
		mux.HandleFunc("PUT /orders/{id}", api.update)
		mux.HandleFunc("POST /orders/{id}/cancel", api.cancel)
	}
	return mux
}

type ordersAPI struct {
	o       *Orders
	timeout time.Duration
}

// itemJSON is an order line in the API.
type itemJSON struct {
	ProductID      string `json:"product_id"`
	Quantity       int    `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
	Currency       string `json:"currency"`
}

type orderRequest struct {
	OrderID    uuid.UUID  `json:"order_id"`
	CustomerID uuid.UUID  `json:"customer_id"`
	Items      []itemJSON `json:"items"`
	Reason     string     `json:"reason"`
}

// orderJSON is an order in the API.
type orderJSON struct {
	ID          uuid.UUID  `json:"id"`
	CustomerID  uuid.UUID  `json:"customer_id"`
	Items       []itemJSON `json:"items"`
	Status      string     `json:"status"`
	Version     int64      `json:"version"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	EventID     *uuid.UUID `json:"event_id,omitempty"`
	EventType   string     `json:"event_type,omitempty"`
	EventSeqNum int64      `json:"event_sequence,omitempty"`
}

func (a *ordersAPI) create(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if !decode(w, r, &req) {
		return
	}
	a.do(w, r, &actors.CreateOrder{OrderID: req.OrderID, CustomerID: req.CustomerID, Items: items(req.Items)}, http.StatusCreated)
}

func (a *ordersAPI) update(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req orderRequest
	if !decode(w, r, &req) {
		return
	}
	a.do(w, r, &actors.UpdateOrder{OrderID: id, Items: items(req.Items)}, http.StatusOK)
}

func (a *ordersAPI) cancel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req orderRequest
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	a.do(w, r, &actors.CancelOrder{OrderID: id, Reason: req.Reason}, http.StatusOK)
}

func (a *ordersAPI) get(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	a.do(w, r, &actors.GetOrder{OrderID: id}, http.StatusOK)
}

func (a *ordersAPI) do(w http.ResponseWriter, r *http.Request, cmd actors.OrderCommand, okStatus int) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	res, err := actors.AskOrder(ctx, a.o.Root, a.o.PID, cmd)
	if err != nil {
		writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
		return
	}
	st := res.Order
	out := orderJSON{ID: st.ID, CustomerID: st.CustomerID, Status: st.Status.String(), Version: st.Version,
		CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt}
	for _, it := range st.Items {
		out.Items = append(out.Items, itemJSON{ProductID: it.ProductID, Quantity: it.Quantity, UnitPriceMinor: it.UnitPrice.Minor, Currency: it.UnitPrice.Currency})
	}
	if res.Event != nil {
		id := res.Event.EventID()
		out.EventID, out.EventType, out.EventSeqNum = &id, res.Event.EventType(), res.Event.Sequence()
	}
	writeJSON(w, okStatus, out)
}

// statusOf maps command errors to HTTP: the caller's mistake (4xx) versus
// a conflict to retry (409) versus an unknown outcome (503).
func statusOf(err error) int {
	var verr *domain.ValidationError
	switch {
	case errors.As(err, &verr):
		return http.StatusUnprocessableEntity
	case errors.Is(err, actors.ErrOrderNotFound):
		return http.StatusNotFound
	case errors.Is(err, actors.ErrOrderExists), errors.Is(err, domain.ErrOrderCancelled):
		return http.StatusConflict
	case errors.Is(err, actors.ErrOrderBusy):
		return http.StatusConflict
	default:
		return http.StatusServiceUnavailable
	}
}

func items(in []itemJSON) []domain.Item {
	out := make([]domain.Item, len(in))
	for i, it := range in {
		out[i] = domain.Item{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: domain.Money{Minor: it.UnitPriceMinor, Currency: it.Currency}}
	}
	return out
}

func pathID(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("order id %q is not a UUID", r.PathValue("id"))})
		return uuid.Nil, false
	}
	return id, true
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
		return false
	}
	return true
}

// writeJSON answers with v, indented. v is encoded before anything is sent,
// so a value that cannot be encoded is a 500, not a truncated 200.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A failed write means the client has gone: the status is sent and
	// there is no one left to tell.
	_, _ = w.Write(append(body, '\n'))
}
