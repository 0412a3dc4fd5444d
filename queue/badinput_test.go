package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// blobArgs is a kind that takes a free string (and free JSON), to carry whatever bad
// input a test needs as far as the database and the worker.
type blobArgs struct {
	Blob  string          `json:"blob"`
	N     int             `json:"n"`
	Fail  bool            `json:"fail"`
	Extra json.RawMessage `json:"extra,omitempty"`
}

func (blobArgs) Kind() string { return "blob" }

func (a blobArgs) Validate() error {
	if a.N < 0 {
		return errors.New("n must not be negative")
	}
	return nil
}

// blobBundle is a client running the blob kind, and what its jobs saw.
type blobBundle struct {
	db     *queuetest.DB
	client *queue.Client
	mu     sync.Mutex
	ran    []blobArgs
}

func blobRegistry(b *blobBundle) *queue.Registry {
	reg := queue.NewRegistry()
	queue.Register(reg, queue.WorkFunc[blobArgs](func(ctx context.Context, j *queue.Job[blobArgs]) error {
		if b != nil {
			b.mu.Lock()
			b.ran = append(b.ran, j.Args)
			b.mu.Unlock()
		}
		if j.Args.Fail {
			return errors.New("blob asked to fail")
		}
		return nil
	}))
	return reg
}

// newBlobBundle gives a test a fresh database and a fast-polling client on it. Retries
// are quick so that a job that loops would show it within the test.
func newBlobBundle(t *testing.T, cfg queue.Config) *blobBundle {
	t.Helper()
	b := &blobBundle{db: queuetest.New(t)}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	if cfg.Retry == (queue.RetryPolicy{}) {
		cfg.Retry = queue.RetryPolicy{Initial: 5 * time.Millisecond, Max: 10 * time.Millisecond}
	}
	c, err := queue.NewClient(b.db.DB, blobRegistry(b), cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	b.client = c
	return b
}

// work runs the client's workers until the test ends.
func (b *blobBundle) work(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.client.Work(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Work returned %v", err)
		}
	})
}

