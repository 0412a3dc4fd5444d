package queue_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

func TestUniqueKeyUnderConcurrentInserts(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make(chan queue.InsertResult, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: i}, UniqueKey: "report:2026-11"})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- res
		}()
	}
	wg.Wait()
	close(ids)
	distinct := map[int64]bool{}
	created := 0
	for r := range ids {
		distinct[r.ID] = true
		if !r.Duplicate {
			created++
		}
	}
	if len(distinct) != 1 || created != 1 {
		t.Fatalf("40 concurrent inserts with one key made %d jobs (%d not duplicates), want 1", len(distinct), created)
	}
	var n int
	if err := b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE unique_key = 'report:2026-11'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows with the key: %d (%v)", n, err)
	}
	// Plain SQL is refused too while the job is live...
	if _, err := b.db.DB.Exec(`INSERT INTO iactq_jobs (kind, unique_key) VALUES ('test', 'report:2026-11')`); err == nil {
		t.Fatal("plain SQL insert of a live unique key succeeded")
	}
	// ...and allowed once it finished.
	b.startWorker(t)
	for id := range distinct {
		b.waitState(t, id, queue.StateCompleted)
	}
	res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{}, UniqueKey: "report:2026-11"})
	if err != nil || res.Duplicate {
		t.Fatalf("insert after the holder completed: %+v %v", res, err)
	}
}

func TestInsertManyIsOneTransactionWithIdsInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	ctx := context.Background()
	ps := make([]queue.InsertParams, 2500)
	for i := range ps {
		ps[i] = queue.InsertParams{Args: testArgs{N: i}, Queue: "bulk"}
	}
	res, err := b.client.InsertMany(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		var n int
		if err := b.db.DB.QueryRow(`SELECT JSON_VALUE(args, '$.n') FROM iactq_jobs WHERE id = ?`, r.ID).Scan(&n); err != nil || n != i {
			t.Fatalf("job %d: id %d holds n=%d (%v)", i, r.ID, n, err)
		}
	}
	// One bad job: nothing is written.
	ps = []queue.InsertParams{{Args: testArgs{N: 1}, Queue: "bad"}, {Args: testArgs{N: -1}, Queue: "bad"}}
	if _, err := b.client.InsertMany(ctx, ps); err == nil {
		t.Fatal("batch with a bad job succeeded")
	}
	var n int
	_ = b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE queue = 'bad'`).Scan(&n)
	if n != 0 {
		t.Fatalf("a failed batch wrote %d jobs", n)
	}
}

func TestInsertTxCommitsWithTheCallersWrites(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	ctx := context.Background()
	for _, commit := range []bool{false, true} {
		tx, err := b.db.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.client.InsertTx(ctx, tx, queue.InsertParams{Args: testArgs{}, Queue: "tx"})
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.client.GetJob(ctx, res.ID)
		if exists := err == nil; exists != commit {
			t.Fatalf("commit=%v: job exists=%v", commit, exists)
		}
	}
}

func TestScheduledInFutureWaitsThenRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	ctx := context.Background()
	at := time.Now().Add(1500 * time.Millisecond)
	res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{}, ScheduledAt: at})
	if err != nil {
		t.Fatal(err)
	}
	b.startWorker(t)
	j := b.waitState(t, res.ID, queue.StateCompleted)
	if j.AttemptedAt.Before(at.Truncate(time.Microsecond)) {
		t.Fatalf("job scheduled at %s ran at %s", at, j.AttemptedAt)
	}
}

func TestMessagesExactlyOncePerFinishedRequestedJob(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{Queues: map[string]int{"default": 20}, Retry: queue.RetryPolicy{Initial: time.Millisecond, Max: time.Millisecond}})
	ctx := context.Background()
	var ps []queue.InsertParams
	for i := 0; i < 200; i++ {
		ps = append(ps, queue.InsertParams{Args: testArgs{N: i, Fail: i%4 == 0}, RequestedBy: fmt.Sprintf("analyst%d", i%3), MaxAttempts: 2})
	}
	ps = append(ps, queue.InsertParams{Args: testArgs{N: 999}}) // nobody to tell
	res, err := b.client.InsertMany(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	b.startWorker(t)
	for i, r := range res {
		want := queue.StateCompleted
		if i < 200 && i%4 == 0 {
			want = queue.StateDiscarded
		}
		b.waitState(t, r.ID, want)
	}
	rows, err := b.db.DB.Query(`SELECT job_id, COUNT(*) FROM internal_messages GROUP BY job_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	counts := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		_ = rows.Scan(&id, &n)
		counts[id] = n
	}
	for i, r := range res[:200] {
		if counts[r.ID] != 1 {
			t.Errorf("job %d (%d): %d messages, want 1", i, r.ID, counts[r.ID])
		}
	}
	if counts[res[200].ID] != 0 {
		t.Errorf("job without requester got %d messages", counts[res[200].ID])
	}
}

