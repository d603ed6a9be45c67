package app

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/httpapi"
	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// RelayConfig configures a relay: which processor reads the outbox and how
// it publishes. Only the chosen processor is started.
type RelayConfig struct {
	// Processor is "cdc" (read the outbox table's CDC log) or "polling"
	// (read outbox_by_bucket).
	Processor string
	Keyspace  string
	// Name keys saved progress and names the relays that share it: any
	// number may run, one is active at a time. Default DefaultRelayName.
	Name string
	// Election is how the relays of a name elect the active one; its
	// Group defaults to "scylla-outbox." + Name. The Kafka connection is
	// the publisher's.
	Election messaging.ElectionConfig
	// OnStopped hears that the relay left its group unasked (its
	// processor could not run): the process can serve no more.
	OnStopped func(error)
	// Processing is how the processor publishes: retries, breaker, poison
	// policy, in-flight limit, drain and progress intervals. StartRelay
	// fills in what it wires: publisher, DLQ actor, dead-letter index,
	// error classification, metrics and logger.
	Processing actors.ProcessorConfig
	// WriteTimeout is the writers' storage timeout: on a real cluster an
	// acknowledged write may become visible that long after its timestamp,
	// so the CDC confidence window or the polling safety window must
	// exceed it. Default storage.DefaultTimeout.
	WriteTimeout time.Duration
	// CDC holds the CDC reader's windows; names are filled in.
	CDC cdc.ReaderConfig
	// CDCProgressTTL expires saved per-stream CDC progress. Default
	// storage.DefaultStreamProgressTTL.
	CDCProgressTTL time.Duration
	// Polling holds the polling processor's windows; store and name are
	// filled in.
	Polling actors.PollingSource
	// Consistency of relay reads; default LOCAL_QUORUM.
	Consistency gocql.Consistency
	// PanicOn, if set, makes the processor panic on each record it returns
	// true for (fault injection, to watch the supervision: see PanicOnce).
	PanicOn func(outbox.Record) bool
	Logger  *zap.Logger
}

// PanicOnce returns a [RelayConfig.PanicOn] that fires on the first record
// only: the supervisor restarts the processor and nothing is lost.
func PanicOnce() func(outbox.Record) bool {
	var fired atomic.Bool
	return func(outbox.Record) bool { return fired.CompareAndSwap(false, true) }
}

