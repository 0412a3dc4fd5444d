package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iact/iactq/internal/waitfor"
)

func TestSLACommand(t *testing.T) {
	d, c := setup(t)
	m := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Minute)
	d.Exec(t, `INSERT INTO iactq_jobs (kind, state, attempt, created_at, scheduled_at, attempted_at, finished_at) VALUES
		('dashboard_metrics', 'completed', 1, ?, ?, ?, ?),
		('dashboard_metrics', 'completed', 1, ?, ?, ?, ?),
		('noop', 'completed', 1, ?, ?, ?, ?)`,
		m.Add(-3*time.Hour), m.Add(-3*time.Hour), m.Add(time.Second), m.Add(2*time.Second),
		m, m, m.Add(time.Second), m.Add(3*time.Second),
		m, m, m.Add(time.Second), m.Add(1500*time.Millisecond))
	r := c.run("sla", "--since", "1h")
	if r.code != 0 {
		t.Fatalf("sla: %d %s", r.code, r.stderr)
	}
	for _, want := range []string{"KIND", "BREACH RATE", "(all kinds)", "dashboard_metrics", "50.0%", "noop"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	r = c.run("sla", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("sla --json: %v\n%s", err, r.stdout)
	}
	if r := c.run("sla", "--since", "-1h"); r.code != 2 {
		t.Errorf("sla --since -1h: exit %d", r.code)
	}
	// Days and weeks, as its --help's examples say (issue 11 part 5).
	for _, since := range []string{"7d", "30d", "2w"} {
		if r := c.run("sla", "--since", since); r.code != 0 || !strings.Contains(r.stdout, "50.0%") {
			t.Errorf("sla --since %s: exit %d\n%s%s", since, r.code, r.stdout, r.stderr)
		}
	}
	for _, since := range []string{"500d", "3x", "d", "0d"} {
		if r := c.run("sla", "--since", since); r.code != 2 {
			t.Errorf("sla --since %s: exit %d, want 2", since, r.code)
		}
	}
}

func TestPrioritiesExplainAndSummary(t *testing.T) {
	d, c := setup(t)
	d.Exec(t, `INSERT INTO iactq_jobs (kind, queue, scheduled_at) VALUES
		('noop', 'default', NOW(6) - INTERVAL 2 HOUR),
		('noop', 'default', NOW(6) - INTERVAL 40 MINUTE),
		('noop', 'default', NOW(6) - INTERVAL 10 MINUTE)`)
	var last int64
	if err := d.DB.QueryRow("SELECT MAX(id) FROM iactq_jobs").Scan(&last); err != nil {
		t.Fatal(err)
	}
	out := c.ok("priorities", "--explain", fmt.Sprint(last))
	for _, want := range []string{"class NORMAL", "2 jobs of queue default are taken before it: 1 OVERDUE, 1 URGENT", "no live worker serves queue default"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	c.ok("queues", "pause", "default")
	d.Exec(t, "INSERT INTO iactq_workers (host, pid, queues) VALUES ('h', 1, 'default=1')")
	d.Exec(t, "INSERT INTO iactq_jobs (kind, state, attempt, attempted_at) VALUES ('noop', 'running', 1, NOW(6))")
	out = c.ok("priorities", "--explain", fmt.Sprint(last))
	for _, want := range []string{"PAUSED", "concurrency limit reached: 1 jobs of queue default run"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(c.ok("priorities", "--explain", fmt.Sprint(last), "--json")), &e); err != nil || e["ahead_total"] != 2.0 || e["queue_paused"] != true {
		t.Errorf("--explain --json: %v %v", e, err)
	}
	// A job enqueued for later is due then, not "due since" a time to come.
	later := strings.TrimSpace(c.ok("enqueue", "noop", "--in", "2h"))
	out = c.ok("priorities", "--explain", later)
	if !strings.Contains(out, "due at ") || !strings.Contains(out, "(in ") || strings.Contains(out, "due since") {
		t.Errorf("a job enqueued for later:\n%s", out)
	}
	c.ok("jobs", "cancel", later) // out of the summary below
	if r := c.run("priorities", "--explain", "999999"); r.code != 1 {
		t.Errorf("explain of a missing job: %d", r.code)
	}
	// The summary above the list: counts per class, oldest, next class changes.
	out = c.ok("priorities")
	for _, want := range []string{"QUEUE", "NEXT URGENT", "NEXT OVERDUE", "OVERDUE 1  URGENT 1  NORMAL 1", "in 19m       in 19m"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("escape codes when not a terminal")
	}
	// --watch to a pipe: plain frames one after another. Stopped once three frames
	// came out (a busy machine may take longer than three ticks to draw them).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"priorities", "--watch", "--every", "200ms"}, c.getenv, strings.NewReader(""), &stdout, &stderr)
	}()
	for strings.Count(stdout.String(), "NEXT OVERDUE") < 3 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	code := <-done
	if code != 0 || strings.Count(stdout.String(), "NEXT OVERDUE") < 3 || strings.Contains(stdout.String(), "\x1b[") {
		t.Errorf("--watch: %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
}

// TestJobLogLines checks part 5 of issue 4: job log lines are JSON objects, one per
// line, with job id, kind, queue, attempt, duration and outcome.
func TestJobLogLines(t *testing.T) {
	_, c := setup(t)
	c.ok("enqueue", "noop")
	c.ok("enqueue", "noop", "--args", `{"fail_attempts": 1}`, "--max-attempts", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"work", "--log-level", "debug"}, c.getenv, strings.NewReader(""), &stdout, &stderr)
	}()
	outcomes := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for !(outcomes["completed"] && outcomes["discarded"]) {
		if time.Now().After(deadline) {
			t.Fatalf("no completed and discarded job lines:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
		for _, line := range strings.Split(stderr.String(), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not a JSON object: %q", line)
			}
			o, ok := m["outcome"].(string)
			if !ok {
				continue
			}
			for _, k := range []string{"job_id", "kind", "queue", "attempt", "duration", "level", "time", "message"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("job line without %s: %s", k, line)
				}
			}
			outcomes[o] = true
		}
	}
	cancel()
	<-done
}

// TestDashboardCommand serves `iactq dashboard` and checks the pages, /metrics and the
// probes answer on 127.0.0.1.
func TestDashboardCommand(t *testing.T) {
	_, c := setup(t)
	c.env["IACTQ_DASHBOARD_TOKEN"] = "short"
	if r := c.run("dashboard", "--http", "127.0.0.1:0"); r.code != 2 {
		t.Errorf("short token: exit %d %s", r.code, r.stderr)
	}
	c.env["IACTQ_DASHBOARD_TOKEN"] = "0123456789abcdef"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port := freePort(t)
	done := make(chan result, 1)
	go func() { done <- c.runIn(ctx, "", "dashboard", "--http", fmt.Sprintf(":%d", port)) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitfor.True(t, 20*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, func() string { return "dashboard did not start" })
	for _, path := range []string{"/", "/priorities", "/failed", "/schedules", "/workers", "/deploys", "/audit", "/metrics", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s\n%s", path, resp.Status, body)
		}
	}
	resp, err := http.Post(base+"/queues/default/pause", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("pause without token: %s", resp.Status)
	}
	cancel()
	if r := <-done; r.code != 0 {
		t.Errorf("dashboard exited %d: %s", r.code, r.stderr)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
