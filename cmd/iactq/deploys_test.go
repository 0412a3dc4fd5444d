package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

func TestDeploysCommands(t *testing.T) {
	d, c := setup(t)
	if out := c.ok("deploys"); !strings.Contains(out, "no deploys") {
		t.Errorf("empty history: %q", out)
	}
	res := d.Exec(t, `INSERT INTO iactq_deploys (job_id, env, revision, state, requested_by, failed_step, started_at, finished_at)
		VALUES (41, 'production', 'bad-9', 'rolled_back', 'alice', 'healthcheck', NOW(6) - INTERVAL 1 MINUTE, NOW(6))`)
	id, _ := res.LastInsertId()
	for i, step := range append(append([]string{}, jobs.DeploySteps...), "rollback") {
		code, out := 0, "ok "+step+"\n"
		if step == "healthcheck" {
			code, out = 1, "GET /api/health: 503\n"
		}
		d.Exec(t, `INSERT INTO iactq_deploy_steps (deploy_id, seq, step, command, exit_code, output, started_at, finished_at)
			VALUES (?, ?, ?, '["sh","-c","echo"]', ?, ?, NOW(6), NOW(6))`, id, i+1, step, code, out)
	}
	d.Exec(t, `INSERT INTO iactq_deploys (job_id, env, revision, state, requested_by, started_at, finished_at)
		VALUES (40, 'staging', 'v1.0.0', 'succeeded', 'bob', NOW(6) - INTERVAL 2 MINUTE, NOW(6) - INTERVAL 1 MINUTE)`)

	out := c.ok("deploys")
	for _, want := range []string{"ID", "REVISION", "bad-9", "rolled_back", "healthcheck", "alice", "v1.0.0", "succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploys lacks %q:\n%s", want, out)
		}
	}
	if out := c.ok("deploys", "--env", "staging"); strings.Contains(out, "bad-9") || !strings.Contains(out, "v1.0.0") {
		t.Errorf("deploys --env staging:\n%s", out)
	}
	var list []struct {
		ID         int64   `json:"id"`
		CommitTime *string `json:"commit_time"`
		FinishedAt *string `json:"finished_at"`
	}
	if err := json.Unmarshal([]byte(c.ok("deploys", "--json")), &list); err != nil || len(list) != 2 || list[1].ID != id || list[1].CommitTime != nil || list[1].FinishedAt == nil {
		t.Errorf("deploys --json: %v %+v", err, list)
	}

	show := c.ok("deploys", "show", jsonInt(id))
	for _, want := range []string{"Revision:", "bad-9", "rolled_back (failed step: healthcheck)", "SEQ", "7   healthcheck", "--- 7 healthcheck (exit 1) ---", "GET /api/health: 503", "--- 8 rollback (exit 0) ---"} {
		if !strings.Contains(strings.Join(strings.Fields(show), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("deploys show lacks %q:\n%s", want, show)
		}
	}
	if out := c.ok("deploys", "show", jsonInt(id), "--step", "healthcheck"); out != "GET /api/health: 503\n" {
		t.Errorf("--step healthcheck = %q", out)
	}
	if r := c.run("deploys", "show", "999999"); r.code != 1 || !strings.Contains(r.stderr, "deploy 999999 not found") {
		t.Errorf("show missing: %+v", r)
	}
	for _, args := range [][]string{{"deploys", "show", "x"}, {"deploys", "--env", "dev"}, {"deploys", "show", "1", "--step", "nope"}, {"deploys", "--limit", "0"}} {
		if r := c.run(args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	// Args never choose a command: a revision with shell syntax is refused, nothing written.
	if r := c.run("enqueue", "deploy", "--args", `{"env":"staging","revision":"x; rm -rf /"}`); r.code != 2 || !strings.Contains(r.stderr, "revision") {
		t.Errorf("enqueue bad revision: %+v", r)
	}
	if n := countJobs(t, d); n != 0 {
		t.Errorf("%d jobs written", n)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestDoraCommand(t *testing.T) {
	d, c := setup(t)
	if r := c.run("dora"); r.code != 1 || !strings.Contains(r.stderr, "no DORA snapshot yet") {
		t.Errorf("dora without snapshots: %+v", r)
	}
	now := time.Now().UTC()
	// Current window: 3 deploys, one failed and restored 30 minutes later; the
	// previous window: 1 failed deploy.
	for _, row := range []struct {
		rev, state string
		ago        time.Duration
	}{
		{"p1", "failed", 40 * 24 * time.Hour},
		{"c1", "succeeded", 20 * 24 * time.Hour},
		{"c2", "rolled_back", 10 * 24 * time.Hour},
		{"c3", "succeeded", 10*24*time.Hour - 30*time.Minute},
	} {
		fin := now.Add(-row.ago)
		d.Exec(t, `INSERT INTO iactq_deploys (env, revision, state, started_at, finished_at, commit_time) VALUES ('production', ?, ?, ?, ?, ?)`,
			row.rev, row.state, fin, fin, fin.Add(-2*time.Hour))
	}
	client, err := queue.NewClient(d.DB, jobs.NewRegistry(jobs.Deps{DB: d.DB, Config: jobs.DefaultConfig()}), queue.Config{PollInterval: 5 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	queuetest.RunJobs(t, client, queue.InsertParams{Args: jobs.DORASnapshotArgs{}})
	out := c.ok("dora")
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"DORA metrics of production over the last 30 days",
		"deployment frequency 0.07/day (0.5/week) medium 0.00/day (0.0/week) low better",
		"lead time for changes 2h0m high unknown n/a -",
		"change failure rate 33.3% (1 of 3) medium 100.0% (1 of 1) low better",
		"time to restore 30m elite 20d0h low better",
		"3 deploys (2 succeeded, 1 failed or rolled back)",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("dora lacks %q:\n%s", want, out)
		}
	}
	var s jobs.DORASnapshot
	if err := json.Unmarshal([]byte(c.ok("dora", "--json")), &s); err != nil || s.Current.Deploys != 3 || s.Current.Bands.TimeToRestore != "elite" {
		t.Errorf("dora --json: %v %+v", err, s)
	}
	if r := c.run("dora", "--env", "qa"); r.code != 2 {
		t.Errorf("dora --env qa: exit %d", r.code)
	}
}
