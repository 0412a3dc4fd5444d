package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	sustainedQueue       = "sustained"
	sustainedConcurrency = 100
	// sustainedMaxRate ends the doubling: no producer on one machine gets near it.
	sustainedMaxRate = 256_000
)

// sustainTry is the outcome of one producer rate held for a window.
type sustainTry struct {
	rate     int // target, jobs/s
	window   time.Duration
	achieved float64 // jobs/s the producer inserted
	growth   float64 // backlog: mean of the last third of the samples minus the first third
	allowed  float64 // the growth still counted as flat
}

// reached tells whether the producer kept up with the rate it was given.
func (t sustainTry) reached() bool { return t.achieved >= 0.95*float64(t.rate) }

// flat tells whether the rate was produced and the workers kept the backlog from growing.
func (t sustainTry) flat() bool { return t.reached() && t.growth <= t.allowed }

// limit says what kept a rate from being flat: the producer, the workers, or both.
func (t sustainTry) limit() string {
	var why []string
	if !t.reached() {
		why = append(why, fmt.Sprintf("enqueue-limited (asked %d jobs/s, the producer inserted %.0f)", t.rate, t.achieved))
	}
	if t.growth > t.allowed {
		why = append(why, fmt.Sprintf("worker-limited (at %.0f jobs/s the backlog grew by %.0f jobs in %s)", t.achieved, t.growth, t.window))
	}
	return strings.Join(why, " and ")
}

// sustained measures the highest rate of single-job inserts that one worker process
// (concurrency 100, polling) keeps up with: the backlog stays flat for the window.
func (e *env) sustained(ctx context.Context, rep *Report) error {
	var rates []float64
	var limits []string
	for run := 0; run < e.opts.Runs; run++ {
		rate, limit, err := e.sustainedOnce(ctx)
		if err != nil {
			return err
		}
		rates = append(rates, float64(rate))
		limits = append(limits, limit)
	}
	name := fmt.Sprintf("sustained rate, backlog flat for %s, 1 process x %d", e.opts.SustainWindow, sustainedConcurrency)
	rep.add(name, "jobs/s", rates, "one Insert per job, polling worker; above it: "+strings.Join(limits, "; "))
	return e.q.BenchClear(ctx)
}

// sustainedOnce searches the rate: doubling from 1 000 jobs/s until a rate is not flat,
// then bisecting to within an eighth, each rate held for a short screen of at most 5 s.
// The best rate found is then held for the whole window, and lowered by a tenth until
// it stays flat (three tries). It returns the rate and what limited the next one up.
func (e *env) sustainedOnce(ctx context.Context) (int, string, error) {
	window := e.opts.SustainWindow
	screen := min(window, 5*time.Second)
	best, worst := 0, 0 // the highest rate found flat, the lowest found not flat (0: none)
	limit := ""
	// try holds rate for d and records the outcome in best or worst.
	try := func(rate int, d time.Duration) (bool, error) {
		t, err := e.sustainAt(ctx, rate, d)
		if err != nil {
			return false, err
		}
		fmt.Fprintf(e.opts.Progress, "bench: sustained %d jobs/s for %s: producer %.0f jobs/s, backlog growth %.0f (allowed %.0f): flat %t\n",
			rate, d, t.achieved, t.growth, t.allowed, t.flat())
		if t.flat() {
			best = max(best, rate)
			return true, nil
		}
		worst, limit = rate, t.limit()
		return false, nil
	}
	for rate := 1000; worst == 0 && rate <= sustainedMaxRate; rate *= 2 {
		if _, err := try(rate, screen); err != nil {
			return 0, "", err
		}
	}
	if worst == 0 {
		return best, fmt.Sprintf("not limited up to %d jobs/s", best), nil
	}
	for worst-best > max(best/8, 250) {
		if _, err := try((best+worst)/2/50*50, screen); err != nil {
			return 0, "", err
		}
	}
	if window <= screen {
		return best, limit, nil
	}
	for tries := 0; best > 0; tries++ {
		if tries == 3 {
			return 0, fmt.Sprintf("no rate stayed flat for %s; %s", window, limit), nil
		}
		rate := best
		best = 0
		flat, err := try(rate, window)
		if err != nil {
			return 0, "", err
		}
		if flat {
			break
		}
		best = rate * 9 / 10 / 50 * 50
	}
	return best, limit, nil
}

// sustainAt starts one worker process on an empty queue, then inserts rate noop jobs a
// second, one per Insert, for window, sampling the backlog (jobs waiting to be claimed).
func (e *env) sustainAt(ctx context.Context, rate int, window time.Duration) (sustainTry, error) {
	t := sustainTry{rate: rate, window: window}
	if err := e.q.BenchClear(ctx); err != nil {
		return t, err
	}
	stop, err := e.startWorkers(ctx, 1, fmt.Sprintf("queues: {%s: %d}\n", sustainedQueue, sustainedConcurrency), false)
	if err != nil {
		return t, err
	}
	defer stop()
	if err := e.awaitWorker(ctx, sustainedQueue); err != nil {
		return t, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One Insert takes about a millisecond: enough producers that the rate is not capped
	// by their round trips, fewer than the connection pool holds.
	producers := min(40, max(4, rate/100))
	began := time.Now()
	end := began.Add(window)
	var slots, inserted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				// Slot k of the schedule is due k/rate seconds after the start, whichever
				// producer takes it: a late insert does not delay the ones after it.
				due := began.Add(time.Duration(slots.Add(1)-1) * time.Second / time.Duration(rate))
				if !due.Before(end) || !time.Now().Before(end) {
					return
				}
				time.Sleep(time.Until(due))
				if _, err := e.client.Insert(ctx, noop(sustainedQueue)); err != nil {
					errs <- err
					cancel()
					return
				}
				inserted.Add(1)
			}
		}()
	}
	samples, sampleErr := e.sampleBacklog(ctx, end, min(time.Second, window/20))
	wg.Wait()
	close(errs)
	for err := range errs {
		return t, fmt.Errorf("insert at %d jobs/s: %w", rate, err)
	}
	if sampleErr != nil {
		return t, sampleErr
	}
	if len(samples) == 0 {
		return t, fmt.Errorf("no backlog sample in %s", window)
	}
	third := max(1, len(samples)/3)
	t.achieved = float64(inserted.Load()) / window.Seconds()
	t.growth = mean(samples[len(samples)-third:]) - mean(samples[:third])
	t.allowed = max(200, 0.02*float64(inserted.Load()))
	return t, nil
}

// sampleBacklog counts the jobs waiting in the sustained queue every interval until end.
func (e *env) sampleBacklog(ctx context.Context, end time.Time, interval time.Duration) ([]float64, error) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var samples []float64
	for {
		select {
		case <-ctx.Done():
			return samples, ctx.Err()
		case now := <-tick.C:
			if now.After(end) {
				return samples, nil
			}
			n, err := e.q.BenchBacklog(ctx, sustainedQueue)
			if err != nil {
				return samples, fmt.Errorf("count the backlog: %w", err)
			}
			samples = append(samples, float64(n))
		}
	}
}

// awaitWorker inserts one job into queueName and waits until a worker has finished it:
// the worker process is then up and claiming.
func (e *env) awaitWorker(ctx context.Context, queueName string) error {
	if _, err := e.client.Insert(ctx, noop(queueName)); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		unfinished, err := e.unfinished(ctx, queueName)
		if err != nil {
			return err
		}
		if !unfinished {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the worker process finished no job in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
