package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// crashConfig is the workers' config: fast heartbeats and rescue so that SIGKILLed
// and paused workers are declared dead within seconds, quick retries, and a
// schedule ticking every second.
const crashConfig = `queues: {default: 16}
poll_interval: 20ms
heartbeat_interval: 1s
rescue_after: 3s
shutdown_grace: 5s
retry: {initial: 200ms, max: 2s, jitter: 0.3}
schedules:
  - {name: chaos_tick, cron: "@every 1s", kind: noop, args: {sleep_ms: 30}, requested_by: chaos-schedule}
`

// CrashingWorkers is scenario 1: worker processes drain noop jobs (random sleeps,
// 10 % failing their first attempts, a few panicking until discarded) while a driver
// SIGKILLs a random worker every few seconds and starts another, and one worker is
// paused (SIGSTOP) past the rescue time and then resumed (SIGCONT). Every few kills the
// victim is the leader (the watcher of new work). Then, the fleet idle, the leader is
// SIGKILLed and its successor SIGSTOPped: a new one must be elected each time, and a
// job inserted must start within the safety net (leaderFaults).
func CrashingWorkers(ctx context.Context, o Options) (*Result, error) {
	workers, n, panics, maxSleep, killEvery := 8, 200_000, 100, 20, 3*time.Second
	if o.Short {
		workers, n, panics, maxSleep, killEvery = 4, 20_000, 20, 10, 2*time.Second
	}
	r := &Result{Scenario: "1 crashing workers", Jobs: n}
	began := time.Now()
	defer func() { r.Elapsed = time.Since(began) }()

	db, client, err := newDatabaseWithClient(ctx, o.Server)
	if err != nil {
		return nil, err
	}
	defer db.Close()

	// The jobs, and the state each must end in.
	want, err := insertMixedJobs(ctx, client, n, panics, maxSleep, rand.NewPCG(1, 2))
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(3, 4)) // which worker to kill, and when
	o.logf("crash: %d jobs inserted (%d panicking), starting %d workers", n, panics, workers)

	f, err := newFleet(o.Bin, filepath.Join(o.Dir, "crash"), crashConfig, "IACTQ_DSN="+db.WorkerDSN)
	if err != nil {
		return nil, err
	}
	defer f.killAll()
	if err := f.startN(workers); err != nil {
		return nil, err
	}

	// The schedule: exactly one live occurrence whenever we look.
	liveQuery := `SELECT COUNT(*) FROM iactq_jobs WHERE schedule_name = 'chaos_tick' AND state IN ('available','scheduled','running','retryable')`
	schedCtx, stopSched := context.WithCancel(ctx)
	var schedWG sync.WaitGroup
	var schedLooks, schedBad int
	var schedExample string
	schedWG.Add(1)
	go func() {
		defer schedWG.Done()
		seen := false
		for schedCtx.Err() == nil {
			c := count(schedCtx, db.DB, liveQuery)
			if c == 1 {
				seen = true
			}
			if seen && c >= 0 {
				schedLooks++
				if c != 1 {
					schedBad++
					schedExample = fmt.Sprintf("%d live occurrences at %s", c, time.Now().Format("15:04:05.000"))
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// The driver: SIGKILL a random worker every killEvery and start another; once,
	// SIGSTOP one that holds jobs until it is declared dead and its jobs ran
	// elsewhere, then SIGCONT it.
	var (
		mu       sync.Mutex
		zombie   *proc
		stopAt   time.Time
		contAt   time.Time
		zombieOK bool
	)
	var leaderKills atomic.Int64
	driverCtx, stopDriver := context.WithCancel(ctx)
	driverDone := make(chan struct{})
	go func() {
		defer close(driverDone)
		tick := time.NewTicker(killEvery)
		defer tick.Stop()
		for round := 1; ; round++ {
			select {
			case <-driverCtx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			pausedYet := zombie != nil
			mu.Unlock()
			// From the second round on, until one is: a worker between two claims
			// holds no job, and a fast drain can be over before many rounds.
			if round >= 2 && !pausedYet {
				if p := stopOne(driverCtx, &o, db, f); p != nil {
					mu.Lock()
					zombie, stopAt = p.proc, p.stopAt
					mu.Unlock()
					// Not cut short when the drain ends: the zombie's wait is part of the
					// scenario (the main flow waits for this goroutine).
					ok := p.wait(ctx, &o, db)
					_ = p.proc.signal(syscall.SIGCONT)
					mu.Lock()
					contAt, zombieOK = time.Now(), ok
					mu.Unlock()
					continue
				}
			}
			live := f.live()
			var candidates []*proc
			for _, p := range live {
				if p != zombie || !contAt.IsZero() {
					candidates = append(candidates, p)
				}
			}
			if len(candidates) == 0 {
				continue
			}
			victim := candidates[rng.IntN(len(candidates))]
			what := "pid"
			if round%3 == 0 { // every third kill, the leader's
				if pid := leaderPID(driverCtx, db.DB); pid != 0 {
					for _, p := range candidates {
						if p.pid == pid {
							victim, what = p, "the leader, pid"
							leaderKills.Add(1)
						}
					}
				}
			}
			if err := f.replace(victim); err != nil {
				o.logf("crash: start a worker: %v", err)
			}
			o.logf("crash: killed %s %d (%d kills), %d jobs pending", what, victim.pid, f.kills(), count(driverCtx, db.DB, pendingJobs))
		}
	}()

	timeout := 20 * time.Minute
	if o.Short {
		timeout = 4 * time.Minute
	}
	drained := waitFor(ctx, timeout, func() bool { return count(ctx, db.DB, pendingJobs) == 0 })
	stopDriver()
	<-driverDone
	if !drained {
		r.fail("jobs not all finished within %s", timeout)
	}
	time.Sleep(2 * time.Second) // a couple more schedule ticks with everyone alive
	stopSched()
	schedWG.Wait()
	// The idle fleet: the leader (the watcher) is killed, its successor paused.
	leaderKillsBefore := f.kills()
	// The leader paused in the idle phase may have been running a job (a schedule's
	// last tick) whose attempt was rescued meanwhile, like the zombie's.
	var leaderPause pause
	for _, id := range leaderFaults(ctx, &o, r, db.DB, f, &leaderPause) {
		if id != 0 {
			want[id] = "completed"
		}
	}
	if !waitFor(ctx, 30*time.Second, func() bool { return count(ctx, db.DB, pendingJobs) == 0 }) {
		r.fail("probe jobs not all finished within 30 s")
	}
	f.stopInto(r)
	o.logf("crash: finished in %s; checking", since(began))

	mu.Lock()
	defer mu.Unlock()
	r.Faults = f.kills() + 1
	r.FaultDetail = fmt.Sprintf("%d SIGKILL (%d of the leader), 1 SIGSTOP of the leader", f.kills(), int(leaderKills.Load())+f.kills()-leaderKillsBefore)
	if zombie != nil {
		r.Faults++
		r.FaultDetail += ", 1 SIGSTOP"
		if !zombieOK {
			r.fail("the paused worker pid %d was not declared dead, or its jobs did not run elsewhere, within the wait", zombie.pid)
		}
	} else {
		r.fail("no worker could be paused (none held jobs)")
	}

	all, err := loadJobs(ctx, db.DB)
	if err != nil {
		return nil, err
	}
	execs, err := readJournal(f.journal)
	if err != nil {
		return nil, err
	}
	checkFinal(r, all, want)
	zombiePID := 0
	if zombie != nil {
		zombiePID = zombie.pid
	}
	// Allowed: the paused worker's execution begun before SIGCONT, whose attempt the
	// engine rescued, and which did not stay the job's last attempt.
	zombiePause := pause{pid: zombiePID, stop: stopAt, cont: contAt}
	checkOverlaps(r, execs, all, func(earlier, _ execution, j *jobRow) bool {
		return (zombiePause.covers(earlier) || leaderPause.covers(earlier)) && j.rescued(earlier.Attempt) && j.Attempt > earlier.Attempt
	})
	checkFencing(r, execs, all, func(x execution) bool {
		return f.wasKilled(x.WorkerPID) || zombiePause.covers(x) || leaderPause.covers(x)
	})
	checkMessages(r, all)

	// The zombie's late executions: none may have become the job's outcome.
	late := 0
	for _, x := range execs {
		if x.WorkerPID == zombiePID && x.Start.Before(stopAt) && x.End.After(contAt) {
			late++
			j := all[x.JobID]
			if j != nil && j.Attempt == x.Attempt {
				r.fail("job %d: the paused worker's late execution %s is the job's final attempt", x.JobID, describe(x))
			}
		}
	}
	r.note("paused pid %d for %s: %d of its executions ended after SIGCONT, none recorded (%d overlapped a re-run)", zombiePID, contAt.Sub(stopAt).Round(100*time.Millisecond), late, r.Zombie)

	// The schedule: one occurrence per tick, one live at every look.
	var occ, ticks, done int
	_ = db.DB.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT scheduled_at), COALESCE(SUM(state = 'completed'), 0) FROM iactq_jobs WHERE schedule_name = 'chaos_tick'`).Scan(&occ, &ticks, &done)
	if occ != ticks {
		r.fail("schedule chaos_tick: %d occurrences for %d distinct ticks", occ, ticks)
	}
	if schedBad > 0 {
		r.fail("schedule chaos_tick: %d of %d looks saw other than one live occurrence, e.g. %s", schedBad, schedLooks, schedExample)
	}
	if done < 3 {
		r.fail("schedule chaos_tick: only %d occurrences completed", done)
	}
	r.note("schedule @every 1s: %d occurrences, %d distinct ticks, %d completed; exactly 1 live in %d/%d looks", occ, ticks, done, schedLooks-schedBad, schedLooks)
	r.note("%d executions journaled for %d jobs; %d workers SIGKILLed", len(execs), n, f.kills())
	return r, nil
}

// paused is a worker stopped with SIGSTOP and the jobs it held.
type paused struct {
	proc   *proc
	stopAt time.Time
	held   map[int64]int // job id -> attempt
}

// stopOne SIGSTOPs a live worker that holds running jobs.
func stopOne(ctx context.Context, o *Options, db *Database, f *fleet) *paused {
	for _, p := range f.live() {
		rows, err := db.DB.QueryContext(ctx, `SELECT j.id, j.attempt FROM iactq_jobs j JOIN iactq_workers w ON w.id = j.claimed_by WHERE j.state = 'running' AND w.pid = ?`, p.pid)
		if err != nil {
			continue
		}
		held := map[int64]int{}
		for rows.Next() {
			var id int64
			var a int
			if rows.Scan(&id, &a) == nil {
				held[id] = a
			}
		}
		rows.Close()
		if len(held) == 0 {
			continue
		}
		if err := p.signal(syscall.SIGSTOP); err != nil {
			continue
		}
		o.logf("crash: SIGSTOP pid %d holding %d jobs", p.pid, len(held))
		return &paused{proc: p, stopAt: time.Now(), held: held}
	}
	return nil
}

// wait waits until the paused worker is declared dead (its row deleted) and every
// job it held has moved past its attempt (rescued and re-claimed, or finished).
func (z *paused) wait(ctx context.Context, o *Options, db *Database) bool {
	gone := waitFor(ctx, 60*time.Second, func() bool {
		return count(ctx, db.DB, `SELECT COUNT(*) FROM iactq_workers WHERE pid = ?`, z.proc.pid) == 0
	})
	if !gone {
		return false
	}
	o.logf("crash: paused pid %d declared dead after %s", z.proc.pid, since(z.stopAt))
	return waitFor(ctx, 60*time.Second, func() bool {
		for id, a := range z.held {
			var attempt int
			var state string
			if db.DB.QueryRowContext(ctx, `SELECT attempt, state FROM iactq_jobs WHERE id = ?`, id).Scan(&attempt, &state) != nil {
				return false
			}
			if attempt <= a && state != "completed" && state != "discarded" {
				return false
			}
		}
		return true
	})
}