func TestPausedQueueIsNotClaimed(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{Queues: map[string]int{"default": 1, "other": 1}})
	ctx := context.Background()
	if err := b.client.PauseQueue(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{}})
	if err != nil {
		t.Fatal(err)
	}
	b.startWorker(t)
	// Jobs of the other queue come one at a time: the worker looks for work for each
	// (a ring, or its first poll), and the paused queue's job is there each time.
	for i := 0; i < 3; i++ {
		other, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{}, Queue: "other"})
		if err != nil {
			t.Fatal(err)
		}
		b.waitState(t, other.ID, queue.StateCompleted)
	}
	if j, _ := b.client.GetJob(ctx, res.ID); j.State != queue.StateAvailable {
		t.Fatalf("job in a paused queue is %s", j.State)
	}
	if err := b.client.ResumeQueue(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, res.ID, queue.StateCompleted)
}

func TestRescueJobsOfDeadWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{RescueAfter: 2 * time.Second, HeartbeatInterval: 500 * time.Millisecond})
	ctx := context.Background()
	// A worker that claimed a job and then died: its heartbeat is old.
	res := b.db.Exec(t, `INSERT INTO iactq_workers (host, pid, queues, heartbeat_at) VALUES ('gone', 1, 'default=1', NOW(6) - INTERVAL 1 MINUTE)`)
	deadID, _ := res.LastInsertId()
	job := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, state, attempt, claimed_by, attempted_at, requested_by) VALUES ('test', 'running', 1, ?, NOW(6), 'analyst')`, deadID)
	jobID, _ := job.LastInsertId()
	b.startWorker(t)
	j := b.waitState(t, jobID, queue.StateCompleted)
	if j.Attempt != 2 {
		t.Fatalf("rescued job finished on attempt %d, want 2", j.Attempt)
	}
	errs := j.AttemptErrors()
	if len(errs) != 1 || errs[0].Attempt != 1 {
		t.Fatalf("errors %+v, want the lost attempt 1", errs)
	}
	var n int
	_ = b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_workers WHERE id = ?`, deadID).Scan(&n)
	if n != 0 {
		t.Fatal("dead worker still registered")
	}
	msgs, _ := b.client.Messages(ctx, "analyst", false, 10)
	if len(msgs) != 1 {
		t.Fatalf("%d messages for the rescued job, want 1", len(msgs))
	}
}

