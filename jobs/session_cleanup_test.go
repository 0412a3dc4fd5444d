package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// maintClient is a fast-polling client running every kind with cfg on db.
func maintClient(t *testing.T, db *queuetest.DB, cfg Config) *queue.Client {
	t.Helper()
	c, err := queue.NewClient(db.DB, NewRegistry(Deps{DB: db.DB, Config: cfg}),
		queue.Config{PollInterval: 5 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seedSessions inserts expired sessions that expired 1 h ago or earlier and alive ones
// that expire in a day or later, into table, with multi-row INSERTs in one transaction.
func seedSessions(t *testing.T, db *sql.DB, table string, expired, alive int) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	now := time.Now().UTC()
	const perStmt = 1000
	total := expired + alive
	var b strings.Builder
	for start := 0; start < total; start += perStmt {
		b.Reset()
		b.WriteString("INSERT INTO " + table + " (session_key, session_data, expire_date) VALUES ")
		for i := start; i < min(start+perStmt, total); i++ {
			// Interleaved while both last, so that expired and alive keys share the
			// primary key range; then the rest of the larger kind.
			isExpired := expired > alive
			if i < 2*min(expired, alive) {
				isExpired = i%2 == 0
			}
			exp := now.Add(time.Duration(24+i%1000) * time.Hour)
			if isExpired {
				exp = now.Add(-time.Hour - time.Duration(i)*time.Second)
			}
			if i > start {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "('k%039d','e30:1pXyZa:%08x','%s')", i, i, exp.Format("2006-01-02 15:04:05.000000"))
		}
		if _, err := tx.ExecContext(ctx, b.String()); err != nil {
			t.Fatalf("seed sessions: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var gotExpired int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table + " WHERE expire_date < UTC_TIMESTAMP(6)").Scan(&gotExpired); err != nil {
		t.Fatal(err)
	}
	if gotExpired != expired {
		t.Fatalf("seeded %d expired sessions, want %d", gotExpired, expired)
	}
}

func cleanupRecord(t *testing.T, db *sql.DB, jobID int64) jobsdb.IactqSessionCleanup {
	t.Helper()
	r, err := jobsdb.New(db).SessionCleanupGet(context.Background(), jobID)
	if err != nil {
		t.Fatalf("cleanup record of job %d: %v", jobID, err)
	}
	return r
}

func messagesTo(t *testing.T, c *queue.Client, recipient string) []queue.Message {
	t.Helper()
	ms, err := c.Messages(context.Background(), recipient, false, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestSessionCleanup300k: 300 000 sessions, half expired. The cleanup deletes exactly
// the expired half in batches of 2000 and warns ops, since 150 000 > 100 000 remain;
// around the threshold, the warning comes only when remaining > warn_threshold.
func TestSessionCleanup300k(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	seedSessions(t, db.DB, "django_session", 150_000, 150_000)

	cfg := DefaultConfig()
	c := maintClient(t, db, cfg)
	start := time.Now()
	jobs := queuetest.RunJobs(t, c, queue.InsertParams{Kind: "session_cleanup", RequestedBy: "analyst"})
	t.Logf("cleanup of 150000 expired sessions took %s", time.Since(start))
	if jobs[0].State != queue.StateCompleted {
		t.Fatalf("job %s: %s", jobs[0].State, jobs[0].Errors)
	}
	rec := cleanupRecord(t, db.DB, jobs[0].ID)
	if rec.Deleted != 150_000 || rec.Remaining != 150_000 || rec.ExpiredLeft != 0 || rec.Batches != 75 || rec.TableName != "django_session" || rec.Attempts != 1 {
		t.Fatalf("record %+v, want 150000 deleted in 75 batches, 150000 remaining, none expired", rec)
	}
	if !rec.FinishedAt.After(rec.StartedAt) {
		t.Errorf("record times %v .. %v", rec.StartedAt, rec.FinishedAt)
	}
	var left, expiredLeft int
	if err := db.DB.QueryRow("SELECT COUNT(*), COALESCE(SUM(expire_date < UTC_TIMESTAMP(6)), 0) FROM django_session").Scan(&left, &expiredLeft); err != nil {
		t.Fatal(err)
	}
	if left != 150_000 || expiredLeft != 0 {
		t.Fatalf("table holds %d sessions, %d expired; want 150000, 0", left, expiredLeft)
	}
	ops := messagesTo(t, c, "ops")
	if len(ops) != 1 || ops[0].JobID != jobs[0].ID || !strings.Contains(ops[0].Subject, "150000") || !strings.Contains(ops[0].Body, "warn_threshold = 100000") {
		t.Fatalf("ops messages %+v, want one warning about 150000 sessions", ops)
	}
	req := messagesTo(t, c, "analyst")
	if len(req) != 1 || !strings.Contains(req[0].Body, "deleted 150000 expired sessions from django_session in 75 batches; 150000 rows remain") {
		t.Fatalf("requester messages %+v", req)
	}

	// Around the threshold: 150 000 rows remain, nothing left to delete.
	for _, tc := range []struct {
		threshold int64
		warn      bool
	}{{150_000, false}, {149_999, true}, {1_000_000, false}} {
		cfg := DefaultConfig()
		cfg.SessionCleanup.WarnThreshold = tc.threshold
		cfg.SessionCleanup.Notify = "ops-oncall"
		c := maintClient(t, db, cfg)
		before := len(messagesTo(t, c, "ops-oncall"))
		job := queuetest.RunJobs(t, c, queue.InsertParams{Kind: "session_cleanup"})[0]
		rec := cleanupRecord(t, db.DB, job.ID)
		if job.State != queue.StateCompleted || rec.Deleted != 0 || rec.Remaining != 150_000 || rec.Batches != 0 {
			t.Fatalf("threshold %d: job %s, record %+v", tc.threshold, job.State, rec)
		}
		got := len(messagesTo(t, c, "ops-oncall")) - before
		if want := map[bool]int{false: 0, true: 1}[tc.warn]; got != want {
			t.Errorf("threshold %d: %d new warnings, want %d", tc.threshold, got, want)
		}
	}
}

// TestSessionCleanupLimits: args override the batch size and cap the batches; the rest
// is left for the next run, and a custom (schema-qualified) table works.
func TestSessionCleanupLimits(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	admin, err := queue.OpenDB(db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE TABLE platform_sessions LIKE django_session"); err != nil {
		t.Fatal(err)
	}
	seedSessions(t, db.DB, "platform_sessions", 1000, 10)

	cfg := DefaultConfig()
	cfg.SessionCleanup.Table = db.Name + ".platform_sessions"
	cfg.SessionCleanup.Pause = time.Millisecond
	c := maintClient(t, db, cfg)
	job := queuetest.RunJobs(t, c, queue.InsertParams{Kind: "session_cleanup", Args: SessionCleanupArgs{BatchSize: 100, MaxBatches: 3}, RequestedBy: "analyst"})[0]
	rec := cleanupRecord(t, db.DB, job.ID)
	if job.State != queue.StateCompleted || rec.Deleted != 300 || rec.Batches != 3 || rec.Remaining != 710 || rec.ExpiredLeft != 700 {
		t.Fatalf("job %s, record %+v; want 300 deleted in 3 batches, 710 left of which 700 expired", job.State, rec)
	}
	if ms := messagesTo(t, c, "analyst"); len(ms) != 1 || !strings.Contains(ms[0].Body, "stopped by max_batches") {
		t.Fatalf("requester messages %+v", ms)
	}
	if ms := messagesTo(t, c, "ops"); len(ms) != 0 {
		t.Fatalf("ops warned below the threshold: %+v", ms)
	}

	// The next run, with the config's batch size (2000), takes the other 700 at once.
	job = queuetest.RunJobs(t, c, queue.InsertParams{Kind: "session_cleanup"})[0]
	if rec := cleanupRecord(t, db.DB, job.ID); rec.Deleted != 700 || rec.Batches != 1 || rec.Remaining != 10 || rec.ExpiredLeft != 0 {
		t.Fatalf("second run: record %+v", rec)
	}

	// max_duration stops a long run between batches, and the job still completes.
	seedSessions(t, db.DB, "django_session", 400, 0)
	cfg = DefaultConfig()
	cfg.SessionCleanup.BatchSize = 10
	cfg.SessionCleanup.MaxDuration = time.Second
	cfg.SessionCleanup.Pause = 100 * time.Millisecond
	c = maintClient(t, db, cfg)
	job = queuetest.RunJobs(t, c, queue.InsertParams{Kind: "session_cleanup"})[0]
	rec = cleanupRecord(t, db.DB, job.ID)
	if job.State != queue.StateCompleted || rec.Deleted < 10 || rec.Deleted > 250 || rec.Deleted+rec.ExpiredLeft != 400 {
		t.Fatalf("max_duration 1s with 10 per 100ms: job %s, record %+v", job.State, rec)
	}
}

// TestSessionCleanupMissingTable: a table that does not exist discards the job at once
// with the reason; it is not retried 25 times.
func TestSessionCleanupMissingTable(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	cfg := DefaultConfig()
	cfg.SessionCleanup.Table = "no_such_sessions"
	c := maintClient(t, db, cfg)
	job := queuetest.RunJobs(t, c, queue.InsertParams{Kind: "session_cleanup", RequestedBy: "analyst"})[0]
	if job.State != queue.StateDiscarded || job.Attempt != 1 || !strings.Contains(string(job.Errors), "session table no_such_sessions does not exist") {
		t.Fatalf("job %s after %d attempts: %s", job.State, job.Attempt, job.Errors)
	}
}

func TestSessionCleanupArgs(t *testing.T) {
	t.Parallel()
	r := NewRegistry(Deps{})
	for _, tc := range []struct{ args, want string }{
		{`{}`, ""},
		{`{"batch_size": 500, "max_batches": 10}`, ""},
		{`{"batch_size": -1}`, "batch_size -1 is out of range"},
		{`{"batch_size": 10001}`, "batch_size 10001 is out of range"},
		{`{"max_batches": -3}`, "max_batches -3 is out of range"},
		{`{"batch_size": "big"}`, "batch_size"},
		{`{"table": "users"}`, `unknown field "table"`},
	} {
		err := r.Validate("session_cleanup", []byte(tc.args))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestSessionTableName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"django_session", "`django_session`"},
		{"platform.django_session", "`platform`.`django_session`"},
		{"_s2", "`_s2`"},
		{strings.Repeat("a", 64), "`" + strings.Repeat("a", 64) + "`"},
		{"", ""},
		{"2sessions", ""},
		{strings.Repeat("a", 65), ""},
		{"a.b.c", ""},
		{"django_session; DROP TABLE iactq_jobs", ""},
		{"django_session`", ""},
		{"`django_session`", ""},
		{"django session", ""},
		{"django-session", ""},
		{"sessions/*x*/", ""},
		{"séssion", ""},
		{".django_session", ""},
	} {
		got, err := sessionTableName(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("sessionTableName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	s, err := newSessionSQL("django_session")
	if err != nil {
		t.Fatal(err)
	}
	q, args := s.deleteKeys("cutoff", []string{"a", "b", "c"})
	if q != "DELETE FROM `django_session` WHERE expire_date < ? AND session_key IN (?,?,?)" || len(args) != 4 || args[0] != "cutoff" || args[3] != "c" {
		t.Fatalf("deleteKeys: %s %v", q, args)
	}
}

func TestMaintenanceSleep(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := maintenanceSleep(ctx, time.Hour); err != context.Canceled || time.Since(start) > time.Second {
		t.Fatalf("sleep on a cancelled context: %v after %s", err, time.Since(start))
	}
	if err := maintenanceSleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// TestSessionCleanupRecordAccumulates: a job retried after a partial run (shutdown
// midway) adds its deletions to the first attempt's, and the last counts win.
func TestSessionCleanupRecordAccumulates(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	w := &sessionCleaner{d: Deps{DB: db.DB, Now: time.Now}, cfg: defaultSessionCleanupConfig()}
	s, err := newSessionSQL("django_session")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cutoff := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if err := w.record(ctx, 42, s, sessionCleanupRun{cutoff: cutoff, started: time.Now(), deleted: 4000, batches: 2}); err != nil {
		t.Fatal(err)
	}
	if err := w.record(ctx, 42, s, sessionCleanupRun{cutoff: cutoff.Add(time.Hour), started: time.Now(), deleted: 1500, batches: 1, remaining: 900, expiredLeft: 3}); err != nil {
		t.Fatal(err)
	}
	rec := cleanupRecord(t, db.DB, 42)
	if rec.Deleted != 5500 || rec.Batches != 3 || rec.Remaining != 900 || rec.ExpiredLeft != 3 || rec.Attempts != 2 || !rec.Cutoff.Equal(cutoff.Add(time.Hour)) {
		t.Fatalf("record %+v", rec)
	}
}
