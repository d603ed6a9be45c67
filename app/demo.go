package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/messaging"
)

// DemoOptions shape the demo's seeded workload.
type DemoOptions struct {
	// Orders to create (default 10); each gets Updates item updates
	// (default 2) and every third is then cancelled.
	Orders, Updates int
	// Topics the demo consumes (default the Order topic).
	Topics []string
	// Wait bounds how long the demo waits for every event (default 60 s).
	Wait time.Duration
	// Out receives one line per event and the summary.
	Out io.Writer
}

// DemoSummary is the demo's outcome.
type DemoSummary struct {
	Written, Published, Duplicates, Missing, DLQ int
	P50, P99                                     time.Duration
}

// OK reports whether every written event was published.
func (s DemoSummary) OK() bool { return s.Missing == 0 && s.Written > 0 }

// Demo seeds orders through the order actor of rt, consumes the topic,
// prints each event as it arrives and returns the summary once every event
// arrived or the wait ended.
func Demo(ctx context.Context, rt *Runtime, brokers []string, o DemoOptions) (DemoSummary, error) {
	if o.Orders <= 0 {
		o.Orders = 10
	}
	if o.Updates < 0 {
		o.Updates = 0
	}
	if len(o.Topics) == 0 {
		o.Topics = []string{"outbox.event.Order"}
	}
	if o.Wait <= 0 {
		o.Wait = 60 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if rt.Orders == nil {
		return DemoSummary{}, errors.New("demo: the runtime has no order actor")
	}
	var (
		mu        sync.Mutex
		committed = map[uuid.UUID]time.Time{}
		seen      = map[uuid.UUID]int{}
		latencies []time.Duration
		dupes     int
	)
	cctx, stopConsume := context.WithCancel(ctx)
	defer stopConsume()
	consumeErr := make(chan error, 1)
	// The demo reads with the relay's TLS and SASL settings, so that it
	// also runs against a secured cluster.
	consumer := rt.settings.Messaging
	consumer.Brokers = brokers
	go func() {
		consumeErr <- messaging.ConsumeWith(cctx, consumer, o.Topics, func(m messaging.Message) error {
			id, _ := uuid.Parse(m.Headers[messaging.HeaderEventID])
			now := time.Now()
			mu.Lock()
			seen[id]++
			n := seen[id]
			at, known := committed[id]
			if n > 1 {
				dupes++
			} else if known {
				latencies = append(latencies, now.Sub(at))
			}
			mu.Unlock()
			lat := "?"
			if known {
				lat = now.Sub(at).Round(time.Millisecond).String()
			}
			dup := ""
			if n > 1 {
				dup = "  (duplicate, detected by event id)"
			}
			_, err := fmt.Fprintf(o.Out, "event  order=%s  type=%-14s seq=%-3s latency=%s%s\n",
				m.Headers[messaging.HeaderAggregateID], m.Headers[messaging.HeaderEventType], m.Headers[messaging.HeaderSequence], lat, dup)
			return err
		})
	}()

	items := []domain.Item{{ProductID: "sku-coffee", Quantity: 2, UnitPrice: domain.Money{Minor: 450, Currency: "EUR"}}}
	record := func(res *actors.OrderResult) {
		mu.Lock()
		committed[res.Event.EventID()] = time.Now()
		mu.Unlock()
	}
	ask := func(cmd actors.OrderCommand) (*actors.OrderResult, error) {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		res, err := actors.AskOrder(actx, rt.Sys.Root(), rt.Orders, cmd)
		if err == nil {
			record(res)
		}
		return res, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, o.Orders)
	sem := make(chan struct{}, 8)
	for i := 0; i < o.Orders; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := ask(&actors.CreateOrder{CustomerID: uuid.New(), Items: items})
			if err != nil {
				errs <- err
				return
			}
			id := res.Order.ID
			for u := 0; u < o.Updates; u++ {
				more := []domain.Item{{ProductID: "sku-coffee", Quantity: 3 + u, UnitPrice: domain.Money{Minor: 450, Currency: "EUR"}}}
				if _, err := ask(&actors.UpdateOrder{OrderID: id, Items: more}); err != nil {
					errs <- err
					return
				}
			}
			if i%3 == 2 {
				if _, err := ask(&actors.CancelOrder{OrderID: id, Reason: "customer changed their mind"}); err != nil {
					errs <- err
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	var failed []error
	for err := range errs {
		failed = append(failed, err)
	}
	mu.Lock()
	written := len(committed)
	mu.Unlock()
	if _, err := fmt.Fprintf(o.Out, "seeded %d orders: %d events committed with their orders\n", o.Orders, written); err != nil {
		stopConsume() // it writes to Out too: gone before Demo returns
		return DemoSummary{}, fmt.Errorf("demo: %w", errors.Join(err, <-consumeErr))
	}

	deadline := time.Now().Add(o.Wait)
	for {
		mu.Lock()
		arrived := 0
		for id := range committed {
			if seen[id] > 0 {
				arrived++
			}
		}
		mu.Unlock()
		if arrived == written || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case err := <-consumeErr:
			return DemoSummary{}, fmt.Errorf("demo: consuming: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// The consumer writes to Out: it must be gone before Demo returns.
	stopConsume()
	if err := <-consumeErr; err != nil {
		failed = append(failed, fmt.Errorf("demo: consuming: %w", err))
	}

	mu.Lock()
	defer mu.Unlock()
	s := DemoSummary{Written: written, Duplicates: dupes}
	for id := range committed {
		if seen[id] > 0 {
			s.Published++
		} else {
			s.Missing++
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) > 0 {
		s.P50, s.P99 = latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	}
	if n, err := rt.Relay.DLQ.Count(ctx); err == nil {
		s.DLQ = n
	}
	return s, errors.Join(failed...)
}

// String renders the summary for humans.
func (s DemoSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "summary: written=%d published=%d missing=%d duplicates=%d dlq=%d latency p50=%s p99=%s\n",
		s.Written, s.Published, s.Missing, s.Duplicates, s.DLQ, s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond))
	if s.OK() {
		b.WriteString("result: every seeded event was published\n")
	} else {
		fmt.Fprintf(&b, "result: %d events did not arrive\n", s.Missing)
	}
	return b.String()
}
