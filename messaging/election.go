package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// Defaults applied by [ElectionConfig] to zero-valued fields.
const (
	// DefaultElectionTopic is the coordination topic. Every relay name may
	// share it: a consumer group assigns partition 0 to one of its own
	// members whatever other groups do.
	DefaultElectionTopic = "outbox-relay-election"
	// DefaultSessionTimeout is the smallest session timeout a Kafka broker
	// accepts by default (group.min.session.timeout.ms): the fastest
	// failover the cluster allows without reconfiguring it.
	DefaultSessionTimeout = 6 * time.Second
	// DefaultHeartbeatInterval keeps Kafka's advice of at most a third of
	// the session timeout with room to spare: a standby notices a
	// rebalance within a second, and a leader survives five lost
	// heartbeats in a row.
	DefaultHeartbeatInterval = time.Second
)

// electionProtocol names the assignment strategy in the group protocol
// (DescribeGroups shows it). Versioned: a relay whose strategy decides
// differently must not share a group with this one, and a group refuses a
// member that supports none of its members' protocols.
const electionProtocol = "outbox-leader-v1"

// minElectionKafkaVersion is the oldest protocol version sarama runs the
// cooperative rebalance protocol with (KIP-429, Kafka 2.4).
var minElectionKafkaVersion = sarama.V2_4_0_0

// electionBackoff paces rejoining after a failed join or a session that
// ended early: 100 ms doubling to 2 s, with jitter so that the standbys of
// a relay name do not rejoin in lockstep. The cap is low because it adds
// directly to the time it takes to regain a leader after an outage.
var electionBackoff = resilience.RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second, Multiplier: 2, Jitter: 0.2}

// ElectionConfigError reports one invalid [ElectionConfig] field. It wraps
// [ErrInvalidConfig], like [ConfigError].
type ElectionConfigError struct {
	Field  string
	Reason string
}

func (e *ElectionConfigError) Error() string {
	return "messaging: invalid ElectionConfig." + e.Field + ": " + e.Reason
}

// Unwrap returns [ErrInvalidConfig].
func (e *ElectionConfigError) Unwrap() error { return ErrInvalidConfig }

// ElectionConfig configures an [Elector]: the group and its timing. The
// connection settings (brokers, TLS, SASL, client id, request timeout) come
// from the publisher's [Config].
type ElectionConfig struct {
	// Group is the consumer group id of the relays that elect one leader,
	// for example "outbox-relay.<relay name>". Required.
	Group string

	// Topic is the coordination topic (default [DefaultElectionTopic]).
	// The member given its partition 0 leads. It is created with one
	// partition and the cluster's default replication factor if it does
	// not exist; if it exists with more partitions, only partition 0
	// counts. Nothing is ever written to it.
	Topic string

	// Member identifies this process to operators (default
	// "<hostname>:<pid>"). It travels in the member's subscription user
	// data and, with the characters a client id cannot hold replaced by
	// '_', in its client id, which Kafka also puts at the front of the
	// member id: logs, DescribeGroups and kafka-consumer-groups --members
	// show it.
	Member string

	// SessionTimeout is how long the broker waits without a heartbeat
	// before it drops a member; a leader that dies without leaving is
	// replaced after about this long, plus one HeartbeatInterval for the
	// standbys to notice (default [DefaultSessionTimeout]). The broker
	// refuses values outside group.min/max.session.timeout.ms.
	SessionTimeout time.Duration

	// HeartbeatInterval is how often a member heartbeats, and so how soon a
	// standby learns that the group is rebalancing (default
	// [DefaultHeartbeatInterval]). It must be at most a third of
	// SessionTimeout.
	HeartbeatInterval time.Duration

	// RebalanceTimeout is how long the broker waits, once a rebalance has
	// started, for every member to rejoin; a member that has not rejoined
	// by then is dropped (default: SessionTimeout). Members of this group
	// rejoin on their next heartbeat and do no work in between, so any
	// value well above HeartbeatInterval is safe; it is kept short
	// because a member that dies during a rebalance holds the election up
	// for this long. A leader whose partition is taken away in a
	// rebalance (which this strategy never does to a live leader) must
	// also return from Revoked within it. The client's read timeout is
	// RebalanceTimeout plus [Config.Timeout], since the broker may hold a
	// JoinGroup answer for the whole RebalanceTimeout.
	RebalanceTimeout time.Duration
}

