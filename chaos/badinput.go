package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/iact/iactq/queue"
)

// badInputConfig is the workers' config: quick retries, so that a job caught in a
// retry loop would show it within the scenario, and no schedules (no job appears
// that the scenario did not insert); jobs of unknown kinds are discarded at once.
const badInputConfig = `queues: {default: 8}
poll_interval: 20ms
heartbeat_interval: 1s
rescue_after: 10s
shutdown_grace: 5s
retry: {initial: 100ms, max: 1s, jitter: 0.3}
unknown_kind_grace: 0s
schedules: []
`

// sqlMeta is SQL that would do damage if it were ever pasted into a statement.
const sqlMeta = `'; DROP TABLE iactq_jobs; -- " OR "1"="1`

// badCLI is a bad `iactq enqueue` and what its message must say.
type badCLI struct {
	name string
	args []string
	want string
}

// cliArgsLimit is max_args_bytes in the config of the CLI's bad enqueues: a
// command-line argument holds at most 128 KiB, under the default limit.
const cliArgsLimit = 65536

func badCLIInputs() []badCLI {
	big := `{"sleep_ms":1,"x":"` + strings.Repeat("a", cliArgsLimit) + `"}`
	return []badCLI{
		{"args over max_args_bytes", []string{"noop", "--args", big}, fmt.Sprintf("over the limit of %d", cliArgsLimit)},
		{"args invalid UTF-8", []string{"noop", "--args", "{\"sleep_ms\":1,\"\xff\":1}"}, "not valid UTF-8"},
		{"args invalid JSON", []string{"noop", "--args", `{"sleep_ms":`}, "not valid JSON"},
		{"args null", []string{"noop", "--args", `null`}, "must be a JSON object"},
		{"args with SQL", []string{"noop", "--args", `{"sleep_ms":"1; DROP TABLE iactq_jobs"}`}, "invalid args for noop"},
		{"args unknown field", []string{"noop", "--args", `{"command":"rm -rf /"}`}, `unknown field "command"`},
		{"kind of 5000 chars", []string{strings.Repeat("k", 5000)}, "unknown kind"},
		{"kind with SQL", []string{"noop" + sqlMeta}, "unknown kind"},
		{"kind invalid UTF-8", []string{"no\xffop"}, "unknown kind"},
		{"queue with spaces", []string{"noop", "--queue", "my queue"}, `invalid queue name "my queue"`},
		{"queue of 101 chars", []string{"noop", "--queue", strings.Repeat("q", 101)}, "invalid queue name"},
		{"queue with SQL", []string{"noop", "--queue", sqlMeta}, "invalid queue name"},
		{"unique key of 256 bytes", []string{"noop", "--unique-key", strings.Repeat("u", 256)}, "unique key"},
		{"requested-by invalid UTF-8", []string{"noop", "--requested-by", "an\xffalyst"}, "requested-by"},
		{"--at 2040", []string{"noop", "--at", "2040-01-01T00:00:00Z"}, "out of range"},
		{"--at 1960", []string{"noop", "--at", "1960-01-01T00:00:00Z"}, "out of range"},
		{"--at year 0", []string{"noop", "--at", "0000-01-01T00:00:00Z"}, "out of range"},
		{"--in 1000000h", []string{"noop", "--in", "1000000h"}, "out of range"},
		{"--in overflowing", []string{"noop", "--in", "99999999999h"}, "invalid delay"},
		{"--max-attempts 0", []string{"noop", "--max-attempts", "0"}, "out of range"},
		{"--max-attempts huge", []string{"noop", "--max-attempts", "99999999999999999999"}, "max-attempts"},
	}
}

// badLine is a bad line of `iactq enqueue --batch`, sent after two good lines: the
// message must name line 3 and say want.
type badLine struct{ name, line, want string }

