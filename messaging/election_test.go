package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
)

// awaitTimeout guards every wait of these tests against a hang; it is not
// a timing assertion: the waits end on the event they wait for.
const awaitTimeout = 60 * time.Second

// fastElection keeps the suite quick while leaving a busy, shared machine
// running -race ten heartbeats per session timeout.
var fastElection = ElectionConfig{
	SessionTimeout:    2 * time.Second,
	HeartbeatInterval: 200 * time.Millisecond,
	RebalanceTimeout:  2 * time.Second,
}

func TestElectionConfigValidate(t *testing.T) {
	ok := ElectionConfig{Group: "outbox-relay.orders"}
	tests := []struct {
		name   string
		mutate func(*ElectionConfig)
		fields []string // invalid fields, in order; empty means valid
	}{
		{"defaults", func(*ElectionConfig) {}, nil},
		{"custom timing", func(c *ElectionConfig) {
			c.SessionTimeout, c.HeartbeatInterval, c.RebalanceTimeout = 10*time.Second, 3*time.Second, time.Minute
		}, nil},
		{"no group", func(c *ElectionConfig) { c.Group = "" }, []string{"Group"}},
		{"bad topic", func(c *ElectionConfig) { c.Topic = "a topic" }, []string{"Topic"}},
		{"negative session timeout", func(c *ElectionConfig) { c.SessionTimeout = -time.Second }, []string{"SessionTimeout", "RebalanceTimeout", "HeartbeatInterval"}},
		{"sub-millisecond heartbeat", func(c *ElectionConfig) { c.HeartbeatInterval = time.Microsecond }, []string{"HeartbeatInterval"}},
		{"heartbeat not below session", func(c *ElectionConfig) { c.HeartbeatInterval = c.withDefaults().SessionTimeout }, []string{"HeartbeatInterval"}},
		{"heartbeat a third of session", func(c *ElectionConfig) { c.SessionTimeout, c.HeartbeatInterval = 6*time.Second, 2*time.Second }, nil},
		{"heartbeat above a third of session", func(c *ElectionConfig) {
			c.SessionTimeout, c.HeartbeatInterval = 6*time.Second, 2*time.Second+time.Millisecond
		}, []string{"HeartbeatInterval"}},
		{"heartbeat half the default session", func(c *ElectionConfig) { c.HeartbeatInterval = c.withDefaults().SessionTimeout / 2 }, []string{"HeartbeatInterval"}},
		{"rebalance timeout beyond int32 ms", func(c *ElectionConfig) { c.RebalanceTimeout = 1000 * time.Hour }, []string{"RebalanceTimeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := NewElector(Config{Brokers: []string{"127.0.0.1:9"}}, c, nil); err != nil {
					t.Fatalf("NewElector: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *ElectionConfigError
				if !errors.As(e, &ce) {
					t.Fatalf("error %v is not an *ElectionConfigError", e)
				}
				got = append(got, ce.Field)
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("invalid fields %v, want %v (%v)", got, tc.fields, err)
			}
			if _, err := NewElector(Config{Brokers: []string{"127.0.0.1:9"}}, c, nil); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("NewElector accepted it: %v", err)
			}
		})
	}
}

// TestElectorNeedsKafka24 checks that a KafkaVersion the publisher accepts
// but cooperative rebalancing does not is reported as a configuration
// error of Config.KafkaVersion.
func TestElectorNeedsKafka24(t *testing.T) {
	_, err := NewElector(Config{Brokers: []string{"127.0.0.1:9"}, KafkaVersion: "2.3.0"}, ElectionConfig{Group: "g"}, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "KafkaVersion" || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewElector with Kafka 2.3 = %v, want a ConfigError for KafkaVersion", err)
	}
}

