package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/resilience"
)

// FaultKind names a fault the world can inject.
type FaultKind string

// The faults. Windowed ones last Dur from At; the others happen at At.
const (
	BrokerDown        FaultKind = "broker-down"         // every request fails as unavailable; acks in flight are lost
	AckLoss           FaultKind = "ack-loss"            // half the acks are lost after the broker appended (ambiguous)
	AckDelay          FaultKind = "ack-delay"           // acks take up to 5 s, so they return out of order
	DLQWriteFail      FaultKind = "dlq-write-fail"      // dead-letter writes fail
	ProgressWriteFail FaultKind = "progress-write-fail" // progress, cursor and finished-set writes fail
	ReadFail          FaultKind = "read-fail"           // source reads fail
	DLQLoadFail       FaultKind = "dlq-load-fail"       // loading the dead-letter index fails
	ReaderRestart     FaultKind = "reader-restart"      // the CDC reader stops and is restarted in the same process
	Panic             FaultKind = "panic"               // the processor actor panics and is restarted by its supervisor
	Crash             FaultKind = "crash"               // the relay process dies (SIGKILL) and restarts after Dur
	GenerationSwitch  FaultKind = "generation-switch"   // a new CDC generation with new streams starts a little later

	// Faults of runs with two relays (Relays == 2). Each strikes the
	// active relay, or another one if none is active.
	Pause      FaultKind = "pause"       // the relay is paused (GC, SIGSTOP) for Dur, which may outlast its session: a zombie
	KillActive FaultKind = "kill-active" // the relay dies (SIGKILL) and starts again as a standby after Dur
	Handover   FaultKind = "handover"    // the relay is told to stop (SIGTERM): it drains, leaves the group and starts again after Dur
	GroupDown  FaultKind = "group-down"  // no relay can reach the Kafka group for Dur
	GroupCut   FaultKind = "group-cut"   // the relay alone cannot reach the Kafka group for Dur (ScyllaDB and the topic still can)
)

// Fault is one scheduled fault.
type Fault struct {
	Kind FaultKind
	At   time.Duration // from the start of the run
	Dur  time.Duration
}

// Scenario is one run: the relay's settings, the workload and the faults,
// all drawn from Seed.
type Scenario struct {
	Seed      uint64
	Processor string // "cdc" or "polling"
	Policy    relay.Policy
	Retry     resilience.RetryPolicy
	Breaker   resilience.BreakerConfig
	// MaxInFlight is the processor's in-flight limit.
	MaxInFlight int
	// Aggregates write Events events in total, one or two per batch, over
	// WritePhase.
	Aggregates, Events int
	WritePhase         time.Duration
	// Poison events are rejected permanently, Flaky ones with a retriable
	// error while the broker acknowledges others, Malformed ones cannot be
	// decoded; each is a probability per event.
	Poison, Flaky, Malformed float64
	// Streams per CDC generation.
	Streams int
	// ConfidenceWindow (CDC) and SafetyWindow (polling) are the margins
	// for writes that become visible after their commit timestamp;
	// LateVisibleMax is the largest such delay the world produces (within
	// the margin, as the configuration promises).
	ConfidenceWindow, SafetyWindow, LateVisibleMax time.Duration
	PollInterval                                   time.Duration
	// GenerationFetch is how often scylla-cdc-go looks for a new
	// generation (15 s in the library; shorter here to reach switches).
	GenerationFetch time.Duration
	// DLQRefresh is how often the dead-letter index is loaded, and
	// DLQLoadMax the longest a load takes.
	DLQRefresh, DLQLoadMax time.Duration
	// Relays is how many relays share the relay name: 1, or 2 electing
	// the active one through a simulated Kafka group and fencing each
	// other through the epoch store.
	Relays int
	// SessionTimeout and Heartbeat are the group's: a relay that has not
	// heartbeaten for SessionTimeout is dropped and another elected.
	SessionTimeout, Heartbeat time.Duration
	Faults                    []Fault
}

