package resilience

import (
	"fmt"
	"time"
)

// BreakerState is the circuit breaker's state; the numbers are those of the
// circuit_breaker_state metric.
type BreakerState int

const (
	Closed   BreakerState = 0
	Open     BreakerState = 1
	HalfOpen BreakerState = 2
)

func (s BreakerState) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	default:
		return "half-open"
	}
}

// BreakerConfig sets when the breaker opens and how it recovers. The
// defaults are the tutorial's: 5 consecutive failures open it for 30 s; 3
// successful probes close it.
type BreakerConfig struct {
	// FailureThreshold consecutive transient failures open the breaker.
	FailureThreshold int
	// OpenTimeout is how long the breaker stays open before probing.
	OpenTimeout time.Duration
	// HalfOpenProbes is both how many publishes may be in flight while
	// half-open and how many must succeed in a row to close it.
	HalfOpenProbes int
}

// DefaultBreaker is the tutorial's breaker.
func DefaultBreaker() BreakerConfig {
	return BreakerConfig{FailureThreshold: 5, OpenTimeout: 30 * time.Second, HalfOpenProbes: 3}
}

// Validate reports the first nonsensical setting.
func (c BreakerConfig) Validate() error {
	switch {
	case c.FailureThreshold < 1:
		return fmt.Errorf("resilience: breaker failure threshold must be at least 1, got %d", c.FailureThreshold)
	case c.OpenTimeout <= 0:
		return fmt.Errorf("resilience: breaker open timeout must be positive, got %s", c.OpenTimeout)
	case c.HalfOpenProbes < 1:
		return fmt.Errorf("resilience: breaker half-open probes must be at least 1, got %d", c.HalfOpenProbes)
	}
	return nil
}

// Breaker is a circuit breaker driven by its owner: it never measures time
// itself and never retries anything. The owner asks Allow before each
// publish and reports each outcome; while the breaker is open Allow says no,
// so the owner neither spends retry attempts nor dead-letters events — it
// holds them and stops taking new work until the breaker half-opens.
//
// A Breaker is not safe for concurrent use; an actor owns it.
type Breaker struct {
	cfg       BreakerConfig
	state     BreakerState
	failures  int // consecutive, while closed
	openedAt  time.Time
	inFlight  int // probes, while half-open
	successes int // consecutive probe successes, while half-open
	// OnTransition, if set, is called on every state change.
	OnTransition func(from, to BreakerState)
}

// NewBreaker returns a closed breaker.
func NewBreaker(cfg BreakerConfig) *Breaker { return &Breaker{cfg: cfg} }

// State is the state as of the last call; Allow performs the timed
// open → half-open transition.
func (b *Breaker) State() BreakerState { return b.state }

// ProbeAt is when an open breaker will let a probe through.
func (b *Breaker) ProbeAt() time.Time { return b.openedAt.Add(b.cfg.OpenTimeout) }

// Allow reports whether a publish may start now, and counts it as a probe
// when half-open.
func (b *Breaker) Allow(now time.Time) bool {
	switch b.state {
	case Closed:
		return true
	case Open:
		if now.Before(b.ProbeAt()) {
			return false
		}
		b.transition(HalfOpen)
		b.inFlight, b.successes = 0, 0
	}
	if b.inFlight >= b.cfg.HalfOpenProbes {
		return false
	}
	b.inFlight++
	return true
}

// Success records a publish the broker acknowledged.
func (b *Breaker) Success() {
	switch b.state {
	case Closed:
		b.failures = 0
	case HalfOpen:
		b.inFlight--
		b.successes++
		if b.successes >= b.cfg.HalfOpenProbes {
			b.failures = 0
			b.transition(Closed)
		}
	}
}

// Failure records a transient publish failure (a permanent one says
// nothing about the broker's health and must not be reported).
func (b *Breaker) Failure(now time.Time) {
	switch b.state {
	case Closed:
		b.failures++
		if b.failures >= b.cfg.FailureThreshold {
			b.open(now)
		}
	case HalfOpen:
		b.inFlight--
		b.open(now)
	case Open:
		// A publish started before the breaker opened: it changes nothing.
	}
}

// Release gives back a half-open probe slot whose publish ended without an
// outcome the breaker should count (the event was permanent-failed).
func (b *Breaker) Release() {
	if b.state == HalfOpen && b.inFlight > 0 {
		b.inFlight--
	}
}

// ResetProbes forgets half-open probes whose outcome will never be
// reported (their owner restarted).
func (b *Breaker) ResetProbes() {
	if b.state == HalfOpen {
		b.inFlight = 0
	}
}

func (b *Breaker) open(now time.Time) {
	b.openedAt = now
	b.transition(Open)
}

func (b *Breaker) transition(to BreakerState) {
	from := b.state
	if from == to {
		return
	}
	b.state = to
	if b.OnTransition != nil {
		b.OnTransition(from, to)
	}
}
