package messaging

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/eapache/go-resiliency/breaker"
	"github.com/google/uuid"
	"github.com/rcrowley/go-metrics"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// init turns off rcrowley/go-metrics, which sarama feeds. Every go-metrics
// meter is ticked by a package-global goroutine that is started on first use
// and never stops: a leak per process (and per test binary), plus work on
// every tick for meters nobody reads — the relay exports its own Prometheus
// metrics. UseNilMetrics is a plain variable of another library, read
// without synchronisation whenever sarama builds a client, so it must be
// written before any goroutine can build one; package initialisation is the
// only point this package can guarantee that (it happens before main and
// before any test). The side effect is process-wide: every sarama client in
// the binary gets no-op go-metrics, which is what this project wants.
func init() {
	metrics.UseNilMetrics = true
}

// recordVersion is the record batch format the producer writes (magic 2,
// Kafka 0.11+); sizes are computed for it.
const recordVersion = 2

// Publisher publishes outbox records to Kafka through one idempotent sarama
// AsyncProducer (see the package documentation for the wire format and the
// ordering guarantees). It is safe for concurrent use.
//
// A Publisher exists before it reaches the brokers: [NewPublisher] tries
// once and, if no broker answers, keeps trying in the background with a
// capped exponential backoff. Until then every record fails at once with
// a Transient error wrapping [ErrNotConnected] ([IsUnavailable] reports
// it), [Publisher.Healthy] returns the last connection failure, and
// [Publisher.Connected] is open.
//
// Every record handed to [Publisher.Publish] gets exactly one callback, on
// success or failure, including records still buffered when [Publisher.Close]
// is called. Callbacks run one at a time on the publisher's result goroutine,
// in the order results were decided, never inside Publish itself; they may
// call Publish. A slow callback delays later callbacks but never the
// producer.
type Publisher struct {
	cfg    Config
	log    *zap.Logger
	router *topicRouter
	keys   headerKeys

	// mu orders Publish against Close and against connecting: Publish
	// holds it shared while it hands a message to sarama, Close takes it
	// exclusively to stop new sends before closing sarama's input (sending
	// on it afterwards would panic), and the connection is installed
	// under it.
	mu      sync.RWMutex
	closed  bool
	closing chan struct{} // closed first by Close, to release Publish calls blocked on sarama's input and stop connecting

	// The connection: nil until connected, then fixed. Set under mu
	// before connected is closed.
	client   sarama.Client
	producer sarama.AsyncProducer
	lane     *isolationLane
	drained  chan struct{} // closed when drain has seen both sarama result channels close

	connErr   error // the last connection failure, under mu; nil once connected
	attempts  int   // connection attempts so far, under mu
	connected chan struct{}
	connDone  chan struct{} // closed when no connection attempt runs or will run

	// pending holds every record accepted and not yet resolved, so Close
	// can fail whatever sarama did not report (it should report all).
	pmu     sync.Mutex
	pending map[*pending]struct{}

	callbacks *callbackQueue

	// topicFailure is the kind of the last topic-level or Transient failure
	// per topic, cleared by a success; only drain touches it. See onError.
	topicFailure map[string]ErrorKind

	closeOnce sync.Once
	closeErr  error
}

// reconnectBackoff paces connection attempts after the first failed one:
// 100 ms doubling to 5 s, with jitter so a fleet of relays does not
// reconnect in lockstep. Each attempt costs the broker a metadata request.
var reconnectBackoff = resilience.RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second, Multiplier: 2, Jitter: 0.2}

