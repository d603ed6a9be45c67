package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
)

// repeat sends msg to pid every interval (the first after one interval)
// until the returned cancel is called. protoactor's SendRepeatedly is not
// used: its cancel races with its own timer goroutine (an unsynchronised
// read of the timer's state), which the race detector reports.
func repeat(sender actor.SenderContext, interval time.Duration, pid *actor.PID, msg any) scheduler.CancelFunc {
	t := time.NewTicker(interval)
	done := make(chan struct{})
	go func() {
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sender.Send(pid, msg)
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