// setDefaults fills every zero optional field.
func (cfg *RelayConfig) setDefaults() {
	if cfg.Name == "" {
		cfg.Name = DefaultRelayName
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Consistency == 0 {
		cfg.Consistency = gocql.LocalQuorum
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = storage.DefaultTimeout
	}
	if cfg.Election.Group == "" {
		cfg.Election.Group = electionGroup(cfg.Name)
	}
}

// Validate reports a relay configuration that cannot run; the processor's
// and the reader's own settings are checked when they are built.
func (cfg RelayConfig) Validate() error {
	if !outbox.IsProcessor(cfg.Processor) {
		return fmt.Errorf("relay: %w, got %q", ErrUnknownProcessor, cfg.Processor)
	}
	if cfg.WriteTimeout < 0 {
		return fmt.Errorf("relay: WriteTimeout must not be negative, got %s", cfg.WriteTimeout)
	}
	return nil
}

// ErrUnknownProcessor is returned for a processor other than cdc or polling.
var ErrUnknownProcessor = errors.New(`unknown processor: want "cdc" or "polling"`)

// Relay is a running relay inside an actor system.
type Relay struct {
	cfg    RelayConfig
	sys    *actors.System
	leader *actor.PID
	dlq    *actor.PID
	DLQ    *storage.DeadLetterStore
}

// StartRelay spawns the DlqActor and the RelayLeaderActor into sys: the
// relay joins its name's group over the Kafka cluster of kafka, and runs
// the configured processor while it is the active one. session must be a
// session to the cluster holding the schema; metrics may be nil.
func StartRelay(ctx context.Context, sys *actors.System, session gocqlx.Session, pub actors.Publisher, metricsPID *actor.PID, kafka messaging.Config, cfg RelayConfig) (*Relay, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkVisibilityMargin(ctx, session, cfg); err != nil {
		return nil, err
	}
	r := &Relay{cfg: cfg, sys: sys, DLQ: storage.NewDeadLetterStore(session, cfg.Keyspace)}
	dlqProps, err := actors.NewDLQProps(actors.DLQConfig{Store: r.DLQ, Metrics: metricsPID, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	if r.dlq, err = sys.Spawn(dlqProps, "dlq"); err != nil {
		return nil, err
	}
	pcfg := cfg.Processing
	pcfg.Publisher, pcfg.DLQ, pcfg.Metrics, pcfg.DeadLetters = pub, r.dlq, metricsPID, r.DLQ
	pcfg.Classify, pcfg.Ambiguous, pcfg.Logger = classifyPublishError, messaging.IsAmbiguous, cfg.Logger
	pcfg.PanicOn = cfg.PanicOn
	relays := storage.NewRelayProgress(session, cfg.Keyspace, storage.RelayProgressOptions{StreamTTL: cfg.CDCProgressTTL})
	processor := func(epoch leader.Epoch) (*actor.Props, error) {
		progress := relays.Fenced(cfg.Name, epoch)
		pcfg := pcfg
		pcfg.Fence = progress.Check
		switch cfg.Processor {
		case outbox.ProcessorCDC:
			rc := cfg.CDC
			rc.Keyspace, rc.Table = cfg.Keyspace, schema.TableOutboxMessages
			rc.Consistency = cfg.Consistency
			return actors.NewCDCProcessorProps(pcfg, actors.CDCSource{Session: session.Session, Reader: rc, Progress: progress})
		default:
			src := cfg.Polling
			src.Store = storage.NewPollingStore(session, cfg.Keyspace)
			src.Progress = progress
			src.Name = cfg.Name
			return actors.NewPollingProcessorProps(pcfg, src)
		}
	}
	// Built once, so that a setting the processor refuses fails the start
	// instead of every election.
	if _, err := processor(0); err != nil {
		return nil, err
	}
	elector, err := messaging.NewElector(kafka, cfg.Election, cfg.Logger)
	if err != nil {
		return nil, err
	}
	lprops, err := actors.NewRelayLeaderProps(actors.LeaderConfig{
		Relay: cfg.Name, Member: elector.Member(), Elector: elector, Epochs: relays,
		Processor: processor, Kind: cfg.Processor + "-processor",
		// A relay fenced while the group still names it waits out a
		// session before taking the relay back: a paused relay has
		// learned by then that it lost the group.
		Leadership: leader.Config{FencedDelay: electionSession(cfg.Election)},
		Metrics:    metricsPID, Logger: cfg.Logger, OnStopped: namingSettings(cfg.OnStopped),
	})
	if err != nil {
		return nil, err
	}
	if r.leader, err = sys.Spawn(lprops, "relay", actors.Drainable()); err != nil {
		return nil, err
	}
	return r, nil
}

// namingSettings makes the election's refusal of a setting (the brokers'
// session timeout range) an invalid-settings error naming the setting.
func namingSettings(onStopped func(error)) func(error) {
	if onStopped == nil {
		return nil
	}
	return func(err error) {
		var ce *messaging.ElectionConfigError
		if errors.As(err, &ce) {
			err = fmt.Errorf("%w: %s: %w", ErrInvalidSettings, electionKey(ce.Field), err)
		}
		onStopped(err)
	}
}

// electionSession is the group's session timeout.
func electionSession(c messaging.ElectionConfig) time.Duration {
	if c.SessionTimeout > 0 {
		return c.SessionTimeout
	}
	return messaging.DefaultSessionTimeout
}

// ErrUnsafeWindow is returned when the CDC confidence window or the polling
// safety window does not exceed the writers' timeout on a real cluster. The
// error wraps [ErrInvalidSettings] too: the setting must change.
var ErrUnsafeWindow = errors.New("window too small for late-visible writes")

// emulatorClusterName is the cluster_name scyllaemu reports.
const emulatorClusterName = "scyllaemu"

// checkVisibilityMargin refuses a window a late-visible write could fall
// behind. On a real cluster a write acknowledged just within its timeout
// becomes visible on the replicas read up to that long after its timestamp
// (plus clock skew), so a reader that moved on a smaller window past that
// timestamp skips it for good. scyllaemu stamps every write when it becomes
// visible, after every read already answered, so any window is safe there.
func checkVisibilityMargin(ctx context.Context, session gocqlx.Session, cfg RelayConfig) error {
	setting, window, ok := visibilityMargin(cfg)
	if ok {
		return nil
	}
	var cluster string
	if err := session.Query(`SELECT cluster_name FROM system.local WHERE key = 'local'`, nil).WithContext(ctx).Scan(&cluster); err != nil {
		return fmt.Errorf("relay: reading the cluster name: %w", err)
	}
	if cluster == emulatorClusterName {
		return nil
	}
	return fmt.Errorf("%w: %s: %w: %s does not exceed scylla.timeout %s; a write acknowledged just within its timeout can become visible that late and would be skipped for good. Use a window above the write timeout plus the clock skew between nodes (cdc.profile default: 30s); windows this small are safe only on the embedded emulator",
		ErrInvalidSettings, setting, ErrUnsafeWindow, window, cfg.WriteTimeout)
}

// visibilityMargin returns the processor's window setting and value, and
// whether it exceeds the write timeout.
func visibilityMargin(cfg RelayConfig) (setting string, window time.Duration, ok bool) {
	setting, window = "polling.safety_window", cfg.Polling.SafetyWindow
	if window == 0 {
		window = actors.DefaultSafetyWindow
	}
	if cfg.Processor == outbox.ProcessorCDC {
		setting, window = "cdc.confidence_window", cfg.CDC.Resolved().ConfidenceWindow
	}
	return setting, window, window > cfg.WriteTimeout
}

// classifyPublishError maps the publisher's error classification onto the
// pipeline's: what concerns the record is Permanent, what says the broker
// could not take it is Unavailable (never counted against the event), and
// any other broker refusal is Rejected.
func classifyPublishError(err error) relay.Class {
	switch {
	case messaging.Classify(err) == messaging.Permanent:
		return relay.Permanent
	case messaging.IsUnavailable(err):
		return relay.Unavailable
	}
	return relay.Rejected
}

// DLQSize is the number of dead-letter entries as the DlqActor keeps it
// (counted at start and on a slow refresh, plus its own writes), so that
// /status costs no scan of the queue; before the actor's first count it
// counts.
func (r *Relay) DLQSize(ctx context.Context) (int, error) {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	res, err := r.sys.Root().RequestFuture(r.dlq, &actors.GetDLQStatus{}, timeout).Result()
	if err != nil {
		return 0, fmt.Errorf("relay: DLQ status: %w", err)
	}
	if st, ok := res.(*actors.DLQStatus); ok && st.SizeKnown {
		return st.Size, nil
	}
	return r.DLQ.Count(ctx)
}

// Status asks the relay's role and, when it is the active relay, its
// processor's state.
func (r *Relay) Status(ctx context.Context) (*httpapi.RelayState, error) {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	res, err := r.sys.Root().RequestFuture(r.leader, &actors.GetLeaderStatus{}, timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("relay: status: %w", err)
	}
	ls, ok := res.(*actors.LeaderStatus)
	if !ok {
		return nil, fmt.Errorf("relay: status: unexpected reply %T", res)
	}
	st := &httpapi.RelayState{Processor: r.cfg.Processor, Leader: *ls}
	if ls.Processor != nil {
		// The processor may stop between the two questions (a failover):
		// then the relay simply reports no processing.
		if res, err := r.sys.Root().RequestFuture(ls.Processor, &actors.GetProcessorStatus{}, timeout).Result(); err == nil {
			st.Processing, _ = res.(*actors.ProcessorStatus)
		}
	}
	return st, nil
}
