package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// wakeupQueue is the queue of the defaults: the fleets of the wakeup step run no config.
const wakeupQueue = "default"

// Issue 13's enqueue-to-start targets, p50 and p99 in ms, by how idle workers wake.
var wakeupLimits = map[string][2]float64{"polling": {10, 30}, "binlog": {3, 10}}

// wakeup measures enqueue-to-start with fleets of idle worker processes at the defaults:
// jobs inserted one at a time with plain SQL by another process (this one), 20–56 ms
// apart, each timed from its created_at to its attempted_at.
func (e *env) wakeup(ctx context.Context, rep *Report) error {
	for _, m := range e.modes() {
		for _, n := range e.opts.WakeupProcs {
			var p50, p99 []float64
			for run := 0; run < e.opts.Runs; run++ {
				micros, err := m.env.wakeupOnce(ctx, n, m)
				if err != nil {
					return err
				}
				at := func(p float64) float64 { return float64(micros[int(p*float64(len(micros)-1))]) / 1000 }
				fmt.Fprintf(e.opts.Progress, "bench: wakeup, %d process(es), %s: p50 %.1f ms, p99 %.1f ms\n", n, m.name, at(0.5), at(0.99))
				p50, p99 = append(p50, at(0.5)), append(p99, at(0.99))
			}
			note := fmt.Sprintf("%d plain SQL inserts per run, defaults, %s", e.opts.Latency, m.server())
			f50 := rep.add(fmt.Sprintf("enqueue-to-start p50, %d process(es) (%s)", n, m.name), "ms", p50, note)
			f99 := rep.add(fmt.Sprintf("enqueue-to-start p99, %d process(es) (%s)", n, m.name), "ms", p99, "")
			limits := wakeupLimits[m.name]
			rep.atMost(fmt.Sprintf("enqueue-to-start p50, %d process(es) (%s)", n, m.name), limits[0], f50.Median, "ms", "")
			rep.atMost(fmt.Sprintf("enqueue-to-start p99, %d process(es) (%s)", n, m.name), limits[1], f99.Median, "ms", "")
		}
	}
	if e.opts.BinlogDSN == "" {
		for _, n := range e.opts.WakeupProcs {
			rep.notMeasured(fmt.Sprintf("enqueue-to-start p50/p99, %d process(es) (binlog)", n), "no --binlog-dsn")
		}
	}
	return nil
}

// wakeupOnce returns the enqueue-to-start times of one run, in µs, sorted.
func (e *env) wakeupOnce(ctx context.Context, n int, m mode) ([]int64, error) {
	if err := e.q.BenchClear(ctx); err != nil {
		return nil, err
	}
	stop, _, err := e.startFleet(ctx, n, m)
	if err != nil {
		return nil, err
	}
	defer stop()
	// One job through first: the fleet is claiming (and following the log).
	if err := e.awaitWorker(ctx, wakeupQueue); err != nil {
		return nil, err
	}
	if err := e.q.BenchClearQueue(ctx, wakeupQueue); err != nil {
		return nil, err
	}
	for i := 0; i < e.opts.Latency; i++ {
		if _, err := e.q.BenchInsertPlain(ctx, wakeupQueue); err != nil {
			return nil, err
		}
		if err := sleep(ctx, time.Duration(20+i%37)*time.Millisecond); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		unfinished, err := e.unfinished(ctx, wakeupQueue)
		if err != nil {
			return nil, err
		}
		if !unfinished {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("wakeup: jobs not finished a minute after the last insert")
		}
		time.Sleep(10 * time.Millisecond)
	}
	micros, err := e.q.BenchLatencies(ctx, wakeupQueue)
	if err != nil {
		return nil, err
	}
	if len(micros) != e.opts.Latency {
		return nil, fmt.Errorf("wakeup: %d of %d jobs completed", len(micros), e.opts.Latency)
	}
	slices.Sort(micros)
	return micros, nil
}