// finished waits until job id is finished and returns it.
func (b *blobBundle) finished(t *testing.T, id int64) *queue.JobRow {
	t.Helper()
	var j *queue.JobRow
	waitfor.True(t, 30*time.Second, func() bool {
		var err error
		if j, err = b.client.GetJob(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return j.State.Finished()
	}, func() string {
		return fmt.Sprintf("job %d is still %s, attempt %d (errors %s)", id, j.State, j.Attempt, j.Errors)
	})
	return j
}

func (b *blobBundle) countJobs(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.db.DB.QueryRow("SELECT COUNT(*) FROM iactq_jobs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mysqlErr is the server's error number of err, 0 if none.
func mysqlErr(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// TestInsertRefusesBadInput feeds the Go API every kind of bad input: each is a
// ValidationError with a clear message, and nothing is written, alone or in a batch
// with good jobs.
func TestInsertRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{})
	ctx := context.Background()
	overLimit := `{"blob":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, tc := range []struct {
		name string
		p    queue.InsertParams
		want string
	}{
		{"args over 1 MiB", queue.InsertParams{Kind: "blob", Args: json.RawMessage(overLimit)}, "over the limit of 1048576"},
		{"args over 1 MiB, as a value", queue.InsertParams{Args: blobArgs{Blob: strings.Repeat("x", 1<<20)}}, "over the limit of 1048576"},
		{"args invalid UTF-8", queue.InsertParams{Kind: "blob", Args: []byte("{\"blob\":\"\xff\xfe\"}")}, "not valid UTF-8"},
		{"args invalid JSON", queue.InsertParams{Kind: "blob", Args: json.RawMessage(`{"blob":`)}, "not valid JSON"},
		{"args trailing data", queue.InsertParams{Kind: "blob", Args: json.RawMessage(`{} {}`)}, "not valid JSON"},
		{"args an array", queue.InsertParams{Kind: "blob", Args: json.RawMessage(`[1]`)}, "must be a JSON object"},
		{"args null", queue.InsertParams{Kind: "blob", Args: json.RawMessage(`null`)}, "must be a JSON object"},
		{"args a string", queue.InsertParams{Kind: "blob", Args: json.RawMessage(`"{}"`)}, "must be a JSON object"},
		{"args whitespace", queue.InsertParams{Kind: "blob", Args: json.RawMessage(" \n")}, "not valid JSON"},
		{"args unknown field", queue.InsertParams{Kind: "blob", Args: json.RawMessage(`{"blob":"x","drop":"table"}`)}, `unknown field "drop"`},
		{"args failing Validate", queue.InsertParams{Kind: "blob", Args: json.RawMessage(`{"n":-1}`)}, "n must not be negative"},
		{"args number overflow", queue.InsertParams{Kind: "blob", Args: json.RawMessage(`{"n":1e400}`)}, "invalid args for blob"},
		{"unknown kind", queue.InsertParams{Kind: "nope"}, `unknown kind "nope"`},
		{"empty kind", queue.InsertParams{Kind: ""}, `unknown kind ""`},
		{"kind of 100 chars", queue.InsertParams{Kind: strings.Repeat("k", 100)}, "unknown kind"},
		{"kind of 10 000 chars", queue.InsertParams{Kind: strings.Repeat("k", 10000)}, "unknown kind"},
		{"kind with SQL", queue.InsertParams{Kind: "blob'; DROP TABLE iactq_jobs; --"}, "unknown kind"},
		{"kind invalid UTF-8", queue.InsertParams{Kind: "bl\xffob"}, "unknown kind"},
		{"queue with a space", queue.InsertParams{Kind: "blob", Queue: "bad queue"}, `invalid queue name "bad queue"`},
		{"queue of 101 chars", queue.InsertParams{Kind: "blob", Queue: strings.Repeat("q", 101)}, "invalid queue name"},
		{"queue with SQL", queue.InsertParams{Kind: "blob", Queue: "q' OR '1'='1"}, "invalid queue name"},
		{"queue with a NUL", queue.InsertParams{Kind: "blob", Queue: "q\x00"}, "invalid queue name"},
		{"queue with a newline", queue.InsertParams{Kind: "blob", Queue: "q\n"}, "invalid queue name"},
		{"queue non-ASCII", queue.InsertParams{Kind: "blob", Queue: "réports"}, "invalid queue name"},
		{"unique key of 256 bytes", queue.InsertParams{Kind: "blob", UniqueKey: strings.Repeat("u", 256)}, "unique key"},
		{"unique key invalid UTF-8", queue.InsertParams{Kind: "blob", UniqueKey: "u\xff"}, "unique key"},
		{"requested-by of 256 bytes", queue.InsertParams{Kind: "blob", RequestedBy: strings.Repeat("r", 256)}, "requested-by"},
		{"requested-by invalid UTF-8", queue.InsertParams{Kind: "blob", RequestedBy: "r\xc3"}, "requested-by"},
		{"max attempts negative", queue.InsertParams{Kind: "blob", MaxAttempts: -1}, "max attempts -1 is out of range"},
		{"max attempts 1001", queue.InsertParams{Kind: "blob", MaxAttempts: 1001}, "max attempts 1001 is out of range"},
		{"at 2040", queue.InsertParams{Kind: "blob", ScheduledAt: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}, "scheduled time 2040-01-01T00:00:00Z is out of range"},
		{"at 2038-01-19 03:14:08", queue.InsertParams{Kind: "blob", ScheduledAt: time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC)}, "out of range"},
		{"at 1960", queue.InsertParams{Kind: "blob", ScheduledAt: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, "scheduled time 1960-01-01T00:00:00Z is out of range"},
		{"at 1970-01-01 00:00:00", queue.InsertParams{Kind: "blob", ScheduledAt: time.Unix(0, 0)}, "out of range"},
		{"at year 9999", queue.InsertParams{Kind: "blob", ScheduledAt: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}, "out of range"},
	} {
		_, err := b.client.Insert(ctx, tc.p)
		var ve *queue.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a ValidationError containing %q", tc.name, err, tc.want)
		}
		if err != nil && len(err.Error()) > 600 {
			t.Errorf("%s: the error is %d bytes long: bad input should be abbreviated", tc.name, len(err.Error()))
		}
		// The same job among good ones: the batch is refused whole, naming the job.
		good := queue.InsertParams{Kind: "blob"}
		_, err = b.client.InsertMany(ctx, []queue.InsertParams{good, good, tc.p, good})
		if !errors.As(err, &ve) || !strings.HasPrefix(err.Error(), "job 3: ") {
			t.Errorf("%s in a batch: err = %v, want a ValidationError for job 3", tc.name, err)
		}
	}
	if n := b.countJobs(t); n != 0 {
		t.Fatalf("%d jobs written by refused inserts", n)
	}
	// Right at the limits everything is accepted.
	atLimit := `{"blob":"` + strings.Repeat("x", 1<<20-len(`{"blob":""}`)) + `"}`
	for _, p := range []queue.InsertParams{
		{Kind: "blob", Args: json.RawMessage(atLimit)},
		{Kind: "blob", Queue: strings.Repeat("q", 100), UniqueKey: strings.Repeat("u", 255), RequestedBy: strings.Repeat("r", 255)},
		{Kind: "blob", ScheduledAt: time.Date(2038, 1, 19, 3, 14, 7, 0, time.UTC), MaxAttempts: 1000},
		{Kind: "blob", ScheduledAt: time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC), MaxAttempts: 1},
	} {
		if _, err := b.client.Insert(ctx, p); err != nil {
			t.Errorf("at the limit: %v", err)
		}
	}
}

// TestInsertArgsTheServerRefuses covers JSON that Go accepts and MariaDB's JSON_VALID
// does not (nesting deeper than 32, a lone UTF-16 surrogate escape): the API should
// refuse it as invalid input (exit 2 in the CLI), not pass it to the server and
// report a run-time failure.
func TestInsertArgsTheServerRefuses(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{})
	for name, args := range map[string]string{
		"nested 40 deep":          `{"extra":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
		"lone surrogate":          `{"blob":"\ud800"}`,
		"reversed surrogate pair": `{"blob":"\udc00\ud800"}`,
	} {
		_, err := b.client.Insert(context.Background(), queue.InsertParams{Kind: "blob", Args: json.RawMessage(args)})
		var ve *queue.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: err = %v (server error %d), want a ValidationError", name, err, mysqlErr(err))
		}
	}
	if n := b.countJobs(t); n != 0 {
		t.Fatalf("%d jobs written", n)
	}
}

// TestRawSQLBadInputRefusedByTheServer: what the server itself refuses, whoever
// inserts.
func TestRawSQLBadInputRefusedByTheServer(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{})
	for _, tc := range []struct {
		name  string
		query string
		args  []any
	}{
		{"invalid JSON", `INSERT INTO iactq_jobs (kind, args) VALUES ('blob', ?)`, []any{`{"blob":`}},
		{"invalid JSON, trailing", `INSERT INTO iactq_jobs (kind, args) VALUES ('blob', ?)`, []any{`{} x`}},
		{"invalid UTF-8 args", `INSERT INTO iactq_jobs (kind, args) VALUES ('blob', ?)`, []any{"{\"blob\":\"\xff\"}"}},
		{"invalid UTF-8 kind", `INSERT INTO iactq_jobs (kind) VALUES (?)`, []any{"bl\xffob"}},
		{"kind of 101 chars", `INSERT INTO iactq_jobs (kind) VALUES (?)`, []any{strings.Repeat("k", 101)}},
		{"queue of 101 chars", `INSERT INTO iactq_jobs (kind, queue) VALUES ('blob', ?)`, []any{strings.Repeat("q", 101)}},
		{"unique key of 256 chars", `INSERT INTO iactq_jobs (kind, unique_key) VALUES ('blob', ?)`, []any{strings.Repeat("u", 256)}},
		{"at 2040", `INSERT INTO iactq_jobs (kind, scheduled_at) VALUES ('blob', '2040-01-01 00:00:00')`, nil},
		{"at 1960", `INSERT INTO iactq_jobs (kind, scheduled_at) VALUES ('blob', '1960-01-01 00:00:00')`, nil},
		{"bad state", `INSERT INTO iactq_jobs (kind, state) VALUES ('blob', 'sleeping')`, nil},
	} {
		if _, err := b.db.DB.Exec(tc.query, tc.args...); err == nil {
			t.Errorf("%s: the server accepted it", tc.name)
		} else {
			t.Logf("%s: refused: %v", tc.name, err)
		}
	}
	if n := b.countJobs(t); n != 0 {
		t.Fatalf("%d jobs written", n)
	}
}

// TestRawSQLBadJobsAreDiscardedWithAReason inserts with plain SQL what the API would
// refuse: the worker discards each at once with the reason, and keeps working. Jobs
// of unknown kinds (with unknown_kind_grace 0) are discarded without being claimed.
func TestRawSQLBadJobsAreDiscardedWithAReason(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{UnknownKindGrace: queue.DiscardAtOnce})
	var checks []func()
	for _, tc := range []struct {
		name, kind, args, want string
	}{
		{"unknown kind of 100 chars", strings.Repeat("k", 100), `{}`, `unknown kind "kkkk`},
		{"kind with SQL", "x'); DROP TABLE iactq_jobs; --", `{}`, `unknown kind "x'); DROP TABLE iactq_jobs; --"`},
		{"kind with a newline", "blob\n", `{}`, "unknown kind"},
		{"kind differing in case", "BLOB", `{}`, `unknown kind "BLOB"`},
		{"args an array", "blob", `[1, 2]`, "args must be a JSON object"},
		{"args null", "blob", `null`, "args must be a JSON object"},
		{"args a number", "blob", `42`, "args must be a JSON object"},
		{"args unknown field", "blob", `{"blob": "x", "sql": "DROP TABLE iactq_jobs"}`, `unknown field "sql"`},
		{"args failing Validate", "blob", `{"n": -3}`, "n must not be negative"},
		{"args of the wrong type", "blob", `{"n": "three"}`, "invalid args"},
		{"args with a 40 KB field name", "blob", `{"` + strings.Repeat("\\u00e9", 20000) + `": 1}`, "unknown field"},
		{"args nested 30 deep", "blob", `{"blob": ` + strings.Repeat("[", 30) + strings.Repeat("]", 30) + `}`, "invalid args"},
	} {
		res, err := b.db.DB.Exec(`INSERT INTO iactq_jobs (kind, args, requested_by) VALUES (?, ?, 'analyst')`, tc.kind, tc.args)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		id, _ := res.LastInsertId()
		checks = append(checks, func() {
			j := b.finished(t, id)
			errs := j.AttemptErrors()
			attempts := 1
			if strings.HasPrefix(tc.want, "unknown kind") {
				attempts = 0
			}
			if j.State != queue.StateDiscarded || j.Attempt != attempts || len(errs) != 1 || !strings.Contains(errs[0].Error, tc.want) {
				t.Errorf("%s: %s after %d attempts, errors %s; want discarded at once with %q", tc.name, j.State, j.Attempt, abbrev(string(j.Errors), 300), tc.want)
			}
			if len(j.Errors) > 9<<10 {
				t.Errorf("%s: the reason is %d bytes long: over the 8 KiB kept per error", tc.name, len(j.Errors))
			}
		})
	}
	// A good job behind them all runs: the worker was not stuck.
	good, err := b.client.Insert(context.Background(), queue.InsertParams{Args: blobArgs{Blob: "ok"}})
	if err != nil {
		t.Fatal(err)
	}
	b.work(t)
	if j := b.finished(t, good.ID); j.State != queue.StateCompleted {
		t.Fatalf("the good job is %s", j.State)
	}
	for _, check := range checks {
		check()
	}
	msgs, err := b.client.Messages(context.Background(), "analyst", false, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(checks) {
		t.Errorf("%d messages to the requester, want one per discarded job (%d)", len(msgs), len(checks))
	}
}

// TestRawSQLOversizedArgsDiscarded: the server takes a 2 MiB args row that the API
// would refuse (over the 1 MiB max_args_bytes). The worker must discard it with the
// reason, not run it, loop on it or crash.
func TestRawSQLOversizedArgsDiscarded(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{})
	big := `{"blob":"` + strings.Repeat("x", 2<<20) + `"}`
	res, err := b.db.DB.Exec(`INSERT INTO iactq_jobs (kind, args) VALUES ('blob', ?)`, big)
	if err != nil {
		t.Fatalf("the server refused 2 MiB args (max_allowed_packet?): %v", err)
	}
	id, _ := res.LastInsertId()
	small, err := b.client.Insert(context.Background(), queue.InsertParams{Args: blobArgs{Blob: "small"}})
	if err != nil {
		t.Fatal(err)
	}
	b.work(t)
	if j := b.finished(t, small.ID); j.State != queue.StateCompleted {
		t.Errorf("the small job is %s", j.State)
	}
	j := b.finished(t, id)
	errs := j.AttemptErrors()
	if j.State != queue.StateDiscarded || len(errs) != 1 || !strings.Contains(errs[0].Error, "limit") {
		t.Errorf("2 MiB args job: %s after %d attempts, errors %s: want discarded at once because its args are over max_args_bytes (1 MiB)", j.State, j.Attempt, abbrev(string(j.Errors), 300))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.ran {
		if len(a.Blob) > 1<<20 {
			t.Errorf("the worker ran a job with %d bytes of args", len(a.Blob))
		}
	}
}

// TestRawSQLQueueNobodyWorks: the server takes any queue name up to 100 chars, spaces
// included. Such a job is never claimed (no worker can be configured to work a queue
// with that name) and is never lost: it waits, visible, until someone moves it.
func TestRawSQLQueueNobodyWorks(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{Queues: map[string]int{"default": 2}})
	res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, queue) VALUES ('blob', 'bad queue')`)
	id, _ := res.LastInsertId()
	if _, err := queue.NewClient(b.db.DB, blobRegistry(nil), queue.Config{Queues: map[string]int{"bad queue": 1}}, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "invalid queue name") {
		t.Errorf("a client working queue %q: err = %v", "bad queue", err)
	}
	good, err := b.client.Insert(context.Background(), queue.InsertParams{Kind: "blob"})
	if err != nil {
		t.Fatal(err)
	}
	b.work(t)
	if j := b.finished(t, good.ID); j.State != queue.StateCompleted {
		t.Fatalf("good job %s", j.State)
	}
	// The claims that took the good job have looked at the queues the worker serves:
	// nothing more can happen to a job of a queue it does not.
	j, err := b.client.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != queue.StateAvailable || j.Attempt != 0 {
		t.Fatalf("job in queue %q: %s, attempt %d", j.Queue, j.State, j.Attempt)
	}
	// Still visible to the analysts' view, where it turns OVERDUE in time.
	var n int
	if err := b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_priorities WHERE id = ?`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("job %d in iactq_priorities: %d %v", id, n, err)
	}
}

