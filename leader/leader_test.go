package leader

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// recorder is the machine's owner in tests: it records every effect as a
// word, so a test reads as the conversation between the two.
type recorder struct{ log []string }

func (r *recorder) AcquireEpoch(t Term)             { r.add("acquire(%d)", t.Generation) }
func (r *recorder) StartProcessor(e Epoch)          { r.add("start(%d)", e) }
func (r *recorder) StopProcessor(mode StopMode)     { r.add("stop(%s)", mode) }
func (r *recorder) LeaveGroup()                     { r.add("leave") }
func (r *recorder) ScheduleRetry(d time.Duration)   { r.add("retry(%s)", d) }
func (r *recorder) RoleChanged(_, to Role, _ Epoch) { r.add("[%s]", to) }
func (r *recorder) Paused(late time.Duration)       { r.add("paused(%s)", late) }
func (r *recorder) add(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *recorder) take() string {
	s := strings.Join(r.log, " ")
	r.log = nil
	return s
}

// testConfig waits FencedDelay in two steps, 4 s and 2 s.
var testConfig = Config{
	Retry:          resilience.RetryPolicy{InitialBackoff: time.Second, MaxBackoff: 4 * time.Second, Multiplier: 2},
	FencedDelay:    6 * time.Second,
	PauseTolerance: 4 * time.Second,
}

func newMachine() (*Machine, *recorder) {
	r := &recorder{}
	return New(testConfig, r, r, rand.New(rand.NewPCG(1, 2))), r
}

var (
	t1 = Term{Generation: 1, Member: "a"}
	t2 = Term{Generation: 2, Member: "a"}
)

