package messaging

// Kafka header names set on every published record. They are part of the
// relay's contract with consumers (and the README): renaming one is a
// breaking change. Values are UTF-8 strings.
const (
	// HeaderEventID is the event's UUID; consumers deduplicate on it,
	// since delivery is at least once.
	HeaderEventID = "event_id"
	// HeaderEventType is the event type, for example "OrderCreated".
	HeaderEventType = "event_type"
	// HeaderAggregateType is the aggregate type, for example "Order".
	HeaderAggregateType = "aggregate_type"
	// HeaderAggregateID is the aggregate's UUID, equal to the record key.
	HeaderAggregateID = "aggregate_id"
	// HeaderSequence is the event's per-aggregate sequence in decimal;
	// consumers may discard an event whose sequence is not above the last
	// one they applied for that aggregate.
	HeaderSequence = "sequence"
	// HeaderOccurredAt is when the event happened, RFC 3339 with
	// nanoseconds, in UTC.
	HeaderOccurredAt = "occurred_at"
	// HeaderContentType describes the value, for example
	// "application/json".
	HeaderContentType = "content-type"
	// HeaderTraceParent is the W3C Trace Context traceparent of the
	// request that caused the event. Present only when the record has one.
	HeaderTraceParent = "traceparent"
)