// TestSQLMetacharactersStoredVerbatim puts SQL in every string field, through the API
// and through plain SQL with placeholders: it is stored and read back byte for byte,
// the job runs, the requester is told under that exact name, and no statement ran.
func TestSQLMetacharactersStoredVerbatim(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{})
	ctx := context.Background()
	evil := []string{
		`'; DROP TABLE iactq_jobs; --`,
		`" OR "1"="1`,
		`x'); DELETE FROM internal_messages; --`,
		"\\'; SELECT SLEEP(10); -- \\",
		"`iactq_jobs`; TRUNCATE iactq_jobs",
		"%_*?\x00\t\r\n\u2028\U0001F600",
		`{"blob": "nested"}`,
		`$(id) && rm -rf / ; ${IFS}`,
	}
	var ids []int64
	for i, s := range evil {
		res, err := b.client.Insert(ctx, queue.InsertParams{
			Args:        blobArgs{Blob: s},
			UniqueKey:   fmt.Sprintf("%d:%s", i, s),
			RequestedBy: s,
		})
		if err != nil {
			t.Fatalf("insert %q: %v", s, err)
		}
		ids = append(ids, res.ID)
		args, _ := json.Marshal(blobArgs{Blob: s})
		r := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, args, unique_key, requested_by) VALUES ('blob', ?, ?, ?)`, string(args), fmt.Sprintf("raw %d:%s", i, s), s)
		id, _ := r.LastInsertId()
		ids = append(ids, id)
	}
	b.work(t)
	for i, id := range ids {
		s := evil[i/2]
		j := b.finished(t, id)
		if j.State != queue.StateCompleted {
			t.Errorf("job %d (%q): %s %s", id, s, j.State, j.Errors)
		}
		var a blobArgs
		if err := json.Unmarshal(j.Args, &a); err != nil || a.Blob != s {
			t.Errorf("job %d: args %s, want blob %q", id, j.Args, s)
		}
		if j.RequestedBy != s || !strings.HasSuffix(j.UniqueKey, ":"+s) {
			t.Errorf("job %d: requested_by %q unique_key %q, want %q", id, j.RequestedBy, j.UniqueKey, s)
		}
	}
	// Every job is finished now: each name got one message per job (two jobs each).
	for _, s := range evil {
		msgs, err := b.client.Messages(ctx, s, false, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 {
			t.Errorf("%d messages to %q, want 2", len(msgs), s)
		}
	}
	if n := b.countJobs(t); n != len(ids) {
		t.Fatalf("%d jobs, want %d", n, len(ids))
	}
	var tables int
	if err := b.db.DB.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('iactq_jobs', 'internal_messages')`).Scan(&tables); err != nil || tables != 2 {
		t.Fatalf("tables: %d %v", tables, err)
	}
}