// NewPublisher validates cfg and starts the publisher. It fails only if
// cfg is invalid ([ErrInvalidConfig], including unreadable TLS files). It
// tries to connect to the cluster before returning: when a broker answers,
// the publisher is ready at once; when none does, it returns all the same
// and keeps connecting in the background (see [Publisher]). A nil logger
// discards logs.
func NewPublisher(cfg Config, logger *zap.Logger) (*Publisher, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	router, err := newTopicRouter(cfg.TopicTemplate)
	if err != nil { // unreachable after Validate; kept for safety
		return nil, &ConfigError{Field: "TopicTemplate", Reason: err.Error()}
	}
	// Build the sarama configuration once here, so configuration errors
	// (TLS files) are reported now rather than retried as connection
	// failures.
	if _, err := cfg.producerConfig(); err != nil {
		return nil, err
	}
	log := logger.Named("publisher")
	p := &Publisher{
		cfg:          cfg,
		log:          log,
		router:       router,
		keys:         newHeaderKeys(),
		closing:      make(chan struct{}),
		connected:    make(chan struct{}),
		connDone:     make(chan struct{}),
		pending:      make(map[*pending]struct{}),
		callbacks:    newCallbackQueue(log),
		topicFailure: make(map[string]ErrorKind),
	}
	fields := []zap.Field{zap.Strings("brokers", cfg.Brokers), zap.String("topic_template", cfg.TopicTemplate),
		zap.String("kafka_version", cfg.KafkaVersion), zap.Int("max_message_bytes", cfg.MaxMessageBytes),
		zap.Duration("delivery_timeout", cfg.DeliveryTimeout)}
	client, producer, err := p.connect()
	if err == nil {
		p.install(client, producer)
		close(p.connDone)
		log.Info("messaging: publisher started", fields...)
		return p, nil
	}
	p.connErr, p.attempts = err, 1
	log.Warn("messaging: publisher started without a broker; publishing fails as unavailable until it connects",
		append(fields, zap.Int("attempt", 1), zap.Error(err))...)
	go p.reconnect()
	return p, nil
}

// connect makes one attempt to reach the cluster: a client (metadata from
// a bootstrap broker) and an idempotent producer (a producer id from a
// broker).
func (p *Publisher) connect() (sarama.Client, sarama.AsyncProducer, error) {
	sc, err := p.cfg.producerConfig()
	if err != nil {
		return nil, nil, err
	}
	// The producer gets its own client so readiness checks can ask the
	// same connections the producer uses.
	client, err := sarama.NewClient(p.cfg.Brokers, sc)
	if err != nil {
		return nil, nil, fmt.Errorf("messaging: connect to %v: %w", p.cfg.Brokers, p.cfg.explain(err))
	}
	producer, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		err = fmt.Errorf("messaging: start producer for %v: %w", p.cfg.Brokers, p.cfg.explain(err))
		if cerr := client.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("messaging: close client: %w", cerr))
		}
		return nil, nil, err
	}
	return client, producer, nil
}

// install makes a connection the publisher's. The caller holds mu or owns
// p exclusively.
func (p *Publisher) install(client sarama.Client, producer sarama.AsyncProducer) {
	p.client, p.producer = client, producer
	p.connErr = nil
	p.drained = make(chan struct{})
	p.lane = newIsolationLane(p)
	go p.drain(producer)
	close(p.connected)
}

// reconnect retries connecting until it succeeds or Close is called.
func (p *Publisher) reconnect() {
	defer close(p.connDone)
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for attempt := 2; ; attempt++ {
		wait := time.NewTimer(reconnectBackoff.Backoff(attempt-1, rnd))
		select {
		case <-p.closing:
			wait.Stop()
			return
		case <-wait.C:
		}
		client, producer, err := p.connect()
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			if err == nil {
				// Made after Close, never used: no record to fail,
				// only the connection to let go of.
				if cerr := errors.Join(producer.Close(), client.Close()); cerr != nil {
					p.log.Warn("messaging: close a connection made during Close", zap.Error(cerr))
				}
			}
			return
		case err == nil:
			p.install(client, producer)
			p.attempts = attempt
			p.mu.Unlock()
			p.log.Info("messaging: publisher connected", zap.Strings("brokers", p.cfg.Brokers), zap.Int("attempt", attempt))
			return
		}
		p.connErr, p.attempts = err, attempt
		p.mu.Unlock()
		p.log.Warn("messaging: still cannot reach the brokers", zap.Strings("brokers", p.cfg.Brokers),
			zap.Int("attempt", attempt), zap.Error(err))
	}
}