func TestElectionConfigDefaults(t *testing.T) {
	c := ElectionConfig{Group: "g", SessionTimeout: 9 * time.Second}.withDefaults()
	if c.Topic != DefaultElectionTopic || c.HeartbeatInterval != DefaultHeartbeatInterval ||
		c.RebalanceTimeout != 9*time.Second || !strings.Contains(c.Member, ":") {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if d := (ElectionConfig{}).withDefaults(); d.SessionTimeout != DefaultSessionTimeout || d.RebalanceTimeout != DefaultSessionTimeout {
		t.Fatalf("default timing: %+v", d)
	}
	e, err := NewElector(Config{Brokers: []string{"127.0.0.1:9"}, Timeout: time.Second},
		ElectionConfig{Group: "g", Member: "host-1:4242"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := e.saramaConfig()
	if err != nil {
		t.Fatal(err)
	}
	g := sc.Consumer.Group
	switch {
	case sc.ClientID != DefaultClientID+".host-1_4242":
		t.Errorf("client id %q", sc.ClientID)
	case g.Session.Timeout != DefaultSessionTimeout || g.Heartbeat.Interval != DefaultHeartbeatInterval || g.Rebalance.Timeout != DefaultSessionTimeout:
		t.Errorf("group timing %+v", g)
	case sc.Net.ReadTimeout <= g.Rebalance.Timeout:
		t.Errorf("read timeout %s does not outlast a JoinGroup held for the rebalance timeout %s", sc.Net.ReadTimeout, g.Rebalance.Timeout)
	case g.InstanceId != "":
		t.Error("static membership would skip LeaveGroup on Close")
	case len(g.Rebalance.GroupStrategies) != 1 || g.Rebalance.GroupStrategies[0].Name() != electionProtocol:
		t.Errorf("strategies %v", g.Rebalance.GroupStrategies)
	case sc.Metadata.AllowAutoTopicCreation:
		t.Error("metadata requests would create the topic with the broker's default partition count")
	}
}

// memberMeta is the subscription of a member with the given user data.
func memberMeta(topic string, st *memberState) sarama.ConsumerGroupMemberMetadata {
	m := sarama.ConsumerGroupMemberMetadata{Version: 1, Topics: []string{topic}}
	if st != nil {
		m.UserData, _ = json.Marshal(st)
	}
	return m
}

func TestLeaderStrategyPlan(t *testing.T) {
	const topic = "election"
	one := map[string][]int32{topic: {0}}
	tests := []struct {
		name    string
		members map[string]sarama.ConsumerGroupMemberMetadata
		topics  map[string][]int32
		want    string // member given partition 0; "" for nobody
	}{
		{"no members", nil, one, ""},
		{"one member", map[string]sarama.ConsumerGroupMemberMetadata{
			"m-1": memberMeta(topic, &memberState{Member: "a"}),
		}, one, "m-1"},
		{"nobody leads: smallest member id", map[string]sarama.ConsumerGroupMemberMetadata{
			"m-3": memberMeta(topic, &memberState{Member: "c"}),
			"m-1": memberMeta(topic, &memberState{Member: "a"}),
			"m-2": memberMeta(topic, &memberState{Member: "b"}),
		}, one, "m-1"},
		{"the leader keeps it when standbys join", map[string]sarama.ConsumerGroupMemberMetadata{
			"m-9": memberMeta(topic, &memberState{Member: "leader", LeaderSince: 4}),
			"m-1": memberMeta(topic, &memberState{Member: "new"}),
			"m-2": memberMeta(topic, &memberState{Member: "new too"}),
		}, one, "m-9"},
		{"two claims: the newer term wins", map[string]sarama.ConsumerGroupMemberMetadata{
			"m-1": memberMeta(topic, &memberState{Member: "stale", LeaderSince: 3}),
			"m-2": memberMeta(topic, &memberState{Member: "current", LeaderSince: 7}),
		}, one, "m-2"},
		{"unreadable user data does not lead", map[string]sarama.ConsumerGroupMemberMetadata{
			"m-1": {Version: 1, Topics: []string{topic}, UserData: []byte("garbage")},
			"m-2": memberMeta(topic, &memberState{Member: "b", LeaderSince: 2}),
		}, one, "m-2"},
		{"members of another topic are no candidates", map[string]sarama.ConsumerGroupMemberMetadata{
			"m-1": memberMeta("other", &memberState{Member: "a", LeaderSince: 5}),
			"m-2": memberMeta(topic, &memberState{Member: "b"}),
		}, map[string][]int32{topic: {0}, "other": {0}}, "m-2"},
		{"only partition 0 of a wider topic", map[string]sarama.ConsumerGroupMemberMetadata{
			"m-1": memberMeta(topic, &memberState{Member: "a"}),
			"m-2": memberMeta(topic, &memberState{Member: "b"}),
		}, map[string][]int32{topic: {0, 1, 2}}, "m-1"},
		{"topic unknown to the cluster", map[string]sarama.ConsumerGroupMemberMetadata{
			"m-1": memberMeta(topic, &memberState{Member: "a"}),
		}, map[string][]int32{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &leaderStrategy{topic: topic, member: "me", log: zaptest.NewLogger(t)}
			plan, err := s.Plan(tc.members, tc.topics)
			if err != nil {
				t.Fatal(err)
			}
			want := sarama.BalanceStrategyPlan{}
			if tc.want != "" {
				want.Add(tc.want, topic, 0)
			}
			if fmt.Sprint(plan) != fmt.Sprint(want) {
				t.Fatalf("Plan = %v, want %v", plan, want)
			}
		})
	}
}

// TestLeaderStrategyTerm follows one member's state through assignments:
// the term starts in the generation that gives partition 0, survives the
// generations that keep it, and ends with the one that takes it away or
// with a new session.
func TestLeaderStrategyTerm(t *testing.T) {
	const topic = "election"
	s := &leaderStrategy{topic: topic, member: "host:1", log: zaptest.NewLogger(t)}
	holding := &sarama.ConsumerGroupMemberAssignment{Topics: map[string][]int32{topic: {0}}}
	none := &sarama.ConsumerGroupMemberAssignment{}
	steps := []struct {
		name   string
		apply  func()
		leader int32
	}{
		{"standby", func() { s.OnAssignment(none, 1) }, 0},
		{"given partition 0", func() { s.OnAssignment(holding, 2) }, 2},
		{"kept in a rebalance", func() { s.OnAssignment(holding, 3) }, 2},
		{"taken away", func() { s.OnAssignment(none, 4) }, 0},
		{"given again", func() { s.OnAssignment(holding, 5) }, 5},
		{"new session after the group was unreachable: claims its term", func() { s.resume(5) }, 5},
		{"the group kept it", func() { s.OnAssignment(holding, 6) }, 5},
		{"new session", func() { s.resume(0) }, 0},
	}
	for _, st := range steps {
		st.apply()
		if got := s.term(); got != st.leader {
			t.Fatalf("%s: term %d, want %d", st.name, got, st.leader)
		}
		data, err := s.SubscriptionUserData([]string{topic})
		if err != nil {
			t.Fatal(err)
		}
		var got memberState
		if err := json.Unmarshal(data, &got); err != nil || got != (memberState{Member: "host:1", LeaderSince: st.leader}) {
			t.Fatalf("%s: user data %s (%v)", st.name, data, err)
		}
	}
}

// leadEvent is one handler call.
type leadEvent struct {
	member  string
	elected bool // false: Revoked
	term    leader.Term
	at      time.Time
}

func (ev leadEvent) String() string {
	what := "Revoked"
	if ev.elected {
		what = "Elected"
	}
	return fmt.Sprintf("%s %s(gen %d)", ev.member, what, ev.term.Generation)
}

// timeline records the handler calls of every member of a test in the
// order they happen; waiters are woken on every call.
type timeline struct {
	mu     sync.Mutex
	events []leadEvent
	change chan struct{} // closed and replaced on every event
}

func newTimeline() *timeline { return &timeline{change: make(chan struct{})} }

func (tl *timeline) add(ev leadEvent) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.events = append(tl.events, ev)
	close(tl.change)
	tl.change = make(chan struct{})
}

// await returns the events once cond holds for them.
func (tl *timeline) await(t *testing.T, what string, cond func([]leadEvent) bool) []leadEvent {
	t.Helper()
	guard := time.NewTimer(awaitTimeout)
	defer guard.Stop()
	for {
		tl.mu.Lock()
		evs, change := slices.Clone(tl.events), tl.change
		tl.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-change:
		case <-guard.C:
			t.Fatalf("no %s after %s; events: %v", what, awaitTimeout, evs)
		}
	}
}

func (tl *timeline) snapshot() []leadEvent {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.events)
}