// withDefaults returns c with every zero-valued optional field set to its
// default.
func (c ElectionConfig) withDefaults() ElectionConfig {
	if c.Topic == "" {
		c.Topic = DefaultElectionTopic
	}
	if c.Member == "" {
		c.Member = defaultMember()
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = c.SessionTimeout
	}
	return c
}

func defaultMember() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

// Validate reports every field of c (after defaults) that cannot work, as
// [*ElectionConfigError]s joined with [errors.Join]; each wraps
// [ErrInvalidConfig].
func (c ElectionConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ElectionConfigError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if c.Group == "" {
		bad("Group", "must not be empty")
	}
	if err := ValidateTopicName(c.Topic); err != nil {
		bad("Topic", "%v", err)
	}
	// Kafka carries the timeouts as int32 milliseconds.
	for _, d := range []struct {
		field string
		value time.Duration
	}{
		{"SessionTimeout", c.SessionTimeout},
		{"HeartbeatInterval", c.HeartbeatInterval},
		{"RebalanceTimeout", c.RebalanceTimeout},
	} {
		if d.value < time.Millisecond || d.value > math.MaxInt32*time.Millisecond {
			bad(d.field, "must be between 1ms and %s, got %s", math.MaxInt32*time.Millisecond, d.value)
		}
	}
	// Kafka's advice: a member whose heartbeats are a third of its session
	// apart keeps the session through two lost in a row.
	if c.HeartbeatInterval > c.SessionTimeout/3 {
		bad("HeartbeatInterval", "must be at most a third of the session timeout (%s), got %s", c.SessionTimeout, c.HeartbeatInterval)
	}
	return errors.Join(errs...)
}

// Elector takes part in the election of one leader among the processes that
// share an [ElectionConfig.Group], through Kafka's consumer group protocol:
// every process is a member of the group, subscribed to the coordination
// topic, and the member given its partition 0 leads. The group is managed
// by the broker (membership, heartbeats, session timeouts, generations), so
// there is no consensus of our own to get wrong.
//
// The assignment strategy keeps partition 0 with its current holder for as
// long as that member stays in the group, so a standby that joins (or
// restarts) never takes leadership from a live leader; only when the holder
// has left or been dropped is the partition given to another member, the
// one with the smallest member id. The group uses the cooperative rebalance
// protocol: a member keeps its partitions through a rebalance instead of
// giving them all up and being handed them back, so a standby joining does
// not interrupt the leader either.
type Elector struct {
	conn     Config
	cfg      ElectionConfig
	clientID string
	log      *zap.Logger
	strategy *leaderStrategy

	// hmu serialises the handler's calls and guards held.
	hmu sync.Mutex
	// held is the term the handler was last told Elected and not yet
	// Revoked: it outlives a session that ended because the group could
	// not be reached, until the group answers again.
	held *leader.Term

	mu        sync.Mutex
	closed    bool
	running   bool
	cancelRun context.CancelFunc // cancels Run's context; nil when Run is not running
	client    sarama.Client      // nil until Run has connected
	group     sarama.ConsumerGroup
}

// Member is this process's identity in the group ([ElectionConfig.Member]
// or its default).
func (e *Elector) Member() string { return e.cfg.Member }

