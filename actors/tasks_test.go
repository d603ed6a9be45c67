package actors

import "testing"

// tasks may be waited for, time out, and be started again — what a
// sync.WaitGroup forbids while a Wait is pending.
func TestTasksIdle(t *testing.T) {
	isIdle := func(ts *tasks) bool {
		select {
		case <-ts.idle():
			return true
		default:
			return false
		}
	}
	var ts tasks
	steps := []struct {
		name string
		do   func()
		idle bool
	}{
		{"nothing started", func() {}, true},
		{"one running", ts.start, false},
		{"two running", ts.start, false},
		{"one done", ts.done, false},
		{"both done", ts.done, true},
		{"started again", ts.start, false},
		{"done again", ts.done, true},
	}
	for _, s := range steps {
		waiting := ts.idle()
		s.do()
		if got := isIdle(&ts); got != s.idle {
			t.Fatalf("%s: idle %v, want %v", s.name, got, s.idle)
		}
		if s.idle {
			select {
			case <-waiting:
			default:
				t.Fatalf("%s: a wait begun before is still blocked", s.name)
			}
		}
	}
}
