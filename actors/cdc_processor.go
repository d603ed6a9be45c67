package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gocql/gocql"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// CDCSource is where the CDC processor reads: a scylla-cdc-go reader over
// the outbox table's log, whose progress is kept in Progress.
type CDCSource struct {
	Session  *gocql.Session
	Reader   cdc.ReaderConfig
	Progress cdc.ProgressStore
	// RestartDelay spaces restarts of a reader that failed (the original
	// design's reader stopped for good on its first error). Default
	// DefaultRestartDelay.
	RestartDelay time.Duration
}

// DefaultRestartDelay is CDCSource.RestartDelay's default.
const DefaultRestartDelay = time.Second

func (src *CDCSource) setDefaults() {
	if src.RestartDelay == 0 {
		src.RestartDelay = DefaultRestartDelay
	}
}

// Validate reports a source the CDC processor cannot read.
func (src CDCSource) Validate() error {
	if src.Session == nil || src.Progress == nil {
		return errors.New("actors: CDC processor needs a session and a progress store")
	}
	if src.RestartDelay < 0 {
		return fmt.Errorf("actors: CDC RestartDelay must not be negative, got %s", src.RestartDelay)
	}
	return src.Reader.Validate()
}

// cdcState is the CDC processor's state that outlives actor restarts: the
// reader keeps running while the actor is restarted, and its deliveries
// are recovered from the ledger.
type cdcState struct {
	core    *processorCore
	src     CDCSource
	factory *cdc.ConsumerFactory

	flushing     atomic.Bool
	saveFailures *failureLog // used by one flush at a time

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	reading bool
	closing bool
}

// NewCDCProcessorProps returns the CdcProcessorActor. On start it runs a
// scylla-cdc-go reader whose consumers deliver each outbox insert through a
// bounded ledger (blocking when MaxInFlight records are unfinished) to the
// actor, which publishes them through the relay pipeline; per-stream
// progress advances only over finished records. A reader that fails is
// restarted after RestartDelay.
//
// Receives the messages listed in processor_messages.go.
func NewCDCProcessorProps(cfg ProcessorConfig, src CDCSource) (*actor.Props, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src.setDefaults()
	if err := src.Validate(); err != nil {
		return nil, err
	}
	st := &cdcState{core: newProcessorCore(outbox.ProcessorCDC, cfg), src: src}
	st.saveFailures = newFailureLog(st.core.cfg.Logger.With(zap.String("actor", outbox.ProcessorCDC)),
		"saving CDC progress failed; the next save retries", "saving CDC progress works again")
	st.factory = cdc.NewConsumerFactory(sink{core: st.core}, src.Progress)
	st.core.saveProgress = st.flush
	st.core.finalSave = st.saveNow
	st.core.stopIntake = st.stopIntake
	st.core.reading = st.isReading
	return actor.PropsFromProducer(func() actor.Actor { return &cdcProcessor{st: st} }), nil
}

type cdcProcessor struct{ st *cdcState }

func (a *cdcProcessor) Receive(ctx actor.Context) {
	st := a.st
	switch m := ctx.Message().(type) {
	case *actor.Started:
		st.core.start(ctx)
		// Also after a restart: a readerStopped or startReader message may
		// have died with the old instance. run is a no-op while reading.
		st.run()
	case *startReader:
		st.run()
	case *readerStopped:
		st.mu.Lock()
		closing := st.closing
		st.mu.Unlock()
		if closing {
			return
		}
		if errors.Is(m.err, leader.ErrFenced) {
			st.core.fenced(m.err)
			return
		}
		st.core.cfg.Logger.Error("CDC reader stopped; restarting it", zap.String("actor", outbox.ProcessorCDC),
			zap.Duration("delay", st.src.RestartDelay), zap.Error(m.err))
		st.core.sched.SendOnce(st.src.RestartDelay, ctx.Self(), &startReader{})
	case *actor.Stopping:
		st.stop()
		st.core.waitBackground(5 * time.Second)
	default:
		st.core.receive(ctx)
	}
}

// run starts the reader goroutine unless one is running.
func (st *cdcState) run() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.reading || st.closing {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := cdc.NewReader(ctx, st.src.Session, st.src.Reader, st.factory)
	if err != nil {
		cancel()
		st.core.root.Send(st.core.self, &readerStopped{err: err})
		return
	}
	st.cancel, st.done, st.reading = cancel, make(chan struct{}), true
	done := st.done
	go func() {
		defer close(done)
		err := r.Run(ctx)
		st.mu.Lock()
		st.reading = false
		st.mu.Unlock()
		if ctx.Err() == nil {
			if err == nil {
				err = errors.New("reader returned")
			}
			st.core.root.Send(st.core.self, &readerStopped{err: err})
		}
	}()
}

// stopIntake admits no new record: the reader blocks on the closed ledger
// (it is not stopped, so that consumers can still save the progress of
// records finishing during the drain).
func (st *cdcState) stopIntake() {
	st.mu.Lock()
	st.closing = true
	st.mu.Unlock()
	st.core.ledger.close()
}

func (st *cdcState) isReading() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.reading
}

// flush saves the progress of finished records off the actor's goroutine,
// one flush at a time: the periodic save that bounds what a crash
// re-publishes.
func (st *cdcState) flush() {
	if !st.flushing.CompareAndSwap(false, true) {
		return
	}
	st.core.background(func() {
		defer st.flushing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), st.core.cfg.ProgressInterval*10+time.Second)
		defer cancel()
		err := st.factory.Flush(ctx)
		switch {
		case errors.Is(err, leader.ErrFenced):
			st.core.logRejected(err)
			st.core.root.Send(st.core.self, &progressFenced{err: err})
		case err != nil:
			st.saveFailures.failure(st.core.cfg.Clock(), err)
		default:
			st.saveFailures.success(st.core.cfg.Clock())
		}
	})
}

// saveNow saves the progress of finished records before returning: the end
// of a drain. Saves of one stream are serialised, so a periodic save still
// running cannot overtake it with an older position.
func (st *cdcState) saveNow() error {
	ctx, cancel := context.WithTimeout(context.Background(), finalSaveTimeout)
	defer cancel()
	return st.factory.Flush(ctx)
}

// finalSaveTimeout bounds the CDC processor's save at the end of a drain or
// at stop.
const finalSaveTimeout = 5 * time.Second

// stop saves the progress of finished records, then cancels the reader and
// waits (bounded) for it: records still unfinished are not acknowledged and
// will be read again by the next relay.
func (st *cdcState) stop() {
	st.mu.Lock()
	st.closing = true
	cancel, done := st.cancel, st.done
	st.mu.Unlock()
	st.core.ledger.close()
	ctx, stop := context.WithTimeout(context.Background(), finalSaveTimeout)
	defer stop()
	switch err := st.factory.Flush(ctx); {
	case errors.Is(err, leader.ErrFenced):
		st.core.logRejected(err)
	case err != nil:
		st.core.cfg.Logger.Warn("saving CDC progress at shutdown failed", zap.String("actor", outbox.ProcessorCDC), zap.Error(err))
	}
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}
