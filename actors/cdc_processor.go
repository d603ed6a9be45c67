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
)

// CdcSource is where the CDC processor reads: a scylla-cdc-go reader over
// the outbox table's log.
type CdcSource struct {
	Session *gocql.Session
	Reader  cdc.ReaderConfig
	// RestartDelay spaces restarts of a reader that failed (the original
	// design's reader stopped for good on its first error). Default 1 s.
	RestartDelay time.Duration
}

// cdcState is the CDC processor's state that outlives actor restarts: the
// reader keeps running while the actor is restarted, and its deliveries
// are recovered from the ledger.
type cdcState struct {
	core    *processorCore
	src     CdcSource
	factory *cdc.ConsumerFactory

	flushing atomic.Bool

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	reading bool
	closing bool
}

// NewCdcProcessorProps returns the CdcProcessorActor. On start it runs a
// scylla-cdc-go reader whose consumers deliver each outbox insert through a
// bounded ledger (blocking when MaxInFlight records are unfinished) to the
// actor, which publishes them through the relay pipeline; per-stream
// progress advances only over finished records. A reader that fails is
// restarted after RestartDelay.
//
// Receives the messages listed in processor_messages.go.
func NewCdcProcessorProps(cfg ProcessorConfig, src CdcSource) (*actor.Props, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	if src.Session == nil {
		return nil, fmt.Errorf("actors: CDC processor needs a session")
	}
	if err := src.Reader.Validate(); err != nil {
		return nil, err
	}
	if src.RestartDelay <= 0 {
		src.RestartDelay = time.Second
	}
	st := &cdcState{core: newProcessorCore(ProcessorCDC, cfg), src: src}
	st.factory = cdc.NewConsumerFactory(sink{core: st.core}, func(err error) {
		cfg.Logger.Warn("saving CDC progress failed; the next save retries", zap.String("actor", ProcessorCDC), zap.Error(err))
	})
	st.core.saveProgress = st.flush
	return actor.PropsFromProducer(func() actor.Actor { return &cdcProcessor{st: st} }), nil
}

type cdcProcessor struct{ st *cdcState }

type readerStopped struct{ err error }

type startReader struct{}

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
		st.core.cfg.Logger.Error("CDC reader stopped; restarting it", zap.String("actor", ProcessorCDC),
			zap.Duration("delay", st.src.RestartDelay), zap.Error(m.err))
		st.core.sched.SendOnce(st.src.RestartDelay, ctx.Self(), &startReader{})
	case *Drain:
		// Stop intake first: no new record is admitted, so the in-flight
		// set can only shrink.
		st.mu.Lock()
		st.closing = true
		st.mu.Unlock()
		st.core.ledger.close()
		st.core.drain(ctx)
	case *drainTimeout:
		st.core.flushDrainers()
	case *GetProcessorStatus:
		status := st.core.status()
		st.mu.Lock()
		status.Reading = st.reading
		st.mu.Unlock()
		ctx.Respond(status)
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
		if err := st.factory.Flush(ctx); err != nil {
			st.core.cfg.Logger.Warn("saving CDC progress failed; the next save retries", zap.String("actor", ProcessorCDC), zap.Error(err))
		}
	})
}

// stop saves the progress of finished records, then cancels the reader and
// waits (bounded) for it: records still unfinished are not acknowledged and
// will be read again by the next relay.
func (st *cdcState) stop() {
	st.mu.Lock()
	st.closing = true
	cancel, done := st.cancel, st.done
	st.mu.Unlock()
	st.core.ledger.close()
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := st.factory.Flush(ctx); err != nil {
		st.core.cfg.Logger.Warn("saving CDC progress at shutdown failed", zap.String("actor", ProcessorCDC), zap.Error(err))
	}
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}
