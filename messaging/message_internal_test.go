package messaging

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// benchRecord is a record as the relay publishes it.
func benchRecord(traceParent string) outbox.Record {
	return outbox.Record{Envelope: domain.Envelope{
		EventID: uuid.Must(uuid.NewV7()), EventType: domain.EventTypeOrderUpdated, AggregateType: "Order",
		AggregateID: uuid.New(), Sequence: 42, OccurredAt: time.Date(2025, 1, 2, 3, 4, 5, 6000000, time.UTC),
		ContentType: domain.ContentTypeJSON, TraceParent: traceParent,
		Payload: []byte(`{"order_id":"0195b2c4-8f2e-7c1a-9d3b-5e6f7a8b9c0d","items":[{"sku":"A-1","qty":2}],"total":1999}`),
	}, CommittedAt: time.Now()}
}

// BenchmarkPublisherMessage measures building one record's Kafka message:
// the relay's per-event cost in the publisher, before sarama.
func BenchmarkPublisherMessage(b *testing.B) {
	tests := []struct {
		name        string
		template    string
		traceParent string
	}{
		{"constant topic", "outbox.events", ""},
		{"default template", DefaultTopicTemplate, ""},
		{"template with a function, traced", `events.{{.AggregateType | lower}}`, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			router, err := newTopicRouter(tt.template)
			if err != nil {
				b.Fatal(err)
			}
			p := &Publisher{cfg: Config{TopicTemplate: tt.template}.withDefaults(), router: router, keys: newHeaderKeys()}
			rec := benchRecord(tt.traceParent)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.message(&rec, newOutgoing(rec.EventID, func(error) {})); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