// find returns the n-th (from 1) event of member of the given kind.
func find(evs []leadEvent, member string, elected bool, n int) (leadEvent, bool) {
	for _, ev := range evs {
		if ev.member == member && ev.elected == elected {
			if n--; n == 0 {
				return ev, true
			}
		}
	}
	return leadEvent{}, false
}

// checkTerms asserts what the API promises every handler and what fencing
// relies on: per member, calls alternate Elected, Revoked with the same
// term; and across members, every term has a higher generation than the
// terms before it.
func checkTerms(t *testing.T, evs []leadEvent) {
	t.Helper()
	open := map[string]*leader.Term{}
	var lastGen int32
	for _, ev := range evs {
		cur := open[ev.member]
		switch {
		case ev.elected && cur != nil && *cur == ev.term:
			t.Errorf("%v again while leading in that term; events: %v", ev, evs)
		case !ev.elected && (cur == nil || *cur != ev.term):
			t.Errorf("%v without a matching Elected; events: %v", ev, evs)
		case ev.elected && cur == nil && ev.term.Generation <= lastGen:
			t.Errorf("%v after a term of generation %d; events: %v", ev, lastGen, evs)
		}
		if ev.elected {
			term := ev.term
			open[ev.member], lastGen = &term, ev.term.Generation
		} else {
			open[ev.member] = nil
		}
	}
}