// NewElector validates both configurations and returns an Elector that has
// not contacted the brokers yet: [Elector.Run] does, so a relay can start
// while Kafka is down. It fails only if a configuration is invalid
// ([ErrInvalidConfig], including unreadable TLS files). A nil logger
// discards logs.
func NewElector(conn Config, cfg ElectionConfig, logger *zap.Logger) (*Elector, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if err := errors.Join(conn.Validate(), cfg.Validate()); err != nil {
		return nil, err
	}
	conn, cfg = conn.withDefaults(), cfg.withDefaults()
	if v, _ := sarama.ParseKafkaVersion(conn.KafkaVersion); !v.IsAtLeast(minElectionKafkaVersion) {
		return nil, &ConfigError{Field: "KafkaVersion", Reason: fmt.Sprintf("%q is older than %s, the first version with cooperative rebalancing, which the election needs",
			conn.KafkaVersion, minElectionKafkaVersion)}
	}
	e := &Elector{
		conn:     conn,
		cfg:      cfg,
		clientID: conn.ClientID + "." + clientIDSafe(cfg.Member),
		log: logger.Named("election").With(zap.String("group", cfg.Group), zap.String("topic", cfg.Topic),
			zap.String("member", cfg.Member)),
	}
	e.strategy = &leaderStrategy{topic: cfg.Topic, member: cfg.Member, log: e.log}
	// Build the sarama configuration once here, so configuration errors
	// (TLS files) are reported now rather than retried as connection
	// failures.
	if _, err := e.saramaConfig(); err != nil {
		return nil, err
	}
	return e, nil
}

// clientIDSafe replaces the characters Kafka's older client id rule (which
// [Config.ClientID] follows) does not allow, such as the ':' of host:pid.
func clientIDSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

func (e *Elector) saramaConfig() (*sarama.Config, error) {
	sc, err := e.conn.saramaConfig()
	if err != nil {
		return nil, err
	}
	sc.ClientID = e.clientID
	// The broker holds a JoinGroup answer until every member has rejoined,
	// for up to the rebalance timeout. A shorter read deadline would give
	// up on a healthy join and end the session: a leader would lose its
	// leadership because a standby was slow to rejoin.
	sc.Net.ReadTimeout = e.cfg.RebalanceTimeout + e.conn.Timeout
	// The coordination topic is created on purpose with one partition,
	// not by a metadata request with the broker's default partition count.
	sc.Metadata.AllowAutoTopicCreation = false
	sc.Admin.Timeout = e.conn.Timeout

	g := &sc.Consumer.Group
	g.Session.Timeout = e.cfg.SessionTimeout
	g.Heartbeat.Interval = e.cfg.HeartbeatInterval
	g.Rebalance.Timeout = e.cfg.RebalanceTimeout
	g.Rebalance.GroupStrategies = []sarama.BalanceStrategy{e.strategy}
	// A join that fails with a retriable error (coordinator moving, a
	// rebalance starting over) is retried at the heartbeat pace, for about
	// as long as the broker would keep the member anyway. sarama's default
	// (2 s apart) would add seconds to a failover.
	g.Rebalance.Retry.Backoff = e.cfg.HeartbeatInterval
	g.Rebalance.Retry.Max = int((e.cfg.SessionTimeout + e.cfg.HeartbeatInterval - 1) / e.cfg.HeartbeatInterval)
	// Group.InstanceId stays empty: a static member does not send
	// LeaveGroup when it closes, which would turn every graceful handover
	// into a wait for the session timeout.

	// The claim on partition 0 would fetch from it like any consumer, but
	// nothing is written there: ConsumeClaim pauses it at once. The
	// broker answers one request of a connection at a time and sarama
	// sends the group's requests (join, sync, heartbeat) on the same
	// connection as fetches, so a long-polling fetch would delay each of
	// them by up to MaxWaitTime; 100 ms bounds the first fetch, which may
	// go out before the pause.
	sc.Consumer.MaxWaitTime = 100 * time.Millisecond
	sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	sc.Consumer.Offsets.AutoCommit.Enable = false
	// Errors come to logErrors instead of sarama's (silent) logger.
	sc.Consumer.Return.Errors = true
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("messaging: sarama rejected the derived election config: %w", err)
	}
	return sc, nil
}

