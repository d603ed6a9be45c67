package domain

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// ContentTypeJSON is the [Envelope.ContentType] of every payload this package
// produces.
const ContentTypeJSON = "application/json"

// ContentTypeOf is the content type of a payload stored with the content type
// stored: rows written before the content_type column existed leave it empty,
// and carry JSON, the only encoding this package has ever produced.
func ContentTypeOf(stored string) string {
	if stored == "" {
		return ContentTypeJSON
	}
	return stored
}

// Envelope is a [DomainEvent] flattened into plain data with its payload
// already marshalled: the unit the outbox table stores, the CDC reader
// decodes and the relay publishes. Those layers handle envelopes without
// knowing any aggregate. Field meanings match [DomainEvent].
//
// Marshalling once, at the point the event is created, means the bytes
// written in the batch are the bytes published, however often the relay
// retries.
type Envelope struct {
	EventID       uuid.UUID
	EventType     string
	AggregateType string
	AggregateID   uuid.UUID
	Sequence      int64
	OccurredAt    time.Time
	// ContentType describes Payload; [NewEnvelope] sets [ContentTypeJSON].
	// It is empty in rows of earlier releases: see [ContentTypeOf].
	ContentType string
	// TraceParent is an optional W3C Trace Context traceparent header
	// value ("00-<trace-id>-<parent-id>-<flags>") linking the publish to
	// the request that caused the change. Empty when untraced. The domain
	// never sets or interprets it; the caller assigns it after
	// [NewEnvelope] and the relay copies it into a Kafka header.
	TraceParent string
	// Payload is the marshalled event body, encoded as ContentType says.
	Payload []byte
}

// NewEnvelope marshals e and copies its metadata. It validates what it copies
// because e may come from any aggregate: a nil event id, empty type names,
// a nil aggregate id, a sequence below 1, an unrepresentable time or a payload
// that is not valid JSON is a [*ValidationError] wrapping [ErrInvalidEvent]
// (Field is the Envelope field in snake_case). A failing Payload is returned
// wrapped. OccurredAt is normalised to UTC milliseconds.
func NewEnvelope(e DomainEvent) (Envelope, error) {
	if e == nil {
		return Envelope{}, invalid("event", "must not be nil", ErrInvalidEvent)
	}
	at, err := normalizeTime("occurred_at", e.OccurredAt(), ErrInvalidEvent)
	if err != nil {
		return Envelope{}, err
	}
	payload, err := e.Payload()
	if err != nil {
		return Envelope{}, fmt.Errorf("domain: marshal %s payload: %w", e.EventType(), err)
	}
	env := Envelope{
		EventID:       e.EventID(),
		EventType:     e.EventType(),
		AggregateType: e.AggregateType(),
		AggregateID:   e.AggregateID(),
		Sequence:      e.Sequence(),
		OccurredAt:    at,
		ContentType:   ContentTypeJSON,
		Payload:       payload,
	}
	if err := env.Validate(); err != nil {
		return Envelope{}, err
	}
	if !json.Valid(payload) {
		return Envelope{}, invalid("payload", "must be valid JSON", ErrInvalidEvent)
	}
	return env, nil
}

// Validate reports the first field an envelope cannot be published
// without, as a [*ValidationError] wrapping [ErrInvalidEvent]: consumers
// deduplicate on the event id, the aggregate id is the ordering key, the
// sequence orders an aggregate's events, and an empty payload would be a
// Kafka tombstone that deletes the aggregate's key from a compacted topic.
// The payload's encoding is not checked: it is opaque to the relay.
func (e Envelope) Validate() error {
	switch {
	case e.EventID == uuid.Nil:
		return invalid("event_id", "must not be the nil UUID", ErrInvalidEvent)
	case e.EventType == "":
		return invalid("event_type", "must not be empty", ErrInvalidEvent)
	case e.AggregateType == "":
		return invalid("aggregate_type", "must not be empty", ErrInvalidEvent)
	case e.AggregateID == uuid.Nil:
		return invalid("aggregate_id", "must not be the nil UUID", ErrInvalidEvent)
	case e.Sequence < 1:
		return invalid("sequence", "must be at least 1, got "+strconv.FormatInt(e.Sequence, 10), ErrInvalidEvent)
	case len(e.Payload) == 0:
		return invalid("payload", "must not be empty", ErrInvalidEvent)
	}
	return nil
}
