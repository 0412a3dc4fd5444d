package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/iact/iactq/queue"
)

// NoopArgs are the args of the noop kind, for benchmarks and checks.
type NoopArgs struct {
	// SleepMS sleeps that long, stopping early if the job is cancelled.
	SleepMS int `json:"sleep_ms"`
	// FailAttempts makes the first N attempts fail with an error.
	FailAttempts int `json:"fail_attempts"`
	// Panic makes every attempt panic.
	Panic bool `json:"panic"`
}

// Kind implements queue.Args.
func (NoopArgs) Kind() string { return "noop" }

// Validate implements queue.Validator.
func (a NoopArgs) Validate() error {
	if a.SleepMS < 0 || a.SleepMS > 3_600_000 {
		return fmt.Errorf("sleep_ms %d is out of range 0..3600000", a.SleepMS)
	}
	if a.FailAttempts < 0 || a.FailAttempts > 1000 {
		return fmt.Errorf("fail_attempts %d is out of range 0..1000", a.FailAttempts)
	}
	return nil
}

func workNoop(ctx context.Context, job *queue.Job[NoopArgs]) error {
	if job.Args.Panic {
		panic(fmt.Sprintf("noop job %d asked to panic", job.ID))
	}
	if job.Attempt <= job.Args.FailAttempts {
		return fmt.Errorf("noop: attempt %d of %d asked to fail", job.Attempt, job.Args.FailAttempts)
	}
	if job.Args.SleepMS > 0 {
		t := time.NewTimer(time.Duration(job.Args.SleepMS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
