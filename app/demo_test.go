package app

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// The demo, in process, for both processors: every seeded event arrives.
func TestDemoPublishesEverySeededEvent(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			ctx := context.Background()
			emb, err := StartEmbedded(ctx, EmbeddedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			closeAtEnd(t, "embedded stack", emb)
			relayCfg := relayConfig(proc)
			relayCfg.Consistency = gocql.One
			// The embedded broker keeps Kafka's group.min.session.timeout.ms
			// (6 s), as `outbox dev` users meet it: the default timing.
			relayCfg.Election = messaging.ElectionConfig{}
			s := Settings{
				Storage:    storage.Config{Hosts: []string{emb.DB.Addr()}, Keyspace: "outbox", Consistency: "ONE"},
				Messaging:  messaging.Config{Brokers: emb.Broker.Brokers()},
				Relay:      relayCfg,
				Schema:     schema.Options{Keyspace: "outbox", Tablets: outboxtest.Tablets()},
				HTTPListen: "127.0.0.1:0",
				Logger:     zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
			}
			if err := Migrate(ctx, s); err != nil {
				t.Fatal(err)
			}
			rt, err := Run(ctx, s, RunOptions{Orders: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if err := rt.Shutdown(sctx); err != nil {
					t.Errorf("shutdown: %v", err)
				}
			}()
			var out bytes.Buffer
			sum, err := Demo(ctx, rt, emb.Broker.Brokers(), DemoOptions{Orders: 12, Updates: 2, Out: &out, Wait: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			// 12 creates, 24 updates, 4 cancels.
			if !sum.OK() || sum.Written != 40 || sum.Published != 40 || sum.DLQ != 0 {
				t.Fatalf("summary: %+v\n%s", sum, out.String())
			}
			if got := strings.Count(out.String(), "event  order="); got < 40 {
				t.Fatalf("printed %d event lines, want 40", got)
			}
			t.Logf("%s", sum)
		})
	}
}