// checkNoOverlap asserts that no member was elected while another still
// led: the old leader's Revoked came before the new one's Elected.
func checkNoOverlap(t *testing.T, evs []leadEvent) {
	t.Helper()
	leading := map[string]bool{}
	for _, ev := range evs {
		if ev.elected {
			for m, ok := range leading {
				if ok && m != ev.member {
					t.Errorf("%v while %s still led; events: %v", ev, m, evs)
				}
			}
		}
		leading[ev.member] = ev.elected
	}
}

// logTap keeps an elector's log entries and wakes waiters on each one, so
// tests can wait for what a member has done (joined, been assigned) rather
// than sleep.
type logTap struct {
	obs *observer.ObservedLogs

	mu     sync.Mutex
	change chan struct{}
}

// newTapLogger returns a logger that writes warnings to the test and every
// entry to the tap.
func newTapLogger(t *testing.T) (*zap.Logger, *logTap) {
	core, obs := observer.New(zap.DebugLevel)
	tap := &logTap{obs: obs, change: make(chan struct{})}
	tee := zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Core(), core)
	return zap.New(tee, zap.Hooks(func(zapcore.Entry) error {
		tap.mu.Lock()
		close(tap.change)
		tap.change = make(chan struct{})
		tap.mu.Unlock()
		return nil
	})), tap
}

// await returns the first entry with message msg for which cond holds.
func (l *logTap) await(t *testing.T, msg string, cond func(fields map[string]any) bool) map[string]any {
	t.Helper()
	guard := time.NewTimer(awaitTimeout)
	defer guard.Stop()
	for {
		l.mu.Lock()
		change := l.change
		l.mu.Unlock()
		for _, e := range l.obs.FilterMessage(msg).All() {
			if f := e.ContextMap(); cond(f) {
				return f
			}
		}
		select {
		case <-change:
		case <-guard.C:
			t.Fatalf("no log %q after %s", msg, awaitTimeout)
		}
	}
}

// member is one elector of a test and its Run.
type member struct {
	name string
	e    *Elector
	log  *logTap

	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // Run's result, once done
}

// startMember starts an elector named name on b's group "relay.test".
func startMember(t *testing.T, b *kafkaemu.Broker, tl *timeline, name string, timing ElectionConfig) *member {
	t.Helper()
	return startMemberVersion(t, b, tl, name, timing, "")
}

// startMemberVersion is startMember speaking the given KafkaVersion.
func startMemberVersion(t *testing.T, b *kafkaemu.Broker, tl *timeline, name string, timing ElectionConfig, kafkaVersion string) *member {
	t.Helper()
	cfg := timing
	cfg.Group, cfg.Member = "relay.test", name
	logger, tap := newTapLogger(t)
	e, err := NewElector(Config{Brokers: b.Brokers(), Timeout: 500 * time.Millisecond, KafkaVersion: kafkaVersion}, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, e: e, log: tap, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		m.err = e.Run(ctx, recorder{tl: tl, member: name})
	}()
	t.Cleanup(func() {
		cancel()
		if err := e.Close(); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
		m.wait(t)
	})
	return m
}

// wait waits for Run to return and checks it returned nil.
func (m *member) wait(t *testing.T) {
	t.Helper()
	select {
	case <-m.done:
	case <-time.After(awaitTimeout):
		t.Fatalf("%s: Run did not return", m.name)
	}
	if m.err != nil {
		t.Errorf("%s: Run = %v, want nil", m.name, m.err)
	}
}

// joined waits until m has started a session in a generation after the
// given one and returns its generation.
func (m *member) joined(t *testing.T, after int32) int32 {
	t.Helper()
	f := m.log.await(t, "messaging: joined the election group", func(f map[string]any) bool { return int32(logInt(f["generation"])) > after })
	return int32(logInt(f["generation"]))
}

// assigned waits for m's assignment in generation gen or later and returns
// the generation of m's term then (0 when not leading).
func (m *member) assigned(t *testing.T, gen int32) int32 {
	t.Helper()
	f := m.log.await(t, "messaging: election assignment", func(f map[string]any) bool { return int32(logInt(f["generation"])) >= gen })
	return int32(logInt(f["leader_since"]))
}

