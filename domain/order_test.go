package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// step is one command in a lifecycle script.
type step struct {
	op      string // "update" or "cancel"
	items   []Item
	reason  string
	wantErr error
}

func TestLifecycle(t *testing.T) {
	updated := []Item{{ProductID: "sku-3", Quantity: 5, UnitPrice: eur(100)}}
	tests := []struct {
		name        string
		steps       []step
		wantStatus  Status
		wantVersion int64
		wantTypes   []string // event types emitted, in order, after OrderCreated
	}{
		{
			name:        "create only",
			wantStatus:  StatusPending,
			wantVersion: 1,
		},
		{
			name:        "updates increment version",
			steps:       []step{{op: "update", items: updated}, {op: "update", items: twoItems()}, {op: "update", items: twoItems()}},
			wantStatus:  StatusPending,
			wantVersion: 4,
			wantTypes:   []string{EventTypeOrderUpdated, EventTypeOrderUpdated, EventTypeOrderUpdated},
		},
		{
			name:        "cancel pending",
			steps:       []step{{op: "cancel", reason: "customer request"}},
			wantStatus:  StatusCancelled,
			wantVersion: 2,
			wantTypes:   []string{EventTypeOrderCancelled},
		},
		{
			name:        "update then cancel",
			steps:       []step{{op: "update", items: updated}, {op: "cancel"}},
			wantStatus:  StatusCancelled,
			wantVersion: 3,
			wantTypes:   []string{EventTypeOrderUpdated, EventTypeOrderCancelled},
		},
		{
			name: "cancelled rejects update and cancel",
			steps: []step{
				{op: "cancel"},
				{op: "update", items: updated, wantErr: ErrOrderCancelled},
				{op: "cancel", wantErr: ErrOrderCancelled},
				// State errors take precedence over input errors.
				{op: "update", items: nil, wantErr: ErrOrderCancelled},
				{op: "cancel", reason: strings.Repeat("x", MaxReasonLen+1), wantErr: ErrOrderCancelled},
			},
			wantStatus:  StatusCancelled,
			wantVersion: 2,
			wantTypes:   []string{EventTypeOrderCancelled},
		},
		{
			name:        "invalid update leaves order untouched",
			steps:       []step{{op: "update", items: []Item{{ProductID: "x", Quantity: 0, UnitPrice: eur(1)}}, wantErr: ErrInvalidQuantity}, {op: "update", items: updated}},
			wantStatus:  StatusPending,
			wantVersion: 2,
			wantTypes:   []string{EventTypeOrderUpdated},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids := seqIDs()
			o, created, err := NewOrder(testOrderID, testCustomerID, twoItems(), t0, ids)
			if err != nil {
				t.Fatalf("NewOrder: %v", err)
			}
			events := []DomainEvent{created}
			now := t0
			for i, s := range tc.steps {
				now = now.Add(time.Second)
				before := o.State()
				var ev DomainEvent
				switch s.op {
				case "update":
					ev, err = o.UpdateItems(s.items, now, ids)
				case "cancel":
					ev, err = o.Cancel(s.reason, now, ids)
				}
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d %s: err = %v, want %v", i, s.op, err, s.wantErr)
				}
				if err != nil {
					if !reflect.DeepEqual(o.State(), before) {
						t.Fatalf("step %d %s: order changed on error:\n got %+v\nwant %+v", i, s.op, o.State(), before)
					}
					continue
				}
				events = append(events, ev)
				if !o.UpdatedAt().Equal(now.UTC().Truncate(time.Millisecond)) {
					t.Errorf("step %d: UpdatedAt = %v, want %v", i, o.UpdatedAt(), now)
				}
			}
			if o.Status() != tc.wantStatus || o.Version() != tc.wantVersion {
				t.Errorf("status, version = %v, %d; want %v, %d", o.Status(), o.Version(), tc.wantStatus, tc.wantVersion)
			}
			if !o.CreatedAt().Equal(t0Norm) {
				t.Errorf("CreatedAt = %v, want %v", o.CreatedAt(), t0Norm)
			}
			gotTypes := []string{}
			for _, ev := range events[1:] {
				gotTypes = append(gotTypes, ev.EventType())
			}
			if want := append([]string{}, tc.wantTypes...); !reflect.DeepEqual(gotTypes, want) {
				t.Errorf("event types = %v, want %v", gotTypes, want)
			}
			// Sequences are 1..n with no gaps and equal the version after
			// each change; every event has its own id.
			seen := map[uuid.UUID]bool{}
			for i, ev := range events {
				if ev.Sequence() != int64(i+1) {
					t.Errorf("event %d (%s): Sequence = %d, want %d", i, ev.EventType(), ev.Sequence(), i+1)
				}
				if ev.AggregateID() != testOrderID || ev.AggregateType() != AggregateTypeOrder {
					t.Errorf("event %d: aggregate = %s/%s", i, ev.AggregateType(), ev.AggregateID())
				}
				if seen[ev.EventID()] {
					t.Errorf("event %d: duplicate EventID %s", i, ev.EventID())
				}
				seen[ev.EventID()] = true
			}
			if last := events[len(events)-1]; last.Sequence() != o.Version() {
				t.Errorf("last Sequence = %d, Version = %d", last.Sequence(), o.Version())
			}
		})
	}
}

