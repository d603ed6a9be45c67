package messaging_test

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

const orderTopic = "outbox.event.Order"

// closeOrFail closes c and fails the test if that fails; deferred, it
// checks the close of something the test opened.
func closeOrFail(t *testing.T, what string, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Errorf("close %s: %v", what, err)
	}
}

func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// startBroker starts a broker that logs warnings to the test.
func startBroker(t *testing.T, opts kafkaemu.Options) *kafkaemu.Broker {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	return outboxtest.StartBroker(t, opts)
}

// fastConfig keeps outage detection short so the suite stays fast.
func fastConfig(b *kafkaemu.Broker) messaging.Config {
	return messaging.Config{Brokers: b.Brokers(), Timeout: 500 * time.Millisecond}
}

func newPublisher(t *testing.T, cfg messaging.Config) *messaging.Publisher {
	t.Helper()
	p, err := messaging.NewPublisher(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close publisher: %v", err)
		}
	})
	return p
}

// record returns a valid record of aggregate agg with a JSON payload.
func record(aggType string, agg uuid.UUID, seq int64) outbox.Record {
	payload, _ := json.Marshal(map[string]any{"aggregate_id": agg, "sequence": seq})
	return outbox.Record{
		Envelope: domain.Envelope{
			EventID:       uuid.New(),
			EventType:     aggType + "Updated",
			AggregateType: aggType,
			AggregateID:   agg,
			Sequence:      seq,
			OccurredAt:    time.Date(2025, 1, 2, 3, 4, 5, int(seq)*1000, time.UTC),
			ContentType:   domain.ContentTypeJSON,
			Payload:       payload,
		},
		CommittedAt: time.Now(),
	}
}

// results records every callback by event id and fails the test on a
// second call for the same id.
type results struct {
	t    *testing.T
	mu   sync.Mutex
	errs map[uuid.UUID]error
	cond *sync.Cond
}

func newResults(t *testing.T) *results {
	r := &results{t: t, errs: make(map[uuid.UUID]error)}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *results) callback(id uuid.UUID) func(error) {
	return func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, dup := r.errs[id]; dup {
			r.t.Errorf("callback for event %s called twice (second: %v)", id, err)
		}
		r.errs[id] = err
		r.cond.Broadcast()
	}
}

// wait blocks until n callbacks have run or the timeout expires.
func (r *results) wait(n int, timeout time.Duration) map[uuid.UUID]error {
	r.t.Helper()
	deadline := time.AfterFunc(timeout, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer deadline.Stop()
	start := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.errs) < n {
		if time.Since(start) >= timeout {
			r.t.Fatalf("only %d of %d callbacks after %s", len(r.errs), n, timeout)
		}
		r.cond.Wait()
	}
	out := make(map[uuid.UUID]error, len(r.errs))
	for k, v := range r.errs {
		out[k] = v
	}
	return out
}

// readBack consumes topics until want messages arrived, then a little
// longer so that duplicates or extra records would be seen too.
func readBack(t *testing.T, brokers, topics []string, want int, timeout time.Duration) []messaging.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []messaging.Message
	err := messaging.Consume(ctx, brokers, topics, func(m messaging.Message) error {
		got = append(got, m)
		if len(got) == want {
			time.AfterFunc(300*time.Millisecond, cancel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if len(got) != want {
		t.Fatalf("read %d messages from %v, want %d", len(got), topics, want)
	}
	return got
}
