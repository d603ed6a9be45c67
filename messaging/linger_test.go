package messaging_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
)

// TestLingerBatchesRecords: records published within Config.Linger of the
// first reach the broker in one produce request, in order. Without the
// linger the first record leaves alone, as soon as it is queued.
func TestLingerBatchesRecords(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}, Partitions: 1})

	var (
		mu       sync.Mutex
		requests []int32 // records per produce request
	)
	c := b.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		n := int32(0)
		for _, topic := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range topic.Partitions {
				var batch kmsg.RecordBatch
				if err := batch.ReadFrom(p.Records); err == nil {
					n += batch.NumRecords
				}
			}
		}
		mu.Lock()
		requests = append(requests, n)
		mu.Unlock()
		return nil, nil, false // then handle it normally
	})

	cfg := fastConfig(b)
	// Far longer than publishing the records takes, even under -race on a
	// loaded machine, so that they all join the first record's batch.
	cfg.Linger = time.Second
	p := newPublisher(t, cfg)

	const n = 30
	res := newResults(t)
	agg := publishAggregate(p, res, n)
	for id, err := range res.wait(n, 20*time.Second) {
		if err != nil {
			t.Errorf("event %s: %v", id, err)
		}
	}
	mu.Lock()
	got := append([]int32(nil), requests...)
	mu.Unlock()
	if len(got) != 1 || got[0] != n {
		t.Errorf("records per produce request %v, want one request of %d", got, n)
	}
	requireInOrder(t, readBack(t, b.Brokers(), []string{orderTopic}, n, 10*time.Second), agg)
}

// TestCloseFlushesLingeringBatch: Close while records wait out the linger
// sends them and reports each as published; none is lost or failed.
func TestCloseFlushesLingeringBatch(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}, Partitions: 1})
	cfg := fastConfig(b)
	cfg.Linger = time.Second // the records are still waiting when Close runs
	p, err := messaging.NewPublisher(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PublishSync(context.Background(), record("Order", uuid.New(), 1)); err != nil {
		t.Fatalf("first record (connects the producer): %v", err)
	}

	const n = 20
	res := newResults(t)
	agg := publishAggregate(p, res, n)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for id, err := range res.wait(n, 10*time.Second) {
		if err != nil {
			t.Errorf("event %s: %v, want published", id, err)
		}
	}
	requireInOrder(t, readBack(t, b.Brokers(), []string{orderTopic}, n+1, 10*time.Second)[1:], agg)
}

// publishAggregate publishes events 1 to n of a new aggregate, results to
// res, and returns the aggregate.
func publishAggregate(p *messaging.Publisher, res *results, n int) uuid.UUID {
	agg := uuid.New()
	for seq := int64(1); seq <= int64(n); seq++ {
		rec := record("Order", agg, seq)
		p.Publish(rec, res.callback(rec.EventID))
	}
	return agg
}

// requireInOrder checks that msgs are events 1, 2, … of aggregate agg.
func requireInOrder(t *testing.T, msgs []messaging.Message, agg uuid.UUID) {
	t.Helper()
	for i, m := range msgs {
		if string(m.Key) != agg.String() {
			t.Fatalf("message %d key %q, want %q", i, m.Key, agg)
		}
		if got := m.Headers[messaging.HeaderSequence]; got != strconv.Itoa(i+1) {
			t.Fatalf("message %d has sequence %s, want %d", i, got, i+1)
		}
	}
}
