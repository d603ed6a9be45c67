package messaging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Message is one Kafka record read by [Consume].
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Headers maps header names to values. The publisher never repeats a
	// name; for records that do, the last value wins.
	Headers map[string]string
	// Timestamp is the record's Kafka timestamp (for this relay's records,
	// the publish time; the event time is in HeaderOccurredAt).
	Timestamp time.Time
}

// Consume reads every partition of topics from the oldest retained offset
// and calls fn for each record until ctx is done, then returns nil. It is a
// plain partition reader, not a consumer group: it commits nothing and
// always starts from the beginning, which is what tests (read everything
// back) and the demo (print every event) need.
//
// fn is called from the goroutine that called Consume, one record at a
// time, in offset order within each partition; records of different
// partitions interleave. If fn returns an error, Consume stops and returns
// it. Consume fails at once if a topic does not exist; partitions added
// after it started are not read. While a broker is down, sarama keeps
// retrying in the background and records arrive once it is back.
func Consume(ctx context.Context, brokers []string, topics []string, fn func(Message) error) error {
	return ConsumeWith(ctx, Config{Brokers: brokers}, topics, fn)
}

// ConsumeWith is [Consume] from the brokers of cfg, connecting with its TLS
// and SASL settings (its other fields do not apply to reading). A
// connection the brokers refuse for a TLS or SASL reason fails with an
// error that says which, as [NewPublisher]'s connection attempts do.
func ConsumeWith(ctx context.Context, cfg Config, topics []string, fn func(Message) error) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	brokers := cfg.Brokers
	sc := sarama.NewConfig()
	sc.ClientID = "scylla-outbox-consume"
	sc.Version = sarama.V2_8_0_0 // headers need fetch v4+ (Kafka 0.11+)
	sc.Consumer.Return.Errors = false
	sc.Consumer.MaxWaitTime = 100 * time.Millisecond // the demo prints events as they arrive
	if err := cfg.applySecurity(sc); err != nil {
		return err
	}
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return fmt.Errorf("messaging: consume: connect to %v: %w", brokers, cfg.explain(err))
	}
	defer func() {
		if cerr := client.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("messaging: consume: close client: %w", cerr))
		}
	}()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("messaging: consume: %w", err)
	}
	defer func() {
		if cerr := consumer.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("messaging: consume: close consumer: %w", cerr))
		}
	}()

	var (
		pcs  []sarama.PartitionConsumer
		wg   sync.WaitGroup
		out  = make(chan *sarama.ConsumerMessage)
		stop = make(chan struct{})
	)
	// Stop the forwarders before closing the partition consumers (which
	// drain their channels), then wait for the forwarders to exit.
	defer func() {
		close(stop)
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		wg.Wait()
	}()
	for _, topic := range topics {
		partitions, err := consumer.Partitions(topic)
		if err != nil {
			return fmt.Errorf("messaging: consume: partitions of %q: %w", topic, err)
		}
		for _, partition := range partitions {
			pc, err := consumer.ConsumePartition(topic, partition, sarama.OffsetOldest)
			if err != nil {
				return fmt.Errorf("messaging: consume: %s/%d: %w", topic, partition, err)
			}
			pcs = append(pcs, pc)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range pc.Messages() {
					select {
					case out <- m:
					case <-stop:
						// Keep draining so AsyncClose can finish.
						for range pc.Messages() {
						}
						return
					}
				}
			}()
		}
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-out:
			if err := fn(toMessage(m)); err != nil {
				return err
			}
		}
	}
}

func toMessage(m *sarama.ConsumerMessage) Message {
	headers := make(map[string]string, len(m.Headers))
	for _, h := range m.Headers {
		if h != nil {
			headers[string(h.Key)] = string(h.Value)
		}
	}
	return Message{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Value:     m.Value,
		Headers:   headers,
		Timestamp: m.Timestamp,
	}
}