// logInt reads an integer log field (zap keeps its width).
func logInt(v any) int64 {
	switch n := v.(type) {
	case int32:
		return int64(n)
	case int64:
		return n
	}
	panic(fmt.Sprintf("log field %v (%T) is not an integer", v, v))
}

type recorder struct {
	tl     *timeline
	member string
}

func (r recorder) Elected(t leader.Term) { r.tl.add(leadEvent{r.member, true, t, time.Now()}) }
func (r recorder) Revoked(t leader.Term) { r.tl.add(leadEvent{r.member, false, t, time.Now()}) }

func startElectionBroker(t *testing.T, minSession time.Duration) *kafkaemu.Broker {
	t.Helper()
	return outboxtest.StartBroker(t, kafkaemu.Options{
		GroupMinSessionTimeout: minSession,
		Logger:                 zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	})
}

// TestElectorRefusedSessionTimeout: a session timeout below the broker's
// group.min.session.timeout.ms cannot work however often it is retried;
// Run returns the error naming the field instead of retrying forever.
func TestElectorRefusedSessionTimeout(t *testing.T) {
	t.Parallel()
	b := startElectionBroker(t, 6*time.Second)
	tl := newTimeline()
	cfg := fastElection // 2 s
	cfg.Group, cfg.Member = "relay.refused", "a"
	e, err := NewElector(Config{Brokers: b.Brokers(), Timeout: 500 * time.Millisecond}, cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
	defer cancel()
	err = e.Run(ctx, recorder{tl: tl, member: "a"})
	var ce *ElectionConfigError
	if !errors.As(err, &ce) || ce.Field != "SessionTimeout" || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "2s") {
		t.Fatalf("Run: %v, want an ElectionConfigError for SessionTimeout naming 2s", err)
	}
	if evs := tl.snapshot(); len(evs) != 0 {
		t.Fatalf("events %v with a refused session timeout", evs)
	}
}

// TestElectorStandbysJoin checks that standbys joining a group do not
// disturb its leader — no Revoked, and the leader keeps partition 0 in the
// generation they joined — and that when the leader leaves, exactly one of
// them takes over, after the old term was revoked. The protocol versions
// differ in what a subscription carries (owned partitions from 2.4, their
// generation from 3.2), which the strategy must not depend on.
func TestElectorStandbysJoin(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"2.4.0", "2.8.0", "3.6.0"} {
		t.Run("Kafka "+version, func(t *testing.T) {
			t.Parallel()
			b := startElectionBroker(t, fastElection.SessionTimeout)
			tl := newTimeline()
			a := startMemberVersion(t, b, tl, "a", fastElection, version)
			first := tl.await(t, "a elected", func(evs []leadEvent) bool { return len(evs) == 1 })[0]

			for _, name := range []string{"b", "c"} {
				s := startMemberVersion(t, b, tl, name, fastElection, version)
				gen := s.joined(t, 0)
				if since := a.assigned(t, gen); since != first.term.Generation {
					t.Fatalf("after %s joined in generation %d, a leads since %d, want %d", name, gen, since, first.term.Generation)
				}
			}
			if evs := tl.snapshot(); len(evs) != 1 {
				t.Fatalf("standbys joining changed leadership: %v", evs)
			}

			if err := a.e.Close(); err != nil {
				t.Fatal(err)
			}
			a.wait(t)
			evs := tl.await(t, "a successor", func(evs []leadEvent) bool { return len(evs) >= 3 })
			if len(evs) != 3 || evs[1] != (leadEvent{"a", false, first.term, evs[1].at}) || !evs[2].elected || evs[2].member == "a" {
				t.Fatalf("events %v, want a elected, a revoked, one successor elected", evs)
			}
			checkTerms(t, evs)
			checkNoOverlap(t, evs)
		})
	}
}