func badBatchLines() []badLine {
	line := func(fields map[string]any) string {
		b, _ := json.Marshal(fields)
		return string(b)
	}
	return []badLine{
		{"args over 1 MiB", line(map[string]any{"kind": "noop", "args": map[string]any{"x": strings.Repeat("a", 1<<20)}}), "over the limit"},
		{"line over 2 MiB", line(map[string]any{"kind": "noop", "args": map[string]any{"x": strings.Repeat("a", 3<<20)}}), "longer than"},
		{"invalid UTF-8", "{\"kind\":\"noop\",\"requested_by\":\"\xff\"}", "UTF-8"},
		{"invalid JSON", `{"kind":"noop",`, ""},
		{"kind with SQL", line(map[string]any{"kind": "noop" + sqlMeta}), "unknown kind"},
		{"queue with spaces", line(map[string]any{"kind": "noop", "queue": "my queue"}), "invalid queue name"},
		{"at 2040", line(map[string]any{"kind": "noop", "at": "2040-01-01T00:00:00Z"}), "out of range"},
		{"max_attempts overflowing", `{"kind":"noop","max_attempts":99999999999999999999}`, "not a JSON object of a job"},
		{"NUL bytes", "\x00\x00", "not a JSON object of a job"},
	}
}

// badAPI is a bad call of the Go API and what its ValidationError must say.
type badAPI struct {
	name string
	p    queue.InsertParams
	want string
}

func badAPIInputs() []badAPI {
	noop := func(args string) queue.InsertParams {
		return queue.InsertParams{Kind: "noop", Args: json.RawMessage(args)}
	}
	return []badAPI{
		{"args over 1 MiB", queue.InsertParams{Kind: "noop", Args: map[string]string{"x": strings.Repeat("x", 1<<20)}}, "over the limit of 1048576"},
		{"args over 1 MiB, raw", noop(`{"x":"` + strings.Repeat("x", 1<<20) + `"}`), "over the limit of 1048576"},
		{"args invalid UTF-8", queue.InsertParams{Kind: "noop", Args: []byte("{\"x\":\"\xff\xfe\"}")}, "not valid UTF-8"},
		{"args invalid JSON", noop(`{"sleep_ms":`), "not valid JSON"},
		{"args an array", noop(`[1]`), "must be a JSON object"},
		{"args nested 40 deep", noop(`{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`), ""},
		{"args lone surrogate", noop(`{"x":"\ud800"}`), ""},
		{"args failing Validate", noop(`{"sleep_ms":-1}`), "out of range"},
		{"unknown kind", queue.InsertParams{Kind: "nope"}, `unknown kind "nope"`},
		{"kind of 10 000 chars", queue.InsertParams{Kind: strings.Repeat("k", 10000)}, "unknown kind"},
		{"kind with SQL", queue.InsertParams{Kind: "noop" + sqlMeta}, "unknown kind"},
		{"queue with a NUL", queue.InsertParams{Kind: "noop", Queue: "q\x00"}, "invalid queue name"},
		{"queue with SQL", queue.InsertParams{Kind: "noop", Queue: sqlMeta}, "invalid queue name"},
		{"unique key invalid UTF-8", queue.InsertParams{Kind: "noop", UniqueKey: "u\xff"}, "unique key"},
		{"requested-by of 256 bytes", queue.InsertParams{Kind: "noop", RequestedBy: strings.Repeat("r", 256)}, "requested-by"},
		{"max attempts 1001", queue.InsertParams{Kind: "noop", MaxAttempts: 1001}, "out of range"},
		{"at 2040", queue.InsertParams{Kind: "noop", ScheduledAt: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}, "out of range"},
		{"at 1970-01-01 00:00:00", queue.InsertParams{Kind: "noop", ScheduledAt: time.Unix(0, 0)}, "out of range"},
	}
}

// rawJob is a row inserted with plain SQL (as the worker user, past every check of the
// API) and what must become of it: "refused" by the server, or the final state, with
// reason in the error of its last attempt.
type rawJob struct {
	name              string
	kind, queue, args string // default noop, default, {}
	attempt           int
	maxAttempts       any    // an int; nil: the column's default (25)
	uniqueKey, by     string // default none, "chaos-raw"
	at, state         string // scheduled_at and state; default now, available
	lax               bool   // inserted in a session with sql_mode = ''
	want, reason      string
}

