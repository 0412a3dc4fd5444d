package queue_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// releaseCounter records the outcomes recorded as released (back to available), and
// calls onRelease with their number after each.
type releaseCounter struct {
	queue.NopObserver
	mu        sync.Mutex
	claimed   int
	released  []int64
	onRelease func(n int)
}

func (o *releaseCounter) Claimed(_ string, n int, _ time.Duration) {
	o.mu.Lock()
	o.claimed += n
	o.mu.Unlock()
}

func (o *releaseCounter) claimedSoFar() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.claimed
}

func (o *releaseCounter) Finished(job *queue.JobRow, state queue.State, _, _ time.Duration) {
	if state == queue.StateAvailable {
		o.mu.Lock()
		o.released = append(o.released, job.ID)
		n := len(o.released)
		o.mu.Unlock()
		o.onRelease(n)
	}
}

// TestPrefetchedJobsAreReleasedOnShutdown: while jobs are short a producer claims jobs
// ahead of its slots (the prefetch: what its slots start within 100 ms, here every
// job left); when the worker stops, the jobs it claimed ahead and never started go back to
// the queue with their attempt unspent, the running ones finish, and nothing is left
// running.
func TestPrefetchedJobsAreReleasedOnShutdown(t *testing.T) {
	t.Parallel()
	// ahead: the jobs left once the slots are blocked, all claimed ahead while the
	// mean run time is under 40 ms (40 slots × 100 ms / 100).
	const slots, fast, ahead = 40, 200, 100
	// The running jobs end once the prefetched ones are released (if they never are,
	// the grace period ends them, and they are released too: the test fails).
	gate := make(chan struct{})
	var once sync.Once
	obs := &releaseCounter{onRelease: func(n int) {
		if n == ahead {
			once.Do(func() { close(gate) })
		}
	}}
	b := setup(t, queue.Config{Queues: map[string]int{"default": slots}, Observer: obs, ShutdownGrace: 5 * time.Second})
	var started atomic.Int32
	b.work = func(ctx context.Context, j *queue.Job[testArgs]) error {
		if started.Add(1) <= fast {
			// Short jobs: the prefetch grows. They return at once rather than
			// sleep, so that even on a loaded machine the mean run time stays far
			// under the 40 ms that lets every remaining job be claimed ahead.
			return nil
		}
		select { // then every slot holds a job until the worker is stopping
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ps := make([]queue.InsertParams, fast+slots+ahead)
	for i := range ps {
		ps[i] = queue.InsertParams{Kind: "test", Args: json.RawMessage(`{}`)}
	}
	ctx := context.Background()
	if _, err := b.client.InsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	workCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = b.client.Work(workCtx) }()

	// The slots fill with blocked jobs, and the prefetch with the rest: jobs claimed
	// and not started.
	deadline := time.Now().Add(30 * time.Second)
	for started.Load() != fast+slots || obs.claimedSoFar()-int(started.Load()) != ahead {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d started, %d claimed; want %d started and %d more claimed ahead",
				started.Load(), obs.claimedSoFar(), fast+slots, ahead)
		}
		time.Sleep(5 * time.Millisecond)
	}
	running := func() int {
		var n int
		if err := b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'running'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cancel()
	<-done

	if n := running(); n != 0 {
		t.Fatalf("%d jobs still running after the worker stopped", n)
	}
	obs.mu.Lock()
	released := obs.released
	obs.mu.Unlock()
	if len(released) != ahead {
		t.Fatalf("%d jobs released, want the %d prefetched", len(released), ahead)
	}
	for _, id := range released {
		var state string
		var attempt int
		if err := b.db.DB.QueryRow(`SELECT state, attempt FROM iactq_jobs WHERE id = ?`, id).Scan(&state, &attempt); err != nil {
			t.Fatal(err)
		}
		if state != "available" || attempt != 0 {
			t.Errorf("released job %d: %s, attempt %d; want available, attempt 0", id, state, attempt)
		}
	}
	var completed int
	if err := b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_jobs WHERE state = 'completed'`).Scan(&completed); err != nil {
		t.Fatal(err)
	}
	if completed != int(started.Load()) || completed < fast+slots {
		t.Fatalf("%d completed, %d started; want every started job completed (at least %d)", completed, started.Load(), fast+slots)
	}
}