// TestElectorFailover stops the leader of two members in the ways a relay
// stops and measures how long the standby takes to lead: "go test -run
// TestElectorFailover -v ./messaging/" prints the figures. The timing
// is reported, not asserted.
func TestElectorFailover(t *testing.T) {
	t.Parallel()
	type stopFunc func(t *testing.T, b *kafkaemu.Broker, leader *member, term leader.Term) (heal func())
	closeLeader := func(t *testing.T, _ *kafkaemu.Broker, leader *member, _ leader.Term) func() {
		if err := leader.e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		return nil
	}
	cancelLeader := func(_ *testing.T, _ *kafkaemu.Broker, leader *member, _ leader.Term) func() {
		leader.cancel()
		return nil
	}
	silenceLeader := func(_ *testing.T, b *kafkaemu.Broker, _ *member, term leader.Term) func() {
		return silenceMember(b, term.Member)
	}
	defaults := ElectionConfig{}
	tests := []struct {
		name       string
		timing     ElectionConfig
		minSession time.Duration // the broker's group.min.session.timeout.ms
		stop       stopFunc
		// graceful: the leader leaves, so its Revoked must come before
		// the successor's Elected. Otherwise the broker drops it after
		// the session timeout, and it learns so on its own schedule.
		graceful bool
		// healEarly: the silenced leader is heard again as soon as its
		// successor is elected, and learns it was dropped from the
		// answer to its next heartbeat. Otherwise it is heard again only
		// once it has given up on its unanswered heartbeats, and must
		// then rejoin as a standby.
		healEarly bool
	}{
		{"Close", fastElection, fastElection.SessionTimeout, closeLeader, true, false},
		{"context canceled", fastElection, fastElection.SessionTimeout, cancelLeader, true, false},
		{"heartbeats lost", fastElection, fastElection.SessionTimeout, silenceLeader, false, false},
		{"Close with default timing", defaults, 0, closeLeader, true, false},
		{"heartbeats lost with default timing", defaults, 0, silenceLeader, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if testing.Short() && tc.minSession == 0 {
				t.Skip("default timing takes a session timeout of 6 s")
			}
			b := startElectionBroker(t, tc.minSession)
			tl := newTimeline()
			a := startMember(t, b, tl, "a", tc.timing)
			term := tl.await(t, "a elected", func(evs []leadEvent) bool { return len(evs) == 1 })[0].term
			s := startMember(t, b, tl, "b", tc.timing)
			gen := s.joined(t, 0)
			if since := a.assigned(t, gen); since != term.Generation {
				t.Fatalf("b joining took leadership from a: a leads since %d", since)
			}

			start := time.Now()
			heal := tc.stop(t, b, a, term)
			if tc.graceful {
				a.wait(t)
			}
			evs := tl.await(t, "b elected", func(evs []leadEvent) bool { _, ok := find(evs, "b", true, 1); return ok })
			elected, _ := find(evs, "b", true, 1)
			timing := tc.timing.withDefaults()
			t.Logf("failover (%s): b elected %s after a was stopped (session timeout %s, heartbeat %s)",
				tc.name, elected.at.Sub(start).Round(time.Millisecond), timing.SessionTimeout, timing.HeartbeatInterval)
			switch {
			case tc.healEarly:
				heal()
			case !tc.graceful:
				// a gives up on its unanswered heartbeats but keeps its
				// term: it cannot tell a dead coordinator from its own
				// isolation. It learns when it is heard again.
				a.log.await(t, "messaging: the election group cannot be reached; still leading until it answers",
					func(map[string]any) bool { return true })
				heal()
			}
			evs = tl.await(t, "a revoked", func(evs []leadEvent) bool { _, ok := find(evs, "a", false, 1); return ok })
			if tc.graceful {
				checkNoOverlap(t, evs)
			} else {
				revoked, _ := find(evs, "a", false, 1)
				t.Logf("failover (%s): a learnt it was dropped %s after it was stopped", tc.name, revoked.at.Sub(start).Round(time.Millisecond))
			}
			if !tc.graceful && !tc.healEarly {
				gen := a.joined(t, term.Generation) // the session a starts when it is heard again
				if since := s.assigned(t, gen); since != elected.term.Generation {
					t.Fatalf("a coming back took leadership from b: b leads since %d, want %d", since, elected.term.Generation)
				}
			}
			evs = tl.snapshot()
			if n := len(evs); n != 3 {
				t.Fatalf("events %v, want a elected, a revoked, b elected", evs)
			}
			checkTerms(t, evs)
		})
	}
}

// silenceMember makes the broker ignore the group requests of one member
// (heartbeats, joins, syncs), as if its process had stopped without
// leaving: the broker drops it after its session timeout. The member sees
// its requests go unanswered. heal lets its requests through again.
func silenceMember(b *kafkaemu.Broker, memberID string) (heal func()) {
	c := b.Cluster()
	var healed atomic.Bool
	c.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		if healed.Load() {
			c.DropControl()
			return nil, nil, false
		}
		var id string
		switch r := req.(type) {
		case *kmsg.HeartbeatRequest:
			id = r.MemberID
		case *kmsg.JoinGroupRequest:
			id = r.MemberID
		case *kmsg.SyncGroupRequest:
			id = r.MemberID
		}
		if id != memberID {
			return nil, nil, false
		}
		c.KeepControl()
		return nil, nil, true // handled, with no answer
	})
	return func() { healed.Store(true) }
}

