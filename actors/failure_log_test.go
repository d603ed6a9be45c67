package actors

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A failure recurring on every tick is logged once, then once per
// failureLogEvery, and its end once; a new outage starts over.
func TestFailureLogDoesNotFlood(t *testing.T) {
	tests := []struct {
		name      string
		ticks     int           // failures, one per tick
		tick      time.Duration // between failures
		wantWarns int
	}{
		{"one failure", 1, 100 * time.Millisecond, 1},
		{"a second of failures", 10, 100 * time.Millisecond, 1},
		{"an outage of 25 s at 100 ms", 250, 100 * time.Millisecond, 3}, // at 0, 10 and 20 s
		{"an outage of 25 s at 50 ms", 500, 50 * time.Millisecond, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			f := newFailureLog(zap.New(core), "saving failed", "saving works again")
			at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
			for range 2 { // two outages, each logged afresh
				for i := 0; i < tc.ticks; i++ {
					f.failure(at, errors.New("no host"))
					at = at.Add(tc.tick)
				}
				f.success(at)
				f.success(at.Add(tc.tick)) // a success without failures logs nothing
				at = at.Add(time.Minute)
			}
			warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
			infos := logs.FilterLevelExact(zapcore.InfoLevel).All()
			if len(warns) != 2*tc.wantWarns || len(infos) != 2 {
				t.Fatalf("%d Warn and %d Info lines, want %d and 2", len(warns), len(infos), 2*tc.wantWarns)
			}
			if got := infos[0].ContextMap()["failures"]; got != int64(tc.ticks) {
				t.Errorf("recovery line counts %v failures, want %d", got, tc.ticks)
			}
			if got := warns[0].ContextMap()["failures"]; got != int64(1) {
				t.Errorf("first Warn counts %v failures, want 1", got)
			}
		})
	}
}
