package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/iact/iactq/queue/queuetest"
)

// result is what one CLI invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// syncBuffer is a bytes.Buffer safe for the worker's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs iactq in-process with env as its whole environment.
type cli struct {
	t   *testing.T
	env map[string]string
}

func (c cli) getenv(k string) string { return c.env[k] }

func (c cli) run(args ...string) result { return c.runIn(context.Background(), "", args...) }

func (c cli) runIn(ctx context.Context, stdin string, args ...string) result {
	c.t.Helper()
	var stdout, stderr syncBuffer
	code := execute(ctx, args, c.getenv, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// ok runs args, fails the test unless it exits 0, and returns stdout.
func (c cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("iactq %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// setup gives a test a fresh database and a CLI pointed at it as a worker would be.
func setup(t *testing.T) (*queuetest.DB, cli) {
	t.Helper()
	t.Parallel()
	d := queuetest.New(t)
	return d, cli{t: t, env: map[string]string{"IACTQ_DSN": d.WorkerDSN}}
}

func countJobs(t *testing.T, d *queuetest.DB) int {
	t.Helper()
	var n int
	if err := d.DB.QueryRow("SELECT COUNT(*) FROM iactq_jobs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var idLine = regexp.MustCompile(`^[1-9][0-9]*\n$`)

func parseIDOut(t *testing.T, out string) int64 {
	t.Helper()
	if !idLine.MatchString(out) {
		t.Fatalf("stdout is not a job id alone: %q", out)
	}
	id, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	return id
}

func TestBadInputExits2AndWritesNothing(t *testing.T) {
	d, c := setup(t)
	for _, args := range [][]string{
		{"enqueue", "no_such_kind"},
		{"enqueue", "noop", "--args", "{not json"},
		{"enqueue", "noop", "--args", "[1,2]"},
		{"enqueue", "noop", "--args", `{"unknown_field": 1}`},
		{"enqueue", "noop", "--args", `{"sleep_ms": -5}`},
		{"enqueue", "noop", "--max-attempts", "0"},
		{"enqueue", "noop", "--max-attempts", "5000"},
		{"enqueue", "noop", "--max-attempts", "many"},
		{"enqueue", "noop", "--at", "2030-01-01T00:00:00Z", "--in", "5m"},
		{"enqueue", "noop", "--at", "tomorrow"},
		{"enqueue", "noop", "--in", "-5m"},
		{"enqueue", "noop", "--in", "soon"},
		{"enqueue", "noop", "--queue", "bad queue!"},
		{"enqueue", "noop", "--no-such-flag"},
		{"enqueue"},
		{"enqueue", "noop", "extra"},
		{"enqueue", "--batch", "noop"},
		{"enqueue", "--batch", "--queue", "reports"},
		{"no-such-command"},
		{"jobs", "show", "abc"},
		{"jobs", "show", "-3"},
		{"jobs", "cancel"},
		{"jobs", "list", "--state", "sleeping"},
		{"jobs", "list", "--limit", "0"},
		{"work", "--queues", "default"},
		{"work", "--queues", "default=0"},
		{"--log-format", "xml", "jobs", "list"},
	} {
		r := c.run(args...)
		if r.code != 2 {
			t.Errorf("iactq %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("iactq %s: wrote %q on stdout", strings.Join(args, " "), r.stdout)
		}
		if !strings.HasPrefix(r.stderr, "iactq: ") || strings.Count(r.stderr, "iactq: ") != 1 {
			t.Errorf("iactq %s: stderr %q, want one 'iactq: ' message", strings.Join(args, " "), r.stderr)
		}
	}
	if n := countJobs(t, d); n != 0 {
		t.Fatalf("%d jobs written by invalid commands", n)
	}
}

func TestNoDatabase(t *testing.T) {
	t.Parallel()
	c := cli{t: t, env: map[string]string{}}
	r := c.run("jobs", "list")
	if r.code != 2 || !strings.Contains(r.stderr, "no database: set IACTQ_DSN or --dsn (make db-up prints one)") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestEnqueuePrintsOnlyTheID(t *testing.T) {
	d, c := setup(t)
	id := parseIDOut(t, c.ok("enqueue", "noop", "--args", `{"sleep_ms": 5}`, "--queue", "reports", "--requested-by", "analyst", "--max-attempts", "3"))
	var kind, q, state, args, by string
	var maxAttempts int
	err := d.DB.QueryRow("SELECT kind, queue, state, args, requested_by, max_attempts FROM iactq_jobs WHERE id = ?", id).
		Scan(&kind, &q, &state, &args, &by, &maxAttempts)
	if err != nil {
		t.Fatal(err)
	}
	if kind != "noop" || q != "reports" || state != "available" || by != "analyst" || maxAttempts != 3 {
		t.Fatalf("job %d: kind %s queue %s state %s requested_by %s max_attempts %d", id, kind, q, state, by, maxAttempts)
	}
	var got map[string]int
	if err := json.Unmarshal([]byte(args), &got); err != nil || got["sleep_ms"] != 5 {
		t.Fatalf("args %s", args)
	}

	for _, when := range [][]string{{"--in", "1h"}, {"--at", "2037-06-01T10:00:00Z"}, {"--at", "2037-06-01 10:00"}} {
		id := parseIDOut(t, c.ok(append([]string{"enqueue", "noop"}, when...)...))
		d.DB.QueryRow("SELECT state FROM iactq_jobs WHERE id = ?", id).Scan(&state)
		if state != "scheduled" {
			t.Errorf("enqueue %v: state %s, want scheduled", when, state)
		}
	}
}

func TestEnqueueDuplicateUniqueKey(t *testing.T) {
	d, c := setup(t)
	first := parseIDOut(t, c.ok("enqueue", "noop", "--unique-key", "nightly"))
	r := c.run("enqueue", "noop", "--unique-key", "nightly")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := parseIDOut(t, r.stdout); got != first {
		t.Fatalf("duplicate printed %d, want %d", got, first)
	}
	want := fmt.Sprintf("duplicate: live job %d already has unique key nightly\n", first)
	if r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	if n := countJobs(t, d); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
}

func TestEnqueueBatch(t *testing.T) {
	d, c := setup(t)
	var in strings.Builder
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&in, `{"kind":"noop","args":{"sleep_ms":%d},"queue":"q%d"}`+"\n", i, i)
		if i == 2 {
			in.WriteString("\n   \n") // blank lines are skipped
		}
	}
	in.WriteString(`{"kind":"noop","in":"1h","unique_key":"u1","max_attempts":2,"requested_by":"ops"}`) // no final newline
	// Queues q1..q5 are not in the config and no worker serves them: --force.
	r := c.runIn(context.Background(), in.String(), "enqueue", "--batch", "--force")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("stdout %q: want 6 ids", r.stdout)
	}
	for i, l := range lines {
		id, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			t.Fatalf("line %d of stdout: %q", i+1, l)
		}
		var q, args, state string
		if err := d.DB.QueryRow("SELECT queue, args, state FROM iactq_jobs WHERE id = ?", id).Scan(&q, &args, &state); err != nil {
			t.Fatal(err)
		}
		if i < 5 {
			var a map[string]int
			_ = json.Unmarshal([]byte(args), &a)
			if q != fmt.Sprintf("q%d", i+1) || a["sleep_ms"] != i+1 {
				t.Errorf("id %d (line %d): queue %s args %s: not in input order", id, i+1, q, args)
			}
		} else if state != "scheduled" {
			t.Errorf("last job: state %s, want scheduled", state)
		}
	}

	before := countJobs(t, d)
	bad := `{"kind":"noop"}` + "\n" + `{"kind":"noop"}` + "\n" + `{"kind":"noop","args":{"sleep_ms":"x"}}` + "\n" + `{"kind":"noop"}` + "\n"
	for _, input := range []string{
		bad,
		`{"kind":"noop"}` + "\n\n" + `{"kind":"noop","colour":"red"}` + "\n",
		`{"kind":"noop"}` + "\n" + `{"kind":"noop"}` + "\n" + `not json` + "\n",
		`{"kind":"noop"}` + "\n" + `{"kind":"noop"}` + "\n" + `{"kind":"nope"}` + "\n",
		`{"kind":"noop"}` + "\n" + `{"kind":"noop"}` + "\n" + `{"kind":"noop","at":"2030-01-01T00:00:00Z","in":"1m"}` + "\n",
		`{"kind":"noop"}` + "\n" + `{"kind":"noop"}` + "\n" + `{"kind":"noop","max_attempts":0}` + "\n",
	} {
		r := c.runIn(context.Background(), input, "enqueue", "--batch")
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "line 3") {
			t.Errorf("bad line 3: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	}
	if n := countJobs(t, d); n != before {
		t.Fatalf("a failed batch wrote %d jobs", n-before)
	}
}

func TestEnqueueBatchLongLines(t *testing.T) {
	d, c := setup(t)
	// Lines far over bufio.Scanner's 64 KiB default are read whole.
	long := `{"kind":"noop","args":{"sleep_ms":1},"requested_by":"ops"}` + strings.Repeat(" ", 300<<10)
	r := c.runIn(context.Background(), long+"\n"+long, "enqueue", "--batch")
	if r.code != 0 || len(strings.Fields(r.stdout)) != 2 {
		t.Fatalf("300 KiB lines: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	tooLong := `{"kind":"noop"}` + strings.Repeat(" ", 3<<20)
	r = c.runIn(context.Background(), `{"kind":"noop"}`+"\n"+tooLong+"\n", "enqueue", "--batch")
	if r.code != 2 || !strings.Contains(r.stderr, "line 2") || r.stdout != "" {
		t.Fatalf("3 MiB line: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := countJobs(t, d); n != 2 {
		t.Fatalf("%d jobs, want 2", n)
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	t.Parallel()
	const pw = "s3cretpw"
	unreachable := "user:" + pw + "@tcp(127.0.0.1:1)/x"
	malformed := "user:" + pw + "@tcp(127.0.0.1:1/x"
	for _, tc := range []struct {
		env  map[string]string
		args []string
		code int
	}{
		{map[string]string{"IACTQ_DSN": unreachable}, []string{"jobs", "list"}, 1},
		{map[string]string{"IACTQ_DSN": unreachable}, []string{"enqueue", "noop"}, 1},
		{map[string]string{"IACTQ_DSN": unreachable}, []string{"migrate"}, 1},
		{map[string]string{"IACTQ_DSN": unreachable}, []string{"--log-level", "debug", "queues", "list"}, 1},
		{map[string]string{}, []string{"--dsn", unreachable, "priorities"}, 1},
		{map[string]string{}, []string{"--dsn=" + unreachable, "messages"}, 1},
		{map[string]string{"IACTQ_DSN": malformed}, []string{"jobs", "list"}, 2},
		{map[string]string{}, []string{"--dsn", malformed, "enqueue", "noop"}, 2},
		{map[string]string{"IACTQ_DSN": unreachable}, []string{"--help"}, 0},
		{map[string]string{"IACTQ_DSN": unreachable}, []string{"config", "show"}, 0},
		{map[string]string{"IACTQ_DSN": unreachable}, []string{"enqueue", "--help"}, 0},
	} {
		c := cli{t: t, env: tc.env}
		r := c.run(tc.args...)
		if r.code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, r.code, tc.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, pw) {
			t.Errorf("%v: password printed:\nstdout: %s\nstderr: %s", tc.args, r.stdout, r.stderr)
		}
		if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); tc.code != 0 && !strings.HasPrefix(lines[len(lines)-1], "iactq: ") {
			t.Errorf("%v: stderr %q", tc.args, r.stderr)
		}
	}
}

func TestJobsShowRetryCancel(t *testing.T) {
	_, c := setup(t)
	id := parseIDOut(t, c.ok("enqueue", "noop", "--args", `{"sleep_ms": 7}`, "--in", "1h", "--requested-by", "analyst", "--unique-key", "k1"))
	ids := strconv.FormatInt(id, 10)

	out := c.ok("jobs", "show", ids)
	for _, want := range []string{"kind:", "noop", "scheduled", `"sleep_ms": 7`, "analyst", "k1", "errors: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("jobs show: no %q in\n%s", want, out)
		}
	}
	var j jobJSON
	if err := json.Unmarshal([]byte(c.ok("jobs", "show", ids, "--json")), &j); err != nil {
		t.Fatal(err)
	}
	if j.ID != id || j.State != "scheduled" || j.RequestedBy == nil || *j.RequestedBy != "analyst" || j.Errors == nil {
		t.Fatalf("jobs show --json: %+v", j)
	}

	if out := c.ok("jobs", "list", "--state", "scheduled"); !strings.Contains(out, ids) {
		t.Errorf("jobs list: no job %d in\n%s", id, out)
	}
	var list []jobJSON
	if err := json.Unmarshal([]byte(c.ok("jobs", "list", "--json", "--kind", "noop")), &list); err != nil || len(list) != 1 {
		t.Fatalf("jobs list --json: %v %+v", err, list)
	}

	if out := c.ok("jobs", "cancel", ids); !strings.Contains(out, "cancelled") {
		t.Errorf("cancel printed %q", out)
	}
	// A cancelled job leaves the promotion index (available_at is only set while a
	// job waits to become available).
	if err := json.Unmarshal([]byte(c.ok("jobs", "show", ids, "--json")), &j); err != nil {
		t.Fatal(err)
	}
	if j.AvailableAt != nil {
		t.Errorf("cancelled job: available_at %s, want none", *j.AvailableAt)
	}
	r := c.run("jobs", "cancel", ids)
	if r.code != 1 || !strings.Contains(r.stderr, "already cancelled") {
		t.Errorf("second cancel: exit %d, %q", r.code, r.stderr)
	}
	if out := c.ok("jobs", "retry", ids); !strings.Contains(out, "available") {
		t.Errorf("retry printed %q", out)
	}
	r = c.run("jobs", "retry", ids)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "iactq: job "+ids+" is available") {
		t.Errorf("retry of an available job: exit %d, %q", r.code, r.stderr)
	}
	for _, cmd := range []string{"show", "retry", "cancel"} {
		r := c.run("jobs", cmd, "999999")
		if r.code != 1 || r.stderr != "iactq: job 999999 not found\n" {
			t.Errorf("jobs %s 999999: exit %d, %q", cmd, r.code, r.stderr)
		}
	}

	// The cancellation told the requester.
	out = c.ok("messages", "--to", "analyst", "--unread")
	if !strings.Contains(out, "to analyst") || !strings.Contains(out, fmt.Sprintf("job %d", id)) {
		t.Fatalf("messages:\n%s", out)
	}
	c.ok("messages", "--to", "analyst", "--unread", "--mark-read")
	if out := c.ok("messages", "--to", "analyst", "--unread"); out != "no messages\n" {
		t.Fatalf("after --mark-read: %q", out)
	}
	var msgs []map[string]any
	if err := json.Unmarshal([]byte(c.ok("messages", "--json")), &msgs); err != nil || len(msgs) != 1 || msgs[0]["read_at"] == nil {
		t.Fatalf("messages --json: %v %v", err, msgs)
	}
}

func TestQueuesPauseResume(t *testing.T) {
	_, c := setup(t)
	c.ok("enqueue", "noop", "--queue", "reports")
	if out := c.ok("queues", "pause", "reports"); out != "queue reports is paused\n" {
		t.Errorf("pause printed %q", out)
	}
	type q struct {
		Name   string           `json:"name"`
		Paused bool             `json:"paused"`
		Counts map[string]int64 `json:"counts"`
	}
	var qs []q
	if err := json.Unmarshal([]byte(c.ok("queues", "list", "--json")), &qs); err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Name != "reports" || !qs[0].Paused || qs[0].Counts["available"] != 1 {
		t.Fatalf("queues list --json: %+v", qs)
	}
	if out := c.ok("queues", "list"); !strings.Contains(out, "since") {
		t.Errorf("queues list does not show the pause:\n%s", out)
	}
	c.ok("queues", "resume", "reports")
	qs = nil
	_ = json.Unmarshal([]byte(c.ok("queues", "list", "--json")), &qs)
	if len(qs) != 1 || qs[0].Paused {
		t.Fatalf("after resume: %+v", qs)
	}
	if r := c.run("queues", "pause", "bad queue"); r.code != 2 {
		t.Fatalf("pause of an invalid name: exit %d", r.code)
	}
}

func TestPrioritiesAndSchedules(t *testing.T) {
	_, c := setup(t)
	for i := 0; i < 3; i++ {
		c.ok("enqueue", "noop")
	}
	out := c.ok("priorities")
	if !strings.HasPrefix(out, "OVERDUE 0  URGENT 0  NORMAL 3") || !strings.Contains(out, "SLA-LEFT") {
		t.Fatalf("priorities:\n%s", out)
	}
	var ps []map[string]any
	if err := json.Unmarshal([]byte(c.ok("priorities", "--json", "--limit", "2")), &ps); err != nil || len(ps) != 2 {
		t.Fatalf("priorities --json: %v %v", err, ps)
	}
	if out := c.ok("schedules"); !strings.Contains(out, "session_cleanup") || !strings.Contains(out, "health_check") {
		t.Fatalf("schedules with no schedulable kinds: %q", out)
	}
	if out := c.ok("workers"); !strings.Contains(out, "no workers") {
		t.Fatalf("workers: %q", out)
	}
}

func TestMigrate(t *testing.T) {
	d, _ := setup(t)
	c := cli{t: t, env: map[string]string{"IACTQ_DSN": d.AdminDSN}}
	// queuetest migrated already: nothing to apply, however often.
	for i := 0; i < 2; i++ {
		if out := c.ok("migrate"); out != "schema is up to date\n" {
			t.Fatalf("migrate: %q", out)
		}
	}
	out := c.ok("migrate", "--status")
	if !strings.Contains(out, "00001_queue.sql") || strings.Contains(out, "pending") {
		t.Fatalf("migrate --status:\n%s", out)
	}
}
