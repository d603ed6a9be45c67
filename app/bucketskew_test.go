package app

import (
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// A writer whose clock disagrees with the server's files a row in the
// outbox_by_bucket minute before or after its committed_at's. The
// database's clock is set to 50 s past a minute and the writer's 59 s ahead
// of it (every row one bucket late) or behind it (one bucket early); the
// polling relay, on the database's clock, must publish each event, in
// order. A writer ahead used to lose every such row: only the bucket before
// was read.
func TestPollingWriterClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{59 * time.Second, -59 * time.Second} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			offset := time.Duration((110-now.Second())%60)*time.Second - time.Duration(now.Nanosecond())
			server := func() time.Time { return time.Now().Add(offset) }
			writer := func() time.Time { return server().Add(skew) }
			s := newClockedStack(t, server, writer)
			cfg := relayConfig(outbox.ProcessorPolling)
			cfg.Processing.Clock = server
			r := s.consumeThroughRelay(t, cfg)
			o := s.newOrders(t, 3)
			o.update(t)
			s.waitAll(t, r, 40*time.Second)
		})
	}
}
