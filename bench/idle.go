package bench

import (
	"context"
	"fmt"
	"time"
)

// Issue 13's idle targets: a fleet of the largest size costs the server at most 1.5 ×
// what one process costs, and each process beyond the first at most 0.5 queries/s.
const (
	idleRatioLimit        = 1.5
	idleExtraLimitPerProc = 0.5
)

// idle measures the statements per second the server receives from fleets of idle
// worker processes at the defaults: the server's Questions counter over IdleWindow,
// after IdleWarmup, less the bench's own read of it.
func (e *env) idle(ctx context.Context, rep *Report) error {
	for _, m := range e.modes() {
		if err := m.env.q.BenchClear(ctx); err != nil {
			return err
		}
		medians := make(map[int]float64)
		for _, n := range e.opts.IdleProcs {
			var runs []float64
			for run := 0; run < e.opts.Runs; run++ {
				qps, err := m.env.idleOnce(ctx, n, m)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.opts.Progress, "bench: idle, %d process(es), %s: %.1f queries/s\n", n, m.name, qps)
				runs = append(runs, qps)
			}
			f := rep.add(fmt.Sprintf("idle fleet, %d process(es) (%s)", n, m.name), "queries/s", runs,
				fmt.Sprintf("server's Questions over %s after %s, defaults, %s", e.opts.IdleWindow, e.opts.IdleWarmup, m.server()))
			medians[n] = f.Median
		}
		e.idleTargets(rep, m, medians)
	}
	if e.opts.BinlogDSN == "" {
		for _, t := range []string{"idle ratio", "idle cost per extra process"} {
			rep.notMeasured(t+" (binlog)", "no --binlog-dsn")
		}
	}
	return nil
}

func (e *env) idleTargets(rep *Report, m mode, medians map[int]float64) {
	procs := e.opts.IdleProcs
	if len(procs) < 2 || procs[len(procs)-1] <= procs[0] {
		rep.notMeasured(fmt.Sprintf("idle ratio (%s)", m.name), "needs two fleet sizes, the larger last")
		return
	}
	first, last := procs[0], procs[len(procs)-1]
	base := medians[first]
	note := fmt.Sprintf("%.1f / %.1f queries/s", medians[last], base)
	if base > 0 {
		rep.atMost(fmt.Sprintf("idle ratio (%s): %d processes / %d", m.name, last, first), idleRatioLimit, medians[last]/base, "x", note)
	} else {
		rep.notMeasured(fmt.Sprintf("idle ratio (%s)", m.name), "the baseline fleet sent no statement: "+note)
	}
	extra := (medians[last] - base) / float64(last-first)
	rep.atMost(fmt.Sprintf("idle cost per extra process (%s), %d -> %d", m.name, first, last), idleExtraLimitPerProc, extra, "queries/s", note)
}

func (e *env) idleOnce(ctx context.Context, n int, m mode) (float64, error) {
	stop, _, err := e.startFleet(ctx, n, m)
	if err != nil {
		return 0, err
	}
	defer stop()
	if err := sleep(ctx, e.opts.IdleWarmup); err != nil {
		return 0, err
	}
	q0, err := questions(ctx, e.db)
	if err != nil {
		return 0, err
	}
	began := time.Now()
	if err := sleep(ctx, e.opts.IdleWindow); err != nil {
		return 0, err
	}
	q1, err := questions(ctx, e.db)
	if err != nil {
		return 0, err
	}
	return float64(q1-q0-1) / time.Since(began).Seconds(), nil
}
