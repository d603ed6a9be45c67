package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// failoverRelays is how many relays of the run's name the failover
// workload starts: one active, one standby.
const failoverRelays = 2

// failover runs the steady workload through two relays of one relay name
// and kills the active one (SIGKILL) halfway through the writes: the
// standby takes over once the election's session has expired. It measures
// the gap until the successor publishes and the latency of the whole run,
// and checks that every event arrived in per-aggregate order; duplicates
// (events the dead relay had published but not yet recorded as done) are
// counted.
func (b *bencher) failover(ctx context.Context, proc string) (FailoverResult, error) {
	o := b.o
	re, err := b.prepare(ctx, WorkloadFailover, proc)
	defer b.cleanup(re)
	if err != nil {
		return FailoverResult{}, err
	}
	tr := newTracker()
	cctx, stopConsume := context.WithCancel(ctx)
	defer stopConsume()
	consumeErr := consume(cctx, b.brokers, re.topic, tr)

	// No CPU profile: the killed relay would leave an empty one.
	rs := b.relaySettings(proc, re, time.Now().Add(-time.Second))
	b.logf("failover %s: starting %d relays of the name %s", proc, failoverRelays, rs.Name)
	notify := make(chan struct{}, 1)
	var relays []*relayProc
	var killed *relayProc
	// stopRelays stops every relay still running, gracefully.
	stopRelays := func() error {
		var errs []error
		for _, p := range relays {
			if p != killed {
				errs = append(errs, p.stop(30*time.Second))
			}
		}
		return errors.Join(errs...)
	}
	var eff RelaySettings
	for range failoverRelays {
		p, err := startRelay(ctx, &o, rs, notify)
		if err != nil {
			return FailoverResult{}, errors.Join(err, stopRelays())
		}
		relays = append(relays, p)
	}
	for _, p := range relays {
		if eff, _, err = p.waitReady(ctx, time.Minute); err != nil {
			return FailoverResult{}, errors.Join(err, stopRelays())
		}
	}
	active, _, err := awaitRole(ctx, notify, leader.Active.String(), time.Minute, relays...)
	if err != nil {
		return FailoverResult{}, errors.Join(err, stopRelays())
	}
	var standby *relayProc
	for _, p := range relays {
		if p != active {
			standby = p
		}
	}
	// The standby must be in the group before the kill, or the gap would
	// include its joining.
	if _, _, err := awaitRole(ctx, notify, leader.Standby.String(), time.Minute, standby); err != nil {
		return FailoverResult{}, errors.Join(err, stopRelays())
	}
	time.Sleep(settle)

	killAfter := o.Duration / 2
	b.logf("failover %s: writing %d events/s for %s; SIGKILL of the active relay (pid %s) after %s",
		proc, o.Rate, o.Duration, active.pid, killAfter)
	w := &writer{store: storage.NewOrderStore(b.session, storage.OrderStoreOptions{Keyspace: re.keyspace}), tr: tr,
		gen: domain.NewUUIDv7Generator(), perOrder: o.EventsPerOrder}
	type written struct {
		ws  writeStats
		err error
	}
	writes := make(chan written, 1)
	writeStart := time.Now()
	go func() {
		ws, err := w.steady(ctx, o.Rate, o.Duration, o.SteadyWriters)
		writes <- written{ws, err}
	}()
	var killErr, takeErr error
	var killedAt, takeover time.Time
	kill := time.NewTimer(killAfter)
	select {
	case <-kill.C:
		killedAt = time.Now()
		killErr = active.kill()
		killed = active
		// Whatever the dead relay had sent was timestamped before it was
		// reaped: a record published later is its successor's.
		tr.watchAfter(time.Now())
		_, takeover, takeErr = awaitRole(ctx, notify, leader.Active.String(), time.Minute, standby)
	case <-ctx.Done():
		kill.Stop()
	}
	wr := <-writes
	_, missing, waitErr := tr.waitAll(ctx, wr.ws.events, 30*time.Second+o.Duration)
	stopErr := stopRelays()
	stopConsume()
	consumeErr2 := <-consumeErr

	st := tr.stats()
	sum := summarize(st.lat)
	r := FailoverResult{
		Processor: proc, Rate: o.Rate, Relays: failoverRelays, Events: wr.ws.events, Received: st.unique, Missing: missing,
		Duplicates: st.dupes, OutOfOrder: st.outOfOrder,
		Min: Duration(sum.min), P50: Duration(sum.p50), P95: Duration(sum.p95), P99: Duration(sum.p99),
		Max: Duration(sum.max), Mean: Duration(sum.mean),
		TimelineStep: Duration(timelineStep), Timeline: tr.timeline(writeStart, timelineStep),
		Relay: eff,
	}
	if wr.ws.elapsed > 0 {
		r.AchievedRate = float64(wr.ws.events) / wr.ws.elapsed.Seconds()
	}
	if !killedAt.IsZero() {
		r.KillAfterSeconds = killedAt.Sub(writeStart).Seconds()
		if !takeover.IsZero() {
			r.TakeoverSeconds = takeover.Sub(killedAt).Seconds()
		}
		if published, received := tr.firstAfter(); !published.IsZero() {
			r.GapSeconds = published.Sub(killedAt).Seconds()
			r.ReceivedGapSeconds = received.Sub(killedAt).Seconds()
		} else if killErr == nil {
			killErr = errors.New("bench: no record was published after the SIGKILL")
		}
	}
	b.logf("failover %s: %d events; the successor active %.2fs and publishing %.2fs after the SIGKILL; p99 %s, %d duplicates",
		proc, r.Events, r.TakeoverSeconds, r.GapSeconds, r.P99, r.Duplicates)
	if consumeErr2 != nil {
		consumeErr2 = fmt.Errorf("consumer: %w", consumeErr2)
	}
	if killedAt.IsZero() {
		killErr = ctx.Err()
	}
	return r, errors.Join(wr.err, killErr, takeErr, waitErr, stopErr, consumeErr2)
}