// Each script is a sequence of inputs, each followed by the effects and
// role changes it must cause (empty: none).
func TestMachine(t *testing.T) {
	type step struct {
		in   func(m *Machine)
		want string
	}
	elected := func(t Term) func(*Machine) { return func(m *Machine) { m.Elected(t, 0) } }
	// electedLate: the election was handled late by d, as after a pause.
	electedLate := func(t Term, d time.Duration) func(*Machine) { return func(m *Machine) { m.Elected(t, d) } }
	revoked := func(t Term) func(*Machine) { return func(m *Machine) { m.Revoked(t) } }
	acquired := func(t Term, e Epoch) func(*Machine) { return func(m *Machine) { m.EpochAcquired(t, e) } }
	failed := func(t Term) func(*Machine) { return func(m *Machine) { m.AcquireFailed(t, errors.New("timeout")) } }
	fenced := func(e Epoch) func(*Machine) { return func(m *Machine) { m.Fenced(e) } }
	stopped := func(m *Machine) { m.ProcessorStopped() }
	retryDue := func(m *Machine) { m.RetryDue(0) }
	// lateDue: the retry's timer was handled late by d, as after a pause.
	lateDue := func(d time.Duration) func(*Machine) { return func(m *Machine) { m.RetryDue(d) } }
	shutdown := func(m *Machine) { m.Shutdown() }

	tests := []struct {
		name  string
		steps []step
	}{
		{"elected, takes an epoch, starts", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 7), "[active] start(7)"},
		}},
		{"ScyllaDB fails the epoch: retries with backoff while elected", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{failed(t1), "retry(1s)"},
			{retryDue, "acquire(1)"},
			{failed(t1), "retry(2s)"},
			{retryDue, "acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
		}},
		{"revoked while taking the epoch: the epoch is never used", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{revoked(t1), "[standby]"},
			{acquired(t1, 3), ""},
			{retryDue, ""},
		}},
		{"a result for an older term is ignored", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{revoked(t1), "[standby]"},
			{elected(t2), "[acquiring] acquire(2)"},
			{acquired(t1, 3), ""},
			{acquired(t2, 4), "[active] start(4)"},
		}},
		{"revoked while active: abandons at once; a new term waits for the stop", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{revoked(t1), "[releasing] stop(abandon)"},
			{elected(t2), ""},
			{stopped, "[standby] [acquiring] acquire(2)"},
			{acquired(t2, 4), "[active] start(4)"},
		}},
		{"re-elected after the group was unreachable: keeps the processor and its epoch", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{elected(t2), ""},
			{revoked(t1), ""},
			{revoked(t2), "[releasing] stop(abandon)"},
		}},
		{"re-elected while taking an epoch: takes one for the new term", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{elected(t2), "acquire(2)"},
			{acquired(t1, 3), ""},
			{acquired(t2, 4), "[active] start(4)"},
		}},
		{"a revoke of an older term is ignored", []step{
			{elected(t2), "[acquiring] acquire(2)"},
			{acquired(t2, 4), "[active] start(4)"},
			{revoked(t1), ""},
		}},
		{"fenced while still elected: stops, waits FencedDelay, takes a new epoch", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{fenced(3), "[fenced] stop(abandon)"},
			{stopped, "retry(4s)"},
			{retryDue, "retry(2s)"},
			{retryDue, "[acquiring] acquire(1)"},
			{acquired(t1, 5), "[active] start(5)"},
		}},
		{"a zombie: fenced, then its session ends before the delay", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{fenced(3), "[fenced] stop(abandon)"},
			{stopped, "retry(4s)"},
			{revoked(t1), "[standby]"},
			{retryDue, ""},
			{retryDue, ""},
		}},
		{"a retry handled late (a pause) waits FencedDelay for the group", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{failed(t1), "retry(1s)"},
			{lateDue(5 * time.Second), "paused(5s) retry(4s)"},
			{retryDue, "retry(2s)"},
			{retryDue, "acquire(1)"},
		}},
		{"a retry late within the tolerance is on time", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{failed(t1), "retry(1s)"},
			{lateDue(4 * time.Second), "acquire(1)"},
		}},
		{"the late time counts towards the wait", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{fenced(3), "[fenced] stop(abandon)"},
			{stopped, "retry(4s)"},
			{lateDue(time.Second), "retry(1s)"},
			{retryDue, "[acquiring] acquire(1)"},
		}},
		{"a pause ending just before the fenced delay is due is noticed", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{fenced(3), "[fenced] stop(abandon)"},
			{stopped, "retry(4s)"},
			{lateDue(7 * time.Second), "paused(7s) retry(4s)"},
			{retryDue, "retry(2s)"},
			{retryDue, "[acquiring] acquire(1)"},
		}},
		{"a zombie paused while fenced: its heartbeat revokes it during the wait", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{fenced(3), "[fenced] stop(abandon)"},
			{stopped, "retry(4s)"},
			{lateDue(20 * time.Second), "paused(20s) retry(4s)"},
			{revoked(t1), "[standby]"},
			{retryDue, ""},
		}},
		{"an election handled after a pause waits for the group before taking an epoch", []step{
			{electedLate(t1, 9*time.Second), "paused(9s) [acquiring] retry(4s)"},
			{retryDue, "retry(2s)"},
			{retryDue, "acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
		}},
		{"an election handled after a pause, revoked by the next heartbeat", []step{
			{electedLate(t1, 9*time.Second), "paused(9s) [acquiring] retry(4s)"},
			{revoked(t1), "[standby]"},
			{retryDue, ""},
		}},
		{"an election late within the tolerance is on time", []step{
			{electedLate(t1, 4*time.Second), "[acquiring] acquire(1)"},
		}},
		{"a retry pending from an earlier term is moot", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{failed(t1), "retry(1s)"},
			{revoked(t1), "[standby]"},
			{elected(t2), "[acquiring] acquire(2)"},
			{retryDue, ""},
		}},
		{"fenced and revoked before the processor stopped", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{fenced(3), "[fenced] stop(abandon)"},
			{revoked(t1), ""},
			{stopped, "[standby]"},
		}},
		{"a rejection under an older epoch is ignored", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{fenced(2), ""},
		}},
		{"shutdown while active: drains, then leaves", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{shutdown, "[releasing] stop(drain)"},
			{revoked(t1), ""},
			{stopped, "[stopped] leave"},
			{elected(t2), ""},
		}},
		{"shutdown as a standby leaves at once", []step{
			{shutdown, "[stopped] leave"},
			{elected(t1), ""},
			{shutdown, ""},
		}},
		{"shutdown while taking the epoch leaves; the late epoch is unused", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{shutdown, "[stopped] leave"},
			{acquired(t1, 3), ""},
		}},
		{"shutdown while an abandon is under way leaves once it stopped", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{revoked(t1), "[releasing] stop(abandon)"},
			{shutdown, ""},
			{stopped, "[stopped] leave"},
		}},
		{"shutdown while fenced and waiting: leaves, never retries", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{fenced(3), "[fenced] stop(abandon)"},
			{stopped, "retry(4s)"},
			{shutdown, "[stopped] leave"},
			{retryDue, ""},
		}},
		{"the processor dies on its own: the relay makes way", []step{
			{elected(t1), "[acquiring] acquire(1)"},
			{acquired(t1, 3), "[active] start(3)"},
			{stopped, "[stopped] leave"},
			{elected(t2), ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, r := newMachine()
			for i, s := range tt.steps {
				s.in(m)
				if got := r.take(); got != s.want {
					t.Fatalf("step %d: effects %q, want %q", i, got, s.want)
				}
			}
		})
	}
}

