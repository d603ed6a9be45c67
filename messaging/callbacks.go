package messaging

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// pending is one record between Publish and its callback. It travels as the
// sarama.ProducerMessage's Metadata, so sarama hands it back with the result.
type pending struct {
	done    func(error)
	eventID uuid.UUID
	topic   string
	// fired is set by the first resolution; later ones are dropped, which
	// makes "exactly once" hold even if sarama reported a message twice or
	// Close's sweep races a late result.
	fired atomic.Bool
}

type completion struct {
	p   *pending
	err error
}

// callbackQueue runs callbacks on one goroutine, in the order results were
// decided. It is unbounded on purpose: the goroutine draining sarama's
// result channels must never wait for a callback, or a callback that
// publishes (and so waits for sarama's input channel) would deadlock
// against sarama waiting for its results to be drained. Its size is bounded
// by the number of records in flight, which the caller already holds.
type callbackQueue struct {
	log *zap.Logger

	mu     sync.Mutex
	items  []completion
	closed bool
	wake   chan struct{} // capacity 1: "items is not empty or closed"
	done   chan struct{} // closed when run returns
}

func newCallbackQueue(log *zap.Logger) *callbackQueue {
	q := &callbackQueue{log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// push enqueues c and reports whether it was accepted; after close it is not.
func (q *callbackQueue) push(c completion) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, c)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// close stops accepting completions, runs those already queued and waits
// for the goroutine to exit.
func (q *callbackQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.done
}

func (q *callbackQueue) run() {
	defer close(q.done)
	var batch []completion
	for range q.wake {
		q.mu.Lock()
		batch, q.items = q.items, batch[:0]
		closed := q.closed
		q.mu.Unlock()
		for i, c := range batch {
			invoke(q.log, c.p.done, c.err, c.p.eventID)
			batch[i] = completion{} // drop references for the GC
		}
		if closed {
			q.mu.Lock()
			empty := len(q.items) == 0
			q.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// invoke calls done, containing a panic: one faulty callback must not stop
// the callbacks of every other record.
func invoke(log *zap.Logger, done func(error), err error, eventID uuid.UUID) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("messaging: publish callback panicked",
				zap.Stringer("event_id", eventID), zap.String("panic", fmt.Sprint(r)), zap.Stack("stack"))
		}
	}()
	done(err)
}