func rawJobs() []rawJob {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	return []rawJob{
		// The server refuses these itself.
		{name: "args invalid JSON", args: `{"sleep_ms":`, want: "refused"},
		{name: "args invalid UTF-8", args: "{\"x\":\"\xff\"}", want: "refused"},
		{name: "args nested 40 deep", args: `{"x":` + deep(40) + `}`, want: "refused"},
		{name: "kind of 101 chars", kind: strings.Repeat("k", 101), want: "refused"},
		{name: "queue of 101 chars", queue: strings.Repeat("q", 101), want: "refused"},
		{name: "unique key of 256 chars", uniqueKey: strings.Repeat("u", 256), want: "refused"},
		{name: "at 2040", at: "2040-01-01 00:00:00", want: "refused"},
		{name: "at 1960", at: "1960-01-01 00:00:00", want: "refused"},
		{name: "state not in the enum", state: "sleeping", want: "refused"},
		// The server takes these; the worker discards each at once, with the reason.
		{name: "args of 2 MiB", args: `{"sleep_ms":1,"x":"` + strings.Repeat("x", 2<<20) + `"}`, want: "discarded", reason: "over the limit"},
		{name: "unknown kind of 100 chars", kind: strings.Repeat("k", 100), want: "discarded", reason: `unknown kind "kkkk`},
		{name: "kind with SQL", kind: "x" + sqlMeta, want: "discarded", reason: "unknown kind"},
		{name: "kind with a newline", kind: "noop\n", want: "discarded", reason: "unknown kind"},
		{name: "kind in capitals", kind: "NOOP", want: "discarded", reason: `unknown kind "NOOP"`},
		{name: "args an array", args: `[1, 2]`, want: "discarded", reason: "args must be a JSON object"},
		{name: "args null", args: `null`, want: "discarded", reason: "args must be a JSON object"},
		{name: "args a number", args: `42`, want: "discarded", reason: "args must be a JSON object"},
		{name: "args with SQL in a field", args: `{"sql": "DROP TABLE iactq_jobs"}`, want: "discarded", reason: `unknown field "sql"`},
		{name: "args of the wrong type", args: `{"sleep_ms": "three"}`, want: "discarded", reason: "invalid args"},
		{name: "args failing Validate", args: `{"sleep_ms": -1}`, want: "discarded", reason: "out of range"},
		{name: "args with a 40 KB field name", args: `{"` + strings.Repeat("\\u00e9", 20000) + `": 1}`, want: "discarded", reason: "unknown field"},
		{name: "args nested 30 deep", args: `{"sleep_ms": ` + deep(30) + `}`, want: "discarded", reason: "invalid args"},
		// Odd but runnable: these run, once.
		{name: "attempt at INT max", attempt: 2147483647, want: "completed"},
		{name: "attempt at INT max, panicking", attempt: 2147483647, args: `{"panic": true}`, want: "discarded", reason: "panic"},
		{name: "max_attempts 0, panicking", maxAttempts: 0, args: `{"panic": true}`, want: "discarded", reason: "panic"},
		{name: "max_attempts negative", maxAttempts: -5, want: "completed"},
		{name: "zero date", at: "0000-00-00 00:00:00", want: "completed"},
		{name: "zero date, lax session", at: "0000-00-00 00:00:00", lax: true, want: "completed"},
		{name: "SQL in unique key and requester", uniqueKey: "raw" + sqlMeta, by: sqlMeta, want: "completed"},
		{name: "args with SQL in a value", args: `{"sleep_ms": 1, "panic": false}`, uniqueKey: "k" + sqlMeta, want: "completed"},
		// No worker can be configured to work a queue named so: it waits, visible.
		{name: "queue with spaces and quotes", queue: `bad 'queue'`, want: "available"},
	}
}