// owner is a model of the machine's owner that keeps every effect pending
// until the test delivers its outcome, in any order.
type owner struct {
	m        *Machine
	acquires []Term
	retrying bool // a timer is armed: each replaces the last
	stopping bool
	running  int // processors started and not yet stopped
	starts   []Epoch
	left     int
	next     Epoch
	err      error
}

func (o *owner) AcquireEpoch(t Term) { o.acquires = append(o.acquires, t) }
func (o *owner) StartProcessor(e Epoch) {
	o.running++
	o.starts = append(o.starts, e)
	if o.running > 1 {
		o.err = fmt.Errorf("a second processor started (epoch %d) before the first stopped", e)
	}
}
func (o *owner) StopProcessor(StopMode) {
	if o.running == 0 {
		o.err = errors.New("stop asked with no processor running")
	}
	o.stopping = true
}
func (o *owner) LeaveGroup()                 { o.left++ }
func (o *owner) ScheduleRetry(time.Duration) { o.retrying = true }

// Under any order of group decisions, epoch outcomes, rejections, stops and
// retries, at most one processor runs, a processor starts only while its
// term is current, and a shutdown ends with the group left exactly once and
// no processor running.
func TestMachineInvariantsUnderRandomInputs(t *testing.T) {
	for seed := uint64(1); seed <= 2000; seed++ {
		rnd := rand.New(rand.NewPCG(seed, 7))
		o := &owner{}
		o.m = New(testConfig, o, nil, rand.New(rand.NewPCG(seed, 8)))
		var term Term
		elected := false
		gen := int32(0)
		for step := 0; step < 60 && o.err == nil; step++ {
			switch rnd.IntN(8) {
			case 0:
				// Elected, or re-elected after the group was unreachable.
				if !elected || rnd.IntN(3) == 0 {
					gen++
					term, elected = Term{Generation: gen}, true
					o.m.Elected(term, time.Duration(rnd.IntN(3))*testConfig.PauseTolerance)
				}
			case 1:
				if elected {
					elected = false
					o.m.Revoked(term)
				}
			case 2:
				if len(o.acquires) > 0 {
					a := o.acquires[0]
					o.acquires = o.acquires[1:]
					if rnd.IntN(3) == 0 {
						o.m.AcquireFailed(a, errors.New("timeout"))
					} else {
						o.next++
						wasRunning := o.running
						o.m.EpochAcquired(a, o.next)
						if o.running > wasRunning && (!elected || a != term) {
							o.err = fmt.Errorf("started under term %d while the group's term is %d (elected %v)", a.Generation, term.Generation, elected)
						}
					}
				}
			case 3:
				o.m.Fenced(o.m.Epoch())
			case 4:
				if o.stopping || (o.running > 0 && rnd.IntN(4) == 0) {
					o.stopping = false
					o.running = 0
					o.m.ProcessorStopped()
				}
			case 5:
				if o.retrying {
					// On time, or late after a pause.
					o.retrying = false
					o.m.RetryDue(time.Duration(rnd.IntN(2)) * 10 * time.Second)
				}
			case 6, 7:
				// Time passes.
			}
		}
		o.m.Shutdown()
		for i := 0; i < 10 && o.err == nil && o.m.Role() != Stopped; i++ {
			if o.stopping || o.running > 0 {
				o.stopping, o.running = false, 0
				o.m.ProcessorStopped()
			}
		}
		switch {
		case o.err != nil:
			t.Fatalf("seed %d: %v", seed, o.err)
		case o.m.Role() != Stopped || o.left != 1 || o.running != 0:
			t.Fatalf("seed %d: after shutdown role %s, left the group %d times, %d processors running", seed, o.m.Role(), o.left, o.running)
		}
	}
}