// Run joins the group and takes part in elections, calling h as this member
// gains and loses leadership, until ctx ends or [Elector.Close] is called;
// it returns nil then, after leaving the group (so that another member is
// elected at once) and telling h Revoked if it was leading. It never returns
// because the brokers are unreachable: it keeps reconnecting and rejoining
// with a capped backoff, logging each failure at Warn with its attempt
// number. An Elector runs once: Run after Close, or after an earlier Run
// returned, returns nil at once; a second concurrent Run is an error.
//
// h.Elected is called when this member is given partition 0 of the
// coordination topic (the Term: generation and member id), h.Revoked when
// the group ends that term: a rebalance took the partition away, the broker
// dropped the member (it stopped heartbeating: a pause, a partition; a
// successor may already be elected, and only fencing of the work protects
// against that window), ctx ended, or Close. When this member gives the
// partition up itself, Revoked returns before the group can give it to
// another member, so a handler that stops the work before returning never
// overlaps with its successor.
//
// A session that ends because the coordinator cannot be reached ends no
// term: nobody is elected while the brokers are down, so the member keeps
// leading and rejoins claiming the partition. If the group answers again
// and gives the partition to this member, h.Elected is called with the new
// term without a Revoked in between; if it gave it to another, h.Revoked.
// A member cut off from the coordinator alone keeps leading until then
// while another is elected: its work must be fenced (the relay's epochs).
//
// Run returns an [*ElectionConfigError] if the brokers refuse the session
// timeout, since no retry can succeed. A generation is no durable epoch: Kafka forgets an empty group and starts
// again at generation 1.
//
// Handlers run on the election's goroutines and hold it up while they run:
// they must not call Close or wait for anything that does (Close waits for
// the session to end, which waits for the handler).
func (e *Elector) Run(ctx context.Context, h leader.Handler) error {
	if h == nil {
		return errors.New("messaging: Elector.Run needs a leader.Handler")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		return nil
	case e.running:
		e.mu.Unlock()
		return errors.New("messaging: Elector.Run is already running")
	}
	e.running, e.cancelRun = true, cancel
	e.mu.Unlock()
	defer func() {
		// Leave the group when ctx ends too: a member that stops
		// heartbeating without leaving holds the next election up for a
		// whole session timeout.
		if err := e.Close(); err != nil {
			e.log.Warn("messaging: leaving the election group failed", zap.Error(err))
		}
	}()

	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	client, group := e.connect(ctx, rnd)
	if group == nil {
		return nil
	}
	// Before leaving the group (the deferred Close above): a term still
	// held across an unreachable group ends with Run.
	defer e.revokeHeld(h, "the election stopped")
	handler := &electionHandler{e: e, h: h, group: group}
	for failures := 0; ; {
		// A new session claims partition 0 only for a term still held.
		e.strategy.resume(e.heldGeneration())
		start := time.Now()
		err := group.Consume(ctx, []string{e.cfg.Topic}, handler)
		if ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return nil
		}
		if errors.Is(err, sarama.ErrInvalidSessionTimeout) {
			// Retrying cannot help: the brokers' group.min/max.session.timeout.ms
			// must change, or the setting.
			return &ElectionConfigError{Field: "SessionTimeout",
				Reason: fmt.Sprintf("the brokers refuse %s (outside their group.min/max.session.timeout.ms): %v", e.cfg.SessionTimeout, err)}
		}
		// A session that lasted rejoins at once; one that ended early, or
		// a failed join, backs off so that a persistent fault does not
		// turn into a loop of joins.
		if err == nil && time.Since(start) >= e.cfg.SessionTimeout {
			failures = 0
			continue
		}
		failures++
		if err != nil {
			e.log.Warn("messaging: cannot join the election group; retrying", zap.Int("attempt", failures), zap.Error(err))
			if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				// Deleted while we ran: create it again.
				e.ensureTopic(client)
			}
		}
		if !sleepCtx(ctx, electionBackoff.Backoff(failures, rnd)) {
			return nil
		}
	}
}

