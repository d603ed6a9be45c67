package cdc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"
	scyllacdc "github.com/scylladb/scylla-cdc-go"
)

// ReaderConfig configures the outbox CDC reader. The windows bound latency:
// a change committed at T is read no earlier than T + ConfidenceWindow, and
// then within one poll delay (PostNonEmptyQueryDelay while there is traffic,
// PostEmptyQueryDelay when idle). The library's defaults (30 s window, 10 s
// / 30 s delays) give 30–60 s; LowLatency gives well under a second.
type ReaderConfig struct {
	// Keyspace and Table name the base table (outbox_messages), not its log.
	Keyspace, Table string
	// Consistency of log reads; default LOCAL_QUORUM, ONE on the emulator.
	Consistency gocql.Consistency
	// ConfidenceWindow is how old a change must be before it is read.
	// ScyllaDB may make a write visible in the log after a later one
	// (clock skew between coordinators, write timeouts and retries); a
	// change younger than the window may still be joined by an earlier
	// one, and reading past it risks skipping that earlier change for
	// good. Shrink it only where writes come from one coordinator with
	// synchronised clocks (the embedded stack), never below the clock skew
	// plus the write timeout of a real cluster.
	ConfidenceWindow time.Duration
	// QueryWindow is the width of the time range one log query covers.
	QueryWindow time.Duration
	// PostNonEmptyQueryDelay and PostEmptyQueryDelay pause a stream group
	// after a query that returned rows, or none.
	PostNonEmptyQueryDelay, PostEmptyQueryDelay time.Duration
	// PostFailedQueryDelay pauses after a failed log query.
	PostFailedQueryDelay time.Duration
	// ChangeAgeLimit is how far back a relay with no saved progress starts.
	ChangeAgeLimit time.Duration
	// StartFrom, if set, makes a relay with no saved progress for a stream
	// start at this time instead of now − ChangeAgeLimit. Saved per-stream
	// progress always wins, so a restart resumes where it stopped.
	StartFrom time.Time
	// Logger receives the library's debug output; nil discards it.
	Logger scyllacdc.Logger
}

// DefaultConfidenceWindow is scylla-cdc-go's confidence window, used when
// ReaderConfig.ConfidenceWindow is zero.
const DefaultConfidenceWindow = 30 * time.Second

// LowLatency returns windows suited to one coordinator with one clock (the
// embedded stack): read changes 100 ms after commit, poll every 50 ms.
func LowLatency(c ReaderConfig) ReaderConfig {
	c.ConfidenceWindow = 100 * time.Millisecond
	c.QueryWindow = 5 * time.Second
	c.PostNonEmptyQueryDelay = 20 * time.Millisecond
	c.PostEmptyQueryDelay = 50 * time.Millisecond
	c.PostFailedQueryDelay = 200 * time.Millisecond
	return c
}

// Validate rejects settings that cannot work, naming the setting.
func (c ReaderConfig) Validate() error {
	if c.Keyspace == "" || c.Table == "" {
		return errors.New("cdc: keyspace and table are required")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"confidence window", c.ConfidenceWindow}, {"query window", c.QueryWindow},
		{"post-non-empty query delay", c.PostNonEmptyQueryDelay}, {"post-empty query delay", c.PostEmptyQueryDelay},
		{"post-failed query delay", c.PostFailedQueryDelay}, {"change age limit", c.ChangeAgeLimit},
	} {
		if d.v < 0 {
			return fmt.Errorf("cdc: %s must not be negative, got %s", d.name, d.v)
		}
	}
	return nil
}

// Reader reads the outbox CDC log into a ConsumerFactory.
type Reader struct {
	r *scyllacdc.Reader
}