// notConnectedLocked is the error of a record refused before connecting.
// The caller holds mu.
func (p *Publisher) notConnectedLocked() error {
	return fmt.Errorf("%w (%d attempts, the last failed: %w)", ErrNotConnected, p.attempts, p.connErr)
}

// Connected is closed once the publisher has connected to the cluster.
// It is closed when [NewPublisher] returns if a broker answered then.
func (p *Publisher) Connected() <-chan struct{} { return p.connected }

// Publish sends rec asynchronously and calls done exactly once with its
// outcome: nil when the broker acknowledged it (acks from all in-sync
// replicas), otherwise a [*PublishError] whose Kind says whether to retry.
// A nil done is allowed and ignored.
//
// The producer keeps a reference to rec.Payload until done is called: the
// caller must not modify it before then.
//
// Publish returns as soon as the record is queued in the producer; it blocks
// only while the producer's input buffer is full, which is backpressure
// from a slow or unreachable broker. A record that cannot be sent at all —
// invalid, larger than [Config.MaxMessageBytes], or with a topic the template
// cannot produce — fails with a Permanent error through done, like any
// other failure. Before the publisher has connected, done receives a
// Transient error wrapping [ErrNotConnected]; after [Publisher.Close], one
// wrapping [ErrClosed], from a new goroutine.
func (p *Publisher) Publish(rec outbox.Record, done func(error)) {
	p.publish(nil, rec, done)
}

// PublishSync publishes rec and waits for the outcome: nil when the broker
// acknowledged it, otherwise the [*PublishError] that [Publisher.Publish]
// would pass to its callback. It uses the same topic, key and headers as
// Publish. If ctx ends first, PublishSync returns ctx.Err() and the outcome
// is unknown: the record may still be written, which consumers tolerate
// because they deduplicate on [HeaderEventID].
func (p *Publisher) PublishSync(ctx context.Context, rec outbox.Record) error {
	result := make(chan error, 1)
	p.publish(ctx.Done(), rec, func(err error) { result <- err })
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publish is Publish with an optional abort channel for PublishSync.
func (p *Publisher) publish(abort <-chan struct{}, rec outbox.Record, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	o := newOutgoing(rec.EventID, done)
	pd := &o.pd
	buildErr := p.message(&rec, o)

	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		err := &PublishError{Kind: Transient, Err: ErrClosed, Topic: pd.topic, EventID: pd.eventID}
		go invoke(p.log, done, err, pd.eventID)
		return
	}
	p.track(pd)
	if buildErr != nil {
		p.fail(pd, Permanent, buildErr)
		return
	}
	if p.producer == nil {
		p.fail(pd, Transient, p.notConnectedLocked())
		return
	}
	// The input has room unless the broker is slow: trying it alone first
	// spares most records the three-way select. Close cannot have closed
	// the input meanwhile (it waits for mu), and the select below could
	// pick the send as well.
	select {
	case p.producer.Input() <- &o.msg:
		return
	default:
	}
	select {
	case p.producer.Input() <- &o.msg:
	case <-p.closing:
		p.fail(pd, Transient, ErrClosed)
	case <-abort:
		p.fail(pd, Transient, context.Canceled)
	}
}

// outgoing is one record on its way to the broker: its publish state, its
// sarama message and what the message points to but the text of the key
// and header values (kept apart: without pointers, the collector never
// scans it), in one allocation. Built piece by piece they cost seven
// allocations per record on the relay's hottest path. The message's
// Metadata points back at pd, so the whole outgoing lives until sarama
// reports the record.
type outgoing struct {
	pd  pending
	msg sarama.ProducerMessage
	// key and value back msg.Key and msg.Value: a pointer to them is an
	// Encoder without the allocation converting a ByteEncoder would cost.
	key, value sarama.ByteEncoder
	headers    [len(headerKeys{})]sarama.RecordHeader
}

func newOutgoing(eventID uuid.UUID, done func(error)) *outgoing {
	return &outgoing{pd: pending{done: done, eventID: eventID}}
}

