package main

import (
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/iact/iactq/queue"
)

// Enqueueing into a queue that neither the config lists nor a live worker serves is
// refused (exit 2, naming the known queues, nothing written) unless --force is given;
// a queue a live worker serves is accepted.
func TestEnqueueIntoUnknownQueueRefused(t *testing.T) {
	d, c := setup(t)
	r := c.run("enqueue", "noop", "--queue", "reprots")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, `queue "reprots" is not known`) ||
		!strings.Contains(r.stderr, "known queues: default, maintenance, reports") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = c.runIn(t.Context(), `{"kind":"noop"}`+"\n"+`{"kind":"noop","queue":"reprots"}`+"\n", "enqueue", "--batch")
	if r.code != 2 || !strings.Contains(r.stderr, `line 2: queue "reprots" is not known`) {
		t.Fatalf("batch: exit %d stderr %q", r.code, r.stderr)
	}
	if n := countJobs(t, d); n != 0 {
		t.Fatalf("%d jobs written", n)
	}
	parseIDOut(t, c.ok("enqueue", "noop", "--queue", "reprots", "--force"))
	c.runIn(t.Context(), `{"kind":"noop","queue":"reprots"}`+"\n", "enqueue", "--batch", "--force")
	// A queue served by a live worker only (not in the config) is known.
	registerWorker(t, d.DB, "adhoc=2", "noop")
	parseIDOut(t, c.ok("enqueue", "noop", "--queue", "adhoc"))
	if n := countJobs(t, d); n != 3 {
		t.Fatalf("%d jobs, want 3", n)
	}
}

// Pausing or resuming a queue nobody knows is refused unless --force is given; a
// queue that has jobs is known.
func TestPauseUnknownQueueRefused(t *testing.T) {
	_, c := setup(t)
	for _, verb := range []string{"pause", "resume"} {
		r := c.run("queues", verb, "nosuchqueue")
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, `queue "nosuchqueue" is not known`) ||
			!strings.Contains(r.stderr, "known queues: default, maintenance, reports") {
			t.Fatalf("%s: exit %d stdout %q stderr %q", verb, r.code, r.stdout, r.stderr)
		}
	}
	if out := c.ok("queues", "list"); strings.Contains(out, "nosuchqueue") {
		t.Fatalf("the refused pause left a row:\n%s", out)
	}
	if out := c.ok("queues", "pause", "nosuchqueue", "--force"); out != "queue nosuchqueue is paused\n" {
		t.Fatalf("pause --force: %q", out)
	}
	// Now known (paused): resuming needs no --force.
	c.ok("queues", "resume", "nosuchqueue")
	c.ok("enqueue", "noop", "--queue", "odd", "--force")
	c.ok("queues", "pause", "odd")
}

// On a database that was never migrated, every command says to run 'iactq migrate'
// instead of the server's "Table ... doesn't exist".
func TestUnmigratedSchemaSaysMigrate(t *testing.T) {
	d, c := setup(t)
	admin, err := queue.OpenDB(d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, stmt := range []string{"DROP DATABASE " + d.Name, "CREATE DATABASE " + d.Name} {
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"enqueue", "noop"},
		{"priorities"},
		{"priorities", "--explain", "1"},
		{"jobs", "list"},
		{"queues", "list"},
		{"queues", "pause", "default"},
		{"messages"},
		{"workers"},
		{"schedules"},
	} {
		r := c.run(args...)
		if r.code != 1 || !strings.Contains(r.stderr, "run 'iactq migrate' first") || strings.Contains(r.stderr, "doesn't exist") {
			t.Errorf("iactq %s: exit %d stderr %q; want exit 1 saying to run iactq migrate", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// priorities flags the jobs no live worker takes: of a kind no live worker runs, or
// in a queue no live worker serves; so do --explain and --json.
func TestPrioritiesFlagStrandedJobs(t *testing.T) {
	d, c := setup(t)
	registerWorker(t, d.DB, "default=2", "noop,health_check")
	d.Exec(t, `INSERT INTO iactq_jobs (kind, queue) VALUES ('call_recording_export', 'default'), ('noop', 'reprots'), ('noop', 'default')`)
	out := c.ok("priorities")
	for _, want := range []string{
		"! 1 job(s) of kind call_recording_export wait: no live worker runs it",
		"discarded after unknown_kind_grace (1h)",
		"! 1 job(s) wait in queue reprots: no live worker serves it (live workers serve: default)",
		"NOTE", "no worker runs kind", "no worker serves queue",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("priorities lacks %q:\n%s", want, out)
		}
	}
	var ps []queue.Priority
	if err := json.Unmarshal([]byte(c.ok("priorities", "--json")), &ps); err != nil {
		t.Fatal(err)
	}
	flags := map[string][2]bool{}
	for _, p := range ps {
		flags[p.Kind+"@"+p.Queue] = [2]bool{p.NoWorkerRunsKind, p.NoWorkerServesQueue}
	}
	want := map[string][2]bool{"call_recording_export@default": {true, false}, "noop@reprots": {false, true}, "noop@default": {false, false}}
	for k, w := range want {
		if flags[k] != w {
			t.Errorf("%s: flags %v, want %v", k, flags[k], w)
		}
	}
	var id int64
	if err := d.DB.QueryRow(`SELECT id FROM iactq_jobs WHERE kind = 'call_recording_export'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	out = c.ok("priorities", "--explain", strconv.FormatInt(id, 10))
	if !strings.Contains(out, "no live worker runs kind call_recording_export") || !strings.Contains(out, "it is discarded") {
		t.Errorf("explain:\n%s", out)
	}
}

// registerWorker adds a live worker registration serving queues and running kinds.
func registerWorker(t *testing.T, db *sql.DB, queues, kinds string) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO iactq_workers (host, pid, queues, kinds) VALUES ('test', 1, ?, ?)`, queues, kinds); err != nil {
		t.Fatal(err)
	}
}
