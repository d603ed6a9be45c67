package messaging_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
)

// TestNoGoroutineLeak runs a full publisher lifecycle — successes, a record
// resent alone, Consume, Close, and a publisher that never connects — and
// checks every goroutine it started is gone, including go-metrics' meter
// goroutine that UseNilMetrics avoids. It is not parallel: Go runs it
// before the parallel tests start their bodies.
func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		b := startBroker(t, kafkaemu.Options{Topics: []string{orderTopic}, MaxMessageBytes: 2000})
		defer closeOrFail(t, "broker", b)
		p, err := messaging.NewPublisher(fastConfig(b), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer closeOrFail(t, "publisher", p)
		ctx := context.Background()
		for i := 1; i <= 10; i++ {
			if err := p.PublishSync(ctx, record("Order", uuid.New(), int64(i))); err != nil {
				t.Fatal(err)
			}
		}
		big := record("Order", uuid.New(), 1)
		big.Payload = []byte(`"` + strings.Repeat("x", 5000) + `"`)
		if err := p.PublishSync(ctx, big); messaging.Classify(err) != messaging.Permanent {
			t.Fatalf("oversized: %v", err)
		}
		readBack(t, b.Brokers(), []string{orderTopic}, 10, 10*time.Second)

		// A publisher that never connects: its background reconnection
		// must stop with Close too.
		down := startBroker(t, kafkaemu.Options{})
		down.Stop()
		never, err := messaging.NewPublisher(fastConfig(down), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := never.PublishSync(ctx, record("Order", uuid.New(), 1)); !errors.Is(err, messaging.ErrNotConnected) {
			t.Fatalf("publish without a broker: %v", err)
		}
		closeOrFail(t, "unconnected publisher", never)
	}()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
