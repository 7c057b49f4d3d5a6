package client

import (
	"math/rand/v2"
	"time"
)

// RetryPolicy says how often and how long to wait when a request that is
// safe to repeat fails for a reason that may pass (see the package doc).
// The waits grow exponentially with full jitter: before attempt n+1 the
// client waits a random time in [0, min(MaxDelay, BaseDelay·2ⁿ)), and at
// least the Retry-After the server asked for.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included; 1 sends
	// a request once. 0 means no limit: only the context ends the retries.
	MaxAttempts int
	// BaseDelay is the bound of the first wait. Default 100ms.
	BaseDelay time.Duration
	// MaxDelay caps the bound of every wait (not a Retry-After). Default 5s.
	MaxDelay time.Duration
}

// DefaultRetry is the policy of a client made without WithRetry: four
// attempts, waits up to 100ms, 200ms and 400ms.
var DefaultRetry = RetryPolicy{MaxAttempts: 4, BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second}

// NoRetry sends every request once.
var NoRetry = RetryPolicy{MaxAttempts: 1}

// delay is the wait after the failed attempt number attempt (0 for the
// first), at least retryAfter.
func (p RetryPolicy) delay(attempt int, retryAfter time.Duration) time.Duration {
	base, most := p.BaseDelay, p.MaxDelay
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if most <= 0 {
		most = 5 * time.Second
	}
	bound := most
	if attempt < 30 && base<<attempt < most && base<<attempt > 0 {
		bound = base << attempt
	}
	d := rand.N(bound)
	return max(d, retryAfter)
}
