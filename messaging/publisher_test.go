package messaging_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// TestPublishOrderKeysHeaders publishes 1,000 records of 50 aggregates,
// interleaved, and reads them back: each aggregate's events are in sequence
// order on one partition, nothing is duplicated, and key, value, topic and
// headers are as documented.
func TestPublishOrderKeysHeaders(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}, Partitions: 4})
	p := newPublisher(t, fastConfig(b))

	const aggregates, perAggregate = 50, 20
	aggs := make([]uuid.UUID, aggregates)
	for i := range aggs {
		aggs[i] = uuid.New()
	}
	sent := make(map[uuid.UUID]outbox.Record, aggregates*perAggregate)
	contentType := make(map[uuid.UUID]string, aggregates*perAggregate)
	res := newResults(t)
	for seq := int64(1); seq <= perAggregate; seq++ {
		for i, agg := range aggs {
			rec := record("Order", agg, seq)
			if (i+int(seq))%2 == 0 {
				rec.TraceParent = "00-" + strings.Repeat("a", 32) + "-" + strings.Repeat("b", 16) + "-01"
			}
			switch (i + int(seq)) % 3 {
			case 0:
				contentType[rec.EventID] = "application/json"
			case 1:
				// A row of a release before content_type existed.
				rec.ContentType = ""
				contentType[rec.EventID] = "application/json"
			case 2:
				rec.ContentType = "application/cloudevents+json"
				contentType[rec.EventID] = rec.ContentType
			}
			sent[rec.EventID] = rec
			p.Publish(rec, res.callback(rec.EventID))
		}
	}
	for id, err := range res.wait(len(sent), 20*time.Second) {
		if err != nil {
			t.Errorf("event %s: done(%v), want nil", id, err)
		}
	}
	if n := p.InFlight(); n != 0 {
		t.Errorf("InFlight() = %d after every callback, want 0", n)
	}

	msgs := readBack(t, b.Brokers(), []string{orderTopic}, len(sent), 20*time.Second)
	lastSeq := make(map[string]int64)
	partitionOf := make(map[string]int32)
	seen := make(map[uuid.UUID]bool)
	for _, m := range msgs {
		if m.Topic != orderTopic {
			t.Fatalf("topic %q, want %q", m.Topic, orderTopic)
		}
		id, err := uuid.Parse(m.Headers[messaging.HeaderEventID])
		if err != nil {
			t.Fatalf("event_id header %q: %v", m.Headers[messaging.HeaderEventID], err)
		}
		rec, ok := sent[id]
		if !ok || seen[id] {
			t.Fatalf("unexpected or duplicate event %s (known %v)", id, ok)
		}
		seen[id] = true
		key := string(m.Key)
		if key != rec.AggregateID.String() {
			t.Errorf("key %q, want aggregate id %s", key, rec.AggregateID)
		}
		if !bytes.Equal(m.Value, rec.Payload) {
			t.Errorf("value %q, want payload %q", m.Value, rec.Payload)
		}
		want := map[string]string{
			messaging.HeaderEventID:       rec.EventID.String(),
			messaging.HeaderEventType:     rec.EventType,
			messaging.HeaderAggregateType: rec.AggregateType,
			messaging.HeaderAggregateID:   rec.AggregateID.String(),
			messaging.HeaderSequence:      strconv.FormatInt(rec.Sequence, 10),
			messaging.HeaderOccurredAt:    rec.OccurredAt.Format(time.RFC3339Nano),
			messaging.HeaderContentType:   contentType[id],
		}
		if rec.TraceParent != "" {
			want[messaging.HeaderTraceParent] = rec.TraceParent
		}
		if age := time.Since(m.Timestamp); age < 0 || age > time.Minute {
			t.Errorf("event %s: Kafka timestamp %v is not the publish time", id, m.Timestamp)
		}
		if len(m.Headers) != len(want) {
			t.Errorf("event %s: headers %v, want %v", id, m.Headers, want)
		}
		for k, v := range want {
			if m.Headers[k] != v {
				t.Errorf("event %s: header %s = %q, want %q", id, k, m.Headers[k], v)
			}
		}
		if at, err := time.Parse(time.RFC3339Nano, m.Headers[messaging.HeaderOccurredAt]); err != nil || !at.Equal(rec.OccurredAt) {
			t.Errorf("occurred_at %q does not round-trip to %v (%v)", m.Headers[messaging.HeaderOccurredAt], rec.OccurredAt, err)
		}
		if p, ok := partitionOf[key]; ok && p != m.Partition {
			t.Errorf("aggregate %s on partitions %d and %d", key, p, m.Partition)
		}
		partitionOf[key] = m.Partition
		if rec.Sequence != lastSeq[key]+1 {
			t.Errorf("aggregate %s: sequence %d after %d (offset %d)", key, rec.Sequence, lastSeq[key], m.Offset)
		}
		lastSeq[key] = rec.Sequence
	}
	partitions := make(map[int32]bool)
	for _, p := range partitionOf {
		partitions[p] = true
	}
	if len(partitions) < 2 {
		t.Errorf("50 aggregates all hashed to %d partition(s); the key is not spreading load", len(partitions))
	}
}

