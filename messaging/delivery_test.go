package messaging_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
)

// lostAnswers makes the broker append a record and the client never learn
// it, the situation in which publishing again could write a second copy.
type lostAnswers struct {
	name string
	// start starts a broker whose first n produce answers are lost and
	// returns how many were lost so far.
	start func(t *testing.T, n int) (*kafkaemu.Broker, func() int)
}

var lostAnswerCases = []lostAnswers{
	{"broker answers REQUEST_TIMED_OUT after appending", func(t *testing.T, n int) (*kafkaemu.Broker, func() int) {
		b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}, Partitions: 1})
		// A timed-out append still appends: kfake applies the request
		// and answers REQUEST_TIMED_OUT, as a leader whose replicas did
		// not confirm in time does.
		h := b.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: n})
		return b, func() int { return int(h.Hits()) }
	}},
	{"connection dropped after the broker appended", func(t *testing.T, n int) (*kafkaemu.Broker, func() int) {
		d := &answerDropper{left: n}
		b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}, Partitions: 1, WrapConn: d.wrap})
		return b, d.count
	}},
}

// TestLostAnswerLeavesOneCopy: the broker appends a record but its answer
// is lost five times in a row (more than the three retries sarama used to
// make). The producer retries the same batch itself within the delivery
// timeout, which the broker recognises as a duplicate, so the publish
// succeeds and the topic holds exactly one copy. The test republishes on
// failure as the relay does; a producer that gave up early would have made
// that republish write a second copy.
func TestLostAnswerLeavesOneCopy(t *testing.T) {
	t.Parallel()
	const lost = 5
	for _, tc := range lostAnswerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, hits := tc.start(t, lost)
			p := newPublisher(t, fastConfig(b)) // default delivery timeout
			rec := record("Order", uuid.New(), 1)
			publishes := 0
			for {
				publishes++
				err := p.PublishSync(context.Background(), rec)
				if err == nil {
					break
				}
				if messaging.Classify(err) == messaging.Permanent || publishes == 5 {
					t.Fatalf("publish %d: %v", publishes, err)
				}
				t.Logf("publish %d failed (ambiguous %v), publishing again as the relay would: %v", publishes, messaging.IsAmbiguous(err), err)
			}
			if n := hits(); n != lost {
				t.Fatalf("%d answers lost, want %d: the test did not exercise the fault", n, lost)
			}
			msgs := readBack(t, b.Brokers(), []string{orderTopic}, 1, 10*time.Second)
			if got := msgs[0].Headers[messaging.HeaderEventID]; got != rec.EventID.String() {
				t.Fatalf("topic holds event %s, want %s", got, rec.EventID)
			}
			if publishes != 1 {
				t.Errorf("published %d times, want once: the producer should have retried by itself", publishes)
			}
		})
	}
}

// TestLostAnswerBeyondTheWindowIsAmbiguous: when the answers stay lost past
// the delivery timeout the publish fails, with an error IsAmbiguous reports
// — rightly: the record is in the topic.
func TestLostAnswerBeyondTheWindowIsAmbiguous(t *testing.T) {
	t.Parallel()
	for _, tc := range lostAnswerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, _ := tc.start(t, 3)
			cfg := fastConfig(b)
			cfg.DeliveryTimeout = 100 * time.Millisecond // one retry: two attempts
			p := newPublisher(t, cfg)
			rec := record("Order", uuid.New(), 1)
			err := p.PublishSync(context.Background(), rec)
			var pe *messaging.PublishError
			if !errors.As(err, &pe) || pe.Kind != messaging.Transient || !messaging.IsAmbiguous(err) {
				t.Fatalf("publish: %v, want a Transient *PublishError that IsAmbiguous", err)
			}
			msgs := readBack(t, b.Brokers(), []string{orderTopic}, 1, 10*time.Second)
			if got := msgs[0].Headers[messaging.HeaderEventID]; got != rec.EventID.String() {
				t.Fatalf("topic holds event %s, want %s", got, rec.EventID)
			}
		})
	}
}

// answerDropper closes a broker connection instead of writing the answer
// to a produce request, for the first left produce requests: the broker has
// appended the records, the client sees its connection reset.
type answerDropper struct {
	mu      sync.Mutex
	left    int
	dropped int
}

func (d *answerDropper) wrap(c net.Conn) net.Conn { return &dropConn{Conn: c, d: d} }

func (d *answerDropper) take() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.left == 0 {
		return false
	}
	d.left--
	d.dropped++
	return true
}

func (d *answerDropper) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// dropConn follows the request stream (each request is a 4-byte size, then
// a 2-byte API key and the rest) to know which request each answer is for:
// the broker answers in request order.
type dropConn struct {
	net.Conn
	d *answerDropper

	hdr  []byte // read goroutine: the current request's size and key so far
	body int    // read goroutine: bytes of the current request left to skip

	mu   sync.Mutex
	keys []int16 // API keys of requests read and not yet answered
}

func (c *dropConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	for p := b[:n]; len(p) > 0; {
		if c.body > 0 {
			k := min(c.body, len(p))
			c.body, p = c.body-k, p[k:]
			continue
		}
		k := min(6-len(c.hdr), len(p))
		c.hdr, p = append(c.hdr, p[:k]...), p[k:]
		if len(c.hdr) == 6 {
			c.body = int(binary.BigEndian.Uint32(c.hdr[:4])) - 2
			c.mu.Lock()
			c.keys = append(c.keys, int16(binary.BigEndian.Uint16(c.hdr[4:])))
			c.mu.Unlock()
			c.hdr = c.hdr[:0]
		}
	}
	return n, err
}

func (c *dropConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	var key int16 = -1
	if len(c.keys) > 0 {
		key, c.keys = c.keys[0], c.keys[1:]
	}
	c.mu.Unlock()
	if key == int16(kmsg.Produce) && c.d.take() {
		// Dropping the connection is the fault; how its close went does
		// not change what the client sees next.
		_ = c.Conn.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}
