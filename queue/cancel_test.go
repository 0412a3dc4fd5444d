package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// stopObserver records the executions stopped from outside, and the finished ones.
type stopObserver struct {
	queue.NopObserver
	mu       sync.Mutex
	stopped  map[int64]error
	finished map[int64]queue.State
	changed  chan struct{}
}

func newStopObserver() *stopObserver {
	return &stopObserver{stopped: map[int64]error{}, finished: map[int64]queue.State{}, changed: make(chan struct{}, 100)}
}

func (o *stopObserver) Stopped(job *queue.JobRow, cause error, _, _ time.Duration) {
	o.mu.Lock()
	o.stopped[job.ID] = cause
	o.mu.Unlock()
	o.changed <- struct{}{}
}

func (o *stopObserver) Finished(job *queue.JobRow, state queue.State, _, _ time.Duration) {
	o.mu.Lock()
	o.finished[job.ID] = state
	o.mu.Unlock()
	o.changed <- struct{}{}
}

// waitStopped waits until the execution of job id was reported stopped, and returns
// its cause.
func (o *stopObserver) waitStopped(t *testing.T, id int64) error {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		o.mu.Lock()
		cause, ok := o.stopped[id]
		state, done := o.finished[id]
		o.mu.Unlock()
		if ok {
			return cause
		}
		if done {
			t.Fatalf("job %d reported finished as %s, want stopped", id, state)
		}
		select {
		case <-o.changed:
		case <-deadline:
			t.Fatalf("job %d never reported stopped", id)
		}
	}
}

// blockUntilCancelled is a job that waits for its context and reports its cause.
func blockUntilCancelled(started chan<- int64, causes chan<- error) func(ctx context.Context, j *queue.Job[testArgs]) error {
	return func(ctx context.Context, j *queue.Job[testArgs]) error {
		started <- j.ID
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return ctx.Err()
	}
}

// TestOperatorCancelStopsTheJobAsCancelled: the job's context ends with
// ErrCancelledByOperator; the job stays cancelled, no failure is recorded ("failed,
// will retry" was logged and counted before), and the observer counts it as stopped.
func TestOperatorCancelStopsTheJobAsCancelled(t *testing.T) {
	t.Parallel()
	obs := newStopObserver()
	b := setup(t, queue.Config{Observer: obs})
	started, causes := make(chan int64, 1), make(chan error, 1)
	b.work = blockUntilCancelled(started, causes)
	ctx := context.Background()
	res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: 1}, RequestedBy: "analyst"})
	if err != nil {
		t.Fatal(err)
	}
	b.startWorker(t)
	<-started
	if _, err := b.client.CancelJob(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if cause := <-causes; !errors.Is(cause, queue.ErrCancelledByOperator) {
		t.Fatalf("the job's context ended because %v, want ErrCancelledByOperator", cause)
	}
	if cause := obs.waitStopped(t, res.ID); !errors.Is(cause, queue.ErrCancelledByOperator) || queue.StopOutcome(cause) != "cancelled" {
		t.Fatalf("observer told %v (%s)", cause, queue.StopOutcome(cause))
	}
	j, err := b.client.GetJob(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != queue.StateCancelled || len(j.AttemptErrors()) != 0 {
		t.Fatalf("job is %s with errors %+v, want cancelled with none", j.State, j.AttemptErrors())
	}
}

// TestLostRegistrationStopsJobsAsLost: when this worker's row is deleted (another
// process declared it dead), its running jobs' contexts end with ErrWorkerLost, and
// the observer counts them as lost, not as failed.
func TestLostRegistrationStopsJobsAsLost(t *testing.T) {
	t.Parallel()
	obs := newStopObserver()
	b := setup(t, queue.Config{Observer: obs, HeartbeatInterval: 100 * time.Millisecond})
	started, causes := make(chan int64, 1), make(chan error, 1)
	b.work = blockUntilCancelled(started, causes)
	res, err := b.client.Insert(context.Background(), queue.InsertParams{Args: testArgs{N: 1}})
	if err != nil {
		t.Fatal(err)
	}
	b.startWorker(t)
	<-started
	b.db.Exec(t, `DELETE FROM iactq_workers`)
	if cause := <-causes; !errors.Is(cause, queue.ErrWorkerLost) {
		t.Fatalf("the job's context ended because %v, want ErrWorkerLost", cause)
	}
	if cause := obs.waitStopped(t, res.ID); queue.StopOutcome(cause) != "lost" {
		t.Fatalf("observer told %v (%s)", cause, queue.StopOutcome(cause))
	}
}

// TestWorkWaitsForAJobThatIgnoresCancellation: a job that ignores its context keeps
// the worker registered (and heart-beating) past the grace period, so that it is not
// rescued and run again elsewhere while it still runs; Work returns, and deregisters,
// only once the job has returned.
func TestWorkWaitsForAJobThatIgnoresCancellation(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{ShutdownGrace: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond, RescueAfter: 2 * time.Second})
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	release := make(chan struct{})
	b.work = func(ctx context.Context, _ *queue.Job[testArgs]) error {
		close(started)
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
		<-release // ignores its cancellation
		return nil
	}
	res, err := b.client.Insert(context.Background(), queue.InsertParams{Args: testArgs{N: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.client.Work(ctx) }()
	<-started
	cancel()
	if cause := <-cancelled; !errors.Is(cause, queue.ErrShuttingDown) {
		t.Fatalf("the job's context ended because %v, want ErrShuttingDown", cause)
	}
	// Well past RescueAfter, and past the 5 s after which Work used to give up on
	// such jobs and deregister: Work has not returned, the worker is registered and
	// its heartbeat fresh, so that nobody rescues the job.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatal("Work returned while a job it ran was still running")
		case <-time.After(200 * time.Millisecond):
		}
		var n int
		if err := b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_workers WHERE heartbeat_at > NOW(6) - INTERVAL 1 SECOND`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("%d freshly heart-beating workers while the job runs, want 1", n)
		}
	}
	if _, err := b.client.Rescue(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Work did not return once the job returned")
	}
	j := b.waitState(t, res.ID, queue.StateCompleted)
	var workers int
	_ = b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_workers`).Scan(&workers)
	if j.Attempt != 1 || workers != 0 {
		t.Fatalf("job attempt %d (want 1: never rescued), %d workers registered after Work returned", j.Attempt, workers)
	}
}