// TestOversizedRecordAtBroker: the broker (not the publisher) rejects a
// record above its message.max.bytes. Kafka checks whole batches, so the
// test forces the oversized record into one batch with 40 small ones (the
// first produce request is held until all are queued): the oversized record
// fails Permanent, its batch mates are resent alone and succeed, in order.
func TestOversizedRecordAtBroker(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}, Partitions: 1, MaxMessageBytes: 16 << 10})
	core, logs := observer.New(zap.DebugLevel)
	p, err := messaging.NewPublisher(fastConfig(b), zap.New(core)) // producer limit: default 1 MiB
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, "publisher", p)

	release := make(chan struct{})
	c := b.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.SleepControl(func() { <-release })
		c.DropControl()
		return nil, nil, false // then handle it normally
	})

	res := newResults(t)
	agg := uuid.New()
	var big outbox.Record
	const small = 41
	for i := 1; i <= small; i++ {
		rec := record("Order", agg, int64(i))
		p.Publish(rec, res.callback(rec.EventID))
		if i == small/2 {
			big = record("Order", uuid.New(), 1)
			big.Payload = []byte(`"` + strings.Repeat("x", 20<<10) + `"`)
			p.Publish(big, res.callback(big.EventID))
		}
	}
	time.Sleep(100 * time.Millisecond) // let sarama queue them behind the held request
	close(release)

	got := res.wait(small+1, 20*time.Second)
	for id, err := range got {
		if id != big.EventID && err != nil {
			t.Errorf("small record %s: %v, want nil", id, err)
		}
	}
	err = got[big.EventID]
	var pe *messaging.PublishError
	if !errors.As(err, &pe) || pe.Kind != messaging.Permanent {
		t.Fatalf("oversized record: %v, want a Permanent *PublishError", err)
	}
	if !errors.Is(err, sarama.ErrMessageSizeTooLarge) || !errors.Is(err, messaging.ErrRecordTooLarge) {
		t.Errorf("oversized record: %v, want MESSAGE_TOO_LARGE from the broker", err)
	}
	if pe.Topic != orderTopic || pe.EventID != big.EventID {
		t.Errorf("PublishError names %s/%s, want %s/%s", pe.Topic, pe.EventID, orderTopic, big.EventID)
	}
	resent := logs.FilterMessageSnippet("resending its record alone").Len()
	if resent < 2 {
		t.Errorf("%d records resent alone; the oversized record did not share its batch, the test proves nothing", resent)
	}
	t.Logf("%d records resent alone", resent)

	msgs := readBack(t, b.Brokers(), []string{orderTopic}, small, 10*time.Second)
	for i, m := range msgs {
		if got := m.Headers[messaging.HeaderSequence]; got != strconv.Itoa(i+1) {
			t.Fatalf("message %d has sequence %s, want %d", i, got, i+1)
		}
	}
}