// connect makes a client and a consumer group, retrying until it succeeds;
// it returns nils if ctx ends first. The client's first metadata request is
// what fails while no broker answers.
func (e *Elector) connect(ctx context.Context, rnd *rand.Rand) (sarama.Client, sarama.ConsumerGroup) {
	for attempt := 1; ; attempt++ {
		client, group, err := e.dial()
		if err == nil {
			e.mu.Lock()
			if e.closed {
				e.mu.Unlock()
				// Made after Close, never joined: only the connection to
				// let go of.
				if cerr := errors.Join(group.Close(), client.Close()); cerr != nil {
					e.log.Warn("messaging: close an election connection made during Close", zap.Error(cerr))
				}
				return nil, nil
			}
			e.client, e.group = client, group
			e.mu.Unlock()
			go e.logErrors(group)
			e.log.Info("messaging: election connected", zap.Strings("brokers", e.conn.Brokers), zap.Int("attempt", attempt))
			return client, group
		}
		e.log.Warn("messaging: election cannot reach the brokers; retrying", zap.Strings("brokers", e.conn.Brokers),
			zap.Int("attempt", attempt), zap.Error(err))
		if !sleepCtx(ctx, electionBackoff.Backoff(attempt, rnd)) {
			return nil, nil
		}
	}
}

// dial makes one attempt to connect, and makes sure the coordination topic
// exists before the group subscribes to it.
func (e *Elector) dial() (sarama.Client, sarama.ConsumerGroup, error) {
	sc, err := e.saramaConfig()
	if err != nil {
		return nil, nil, err
	}
	client, err := sarama.NewClient(e.conn.Brokers, sc)
	if err != nil {
		return nil, nil, fmt.Errorf("messaging: connect to %v: %w", e.conn.Brokers, err)
	}
	e.ensureTopic(client)
	group, err := sarama.NewConsumerGroupFromClient(e.cfg.Group, client)
	if err != nil {
		err = fmt.Errorf("messaging: consumer group %q: %w", e.cfg.Group, err)
		if cerr := client.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("messaging: close client: %w", cerr))
		}
		return nil, nil, err
	}
	return client, group, nil
}

// ensureTopic creates the coordination topic if it does not exist: one
// partition, with the cluster's default replication factor (-1), or, if
// the cluster refuses that (its default exceeds its brokers, as on a
// one-broker cluster configured like production, or it predates Kafka
// 2.4), as many replicas as it has brokers, up to 3. A failure is only
// logged: the topic may exist all the same (a user allowed to join the
// group but not to create topics), and if it does not, joining fails and
// is retried.
func (e *Elector) ensureTopic(client sarama.Client) {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		e.log.Warn("messaging: cannot check the election topic", zap.Error(err))
		return
	}
	// The admin only borrows the client, which the group still needs:
	// closing the admin would close the client, so it is not closed.
	create := func(replicas int16) error {
		return admin.CreateTopic(e.cfg.Topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: replicas}, false)
	}
	err = create(-1)
	if errors.Is(err, sarama.ErrInvalidReplicationFactor) {
		err = create(int16(min(3, len(client.Brokers()))))
	}
	switch {
	case err == nil:
		e.log.Info("messaging: created the election topic")
	case errors.Is(err, sarama.ErrTopicAlreadyExists):
		if parts, perr := client.Partitions(e.cfg.Topic); perr == nil && len(parts) > 1 {
			e.log.Info("messaging: the election topic has several partitions; only partition 0 counts",
				zap.Int("partitions", len(parts)))
		}
	default:
		e.log.Warn("messaging: cannot create the election topic", zap.Error(err))
	}
}