// TestElectorTopic checks how the coordination topic is made or reused:
// created with one partition, created again with an explicit replication
// factor when the cluster refuses its default, or used as it is when it
// exists with more partitions (partition 0 still elects).
func TestElectorTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		prepare    func(t *testing.T, b *kafkaemu.Broker) (refusals *kfake.FaultHandle)
		partitions int
	}{
		{"created", func(*testing.T, *kafkaemu.Broker) *kfake.FaultHandle { return nil }, 1},
		{"default replication factor refused", func(_ *testing.T, b *kafkaemu.Broker) *kfake.FaultHandle {
			return b.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Err: kerr.InvalidReplicationFactor})
		}, 1},
		{"exists with three partitions", func(t *testing.T, b *kafkaemu.Broker) *kfake.FaultHandle {
			if err := b.CreateTopic(DefaultElectionTopic, 3, nil); err != nil {
				t.Fatal(err)
			}
			return nil
		}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startElectionBroker(t, fastElection.SessionTimeout)
			refusals := tc.prepare(t, b)
			tl := newTimeline()
			startMember(t, b, tl, "a", fastElection)
			tl.await(t, "a elected", func(evs []leadEvent) bool { return len(evs) == 1 })
			client, err := sarama.NewClient(b.Brokers(), sarama.NewConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := client.Close(); err != nil {
					t.Error(err)
				}
			}()
			if parts, err := client.Partitions(DefaultElectionTopic); err != nil || len(parts) != tc.partitions {
				t.Fatalf("topic has partitions %v (%v), want %d", parts, err, tc.partitions)
			}
			if refusals != nil && refusals.Hits() != 1 {
				t.Fatalf("the broker refused %d creations, want 1", refusals.Hits())
			}
		})
	}
}

// TestElectorBrokerRestart stops the broker under a leader and a standby:
// the leader is told at once (its heartbeats fail), and once the broker is
// back one of them leads again, in a later generation.
func TestElectorBrokerRestart(t *testing.T) {
	t.Parallel()
	b := startElectionBroker(t, fastElection.SessionTimeout)
	tl := newTimeline()
	a := startMember(t, b, tl, "a", fastElection)
	first := tl.await(t, "a elected", func(evs []leadEvent) bool { return len(evs) == 1 })[0]
	startMember(t, b, tl, "b", fastElection).joined(t, 0)

	b.Stop()
	// The leader's session ends once its heartbeats go unanswered, but
	// its term does not: nobody can be elected while the broker is down.
	a.log.await(t, "messaging: the election group cannot be reached; still leading until it answers", func(map[string]any) bool { return true })
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	leadsAgain(t, a.log, tl, 1)
	evs := tl.snapshot()
	for _, ev := range evs[1:] {
		if !ev.elected || ev.member != "a" || ev.term == first.term {
			t.Fatalf("events %v, want a still leading, or elected again in a new term with no Revoked in between", evs)
		}
	}
	checkTerms(t, evs)
	checkNoOverlap(t, evs)
}

// leadsAgain waits until a member that kept its term through an outage
// hears from the group again: it logs that it is still the leader, or it
// is elected in a new term (a timeline event after the first n).
func leadsAgain(t *testing.T, log *logTap, tl *timeline, n int) {
	t.Helper()
	for deadline := time.Now().Add(awaitTimeout); ; time.Sleep(10 * time.Millisecond) {
		if log.obs.FilterMessage("messaging: still the leader").Len() > 0 || len(tl.snapshot()) > n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no word from the group after %s; events: %v", awaitTimeout, tl.snapshot())
		}
	}
}

// TestElectorWaitsForBroker starts an elector while the broker is down: Run
// keeps trying, logging each attempt, and leads once the broker is up.
func TestElectorWaitsForBroker(t *testing.T) {
	t.Parallel()
	b := startElectionBroker(t, fastElection.SessionTimeout)
	b.Stop()
	tl := newTimeline()
	m := startMember(t, b, tl, "a", fastElection)
	m.log.await(t, "messaging: election cannot reach the brokers; retrying", func(f map[string]any) bool {
		return logInt(f["attempt"]) == 3
	})
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	tl.await(t, "a elected", func(evs []leadEvent) bool { return len(evs) == 1 })
}