// TestOversizedRecordAtProducer: a record above Config.MaxMessageBytes never
// reaches the broker.
func TestOversizedRecordAtProducer(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}})
	cfg := fastConfig(b)
	cfg.MaxMessageBytes = 2048
	p := newPublisher(t, cfg)

	rec := record("Order", uuid.New(), 1)
	rec.Payload = []byte(`"` + strings.Repeat("x", 4096) + `"`)
	err := p.PublishSync(context.Background(), rec)
	if messaging.Classify(err) != messaging.Permanent || !errors.Is(err, messaging.ErrRecordTooLarge) {
		t.Fatalf("PublishSync(oversized) = %v, want Permanent ErrRecordTooLarge", err)
	}
	if err := p.PublishSync(context.Background(), record("Order", uuid.New(), 1)); err != nil {
		t.Fatalf("PublishSync(small) = %v", err)
	}
}

// TestBrokerOutage: while the broker is down, publishes fail Transient
// within a bounded time; after a restart on the same port publishing works
// again and the records written before the outage are still there.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}, DataDir: t.TempDir()})
	p := newPublisher(t, fastConfig(b))
	ctx := context.Background()

	const before = 20
	agg := uuid.New()
	for i := 1; i <= before; i++ {
		if err := p.PublishSync(ctx, record("Order", agg, int64(i))); err != nil {
			t.Fatalf("publish before outage: %v", err)
		}
	}
	addr := b.Addr()
	b.Stop()

	// Publish one after another, as a processor retrying would: the
	// first meets a dead connection, later ones refused dials, metadata
	// failures and possibly sarama's open breaker. All must be Transient,
	// each within a bounded time.
	for i := 0; i < 4; i++ {
		start := time.Now()
		errCh := make(chan error, 1)
		p.Publish(record("Order", agg, before+1), func(err error) { errCh <- err })
		select {
		case err := <-errCh:
			var pe *messaging.PublishError
			if !errors.As(err, &pe) || pe.Kind != messaging.Transient {
				t.Fatalf("publish during outage: %v, want a Transient *PublishError", err)
			}
			t.Logf("publish %d during the outage failed after %s: %v", i, time.Since(start).Round(time.Millisecond), pe.Err)
		case <-time.After(10 * time.Second):
			t.Fatal("no callback 10s into the outage")
		}
	}

	if err := b.Start(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if b.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", b.Addr(), addr)
	}
	// sarama's own breaker may stay open for up to 10s after an outage:
	// retry as the processor would.
	start := time.Now()
	var after int
	for deadline := time.Now().Add(20 * time.Second); ; {
		err := p.PublishSync(ctx, record("Order", agg, before+2))
		if err == nil {
			after++
			break
		}
		if messaging.Classify(err) != messaging.Transient {
			t.Fatalf("publish after restart: %v, want success or Transient", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing 20s after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("publishing again %s after restart", time.Since(start).Round(time.Millisecond))

	msgs := readBack(t, b.Brokers(), []string{orderTopic}, before+after, 10*time.Second)
	for i, m := range msgs[:before] {
		if got := m.Headers[messaging.HeaderSequence]; got != strconv.Itoa(i+1) {
			t.Errorf("message %d after restart has sequence %s, want %d", i, got, i+1)
		}
	}
}

// TestTopicRouting: the template routes by aggregate type. A template
// result that is not a topic name, or a topic that does not exist, fails
// Permanent without disturbing the other topics — also after sarama's
// per-topic breaker opened on the missing topic.
func TestTopicRouting(t *testing.T) {
	t.Parallel()
	const paymentTopic = "outbox.event.Payment"
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic, paymentTopic}})
	p := newPublisher(t, fastConfig(b))
	ctx := context.Background()

	for i := 1; i <= 5; i++ {
		for _, typ := range []string{"Order", "Payment"} {
			if err := p.PublishSync(ctx, record(typ, uuid.New(), int64(i))); err != nil {
				t.Fatalf("publish %s: %v", typ, err)
			}
		}
	}
	for _, tc := range []struct{ topic, typ string }{{orderTopic, "Order"}, {paymentTopic, "Payment"}} {
		for _, m := range readBack(t, b.Brokers(), []string{tc.topic}, 5, 10*time.Second) {
			if m.Headers[messaging.HeaderAggregateType] != tc.typ {
				t.Errorf("topic %s holds a %s event", tc.topic, m.Headers[messaging.HeaderAggregateType])
			}
		}
	}

	err := p.PublishSync(ctx, record("Bad Type", uuid.New(), 1))
	if messaging.Classify(err) != messaging.Permanent || !errors.Is(err, messaging.ErrInvalidTopic) {
		t.Errorf("publish to an illegal topic name: %v, want Permanent ErrInvalidTopic", err)
	}

	// Five in a row: the first ones fail UNKNOWN_TOPIC_OR_PARTITION, the
	// later ones meet sarama's open breaker; all must be Permanent.
	for i := 1; i <= 5; i++ {
		err := p.PublishSync(ctx, record("Ghost", uuid.New(), 1))
		if messaging.Classify(err) != messaging.Permanent {
			t.Fatalf("publish %d to a missing topic: %v, want Permanent", i, err)
		}
		if i == 1 && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Errorf("first publish to a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
	}
	if err := p.PublishSync(ctx, record("Order", uuid.New(), 1)); err != nil {
		t.Errorf("publish to an existing topic after the missing one: %v", err)
	}
}

