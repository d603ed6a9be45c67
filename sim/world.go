package sim

import (
	"container/heap"
	"math/rand/v2"
	"time"
)

// world is the discrete-event core: a virtual clock and the actions
// scheduled on it. Actions run one at a time, in time order and, at equal
// times, in scheduling order, so a run is a pure function of its seed.
type world struct {
	now time.Time
	rnd *rand.Rand
	q   actionQueue
	seq uint64
}

// simStart is the virtual time every run starts at.
var simStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newWorld(seed uint64) *world {
	return &world{now: simStart, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// action is a scheduled function.
type action struct {
	at  time.Time
	seq uint64
	fn  func()
}

// after schedules fn d from now (d < 0 counts as 0).
func (w *world) after(d time.Duration, fn func()) {
	if d < 0 {
		d = 0
	}
	w.seq++
	heap.Push(&w.q, &action{at: w.now.Add(d), seq: w.seq, fn: fn})
}

// step runs the next action; it reports false when none is left or the
// next is after deadline.
func (w *world) step(deadline time.Time) bool {
	if w.q.Len() == 0 || w.q[0].at.After(deadline) {
		return false
	}
	a := w.q[0]
	heap.Pop(&w.q)
	w.now = a.at
	a.fn()
	return true
}

// between draws a duration uniformly from [lo, hi].
func (w *world) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.rnd.Int64N(int64(hi-lo)+1))
}

// chance is true with probability p.
func (w *world) chance(p float64) bool { return w.rnd.Float64() < p }

type actionQueue []*action

func (q actionQueue) Len() int { return len(q) }
func (q actionQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q actionQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *actionQueue) Push(x any)   { *q = append(*q, x.(*action)) }
func (q *actionQueue) Pop() any {
	old := *q
	a := old[len(old)-1]
	*q = old[:len(old)-1]
	return a
}
