package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
)

// logLines parses JSON log lines.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestActivitySummary(t *testing.T) {
	var out syncBuffer
	clock := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cfg := queue.Config{SLAs: map[string]queue.SLA{"*": {Deadline: time.Hour, Urgent: 30 * time.Minute}}}
	waiting := int64(5)
	l := newActivityLog(zerolog.New(&out), cfg, func(context.Context) (int64, error) { return waiting, nil })
	l.now = func() time.Time { return clock }
	l.reset()

	due := clock.Add(-time.Minute)
	job := func(kind string) *queue.JobRow { return &queue.JobRow{Kind: kind, ScheduledAt: due} }
	for range 3 {
		l.Finished(job("noop"), queue.StateCompleted, time.Second, time.Millisecond)
	}
	l.Finished(job("dashboard_metrics"), queue.StateCompleted, time.Second, time.Second)
	l.Finished(job("noop"), queue.StateRetryable, time.Second, time.Millisecond)
	l.Finished(job("noop"), queue.StateRetryable, time.Second, time.Millisecond)
	l.Finished(job("deploy"), queue.StateDiscarded, time.Second, time.Millisecond)
	l.DiscardedUnknown("default", "ghost", 3) // never ran: no worker runs the kind
	// Due two hours before it started, with a one-hour SLA: it started OVERDUE.
	late := &queue.JobRow{Kind: "noop", ScheduledAt: clock.Add(-2 * time.Hour)}
	l.Finished(late, queue.StateCompleted, 2*time.Hour, time.Millisecond)

	clock = clock.Add(10 * time.Second)
	l.flush(context.Background())
	lines := logLines(t, out.String())
	if len(lines) != 1 {
		t.Fatalf("want one summary line, got:\n%s", out.String())
	}
	got := lines[0]
	wantMsg := "last 10s: 5 completed (dashboard_metrics 1, noop 4), 2 retried (noop 2), 4 discarded (deploy 1, ghost 3); 1 started OVERDUE, 5 OVERDUE waiting"
	if got["message"] != wantMsg || got["level"] != "info" {
		t.Errorf("summary = %v %q\nwant info %q", got["level"], got["message"], wantMsg)
	}
	fields, _ := json.Marshal(map[string]any{"completed": got["completed"], "retried": got["retried"], "discarded": got["discarded"],
		"overdue_started": got["overdue_started"], "overdue_waiting": got["overdue_waiting"], "period": got["period"]})
	wantFields := `{"completed":{"dashboard_metrics":1,"noop":4},"discarded":{"deploy":1,"ghost":3},"overdue_started":1,"overdue_waiting":5,"period":"10s","retried":{"noop":2}}`
	if string(fields) != wantFields {
		t.Errorf("fields = %s\nwant     %s", fields, wantFields)
	}

	// Nothing ran since: no line at all.
	clock = clock.Add(10 * time.Second)
	l.flush(context.Background())
	if n := len(logLines(t, out.String())); n != 1 {
		t.Errorf("a period without jobs logged a summary:\n%s", out.String())
	}

	// Outcomes other than the three are said when they happened.
	l.Stopped(job("deploy_step"), queue.ErrCancelledByOperator, time.Second, time.Millisecond)
	l.Stopped(job("noop"), queue.ErrWorkerLost, time.Second, time.Millisecond)
	l.Finished(job("noop"), queue.StateAvailable, time.Second, time.Millisecond)
	l.Finished(job("noop"), queue.State("unrecorded"), time.Second, time.Millisecond)
	l.flush(context.Background())
	lines = logLines(t, out.String())
	if want := "last 10s: 0 completed, 0 retried, 0 discarded, 1 cancelled (deploy_step 1), 1 released at shutdown (noop 1), 1 lost (noop 1), 1 unrecorded (noop 1); 0 started OVERDUE, 5 OVERDUE waiting"; lines[len(lines)-1]["message"] != want {
		t.Errorf("summary = %q, want %q", lines[len(lines)-1]["message"], want)
	}

	// A period with only completions says so, and counts from the previous summary.
	l.Finished(job("noop"), queue.StateCompleted, time.Second, time.Millisecond)
	clock = clock.Add(3 * time.Second)
	waiting = 0
	l.flush(context.Background())
	lines = logLines(t, out.String())
	if want := "last 3s: 1 completed (noop 1), 0 retried, 0 discarded; 0 started OVERDUE, 0 OVERDUE waiting"; lines[len(lines)-1]["message"] != want {
		t.Errorf("summary = %q, want %q", lines[len(lines)-1]["message"], want)
	}
}

