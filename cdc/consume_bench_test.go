package cdc

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// BenchmarkStreamConsume measures a stream's part of one logged change of
// one event once it is decoded: delivering it to the sink, committing the
// change, and the acknowledgement when the relay finishes it; progress is
// saved every 64 changes, as a periodic flush does.
func BenchmarkStreamConsume(b *testing.B) {
	const flushEvery = 64
	sink := &holdSink{}
	f := NewConsumerFactory(sink, &memStore{})
	s := f.OpenStream([]byte{1, 2, 3, 4})
	recs := []outbox.Record{{Envelope: domain.Envelope{EventID: uuid.New(), AggregateID: uuid.New(), Sequence: 1}}}
	ctx := context.Background()
	b.ReportAllocs()
	ms := 0
	for b.Loop() {
		ms++
		if err := s.Consume(ctx, at(ms), recs); err != nil {
			b.Fatal(err)
		}
		if ms%flushEvery == 0 {
			for _, ack := range sink.acks {
				ack()
			}
			sink.acks = sink.acks[:0]
			if err := f.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}
