package bench

import (
	"context"
	"fmt"
	"time"
)

// mode is how a fleet's idle workers learn of new work, and the server they run on:
// the defaults (`iactq work` with only a DSN: polling) on the binary-log-off server
// when the run has one (as MariaDB ships), or following the binary log through a
// replication DSN on the main server (as MySQL 8 ships, binary log on).
type mode struct {
	name   string
	binlog bool
	env    *env
}

// modes are polling, and the binary log when the run has a replication DSN.
func (e *env) modes() []mode {
	ms := []mode{{"polling", false, e.off}}
	if e.opts.BinlogDSN != "" {
		ms = append(ms, mode{"binlog", true, e})
	}
	return ms
}

// server says which server a mode ran on, for the figures' notes.
func (m mode) server() string { return "log_bin=" + m.env.logBin }

// startFleet starts n worker processes at the defaults (no config file: queue
// "default" × 10) and waits until all of them are registered.
func (e *env) startFleet(ctx context.Context, n int, m mode) (stop func(), pids []int, err error) {
	if err := e.q.BenchClearWorkers(ctx); err != nil {
		return nil, nil, err
	}
	stop, pids, err = e.startWorkerPIDs(ctx, n, "", m.binlog)
	if err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(60*time.Second + time.Duration(n)*time.Second)
	for {
		have, err := e.q.BenchWorkers(ctx)
		if err != nil {
			stop()
			return nil, nil, err
		}
		if int(have) >= n {
			return stop, pids, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("%d of %d worker processes registered by the deadline", have, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
