package bench

import (
	"context"
	"fmt"
)

const (
	// defaultsFloorBatch is the floor's batch the defaults are held to.
	defaultsFloorBatch = 1000
	// defaultsShareLimit is issue 13's target: the defaults reach 75 % of that floor.
	defaultsShareLimit = 75.0
)

// drainDefaults measures one `iactq work` at its defaults (no config file: queue
// "default" at its default concurrency) draining DrainJobs noop jobs, and the floor at
// batch 1 000 right after it, in each run; on the binary-log-off server when the run
// has one.
func (e *env) drainDefaults(ctx context.Context, rep *Report) error {
	e = e.off
	var rates, floor, shares []float64
	for run := 0; run < e.opts.Runs; run++ {
		rate, err := e.drainOnce(ctx, 1, wakeupQueue, "")
		if err != nil {
			return err
		}
		f, err := e.floorOnce(ctx, defaultsFloorBatch, 1)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.opts.Progress, "bench: drain at the defaults %.0f jobs/s, floor at batch %d %.0f jobs/s\n", rate, defaultsFloorBatch, f)
		rates, floor, shares = append(rates, rate), append(floor, f), append(shares, 100*rate/f)
	}
	rep.add(fmt.Sprintf("drain %d noop jobs, 1 process at the defaults", e.opts.DrainJobs), "jobs/s", rates, "iactq work with only a DSN, log_bin="+e.logBin)
	rep.add(fmt.Sprintf("floor: SQL loop, 1 claimer, batch %d", defaultsFloorBatch), "jobs/s", floor, "")
	f := rep.add(fmt.Sprintf("drain at the defaults as a share of the floor at batch %d", defaultsFloorBatch), "%", shares, "median of the runs' shares")
	rep.atLeast(fmt.Sprintf("drain at the defaults, share of the floor at batch %d", defaultsFloorBatch), defaultsShareLimit, f.Median, "%", "")
	return e.q.BenchClear(ctx)
}