func TestLostClaimCannotComplete(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	ctx := context.Background()
	res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{}, RequestedBy: "analyst"})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := b.client.ClaimOnce(ctx, "default", 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	// The worker is declared dead and the job rescued, then claimed by another.
	b.db.Exec(t, `UPDATE iactq_workers SET heartbeat_at = NOW(6) - INTERVAL 1 HOUR`)
	if n, err := b.client.Rescue(ctx); err != nil || n != 1 {
		t.Fatalf("rescue: %d %v", n, err)
	}
	// The old claim's completion changes nothing.
	if err := b.client.RecordCompletedForTest(ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	j, _ := b.client.GetJob(ctx, res.ID)
	if j.State != queue.StateAvailable {
		t.Fatalf("job completed by a worker that lost its claim: %s", j.State)
	}
	msgs, _ := b.client.Messages(ctx, "analyst", false, 10)
	if len(msgs) != 0 {
		t.Fatalf("a lost claim sent %d messages", len(msgs))
	}
	// And the dead worker can claim nothing more under its old id.
	if _, err := b.client.ClaimOnce(ctx, "default", 1); err == nil {
		t.Fatal("a worker declared dead claimed again")
	}
}

// TestDeclaredDeadWorkerCannotComplete: a worker declared dead (its row deleted by the
// rescue) whose jobs were not given to others yet, because the rescue had not reached
// them, comes back (SIGCONT) with their outcomes: neither a plain completion nor one
// written in a transaction nor a release lands, and the rescue then gives the job to
// others.
func TestDeclaredDeadWorkerCannotComplete(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	ctx := context.Background()
	var ids []int64
	for i := 0; i < 2; i++ {
		res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	jobs, err := b.client.ClaimOnce(ctx, "default", 2)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	b.db.Exec(t, `DELETE FROM iactq_workers`)
	b.client.CompleteForTest(jobs[:1])
	if err := b.client.RecordCompletedForTest(ctx, jobs[1]); err != nil {
		t.Fatal(err)
	}
	// Nor does it give a job back with its attempt unspent: that attempt would run
	// again.
	if err := b.client.ReleaseForTest(ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if j, _ := b.client.GetJob(ctx, id); j.State != queue.StateRunning {
			t.Fatalf("job %d: %s after its worker was declared dead; want it left running for the rescue", id, j.State)
		}
	}
	if n, err := b.client.Rescue(ctx); err != nil || n != 2 {
		t.Fatalf("rescue: %d %v; want 2", n, err)
	}
	for _, id := range ids {
		if j, _ := b.client.GetJob(ctx, id); j.State != queue.StateAvailable {
			t.Fatalf("job %d: %s after the rescue; want available", id, j.State)
		}
	}
}

func TestScheduleChainExactlyOneOccurrence(t *testing.T) {
	t.Parallel()
	db := setup(t, queue.Config{}).db
	var clients []*queue.Client
	var mu sync.Mutex
	runs := map[int64]int{}
	for i := 0; i < 3; i++ {
		reg := queue.NewRegistry()
		queue.Register(reg, queue.WorkFunc[testArgs](func(_ context.Context, j *queue.Job[testArgs]) error {
			mu.Lock()
			runs[j.ID]++
			mu.Unlock()
			if j.ID%2 == 0 {
				return queue.Permanentf("even occurrences fail: the chain must go on")
			}
			return nil
		}))
		c, err := queue.NewClient(db.DB, reg, queue.Config{
			PollInterval: 10 * time.Millisecond,
			Schedules:    []queue.Schedule{{Name: "tick", Cron: "@every 1s", Kind: "test"}},
		}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Work(ctx) }()
	}
	liveCount := func() int {
		var live int
		if err := db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name = 'tick' AND state IN ('available','scheduled','running','retryable')`).Scan(&live); err != nil {
			t.Fatal(err)
		}
		return live
	}
	waitfor.True(t, 5*time.Second, func() bool { return liveCount() > 0 }, func() string { return "no occurrence of the schedule" })
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		var live int
		if err := db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name = 'tick' AND state IN ('available','scheduled','running','retryable')`).Scan(&live); err != nil {
			t.Fatal(err)
		}
		if live != 1 {
			t.Fatalf("%d live occurrences of the schedule, want exactly 1", live)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	var finished, discarded int
	_ = db.DB.QueryRow(`SELECT COUNT(*), SUM(state = 'discarded') FROM iactq_jobs WHERE schedule_name = 'tick' AND state IN ('completed','discarded')`).Scan(&finished, &discarded)
	if finished < 3 || discarded == 0 {
		t.Fatalf("%d occurrences finished (%d failed), want at least 3 with failures among them", finished, discarded)
	}
	for id, n := range runs {
		if n != 1 {
			t.Fatalf("occurrence %d ran %d times", id, n)
		}
	}
	// Deleted by hand: a worker puts one back.
	db.Exec(t, `DELETE FROM iactq_jobs WHERE schedule_name = 'tick' AND state IN ('available','scheduled')`)
	if err := clients[0].HealSchedules(context.Background()); err != nil {
		t.Fatal(err)
	}
	var live int
	_ = db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name = 'tick' AND state IN ('available','scheduled','running','retryable')`).Scan(&live)
	if live != 1 {
		t.Fatalf("after deletion and heal: %d live occurrences", live)
	}
}

func TestThenEnqueuesFollowUpOnlyOnCompletion(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{Retry: queue.RetryPolicy{Initial: time.Millisecond, Max: time.Millisecond}, Queues: map[string]int{"default": 2, "chain": 2}})
	b.work = func(_ context.Context, j *queue.Job[testArgs]) error {
		if j.Args.N >= 3 {
			return nil
		}
		if err := j.Then(queue.InsertParams{Args: testArgs{N: -5}}); err == nil {
			return fmt.Errorf("Then accepted invalid args")
		}
		if err := j.Then(queue.InsertParams{Args: testArgs{N: j.Args.N + 1}, Queue: "chain"}); err != nil {
			return err
		}
		j.Notify("ops", "step done", fmt.Sprintf("step %d", j.Args.N))
		if j.Args.N == 1 && j.Attempt == 1 {
			return fmt.Errorf("step 1 fails once: its follow-up must not exist twice")
		}
		return nil
	}
	res, err := b.client.Insert(context.Background(), queue.InsertParams{Args: testArgs{N: 0}, Queue: "chain"})
	if err != nil {
		t.Fatal(err)
	}
	b.startWorker(t)
	var done int
	waitfor.True(t, 15*time.Second, func() bool {
		_ = b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE queue = 'chain' AND state = 'completed'`).Scan(&done)
		return done == 4
	}, func() string { return fmt.Sprintf("%d of 4 chained jobs completed", done) })
	var total, msgs int
	_ = b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs`).Scan(&total)
	_ = b.db.DB.QueryRow(`SELECT COUNT(*) FROM internal_messages WHERE recipient = 'ops'`).Scan(&msgs)
	if total != 4 || msgs != 3 {
		t.Fatalf("%d jobs (want 4: 0→1→2→3) and %d ops messages (want 3) after job %d's chain", total, msgs, res.ID)
	}
}

type slowArgs struct{}

func (slowArgs) Kind() string { return "slow" }

type panicArgs struct{}

func (panicArgs) Kind() string { return "panics" }

func TestPerKindTimeoutAndPanicsAreRecordedAndRetried(t *testing.T) {
	t.Parallel()
	db := setup(t, queue.Config{}).db
	reg := queue.NewRegistry()
	queue.Register(reg, queue.WorkFunc[slowArgs](func(ctx context.Context, _ *queue.Job[slowArgs]) error {
		<-ctx.Done() // only the kind's timeout ends this
		return ctx.Err()
	}), queue.WithTimeout(50*time.Millisecond))
	queue.Register(reg, queue.WorkFunc[panicArgs](func(context.Context, *queue.Job[panicArgs]) error {
		panic(fmt.Sprintf("report %d has no rows", 7))
	}))
	c, err := queue.NewClient(db.DB, reg, queue.Config{PollInterval: 5 * time.Millisecond, Retry: queue.RetryPolicy{Initial: time.Millisecond, Max: time.Millisecond}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	rows := queuetest.RunJobs(t, c,
		queue.InsertParams{Kind: "slow", MaxAttempts: 2},
		queue.InsertParams{Kind: "panics", MaxAttempts: 3},
	)
	slow, panicked := rows[0], rows[1]
	if slow.State != queue.StateDiscarded || slow.Attempt != 2 || !strings.Contains(slow.AttemptErrors()[0].Error, "timed out after 50ms") {
		t.Errorf("slow job: %s after %d attempts, errors %s", slow.State, slow.Attempt, slow.Errors)
	}
	errs := panicked.AttemptErrors()
	if panicked.State != queue.StateDiscarded || panicked.Attempt != 3 || len(errs) != 3 ||
		!strings.Contains(errs[0].Error, "panic: report 7 has no rows") || !strings.Contains(errs[0].Error, "lifecycle_test.go") {
		t.Errorf("panicking job: %s after %d attempts, errors %s", panicked.State, panicked.Attempt, panicked.Errors)
	}
}

// A claim's COMMIT can take effect while its answer is lost with the connection: the
// worker retries and never starts those jobs. It finds and releases them.
func TestWorkerReleasesClaimsItDoesNotKnow(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	b.startWorker(t)
	var workerID int64
	waitfor.True(t, 10*time.Second, func() bool { return b.db.DB.QueryRow(`SELECT id FROM iactq_workers`).Scan(&workerID) == nil },
		func() string { return "worker did not register" })
	res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, state, attempt, claimed_by, attempted_at) VALUES ('test', 'running', 1, ?, NOW(6) - INTERVAL 1 MINUTE)`, workerID)
	id, _ := res.LastInsertId()
	j := b.waitState(t, id, queue.StateCompleted)
	if j.Attempt != 1 {
		t.Fatalf("released job completed on attempt %d, want 1 (the lost claim spent none)", j.Attempt)
	}
}
