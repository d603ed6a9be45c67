package domain

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestNewEnvelope(t *testing.T) {
	ids := seqIDs()
	o, created, err := NewOrder(testOrderID, testCustomerID, twoItems(), t0, ids)
	if err != nil {
		t.Fatal(err)
	}
	updated, err := o.UpdateItems(twoItems()[:1], t0.Add(time.Second), ids)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := o.Cancel("", t0.Add(2*time.Second), ids)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ev       DomainEvent
		wantID   uuid.UUID
		wantType string
		wantSeq  int64
		wantAt   time.Time
	}{
		{created, eid(1), EventTypeOrderCreated, 1, t0Norm},
		{updated, eid(2), EventTypeOrderUpdated, 2, t0Norm.Add(time.Second)},
		{cancelled, eid(3), EventTypeOrderCancelled, 3, t0Norm.Add(2 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.wantType, func(t *testing.T) {
			env, err := NewEnvelope(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := tc.ev.Payload()
			want := Envelope{
				EventID:       tc.wantID,
				EventType:     tc.wantType,
				AggregateType: AggregateTypeOrder,
				AggregateID:   testOrderID,
				Sequence:      tc.wantSeq,
				OccurredAt:    tc.wantAt,
				ContentType:   ContentTypeJSON,
				Payload:       payload,
			}
			if env.EventID != want.EventID || env.EventType != want.EventType ||
				env.AggregateType != want.AggregateType || env.AggregateID != want.AggregateID ||
				env.Sequence != want.Sequence || env.OccurredAt != want.OccurredAt ||
				env.ContentType != want.ContentType || env.TraceParent != "" ||
				string(env.Payload) != string(want.Payload) {
				t.Errorf("NewEnvelope =\n %+v\nwant\n %+v", env, want)
			}
		})
	}
}

// fakeEvent is a DomainEvent from some other aggregate, possibly malformed.
type fakeEvent struct {
	id, aggID    uuid.UUID
	typ, aggType string
	seq          int64
	at           time.Time
	payload      []byte
	payloadErr   error
}

func (f fakeEvent) EventID() uuid.UUID       { return f.id }
func (f fakeEvent) EventType() string        { return f.typ }
func (f fakeEvent) AggregateType() string    { return f.aggType }
func (f fakeEvent) AggregateID() uuid.UUID   { return f.aggID }
func (f fakeEvent) Sequence() int64          { return f.seq }
func (f fakeEvent) OccurredAt() time.Time    { return f.at }
func (f fakeEvent) Payload() ([]byte, error) { return f.payload, f.payloadErr }

func TestNewEnvelopeOtherAggregate(t *testing.T) {
	good := fakeEvent{
		id: eid(7), aggID: testCustomerID, typ: "CustomerRegistered", aggType: "Customer",
		seq: 1, at: t0, payload: []byte(`{"customer_id":"x"}`),
	}
	env, err := NewEnvelope(good)
	if err != nil {
		t.Fatal(err)
	}
	if env.AggregateType != "Customer" || env.EventType != "CustomerRegistered" || env.OccurredAt != t0Norm {
		t.Errorf("envelope = %+v", env)
	}
}

func TestNewEnvelopeRejectsMalformedEvents(t *testing.T) {
	good := fakeEvent{
		id: eid(7), aggID: testCustomerID, typ: "CustomerRegistered", aggType: "Customer",
		seq: 1, at: t0, payload: []byte(`{}`),
	}
	boom := errors.New("marshal failed")
	tests := []struct {
		name      string
		mut       func(*fakeEvent)
		wantErr   error
		wantField string // empty: not a ValidationError
	}{
		{"nil event id", func(f *fakeEvent) { f.id = uuid.Nil }, ErrInvalidEvent, "event_id"},
		{"empty event type", func(f *fakeEvent) { f.typ = "" }, ErrInvalidEvent, "event_type"},
		{"empty aggregate type", func(f *fakeEvent) { f.aggType = "" }, ErrInvalidEvent, "aggregate_type"},
		{"nil aggregate id", func(f *fakeEvent) { f.aggID = uuid.Nil }, ErrInvalidEvent, "aggregate_id"},
		{"sequence zero", func(f *fakeEvent) { f.seq = 0 }, ErrInvalidEvent, "sequence"},
		{"zero time", func(f *fakeEvent) { f.at = time.Time{} }, ErrInvalidEvent, "occurred_at"},
		{"invalid json", func(f *fakeEvent) { f.payload = []byte(`{"a":`) }, ErrInvalidEvent, "payload"},
		{"empty payload", func(f *fakeEvent) { f.payload = nil }, ErrInvalidEvent, "payload"},
		{"payload error", func(f *fakeEvent) { f.payloadErr = boom }, boom, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := good
			tc.mut(&f)
			_, err := NewEnvelope(f)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var ve *ValidationError
			if isVE := errors.As(err, &ve); isVE != (tc.wantField != "") || (isVE && ve.Field != tc.wantField) {
				t.Errorf("err = %#v, want field %q", err, tc.wantField)
			}
		})
	}
	if _, err := NewEnvelope(nil); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("NewEnvelope(nil) err = %v", err)
	}
}