// TestRawSQLOddNumbersDoNotLoop: attempts and limits that the API refuses, written
// with plain SQL, end the job rather than retrying it forever.
func TestRawSQLOddNumbersDoNotLoop(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{})
	var ids []int64
	for _, q := range []string{
		`INSERT INTO iactq_jobs (kind, args, max_attempts) VALUES ('blob', '{"fail": true}', 0)`,
		`INSERT INTO iactq_jobs (kind, args, max_attempts) VALUES ('blob', '{"fail": true}', -5)`,
		`INSERT INTO iactq_jobs (kind, args, max_attempts, attempt) VALUES ('blob', '{"fail": true}', 3, 1000)`,
		`INSERT INTO iactq_jobs (kind, args, max_attempts, attempt) VALUES ('blob', '{"fail": true}', 2147483647, 2147483646)`,
		`INSERT INTO iactq_jobs (kind, args, max_attempts) VALUES ('blob', '{}', 0)`,
	} {
		r := b.db.Exec(t, q)
		id, _ := r.LastInsertId()
		ids = append(ids, id)
	}
	b.work(t)
	for i, id := range ids {
		j := b.finished(t, id)
		t.Logf("job %d: %s attempt %d of %d", i, j.State, j.Attempt, j.MaxAttempts)
		if i < 4 && j.State != queue.StateDiscarded {
			t.Errorf("failing job %d: %s after attempt %d of %d", i, j.State, j.Attempt, j.MaxAttempts)
		}
	}
}

