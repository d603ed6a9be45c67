package dlqtool_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
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
	"github.com/scylla-outbox/scylla-outbox/storage"
)

const orderTopic = "outbox.event.Order"

// newStore starts a CQL emulator with the schema and returns a real
// DeadLetterStore on it.
func newStore(t *testing.T) *storage.DeadLetterStore {
	t.Helper()
	db := outboxtest.StartDB(t)
	return storage.NewDeadLetterStore(db.Session, db.Keyspace)
}

// newKafka starts an embedded broker with the order topic and a relay
// publisher on it. maxMessageBytes is the broker's message.max.bytes (0:
// Kafka's default); the publisher keeps its own 1 MiB limit, so a record
// between the two is rejected by the broker, as in production.
func newKafka(t *testing.T, maxMessageBytes int) (*kafkaemu.Broker, *messaging.Publisher) {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	b := outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{orderTopic}, MaxMessageBytes: maxMessageBytes, Logger: log})
	p, err := messaging.NewPublisher(messaging.Config{Brokers: b.Brokers(), Timeout: 2 * time.Second}, log)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	// Registered after the broker's cleanup, so it runs first.
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close publisher: %v", err)
		}
	})
	return b, p
}

// t0 is a millisecond-precision base time: CQL timestamps keep
// milliseconds, so entries compare equal after a round trip.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC)

// entry returns a dead letter of an Order aggregate with a JSON payload.
func entry(agg uuid.UUID, seq int64, kind string) storage.DeadLetter {
	payload, _ := json.Marshal(map[string]any{"order_id": agg, "sequence": seq, "note": "line1"})
	return storage.DeadLetter{
		Record: outbox.Record{Envelope: domain.Envelope{
			EventID:       uuid.New(),
			EventType:     "OrderUpdated",
			AggregateType: "Order",
			AggregateID:   agg,
			Sequence:      seq,
			OccurredAt:    t0.Add(time.Duration(seq) * time.Second),
			ContentType:   domain.ContentTypeJSON,
			TraceParent:   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			Payload:       payload,
		}},
		Error:          "kafka: MESSAGE_TOO_LARGE",
		ErrorKind:      kind,
		FailureCount:   1,
		FirstFailureAt: t0.Add(time.Minute),
		LastFailureAt:  t0.Add(time.Duration(seq) * time.Minute),
		Processor:      "cdc",
	}
}

func put(t *testing.T, st *storage.DeadLetterStore, ds ...storage.DeadLetter) {
	t.Helper()
	for _, d := range ds {
		if err := st.Put(context.Background(), d); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
}

// get returns an entry and whether it is still in the queue.
func get(t *testing.T, st *storage.DeadLetterStore, id uuid.UUID) (storage.DeadLetter, bool) {
	t.Helper()
	d, err := st.Get(context.Background(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return d, false
	}
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return d, true
}

func count(t *testing.T, st *storage.DeadLetterStore) int {
	t.Helper()
	n, err := st.Count(context.Background())
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	return n
}

func held(t *testing.T, st *storage.DeadLetterStore) []uuid.UUID {
	t.Helper()
	_, from, err := st.Index(context.Background())
	if err != nil {
		t.Fatalf("Index: %v", err)
	}
	ids := make([]uuid.UUID, 0, len(from))
	for id := range from {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	return ids
}

// sortedIDs returns ids in the order the tool visits aggregates.
func sortedIDs(ids ...uuid.UUID) []uuid.UUID {
	out := append([]uuid.UUID(nil), ids...)
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

// consume reads the order topic until want records arrived, then for grace
// longer, so that records that should not be there are seen too. Records
// of different partitions interleave; per-aggregate order is per key.
func consume(t *testing.T, b *kafkaemu.Broker, want int, grace time.Duration) []messaging.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if want == 0 {
		time.AfterFunc(grace, cancel)
	}
	// fn runs on this goroutine (Consume's contract): no locking needed.
	var out []messaging.Message
	err := messaging.Consume(ctx, b.Brokers(), []string{orderTopic}, func(m messaging.Message) error {
		out = append(out, m)
		if len(out) == want {
			time.AfterFunc(grace, cancel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if len(out) < want {
		t.Fatalf("consumed %d records, want %d", len(out), want)
	}
	return out
}

// recordingPublisher delegates to the relay publisher and remembers what
// it was asked to publish and what the broker answered. check, when set,
// runs before and after each publish, to observe the queue at those points.
type recordingPublisher struct {
	pub   dlqPublisher
	check func(rec outbox.Record, acked bool, err error)

	mu    sync.Mutex
	calls []outbox.Record
}

type dlqPublisher interface {
	PublishSync(ctx context.Context, rec outbox.Record) error
	Topic(rec outbox.Record) (string, error)
}

func (r *recordingPublisher) Topic(rec outbox.Record) (string, error) { return r.pub.Topic(rec) }

func (r *recordingPublisher) PublishSync(ctx context.Context, rec outbox.Record) error {
	r.mu.Lock()
	r.calls = append(r.calls, rec)
	r.mu.Unlock()
	if r.check != nil {
		r.check(rec, false, nil)
	}
	err := r.pub.PublishSync(ctx, rec)
	if r.check != nil {
		r.check(rec, true, err)
	}
	return err
}

func (r *recordingPublisher) published() []outbox.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]outbox.Record(nil), r.calls...)
}
