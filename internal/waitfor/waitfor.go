// Package waitfor lets tests wait for what other goroutines and processes make true
// (a row's state, a log line, a datagram), instead of sleeping for a guessed while.
package waitfor

import (
	"testing"
	"time"
)

// every is how often a condition is looked at again.
const every = 10 * time.Millisecond

// True waits until cond is true, looking every 10 ms, and fails t with explain()
// (the state that was awaited, as it is now) if it is not within d.
func True(t testing.TB, d time.Duration, cond func() bool, explain func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, explain())
			return
		}
		time.Sleep(every)
	}
}