// TestRawSQLZeroDate: the server's sql_mode (without NO_ZERO_DATE) takes
// '0000-00-00 00:00:00' in a TIMESTAMP column, and an app whose session is not strict
// gets that zero date for any out-of-range date it writes ('2040-01-01'). Such a job
// must still run (it is as old as can be: OVERDUE) or be refused, never sit
// 'available' forever while every idle poll tries to claim it.
func TestRawSQLZeroDate(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{})
	ctx := context.Background()
	conn, err := b.db.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var ids []int64
	for _, q := range []string{
		`INSERT INTO iactq_jobs (kind, args, scheduled_at) VALUES ('blob', '{"blob":"zero"}', '0000-00-00 00:00:00')`,
		`SET SESSION sql_mode = ''`,
		`INSERT INTO iactq_jobs (kind, args, scheduled_at) VALUES ('blob', '{"blob":"2040 in a lax session"}', '2040-01-01 00:00:00')`,
		`INSERT INTO iactq_jobs (kind, args, state, available_at) VALUES ('blob', '{"blob":"scheduled, zero available_at"}', 'scheduled', '0000-00-00 00:00:00')`,
	} {
		res, err := conn.ExecContext(ctx, q)
		if err != nil {
			t.Logf("refused: %s: %v", q, err)
			continue
		}
		if id, _ := res.LastInsertId(); id != 0 {
			ids = append(ids, id)
		}
	}
	good, err := b.client.Insert(ctx, queue.InsertParams{Args: blobArgs{Blob: "good"}})
	if err != nil {
		t.Fatal(err)
	}
	b.work(t)
	if j := b.finished(t, good.ID); j.State != queue.StateCompleted {
		t.Errorf("good job: %s", j.State)
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, id := range ids {
		for {
			j, err := b.client.GetJob(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State.Finished() {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("job %d (args %s, scheduled_at %v, available_at %v) is still %s: a zero date is never claimed", id, j.Args, j.ScheduledAt, j.AvailableAt, j.State)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// TestRawSQLAttemptAtIntMax: a job whose attempt counter is already at INT's maximum
// cannot be claimed (attempt + 1 overflows in strict mode). It must not take the
// queue's other jobs down with it: they are claimed in the same transaction.
func TestRawSQLAttemptAtIntMax(t *testing.T) {
	t.Parallel()
	b := newBlobBundle(t, queue.Config{})
	r := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, args, max_attempts, attempt) VALUES ('blob', '{"blob":"max"}', 2147483647, 2147483647)`)
	id, _ := r.LastInsertId()
	good, err := b.client.Insert(context.Background(), queue.InsertParams{Args: blobArgs{Blob: "good"}})
	if err != nil {
		t.Fatal(err)
	}
	b.work(t)
	if j := b.finished(t, good.ID); j.State != queue.StateCompleted {
		t.Fatalf("a good job behind a job at attempt 2147483647 is %s: the claim fails for the whole queue", j.State)
	}
	// The job itself runs on its first claim (its attempt capped), rather than sit
	// running until the worker releases it as a claim it does not know.
	if j := b.finished(t, id); j.State != queue.StateCompleted {
		t.Fatalf("job at attempt INT max: %s at attempt %d", j.State, j.Attempt)
	}
}
