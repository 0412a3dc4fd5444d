package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

const (
	// failoverLimit is issue 13's target: wake-ups resume within 2 s of the watcher's death.
	failoverLimit = 2.0
	// failoverWait bounds the wait for the job inserted after the kill to start.
	failoverWait = time.Minute
)

// errNoLeaderField: `iactq workers --json` says nothing about a leader (a build that
// elects none).
var errNoLeaderField = fmt.Errorf(`iactq workers --json reports no "leader" field: this build elects no watcher`)

// failover measures how long wake-ups take to resume after the fleet's watcher dies: a
// fleet of FailoverProcs idle processes at the defaults, the leader that `iactq workers
// --json` names is sent SIGKILL, a job is inserted with plain SQL at once, and the time
// from its insert to its start (on another process) is measured; also when another
// process is reported as leader.
func (e *env) failover(ctx context.Context, rep *Report) error {
	for _, m := range e.modes() {
		target := fmt.Sprintf("wake-ups resume after SIGKILL of the watcher (%s)", m.name)
		var resumed, elected []float64
		late := 0
		for run := 0; run < e.opts.Runs; run++ {
			r, err := m.env.failoverOnce(ctx, m)
			if err == errNoLeaderField {
				fmt.Fprintf(e.opts.Progress, "bench: failover: %v\n", err)
				rep.notMeasured(fmt.Sprintf("%s <= %s s", target, num(failoverLimit)), err.Error())
				resumed = nil
				break
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.opts.Progress, "bench: failover (%s): job started %.3f s after the kill, new leader reported after %.3f s\n", m.name, r.resumed, r.elected)
			if r.late {
				late++
			}
			resumed, elected = append(resumed, r.resumed), append(elected, r.elected)
		}
		if resumed == nil {
			continue
		}
		note := fmt.Sprintf("%d processes at the defaults, %s; a plain SQL insert right after the kill, to its start", e.opts.FailoverProcs, m.server())
		if late > 0 {
			note += fmt.Sprintf("; in %d run(s) the job had not started after %s (counted as %s)", late, failoverWait, failoverWait)
		}
		f := rep.add(fmt.Sprintf("failover: insert to start after SIGKILL of the leader (%s)", m.name), "s", resumed, note)
		rep.add(fmt.Sprintf("failover: SIGKILL to another leader reported (%s)", m.name), "s", elected, "iactq workers --json, read every 100 ms")
		rep.atMost(target, failoverLimit, f.Median, "s", "")
	}
	if e.opts.BinlogDSN == "" {
		rep.notMeasured("wake-ups resume after SIGKILL of the watcher (binlog)", "no --binlog-dsn")
	}
	return nil
}

type failoverRun struct {
	resumed float64 // s from the job's insert (right after the kill) to its start
	elected float64 // s from the kill until another live process is reported leader
	late    bool    // the job had not started within failoverWait
}

func (e *env) failoverOnce(ctx context.Context, m mode) (failoverRun, error) {
	var r failoverRun
	if err := e.q.BenchClear(ctx); err != nil {
		return r, err
	}
	stop, pids, err := e.startFleet(ctx, e.opts.FailoverProcs, m)
	if err != nil {
		return r, err
	}
	defer stop()
	if err := e.awaitWorker(ctx, wakeupQueue); err != nil {
		return r, err
	}
	leader, err := e.awaitLeader(ctx, pids, 30*time.Second)
	if err != nil {
		return r, err
	}
	killed := time.Now()
	if err := syscall.Kill(leader, syscall.SIGKILL); err != nil {
		return r, fmt.Errorf("kill the leader (pid %d): %w", leader, err)
	}
	id, err := e.q.BenchInsertPlain(ctx, wakeupQueue)
	if err != nil {
		return r, err
	}
	for {
		job, err := e.q.BenchJobStart(ctx, id)
		if err != nil {
			return r, err
		}
		if job.AttemptedAt.Valid {
			r.resumed = job.AttemptedAt.Time.Sub(job.CreatedAt).Seconds()
			break
		}
		if time.Since(killed) > failoverWait {
			r.resumed, r.late = failoverWait.Seconds(), true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	others := slices.DeleteFunc(slices.Clone(pids), func(pid int) bool { return pid == leader })
	if _, err := e.awaitLeader(ctx, others, failoverWait); err != nil {
		return r, err
	}
	r.elected = time.Since(killed).Seconds()
	return r, nil
}

// awaitLeader reads `iactq workers --json` every 100 ms until one of pids is reported
// as the leader, and returns its pid.
func (e *env) awaitLeader(ctx context.Context, pids []int, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		pid, err := e.leader(ctx, pids)
		if err != nil || pid != 0 {
			return pid, err
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no leader among pids %v reported within %s", pids, wait)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// leader returns which of pids `iactq workers --json` reports as the leader (0: none
// of them), or errNoLeaderField.
func (e *env) leader(ctx context.Context, pids []int) (int, error) {
	c := exec.CommandContext(ctx, e.opts.Binary, "workers", "--json")
	c.Env = append(os.Environ(), "IACTQ_DSN="+e.dsn, "IACTQ_CONFIG=")
	c.Stderr = os.Stderr
	out, err := c.Output()
	if err != nil {
		return 0, fmt.Errorf("iactq workers --json: %w", err)
	}
	var workers []struct {
		PID    int   `json:"pid"`
		Leader *bool `json:"leader"`
	}
	if err := json.Unmarshal(out, &workers); err != nil {
		return 0, fmt.Errorf("iactq workers --json: %w", err)
	}
	field := false
	for _, w := range workers {
		if w.Leader == nil {
			continue
		}
		field = true
		if *w.Leader && slices.Contains(pids, w.PID) {
			return w.PID, nil
		}
	}
	if !field && len(workers) > 0 {
		return 0, errNoLeaderField
	}
	return 0, nil
}