func TestNewOrder(t *testing.T) {
	items := twoItems()
	o, ev, err := NewOrder(testOrderID, testCustomerID, items, t0, seqIDs())
	if err != nil {
		t.Fatal(err)
	}
	want := OrderState{
		ID: testOrderID, CustomerID: testCustomerID, Items: twoItems(),
		Status: StatusPending, Version: 1, CreatedAt: t0Norm, UpdatedAt: t0Norm,
	}
	if got := o.State(); !reflect.DeepEqual(got, want) {
		t.Errorf("State() =\n %+v\nwant\n %+v", got, want)
	}
	if o.ID() != testOrderID || o.CustomerID() != testCustomerID {
		t.Errorf("ID, CustomerID = %s, %s", o.ID(), o.CustomerID())
	}
	if got := o.Total(); got != eur(2*1250+999) {
		t.Errorf("Total() = %+v", got)
	}
	if ev.EventID() != eid(1) || ev.Sequence() != 1 || !ev.OccurredAt().Equal(t0Norm) || ev.OccurredAt().Location() != time.UTC {
		t.Errorf("event meta = %s seq %d at %v", ev.EventID(), ev.Sequence(), ev.OccurredAt())
	}
	if ev.CustomerID() != testCustomerID || !reflect.DeepEqual(ev.Items(), twoItems()) || ev.Total() != o.Total() {
		t.Errorf("event data = %s %+v %+v", ev.CustomerID(), ev.Items(), ev.Total())
	}

	// Neither the caller's slice nor returned copies alias the order or
	// the event.
	items[0].Quantity = 99
	o.Items()[0].Quantity = 98
	o.State().Items[0].Quantity = 97
	ev.Items()[0].Quantity = 96
	if o.Items()[0].Quantity != 2 || ev.Items()[0].Quantity != 2 {
		t.Errorf("aliasing: order qty %d, event qty %d", o.Items()[0].Quantity, ev.Items()[0].Quantity)
	}
}

func TestUpdateItemsDoesNotAlias(t *testing.T) {
	o, _ := mustNewOrder(t)
	items := []Item{{ProductID: "sku-9", Quantity: 3, UnitPrice: eur(10)}}
	ev, err := o.UpdateItems(items, t0.Add(time.Minute), seqIDs())
	if err != nil {
		t.Fatal(err)
	}
	items[0].Quantity = 50
	if o.Items()[0].Quantity != 3 || ev.Items()[0].Quantity != 3 {
		t.Errorf("aliasing: order qty %d, event qty %d", o.Items()[0].Quantity, ev.Items()[0].Quantity)
	}
	if ev.Total() != eur(30) || o.Total() != eur(30) {
		t.Errorf("totals: event %+v order %+v", ev.Total(), o.Total())
	}
}

func TestIDGeneratorFailures(t *testing.T) {
	boom := errors.New("entropy exhausted")
	tests := []struct {
		name    string
		gen     IDGenerator
		wantErr error
	}{
		{"generator error", func() (uuid.UUID, error) { return uuid.Nil, boom }, boom},
		{"nil uuid", func() (uuid.UUID, error) { return uuid.Nil, nil }, ErrInvalidEventID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := NewOrder(testOrderID, testCustomerID, twoItems(), t0, tc.gen); !errors.Is(err, tc.wantErr) {
				t.Errorf("NewOrder err = %v, want %v", err, tc.wantErr)
			}
			o, _ := mustNewOrder(t)
			before := o.State()
			if _, err := o.UpdateItems(twoItems(), t0, tc.gen); !errors.Is(err, tc.wantErr) {
				t.Errorf("UpdateItems err = %v, want %v", err, tc.wantErr)
			}
			if _, err := o.Cancel("", t0, tc.gen); !errors.Is(err, tc.wantErr) {
				t.Errorf("Cancel err = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(o.State(), before) {
				t.Errorf("order changed after generator failure")
			}
		})
	}
}

