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
	"github.com/iact/iactq/queue/queuetest"
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
// operator reads: the wake-up mode and why (automatic: its user, iactq_worker, may not
// follow the binary log, which the leader says once), each failure and discard,
// schedules firing, summaries that add up to what ran, and no line per completed job.
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

	var wakeup, why, failed, discarded, scheduleLines, summaries int
	completed := map[string]float64{}
	for _, l := range logLines(t, stderr.String()) {
		msg, _ := l["message"].(string)
		switch {
		case l["level"] == "debug":
			t.Errorf("a debug line at the default level: %v", l)
		case msg == "job completed":
			t.Errorf("a line per completed job at the default level: %v", l)
		case l["wakeup"] == "automatic" && strings.Contains(msg, "the leader tries the binary log with the worker's own DSN"):
			wakeup++
		case l["wakeup"] == "polling" && strings.Contains(msg, "not following the binary log") &&
			strings.Contains(fmt.Sprint(l["reason"]), "lacks BINLOG MONITOR"):
			why++
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
	if wakeup != 1 || why != 1 || failed != 1 || discarded != 1 || scheduleLines < 1 || summaries < 1 {
		t.Errorf("wake-up lines %d (want 1), why it polls %d (1), failures %d (1), discards %d (1), schedule lines %d (≥1), summaries %d (≥1):\n%s",
			wakeup, why, failed, discarded, scheduleLines, summaries, stderr.String())
	}
	// The summaries count the 7 jobs that completed (6, and the one retried) and the ticks.
	if completed["noop"] < float64(7+scheduleLines) {
		t.Errorf("summaries count %v noop completions, want at least %d:\n%s", completed["noop"], 7+scheduleLines, stderr.String())
	}
}

// TestWakeupLogSaysWhich: the start-up line tells the three ways the leader may wake
// idle workers, and why: a binlog DSN is set (it follows the log), none (automatic: it
// tries the worker's own DSN, polling if the server or the grants do not allow), and
// off (it polls without trying); not "no binary-log DSN is set" as the reason to poll
// while it may follow the log.
func TestWakeupLogSaysWhich(t *testing.T) {
	t.Parallel()
	const own = "iactq:pw@tcp(127.0.0.1:3306)/iact"
	for _, c := range []struct {
		name      string
		binlog    string
		dsn       string
		from      string
		wakeup    string
		want, not []string
	}{
		{"explicit", "iactq_binlog:pw@tcp(127.0.0.1:3306)/", own, "IACTQ_BINLOG_DSN", "binlog",
			[]string{"the leader follows the binary log, because IACTQ_BINLOG_DSN is set", "polls every 10ms, warns and retries"},
			[]string{"worker's own"}},
		{"explicit flag", "iactq_binlog:pw@tcp(127.0.0.1:3306)/", own, "--binlog-dsn", "binlog",
			[]string{"because --binlog-dsn is set"}, nil},
		{"automatic", "", own, "IACTQ_BINLOG_DSN", "automatic",
			[]string{"no binary-log DSN is set, so the leader tries the binary log with the worker's own DSN",
				"if the server (log_bin on, binlog_format=ROW) and the user's grants (REPLICATION SLAVE, and BINLOG MONITOR or REPLICATION CLIENT) allow",
				"else it polls every 10ms and says why once", "IACTQ_BINLOG_DSN=off"},
			[]string{"the leader polls every"}},
		{"off", "off", own, "IACTQ_BINLOG_DSN", "polling",
			[]string{"the leader polls every 10ms", "because IACTQ_BINLOG_DSN=off: it does not try the binary log"},
			[]string{"no binary-log DSN is set", "follows"}},
		{"off flag, any case", " OFF", own, "--binlog-dsn", "polling",
			[]string{"because --binlog-dsn=off"}, nil},
		{"Go API without the worker's DSN", "", "", "IACTQ_BINLOG_DSN", "polling",
			[]string{"the leader polls every 10ms", "because no binary-log DSN is set"}, []string{"worker's own"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf strings.Builder
			cfg := queue.Config{BinlogDSN: c.binlog, DSN: c.dsn, PollInterval: 10 * time.Millisecond}
			wakeupLog(zerolog.New(&buf), cfg, c.from)
			lines := logLines(t, buf.String())
			if len(lines) != 1 {
				t.Fatalf("%d lines, want 1:\n%s", len(lines), buf.String())
			}
			l := lines[0]
			msg, _ := l["message"].(string)
			if l["level"] != "info" || l["wakeup"] != c.wakeup {
				t.Errorf("level %v, wakeup %v; want info, %s: %v", l["level"], l["wakeup"], c.wakeup, l)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("line lacks %q:\n%s", w, msg)
				}
			}
			for _, n := range c.not {
				if strings.Contains(msg, n) {
					t.Errorf("line says %q:\n%s", n, msg)
				}
			}
			if strings.Contains(msg, "pw@") {
				t.Errorf("line shows a DSN: %s", msg)
			}
		})
	}
}

// TestWorkBinlogOffPolls: 'iactq work' with IACTQ_BINLOG_DSN=off says at start that
// the leader polls because of it, and its leader does not try the binary log, though
// its user (here the admin, with every privilege) could follow it.
func TestWorkBinlogOffPolls(t *testing.T) {
	d, c := setup(t)
	c.env["IACTQ_DSN"] = d.AdminDSN
	c.env["IACTQ_BINLOG_DSN"] = "off"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"work"}, c.getenv, strings.NewReader(""), &stdout, &stderr)
	}()
	waitfor.True(t, 30*time.Second, func() bool { return strings.Contains(stderr.String(), `"message":"elected leader`) },
		func() string { return "not elected leader:\n" + stderr.String() })
	// The leader would try the binary log at once; give it time to say so.
	c.ok("enqueue", "noop")
	waitfor.True(t, 30*time.Second, func() bool { return countJobsIn(t, d, "completed") >= 1 },
		func() string { return "the job did not complete:\n" + stderr.String() })
	time.Sleep(500 * time.Millisecond)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("work exited %d:\n%s", code, stderr.String())
	}
	var start int
	for _, l := range logLines(t, stderr.String()) {
		msg, _ := l["message"].(string)
		switch {
		case l["wakeup"] == "polling" && l["binlog_dsn"] == "off" && strings.Contains(msg, "because IACTQ_BINLOG_DSN=off"):
			start++
		case strings.Contains(msg, "binary log") || l["wakeup"] != nil:
			t.Errorf("a line about the binary log with IACTQ_BINLOG_DSN=off: %v", l)
		}
	}
	if start != 1 {
		t.Errorf("%d start-up lines saying the leader polls because IACTQ_BINLOG_DSN=off, want 1:\n%s", start, stderr.String())
	}
}

// countJobsIn counts d's jobs in state.
func countJobsIn(t *testing.T, d *queuetest.DB, state string) int {
	t.Helper()
	var n int
	if err := d.DB.QueryRow("SELECT COUNT(*) FROM iactq_jobs WHERE state = ?", state).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
