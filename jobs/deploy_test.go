package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// deployTestConfig is a config whose every step prints its environment and appends
// "STEP DEPLOY_ID" to journal; the healthcheck fails for revisions bad-*, the tests
// step for revisions untested-*, and the rollback for revisions norollback-*.
func deployTestConfig(t *testing.T, journal string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Deploy.Dir = t.TempDir()
	cfg.Deploy.BackupDir = filepath.Join(t.TempDir(), "backups")
	script := func(extra string) DeployCommand {
		return DeployCommand{Command: []string{"sh", "-c", `echo "$IACTQ_DEPLOY_STEP $IACTQ_DEPLOY_ID" >> "$1"
echo "step=$IACTQ_DEPLOY_STEP env=$IACTQ_DEPLOY_ENV revision=$IACTQ_REVISION deploy=$IACTQ_DEPLOY_ID"
echo "backup_dir=$IACTQ_BACKUP_DIR worker_dsn=${IACTQ_TEST_WORKER_DSN:-unset}"
` + extra, "sh", journal}, Timeout: DeployDuration(time.Minute)}
	}
	for _, env := range DeployEnvs {
		e := DeployEnvConfig{Steps: map[string]DeployCommand{}}
		for _, step := range DeploySteps {
			e.Steps[step] = script("")
		}
		e.Steps["tests"] = script(`case "$IACTQ_REVISION" in untested-*) echo "2 tests failed" >&2; exit 3;; esac`)
		e.Steps["backup"] = script(`echo dump > "$IACTQ_BACKUP_DIR/db.sql"`)
		e.Steps["healthcheck"] = script(`case "$IACTQ_REVISION" in bad-*|norollback-*) echo "GET /api/health: 503" >&2; exit 1;; esac`)
		e.Rollback = script(`case "$IACTQ_REVISION" in norollback-*) exit 4;; esac; test -f "$IACTQ_BACKUP_DIR/db.sql" && echo restored`)
		cfg.Deploy.Environments[env] = e
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func deployTestClient(t *testing.T, db *queuetest.DB, cfg Config) *queue.Client {
	t.Helper()
	c, err := queue.NewClient(db.DB, NewRegistry(Deps{DB: db.DB, Config: cfg, Log: zerolog.Nop()}),
		queue.Config{PollInterval: 5 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deployWaitAll runs the workers of cs until every deploy recorded is finished and
// every job is finished, and returns the deploys, oldest first.
func deployWaitAll(t *testing.T, db *queuetest.DB, want int, cs ...*queue.Client) []Deploy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Work(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	// A bound for a stuck chain, not a speed target: the default config's validate
	// step runs scripts/check-restrictions.sh, seen taking 30-90 s on a loaded machine.
	const bound = 5 * time.Minute
	var ds []Deploy
	var live int
	waitfor.True(t, bound, func() bool {
		var err error
		if ds, err = ListDeploys(ctx, db.DB, "", 1000); err != nil {
			t.Fatal(err)
		}
		if err := db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE state NOT IN ('completed','discarded','cancelled')`).Scan(&live); err != nil {
			t.Fatal(err)
		}
		finished := 0
		for _, d := range ds {
			if !d.FinishedAt.IsZero() {
				finished++
			}
		}
		return len(ds) >= want && finished == len(ds) && live == 0
	}, func() string { return fmt.Sprintf("deploys not finished: %+v (%d live jobs)", ds, live) })
	slices.Reverse(ds)
	return ds
}

type deployTestMessage struct{ recipient, subject, body string }

func deployMessages(t *testing.T, db *queuetest.DB) []deployTestMessage {
	t.Helper()
	rows, err := db.DB.Query(`SELECT recipient, subject, body FROM internal_messages ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ms []deployTestMessage
	for rows.Next() {
		var m deployTestMessage
		if err := rows.Scan(&m.recipient, &m.subject, &m.body); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

func deployEnqueue(env, revision, requester string) queue.InsertParams {
	return queue.InsertParams{Args: DeployArgs{Env: env, Revision: revision}, RequestedBy: requester}
}

func deployInsert(t *testing.T, c *queue.Client, ps ...queue.InsertParams) {
	t.Helper()
	if _, err := c.InsertMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
}

func TestDeploySucceedsRunningEveryStepInOrder(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	journal := filepath.Join(t.TempDir(), "journal")
	cfg := deployTestConfig(t, journal)
	c := deployTestClient(t, db, cfg)
	deployInsert(t, c, deployEnqueue("staging", "v1.4.2", "alice"))
	ds := deployWaitAll(t, db, 1, c)

	d := ds[0]
	if d.State != "succeeded" || d.Env != "staging" || d.Revision != "v1.4.2" || d.RequestedBy != "alice" || d.FailedStep != "" {
		t.Fatalf("deploy = %+v", d)
	}
	_, steps, err := GetDeploy(context.Background(), db.DB, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != len(DeploySteps) {
		t.Fatalf("%d steps recorded, want %d: %+v", len(steps), len(DeploySteps), steps)
	}
	backupDir, _ := cfg.Deploy.backupDir("staging", d.ID)
	var wantJournal strings.Builder
	for i, s := range steps {
		if s.Seq != i+1 || s.Step != DeploySteps[i] || s.ExitCode == nil || *s.ExitCode != 0 {
			t.Errorf("step %d = %+v", i, s)
		}
		for _, want := range []string{"step=" + s.Step, "env=staging", "revision=v1.4.2", "backup_dir=" + backupDir, "worker_dsn=unset"} {
			if !strings.Contains(s.Output, want) {
				t.Errorf("output of %s lacks %q:\n%s", s.Step, want, s.Output)
			}
		}
		if s.Command[0] != "sh" || s.FinishedAt.Before(s.StartedAt) {
			t.Errorf("step %s: command %q, %s..%s", s.Step, s.Command, s.StartedAt, s.FinishedAt)
		}
		if i > 0 && s.StartedAt.Before(steps[i-1].FinishedAt) {
			t.Errorf("step %s started before %s finished", s.Step, steps[i-1].Step)
		}
		wantJournal.WriteString(s.Step + " " + jsonNumber(d.ID) + "\n")
	}
	if got, _ := os.ReadFile(journal); string(got) != wantJournal.String() {
		t.Errorf("commands ran:\n%s\nwant:\n%s", got, wantJournal.String())
	}
	if _, err := os.Stat(filepath.Join(backupDir, "db.sql")); err != nil {
		t.Errorf("backup: %v", err)
	}
	// One message to the requester and one to ops, of the outcome; nothing else.
	ms := deployMessages(t, db)
	if len(ms) != 2 || ms[0].recipient != "ops" || ms[1].recipient != "alice" {
		t.Fatalf("messages = %+v", ms)
	}
	for _, m := range ms {
		if !strings.Contains(m.subject, "succeeded") || !strings.Contains(m.body, "iactq deploys show "+jsonNumber(d.ID)) {
			t.Errorf("message = %+v", m)
		}
	}
	// Every step job ran once, and the environment is free again.
	var attempts, stepJobs int
	if err := db.DB.QueryRow(`SELECT COUNT(*), SUM(attempt) FROM iactq_jobs WHERE kind = 'deploy_step' AND state = 'completed'`).Scan(&stepJobs, &attempts); err != nil {
		t.Fatal(err)
	}
	if stepJobs != len(DeploySteps) || attempts != len(DeploySteps) {
		t.Errorf("%d step jobs completed in %d attempts, want %d in %d", stepJobs, attempts, len(DeploySteps), len(DeploySteps))
	}
	deployAssertFree(t, db, "staging")
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func deployAssertFree(t *testing.T, db *queuetest.DB, env string) {
	t.Helper()
	var holder *int64
	if err := db.DB.QueryRow(`SELECT deploy_id FROM iactq_deploy_locks WHERE env = ?`, env).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	if holder != nil {
		t.Errorf("%s still held by deploy %d", env, *holder)
	}
}

func TestDeployFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		revision   string
		state      string
		failedStep string
		steps      []string // recorded, in order
		exitCodes  []int
		subject    string
	}{
		{"bad-7f3a", "rolled_back", "healthcheck", append(append([]string{}, DeploySteps...), "rollback"),
			[]int{0, 0, 0, 0, 0, 0, 1, 0}, "rolled back (healthcheck failed)"},
		{"norollback-1", "failed", "healthcheck", append(append([]string{}, DeploySteps...), "rollback"),
			[]int{0, 0, 0, 0, 0, 0, 1, 4}, "FAILED at healthcheck and the rollback failed"},
		{"untested-2", "failed", "tests", []string{"validate", "tests"},
			[]int{0, 3}, "failed at tests (nothing changed"},
	} {
		t.Run(tc.revision, func(t *testing.T) {
			t.Parallel()
			db := queuetest.New(t)
			cfg := deployTestConfig(t, filepath.Join(t.TempDir(), "journal"))
			c := deployTestClient(t, db, cfg)
			deployInsert(t, c, deployEnqueue("production", tc.revision, "bob"))
			d := deployWaitAll(t, db, 1, c)[0]
			if d.State != tc.state || d.FailedStep != tc.failedStep {
				t.Fatalf("deploy = %+v, want %s at %s", d, tc.state, tc.failedStep)
			}
			_, steps, err := GetDeploy(context.Background(), db.DB, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			var codes []int
			for _, s := range steps {
				names = append(names, s.Step)
				codes = append(codes, *s.ExitCode)
			}
			if strings.Join(names, ",") != strings.Join(tc.steps, ",") || !equalInts(codes, tc.exitCodes) {
				t.Fatalf("steps %v exit codes %v, want %v %v", names, codes, tc.steps, tc.exitCodes)
			}
			ms := deployMessages(t, db)
			if len(ms) != 2 || ms[0].recipient != "ops" || ms[1].recipient != "bob" {
				t.Fatalf("messages = %+v", ms)
			}
			for _, m := range ms {
				if !strings.Contains(m.subject, tc.subject) {
					t.Errorf("subject %q lacks %q", m.subject, tc.subject)
				}
			}
			if tc.failedStep == "healthcheck" && !strings.Contains(ms[0].body, "GET /api/health: 503") {
				t.Errorf("message lacks the failed step's output:\n%s", ms[0].body)
			}
			// A failed command is the deploy's outcome, not a job failure: no retries.
			var failedAttempts int
			if err := db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE state <> 'completed' OR attempt <> 1`).Scan(&failedAttempts); err != nil {
				t.Fatal(err)
			}
			if failedAttempts != 0 {
				t.Errorf("%d jobs not completed on their first attempt", failedAttempts)
			}
			deployAssertFree(t, db, "production")
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDeployArgsCannotInjectCommands(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	journal := filepath.Join(t.TempDir(), "journal")
	cfg := deployTestConfig(t, journal)
	c := deployTestClient(t, db, cfg)
	marker := filepath.Join(t.TempDir(), "pwned")
	for _, args := range []string{
		`{"env":"staging","revision":"x; rm -rf /"}`,
		`{"env":"staging","revision":"$(touch ` + marker + `)"}`,
		`{"env":"staging","revision":"` + "`touch " + marker + "`" + `"}`,
		`{"env":"staging","revision":"-oProxyCommand=touch"}`,
		`{"env":"staging","revision":"main\nexit 0"}`,
		`{"env":"staging","revision":"a..b"}`,
		`{"env":"staging","revision":""}`,
		`{"env":"staging","revision":"` + strings.Repeat("a", 129) + `"}`,
		`{"env":"staging; rm -rf /","revision":"abc"}`,
		`{"env":"dev","revision":"abc"}`,
		`{"env":"staging","revision":"abc","rollback_test":"touch ` + marker + `"}`,
		`{"env":"staging","revision":"abc","command":["touch","` + marker + `"]}`,
		`["staging","abc"]`,
	} {
		_, err := c.Insert(context.Background(), queue.InsertParams{Kind: "deploy", Args: json.RawMessage(args)})
		var ve *queue.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("args %s: err = %v, want a validation error", args, err)
		}
	}
	// Plain SQL skips the client's validation: the worker discards the job at once.
	db.Exec(t, `INSERT INTO iactq_jobs (kind, args, requested_by) VALUES ('deploy', ?, 'mallory')`, `{"env":"staging","revision":"x; touch `+marker+`"}`)
	// A step job enqueued by hand (not by a deploy) runs nothing.
	db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('deploy_step', '{"deploy_id": 1, "step": "migrate"}')`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Work(ctx) }()
	waitfor.True(t, 30*time.Second, func() bool {
		var live int
		if err := db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE state <> 'discarded'`).Scan(&live); err != nil {
			t.Fatal(err)
		}
		return live == 0
	}, func() string { return "jobs not discarded" })
	cancel()
	<-done
	var deploys, steps int
	if err := db.DB.QueryRow(`SELECT (SELECT COUNT(*) FROM iactq_deploys), (SELECT COUNT(*) FROM iactq_deploy_steps)`).Scan(&deploys, &steps); err != nil {
		t.Fatal(err)
	}
	if deploys != 0 || steps != 0 {
		t.Errorf("%d deploys and %d steps recorded, want none", deploys, steps)
	}
	for _, f := range []string{marker, journal} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists: a command ran", f)
		}
	}
	ms := deployMessages(t, db)
	if len(ms) != 1 || ms[0].recipient != "mallory" || !strings.Contains(ms[0].body, "revision") {
		t.Errorf("messages = %+v, want mallory told why", ms)
	}
}

func TestDeployRevisionValidation(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"abc123", "0f3e9a1c2b4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f", "v1.2.3", "release/2026-11", "bad-1", "feature_x"} {
		if err := validateRevision(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", ".hidden", "/abs", "a b", "a;b", "a|b", "a$b", "a`b", "a'b", `a"b`, "a..b", "a//b", "a/", "a.", "a.lock", "a/.b", "a\nb", "ä", "a~1", "a^", "a:b", "HEAD@{1}"} {
		if err := validateRevision(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Two worker processes, four deploys of staging and one of production enqueued at
// once: the staging deploys run one after the other, in order, never overlapping.
func TestDeployOnePerEnvironmentAtATime(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	cfg := deployTestConfig(t, filepath.Join(t.TempDir(), "journal"))
	// Slow steps widen the window in which an overlap would show.
	for _, env := range DeployEnvs {
		e := cfg.Deploy.Environments[env]
		e.Steps["migrate"] = DeployCommand{Command: []string{"sleep", "0.2"}, Timeout: DeployDuration(time.Minute)}
		cfg.Deploy.Environments[env] = e
	}
	c1, c2 := deployTestClient(t, db, cfg), deployTestClient(t, db, cfg)
	deployInsert(t, c1,
		deployEnqueue("staging", "s1", "alice"),
		deployEnqueue("staging", "s2", "alice"),
		deployEnqueue("production", "p1", "alice"),
		deployEnqueue("staging", "bad-s3", "alice"),
		deployEnqueue("staging", "s4", "bob"),
	)
	ds := deployWaitAll(t, db, 5, c1, c2)
	var staging []Deploy
	for _, d := range ds {
		if d.Env == "staging" {
			staging = append(staging, d)
		}
	}
	if len(staging) != 4 {
		t.Fatalf("staging deploys = %+v", staging)
	}
	sort.Slice(staging, func(i, j int) bool { return staging[i].StartedAt.Before(staging[j].StartedAt) })
	for i, d := range staging {
		_, steps, err := GetDeploy(context.Background(), db.DB, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) == 0 || steps[0].StartedAt.Before(d.StartedAt) || steps[len(steps)-1].FinishedAt.After(d.FinishedAt) {
			t.Errorf("deploy %d: steps outside its run %s..%s", d.ID, d.StartedAt, d.FinishedAt)
		}
		if i > 0 {
			prev := staging[i-1]
			if !d.StartedAt.After(prev.FinishedAt) && !d.StartedAt.Equal(prev.FinishedAt) {
				t.Errorf("deploy %d started at %s, before deploy %d finished at %s", d.ID, d.StartedAt, prev.ID, prev.FinishedAt)
			}
		}
	}
	for _, d := range ds {
		want := "succeeded"
		if strings.HasPrefix(d.Revision, "bad-") {
			want = "rolled_back"
		}
		if d.State != want {
			t.Errorf("deploy %d (%s) is %s, want %s", d.ID, d.Revision, d.State, want)
		}
	}
	// Exactly one message each to ops and to the requester per deploy.
	perDeploy := map[string]int{}
	for _, m := range deployMessages(t, db) {
		perDeploy[m.recipient+" "+strings.Fields(m.subject)[1]]++
	}
	for _, d := range ds {
		for _, r := range []string{"ops", d.RequestedBy} {
			if n := perDeploy[r+" #"+jsonNumber(d.ID)]; n != 1 {
				t.Errorf("%s got %d messages about deploy %d, want 1 (%v)", r, n, d.ID, perDeploy)
			}
		}
	}
	if len(perDeploy) != 2*len(ds) {
		t.Errorf("messages: %v", perDeploy)
	}
	deployAssertFree(t, db, "staging")
	deployAssertFree(t, db, "production")
}

// A deploy whose jobs are gone (cancelled by hand) does not hold its environment for
// ever: the next deploy marks it abandoned, tells its requester and ops, and runs.
func TestDeployAbandonedIsReclaimed(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	cfg := deployTestConfig(t, filepath.Join(t.TempDir(), "journal"))
	c := deployTestClient(t, db, cfg)
	res := db.Exec(t, `INSERT INTO iactq_deploys (job_id, env, revision, state, requested_by, started_at, driver_job_id)
		VALUES (NULL, 'staging', 'old1', 'running', 'carol', NOW(6), 999999)`)
	old, _ := res.LastInsertId()
	db.Exec(t, `UPDATE iactq_deploy_locks SET deploy_id = ?, locked_at = NOW(6) WHERE env = 'staging'`, old)
	deployInsert(t, c, deployEnqueue("staging", "new1", "alice"))
	ds := deployWaitAll(t, db, 2, c)
	if ds[0].ID != old || ds[0].State != "failed" || ds[0].FailedStep != "abandoned" {
		t.Errorf("old deploy = %+v", ds[0])
	}
	if ds[1].State != "succeeded" {
		t.Errorf("new deploy = %+v", ds[1])
	}
	got := map[string]bool{}
	for _, m := range deployMessages(t, db) {
		got[m.recipient+" "+strings.Fields(m.subject)[1]] = true
	}
	for _, want := range []string{"ops #" + jsonNumber(old), "carol #" + jsonNumber(old), "ops #" + jsonNumber(ds[1].ID), "alice #" + jsonNumber(ds[1].ID)} {
		if !got[want] {
			t.Errorf("no message %q: %v", want, got)
		}
	}
}

// A step that outlives its timeout is killed, with its children, and fails the deploy.
func TestDeployStepTimeout(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	cfg := deployTestConfig(t, filepath.Join(t.TempDir(), "journal"))
	e := cfg.Deploy.Environments["staging"]
	e.Steps["restart"] = DeployCommand{Command: []string{"sh", "-c", "echo restarting; sleep 30; echo never"}, Timeout: DeployDuration(300 * time.Millisecond)}
	cfg.Deploy.Environments["staging"] = e
	c := deployTestClient(t, db, cfg)
	begin := time.Now()
	deployInsert(t, c, deployEnqueue("staging", "slow1", ""))
	d := deployWaitAll(t, db, 1, c)[0]
	if took := time.Since(begin); took > 15*time.Second {
		t.Errorf("took %s: the sleep was not killed", took)
	}
	if d.State != "rolled_back" || d.FailedStep != "restart" {
		t.Fatalf("deploy = %+v", d)
	}
	_, steps, _ := GetDeploy(context.Background(), db.DB, d.ID)
	restart := steps[deployStepIndex("restart")]
	if *restart.ExitCode != -1 || !strings.Contains(restart.Output, "restarting") || !strings.Contains(restart.Output, "timed out") || strings.Contains(restart.Output, "never") {
		t.Errorf("restart = %d %q", *restart.ExitCode, restart.Output)
	}
	// No requester: ops alone is told.
	if ms := deployMessages(t, db); len(ms) != 1 || ms[0].recipient != "ops" {
		t.Errorf("messages = %+v", ms)
	}
}

// The default config deploys (validate runs scripts/check-restrictions.sh from the
// repository root) and rolls back a revision named bad-*.
func TestDeployDefaultConfig(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	cfg := DefaultConfig()
	root, _ := filepath.Abs("..")
	cfg.Deploy.Dir = root
	cfg.Deploy.BackupDir = t.TempDir()
	c := deployTestClient(t, db, cfg)
	deployInsert(t, c, deployEnqueue("staging", "v2.0.0", "demo"), deployEnqueue("production", "bad-2.0.1", "demo"))
	ds := deployWaitAll(t, db, 2, c)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Env > ds[j].Env }) // staging, production
	if ds[0].State != "succeeded" || ds[1].State != "rolled_back" || ds[1].FailedStep != "healthcheck" {
		t.Fatalf("deploys = %+v", ds)
	}
	_, steps, _ := GetDeploy(context.Background(), db.DB, ds[0].ID)
	if !strings.Contains(steps[0].Output, "restrictions: ok") {
		t.Errorf("validate output = %q", steps[0].Output)
	}
	_, steps, _ = GetDeploy(context.Background(), db.DB, ds[1].ID)
	if rb := steps[len(steps)-1]; rb.Step != "rollback" || !strings.Contains(rb.Output, "database restored from") {
		t.Errorf("rollback = %+v", rb)
	}
}

func TestDeployConfigValidation(t *testing.T) {
	t.Parallel()
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, tc := range map[string]struct {
		mutate func(*DeployConfig)
		want   string
	}{
		"no notify":    {func(c *DeployConfig) { c.Notify = "" }, "notify"},
		"unknown env":  {func(c *DeployConfig) { c.Environments["dev"] = c.Environments["staging"] }, "environments.dev"},
		"missing env":  {func(c *DeployConfig) { delete(c.Environments, "production") }, "environments.production is missing"},
		"missing step": {func(c *DeployConfig) { delete(c.Environments["staging"].Steps, "migrate") }, "environments.staging.steps.migrate is missing"},
		"unknown step": {func(c *DeployConfig) { c.Environments["staging"].Steps["deploy"] = DeployCommand{} }, "steps.deploy: unknown step"},
		"empty command": {func(c *DeployConfig) {
			c.Environments["staging"].Steps["tests"] = DeployCommand{Timeout: DeployDuration(time.Second)}
		}, "steps.tests: command"},
		"no timeout": {func(c *DeployConfig) {
			c.Environments["staging"].Steps["tests"] = DeployCommand{Command: []string{"true"}}
		}, "steps.tests: timeout"},
		"no rollback": {func(c *DeployConfig) {
			e := c.Environments["staging"]
			e.Rollback = DeployCommand{}
			c.Environments["staging"] = e
		}, "environments.staging.rollback"},
		"empty backupdir": {func(c *DeployConfig) { c.BackupDir = "" }, "backup_dir"},
	} {
		c := defaultDeployConfig()
		tc.mutate(&c)
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

func TestDeployConfigFromYAML(t *testing.T) {
	t.Parallel()
	decode := func(src string) (Config, error) {
		var sections map[string]yaml.Node
		if err := yaml.Unmarshal([]byte(src), &sections); err != nil {
			t.Fatal(err)
		}
		return DecodeConfig(sections)
	}
	steps := ""
	for _, s := range DeploySteps {
		steps += "        " + s + ": {command: [\"true\"], timeout: 90s}\n"
	}
	cfg, err := decode("deploy:\n  notify: release-team\n  dir: /srv/iact\n  environments:\n    production:\n      steps:\n" + steps +
		"      rollback: {command: [scripts/restore-db.sh, --latest], timeout: 1h}\ndora:\n  git_repo: /srv/iact\n")
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Deploy
	if d.Notify != "release-team" || d.dir("production") != "/srv/iact" || cfg.DORA.GitRepo != "/srv/iact" || cfg.DORA.Env != "production" {
		t.Errorf("config = %+v %+v", d, cfg.DORA)
	}
	if c, _ := d.command("production", "migrate"); c.Command[0] != "true" || time.Duration(c.Timeout) != 90*time.Second {
		t.Errorf("production migrate = %+v", c)
	}
	if c, _ := d.command("production", "rollback"); strings.Join(c.Command, " ") != "scripts/restore-db.sh --latest" || time.Duration(c.Timeout) != time.Hour {
		t.Errorf("production rollback = %+v", c)
	}
	if c, _ := d.command("staging", "validate"); c.Command[0] != "scripts/check-restrictions.sh" {
		t.Errorf("staging lost its defaults: %+v", c)
	}
	for src, want := range map[string]string{
		"deploy:\n  notify: ops\n  shell: bash\n": "field shell not found",
		"deploy:\n  environments:\n    production:\n      steps:\n        migrate: {command: [x], timeout: soon}\n": "invalid duration",
		"deploy:\n  environments:\n    production:\n      steps:\n        migrate: {command: [x], timeout: 1m}\n":   "environments.production.steps.validate is missing",
		"dora:\n  env: qa\n": "jobs.dora: env",
	} {
		if _, err := decode(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}
