package messaging

import "github.com/google/uuid"

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

// headerKeys are the header names in the order records carry them,
// converted once per publisher: sarama only reads them.
type headerKeys [8][]byte

func newHeaderKeys() headerKeys {
	return headerKeys{[]byte(HeaderEventID), []byte(HeaderEventType), []byte(HeaderAggregateType), []byte(HeaderAggregateID),
		[]byte(HeaderSequence), []byte(HeaderOccurredAt), []byte(HeaderContentType), []byte(HeaderTraceParent)}
}

// appendUUID appends u in its canonical text form (what uuid.UUID.String
// returns) without allocating.
func appendUUID(dst []byte, u uuid.UUID) []byte {
	const digits = "0123456789abcdef"
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, digits[b>>4], digits[b&0x0f])
	}
	return dst
}
