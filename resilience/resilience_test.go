package resilience

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffGrowsAndCaps(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 10, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2}
	tests := []struct {
		attempt int
		want    time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {60, time.Second}}
	for _, tc := range tests {
		if got := p.Backoff(tc.attempt, nil); got != tc.want {
			t.Errorf("attempt %d: %s, want %s", tc.attempt, got, tc.want)
		}
	}
}

func TestBackoffJitterStaysWithinItsFraction(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Second, Multiplier: 2, Jitter: 0.5}
	rnd := rand.New(rand.NewPCG(1, 1))
	seen := map[time.Duration]bool{}
	for i := 0; i < 100; i++ {
		d := p.Backoff(1, rnd)
		if d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("jittered delay %s outside [500ms, 1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Fatalf("jitter produced only %d distinct delays", len(seen))
	}
}

func TestRetryPresetsAndValidation(t *testing.T) {
	// The README's figures: attempts, first delay → cap, doubling.
	presets := []struct {
		name     string
		attempts int
		initial  time.Duration
		max      time.Duration
	}{
		{"default", 3, 100 * time.Millisecond, 10 * time.Second},
		{"", 3, 100 * time.Millisecond, 10 * time.Second},
		{"Aggressive", 5, 50 * time.Millisecond, 30 * time.Second},
		{"conservative", 2, 200 * time.Millisecond, 5 * time.Second},
	}
	for _, tc := range presets {
		p, err := RetryPreset(tc.name)
		if err != nil || p.Validate() != nil {
			t.Fatalf("%q: %v %v", tc.name, err, p.Validate())
		}
		if p.MaxAttempts != tc.attempts || p.InitialBackoff != tc.initial || p.MaxBackoff != tc.max || p.Multiplier != 2 {
			t.Errorf("%q: %+v, want %d attempts, %s doubling to %s", tc.name, p, tc.attempts, tc.initial, tc.max)
		}
	}
	if _, err := RetryPreset("reckless"); err == nil {
		t.Fatal("unknown preset accepted")
	}
	bad := []RetryPolicy{
		{MaxAttempts: 0, InitialBackoff: 1, MaxBackoff: 1, Multiplier: 1},
		{MaxAttempts: 1, InitialBackoff: 0, MaxBackoff: 1, Multiplier: 1},
		{MaxAttempts: 1, InitialBackoff: 2, MaxBackoff: 1, Multiplier: 1},
		{MaxAttempts: 1, InitialBackoff: 1, MaxBackoff: 1, Multiplier: 0.5},
		{MaxAttempts: 1, InitialBackoff: 1, MaxBackoff: 1, Multiplier: 1, Jitter: 2},
	}
	for i, p := range bad {
		if p.Validate() == nil {
			t.Errorf("case %d accepted: %+v", i, p)
		}
	}
}

func TestBreakerLifecycle(t *testing.T) {
	cfg := BreakerConfig{FailureThreshold: 3, OpenTimeout: 10 * time.Second, HalfOpenProbes: 2}
	b := NewBreaker(cfg)
	var transitions []string
	b.OnTransition = func(from, to BreakerState) { transitions = append(transitions, from.String()+">"+to.String()) }
	t0 := time.Unix(0, 0)

	b.Failure(t0)
	b.Failure(t0)
	b.Success() // a success resets the consecutive count
	b.Failure(t0)
	b.Failure(t0)
	if b.State() != Closed || !b.Allow(t0) {
		t.Fatal("two consecutive failures must not open a threshold-3 breaker")
	}
	b.Failure(t0)
	if b.State() != Open || b.Allow(t0.Add(9*time.Second)) {
		t.Fatal("third consecutive failure must open it and block publishes until the timeout")
	}
	if !b.Allow(t0.Add(10*time.Second)) || b.State() != HalfOpen {
		t.Fatal("after the open timeout one probe must pass, half-open")
	}
	if !b.Allow(t0.Add(10*time.Second)) || b.Allow(t0.Add(10*time.Second)) {
		t.Fatal("half-open allows exactly HalfOpenProbes publishes in flight")
	}
	b.Failure(t0.Add(11 * time.Second))
	if b.State() != Open || b.ProbeAt() != t0.Add(21*time.Second) {
		t.Fatal("a failed probe reopens the breaker for a new timeout")
	}
	b.Failure(t0.Add(11 * time.Second)) // the other probe's late failure
	// Each Allow admits one probe.
	for probe := 1; probe <= cfg.HalfOpenProbes; probe++ {
		if !b.Allow(t0.Add(21 * time.Second)) {
			t.Fatalf("probe %d after the second timeout refused", probe)
		}
	}
	b.Success()
	if b.State() != HalfOpen {
		t.Fatal("one success of two must not close it")
	}
	b.Success()
	if b.State() != Closed {
		t.Fatal("HalfOpenProbes successes must close it")
	}
	want := "closed>open,open>half-open,half-open>open,open>half-open,half-open>closed"
	if got := join(transitions); got != want {
		t.Fatalf("transitions %s, want %s", got, want)
	}
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}
