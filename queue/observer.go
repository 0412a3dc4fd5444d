package queue

import (
	"errors"
	"time"
)

// Observer receives the engine's events: for metrics, systemd notifications and
// status lines. Its methods are called from the engine's goroutines and must be cheap
// and safe for concurrent use. Embed NopObserver to implement only some.
type Observer interface {
	// Started is called when the worker is registered and about to claim.
	Started(workerID int64)
	// Stopping is called when the drain begins.
	Stopping()
	// Polled is called after each look for work: err is nil when the database answered.
	Polled(err error)
	// Claimed is called after each claim of n > 0 jobs from queue.
	Claimed(queue string, n int, took time.Duration)
	// Finished is called after an execution's outcome is recorded: state is the state
	// it was recorded as (completed, retryable, discarded, or available when released
	// by shutdown), wait the time from due to start, run the execution time.
	Finished(job *JobRow, state State, wait, run time.Duration)
	// Stopped is called instead of Finished for an execution stopped from outside,
	// whose outcome is not the engine's to record: cause is ErrCancelledByOperator
	// (the job stays cancelled) or ErrWorkerLost (this worker was declared dead; the
	// job was given back to the queue). StopOutcome names it for metrics.
	Stopped(job *JobRow, cause error, wait, run time.Duration)
	// Unhealthy is called when the worker stops keeping up: its completer has not
	// been able to record outcomes for longer than the heartbeat interval (err says
	// why). Healthy is called when it recovers.
	Unhealthy(err error)
	// Healthy is called when an unhealthy worker recovers.
	Healthy()
	// DiscardedUnknown is called when the leader discards n available jobs of a kind
	// no live worker runs, past unknown_kind_grace: never executed, so never Finished.
	DiscardedUnknown(queue, kind string, n int)
}

// NopObserver does nothing.
type NopObserver struct{}

// Started implements Observer.
func (NopObserver) Started(int64) {}

// Stopping implements Observer.
func (NopObserver) Stopping() {}

// Polled implements Observer.
func (NopObserver) Polled(error) {}

// Claimed implements Observer.
func (NopObserver) Claimed(string, int, time.Duration) {}

// Finished implements Observer.
func (NopObserver) Finished(*JobRow, State, time.Duration, time.Duration) {}

// Unhealthy implements Observer.
func (NopObserver) Unhealthy(error) {}

// Healthy implements Observer.
func (NopObserver) Healthy() {}

// Stopped implements Observer.
func (NopObserver) Stopped(*JobRow, error, time.Duration, time.Duration) {}

// DiscardedUnknown implements Observer.
func (NopObserver) DiscardedUnknown(string, string, int) {}

// StopOutcome names the cause of a stopped execution (Observer.Stopped) as an
// outcome: "cancelled" for an operator's cancel, "lost" for a lost registration.
func StopOutcome(cause error) string {
	switch {
	case errors.Is(cause, ErrCancelledByOperator):
		return "cancelled"
	case errors.Is(cause, ErrWorkerLost):
		return "lost"
	}
	return "stopped"
}
