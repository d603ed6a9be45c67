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
// then within one pause after an empty query (PostEmptyQueryDelay, or
// IdleQueryDelay when idle). The library's defaults (30 s window, 30 s
// pause) give 30–60 s; LowLatency gives 10–60 ms under traffic.
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
	// good. On a real cluster it must exceed the clock skew plus the write
	// timeout (the relay refuses less); only the embedded emulator, which
	// stamps a write after every read it has answered, makes a small one
	// safe (see LowLatency).
	ConfidenceWindow time.Duration
	// QueryWindow is the width of the time range one log query covers.
	QueryWindow time.Duration
	// PostNonEmptyQueryDelay is the least time between the starts of two
	// queries of a stream group when the first returned rows (scylla-cdc-go's
	// own delay): under load it sets how many changes a query brings.
	PostNonEmptyQueryDelay time.Duration
	// PostEmptyQueryDelay pauses a stream group after a query that returned
	// nothing. scylla-cdc-go would compute the next query's window first and
	// then sleep, so that a change committed during the sleep waited for the
	// query after next; this pause is taken before the window is computed
	// (in the consumers' Empty), so such a change is read by the next query.
	// Default DefaultPostEmptyQueryDelay.
	PostEmptyQueryDelay time.Duration
	// IdleQueryDelay, if longer than PostEmptyQueryDelay and IdleAfter is
	// set, replaces it while the reader is idle: no stream group has read a
	// change for IdleAfter.
	// The first change read moves every paused group back to
	// PostEmptyQueryDelay. It trades the latency of the first change after
	// a quiet spell for the cost of querying an idle log.
	IdleQueryDelay, IdleAfter time.Duration
	// AlignQueries ends the groups' post-empty pauses on a shared grid (the
	// multiples of the delay) instead of a delay after each pause starts:
	// the groups then query together, and their changes reach the relay in
	// one clump per delay instead of one per group. Meant for a single node
	// with few stream groups (the embedded stack); a real cluster's hundreds
	// of groups are better left spread out.
	AlignQueries bool
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

// DefaultPostEmptyQueryDelay is scylla-cdc-go's post-empty delay, used when
// ReaderConfig.PostEmptyQueryDelay is zero.
const DefaultPostEmptyQueryDelay = 30 * time.Second

// scylla-cdc-go's own defaults (v1.2.0, AdvancedReaderConfig.setDefaults)
// for the windows this package leaves to it; Resolved names them so that
// what the reader runs with can be shown before it starts.
const (
	libraryQueryWindow            = 30 * time.Second
	libraryPostNonEmptyQueryDelay = 10 * time.Second
	libraryPostFailedQueryDelay   = time.Second
	libraryChangeAgeLimit         = time.Minute
)

// Resolved is c with every zero window replaced by the value the reader
// runs with: this package's defaults for the confidence window and the
// post-empty delay, scylla-cdc-go's for the others. The idle delays stay
// as they are: zero turns them off.
func (c ReaderConfig) Resolved() ReaderConfig {
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{
		{&c.ConfidenceWindow, DefaultConfidenceWindow},
		{&c.QueryWindow, libraryQueryWindow},
		{&c.PostNonEmptyQueryDelay, libraryPostNonEmptyQueryDelay},
		{&c.PostEmptyQueryDelay, DefaultPostEmptyQueryDelay},
		{&c.PostFailedQueryDelay, libraryPostFailedQueryDelay},
		{&c.ChangeAgeLimit, libraryChangeAgeLimit},
	} {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	return c
}

// libraryEmptyDelay is the post-empty delay scylla-cdc-go is given: the
// consumers take the real pause (ReaderConfig.PostEmptyQueryDelay) before
// the library's delay starts counting, so this only has to be non-zero
// (zero would select the library's default).
const libraryEmptyDelay = time.Millisecond

// LowLatency returns windows for the embedded stack, where scyllaemu
// stamps every write when it becomes visible, after every read it has
// already answered (a server-side timestamp that never falls behind a read
// served: scyllaemu.Engine's writeTimestamp, tested by
// TestServerTimestampsNeverFallBehindReads). A query whose window ends at
// the reader's clock minus the confidence window is answered by the
// emulator at or after that instant on the same host's clock, so a write it
// did not see is stamped after the window's end and read by a later query:
// no window is too small there. The 10 ms kept covers small steps of the
// host's clock between the reader computing a window and the emulator
// answering. A real cluster gives no such order (a write acknowledged just
// within its timeout becomes visible that late); the relay refuses windows
// that do not exceed scylla.timeout anywhere but on the emulator.
//
// The stream groups query together every 50 ms while changes flow, every
// 200 ms once none was read for a second; after a query that returned
// changes a group queries again at once, to pick up what was committed
// while it read. A change is thus read 10–60 ms after its commit while
// changes flow, and up to 210 ms after it following a quiet spell.
func LowLatency(c ReaderConfig) ReaderConfig {
	c.ConfidenceWindow = 10 * time.Millisecond
	c.QueryWindow = 5 * time.Second
	c.PostNonEmptyQueryDelay = time.Millisecond
	c.PostEmptyQueryDelay = 50 * time.Millisecond
	c.IdleQueryDelay = 200 * time.Millisecond
	c.IdleAfter = time.Second
	c.AlignQueries = true
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
		{"idle query delay", c.IdleQueryDelay}, {"idle after", c.IdleAfter},
	} {
		if d.v < 0 {
			return fmt.Errorf("cdc: %s must not be negative, got %s", d.name, d.v)
		}
	}
	return nil
}

// Reader reads the outbox CDC log into a ConsumerFactory.
type Reader struct {
	r     *scyllacdc.Reader
	pacer *pacer
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
	cfg = cfg.Resolved()
	p := newPacer(cadence{Active: cfg.PostEmptyQueryDelay, Idle: cfg.IdleQueryDelay, IdleAfter: cfg.IdleAfter, Align: cfg.AlignQueries}, time.Now)
	r, err := scyllacdc.NewReader(ctx, &scyllacdc.ReaderConfig{
		Session:               session,
		TableNames:            []string{cfg.Keyspace + "." + cfg.Table},
		Consistency:           consistency,
		ChangeConsumerFactory: pacedFactory{f: factory, pacer: p},
		ProgressManager:       &progressManager{factory: factory},
		Logger:                cfg.Logger,
		Advanced: scyllacdc.AdvancedReaderConfig{
			ConfidenceWindowSize:   cfg.ConfidenceWindow,
			QueryTimeWindowSize:    cfg.QueryWindow,
			PostNonEmptyQueryDelay: cfg.PostNonEmptyQueryDelay,
			PostEmptyQueryDelay:    libraryEmptyDelay,
			PostFailedQueryDelay:   cfg.PostFailedQueryDelay,
			ChangeAgeLimit:         cfg.ChangeAgeLimit,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cdc: creating the reader: %w", err)
	}
	return &Reader{r: r, pacer: p}, nil
}

// Run reads until ctx is cancelled or Stop is called; it returns nil after
// a Stop and ctx's error after a cancel.
func (r *Reader) Run(ctx context.Context) error { return r.r.Run(ctx) }

// Stop makes Run return as soon as possible; changes read but not finished
// are read again by the next reader (the library's Stop does not drain).
func (r *Reader) Stop() {
	r.pacer.stop()
	r.r.Stop()
}

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
