// Package resilience owns the relay's failure policies as pure state: retry
// schedules (exponential backoff with jitter and a cap, in named presets) and
// a circuit breaker. Nothing here sleeps or starts goroutines; the processor
// actors ask for the next delay and schedule it with the actor scheduler, and
// feed the breaker the outcomes they observe.
package resilience

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// RetryPolicy says how often and how patiently a transient publish failure
// is retried while the broker is otherwise healthy. Attempts spent while the
// circuit breaker is open are not counted (see Breaker), so MaxAttempts bounds
// retries of a poison event, not the length of an outage the relay survives.
type RetryPolicy struct {
	// MaxAttempts is the number of publish attempts, the first included,
	// before an event that keeps failing is dead-lettered.
	MaxAttempts int
	// InitialBackoff is the delay before the second attempt.
	InitialBackoff time.Duration
	// MaxBackoff caps every delay.
	MaxBackoff time.Duration
	// Multiplier grows the delay after each failed attempt.
	Multiplier float64
	// Jitter is the fraction of each delay that is randomised (0 none,
	// 1 "full jitter"), so a fleet of retries does not hit a recovering
	// broker in lockstep.
	Jitter float64
}

// DefaultRetry is the "default" preset.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// AggressiveRetry is the "aggressive" preset: 5 attempts, 50 ms doubling to
// at most 30 s.
func AggressiveRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 30 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// ConservativeRetry is the "conservative" preset: 2 attempts, 200 ms doubling
// to at most 5 s.
func ConservativeRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 2, InitialBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// RetryPreset returns the tutorial's preset by name (jitter added):
// "default" ([DefaultRetry]), "aggressive" ([AggressiveRetry]) or
// "conservative" ([ConservativeRetry]), in any case; "" is "default".
func RetryPreset(name string) (RetryPolicy, error) {
	switch strings.ToLower(name) {
	case "default", "":
		return DefaultRetry(), nil
	case "aggressive":
		return AggressiveRetry(), nil
	case "conservative":
		return ConservativeRetry(), nil
	}
	return RetryPolicy{}, fmt.Errorf("resilience: unknown retry preset %q (want default, aggressive, conservative or custom)", name)
}

// Validate reports the first nonsensical setting.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("resilience: retry max attempts must be at least 1, got %d", p.MaxAttempts)
	case p.InitialBackoff <= 0:
		return fmt.Errorf("resilience: retry initial backoff must be positive, got %s", p.InitialBackoff)
	case p.MaxBackoff < p.InitialBackoff:
		return fmt.Errorf("resilience: retry max backoff %s is below the initial backoff %s", p.MaxBackoff, p.InitialBackoff)
	case p.Multiplier < 1:
		return fmt.Errorf("resilience: retry multiplier must be at least 1, got %g", p.Multiplier)
	case p.Jitter < 0 || p.Jitter > 1:
		return fmt.Errorf("resilience: retry jitter must be within [0, 1], got %g", p.Jitter)
	}
	return nil
}

// Backoff is the delay after the given failed attempt (1 for the first):
// InitialBackoff × Multiplier^(attempt-1), capped at MaxBackoff, with the
// Jitter fraction of it drawn uniformly from rnd.
func (p RetryPolicy) Backoff(attempt int, rnd *rand.Rand) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(p.InitialBackoff) * math.Pow(p.Multiplier, float64(attempt-1))
	if d > float64(p.MaxBackoff) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(p.MaxBackoff)
	}
	if p.Jitter > 0 && rnd != nil {
		fixed := d * (1 - p.Jitter)
		d = fixed + rnd.Float64()*d*p.Jitter
	}
	return time.Duration(d)
}

// Exhausted reports whether an event that has failed attempts times may not
// be tried again.
func (p RetryPolicy) Exhausted(attempts int) bool { return attempts >= p.MaxAttempts }
