package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/iact/iactq/queue"
)

const (
	memoryQueue       = "memory"
	memoryConcurrency = 200
	memoryJobSleep    = time.Second
)

// memory measures the resident memory of one worker process running 200 noop jobs at a
// time, each sleeping a second: its peak (VmHWM) and its VmRSS while all 200 run.
func (e *env) memory(ctx context.Context, rep *Report) error {
	var peak, busy []float64
	most := int64(memoryConcurrency)
	for run := 0; run < e.opts.Runs; run++ {
		m, err := e.memoryOnce(ctx)
		if err != nil {
			return err
		}
		peak = append(peak, m.peakMB)
		busy = append(busy, m.busyMB)
		most = min(most, m.inFlight)
	}
	note := fmt.Sprintf("1 process x %d, noop jobs sleeping %s; target <= 100 MB", memoryConcurrency, memoryJobSleep)
	rep.add("worker peak memory (VmHWM)", "MB", peak, note)
	busyNote := ""
	if most < memoryConcurrency {
		busyNote = fmt.Sprintf("at most %d jobs were in flight in some run", most)
	}
	rep.add(fmt.Sprintf("worker memory (VmRSS), %d jobs running", memoryConcurrency), "MB", busy, busyNote)
	return e.q.BenchClear(ctx)
}

// memoryRun is what one run of the memory step saw.
type memoryRun struct {
	peakMB   float64 // VmHWM once the jobs are done
	busyMB   float64 // the highest VmRSS sampled while the most jobs were running
	inFlight int64   // the most jobs seen running at once
}

func (e *env) memoryOnce(ctx context.Context) (memoryRun, error) {
	var m memoryRun
	if err := e.q.BenchClear(ctx); err != nil {
		return m, err
	}
	// Enough jobs to keep every slot busy for MemoryBusy.
	n := memoryConcurrency * max(1, int(e.opts.MemoryBusy/memoryJobSleep))
	args := json.RawMessage(fmt.Sprintf(`{"sleep_ms": %d}`, memoryJobSleep.Milliseconds()))
	for done := 0; done < n; {
		ps := make([]queue.InsertParams, min(1000, n-done))
		for i := range ps {
			ps[i] = queue.InsertParams{Kind: "noop", Args: args, Queue: memoryQueue}
		}
		if _, err := e.client.InsertMany(ctx, ps); err != nil {
			return m, err
		}
		done += len(ps)
	}
	stop, pids, err := e.startWorkerPIDs(ctx, 1, fmt.Sprintf("queues: {%s: %d}\n", memoryQueue, memoryConcurrency), false)
	if err != nil {
		return m, err
	}
	defer stop()
	var busyKB, maxKB int64
	deadline := time.Now().Add(3*e.opts.MemoryBusy + 30*time.Second)
	for {
		unfinished, err := e.unfinished(ctx, memoryQueue)
		if err != nil {
			return m, err
		}
		if !unfinished {
			break
		}
		running, err := e.q.BenchCountState(ctx, "running")
		if err != nil {
			return m, err
		}
		_, rss, err := procMemory(pids[0])
		if err != nil {
			return m, err
		}
		maxKB = max(maxKB, rss)
		if running > m.inFlight {
			m.inFlight, busyKB = running, rss
		} else if running == m.inFlight {
			busyKB = max(busyKB, rss)
		}
		if time.Now().After(deadline) {
			return m, fmt.Errorf("memory: %d jobs not finished by the deadline", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	peakKB, _, err := procMemory(pids[0])
	if err != nil {
		return m, err
	}
	// The kernel updates VmHWM lazily: the peak is at least every VmRSS sampled.
	m.peakMB, m.busyMB = float64(max(peakKB, maxKB))/1024, float64(busyKB)/1024
	return m, nil
}

// procMemory reads a process's peak and current resident memory, in kB, from
// /proc/PID/status (Linux).
func procMemory(pid int) (hwm, rss int64, err error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("worker memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name != "VmHWM" && name != "VmRSS" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("worker memory: %s: %q", path, line)
		}
		if name == "VmHWM" {
			hwm = kb
		} else {
			rss = kb
		}
	}
	if hwm == 0 || rss == 0 {
		return 0, 0, fmt.Errorf("worker memory: no VmHWM and VmRSS in %s", path)
	}
	return hwm, rss, nil
}
