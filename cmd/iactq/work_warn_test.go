package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestWorkWarnsOfUnservedSchedules: a worker whose queues (here from IACTQ_QUEUES, as
// the systemd units pass them) leave out the queue of a default schedule says so in a
// log line at start and in its systemd STATUS line; with the default queues it does not.
func TestWorkWarnsOfUnservedSchedules(t *testing.T) {
	_, c := setup(t)
	for _, tc := range []struct {
		queues string
		warn   bool
	}{
		{queues: "default=2,reports=1", warn: true},
		{queues: "", warn: false}, // the config's queues: default, reports, maintenance
	} {
		f := newFakeSystemd(t)
		env := map[string]string{"NOTIFY_SOCKET": f.path, "IACTQ_QUEUES": tc.queues}
		for k, v := range c.env {
			env[k] = v
		}
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- execute(ctx, []string{"work"}, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
		}()
		f.waitFor(t, `^READY=1$`, 20*time.Second)
		status := f.waitFor(t, `^STATUS=running `, 10*time.Second)
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("IACTQ_QUEUES=%q: work exited %d: %s", tc.queues, code, stderr.String())
		}
		const wantStatus = "; WARNING: queue not served here for schedule session_cleanup→maintenance, health_check→maintenance"
		const wantLog = "schedule health_check enqueues into queue maintenance, which this worker does not serve"
		if tc.warn {
			if !strings.HasSuffix(status, wantStatus) {
				t.Errorf("IACTQ_QUEUES=%q: STATUS %q lacks the warning", tc.queues, status)
			}
			if !strings.Contains(stderr.String(), wantLog) || !strings.Contains(stderr.String(), `"level":"warn"`) {
				t.Errorf("IACTQ_QUEUES=%q: no warning logged:\n%s", tc.queues, stderr.String())
			}
			if !strings.HasPrefix(status, "STATUS=running 0/3") {
				t.Errorf("IACTQ_QUEUES=%q not applied: %q", tc.queues, status)
			}
		} else {
			if strings.Contains(status, "WARNING") || strings.Contains(stderr.String(), "does not serve") {
				t.Errorf("default queues: warned: %q\n%s", status, stderr.String())
			}
			if !strings.HasPrefix(status, "STATUS=running 0/31") { // default 25, reports 4, maintenance 2
				t.Errorf("default queues: %q, want capacity 31", status)
			}
		}
	}
}