// TestCustomTemplate routes with template functions and a constant topic.
func TestCustomTemplate(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{"events.order.orderupdated", "all-events"}})
	ctx := context.Background()

	cfg := fastConfig(b)
	cfg.TopicTemplate = "events.{{lower .AggregateType}}.{{lower .EventType}}"
	if err := newPublisher(t, cfg).PublishSync(ctx, record("Order", uuid.New(), 1)); err != nil {
		t.Fatalf("templated topic: %v", err)
	}
	cfg.TopicTemplate = "all-events"
	if err := newPublisher(t, cfg).PublishSync(ctx, record("Order", uuid.New(), 1)); err != nil {
		t.Fatalf("constant topic: %v", err)
	}
	readBack(t, b.Brokers(), []string{"events.order.orderupdated", "all-events"}, 2, 10*time.Second)
}

// TestInvalidRecords fail Permanent before reaching the broker.
func TestInvalidRecords(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}})
	p := newPublisher(t, fastConfig(b))
	for name, mutate := range map[string]func(*outbox.Record){
		"nil event id":     func(r *outbox.Record) { r.EventID = uuid.Nil },
		"nil aggregate id": func(r *outbox.Record) { r.AggregateID = uuid.Nil },
		"no event type":    func(r *outbox.Record) { r.EventType = "" },
		"empty payload":    func(r *outbox.Record) { r.Payload = nil },
		"sequence 0":       func(r *outbox.Record) { r.Sequence = 0 },
	} {
		rec := record("Order", uuid.New(), 1)
		mutate(&rec)
		err := p.PublishSync(context.Background(), rec)
		if messaging.Classify(err) != messaging.Permanent || !errors.Is(err, messaging.ErrInvalidRecord) {
			t.Errorf("%s: %v, want Permanent ErrInvalidRecord", name, err)
		}
	}
}