func TestDefaultGeneratorUniqueIDs(t *testing.T) {
	gen := NewUUIDv7Generator()
	o, created, err := NewOrder(testOrderID, testCustomerID, twoItems(), t0, gen)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uuid.UUID]bool{created.EventID(): true}
	const n = 1000
	for range n {
		ev, err := o.UpdateItems(twoItems(), t0, gen)
		if err != nil {
			t.Fatal(err)
		}
		if v := ev.EventID().Version(); v != 7 {
			t.Fatalf("EventID version = %d, want 7", v)
		}
		if seen[ev.EventID()] {
			t.Fatalf("duplicate EventID %s", ev.EventID())
		}
		seen[ev.EventID()] = true
	}
	if o.Version() != n+1 {
		t.Errorf("Version = %d, want %d", o.Version(), n+1)
	}
}

func TestRehydrate(t *testing.T) {
	o, _ := mustNewOrder(t)
	if _, err := o.UpdateItems(twoItems()[:1], t0.Add(time.Hour), seqIDs()); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Cancel("late", t0.Add(2*time.Hour), seqIDs()); err != nil {
		t.Fatal(err)
	}
	got, err := Rehydrate(o.State())
	if err != nil {
		t.Fatalf("Rehydrate(State()): %v", err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("Rehydrate(State()) =\n %+v\nwant\n %+v", got, o)
	}
	// A rehydrated cancelled order keeps enforcing the state machine.
	if _, err := got.UpdateItems(twoItems(), t0, seqIDs()); !errors.Is(err, ErrOrderCancelled) {
		t.Errorf("UpdateItems on rehydrated cancelled order: err = %v", err)
	}

	// Storage returning local-zone or sub-millisecond times still yields
	// normalised times, and the caller's item slice is not aliased.
	s := o.State()
	s.CreatedAt = t0
	s.UpdatedAt = t0.Add(time.Hour)
	got, err = Rehydrate(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt() != t0Norm || got.UpdatedAt() != t0Norm.Add(time.Hour) {
		t.Errorf("times = %v, %v", got.CreatedAt(), got.UpdatedAt())
	}
	s.Items[0].Quantity = 77
	if got.Items()[0].Quantity == 77 {
		t.Error("Rehydrate aliases the input items")
	}
}

func TestRehydrateRejectsCorruptState(t *testing.T) {
	valid := func() OrderState {
		return OrderState{
			ID: testOrderID, CustomerID: testCustomerID, Items: twoItems(),
			Status: StatusPending, Version: 3, CreatedAt: t0Norm, UpdatedAt: t0Norm,
		}
	}
	tests := []struct {
		name      string
		mut       func(*OrderState)
		wantErr   error
		wantField string
	}{
		{"nil id", func(s *OrderState) { s.ID = uuid.Nil }, ErrInvalidOrderID, "order_id"},
		{"nil customer", func(s *OrderState) { s.CustomerID = uuid.Nil }, ErrInvalidCustomerID, "customer_id"},
		{"no items", func(s *OrderState) { s.Items = nil }, ErrNoItems, "items"},
		{"bad item", func(s *OrderState) { s.Items[0].UnitPrice.Minor = -5 }, ErrInvalidUnitPrice, "items[0].unit_price_minor"},
		{"zero status", func(s *OrderState) { s.Status = 0 }, ErrInvalidStatus, "status"},
		{"unknown status", func(s *OrderState) { s.Status = 9 }, ErrInvalidStatus, "status"},
		{"version zero", func(s *OrderState) { s.Version = 0 }, ErrInvalidVersion, "version"},
		{"negative version", func(s *OrderState) { s.Version = -1 }, ErrInvalidVersion, "version"},
		{"zero created_at", func(s *OrderState) { s.CreatedAt = time.Time{} }, ErrInvalidTime, "created_at"},
		{"zero updated_at", func(s *OrderState) { s.UpdatedAt = time.Time{} }, ErrInvalidTime, "updated_at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			tc.mut(&s)
			o, err := Rehydrate(s)
			var ve *ValidationError
			if !errors.Is(err, tc.wantErr) || !errors.As(err, &ve) || ve.Field != tc.wantField {
				t.Fatalf("err = %v, want %v on field %s", err, tc.wantErr, tc.wantField)
			}
			if o != nil {
				t.Errorf("got order %+v on error", o)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		status Status
		name   string
	}{
		{StatusPending, "pending"},
		{StatusCancelled, "cancelled"},
	}
	for _, tc := range tests {
		if got := tc.status.String(); got != tc.name {
			t.Errorf("%d.String() = %q, want %q", tc.status, got, tc.name)
		}
		if got, err := ParseStatus(tc.name); err != nil || got != tc.status {
			t.Errorf("ParseStatus(%q) = %v, %v", tc.name, got, err)
		}
	}
	if got := Status(0).String(); got != "Status(0)" {
		t.Errorf("Status(0).String() = %q", got)
	}
	for _, bad := range []string{"", "Pending", "Status(0)", "confirmed"} {
		if _, err := ParseStatus(bad); !errors.Is(err, ErrInvalidStatus) {
			t.Errorf("ParseStatus(%q) err = %v, want ErrInvalidStatus", bad, err)
		}
	}
}