// logErrors logs what sarama reports in the background (failed heartbeats,
// fetches of partition 0) until the group is closed.
func (e *Elector) logErrors(group sarama.ConsumerGroup) {
	for err := range group.Errors() {
		var ce *sarama.ConsumerError
		if errors.As(err, &ce) {
			// The partition consumer's errors repeat every retry during
			// an outage; the group-level errors already say it.
			e.log.Debug("messaging: election partition consumer error", zap.Error(err))
			continue
		}
		e.log.Warn("messaging: election group error", zap.Error(err))
	}
}

// Close leaves the group at once (LeaveGroup), so that another member is
// elected without waiting for the session timeout: the graceful handover.
// If this member leads, the handler's Revoked has returned before the
// LeaveGroup is sent. Close does not wait for a connection attempt of Run
// that is under way (Run abandons it when it ends, within [Config.Timeout]).
// It is safe to call more than once, and before, during or after Run;
// later calls return nil.
func (e *Elector) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	if e.cancelRun != nil {
		e.cancelRun()
	}
	client, group := e.client, e.group
	e.mu.Unlock()
	if group == nil {
		return nil
	}
	// group.Close waits for the session to end (Revoked included), then
	// sends LeaveGroup.
	err := group.Close()
	if err != nil {
		err = fmt.Errorf("messaging: leave election group %q: %w", e.cfg.Group, err)
	}
	if cerr := client.Close(); cerr != nil && !errors.Is(cerr, sarama.ErrClosedClient) {
		err = errors.Join(err, fmt.Errorf("messaging: close election client: %w", cerr))
	}
	if err == nil {
		e.log.Info("messaging: left the election group")
	}
	return err
}

// electionHandler adapts a [leader.Handler] to sarama's group handler.
type electionHandler struct {
	e     *Elector
	h     leader.Handler
	group sarama.ConsumerGroup
}

// Setup ends a term held across an unreachable group if the group, now
// answering, gave partition 0 to another member.
func (eh *electionHandler) Setup(sess sarama.ConsumerGroupSession) error {
	eh.e.log.Info("messaging: joined the election group", zap.String("member_id", sess.MemberID()),
		zap.Int32("generation", sess.GenerationID()))
	if !slices.Contains(sess.Claims()[eh.e.cfg.Topic], 0) {
		eh.e.revokeHeld(eh.h, "the group gave partition 0 to another member")
	}
	return nil
}

func (eh *electionHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	eh.e.log.Info("messaging: election session ended", zap.String("member_id", sess.MemberID()),
		zap.Int32("generation", sess.GenerationID()), zap.NamedError("cause", context.Cause(sess.Context())))
	return nil
}

// ConsumeClaim runs while this member holds a partition. With the
// cooperative protocol a claim lives across rebalances, so it starts once
// per term, and ends when the partition is taken away (its Messages close)
// or the session ends (its context is done, which may come first).
// Returning early would end the session, so it blocks until then.
func (eh *electionHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	// Stop fetching: see Consumer.MaxWaitTime in saramaConfig. The pause
	// outlives the claim, should the partition come back.
	eh.group.Pause(map[string][]int32{claim.Topic(): {claim.Partition()}})
	msgs := claim.Messages()
	term := leader.Term{Generation: eh.e.strategy.term(), Member: sess.MemberID()}
	// Another partition of a topic that has several, or partition 0 taken
	// away again before this claim started: hold it without leading.
	if claim.Topic() != eh.e.cfg.Topic || claim.Partition() != 0 || term.Generation == 0 {
		for range msgs { // nothing is meant to be written there
		}
		return nil
	}
	eh.e.elected(eh.h, term)
	var cause error
wait:
	for {
		select {
		case <-sess.Context().Done():
			cause = context.Cause(sess.Context())
			break wait
		case _, ok := <-msgs:
			if !ok {
				eh.e.revokeHeld(eh.h, "partition 0 was taken away in a rebalance")
				return nil
			}
		}
	}
	if groupUnreachable(cause) && !eh.e.isClosed() {
		// Nobody can be elected while the group cannot be reached by
		// anyone, and if only this member cannot reach it, the successor's
		// epoch fences its progress writes. Keeping the term keeps the
		// processor: events in flight wait behind its breaker instead of
		// being read again, and the next session reclaims the partition.
		eh.e.log.Warn("messaging: the election group cannot be reached; still leading until it answers",
			zap.Int32("generation", term.Generation), zap.NamedError("cause", cause))
		return nil
	}
	eh.e.revokeHeld(eh.h, cause.Error())
	return nil
}