// TestCloseCallsEveryCallback: Close never leaves a callback uncalled,
// whether the broker is up (records flush and succeed) or down (records
// stuck in sarama's retries fail), and Publish after Close fails Transient.
func TestCloseCallsEveryCallback(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}})

	t.Run("broker up", func(t *testing.T) {
		p, err := messaging.NewPublisher(fastConfig(b), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		res := newResults(t)
		const n = 500
		for i := 0; i < n; i++ {
			rec := record("Order", uuid.New(), 1)
			p.Publish(rec, res.callback(rec.EventID))
		}
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// Close returns after every callback ran: no waiting here.
		for id, err := range res.wait(n, 0) {
			if err != nil {
				t.Errorf("%s: %v, want nil (Close flushes)", id, err)
			}
		}
		afterClose := make(chan error, 1)
		p.Publish(record("Order", uuid.New(), 1), func(err error) { afterClose <- err })
		if err := <-afterClose; messaging.Classify(err) != messaging.Transient || !errors.Is(err, messaging.ErrClosed) {
			t.Errorf("Publish after Close: %v, want Transient ErrClosed", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("broker down", func(t *testing.T) {
		p, err := messaging.NewPublisher(fastConfig(b), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.PublishSync(context.Background(), record("Order", uuid.New(), 1)); err != nil {
			t.Fatal(err)
		}
		b.Stop()
		defer func() {
			if err := b.Start(context.Background()); err != nil {
				t.Errorf("restart: %v", err)
			}
		}()
		res := newResults(t)
		const n = 50
		for i := 0; i < n; i++ {
			rec := record("Order", uuid.New(), 1)
			p.Publish(rec, res.callback(rec.EventID))
		}
		start := time.Now()
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		t.Logf("Close took %s with the broker down", time.Since(start).Round(time.Millisecond))
		for id, err := range res.wait(n, 0) {
			if messaging.Classify(err) != messaging.Transient || err == nil {
				t.Errorf("%s: %v, want a Transient error", id, err)
			}
		}
	})
}

// TestPublishSyncContext: a cancelled context returns at once.
func TestPublishSyncContext(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}})
	p := newPublisher(t, fastConfig(b))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.PublishSync(ctx, record("Order", uuid.New(), 1)); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("PublishSync(cancelled) = %v, want nil or context.Canceled", err)
	}
}

// TestPublisherStartsWithoutBroker: a publisher can be created while no
// broker answers. Until it connects, publishes fail at once as unavailable
// (never ambiguous: nothing was sent) and Healthy says why; once the broker
// is up it connects by itself and publishes. An invalid configuration still
// fails at once.
func TestPublisherStartsWithoutBroker(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}})
	b.Stop()
	p := newPublisher(t, fastConfig(b))
	select {
	case <-p.Connected():
		t.Fatal("Connected is closed while the broker is down")
	default:
	}
	if err := p.Healthy(); !errors.Is(err, messaging.ErrNotConnected) || !messaging.IsUnavailable(err) {
		t.Errorf("Healthy() = %v, want an unavailable ErrNotConnected", err)
	}
	for i := 0; i < 3; i++ {
		err := p.PublishSync(context.Background(), record("Order", uuid.New(), 1))
		var pe *messaging.PublishError
		if !errors.As(err, &pe) || pe.Kind != messaging.Transient || !errors.Is(err, messaging.ErrNotConnected) ||
			!messaging.IsUnavailable(err) || messaging.IsAmbiguous(err) {
			t.Fatalf("publish before connecting: %v, want a Transient, unavailable, unambiguous ErrNotConnected", err)
		}
	}
	if n := p.InFlight(); n != 0 {
		t.Errorf("InFlight() = %d after failed publishes, want 0", n)
	}

	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Connected():
	case <-time.After(30 * time.Second):
		t.Fatalf("not connected 30s after the broker started: %v", p.Healthy())
	}
	if err := p.Healthy(); err != nil {
		t.Errorf("Healthy() after connecting = %v", err)
	}
	rec := record("Order", uuid.New(), 1)
	if err := p.PublishSync(context.Background(), rec); err != nil {
		t.Fatalf("publish after connecting: %v", err)
	}
	if got := readBack(t, b.Brokers(), []string{orderTopic}, 1, 10*time.Second); got[0].Headers[messaging.HeaderEventID] != rec.EventID.String() {
		t.Fatalf("topic holds %v, want event %s", got[0].Headers, rec.EventID)
	}

	_, err := messaging.NewPublisher(messaging.Config{}, nil)
	if !errors.Is(err, messaging.ErrInvalidConfig) || messaging.Classify(err) != messaging.Permanent {
		t.Errorf("NewPublisher(empty config) = %v, want ErrInvalidConfig", err)
	}
	cfg := fastConfig(b)
	cfg.TLS = &messaging.TLSConfig{CAFile: "/does/not/exist.pem"}
	if _, err := messaging.NewPublisher(cfg, nil); !errors.Is(err, messaging.ErrInvalidConfig) {
		t.Errorf("NewPublisher(missing CA file) = %v, want ErrInvalidConfig", err)
	}
}

// TestCloseBeforeConnecting: Close stops a publisher that never connected;
// later publishes fail with ErrClosed.
func TestCloseBeforeConnecting(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{})
	b.Stop()
	p, err := messaging.NewPublisher(fastConfig(b), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	afterClose := make(chan error, 1)
	p.Publish(record("Order", uuid.New(), 1), func(err error) { afterClose <- err })
	if err := <-afterClose; !errors.Is(err, messaging.ErrClosed) || messaging.IsAmbiguous(err) {
		t.Errorf("Publish after Close: %v, want an unambiguous ErrClosed", err)
	}
	select {
	case <-p.Connected():
		t.Error("a publisher closed before connecting reports Connected")
	default:
	}
}
