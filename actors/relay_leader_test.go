package actors

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// testElector is the group as the test decides it: it hands the actor's
// handler to the test and records leaving.
type testElector struct {
	handler chan leader.Handler
	closed  chan struct{}
	ran     chan struct{} // closed when Run has returned
	once    sync.Once
}

func newTestElector() *testElector {
	return &testElector{handler: make(chan leader.Handler, 1), closed: make(chan struct{}), ran: make(chan struct{})}
}

func (e *testElector) Run(ctx context.Context, h leader.Handler) error {
	defer close(e.ran)
	e.handler <- h
	select {
	case <-ctx.Done():
	case <-e.closed:
	}
	return nil
}

// Close, like messaging.Elector's, ends Run first and returns only after
// sending LeaveGroup: Run's return reaches the actor before Close's.
func (e *testElector) Close() error {
	e.once.Do(func() { close(e.closed) })
	select {
	case <-e.ran:
		time.Sleep(20 * time.Millisecond)
	case <-time.After(time.Second):
	}
	return nil
}

func (e *testElector) hasLeft() bool {
	select {
	case <-e.closed:
		return true
	default:
		return false
	}
}

// testEpochs hands out epochs in order; while failing is set it fails.
type testEpochs struct {
	mu      sync.Mutex
	next    leader.Epoch
	member  string
	failing int
}

func (s *testEpochs) Acquire(_ context.Context, _, member string) (leader.Epoch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing > 0 {
		s.failing--
		return 0, errors.New("no replica answered")
	}
	s.next++
	s.member = member
	return s.next, nil
}

func (s *testEpochs) Leader(context.Context, string) (leader.Holder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return leader.Holder{Epoch: s.next, Member: s.member}, nil
}

// testProcessor stands in for a processor: it reports its start (with its
// epoch) and its stop, answers Drain with drainErr, and sends
// ProcessorFenced to its parent when told to.
type testProcessor struct {
	epoch    leader.Epoch
	events   chan string
	drainErr error
}

type fenceYourself struct{}

func (p *testProcessor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		p.events <- "start " + string(rune('0'+p.epoch))
	case *Drain:
		p.events <- "drain"
		ctx.Respond(&Drained{Err: p.drainErr})
	case *fenceYourself:
		ctx.Request(ctx.Parent(), &ProcessorFenced{Err: leader.ErrFenced})
	case *actor.Stopping:
		p.events <- "stop " + string(rune('0'+p.epoch))
	}
}

type leaderFixture struct {
	sys      *System
	pid      *actor.PID
	elector  *testElector
	handler  leader.Handler
	epochs   *testEpochs
	events   chan string
	drainErr error
	stopped  chan error
}

func startLeader(t *testing.T, edit func(*LeaderConfig)) *leaderFixture {
	t.Helper()
	sys, _ := newTestSystem(t)
	f := &leaderFixture{sys: sys, elector: newTestElector(), epochs: &testEpochs{}, events: make(chan string, 32), stopped: make(chan error, 1)}
	cfg := LeaderConfig{
		Relay: "r", Member: "me", Kind: "test-processor",
		Elector: f.elector, Epochs: f.epochs,
		Processor: func(e leader.Epoch) (*actor.Props, error) {
			return actor.PropsFromProducer(func() actor.Actor {
				return &testProcessor{epoch: e, events: f.events, drainErr: f.drainErr}
			}), nil
		},
		Leadership: leader.Config{
			Retry:       resilience.RetryPolicy{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, Multiplier: 1},
			FencedDelay: 20 * time.Millisecond,
		},
		OnStopped: func(err error) { f.stopped <- err },
	}
	if edit != nil {
		edit(&cfg)
	}
	props, err := NewRelayLeaderProps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if f.pid, err = sys.Spawn(props, "relay", Drainable()); err != nil {
		t.Fatal(err)
	}
	select {
	case f.handler = <-f.elector.handler:
	case <-time.After(5 * time.Second):
		t.Fatal("the actor did not join the group")
	}
	return f
}

// next returns the processor's next event.
func (f *leaderFixture) next(t *testing.T) string {
	t.Helper()
	select {
	case e := <-f.events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no processor event within 5 s")
		return ""
	}
}

