package waitfor

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestTrueReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	True(t, 10*time.Second, func() bool { return n.Load() == 3 }, func() string { return "n never reached 3" })
}

// recorder is a testing.TB that records Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
}

func TestTrueFailsWithTheExplanation(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	looks := 0
	True(r, 30*time.Millisecond, func() bool { looks++; return looks > 1000 }, func() string { return "still false" })
	if r.failed == "" || looks < 2 {
		t.Fatalf("failed %q after %d looks, want a failure after looking again", r.failed, looks)
	}
}
