package queue

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// RetryPolicy says when a failed attempt runs again.
type RetryPolicy struct {
	Initial time.Duration // delay after the first failure
	Max     time.Duration // cap on any delay
	Jitter  float64       // ± fraction of randomness
}

// DefaultRetryPolicy doubles from 1 s up to 1 h, with ±30 % jitter.
var DefaultRetryPolicy = RetryPolicy{Initial: time.Second, Max: time.Hour, Jitter: 0.3}

// Delay is the wait before the attempt after failed attempt number attempt (1-based).
func (p RetryPolicy) Delay(attempt int) time.Duration {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: p.Jitter,
		Multiplier:          2,
		MaxInterval:         p.Max,
		MaxElapsedTime:      0, // never give up: max_attempts decides that
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	d := b.NextBackOff()
	for i := 1; i < attempt && i < 64; i++ {
		d = b.NextBackOff()
	}
	return d
}