// groupUnreachable tells a session that ended because the coordinator did
// not answer from one the group ended: the broker dropped the member
// (unknown member, old generation: a successor may lead already), the
// member did not give up a partition in time, or this side closed it.
func groupUnreachable(cause error) bool {
	for _, ended := range []error{context.Canceled, sarama.ErrUnknownMemberId, sarama.ErrIllegalGeneration,
		sarama.ErrFencedInstancedId, sarama.ErrRebalanceTimedOut, sarama.ErrClosedConsumerGroup} {
		if errors.Is(cause, ended) {
			return false
		}
	}
	return cause != nil
}

func (e *Elector) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// elected tells h about term t. A term held across an unreachable group is
// replaced without a Revoked in between: this member kept the partition.
func (e *Elector) elected(h leader.Handler, t leader.Term) {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	if e.held != nil && *e.held == t {
		// The broker kept this member and its generation through the
		// outage: the handler knows this term already.
		e.log.Info("messaging: still the leader", zap.Int32("generation", t.Generation), zap.String("member_id", t.Member))
		return
	}
	e.log.Info("messaging: elected leader", zap.Int32("generation", t.Generation), zap.String("member_id", t.Member))
	e.held = &t
	h.Elected(t)
}

// revokeHeld tells h that the held term, if any, is over.
func (e *Elector) revokeHeld(h leader.Handler, cause string) {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	if e.held == nil {
		return
	}
	t := *e.held
	e.held = nil
	e.log.Info("messaging: leadership revoked", zap.Int32("generation", t.Generation), zap.String("member_id", t.Member),
		zap.String("cause", cause))
	h.Revoked(t)
}

func (e *Elector) heldGeneration() int32 {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	if e.held == nil {
		return 0
	}
	return e.held.Generation
}

// sleepCtx waits d and reports true, or reports false as soon as ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// leaderStrategy is the group's assignment strategy: it gives partition 0
// of the coordination topic to exactly one member, preferring the member
// that holds it already, and assigns nothing else. Every member runs the
// same Plan (the broker picks one of them to compute the assignment), so it
// depends only on what the members report.
//
// Each member reports, in its subscription user data, its name and the
// generation since which it has held partition 0 in its current session
// (0 if it does not). That, not sarama's OwnedPartitions, is what Plan
// reads: OwnedPartitions carries no generation before KafkaVersion 3.2 to
// settle two claims of which one is stale.
type leaderStrategy struct {
	topic  string
	member string
	log    *zap.Logger

	mu sync.Mutex
	// since is the generation in which this member was given partition 0,
	// while it holds it in the current session; 0 otherwise.
	since int32
}

// memberState is a member's subscription user data, JSON so that an
// operator reading DescribeGroups' raw metadata can read it too.
type memberState struct {
	Member      string `json:"member"`
	LeaderSince int32  `json:"leader_since,omitempty"`
}

var _ interface {
	sarama.SubscriptionUserDataBalanceStrategy
	sarama.OnAssignmentBalanceStrategy
	sarama.RebalanceProtocolBalanceStrategy
} = (*leaderStrategy)(nil)