// Draw returns the scenario of a seed.
func Draw(seed uint64) Scenario {
	w := newWorld(seed)
	s := Scenario{Seed: seed, Processor: "cdc"}
	if w.chance(0.5) {
		s.Processor = "polling"
	}
	if w.chance(0.4) {
		s.Policy = relay.Hold
	}
	presets := []func() resilience.RetryPolicy{resilience.DefaultRetry, resilience.AggressiveRetry, resilience.ConservativeRetry, nil}
	if p := presets[w.rnd.IntN(len(presets))]; p != nil {
		s.Retry = p()
	} else {
		s.Retry = resilience.RetryPolicy{MaxAttempts: 1 + w.rnd.IntN(4), InitialBackoff: w.between(10*time.Millisecond, 500*time.Millisecond),
			Multiplier: 1 + w.rnd.Float64()*2, Jitter: w.rnd.Float64() * 0.5}
		s.Retry.MaxBackoff = s.Retry.InitialBackoff * time.Duration(1+w.rnd.IntN(50))
	}
	s.Breaker = resilience.BreakerConfig{FailureThreshold: 1 + w.rnd.IntN(8), OpenTimeout: w.between(200*time.Millisecond, 30*time.Second), HalfOpenProbes: 1 + w.rnd.IntN(3)}
	s.MaxInFlight = []int{1, 2, 3, 5, 8, 50}[w.rnd.IntN(6)]
	s.Aggregates = 1 + w.rnd.IntN(6)
	s.Events = 1 + w.rnd.IntN(40)
	if w.chance(0.15) {
		s.Aggregates, s.Events = 1, 1 // one event alone
	}
	s.WritePhase = w.between(time.Second, 30*time.Second)
	if w.chance(0.3) {
		s.Poison = 0.1
	}
	if w.chance(0.3) {
		s.Flaky = 0.15
	}
	if w.chance(0.2) {
		s.Malformed = 0.1
	}
	s.Streams = 1 + w.rnd.IntN(4)
	s.ConfidenceWindow = w.between(50*time.Millisecond, 2*time.Second)
	s.SafetyWindow = w.between(50*time.Millisecond, 5*time.Second)
	s.PollInterval = w.between(20*time.Millisecond, time.Second)
	if w.chance(0.5) {
		margin := min(s.ConfidenceWindow, s.SafetyWindow)
		s.LateVisibleMax = margin * 9 / 10
	}
	s.GenerationFetch = w.between(time.Second, 15*time.Second)
	s.DLQRefresh = w.between(200*time.Millisecond, 10*time.Second)
	s.DLQLoadMax = []time.Duration{30 * time.Millisecond, time.Second}[w.rnd.IntN(2)]
	s.Relays = 1
	if w.chance(0.5) {
		s.Relays = 2
		s.SessionTimeout = []time.Duration{3 * time.Second, 6 * time.Second, 10 * time.Second}[w.rnd.IntN(3)]
		s.Heartbeat = []time.Duration{s.SessionTimeout / 3, time.Second}[w.rnd.IntN(2)]
	}
	kinds := []FaultKind{BrokerDown, BrokerDown, AckLoss, AckDelay, DLQWriteFail, ProgressWriteFail, ReadFail, Panic}
	if s.Relays == 1 {
		kinds = append(kinds, Crash, Crash)
	} else {
		kinds = append(kinds, Pause, Pause, Pause, KillActive, Handover, Handover, GroupDown, GroupCut)
	}
	if s.Processor == "cdc" {
		kinds = append(kinds, ReaderRestart, GenerationSwitch, GenerationSwitch)
	}
	kinds = append(kinds, DLQLoadFail)
	for n := w.rnd.IntN(6); n > 0; n-- {
		s.Faults = append(s.Faults, s.drawFault(w, kinds[w.rnd.IntN(len(kinds))], w.between(0, s.WritePhase+5*time.Second)))
	}
	if s.Relays == 2 && w.chance(0.4) {
		// A zombie for sure: the active relay paused past its session
		// while it has events in flight, so that it resumes with
		// publishes and progress writes to make under a stale epoch.
		at := w.between(0, s.WritePhase)
		s.Faults = append(s.Faults, Fault{Kind: Pause, At: at, Dur: s.SessionTimeout + w.between(s.Heartbeat, 3*s.SessionTimeout)})
		if w.chance(0.5) {
			s.Faults = append(s.Faults, Fault{Kind: AckDelay, At: max(0, at-time.Second), Dur: w.between(time.Second, 5*time.Second)})
		}
	}
	if s.Processor == "cdc" && w.chance(0.15) {
		// The worst moment for a switch: the old generation's events are
		// stuck behind a broker outage when the reader moves on, and the
		// relay dies before they are published.
		at := w.between(0, s.WritePhase)
		s.Faults = append(s.Faults,
			Fault{Kind: BrokerDown, At: at, Dur: s.GenerationFetch + w.between(5*time.Second, 30*time.Second)},
			Fault{Kind: GenerationSwitch, At: at + w.between(0, time.Second)},
			Fault{Kind: s.crash(), At: at + s.GenerationFetch + w.between(3*time.Second, 5*time.Second), Dur: w.between(0, 5*time.Second)})
	}
	if w.chance(0.15) {
		// A crash while progress cannot be saved: the restarted relay
		// reads again everything it finished since the last save —
		// published, dead-lettered and held events alike.
		// Retriable rejections make dead letters that can succeed when
		// read again.
		s.Flaky = max(s.Flaky, 0.3)
		at := w.between(0, s.WritePhase)
		d := w.between(2*time.Second, 15*time.Second)
		s.Faults = append(s.Faults,
			Fault{Kind: ProgressWriteFail, At: at, Dur: d},
			Fault{Kind: s.crash(), At: at + d*3/4, Dur: w.between(0, 5*time.Second)})
	}
	sort.SliceStable(s.Faults, func(i, j int) bool { return s.Faults[i].At < s.Faults[j].At })
	return s
}

