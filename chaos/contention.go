package chaos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// Contention is scenario 3: many goroutines enqueue jobs with colliding unique keys
// (several per transaction, in random order) while in-process workers claim, fail,
// retry and complete them, with a 1 s lock-wait timeout. Every connection's
// errors are counted: deadlocks (1213) and lock-wait timeouts (1205) must all be
// retried inside the engine, never becoming a job failure nor an enqueue error (no
// enqueue call may fail).
func Contention(ctx context.Context, o Options) (*Result, error) {
	workers, enqueuers, keys, phase := 8, 32, 40, 60*time.Second
	if o.Short {
		workers, enqueuers, keys, phase = 4, 16, 20, 15*time.Second
	}
	r := &Result{Scenario: "3 contention"}
	began := time.Now()
	defer func() { r.Elapsed = time.Since(began) }()

	db, err := NewDatabase(ctx, o.Server)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	dsn, err := withParam(db.WorkerDSN, "innodb_lock_wait_timeout", "1")
	if err != nil {
		return nil, err
	}
	var counts errorCounts
	pool, err := openCounting(dsn, &counts)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	before := serverLockCounters(ctx, db.Admin)

	var (
		mu    sync.Mutex
		execs []execution
	)
	registry := jobs.NewRegistry(jobs.Deps{})
	newClient := func(i int) (*queue.Client, error) {
		return queue.NewClient(pool, registry, queue.Config{
			Queues:            map[string]int{"default": 8},
			PollInterval:      5 * time.Millisecond,
			HeartbeatInterval: time.Second,
			RescueAfter:       30 * time.Second,
			Retry:             queue.RetryPolicy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, Jitter: 0.3},
			Journal: func(job *queue.JobRow, start, end time.Time, err error) {
				x := execution{JobID: job.ID, Attempt: job.Attempt, WorkerPID: i, Start: start, End: end}
				if err != nil {
					s := err.Error()
					x.Err = &s
				}
				mu.Lock()
				execs = append(execs, x)
				mu.Unlock()
			},
		}, zerolog.Nop())
	}
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var workWG sync.WaitGroup
	for i := 1; i <= workers; i++ {
		c, err := newClient(i)
		if err != nil {
			return nil, err
		}
		workWG.Add(1)
		go func() { defer workWG.Done(); _ = c.Work(workCtx) }()
	}
	enq, err := newClient(0)
	if err != nil {
		return nil, err
	}

	want := map[int64]string{}
	var calls, inserts, duplicates int
	insertErrs := map[string]int{}
	var enqWG sync.WaitGroup
	deadline := time.Now().Add(phase)
	for e := 0; e < enqueuers; e++ {
		enqWG.Add(1)
		go func() {
			defer enqWG.Done()
			rng := rand.New(rand.NewPCG(uint64(e), 7))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				var ps []queue.InsertParams
				for k := 0; k < 1+rng.IntN(5); k++ {
					a := jobs.NoopArgs{SleepMS: rng.IntN(4)}
					if rng.IntN(10) < 3 {
						a.FailAttempts = 1
					}
					p := queue.InsertParams{Kind: "noop", Args: a}
					if rng.IntN(10) < 7 {
						p.UniqueKey = fmt.Sprintf("k%d", rng.IntN(keys))
					}
					if rng.IntN(10) == 0 {
						p.RequestedBy = "chaos"
					}
					ps = append(ps, p)
				}
				res, err := enq.InsertMany(ctx, ps)
				mu.Lock()
				calls++
				if err != nil {
					insertErrs[errorClass(err)]++
				}
				for _, x := range res {
					inserts++
					if x.Duplicate {
						duplicates++
					} else {
						want[x.ID] = "completed"
					}
				}
				mu.Unlock()
			}
		}()
	}
	enqWG.Wait()
	o.logf("contention: %d jobs enqueued (%d duplicates refused); waiting for the drain", len(want), duplicates)
	notDone := `SELECT COUNT(*) FROM iactq_jobs WHERE state <> 'completed'`
	if !waitFor(ctx, 3*time.Minute, func() bool { return count(ctx, db.DB, notDone) == 0 }) {
		r.fail("jobs not all completed within 3 minutes")
	}
	stopWork()
	workWG.Wait()
	after := serverLockCounters(ctx, db.Admin)

	all, err := loadJobs(ctx, db.DB)
	if err != nil {
		return nil, err
	}
	r.Jobs = len(all)
	for id := range all {
		if _, ok := want[id]; !ok {
			r.fail("job %d exists but no enqueuer was told so", id)
			want[id] = "completed"
		}
	}
	mu.Lock()
	defer mu.Unlock()
	checkFinal(r, all, want)
	checkOverlaps(r, execs, all, nil)
	checkFencing(r, execs, all, func(execution) bool { return false })
	checkMessages(r, all)
	if n, example := jobErrorsMentioning(all, "1213", "1205", "deadlock", "lock wait"); n > 0 {
		r.fail("%d jobs have a lock error recorded as their failure, e.g. %s", n, example)
	}
	// Deadlocks and lock-wait timeouts are retried inside InsertMany until its context
	// ends: no enqueue call may fail, for that reason or any other.
	failedCalls := 0
	var classes []string
	for class, n := range insertErrs {
		failedCalls += n
		if strings.Contains(class, "keeps changing hands") {
			class = "insert job: unique key \"k<N>\" keeps changing hands"
		}
		classes = append(classes, fmt.Sprintf("%s (%d)", class, n))
	}
	if failedCalls > 0 {
		slices.Sort(classes)
		r.fail("%d of %d enqueue calls failed: %s", failedCalls, calls, strings.Join(classes, "; "))
	}

	d, lt, otherErrs := counts.deadlocks.Load(), counts.lockTimeouts.Load(), counts.other.Load()
	r.Faults = int(d + lt)
	r.FaultDetail = fmt.Sprintf("%d deadlocks, %d lock-wait timeouts, retried", d, lt)
	r.note("%d enqueue calls (%d failed): %d rows, %d refused as duplicates of a live key; %d executions", calls, failedCalls, inserts, duplicates, len(execs))
	r.note("seen by the engine's connections: %d deadlocks (1213), %d lock-wait timeouts (1205), %d duplicate keys (1062), %d other server errors; no job failure mentions a lock error", d, lt, counts.duplicates.Load(), otherErrs)
	r.note("server counters over the run (whole server): Innodb_deadlocks +%d, lock_timeouts +%d, Innodb_row_lock_waits +%d", after[0]-before[0], after[1]-before[1], after[2]-before[2])
	if d+lt == 0 {
		r.note("no deadlock or lock-wait timeout happened in this run: the check held vacuously")
	}
	return r, nil
}

// errorClass names an enqueue error: its MySQL number, or its text.
func errorClass(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprint(me.Number)
	}
	return abbreviate(err.Error(), 100)
}

// serverLockCounters reads Innodb_deadlocks, the lock_timeouts metric and
// Innodb_row_lock_waits (zeros where unreadable).
func serverLockCounters(ctx context.Context, admin *sql.DB) [3]int64 {
	var out [3]int64
	var name string
	_ = admin.QueryRowContext(ctx, `SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'`).Scan(&name, &out[0])
	_ = admin.QueryRowContext(ctx, `SELECT COUNT FROM information_schema.INNODB_METRICS WHERE NAME = 'lock_timeouts'`).Scan(&out[1])
	_ = admin.QueryRowContext(ctx, `SHOW GLOBAL STATUS LIKE 'Innodb_row_lock_waits'`).Scan(&name, &out[2])
	return out
}