// BadInput is scenario 4: worker processes (the iactq binary, as the worker user)
// drain good jobs while bad input arrives through every door: `iactq enqueue` (one job
// and --batch) must exit 2 with a clear message and write nothing, the Go API must
// return a ValidationError and write nothing, and rows inserted with plain SQL must be
// refused by the server, discarded at once with the reason, or run once where they
// are merely odd. No worker may exit, no good job be lost or run twice, and no bad job
// be left waiting or retried in a loop. The full run also runs each fuzz target.
func BadInput(ctx context.Context, o Options) (*Result, error) {
	workers, n, fuzzTime := 3, 20_000, 20*time.Second
	if o.Short {
		workers, n, fuzzTime = 2, 2000, 0
	}
	r := &Result{Scenario: "4 bad input"}
	began := time.Now()
	defer func() { r.Elapsed = time.Since(began) }()

	db, client, err := newDatabaseWithClient(ctx, o.Server)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	f, err := newFleet(o.Bin, filepath.Join(o.Dir, "badinput"), badInputConfig, "IACTQ_DSN="+db.WorkerDSN)
	if err != nil {
		return nil, err
	}
	defer f.killAll()
	if err := f.startN(workers); err != nil {
		return nil, err
	}
	want, err := insertMixedJobs(ctx, client, n, n/1000, 5, rand.NewPCG(7, 8))
	if err != nil {
		return nil, err
	}
	o.logf("badinput: %d good jobs inserted, %d workers", n, workers)

	var viaCLI, viaBatch, viaAPI, viaSQL int
	env := []string{"IACTQ_DSN=" + db.WorkerDSN}
	jobCount := func() int { return count(ctx, db.DB, `SELECT COUNT(*) FROM iactq_jobs`) }
	before := jobCount()

	// The CLI, one job at a time, with a lower max_args_bytes.
	cliConfig := filepath.Join(f.dir, "cli.yaml")
	if err := os.WriteFile(cliConfig, []byte(fmt.Sprintf("max_args_bytes: %d\n", cliArgsLimit)), 0o600); err != nil {
		return nil, err
	}
	for _, tc := range badCLIInputs() {
		viaCLI++
		res := runCLI(ctx, o.Bin, append(env, "IACTQ_CONFIG="+cliConfig), "", 0, append([]string{"enqueue"}, tc.args...)...)
		if res.code != 2 || res.stdout != "" || !strings.HasPrefix(res.stderr, "iactq: ") || !strings.Contains(res.stderr, tc.want) || len(res.stderr) > 1000 {
			r.fail("enqueue, %s: exit %d, stdout %q, stderr %q; want exit 2 and one short message with %q", tc.name, res.code, abbreviate(res.stdout, 100), abbreviate(res.stderr, 200), tc.want)
		}
	}
	// --batch: the bad line after two good ones.
	good := `{"kind":"noop"}` + "\n"
	for _, tc := range badBatchLines() {
		viaBatch++
		res := runCLI(ctx, o.Bin, env, good+good+tc.line+"\n"+good, 0, "enqueue", "--batch")
		if res.code != 2 || res.stdout != "" || !strings.HasPrefix(res.stderr, "iactq: line 3") || !strings.Contains(res.stderr, tc.want) || len(res.stderr) > 1000 {
			r.fail("enqueue --batch, %s: exit %d, stdout %q, stderr %q; want exit 2, 'line 3' and %q", tc.name, res.code, abbreviate(res.stdout, 100), abbreviate(res.stderr, 200), tc.want)
		}
	}
	// The Go API, alone and among good jobs.
	for _, tc := range badAPIInputs() {
		viaAPI++
		var ve *queue.ValidationError
		if _, err := client.Insert(ctx, tc.p); !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 600 {
			r.fail("Insert, %s: err = %v; want a short ValidationError with %q", tc.name, abbreviate(fmt.Sprint(err), 200), tc.want)
		}
		ok := queue.InsertParams{Kind: "noop"}
		if _, err := client.InsertMany(ctx, []queue.InsertParams{ok, tc.p, ok}); !errors.As(err, &ve) || !strings.HasPrefix(err.Error(), "job 2: ") {
			r.fail("InsertMany, %s among good jobs: err = %v; want a ValidationError for job 2", tc.name, abbreviate(fmt.Sprint(err), 200))
		}
	}
	if after := jobCount(); after != before {
		r.fail("refused input wrote %d jobs", after-before)
	}
	o.logf("badinput: %d bad enqueues, %d bad --batch lines, %d bad API calls refused", viaCLI, viaBatch, viaAPI)

	// Odd but valid input through the CLI: stored byte for byte, run once.
	res := runCLI(ctx, o.Bin, env, "", 0, "enqueue", "noop", "--args", `{"sleep_ms":1}`, "--unique-key", sqlMeta, "--requested-by", sqlMeta)
	viaCLI++
	batch := strings.Repeat(`{"kind":"noop","args":{"sleep_ms":1},"requested_by":"chaos-batch \"--\"; SELECT 1"}`+"\n", 50)
	resBatch := runCLI(ctx, o.Bin, env, batch, 0, "enqueue", "--batch")
	viaBatch++
	ids := strings.Fields(res.stdout + resBatch.stdout)
	if res.code != 0 || resBatch.code != 0 || len(ids) != 51 {
		r.fail("good enqueues with SQL in their strings: exit %d and %d, %d ids; stderr %q %q", res.code, resBatch.code, len(ids), abbreviate(res.stderr, 200), abbreviate(resBatch.stderr, 200))
	}
	for _, s := range ids {
		var id int64
		if _, err := fmt.Sscan(s, &id); err == nil {
			want[id] = "completed"
		}
	}
	if len(ids) > 0 {
		var key, by string
		err := db.DB.QueryRowContext(ctx, `SELECT unique_key, requested_by FROM iactq_jobs WHERE id = ?`, ids[0]).Scan(&key, &by)
		if err != nil || key != sqlMeta || by != sqlMeta {
			r.fail("job %s: stored unique_key %q requested_by %q (%v), want %q", ids[0], key, by, err, sqlMeta)
		}
	}

	// Plain SQL, as the worker user.
	lax, err := withParam(db.WorkerDSN, "sql_mode", "''")
	if err != nil {
		return nil, err
	}
	laxDB, err := queue.OpenDB(lax)
	if err != nil {
		return nil, err
	}
	defer laxDB.Close()
	raw := map[int64]rawJob{}
	initial := map[int64]int{}
	for _, j := range rawJobs() {
		viaSQL++
		if j.kind == "" {
			j.kind = "noop"
		}
		if j.queue == "" {
			j.queue = "default"
		}
		if j.args == "" {
			j.args = "{}"
		}
		if j.by == "" {
			j.by = "chaos-raw"
		}
		conn := db.DB
		if j.lax {
			conn = laxDB
		}
		res, err := conn.ExecContext(ctx, `INSERT INTO iactq_jobs (kind, queue, args, attempt, max_attempts, unique_key, requested_by, scheduled_at, state)
			VALUES (?, ?, ?, ?, COALESCE(?, 25), NULLIF(?, ''), ?, COALESCE(NULLIF(?, ''), CURRENT_TIMESTAMP(6)), COALESCE(NULLIF(?, ''), 'available'))`,
			j.kind, j.queue, j.args, j.attempt, j.maxAttempts, j.uniqueKey, j.by, j.at, j.state)
		switch {
		case j.want == "refused" && err == nil:
			r.fail("plain SQL, %s: the server took it", j.name)
		case j.want == "refused":
		case err != nil:
			r.fail("plain SQL, %s: the server refused it: %v", j.name, err)
		default:
			id, _ := res.LastInsertId()
			raw[id], initial[id], want[id] = j, j.attempt, j.want
		}
	}
	if after := jobCount(); after != before+len(raw)+len(ids) {
		r.fail("%d jobs after the plain SQL inserts, want %d", after, before+len(raw)+len(ids))
	}
	o.logf("badinput: %d rows inserted with plain SQL (%d refused by the server); waiting for the drain", len(raw), viaSQL-len(raw))

	pending := `SELECT COUNT(*) FROM iactq_jobs WHERE state NOT IN ('completed', 'discarded', 'cancelled') AND queue = 'default'`
	timeout := 10 * time.Minute
	if o.Short {
		timeout = 3 * time.Minute
	}
	if !waitFor(ctx, timeout, func() bool { return count(ctx, db.DB, pending) == 0 }) {
		r.fail("jobs of queue default not all finished within %s", timeout)
	}
	time.Sleep(time.Second) // a bad job caught in a retry loop would run again by now
	f.stopInto(r)

	all, err := loadJobs(ctx, db.DB)
	if err != nil {
		return nil, err
	}
	execs, err := readJournal(f.journal)
	if err != nil {
		return nil, err
	}
	r.Jobs = len(want)
	checkFinal(r, all, want)
	checkOverlaps(r, execs, all, nil)
	checkMessages(r, all)
	runs := map[int64]int{}
	for _, x := range execs {
		runs[x.JobID]++
	}
	// The fencing checks want a journaled execution behind every discard: bad
	// input is discarded before it runs, so they see the jobs that ran.
	ran := map[int64]*jobRow{}
	for id, j := range all {
		if raw[id].want != "discarded" || raw[id].reason == "panic" {
			ran[id] = j
		}
	}
	checkFencing(r, execs, ran, func(execution) bool { return false })
	for id, j := range raw {
		row := all[id]
		if row == nil {
			continue // reported as lost
		}
		if tries := row.Attempt - initial[id]; runs[id] > 1 || len(row.Errors) > 1 || tries > 1 {
			r.fail("plain SQL, %s (job %d): %d executions, %d errors, attempt %d from %d: want at most one", j.name, id, runs[id], len(row.Errors), row.Attempt, initial[id])
		}
		if j.reason != "" {
			e, ok := row.errorOf(row.Attempt)
			if !ok || !strings.Contains(e.Error, j.reason) {
				r.fail("plain SQL, %s (job %d): %s with error %q; want the reason %q", j.name, id, row.State, abbreviate(e.Error, 200), j.reason)
			}
		}
		if j.want == "available" {
			if row.Attempt != 0 || count(ctx, db.DB, `SELECT COUNT(*) FROM iactq_priorities WHERE id = ?`, id) != 1 {
				r.fail("plain SQL, %s (job %d): attempt %d, or not in iactq_priorities: want it waiting, visible", j.name, id, row.Attempt)
			}
		}
	}
	var longest int
	_ = db.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(LENGTH(errors)), 0) FROM iactq_jobs`).Scan(&longest)
	if longest > 9<<10 {
		r.fail("a job's errors are %d bytes long: over the 8 KiB kept per error", longest)
	}

	r.Faults = viaCLI + viaBatch + viaAPI + viaSQL
	r.FaultDetail = fmt.Sprintf("%d CLI, %d --batch, %d Go API, %d plain SQL", viaCLI, viaBatch, viaAPI, viaSQL)
	r.note("%d executions journaled; %d rows from plain SQL: %d refused by the server, the rest discarded at once with the reason, run once, or (a queue no worker may work) waiting visibly", len(execs), viaSQL, viaSQL-len(raw))
	if fuzzTime > 0 {
		fuzzTargets(ctx, o, r, fuzzTime)
	}
	return r, nil
}

// fuzzTarget is a go test -fuzz target and its package.
type fuzzTarget struct{ name, pkg string }

var fuzzTargets4 = []fuzzTarget{
	{"FuzzKindArgs", "./jobs"},
	{"FuzzEnqueueBatch", "./cmd/iactq"},
	{"FuzzInsertParams", "./queue"},
	{"FuzzParseDSN", "./queue"},
}

var fuzzExecs = regexp.MustCompile(`execs: ([0-9]+)`)

// fuzzDeadlineRace tells whether a failed `go test -fuzz` run is Go's coordinator
// race at the end of -fuzztime (golang/go issue 75804, fixed in Go 1.27): a target that
// fails with "context deadline exceeded" alone, while the machine starved its workers
// (executions per second falling to 0), with no failing input written, no panic and
// no failed check of the target's own.
func fuzzDeadlineRace(out string) bool {
	return strings.Contains(out, "context deadline exceeded") &&
		!strings.Contains(out, "Failing input written") &&
		!strings.Contains(out, "panic:") &&
		!strings.Contains(out, "_test.go:")
}

// fuzzTargets runs every fuzz target for d (against o.Server, for the ones that need
// a database); a failure is a failed check, with the crasher's report.
func fuzzTargets(ctx context.Context, o Options, r *Result, d time.Duration) {
	var done []string
	for _, t := range fuzzTargets4 {
		o.logf("badinput: fuzzing %s for %s", t.name, d)
		fuzz := func() ([]byte, error) {
			cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", d.String(), "-parallel", "2", t.pkg)
			cmd.Dir = o.Root
			cmd.Env = append(withoutIACTQ(os.Environ()), "IACTQ_TEST_ADMIN_DSN="+o.Server.AdminDSN, "IACTQ_TEST_WORKER_DSN="+o.Server.WorkerDSN)
			return cmd.CombinedOutput()
		}
		out, err := fuzz()
		if err != nil && fuzzDeadlineRace(string(out)) {
			// Go's fuzzing coordinator, not the target: fuzzed once more.
			r.note("%s: go test -fuzz failed at the end of -fuzztime with a bare \"context deadline exceeded\" and no input written (Go's coordinator race, golang/go issue 75804, fixed in Go 1.27); fuzzed once more", t.name)
			out, err = fuzz()
		}
		if err != nil {
			r.fail("go test -fuzz %s %s: %v\n%s", t.name, t.pkg, err, tailString(string(out), 1500))
			continue
		}
		execs := "?"
		if m := fuzzExecs.FindAllStringSubmatch(string(out), -1); len(m) > 0 {
			execs = m[len(m)-1][1]
		}
		done = append(done, fmt.Sprintf("%s %s execs", t.name, execs))
	}
	r.FaultDetail += fmt.Sprintf(", %d fuzz targets x %s", len(fuzzTargets4), d)
	r.note("fuzzed %s each, no failure: %s", d, strings.Join(done, ", "))
}
