package messaging

import (
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// isolationLane resends, one at a time, records whose batch the broker
// rejected with MESSAGE_TOO_LARGE. Kafka checks max.message.bytes against a
// whole record batch, and sarama cannot split a batch (the Java producer
// does), so one oversized record fails every record batched with it. Only
// a record rejected when sent alone is really too large.
//
// A request from the main producer may batch anything queued for the
// partition, so the lane uses its own SyncProducer, called from one
// goroutine: each of its requests carries exactly one record. The producer is
// created on first use, because the lane is only needed when
// Config.MaxMessageBytes is above the broker's limit.
//
// A record resent by the lane may be written after records of its aggregate
// that were published behind it; see the ordering note in the package
// documentation.
type isolationLane struct {
	p *Publisher

	mu     sync.Mutex
	queue  []laneItem
	closed bool

	wake     chan struct{} // capacity 1
	stop     chan struct{}
	done     chan struct{}
	producer sarama.SyncProducer // owned by run
	warned   bool                // owned by run: the misconfiguration was reported
}

type laneItem struct {
	pd  *pending
	msg *sarama.ProducerMessage
}

func newIsolationLane(p *Publisher) *isolationLane {
	l := &isolationLane{
		p:    p,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go l.run()
	return l
}

// submit queues a rejected record without blocking (it is called from the
// goroutine that drains sarama's results).
func (l *isolationLane) submit(pd *pending, msg *sarama.ProducerMessage) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.p.fail(pd, Transient, ErrClosed)
		return
	}
	// A fresh message: sarama keeps per-attempt state in the old one.
	l.queue = append(l.queue, laneItem{pd: pd, msg: &sarama.ProducerMessage{
		Topic: msg.Topic, Key: msg.Key, Value: msg.Value, Headers: msg.Headers, Metadata: pd,
	}})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *isolationLane) next() (laneItem, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		return laneItem{}, false
	}
	it := l.queue[0]
	l.queue[0] = laneItem{}
	l.queue = l.queue[1:]
	return it, true
}

func (l *isolationLane) run() {
	defer close(l.done)
	for {
		select {
		case <-l.wake:
		case <-l.stop:
			return
		}
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			it, ok := l.next()
			if !ok {
				break
			}
			l.send(it)
		}
	}
}

func (l *isolationLane) send(it laneItem) {
	log := l.p.log.With(zap.Stringer("event_id", it.pd.eventID), zap.String("topic", it.msg.Topic))
	if l.producer == nil {
		sc, err := l.p.cfg.producerConfig()
		if err == nil {
			sc.ClientID += "-isolation"
			l.producer, err = sarama.NewSyncProducer(l.p.cfg.Brokers, sc)
		}
		if err != nil {
			// The record may be fine; the caller retries it later.
			l.p.fail(it.pd, Transient, fmt.Errorf("messaging: start producer to resend a rejected batch: %w", err))
			return
		}
	}
	if !l.warned {
		// Every record of a rejected batch comes through here, so say it
		// once: if it keeps happening, throughput drops to one record per
		// round trip and the configuration should be fixed.
		l.warned = true
		l.p.log.Warn("messaging: the broker rejected a batch as too large; resending its records one at a time. "+
			"Set Config.MaxMessageBytes to at most the broker's (or topic's) max.message.bytes",
			zap.Int("max_message_bytes", l.p.cfg.MaxMessageBytes), zap.String("topic", it.msg.Topic))
	}
	log.Debug("messaging: broker rejected a batch as too large; resending its record alone")
	_, _, err := l.producer.SendMessage(it.msg)
	switch {
	case err == nil:
		l.p.resolve(it.pd, nil)
	case errors.Is(err, sarama.ErrMessageSizeTooLarge):
		l.p.fail(it.pd, Permanent, fmt.Errorf("%w: the broker rejected the record sent alone (its max.message.bytes is below Config.MaxMessageBytes=%d): %w",
			ErrRecordTooLarge, l.p.cfg.MaxMessageBytes, err))
	default:
		l.p.fail(it.pd, Classify(err), err)
	}
}

// close stops the lane after the record being sent, if any; records still
// queued fail with ErrClosed.
func (l *isolationLane) close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	for {
		it, ok := l.next()
		if !ok {
			break
		}
		l.p.fail(it.pd, Transient, ErrClosed)
	}
	if l.producer != nil {
		return l.producer.Close()
	}
	return nil
}