// message builds the Kafka record for rec into o and sets o.pd.topic.
// Errors are Permanent.
func (p *Publisher) message(rec *outbox.Record, o *outgoing) error {
	// An invalid record would reach consumers without the id they
	// deduplicate on or the key that orders it, or as a tombstone.
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("%w: event %s: %w", ErrInvalidRecord, rec.EventID, err)
	}
	topic, err := p.router.topic(rec)
	if err != nil {
		return err
	}
	o.pd.topic = topic
	// One buffer holds every header value and the key (the aggregate id's
	// text, shared with its header); the header keys are constants.
	contentType := domain.ContentTypeOf(rec.ContentType)
	buf := make([]byte, 0, 2*36+len(rec.EventType)+len(rec.AggregateType)+20+len(time.RFC3339Nano)+
		len(contentType)+len(rec.TraceParent))
	headers := o.headers[:0]
	add := func(key []byte, start int) {
		headers = append(headers, sarama.RecordHeader{Key: key, Value: buf[start:len(buf):len(buf)]})
	}
	start := len(buf)
	buf = appendUUID(buf, rec.EventID)
	add(p.keys[0], start)
	start = len(buf)
	buf = append(buf, rec.EventType...)
	add(p.keys[1], start)
	start = len(buf)
	buf = append(buf, rec.AggregateType...)
	add(p.keys[2], start)
	start = len(buf)
	buf = appendUUID(buf, rec.AggregateID)
	add(p.keys[3], start)
	o.key = buf[start:len(buf):len(buf)]
	start = len(buf)
	buf = strconv.AppendInt(buf, rec.Sequence, 10)
	add(p.keys[4], start)
	start = len(buf)
	buf = rec.OccurredAt.UTC().AppendFormat(buf, time.RFC3339Nano)
	add(p.keys[5], start)
	start = len(buf)
	buf = append(buf, contentType...)
	add(p.keys[6], start)
	if rec.TraceParent != "" {
		start = len(buf)
		buf = append(buf, rec.TraceParent...)
		add(p.keys[7], start)
	}
	o.value = rec.Payload
	o.msg = sarama.ProducerMessage{
		Topic:    topic,
		Key:      &o.key,
		Value:    &o.value,
		Headers:  headers,
		Metadata: &o.pd,
	}
	// sarama makes the same check, but reports it as a ConfigurationError;
	// checking here gives the caller the record's size and a clear cause.
	if size := o.msg.ByteSize(recordVersion); size > p.cfg.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes encoded, Config.MaxMessageBytes is %d", ErrRecordTooLarge, size, p.cfg.MaxMessageBytes)
	}
	return nil
}

func (p *Publisher) track(pd *pending) {
	p.pmu.Lock()
	p.pending[pd] = struct{}{}
	p.pmu.Unlock()
}

// resolve decides pd's outcome once and queues its callback.
func (p *Publisher) resolve(pd *pending, err error) {
	if !pd.fired.CompareAndSwap(false, true) {
		return
	}
	p.pmu.Lock()
	delete(p.pending, pd)
	p.pmu.Unlock()
	if !p.callbacks.push(completion{p: pd, err: err}) {
		// Unreachable: the queue closes only after every record is
		// resolved. Never drop a callback all the same.
		go invoke(p.log, pd.done, err, pd.eventID)
	}
}

func (p *Publisher) fail(pd *pending, kind ErrorKind, err error) {
	perr := &PublishError{Kind: kind, Err: err, Topic: pd.topic, EventID: pd.eventID}
	p.logFailure(perr)
	p.resolve(pd, perr)
}

func (p *Publisher) logFailure(e *PublishError) {
	fields := []zap.Field{zap.Stringer("event_id", e.EventID), zap.String("topic", e.Topic), zap.Error(e.Err)}
	switch {
	case e.Kind == Permanent:
		p.log.Warn("messaging: publish failed permanently", fields...)
	case IsUnavailable(e):
		// An outage fails every record; the breaker reports it once.
		p.log.Debug("messaging: publish failed, broker unavailable", fields...)
	default:
		p.log.Warn("messaging: publish failed with an unclassified error, treated as transient", fields...)
	}
}

