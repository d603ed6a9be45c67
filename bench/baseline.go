package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/messaging"
)

// producerSettings describe sc, the producer of the relay and of the
// baseline: an idempotent producer, acks from all in-sync replicas, one
// request in flight per broker (what keeps an aggregate's order under
// retries), batches that linger.
func producerSettings(sc *sarama.Config) ProducerSettings {
	acks := "all"
	if sc.Producer.RequiredAcks != sarama.WaitForAll {
		acks = strconv.Itoa(int(sc.Producer.RequiredAcks))
	}
	linger := sc.Producer.Flush.Frequency
	return ProducerSettings{
		KafkaVersion:    sc.Version.String(),
		Idempotent:      sc.Producer.Idempotent,
		Acks:            acks,
		MaxOpenRequests: sc.Net.MaxOpenRequests,
		RetryMax:        sc.Producer.Retry.Max,
		MaxMessageBytes: sc.Producer.MaxMessageBytes,
		Partitioner:     "hash (FNV-1a of the aggregate id)",
		Linger:          Duration(linger),
		Flush:           flushDescription(linger),
	}
}

// flushDescription says when a batch leaves the producer.
func flushDescription(linger time.Duration) string {
	if linger <= 0 {
		return "no linger: as soon as the request before it is answered"
	}
	return fmt.Sprintf("after a linger of %s, or at max message bytes", linger)
}

// baselineConfig is messaging.Publisher's sarama configuration with its
// defaults and the given linger, under a client id of its own: the baseline
// differs from the relay only in everything the relay adds around the
// producer.
func baselineConfig(brokers []string, linger time.Duration) (*sarama.Config, error) {
	return messaging.Config{Brokers: brokers, ClientID: "scylla-outbox-bench-baseline", Linger: linger}.ProducerConfig()
}

// baselineMessages builds n records exactly as messaging.Publisher would
// for the workload's events: key = aggregate id, value = the JSON payload,
// the seven headers the relay sets on an untraced event. It registers each
// with t.
func baselineMessages(topic string, n, perOrder int, t *tracker) ([]*sarama.ProducerMessage, int64, error) {
	gen := domain.NewUUIDv7Generator()
	msgs := make([]*sarama.ProducerMessage, 0, n)
	var size int64
	for len(msgs) < n {
		var f orderFlow
		for k := 0; k < perOrder && len(msgs) < n; k++ {
			ev, err := f.next(gen)
			if err != nil {
				return nil, 0, err
			}
			env, err := domain.NewEnvelope(ev)
			if err != nil {
				return nil, 0, err
			}
			agg := env.AggregateID.String()
			h := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
			m := &sarama.ProducerMessage{
				Topic: topic,
				Key:   sarama.StringEncoder(agg),
				Value: sarama.ByteEncoder(env.Payload),
				Headers: []sarama.RecordHeader{
					h(messaging.HeaderEventID, env.EventID.String()),
					h(messaging.HeaderEventType, env.EventType),
					h(messaging.HeaderAggregateType, env.AggregateType),
					h(messaging.HeaderAggregateID, agg),
					h(messaging.HeaderSequence, strconv.FormatInt(env.Sequence, 10)),
					h(messaging.HeaderOccurredAt, env.OccurredAt.UTC().Format(time.RFC3339Nano)),
					h(messaging.HeaderContentType, env.ContentType),
				},
			}
			size += int64(len(agg) + len(env.Payload))
			for _, hd := range m.Headers {
				size += int64(len(hd.Key) + len(hd.Value))
			}
			t.expect(env.EventID)
			msgs = append(msgs, m)
		}
	}
	return msgs, size, nil
}

// runBaseline sends msgs through a fresh AsyncProducer as fast as it takes
// them, while the consumer behind t reads the topic. It returns when the
// consumer has every message.
func runBaseline(ctx context.Context, brokers []string, sc *sarama.Config, msgs []*sarama.ProducerMessage, t *tracker, wait time.Duration) (acked, consumed time.Duration, err error) {
	producer, err := sarama.NewAsyncProducer(brokers, sc)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: baseline producer: %w", err)
	}
	// Drain results concurrently with sending: sarama blocks its input
	// once the result channels are full.
	type outcome struct {
		at  time.Time
		err error
	}
	res := make(chan outcome, 1)
	go func() {
		var errs []error
		okCount := 0
		for okCount+len(errs) < len(msgs) {
			select {
			case <-producer.Successes():
				okCount++
			case e := <-producer.Errors():
				errs = append(errs, e)
			}
		}
		res <- outcome{time.Now(), errors.Join(errs...)}
	}()
	start := time.Now()
	for _, m := range msgs {
		producer.Input() <- m
	}
	out := <-res
	producer.AsyncClose()
	go func() {
		for range producer.Successes() {
		}
	}()
	for range producer.Errors() {
	}
	if out.err != nil {
		return 0, 0, fmt.Errorf("bench: baseline produce: %w", out.err)
	}
	done, _, err := t.waitAll(ctx, len(msgs), wait)
	if err != nil {
		return out.at.Sub(start), 0, err
	}
	return out.at.Sub(start), done.Sub(start), nil
}