// TestElectorLifecycle covers how Run and Close end: Run returns nil (and a
// leader is told Revoked) whichever ends it, Close can come first, last or
// twice, and a Run that never reached a broker stops too.
func TestElectorLifecycle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		brokerDown bool
		closeFirst bool
		stop       func(m *member) error
	}{
		{"context canceled while leading", false, false, func(m *member) error { m.cancel(); return nil }},
		{"Close while leading", false, false, func(m *member) error { return m.e.Close() }},
		{"Close while the broker is down", true, false, func(m *member) error { return m.e.Close() }},
		{"Close before Run", false, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startElectionBroker(t, fastElection.SessionTimeout)
			if tc.brokerDown {
				b.Stop()
			}
			tl := newTimeline()
			if tc.closeFirst {
				e, err := NewElector(Config{Brokers: b.Brokers()}, ElectionConfig{Group: "g"}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				if err := e.Run(t.Context(), recorder{tl: tl, member: "a"}); err != nil || len(tl.snapshot()) != 0 {
					t.Fatalf("Run after Close = %v, events %v", err, tl.snapshot())
				}
				return
			}
			m := startMember(t, b, tl, "a", fastElection)
			if tc.brokerDown {
				m.log.await(t, "messaging: election cannot reach the brokers; retrying", func(map[string]any) bool { return true })
			} else {
				tl.await(t, "a elected", func(evs []leadEvent) bool { return len(evs) == 1 })
			}
			if err := tc.stop(m); err != nil {
				t.Fatalf("stop: %v", err)
			}
			m.wait(t)
			if err := m.e.Close(); err != nil {
				t.Fatalf("Close after Run returned: %v", err)
			}
			if err := m.e.Run(t.Context(), recorder{tl: tl, member: "a"}); err != nil {
				t.Fatalf("Run again = %v, want nil", err)
			}
			evs := tl.snapshot()
			if want := map[bool]int{true: 0, false: 2}[tc.brokerDown]; len(evs) != want {
				t.Fatalf("events %v, want %d", evs, want)
			}
			checkTerms(t, evs)
		})
	}
}

// TestElectorNoGoroutineLeak runs electors through election, failover, a
// broker outage and Close, plus one that never reaches a broker, and checks
// every goroutine they started is gone. It is not parallel (see
// TestNoGoroutineLeak).
func TestElectorNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		b := startElectionBroker(t, fastElection.SessionTimeout)
		defer func() {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
		}()
		tl := newTimeline()
		logger, tap := newTapLogger(t)
		var electors []*Elector
		var runs sync.WaitGroup
		for _, name := range []string{"a", "b"} {
			cfg := fastElection
			cfg.Group, cfg.Member = "relay.leak", name
			e, err := NewElector(Config{Brokers: b.Brokers(), Timeout: 500 * time.Millisecond}, cfg, logger)
			if err != nil {
				t.Fatal(err)
			}
			electors = append(electors, e)
			runs.Go(func() {
				if err := e.Run(context.Background(), recorder{tl: tl, member: name}); err != nil {
					t.Errorf("Run: %v", err)
				}
			})
			tl.await(t, "a elected", func(evs []leadEvent) bool { return len(evs) == 1 })
		}
		leader := map[string]*Elector{"a": electors[0], "b": electors[1]}[tl.snapshot()[0].member]
		if err := leader.Close(); err != nil {
			t.Fatal(err)
		}
		tl.await(t, "a successor", func(evs []leadEvent) bool { return len(evs) == 3 })
		b.Stop()
		tap.await(t, "messaging: the election group cannot be reached; still leading until it answers", func(map[string]any) bool { return true })
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		leadsAgain(t, tap, tl, 3)
		for _, e := range electors {
			if err := e.Close(); err != nil {
				t.Error(err)
			}
		}
		runs.Wait()

		down := startElectionBroker(t, 0)
		defer func() {
			if err := down.Close(); err != nil {
				t.Error(err)
			}
		}()
		down.Stop()
		never, err := NewElector(Config{Brokers: down.Brokers(), Timeout: 500 * time.Millisecond}, ElectionConfig{Group: "g"}, logger)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := never.Run(ctx, recorder{tl: tl, member: "never"}); err != nil {
			t.Errorf("Run without a broker: %v", err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
