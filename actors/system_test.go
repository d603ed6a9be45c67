package actors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scylla-outbox/scylla-outbox/metrics"
)

func TestSupervisorRestartsPanickingActor(t *testing.T) {
	tests := []struct {
		name      string
		panicMsg  func(id uuid.UUID) *InjectPanic
		wantActor func(id uuid.UUID) string
		wantKind  string
	}{
		{
			name:      "order child, supervised by the order actor",
			panicMsg:  func(id uuid.UUID) *InjectPanic { return &InjectPanic{OrderID: id, Reason: "boom"} },
			wantActor: func(id uuid.UUID) string { return "orders/order$" + id.String() },
			wantKind:  "orders/order",
		},
		{
			name:      "order actor, supervised by the guardian",
			panicMsg:  func(uuid.UUID) *InjectPanic { return &InjectPanic{Reason: "boom"} },
			wantActor: func(uuid.UUID) string { return "orders" },
			wantKind:  "orders",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sys, logs := newTestSystem(t)
			reg := prometheus.NewRegistry()
			mpid := spawnMetrics(t, sys, MetricsConfig{Metrics: metrics.New(reg)})
			defer sys.OnRestart(func(kind string) { sys.Root().Send(mpid, &ActorRestarted{Actor: kind}) })()
			store := newFakeStore()
			pid := spawnOrders(t, sys, store, func(c *OrderConfig) {
				c.Supervisor = NewSupervisorStrategy(DefaultMaxRestarts, DefaultRestartWindow, sys.logger)
			})
			id := mustCreate(t, sys, pid)

			sys.Root().Send(pid, tc.panicMsg(id))

			actorID := tc.wantActor(id)
			const reason = "actors: injected panic: boom"
			waitFor(t, "the restart log line", func() bool {
				return len(logged(logs, "supervisor restarted actor", map[string]any{
					"actor": actorID, "reason": reason, "directive": "RestartDirective",
				})) == 1
			})
			failed := logged(logs, "actor failed; its message was dropped", map[string]any{
				"actor": actorID, "reason": reason, "message_type": "*actors.InjectPanic", "attempt": int64(1),
			})
			if len(failed) != 1 || failed[0].Level != zapcore.ErrorLevel {
				t.Errorf("failure log lines: %v", logs.FilterMessage("actor failed; its message was dropped").All())
			}
			restarted := logs.FilterMessage("supervisor restarted actor").All()
			if restarted[0].Level != zapcore.WarnLevel {
				t.Errorf("restart logged at %v, want warn", restarted[0].Level)
			}
			waitFor(t, "actor_restarts_total", func() bool {
				v, _ := read(t, reg, "actor_restarts_total", map[string]string{"actor": tc.wantKind})
				return v == 1
			})

			// The new incarnation serves the order from storage, under a
			// lease of its own.
			res, err := ask(t, sys, pid, &GetOrder{OrderID: id})
			if err != nil || res.Order.Version != 1 {
				t.Fatalf("get after restart: %+v, %v", res, err)
			}
			if a, r := store.count(acquires, id), store.count(releases, id); a != 2 || r != 1 {
				t.Errorf("lease acquired %d and released %d times, want 2 and 1", a, r)
			}
		})
	}
}

func TestRestartLimitStopsCrashLoopingChild(t *testing.T) {
	sys, logs := newTestSystem(t)
	store := newFakeStore()
	pid := spawnOrders(t, sys, store, func(c *OrderConfig) {
		c.Supervisor = NewSupervisorStrategy(1, time.Minute, sys.logger)
	})
	id := mustCreate(t, sys, pid)
	child := map[string]any{"actor": "orders/order$" + id.String()}

	sys.Root().Send(pid, &InjectPanic{OrderID: id, Reason: "first"})
	waitFor(t, "the restart", func() bool { return len(logged(logs, "supervisor restarted actor", child)) == 1 })
	sys.Root().Send(pid, &InjectPanic{OrderID: id, Reason: "second"})
	waitFor(t, "the stop", func() bool { return len(logged(logs, "supervisor stopped actor", child)) == 1 })
	if e := logs.FilterMessage("supervisor stopped actor").All()[0]; e.Level != zapcore.ErrorLevel || e.ContextMap()["reason"] != "actors: injected panic: second" {
		t.Errorf("stop logged as %v %v", e.Level, e.ContextMap())
	}
	waitFor(t, "the child to stop", func() bool { return !childAlive(sys, id) })

	// The order actor forgets the stopped child; the next command gets a
	// fresh one.
	if res, err := ask(t, sys, pid, &GetOrder{OrderID: id}); err != nil || res.Order.Version != 1 {
		t.Fatalf("get after stop: %+v, %v", res, err)
	}
}

func TestDeadLettersAreLogged(t *testing.T) {
	sys, logs := newTestSystem(t)
	nobody := actor.NewPID(sys.ActorSystem().Address(), "nobody")

	_, err := sys.Root().RequestFuture(nobody, &GetOrder{}, 5*time.Second).Result()
	if !errors.Is(err, actor.ErrDeadLetter) {
		t.Fatalf("request to nobody: %v", err)
	}
	sys.Root().Send(nobody, &InFlight{N: 1})

	tests := []struct {
		msg   string
		typ   string
		level zapcore.Level
	}{
		{"request to a stopped actor", "*actors.GetOrder", zapcore.InfoLevel},
		{"message to a stopped actor dropped", "*actors.InFlight", zapcore.DebugLevel},
	}
	for _, tc := range tests {
		waitFor(t, tc.msg, func() bool {
			return len(logged(logs, tc.msg, map[string]any{"actor": "nobody", "message_type": tc.typ})) == 1
		})
		if e := logs.FilterMessage(tc.msg).All()[0]; e.Level != tc.level {
			t.Errorf("%q logged at %v, want %v", tc.msg, e.Level, tc.level)
		}
	}
}

func TestLibraryLogsReachZap(t *testing.T) {
	tests := []struct {
		name string
		opts []SystemOption
		want int
	}{
		{"default keeps protoactor's info lines out", nil, 0},
		{"info level lets them through", []SystemOption{WithLibraryLogLevel(zapcore.InfoLevel)}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, logs := newTestSystem(t, tc.opts...)
			got := logs.FilterLoggerName("protoactor").FilterMessage("actor system started").Len()
			if got != tc.want {
				t.Errorf("%d protoactor start lines, want %d", got, tc.want)
			}
		})
	}
}

func TestShutdownStopsNewestFirst(t *testing.T) {
	sys := NewSystem(zap.NewNop())
	stopped := make(chan string, 2)
	for _, name := range []string{"first", "second"} {
		props := actor.PropsFromFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*actor.Stopping); ok {
				stopped <- name
			}
		})
		if _, err := sys.Spawn(props, name); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sys.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if a, b := <-stopped, <-stopped; a != "second" || b != "first" {
		t.Errorf("stop order %s, %s; want second, first", a, b)
	}
	if !sys.ActorSystem().IsStopped() {
		t.Error("actor system not shut down")
	}
	if err := sys.Shutdown(ctx); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestActorKind(t *testing.T) {
	tests := []struct{ id, want string }{
		{"orders", "orders"},
		{"orders/order$0190f7a6-0000-7000-8000-000000000001", "orders/order"},
		{"$12", "anonymous"},
		{"cdc/reader$3/worker$5", "cdc/reader/worker"},
	}
	for _, tc := range tests {
		if got := ActorKind(tc.id); got != tc.want {
			t.Errorf("ActorKind(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}
