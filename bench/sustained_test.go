package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSustainTryLimit(t *testing.T) {
	for _, tc := range []struct {
		try  sustainTry
		flat bool
		want string
	}{
		{sustainTry{rate: 2000, achieved: 1990, growth: 150, allowed: 200}, true, ""},
		{sustainTry{rate: 2000, achieved: 1800, growth: 0, allowed: 200}, false, "enqueue-limited"},
		{sustainTry{rate: 2000, achieved: 2000, growth: 900, allowed: 200}, false, "worker-limited"},
		{sustainTry{rate: 2000, achieved: 1800, growth: 900, allowed: 200}, false, "enqueue-limited (asked 2000 jobs/s, the producer inserted 1800) and worker-limited"},
	} {
		tc.try.window = 5 * time.Second
		if got := tc.try.flat(); got != tc.flat {
			t.Errorf("%+v: flat %t, want %t", tc.try, got, tc.flat)
		}
		if got := tc.try.limit(); !strings.HasPrefix(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("%+v: limit %q, want it to start with %q", tc.try, got, tc.want)
		}
	}
}

func TestProcMemory(t *testing.T) {
	hwm, rss, err := procMemory(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if rss <= 0 || hwm < rss/2 {
		t.Errorf("VmHWM %d kB, VmRSS %d kB: implausible", hwm, rss)
	}
}