func (f *leaderFixture) status(t *testing.T) *LeaderStatus {
	t.Helper()
	res, err := f.sys.Root().RequestFuture(f.pid, &GetLeaderStatus{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	return res.(*LeaderStatus)
}

func (f *leaderFixture) waitRole(t *testing.T, role leader.Role) {
	t.Helper()
	waitFor(t, "role "+role.String(), func() bool { return f.status(t).Role == role.String() })
}

var term1 = leader.Term{Generation: 1, Member: "me"}

// Elected: the relay takes an epoch and runs its processor under it; a
// standby runs nothing.
func TestRelayLeaderRunsTheProcessorOnlyWhenElected(t *testing.T) {
	f := startLeader(t, nil)
	if s := f.status(t); s.Role != "standby" || s.Processor != nil {
		t.Fatalf("before any election: %+v", s)
	}
	f.handler.Elected(term1)
	if e := f.next(t); e != "start 1" {
		t.Fatalf("processor event %q, want start under epoch 1", e)
	}
	if s := f.status(t); s.Role != "active" || s.Processor == nil || s.Holder.Epoch != 1 || s.Holder.Member != "me" {
		t.Fatalf("after the election: %+v", s)
	}
}

// Revoked returns only once the processor has stopped: the group elects
// the next leader only then, so the two never publish together.
func TestRelayLeaderRevokedReturnsAfterTheProcessorStopped(t *testing.T) {
	f := startLeader(t, nil)
	f.handler.Elected(term1)
	f.next(t)
	f.handler.Revoked(term1)
	select {
	case e := <-f.events:
		if e != "stop 1" {
			t.Fatalf("processor event %q, want its stop", e)
		}
	default:
		t.Fatal("Revoked returned before the processor stopped")
	}
	f.waitRole(t, leader.Standby)
}

// Taking the epoch is retried while ScyllaDB fails it.
func TestRelayLeaderRetriesTheEpoch(t *testing.T) {
	f := startLeader(t, nil)
	f.epochs.failing = 3
	f.handler.Elected(term1)
	if e := f.next(t); e != "start 1" {
		t.Fatalf("processor event %q, want start under epoch 1 after the failures", e)
	}
}

// A fenced processor is stopped; while the group still names this relay,
// it takes a newer epoch and runs a new processor under it.
func TestRelayLeaderFenced(t *testing.T) {
	f := startLeader(t, nil)
	f.handler.Elected(term1)
	f.next(t)
	f.sys.Root().Send(f.status(t).Processor, &fenceYourself{})
	for _, want := range []string{"stop 1", "start 2"} {
		if e := f.next(t); e != want {
			t.Fatalf("processor event %q, want %q", e, want)
		}
	}
}

// An active relay that never hears from the group or from a rejected
// write still learns of a newer epoch from its periodic read of the
// holder, and stops its processor: another relay took the epoch while this
// one was cut off. Still named by the group, it then takes a newer epoch
// itself, after FencedDelay.
func TestRelayLeaderFencedByANewerHolder(t *testing.T) {
	f := startLeader(t, func(c *LeaderConfig) { c.HolderRefresh = 20 * time.Millisecond })
	f.handler.Elected(term1)
	if e := f.next(t); e != "start 1" {
		t.Fatalf("processor event %q, want start under epoch 1", e)
	}
	if _, err := f.epochs.Acquire(context.Background(), "r", "other"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"stop 1", "start 3"} {
		if e := f.next(t); e != want {
			t.Fatalf("processor event %q, want %q", e, want)
		}
	}
}

// Shutdown drains the processor, then leaves the group; what the drain
// could not do (its progress save failed) reaches Shutdown's caller.
func TestRelayLeaderShutdownDrainsThenLeaves(t *testing.T) {
	errSave := errors.New("saving progress: fenced")
	f := startLeader(t, nil)
	f.drainErr = errSave
	f.handler.Elected(term1)
	f.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := f.sys.Shutdown(ctx)
	if !errors.Is(err, errSave) {
		t.Fatalf("Shutdown = %v, want the drain's error", err)
	}
	for _, want := range []string{"drain", "stop 1"} {
		if e := f.next(t); e != want {
			t.Fatalf("processor event %q, want %q", e, want)
		}
	}
	if !f.elector.hasLeft() {
		t.Fatal("the relay did not leave its group")
	}
	select {
	case err := <-f.stopped:
		t.Fatalf("a graceful shutdown reported the relay stopped unasked: %v", err)
	default:
	}
}

// A processor that cannot be built makes the relay leave its group and
// say so: a standby must take over.
func TestRelayLeaderLeavesWhenItsProcessorCannotRun(t *testing.T) {
	f := startLeader(t, func(c *LeaderConfig) {
		c.Processor = func(leader.Epoch) (*actor.Props, error) { return nil, errors.New("no session") }
	})
	f.handler.Elected(term1)
	select {
	case err := <-f.stopped:
		if err == nil {
			t.Fatal("OnStopped without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnStopped not called")
	}
	waitFor(t, "leaving the group", f.elector.hasLeft)
}

// stepClock is the actor's clock in lock step with the test: each reading
// waits for the test to supply it, so the test decides how late each retry
// timer is handled and sees each time the actor arms or handles one.
type stepClock struct {
	readings chan time.Time
	done     chan struct{}
}

func newStepClock(t *testing.T) *stepClock {
	c := &stepClock{readings: make(chan time.Time), done: make(chan struct{})}
	// Runs before the system's shutdown, registered earlier: readings
	// made while it stops do not wait.
	t.Cleanup(func() { close(c.done) })
	return c
}

// supply gives the actor its next reading of the clock, failing if the
// relay starts a processor meanwhile.
func (c *stepClock) supply(t *testing.T, f *leaderFixture, at time.Time) {
	t.Helper()
	select {
	case c.readings <- at:
	case e := <-f.events:
		t.Fatalf("processor event %q while the relay should be waiting", e)
	case <-time.After(5 * time.Second):
		t.Fatal("the actor did not read its clock")
	}
}

func (c *stepClock) now() time.Time {
	select {
	case at := <-c.readings:
		return at
	case <-c.done:
		return time.Time{}
	}
}

// An election heard just before a pause and handled after it: the relay
// waits for the group instead of taking an epoch at once.
func TestRelayLeaderDefersALateElection(t *testing.T) {
	const lateMsg = "handled late: the process was paused; waiting for the group before taking the relay"
	core, logs := observerCore()
	clock := newStepClock(t)
	f := startLeader(t, func(c *LeaderConfig) {
		c.Now, c.Logger = clock.now, zap.New(core)
		// Steps of the wait are as long as the tolerance: none comes due
		// (and reads the clock) during the test.
		c.Leadership.PauseTolerance = 30 * time.Second
		c.Leadership.FencedDelay = time.Hour
	})
	go f.handler.Elected(term1)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{t0, t0.Add(time.Minute), t0.Add(time.Minute)} { // heard, handled, wait armed
		clock.supply(t, f, at)
	}
	waitFor(t, "the pause warning", func() bool { return len(logs.FilterMessage(lateMsg).All()) == 1 })
	f.epochs.mu.Lock()
	taken := f.epochs.next
	f.epochs.mu.Unlock()
	if st := f.status(t); st.Role != "acquiring" || taken != 0 {
		t.Fatalf("role %s with %d epochs taken, want acquiring with none while it waits", st.Role, taken)
	}
}

// A retry the actor handles late, after a pause, does not take the epoch:
// the relay re-arms its timer and waits for the group (FencedDelay),
// saying so. One handled on time, or late within the tolerance, takes it.
func TestRelayLeaderDefersALateRetry(t *testing.T) {
	const (
		backoff   = 10 * time.Millisecond
		tolerance = 10 * time.Millisecond
	)
	const lateMsg = "handled late: the process was paused; waiting for the group before taking the relay"
	tests := []struct {
		name     string
		late     time.Duration
		deferred bool
	}{
		{"on time", 0, false},
		{"late within the tolerance", tolerance, false},
		{"late after a pause", time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observerCore()
			clock := newStepClock(t)
			f := startLeader(t, func(c *LeaderConfig) {
				c.Now, c.Logger = clock.now, zap.New(core)
				c.Leadership.Retry = resilience.RetryPolicy{InitialBackoff: backoff, MaxBackoff: backoff, Multiplier: 1}
				c.Leadership.PauseTolerance = tolerance
				c.Leadership.FencedDelay = 2 * tolerance
			})
			read := func(at time.Time) { t.Helper(); clock.supply(t, f, at) }
			f.epochs.failing = 1
			// Elected reads the clock too, when the elector hears it.
			go f.handler.Elected(term1)
			t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			read(t0)                           // the elector hears the election
			read(t0)                           // the actor handles it at once
			read(t0)                           // the failed epoch arms the retry
			read(t0.Add(backoff).Add(tt.late)) // the retry is handled
			if !tt.deferred {
				if e := f.next(t); e != "start 1" {
					t.Fatalf("processor event %q, want start under epoch 1", e)
				}
				if n := len(logs.FilterMessage(lateMsg).All()); n != 0 {
					t.Fatalf("%d pause warnings for a retry on time", n)
				}
				return
			}
			// Deferred: the actor arms the timer again instead of taking
			// the epoch (read fails on a processor start).
			paused := t0.Add(backoff).Add(tt.late)
			read(paused)
			if n := len(logged(logs, lateMsg, map[string]any{"actor": "relay-leader", "relay": "r", "late_by": tt.late})); n != 1 {
				t.Fatalf("%d pause warnings with late_by %s, want 1: %v", n, tt.late, logs.All())
			}
			// The wait after the pause, its timers on time: the clock stands
			// still, and each step counts as the time it was armed for.
			for waiting := true; waiting; {
				select {
				case clock.readings <- paused:
				case e := <-f.events:
					if e != "start 1" {
						t.Fatalf("processor event %q, want start under epoch 1 after the wait", e)
					}
					waiting = false
				case <-time.After(5 * time.Second):
					t.Fatal("the relay did not take the epoch after waiting for the group")
				}
			}
		})
	}
}
