package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// result is the outcome of one execution, for the completer.
type result struct {
	job     *JobRow
	err     error // nil: completed
	out     *outcome
	release bool // stopped by shutdown: back to the queue, attempt not spent
	// stopped is why the job was stopped from outside when that leaves nothing to
	// record: ErrCancelledByOperator or ErrWorkerLost.
	stopped  error
	duration time.Duration

	refused    error // the database refused the job's own outcome: this is its failure
	unrecorded error // the completer gave up writing it
}

// runSlot runs job in one of p's slots, then, while p holds claimed jobs waiting for
// a slot (its prefetch), the next of them, and frees the slot when none is left.
func (w *worker) runSlot(p *producer, job *JobRow) {
	defer w.jobsWG.Done()
	for job != nil {
		began := time.Now()
		w.runOne(job)
		job = p.next(time.Since(began))
		p.signal() // a slot or a place in the prefetch is free
	}
}

// runOne executes job and hands its outcome to the completer. Its context ends at its
// kind's timeout, at a hard stop, or when the worker cancels it.
func (w *worker) runOne(job *JobRow) {
	// For the journal, the execution starts here, before mayStart: a process paused
	// after mayStart allowed the job began it before the pause, whenever its first
	// line runs; one paused before is refused by mayStart after it (its row touched
	// too long ago) and starts nothing.
	decided := time.Now()
	if err := w.mayStart(w.jobsCtx, job); err != nil {
		res := result{job: job, out: &outcome{prepare: w.c.prepare}}
		if errors.Is(err, ErrWorkerLost) {
			res.stopped = ErrWorkerLost // claimed by the dead registration: another's now
		} else {
			w.log.Warn().Err(err).Int64("job_id", job.ID).Msg("job not started; back to the queue")
			res.release = true
		}
		w.deliver(res)
		return
	}
	stop, cancelStop := context.WithCancelCause(w.jobsCtx)
	ctx, cancel := context.WithTimeout(stop, w.c.timeoutFor(job.Kind))
	w.mu.Lock()
	w.running[job.ID] = cancelStop
	w.mu.Unlock()
	res := w.execute(ctx, job, decided)
	cancel()
	cancelStop(nil)
	w.mu.Lock()
	delete(w.running, job.ID)
	w.mu.Unlock()
	w.deliver(res)
}

// execute decodes the job's args and runs its kind, turning panics into errors. The
// journal's start is decided (see runOne).
func (w *worker) execute(ctx context.Context, job *JobRow, decided time.Time) result {
	log := w.c.log.With().Int64("job_id", job.ID).Str("kind", job.Kind).Str("queue", job.Queue).Int("attempt", job.Attempt).Logger()
	ctx = log.WithContext(ctx)
	begin := time.Now()
	res := result{job: job, out: &outcome{prepare: w.c.prepare}}
	entry, ok := w.c.registry.kinds[job.Kind]
	if !ok {
		res.err = Permanentf("unknown kind %q: no worker runs it", job.Kind)
		return res
	}
	if len(job.Args) > w.c.cfg.MaxArgsBytes {
		// Inserted with plain SQL past the limit the API enforces.
		res.err = Permanentf("args are %d bytes, over the limit of %d (max_args_bytes)", len(job.Args), w.c.cfg.MaxArgsBytes)
		return res
	}
	args, err := entry.decode(job.Args)
	if err != nil {
		res.err = Permanentf("invalid args: %v", err)
		return res
	}
	res.err = runRecovered(ctx, entry, job, args, res.out)
	res.duration = time.Since(begin)
	if w.c.cfg.Journal != nil {
		w.c.cfg.Journal(job, decided, begin.Add(res.duration), res.err)
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrCancelledByOperator) || errors.Is(cause, ErrWorkerLost):
		// Whatever the job returned, the database has moved on: cancelled by the
		// operator, or given back to the queue. Nothing to record.
		res.stopped = cause
	case res.err != nil && errors.Is(cause, ErrShuttingDown):
		res.release = true // stopped by shutdown, not failed
	case res.err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.err = fmt.Errorf("timed out after %s: %w", w.c.timeoutFor(job.Kind), res.err)
	}
	return res
}

// timeoutFor is the bound on one attempt of a job of kind.
func (c *Client) timeoutFor(kind string) time.Duration {
	if entry, ok := c.registry.kinds[kind]; ok && entry.timeout > 0 {
		return entry.timeout
	}
	return c.cfg.JobTimeout
}

func runRecovered(ctx context.Context, entry kindEntry, job *JobRow, args any, out *outcome) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return entry.run(ctx, job, args, out)
}

// deliver hands a result to the completer, unless the drain is over.
func (w *worker) deliver(res result) {
	w.resultsMu.Lock()
	defer w.resultsMu.Unlock()
	if !w.resultsClosed {
		w.results <- res
	}
}