// drain reads sarama's results until both channels close (after AsyncClose
// has flushed everything).
func (p *Publisher) drain(producer sarama.AsyncProducer) {
	defer close(p.drained)
	successes, errs := producer.Successes(), producer.Errors()
	for successes != nil || errs != nil {
		select {
		case msg, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			delete(p.topicFailure, msg.Topic)
			if pd, ok := msg.Metadata.(*pending); ok {
				p.resolve(pd, nil)
			}
		case perr, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			p.onError(perr)
		}
	}
}

func (p *Publisher) onError(perr *sarama.ProducerError) {
	pd, ok := perr.Msg.Metadata.(*pending)
	if !ok {
		p.log.Error("messaging: producer returned a message without publish state", zap.Error(perr))
		return
	}
	err := perr.Err
	if errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		// The broker checks whole batches, so every record batched with
		// an oversized one gets this error too. Resend each alone to find
		// out which record is really too large.
		p.lane.submit(pd, perr.Msg)
		return
	}
	kind := Classify(err)
	topic := perr.Msg.Topic
	if errors.Is(err, breaker.ErrBreakerOpen) {
		// sarama's per-topic breaker opens after three failed partition
		// or leader lookups, whatever their cause: an outage (Transient)
		// or a missing topic (Permanent). Report the kind of the failures
		// that opened it, so a missing topic does not look like an outage
		// and trip the processor's breaker for every other topic.
		if k, seen := p.topicFailure[topic]; seen {
			kind = k
		}
	} else if kind == Transient || isTopicLevel(err) {
		p.topicFailure[topic] = kind
	}
	p.fail(pd, kind, err)
}

// InFlight returns the number of records published and not yet resolved
// (their callbacks may still be queued).
func (p *Publisher) InFlight() int {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	return len(p.pending)
}

// Healthy reports whether the cluster answers a metadata request on the
// producer's client: the readiness check of the relay. Before the publisher
// has connected it returns an error wrapping [ErrNotConnected] and the last
// connection failure.
func (p *Publisher) Healthy() error {
	p.mu.RLock()
	client := p.client
	var notConnected error
	if client == nil {
		notConnected = p.notConnectedLocked()
	}
	p.mu.RUnlock()
	if client == nil {
		return fmt.Errorf("messaging: brokers %v: %w", p.cfg.Brokers, notConnected)
	}
	if err := client.RefreshMetadata(); err != nil {
		return fmt.Errorf("messaging: brokers %v: %w", p.cfg.Brokers, err)
	}
	return nil
}

// Close flushes the producer and stops the publisher; a publisher that has
// not connected yet stops trying (Close waits for a connection attempt
// under way, which Config.Timeout bounds). Records already handed to sarama
// are sent and reported as usual; records it cannot deliver get their error
// once sarama gives up: at once when no broker answers, otherwise within
// [Config.DeliveryTimeout] plus the attempts' own time. Records still
// waiting to enter the producer and records still waiting to be resent
// alone fail with a Transient error wrapping [ErrClosed]. Close returns
// after every callback has run. It is idempotent; later calls return the
// first result.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		<-p.connDone // the connection, if any, is now fixed

		if p.producer != nil {
			// AsyncClose, not Close: sarama's Close drains the result
			// channels itself, which would swallow the results our drain
			// goroutine must turn into callbacks.
			p.producer.AsyncClose()
			<-p.drained
			p.closeErr = p.lane.close()
		}

		p.pmu.Lock()
		left := make([]*pending, 0, len(p.pending))
		for pd := range p.pending {
			left = append(left, pd)
		}
		p.pmu.Unlock()
		if len(left) > 0 {
			p.log.Warn("messaging: records unresolved at close", zap.Int("count", len(left)))
		}
		for _, pd := range left {
			p.fail(pd, Transient, fmt.Errorf("%w: %w", ErrClosed, errUnreported))
		}
		p.callbacks.close()
		if p.client != nil {
			if err := p.client.Close(); err != nil && p.closeErr == nil && !errors.Is(err, sarama.ErrClosedClient) {
				p.closeErr = err
			}
		}
		p.log.Info("messaging: publisher closed")
	})
	return p.closeErr
}
