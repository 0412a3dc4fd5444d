package queue_test

// A rolling deploy with two worker processes of different builds: the older is the
// iactq binary; the newer is this test binary run as a worker of the same kinds plus
// one more (extra), see TestMain.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// TestMain runs the tests, or, with IACTQ_TEST_NEWER_WORKER set, a worker process of a
// "newer build": the iactq kinds plus extra, which prints "ran extra ID" per job.
func TestMain(m *testing.M) {
	if os.Getenv("IACTQ_TEST_NEWER_WORKER") != "" {
		os.Exit(runNewerWorker())
	}
	os.Exit(m.Run())
}

func runNewerWorker() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	db, err := queue.OpenDB(os.Getenv("IACTQ_DSN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	reg := jobs.NewRegistry(jobs.Deps{DB: db})
	queue.Register(reg, queue.WorkFunc[extraArgs](func(_ context.Context, j *queue.Job[extraArgs]) error {
		fmt.Printf("ran extra %d\n", j.ID)
		return nil
	}))
	cfg := queue.Config{Queues: map[string]int{"default": 4}, PollInterval: 20 * time.Millisecond}
	c, err := queue.NewClient(db, reg, cfg, zerolog.New(os.Stderr))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := c.Work(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startNewerWorker starts this test binary as the newer build's worker; its stdout
// (one line per extra job it ran) goes to the returned file.
func startNewerWorker(t *testing.T, e *procEnv) (cmd *exec.Cmd, ranFile string) {
	t.Helper()
	ranFile = filepath.Join(e.dir, "newer.out")
	out, err := os.Create(ranFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "IACTQ_TEST_NEWER_WORKER=1", "IACTQ_DSN="+e.db.WorkerDSN)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return cmd, ranFile
}

// The older build (the iactq binary, without kind extra) works the queue alone: it
// runs its own kinds and leaves extra's jobs waiting, never claimed, never discarded.
// The newer build starts and runs every extra job; the older never runs one. Once the
// newer stops, a job of extra past unknown_kind_grace is discarded by the older with
// the reason, and its requester is told.
func TestRollingDeployTwoBuilds(t *testing.T) {
	t.Parallel()
	e := newProcEnv(t, "queues: {default: 4}\npoll_interval: 20ms\nschedules: []\n")
	c := newNoopClient(t, e.db)
	ctx := context.Background()
	e.start()
	insertExtras := func(n int) {
		for range n {
			e.db.Exec(t, `INSERT INTO iactq_jobs (kind, requested_by) VALUES ('extra', 'analyst')`)
		}
	}
	insertNoops := func(n int) {
		for range n {
			if _, err := c.Insert(ctx, queue.InsertParams{Kind: "noop"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	insertExtras(10)
	insertNoops(10)
	e.waitFor("the older build to run its noop jobs", 30*time.Second, func() bool {
		return e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE kind = 'noop' AND state = 'completed'`) == 10
	})
	if n := e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE kind = 'extra' AND state = 'available' AND attempt = 0`); n != 10 {
		t.Fatalf("%d of 10 extra jobs are available and never claimed with only the older build up", n)
	}
	if n := e.count(`SELECT COUNT(*) FROM iactq_workers WHERE FIND_IN_SET('noop', kinds) AND NOT FIND_IN_SET('extra', kinds)`); n != 1 {
		t.Fatalf("%d registrations of the older build with its kinds; want 1", n)
	}

	newer, ranFile := startNewerWorker(t, e)
	insertExtras(10)
	insertNoops(10)
	e.waitFor("every job to complete", 60*time.Second, func() bool {
		return e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`) == 40
	})
	out, err := os.ReadFile(ranFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "ran extra "); n != 20 {
		t.Fatalf("the newer build ran %d extra jobs, want 20:\n%s", n, out)
	}
	for _, x := range e.executions() { // the older build's journal
		if j, err := c.GetJob(ctx, x.JobID); err != nil || j.Kind == "extra" {
			t.Fatalf("the older build ran job %d (%v, %v)", x.JobID, j, err)
		}
	}

	// The newer build goes (SIGTERM: it drains and deregisters). An extra job due two
	// hours ago is past the default grace of 1 h: the older build discards it.
	if err := newer.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the newer build to deregister", 30*time.Second, func() bool {
		return e.count(`SELECT COUNT(*) FROM iactq_workers WHERE FIND_IN_SET('extra', kinds)`) == 0
	})
	res := e.db.Exec(t, `INSERT INTO iactq_jobs (kind, requested_by, scheduled_at) VALUES ('extra', 'analyst', NOW(6) - INTERVAL 2 HOUR)`)
	old, _ := res.LastInsertId()
	young := e.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('extra')`)
	youngID, _ := young.LastInsertId()
	e.waitFor("the older build to discard the old extra job", 30*time.Second, func() bool {
		return e.count(`SELECT COUNT(*) FROM iactq_jobs WHERE id = ? AND state = 'discarded'`, old) == 1
	})
	j, err := c.GetJob(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if errs := j.AttemptErrors(); len(errs) != 1 || !strings.Contains(errs[0].Error, `unknown kind "extra": no live worker runs it`) {
		t.Fatalf("discarded with errors %+v", errs)
	}
	if n := e.count(`SELECT COUNT(*) FROM internal_messages WHERE job_id = ? AND recipient = 'analyst' AND body LIKE '%unknown_kind_grace%'`, old); n != 1 {
		t.Fatalf("%d messages to the requester about the discard, want 1", n)
	}
	if j, _ := c.GetJob(ctx, youngID); j.State != queue.StateAvailable {
		t.Fatalf("the extra job within the grace is %s, want available", j.State)
	}
}