// NewReader prepares a reader that feeds factory and keeps its progress in
// the factory's store; it starts reading on Run. Any gocql session to the
// cluster will do.
func NewReader(ctx context.Context, session *gocql.Session, cfg ReaderConfig, factory *ConsumerFactory) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.StartFrom.IsZero() {
		start, err := factory.store.ReadStartTime(ctx)
		if err != nil {
			return nil, fmt.Errorf("cdc: reading the saved start time: %w", err)
		}
		if start.IsZero() {
			if err := factory.store.SaveReadStartTime(ctx, cfg.StartFrom); err != nil {
				return nil, fmt.Errorf("cdc: saving the start time: %w", err)
			}
		}
	}
	consistency := cfg.Consistency
	if consistency == 0 {
		consistency = gocql.LocalQuorum
	}
	r, err := scyllacdc.NewReader(ctx, &scyllacdc.ReaderConfig{
		Session:               session,
		TableNames:            []string{cfg.Keyspace + "." + cfg.Table},
		Consistency:           consistency,
		ChangeConsumerFactory: factory,
		ProgressManager:       &progressManager{factory: factory},
		Logger:                cfg.Logger,
		Advanced: scyllacdc.AdvancedReaderConfig{
			ConfidenceWindowSize:   cfg.ConfidenceWindow,
			QueryTimeWindowSize:    cfg.QueryWindow,
			PostNonEmptyQueryDelay: cfg.PostNonEmptyQueryDelay,
			PostEmptyQueryDelay:    cfg.PostEmptyQueryDelay,
			PostFailedQueryDelay:   cfg.PostFailedQueryDelay,
			ChangeAgeLimit:         cfg.ChangeAgeLimit,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cdc: creating the reader: %w", err)
	}
	return &Reader{r: r}, nil
}

// Run reads until ctx is cancelled or Stop is called; it returns nil after
// a Stop and ctx's error after a cancel.
func (r *Reader) Run(ctx context.Context) error { return r.r.Run(ctx) }

// Stop makes Run return as soon as possible; changes read but not finished
// are read again by the next reader (the library's Stop does not drain).
func (r *Reader) Stop() { r.r.Stop() }

// progressManager is scylla-cdc-go's view of the factory's progress store,
// with the generation switch made a barrier. The library calls
// StartGeneration when every stream reader of the old generation has ended
// — without waiting for the records it handed over to be published — and
// saves the new generation as the one to resume from. Saving it while old
// records are in flight would make a restart skip them for good, so
// StartGeneration first waits until every record of the older generations
// is finished (published or durably dead-lettered).
type progressManager struct{ factory *ConsumerFactory }

var _ scyllacdc.ProgressManagerWithStartTime = (*progressManager)(nil)

func (m *progressManager) StartGeneration(ctx context.Context, gen time.Time) error {
	if err := m.factory.awaitSwitch(ctx, gen); err != nil {
		return err
	}
	if err := m.factory.store.StartGeneration(ctx, gen); err != nil {
		return fmt.Errorf("cdc: saving generation %s as current: %w", gen.UTC().Format(time.RFC3339Nano), err)
	}
	m.factory.GenerationStarted(gen)
	return nil
}

func (m *progressManager) GetCurrentGeneration(ctx context.Context) (time.Time, error) {
	return m.factory.store.CurrentGeneration(ctx)
}

func (m *progressManager) GetProgress(ctx context.Context, gen time.Time, _ string, stream scyllacdc.StreamID) (scyllacdc.Progress, error) {
	at, err := m.factory.store.StreamProgress(ctx, gen, stream)
	return scyllacdc.Progress{LastProcessedRecordTime: at}, err
}

// SaveProgress is the library's per-stream save, reached only through a
// consumer's ProgressReporter, which this package's consumers do not use:
// the factory's Flush saves every stream at once.
func (m *progressManager) SaveProgress(ctx context.Context, gen time.Time, _ string, stream scyllacdc.StreamID, p scyllacdc.Progress) error {
	return m.factory.store.SaveStreams(ctx, []StreamPosition{{Generation: gen, Stream: stream, At: p.LastProcessedRecordTime}})
}

func (m *progressManager) GetApplicationReadStartTime(ctx context.Context) (time.Time, error) {
	return m.factory.store.ReadStartTime(ctx)
}

func (m *progressManager) SaveApplicationReadStartTime(ctx context.Context, start time.Time) error {
	return m.factory.store.SaveReadStartTime(ctx, start)
}
