package relay

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// benchOwner publishes into a slice the benchmark acknowledges; it keeps
// only ids, as the processor does.
type benchOwner struct {
	sent, spare []uuid.UUID
	finished    int
}

func (o *benchOwner) Publish(rec outbox.Record)              { o.sent = append(o.sent, rec.EventID) }
func (o *benchOwner) ScheduleRetry(uuid.UUID, time.Duration) {}
func (o *benchOwner) ScheduleProbe(time.Duration)            {}
func (o *benchOwner) DeadLetter(outbox.Record, Failure)      {}
func (o *benchOwner) Finished(outbox.Record, bool)           { o.finished++ }

// BenchmarkPipelineCycle measures one event's way through the pipeline:
// Offer, Publish, OnPublished, Finished; events arrive in batches, as the
// processor's inbox hands them over, and are acknowledged in batches.
func BenchmarkPipelineCycle(b *testing.B) {
	tests := []struct {
		name string
		// perAggregate events of each aggregate arrive in one batch (the
		// later ones queue behind the first).
		batch, perAggregate int
	}{
		{"one event per aggregate", 64, 1},
		{"four events per aggregate", 64, 4},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			o := &benchOwner{}
			now := time.Unix(1000, 0)
			p := New(Config{Retry: resilience.DefaultRetry(), Breaker: resilience.DefaultBreaker()}, o, nil,
				func() time.Time { return now }, rand.New(rand.NewPCG(1, 2)))
			p.DLQLoaded(DeadLetters{}, p.DLQLoadStarted())
			recs := make([]outbox.Record, tt.batch)
			newBatch := func() {
				for i := range recs {
					if i%tt.perAggregate == 0 {
						recs[i] = rec(uuid.New(), 1)
					} else {
						recs[i] = rec(recs[i-1].AggregateID, recs[i-1].Sequence+1)
					}
				}
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if n%tt.batch == 0 {
					b.StopTimer()
					newBatch()
					b.StartTimer()
				}
				p.Offer(recs[n%tt.batch])
				n++
				if n%tt.batch == 0 {
					for len(o.sent) > 0 {
						sent := o.sent
						o.sent = o.spare[:0]
						for _, id := range sent {
							p.OnPublished(id, nil)
						}
						o.spare = sent
					}
				}
			}
			if p.InFlight() > tt.batch {
				b.Fatalf("%d events in flight", p.InFlight())
			}
		})
	}
}
