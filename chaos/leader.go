package chaos

import (
	"context"
	"database/sql"
	"syscall"
	"time"
)

// Faults of the elected leader, the watcher that rings the doorbell idle workers wait
// on (docs/wakeups.md), and the check that matters to an idle fleet: work that is there
// is started within the safety net whatever happened to the watcher or the waiters'
// connections.

// safetyNet is how long an idle worker waits on the doorbell without a ring before it
// looks for work itself (queue.Config.IdlePollInterval at its default). A probe job
// must start within it; probeGrace allows for this loaded machine's scheduling.
const (
	safetyNet  = 45 * time.Second
	probeGrace = 2 * time.Second
)

// leaderPID is the pid of the worker the lease names while it holds, 0 if none.
func leaderPID(ctx context.Context, db *sql.DB) int {
	var pid int
	err := db.QueryRowContext(ctx, `SELECT w.pid FROM iactq_leader l JOIN iactq_workers w ON w.id = l.worker_id
		WHERE l.expires_at > NOW(6)`).Scan(&pid)
	if err != nil {
		return 0
	}
	return pid
}

// awaitLeader waits until a live leader other than those in not is reported, and
// returns its pid (0 after the timeout).
func awaitLeader(ctx context.Context, db *sql.DB, timeout time.Duration, not ...int) int {
	var pid int
	waitFor(ctx, timeout, func() bool {
		pid = leaderPID(ctx, db)
		for _, n := range not {
			if pid == n {
				return false
			}
		}
		return pid != 0
	})
	return pid
}

// probeJob inserts one noop job with plain SQL and returns its id and how long until a
// worker started it (its state left 'available'), or false after limit.
func probeJob(ctx context.Context, db *sql.DB, limit time.Duration) (int64, time.Duration, bool) {
	began := time.Now()
	res, err := db.ExecContext(ctx, `INSERT INTO iactq_jobs (kind, args) VALUES ('noop', '{}')`)
	if err != nil {
		return 0, 0, false
	}
	id, _ := res.LastInsertId()
	ok := waitFor(ctx, limit, func() bool {
		return count(ctx, db, `SELECT COUNT(*) FROM iactq_jobs WHERE id = ? AND state <> 'available'`, id) == 1
	})
	return id, time.Since(began), ok
}

// probeAfter runs fault against the idle fleet, then a probe, and records the result:
// the probe must start within the safety net. It returns the probe's job id (0 if
// none was inserted).
func probeAfter(ctx context.Context, o *Options, r *Result, db *sql.DB, what string, fault func()) int64 {
	fault()
	id, took, ok := probeJob(ctx, db, safetyNet+probeGrace)
	if !ok {
		r.fail("%s: a job inserted then was not started within %s (safety net %s)", what, safetyNet+probeGrace, safetyNet)
	}
	o.logf("%s: probe job %d started after %s", what, id, took.Round(time.Millisecond))
	r.note("%s: an idle worker started a new job %s later (safety net %s)", what, took.Round(time.Millisecond), safetyNet)
	return id
}

// leaderFaults is the crash scenario's idle phase: with every job done, the leader is
// SIGKILLed, then its successor SIGSTOPped past the server's timeout of its sessions
// and resumed. After each, a new leader must be elected and a job inserted must start
// within the safety net. It returns the probe jobs' ids.
// pause is a process the scenario stopped with SIGSTOP and resumed with SIGCONT. An
// execution of its that began before SIGCONT may have had its attempt rescued: the
// process was paused past rescue_after.
type pause struct {
	pid        int
	stop, cont time.Time
}

// covers tells whether execution x began in the process before it was resumed.
func (p pause) covers(x execution) bool {
	return p.pid != 0 && x.WorkerPID == p.pid && x.Start.Before(p.cont)
}

func leaderFaults(ctx context.Context, o *Options, r *Result, db *sql.DB, f *fleet, leaderPause *pause) []int64 {
	var probes []int64
	procOf := func(pid int) *proc {
		for _, p := range f.live() {
			if p.pid == pid {
				return p
			}
		}
		return nil
	}
	first := awaitLeader(ctx, db, 30*time.Second)
	victim := procOf(first)
	if victim == nil {
		r.fail("leader faults: no live leader reported within 30 s")
		return nil
	}
	var killed time.Time
	probes = append(probes, probeAfter(ctx, o, r, db, "SIGKILL of the leader", func() {
		if err := f.replace(victim); err != nil {
			o.logf("crash: start a worker: %v", err)
		}
		killed = time.Now()
	}))
	second := awaitLeader(ctx, db, 30*time.Second, first)
	if second == 0 {
		r.fail("no new leader within 30 s of SIGKILL of leader pid %d", first)
		return probes
	}
	r.note("leader pid %d SIGKILLed: pid %d leads %s later", first, second, since(killed))

	paused := procOf(second)
	if paused == nil {
		r.fail("leader faults: the new leader pid %d is not one of the fleet's", second)
		return probes
	}
	var stopped time.Time
	probes = append(probes, probeAfter(ctx, o, r, db, "SIGSTOP of the leader", func() {
		_ = paused.signal(syscall.SIGSTOP)
		stopped = time.Now()
	}))
	third := awaitLeader(ctx, db, 30*time.Second, first, second)
	if third == 0 {
		r.fail("no new leader within 30 s of SIGSTOP of leader pid %d", second)
	} else {
		r.note("leader pid %d SIGSTOPped: pid %d leads %s later", second, third, since(stopped))
	}
	_ = paused.signal(syscall.SIGCONT)
	*leaderPause = pause{pid: paused.pid, stop: stopped, cont: time.Now()}
	// Resumed, the old leader finds its term over and steps down: one leader, not it.
	time.Sleep(3 * time.Second)
	if pid := leaderPID(ctx, db); pid == second {
		r.fail("the paused leader pid %d leads again after SIGCONT, over pid %d", second, third)
	}
	probes = append(probes, probeAfter(ctx, o, r, db, "SIGCONT of the paused leader", func() {}))
	return probes
}
