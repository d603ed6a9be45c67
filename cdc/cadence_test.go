package cdc

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

func TestCadenceNext(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) // on every grid below
	ms := time.Millisecond
	tests := []struct {
		name     string
		c        cadence
		now      time.Duration // after base
		lastRead time.Duration // after base; negative: before it
		want     time.Duration // after base
	}{
		{"unaligned: one period after the pause starts", cadence{Active: 40 * ms}, 13 * ms, 0, 53 * ms},
		{"aligned: the next multiple of the period", cadence{Active: 40 * ms, Align: true}, 13 * ms, 0, 40 * ms},
		{"aligned, on a grid point: the next one", cadence{Active: 40 * ms, Align: true}, 40 * ms, 0, 80 * ms},
		{"idle period once nothing was read for IdleAfter", cadence{Active: 40 * ms, Idle: 200 * ms, IdleAfter: time.Second, Align: true},
			1013 * ms, 0, 1200 * ms},
		{"active period while a change was read within IdleAfter", cadence{Active: 40 * ms, Idle: 200 * ms, IdleAfter: time.Second, Align: true},
			1013 * ms, 100 * ms, 1040 * ms},
		{"unaligned idle period", cadence{Active: 40 * ms, Idle: 200 * ms, IdleAfter: time.Second},
			1013 * ms, 0, 1213 * ms},
		{"an idle delay not above the active one is ignored", cadence{Active: 40 * ms, Idle: 30 * ms, IdleAfter: time.Second},
			5 * time.Second, 0, 5*time.Second + 40*ms},
		{"no IdleAfter: never idle", cadence{Active: 40 * ms, Idle: 200 * ms}, 5 * time.Second, 0, 5*time.Second + 40*ms},
		{"no period: no pause", cadence{}, 13 * ms, 0, 13 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.c.next(base.Add(tt.now), base.Add(tt.lastRead))
			if want := base.Add(tt.want); !got.Equal(want) {
				t.Fatalf("next = base+%s, want base+%s", got.Sub(base), tt.want)
			}
		})
	}
}

// fakeTime is a manual clock whose timers fire only when told to, so the
// pacer's pauses can be driven step by step.
type fakeTime struct {
	now    time.Time
	timers chan fakeTimer
}

type fakeTimer struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeTime() *fakeTime {
	return &fakeTime{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), timers: make(chan fakeTimer, 16)}
}

func (f *fakeTime) after(d time.Duration) <-chan time.Time {
	t := fakeTimer{d: d, fire: make(chan time.Time, 1)}
	f.timers <- t
	return t.fire
}

func testPacer(c cadence) (*pacer, *fakeTime) {
	ft := newFakeTime()
	p := newPacer(c, func() time.Time { return ft.now })
	p.after = ft.after
	return p, ft
}

func pauseAsync(p *pacer, ctx context.Context, at gocql.UUID) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		p.pause(ctx, at)
		close(done)
	}()
	return done
}

func TestPacerPauses(t *testing.T) {
	ms := time.Millisecond
	at := gocql.MinTimeUUID(time.Unix(100, 0))
	tests := []struct {
		name string
		run  func(t *testing.T, p *pacer, ft *fakeTime)
	}{
		{"the first Empty of a window pauses until its timer, later ones not at all", func(t *testing.T, p *pacer, ft *fakeTime) {
			ft.now = ft.now.Add(5 * ms)
			done := pauseAsync(p, context.Background(), at)
			timer := <-ft.timers
			if timer.d != 35*ms { // 5 ms into the 40 ms grid
				t.Fatalf("paused for %s, want 35ms", timer.d)
			}
			p.pause(context.Background(), at) // same window end: the group's next consumer
			select {
			case <-done:
				t.Fatal("the pause ended before its timer fired")
			default:
			}
			timer.fire <- ft.now
			<-done
		}},
		{"a change read moves an idle pause to the active grid", func(t *testing.T, p *pacer, ft *fakeTime) {
			ft.now = ft.now.Add(2*time.Second + 5*ms) // nothing read since the pacer started: idle
			done := pauseAsync(p, context.Background(), at)
			if timer := <-ft.timers; timer.d != 195*ms {
				t.Fatalf("idle pause of %s, want 195ms", timer.d)
			}
			ft.now = ft.now.Add(10 * ms)
			p.read()
			timer := <-ft.timers
			if timer.d != 25*ms {
				t.Fatalf("after a read the pause runs %s more, want 25ms", timer.d)
			}
			timer.fire <- ft.now
			<-done
		}},
		{"stop ends a pause, and later pauses return at once", func(t *testing.T, p *pacer, ft *fakeTime) {
			done := pauseAsync(p, context.Background(), at)
			<-ft.timers
			p.stop()
			<-done
			p.pause(context.Background(), gocql.MinTimeUUID(time.Unix(200, 0)))
		}},
		{"a cancelled context ends a pause", func(t *testing.T, p *pacer, ft *fakeTime) {
			ctx, cancel := context.WithCancel(context.Background())
			done := pauseAsync(p, ctx, at)
			<-ft.timers
			cancel()
			<-done
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ft := testPacer(cadence{Active: 40 * ms, Idle: 200 * ms, IdleAfter: time.Second, Align: true})
			tt.run(t, p, ft)
		})
	}
}