func TestActivityScheduleLine(t *testing.T) {
	var out syncBuffer
	clock := time.Date(2026, 12, 3, 10, 2, 30, 0, time.UTC)
	cfg := queue.Config{Schedules: []queue.Schedule{{Name: "health_check", Cron: "*/5 * * * *", Kind: "health_check"}}}
	l := newActivityLog(zerolog.New(&out), cfg, nil)
	l.now = func() time.Time { return clock }

	row := &queue.JobRow{ID: 42, Kind: "health_check", ScheduleName: "health_check", ScheduledAt: clock.Add(-30 * time.Second)}
	l.Finished(row, queue.StateRetryable, time.Second, time.Second) // not the end of the occurrence
	l.Finished(row, queue.StateCompleted, time.Second, 1500*time.Millisecond)
	l.Finished(&queue.JobRow{ID: 43, Kind: "noop"}, queue.StateCompleted, 0, 0) // not a schedule's
	lines := logLines(t, out.String())
	if len(lines) != 1 {
		t.Fatalf("want one schedule line, got:\n%s", out.String())
	}
	got := lines[0]
	if got["schedule"] != "health_check" || got["outcome"] != "completed" || got["job_id"] != float64(42) ||
		got["next_at"] != "2026-12-03T10:05:00Z" || got["level"] != "info" ||
		!strings.HasPrefix(got["message"].(string), "schedule health_check ran: job 42 completed in 1.5s; next at ") {
		t.Errorf("schedule line: %s", out.String())
	}
}

// TestWorkLogsAtDefaultLevel runs a worker at the default level and checks what an
// operator reads: the wake-up mode and why, each failure and discard, schedules
// firing, summaries that add up to what ran, and no line per completed job.
func TestWorkLogsAtDefaultLevel(t *testing.T) {
	d, c := setup(t)
	config := filepath.Join(t.TempDir(), "iactq.yaml")
	if err := os.WriteFile(config, []byte(`queues: {default: 4}
schedules:
  - {name: tick, cron: "@every 1s", kind: noop, queue: default, args: {}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c.env["IACTQ_CONFIG"] = config
	for range 6 {
		c.ok("enqueue", "noop", "--args", `{"sleep_ms": 10}`)
	}
	c.ok("enqueue", "noop", "--args", `{"fail_attempts": 1}`)
	c.ok("enqueue", "noop", "--args", `{"panic": true}`, "--max-attempts", "1")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"work"}, c.getenv, strings.NewReader(""), &stdout, &stderr)
	}()
	// Wait for the eight jobs (the retry runs after its back-off) and one occurrence
	// of the schedule.
	var finished, ticks int
	waitfor.True(t, 60*time.Second, func() bool {
		if err := d.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name IS NULL AND state IN ('completed', 'discarded')`).Scan(&finished); err != nil {
			t.Fatal(err)
		}
		if err := d.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name = 'tick' AND state = 'completed'`).Scan(&ticks); err != nil {
			t.Fatal(err)
		}
		return finished == 8 && ticks >= 1
	}, func() string {
		return fmt.Sprintf("%d of 8 jobs finished, %d ticks; stderr:\n%s", finished, ticks, stderr.String())
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("work exited %d:\n%s", code, stderr.String())
	}

	var wakeup, failed, discarded, scheduleLines, summaries int
	completed := map[string]float64{}
	for _, l := range logLines(t, stderr.String()) {
		msg, _ := l["message"].(string)
		switch {
		case l["level"] == "debug":
			t.Errorf("a debug line at the default level: %v", l)
		case msg == "job completed":
			t.Errorf("a line per completed job at the default level: %v", l)
		case l["wakeup"] == "polling" && strings.Contains(msg, "because no binary-log DSN is set"):
			wakeup++
		case l["outcome"] == "retryable" && l["kind"] == "noop":
			failed++
		case l["outcome"] == "discarded" && l["kind"] == "noop" && strings.Contains(l["error"].(string), "panic"):
			discarded++
		case l["schedule"] == "tick" && strings.HasPrefix(msg, "schedule tick ran: job "):
			scheduleLines++
		case strings.HasPrefix(msg, "last "):
			summaries++
			if m, ok := l["completed"].(map[string]any); ok {
				for k, v := range m {
					completed[k] += v.(float64)
				}
			}
		}
	}
	if wakeup != 1 || failed != 1 || discarded != 1 || scheduleLines < 1 || summaries < 1 {
		t.Errorf("wake-up lines %d (want 1), failures %d (1), discards %d (1), schedule lines %d (≥1), summaries %d (≥1):\n%s",
			wakeup, failed, discarded, scheduleLines, summaries, stderr.String())
	}
	// The summaries count the 7 jobs that completed (6, and the one retried) and the ticks.
	if completed["noop"] < float64(7+scheduleLines) {
		t.Errorf("summaries count %v noop completions, want at least %d:\n%s", completed["noop"], 7+scheduleLines, stderr.String())
	}
}