func (s *leaderStrategy) Name() string { return electionProtocol }

// SupportedProtocols is cooperative only. Under the eager protocol every
// rebalance revokes every partition before reassigning it, so a standby
// joining would revoke and re-elect the leader each time.
func (s *leaderStrategy) SupportedProtocols() []sarama.RebalanceProtocol {
	return []sarama.RebalanceProtocol{sarama.RebalanceProtocolCooperative}
}

// Plan gives partition 0 to the member chosen by chooseLeader. With the
// cooperative protocol a partition must not move from one member to
// another in one rebalance; this plan never moves it away from a member
// that reports holding it, unless two do (a stale claim), and then the
// stale holder gives it up and the current one keeps it.
func (s *leaderStrategy) Plan(members map[string]sarama.ConsumerGroupMemberMetadata, topics map[string][]int32) (sarama.BalanceStrategyPlan, error) {
	plan := make(sarama.BalanceStrategyPlan, 1)
	if !slices.Contains(topics[s.topic], 0) {
		return plan, nil
	}
	if id := s.chooseLeader(members); id != "" {
		plan.Add(id, s.topic, 0)
	}
	return plan, nil
}

// chooseLeader returns the member that holds partition 0 since the latest
// generation, or, if none holds it, the member with the smallest id: a
// deterministic choice, so that every member computing the plan agrees.
// Members not subscribed to the topic are not candidates.
func (s *leaderStrategy) chooseLeader(members map[string]sarama.ConsumerGroupMemberMetadata) string {
	var best string
	var bestSince int32
	for id, meta := range members {
		if !slices.Contains(meta.Topics, s.topic) {
			continue
		}
		var st memberState
		if err := json.Unmarshal(meta.UserData, &st); err != nil {
			s.log.Warn("messaging: election member sent unreadable user data; it does not hold partition 0",
				zap.String("member_id", id), zap.Error(err))
			st = memberState{}
		}
		if best == "" || st.LeaderSince > bestSince || st.LeaderSince == bestSince && id < best {
			best, bestSince = id, st.LeaderSince
		}
	}
	return best
}

func (s *leaderStrategy) AssignmentData(string, map[string][]int32, int32) ([]byte, error) {
	return nil, nil
}

// SubscriptionUserData tells the member computing the plan who this member
// is and whether it holds partition 0.
func (s *leaderStrategy) SubscriptionUserData([]string) ([]byte, error) {
	s.mu.Lock()
	st := memberState{Member: s.member, LeaderSince: s.since}
	s.mu.Unlock()
	return json.Marshal(st)
}

// OnAssignment records the generation in which partition 0 was given to
// this member; a generation that keeps it keeps the term.
func (s *leaderStrategy) OnAssignment(a *sarama.ConsumerGroupMemberAssignment, generation int32) {
	holds := slices.Contains(a.Topics[s.topic], 0)
	s.mu.Lock()
	switch {
	case !holds:
		s.since = 0
	case s.since == 0:
		s.since = generation
	}
	since := s.since
	s.mu.Unlock()
	s.log.Debug("messaging: election assignment", zap.Int32("generation", generation), zap.Int32("leader_since", since))
}

// term returns the generation of the current term, 0 if not leading.
func (s *leaderStrategy) term() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.since
}

// resume starts a session claiming partition 0 since generation since, the
// term held across an unreachable group, or claiming nothing (0). A claim
// loses to any member holding the partition since a later generation, so a
// member that was dropped does not take it back from its successor. (A
// broker that lost the group's state starts counting generations again,
// and an old claim may then win against a younger leader: that leader is
// revoked, and the claimant, whose epoch the younger leader fenced, takes
// a new one before it publishes again.)
func (s *leaderStrategy) resume(since int32) {
	s.mu.Lock()
	s.since = since
	s.mu.Unlock()
}