// crash is the fault that kills the relay: the lone one, or the active one
// of two.
func (s Scenario) crash() FaultKind {
	if s.Relays > 1 {
		return KillActive
	}
	return Crash
}

// drawFault draws the duration of a fault of kind k at at.
func (s Scenario) drawFault(w *world, k FaultKind, at time.Duration) Fault {
	f := Fault{Kind: k, At: at}
	switch k {
	case BrokerDown:
		f.Dur = w.between(100*time.Millisecond, 90*time.Second)
	case Crash, KillActive, Handover:
		f.Dur = w.between(10*time.Millisecond, 20*time.Second)
	case Pause:
		// Across the session timeout: shorter pauses are survived, longer
		// ones make a zombie.
		f.Dur = w.between(s.SessionTimeout/3, 3*s.SessionTimeout)
	case GroupDown, GroupCut:
		f.Dur = w.between(time.Second, 4*s.SessionTimeout)
	case Panic, ReaderRestart, GenerationSwitch:
	default:
		f.Dur = w.between(100*time.Millisecond, 20*time.Second)
	}
	return f
}

// Schedule is the scenario's fault schedule as a string: the kinds of its
// faults in order and the per-event faults it draws. Runs with equal
// schedules exercise the same combination of faults.
func (s Scenario) Schedule() string {
	parts := []string{s.Processor, s.Policy.String(), fmt.Sprintf("relays=%d", s.Relays)}
	for _, f := range s.Faults {
		parts = append(parts, string(f.Kind))
	}
	for _, flag := range []struct {
		name string
		on   bool
	}{{"poison", s.Poison > 0}, {"flaky", s.Flaky > 0}, {"malformed", s.Malformed > 0}, {"late", s.LateVisibleMax > 0}, {"lone", s.Events == 1}} {
		if flag.on {
			parts = append(parts, flag.name)
		}
	}
	return strings.Join(parts, ",")
}

func (s Scenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %s processor, %s policy, retry %d attempts %s→%s, breaker %d/%s/%d, in-flight %d, %d events over %d aggregates in %s",
		s.Seed, s.Processor, s.Policy, s.Retry.MaxAttempts, s.Retry.InitialBackoff, s.Retry.MaxBackoff,
		s.Breaker.FailureThreshold, s.Breaker.OpenTimeout, s.Breaker.HalfOpenProbes, s.MaxInFlight, s.Events, s.Aggregates, s.WritePhase)
	if s.Relays > 1 {
		fmt.Fprintf(&b, ", %d relays, session %s, heartbeat %s", s.Relays, s.SessionTimeout, s.Heartbeat)
	}
	for _, f := range s.Faults {
		fmt.Fprintf(&b, "\n  at %s: %s", f.At, f.Kind)
		if f.Dur > 0 {
			fmt.Fprintf(&b, " for %s", f.Dur)
		}
	}
	return b.String()
}
