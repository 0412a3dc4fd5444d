package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// runReportJob inserts three calls by hand and runs one abandonment_report over them:
// 1 abandoned (45 s) of 3 offered, 33.3%; 09:00 is the worst hour, 1 of 2.
func runReportJob(t *testing.T, d *queuetest.DB) int64 {
	t.Helper()
	for i, c := range []struct {
		start, outcome string
		wait, handle   int
	}{
		{"2026-11-02 09:10:00", "answered", 20, 100},
		{"2026-11-02 09:20:00", "abandoned", 45, 0},
		{"2026-11-02 10:05:00", "answered", 40, 200},
	} {
		start, _ := time.Parse(time.DateTime, c.start)
		d.Exec(t, `INSERT INTO ivr_calls (call_ref, flow_id, caller_hash, started_at, ended_at, wait_seconds, handle_seconds, outcome)
			VALUES (?, 'main', REPEAT('a', 64), ?, ?, ?, ?, ?)`, fmt.Sprint("cli-", i), start, start.Add(5*time.Minute), c.wait, c.handle, c.outcome)
	}
	client, err := queue.NewClient(d.DB, jobs.NewRegistry(jobs.Deps{DB: d.DB, Config: jobs.DefaultConfig()}),
		queue.Config{PollInterval: 5 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	job := queuetest.RunJobs(t, client, queue.InsertParams{Kind: "abandonment_report",
		Args: json.RawMessage(`{"period": "2026-11-02", "threshold_seconds": 30}`), RequestedBy: "analyst"})[0]
	if job.State != queue.StateCompleted {
		t.Fatalf("report job %s: %s", job.State, job.Errors)
	}
	return job.ID
}

func TestReportsShowAndList(t *testing.T) {
	d, c := setup(t)
	id := runReportJob(t, d)
	sid := fmt.Sprint(id)

	out := c.ok("reports", "show", sid)
	for _, want := range []string{
		fmt.Sprintf("Abandoned calls — abandonment_report, job %d", id),
		"period  2026-11-02: 2026-11-02 00:00 to 2026-11-03 00:00 (UTC)",
		"found   abandonment 2026-11-02 33.3% (1 of 3 calls offered to agents, waits ≥ 30s; 0 short abandons left out), worst hour 2026-11-02 09:00 (1 abandoned, 50.0%)",
		"  abandon_rate_pct      33.3\n",
		"Abandoned calls by hour (24 rows)",
		"HOUR              CALLS  ANSWERED  ABANDONED  SHORT_ABANDONED  OFFERED  ABANDON_RATE_PCT  AVG_ABANDONED_WAIT_S",
		"2026-11-02 09:00  2      1         1          0                2        50                45",
		"2026-11-02 10:00  1      1         0          0                1        0                 -",
		"2026-11-02 11:00  0      0         0          0                0        -                 -",
		"How the numbers are defined",
		"CSV: iactq reports show " + sid + " --csv",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("reports show: no %q in\n%s", want, out)
		}
	}

	csv := c.ok("reports", "show", sid, "--csv")
	lines := strings.Split(csv, "\n")
	if len(lines) != 26 || lines[0] != "hour,calls,answered,abandoned,short_abandoned,offered,abandon_rate_pct,avg_abandoned_wait_s" ||
		lines[10] != "2026-11-02 09:00,2,1,1,0,2,50,45" || lines[12] != "2026-11-02 11:00,0,0,0,0,0,," {
		t.Errorf("reports show --csv:\n%s", csv)
	}
	if out := c.ok("reports", "show", sid, "--csv", "--table", "intervals"); out != csv {
		t.Errorf("--table intervals differs from the main table")
	}
	// Abandoned calls by wait: the one abandoned call waited 45 s.
	if out := c.ok("reports", "show", sid, "--csv", "--table", "by_wait"); !strings.HasPrefix(out, "wait,from_s,to_s,abandoned,share_pct,cumulative_pct,counted\nunder 10 s,0,10,0,0,0,no (short)\n") ||
		!strings.Contains(out, "\n30 s – 1 min,30,60,1,100,100,yes\n") || !strings.HasSuffix(out, "\n5 min+,300,,0,0,100,yes\n") {
		t.Errorf("reports show --csv --table by_wait:\n%s", out)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(c.ok("reports", "show", sid, "--json")), &res); err != nil || res["kind"] != "abandonment_report" {
		t.Errorf("reports show --json: %v %v", res, err)
	}

	list := c.ok("reports", "list")
	if !strings.Contains(list, "JOB  KIND") || !strings.Contains(list, sid+"    abandonment_report") {
		t.Errorf("reports list:\n%s", list)
	}
	if out := c.ok("reports", "list", "--kind", "dashboard_metrics"); out != "no reports\n" {
		t.Errorf("reports list --kind dashboard_metrics: %q", out)
	}

	// A job without a report: a failure at run time, 1. Bad usage: 2, nothing on stdout.
	if r := c.run("reports", "show", "999999"); r.code != 1 || !strings.Contains(r.stderr, "job 999999 has no report") {
		t.Errorf("reports show 999999: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"reports", "show"},
		{"reports", "show", "abc"},
		{"reports", "show", sid, "--table", "paths"},
		{"reports", "show", sid, "--csv", "--table", "paths"},
		{"reports", "show", sid, "--csv", "--json"},
		{"reports", "list", "--limit", "0"},
		{"demo", "load", "--days", "0"},
		{"demo", "load", "--days", "1000"},
		{"demo", "load", "--seed", "0"},
	} {
		if r := c.run(args...); r.code != 2 || r.stdout != "" {
			t.Errorf("iactq %s: exit %d, stdout %q, stderr %q; want 2 and nothing", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
}

func TestDemoLoadCommand(t *testing.T) {
	d, c := setup(t)
	r := c.run("demo", "load", "--days", "1", "--calls-per-day", "300", "--sessions", "100")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "loaded ") || !strings.Contains(r.stdout, "100 sessions") || !strings.Contains(r.stderr, "(day 2 of 2)") {
		t.Fatalf("demo load: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	var calls int
	if err := d.DB.QueryRow(`SELECT COUNT(*) FROM ivr_calls`).Scan(&calls); err != nil || calls == 0 {
		t.Fatalf("%d calls after demo load (%v)", calls, err)
	}
	// Again: the same days are replaced, nothing added (today's calls may have grown
	// by the calls that ended in between).
	c.ok("demo", "load", "--days", "1", "--calls-per-day", "300", "--sessions", "100")
	var again, sessions int
	if err := d.DB.QueryRow(`SELECT (SELECT COUNT(*) FROM ivr_calls), (SELECT COUNT(*) FROM django_session)`).Scan(&again, &sessions); err != nil {
		t.Fatal(err)
	}
	if again < calls || again > calls+10 || sessions != 100 {
		t.Errorf("after a second load: %d calls (was %d), %d sessions", again, calls, sessions)
	}
}
