package actors

import (
	"time"

	"go.uber.org/zap"
)

// failureLogEvery is how often a failure that recurs on every tick is
// logged again while it lasts.
const failureLogEvery = 10 * time.Second

// failureLog logs a failure that recurs on every tick of a retry loop (a
// poll every 50 ms, a progress save every 100 ms) without flooding the log
// during an outage: the first failure at Warn, then one Warn per
// failureLogEvery with the count so far, and the recovery at Info. Calls
// must not overlap.
type failureLog struct {
	log       *zap.Logger
	failed    string // the Warn message
	recovered string // the Info message
	failures  int    // since the last success
	since     time.Time
	lastWarn  time.Time
}

func newFailureLog(log *zap.Logger, failed, recovered string) *failureLog {
	return &failureLog{log: log, failed: failed, recovered: recovered}
}

// failure records one failure at now and logs it if it is the first or the
// last Warn is failureLogEvery old.
func (f *failureLog) failure(now time.Time, err error, fields ...zap.Field) {
	f.failures++
	if f.failures == 1 {
		f.since = now
	} else if now.Sub(f.lastWarn) < failureLogEvery {
		return
	}
	f.lastWarn = now
	f.log.Warn(f.failed, append(fields, zap.Error(err), zap.Int("failures", f.failures), zap.Duration("failing_for", now.Sub(f.since)))...)
}

// success ends a run of failures, logging how long it lasted.
func (f *failureLog) success(now time.Time, fields ...zap.Field) {
	if f.failures == 0 {
		return
	}
	f.log.Info(f.recovered, append(fields, zap.Int("failures", f.failures), zap.Duration("failed_for", now.Sub(f.since)))...)
	f.failures = 0
}
