package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// completerLinger is how long an outcome that found no other waiting waits for more,
// while other jobs are still running: jobs claimed together finish close together,
// and one statement then records them all instead of one each.
const completerLinger = time.Millisecond

// lateRetryEvery is how often the completer tries again, once, to record outcomes it
// could not record in time.
const lateRetryEvery = time.Second

// runCompleter writes outcomes as they come, many per statement: whatever has arrived
// while the previous batch was being written goes in the next one. Outcomes it could
// not record (the database too slow or away for longer than the policy waits) are
// tried again every lateRetryEvery, one try each time, for as long as this worker
// stays registered under the claim's id (see recordLate).
func (w *worker) runCompleter() {
	batch := make([]result, 0, w.c.cfg.CompleterBatch)
	var late []result
	var lateAt time.Time // the last try of late
	tryLate := func() {
		if len(late) > 0 && time.Since(lateAt) >= lateRetryEvery {
			late, lateAt = w.recordLate(late), time.Now()
		}
	}
	for {
		var r result
		var ok bool
		if len(late) == 0 {
			r, ok = <-w.results
		} else {
			select {
			case r, ok = <-w.results:
			case <-time.After(lateRetryEvery - time.Since(lateAt)):
				tryLate()
				continue
			}
		}
		if !ok {
			w.lastTryLate(late)
			return
		}
		batch = append(batch[:0], r)
		closed := false
		add := func(r result, ok bool) {
			if ok {
				batch = append(batch, r)
			} else {
				closed = true
			}
		}
		lingered := false
	gather:
		for !closed && len(batch) < w.c.cfg.CompleterBatch {
			select {
			case r, ok := <-w.results:
				add(r, ok)
				continue
			default:
			}
			if lingered || w.runningCount() == 0 {
				break
			}
			lingered = true
			select {
			case r, ok := <-w.results:
				add(r, ok)
			case <-time.After(completerLinger):
				break gather
			}
		}
		if unrecorded := w.flush(batch); len(unrecorded) > 0 {
			if len(late) == 0 {
				lateAt = time.Now()
			}
			late = append(late, unrecorded...)
		}
		tryLate()
		if closed {
			w.lastTryLate(late)
			return
		}
	}
}

// flush records a batch of outcomes. Completions with nothing else to write are one
// guarded UPDATE per claim, each correct alone: no transaction needed. The rest
// (failures, messages, follow-ups, next occurrences) go together in one transaction.
//
// Executions stopped from outside (an operator's cancel, a lost registration) have
// nothing to record: the database has moved on. They are logged and counted as what
// they are.
//
// It returns the outcomes it could not record. Their jobs stay held: the database
// still says this worker runs them, and releaseUnknownClaims must not give them back
// with the attempt unspent, for that attempt ran (make chaos, crash: "attempt N ran 2
// times").
func (w *worker) flush(batch []result) (unrecorded []result) {
	var stopped, toWrite []result
	for _, r := range batch {
		if r.stopped != nil {
			stopped = append(stopped, r)
		} else {
			toWrite = append(toWrite, r)
		}
	}
	plain, rest := splitPlain(toWrite)
	plain = w.write(plain)
	rest = w.write(rest)
	for _, rs := range [][]result{plain, rest} {
		for _, r := range rs {
			if r.unrecorded != nil {
				unrecorded = append(unrecorded, r)
			}
		}
	}
	w.mu.Lock()
	for _, r := range batch {
		delete(w.held, r.job.ID)
	}
	for _, r := range unrecorded {
		w.held[r.job.ID] = true
	}
	w.mu.Unlock()
	for _, r := range stopped {
		w.logStopped(r)
		w.c.cfg.Observer.Stopped(r.job, r.stopped, r.job.AttemptedAt.Sub(r.job.ScheduledAt), r.duration)
	}
	for _, rs := range [][]result{plain, rest} {
		for _, r := range rs {
			w.logOutcome(r)
			if r.unrecorded == nil {
				w.c.cfg.Observer.Finished(r.job, r.recordedAs(), r.job.AttemptedAt.Sub(r.job.ScheduledAt), r.duration)
			}
		}
	}
	return unrecorded
}

// lastTryLate tries once more, before the worker deregisters, to record outcomes not
// recorded yet, and says what becomes of those it cannot.
func (w *worker) lastTryLate(late []result) {
	if still := w.recordLate(late); len(still) > 0 {
		w.c.log.Error().Int("jobs", len(still)).
			Msg("stopping with outcomes not recorded: once this worker's registration is gone, the rescue puts these jobs back, their attempt spent")
	}
}

// recordLate tries again to record outcomes that could not be recorded in time, and
// returns those still unrecorded. An outcome is moot once this worker is no longer
// registered under the id that claimed its job: declared dead, the rescue has the job
// (its attempt spent) and the write would change nothing.
func (w *worker) recordLate(late []result) []result {
	if len(late) == 0 {
		return nil
	}
	id := w.id.Load()
	var again, moot []result
	for _, r := range late {
		r.unrecorded = nil
		if r.job.ClaimedBy == id {
			again = append(again, r)
		} else {
			moot = append(moot, r)
		}
	}
	// One try, as long as one of the policy's: the new outcomes must not wait.
	var still, recorded []result
	ctx, cancel := context.WithTimeout(context.Background(), w.c.cfg.HeartbeatInterval)
	err := w.c.writeOutcomes(ctx, again)
	cancel()
	switch {
	case err == nil:
		w.writeOK()
		recorded = again
	case dberr.IsTransient(err) || ctx.Err() != nil:
		still = again
	default:
		// Refused for good: write them as any batch (the refused one fails alone).
		for _, r := range w.write(again) {
			if r.unrecorded != nil {
				still = append(still, r)
			} else {
				recorded = append(recorded, r)
			}
		}
	}
	w.mu.Lock()
	for _, rs := range [][]result{moot, recorded} {
		for _, r := range rs {
			delete(w.held, r.job.ID)
		}
	}
	w.mu.Unlock()
	if len(moot) > 0 {
		w.c.log.Warn().Str("outcome", "moot").Int("jobs", len(moot)).Int64("first_job_id", moot[0].job.ID).
			Msg("gave up recording outcomes: this worker was declared dead meanwhile, and the rescue has their jobs, the attempt spent")
	}
	if len(recorded) > 0 {
		w.c.log.Info().Int("jobs", len(recorded)).Msg("recorded outcomes late")
	}
	for _, r := range recorded {
		w.logOutcome(r)
		w.c.cfg.Observer.Finished(r.job, r.recordedAs(), r.job.AttemptedAt.Sub(r.job.ScheduledAt), r.duration)
	}
	return still
}

// completerPolicy retries what can succeed: transient errors (a lost connection, a
// lock conflict, a try that ran out of time), each try bounded by the heartbeat
// interval, for at most RescueAfter since the completer last wrote. By then a worker
// cut off from its database has been declared dead and its jobs rescued, so that the
// outcomes are moot; a worker that still heartbeats keeps them and tries again
// (runCompleter, recordLate). A write the database refuses for good is not retried
// at all.
func (w *worker) completerPolicy(began time.Time) dberr.Policy {
	failing := w.failingSince(began)
	return dberr.Policy{
		LockFor:    w.c.cfg.RescueAfter,
		LostTries:  -1,
		For:        max(w.c.cfg.RescueAfter-time.Since(failing), time.Nanosecond),
		TryTimeout: w.c.cfg.HeartbeatInterval,
		MaxDelay:   time.Second,
		OnRetry:    func(err error, _ time.Duration) { w.writeFailed(began, err) },
	}
}

// write records rs and returns them as recorded. An outcome the database refuses for
// good fails its job alone: the batch is halved until the refused outcome is alone,
// the others are written, and that job is recorded as failed (discarded) with the
// server's reason, its requester told. Outcomes still not written when the policy
// gives up are marked unrecorded (the completer tries them again later).
func (w *worker) write(rs []result) []result {
	if len(rs) == 0 {
		return rs
	}
	began := time.Now()
	err := dberr.Retry(context.Background(), w.completerPolicy(began), func(ctx context.Context) error {
		return w.c.writeOutcomes(ctx, rs)
	})
	switch {
	case err == nil:
		w.writeOK()
		return rs
	case dberr.IsTransient(err) || dberr.IsTryTimeout(err):
		w.writeFailed(began, err)
		for i := range rs {
			rs[i].unrecorded = err
		}
		return rs
	case len(rs) > 1:
		w.writeOK() // the database answers
		half := len(rs) / 2
		return append(w.write(rs[:half:half]), w.write(rs[half:])...)
	case rs[0].refused != nil:
		// Even the failure was refused.
		rs[0].unrecorded = err
		return rs
	}
	w.writeOK()
	r := rs[0]
	w.log.Error().Err(err).Int64("job_id", r.job.ID).Str("kind", r.job.Kind).
		Msg("the database refused this job's outcome; recording the job as failed instead")
	return w.write([]result{{
		job:      r.job,
		err:      Permanent(fmt.Errorf("the database refused this job's outcome (%s): %w", r.recordedAs(), err)),
		out:      &outcome{prepare: w.c.prepare},
		duration: r.duration,
		refused:  err,
	}})
}

// writeOutcomes writes rs: plain completions as guarded UPDATEs, anything else in one
// transaction.
func (c *Client) writeOutcomes(ctx context.Context, rs []result) error {
	plain, rest := splitPlain(rs)
	if len(rest) > 0 {
		return c.store.inTxOnce(ctx, nil, func(tx dbTx) error { return c.recordOutcomes(ctx, tx, rs) })
	}
	now := c.now()
	for k, ids := range groupByClaim(plain) {
		if _, err := c.store.q.JobCompleteMany(ctx, completeParams(ids, k, now)); err != nil {
			return fmt.Errorf("record %d job completions: %w", len(ids), err)
		}
	}
	return nil
}

// failingSince is when the completer began failing to write, or began if it is not
// failing.
func (w *worker) failingSince(began time.Time) time.Time {
	w.healthMu.Lock()
	defer w.healthMu.Unlock()
	if w.failing.IsZero() {
		return began
	}
	return w.failing
}

// writeFailed notes that a write begun at began failed with err. A completer that has
// not been able to write for longer than the heartbeat interval makes the worker
// unhealthy: the observer (systemd's watchdog, /readyz, STATUS) is told.
func (w *worker) writeFailed(began time.Time, err error) {
	w.healthMu.Lock()
	defer w.healthMu.Unlock()
	if w.failing.IsZero() {
		w.failing = began
	}
	if !w.unhealthy && time.Since(w.failing) >= w.c.cfg.HeartbeatInterval {
		w.unhealthy = true
		err = fmt.Errorf("the completer has not recorded outcomes for %s: %w", time.Since(w.failing).Round(time.Millisecond), err)
		w.log.Error().Err(err).Msg("worker unhealthy")
		w.c.cfg.Observer.Unhealthy(err)
	}
}

// writeOK notes that the database answered the completer.
func (w *worker) writeOK() {
	w.healthMu.Lock()
	defer w.healthMu.Unlock()
	w.failing = time.Time{}
	if w.unhealthy {
		w.unhealthy = false
		w.log.Info().Msg("worker healthy again: the completer writes")
		w.c.cfg.Observer.Healthy()
	}
}

// recordedAs is the state the outcome was recorded as (if the claim still held);
// running when it could not be recorded.
func (r result) recordedAs() State {
	switch {
	case r.unrecorded != nil:
		return StateRunning
	case r.release:
		return StateAvailable
	case r.err == nil:
		return StateCompleted
	case IsPermanent(r.err) || r.job.Attempt >= r.job.MaxAttempts:
		return StateDiscarded
	default:
		return StateRetryable
	}
}

func (w *worker) logOutcome(r result) {
	var ev *zerolog.Event
	var msg string
	switch r.recordedAs() {
	case StateRunning:
		ev, msg = w.c.log.Error().Str("outcome", "unrecorded").Err(r.unrecorded), "could not record this job's outcome yet; trying again while this worker is registered"
	case StateAvailable:
		ev, msg = w.c.log.Info().Str("outcome", "released"), "job stopped by shutdown, back in the queue"
	case StateCompleted:
		// Debug: no line per completed job at the default level (and, the level
		// being off, no work either: the event is nil).
		ev, msg = w.c.log.Debug().Str("outcome", "completed"), "job completed"
	case StateDiscarded:
		ev, msg = w.c.log.Error().Str("outcome", "discarded").Err(r.err), "job discarded"
	default:
		ev, msg = w.c.log.Warn().Str("outcome", "retryable").Err(r.err), "job failed, will retry"
	}
	ev.Int64("job_id", r.job.ID).Str("kind", r.job.Kind).Str("queue", r.job.Queue).
		Int("attempt", r.job.Attempt).Dur("duration", r.duration).Msg(msg)
}

// logStopped logs an execution stopped from outside as what it was.
func (w *worker) logStopped(r result) {
	ev := w.c.log.Warn().Str("outcome", StopOutcome(r.stopped))
	if r.err != nil {
		ev = ev.AnErr("returned", r.err)
	}
	ev.Int64("job_id", r.job.ID).Str("kind", r.job.Kind).Str("queue", r.job.Queue).
		Int("attempt", r.job.Attempt).Dur("duration", r.duration).Msgf("job stopped: %v", r.stopped)
}

// isPlain tells whether r is a completion with nothing else to write.
func (r result) isPlain() bool {
	return !r.release && r.err == nil && r.job.RequestedBy == "" && r.job.ScheduleName == "" &&
		len(r.out.messages) == 0 && len(r.out.then) == 0
}

// splitPlain separates plain completions from the other outcomes.
func splitPlain(batch []result) (plain, rest []result) {
	for _, r := range batch {
		if r.isPlain() {
			plain = append(plain, r)
		} else {
			rest = append(rest, r)
		}
	}
	return plain, rest
}

// groupByClaim groups the ids of rs by the claim that produced them.
func groupByClaim(rs []result) map[claimKey][]int64 {
	ids := map[claimKey][]int64{}
	for _, r := range rs {
		k := claimKey{attempt: r.job.Attempt, worker: r.job.ClaimedBy}
		ids[k] = append(ids[k], r.job.ID)
	}
	return ids
}

type claimKey struct {
	attempt int
	worker  int64
}

// recordOutcomes writes a batch of outcomes. Every write is guarded by the claim that
// produced it; an outcome whose claim was lost changes nothing.
func (c *Client) recordOutcomes(ctx context.Context, tx dbTx, batch []result) error {
	now := c.now()

	plain := map[claimKey][]int64{}
	withEffects := map[claimKey][]result{}
	for _, r := range batch {
		k := claimKey{attempt: r.job.Attempt, worker: r.job.ClaimedBy}
		switch {
		case r.release:
			_, err := tx.JobRelease(ctx, dbsqlc.JobReleaseParams{ID: r.job.ID, Attempt: int32(r.job.Attempt), WorkerID: nullInt64(r.job.ClaimedBy)})
			if err != nil {
				return fmt.Errorf("release job %d: %w", r.job.ID, err)
			}
		case r.err != nil:
			if err := c.recordFailure(ctx, tx, r.job, r.err, now); err != nil {
				return err
			}
		case r.isPlain():
			plain[k] = append(plain[k], r.job.ID)
		default:
			withEffects[k] = append(withEffects[k], r)
		}
	}
	for k, ids := range plain {
		if _, err := tx.JobCompleteMany(ctx, completeParams(ids, k, now)); err != nil {
			return fmt.Errorf("complete %d jobs: %w", len(ids), err)
		}
	}
	for k, rs := range withEffects {
		ids := make([]int64, len(rs))
		for i, r := range rs {
			ids[i] = r.job.ID
		}
		owned, err := tx.JobLockClaimed(ctx, dbsqlc.JobLockClaimedParams{Ids: ids, Attempt: int32(k.attempt), WorkerID: nullInt64(k.worker)})
		if err != nil {
			return fmt.Errorf("lock claimed jobs: %w", err)
		}
		if len(owned) == 0 {
			continue
		}
		if _, err := tx.JobCompleteMany(ctx, completeParams(owned, k, now)); err != nil {
			return fmt.Errorf("complete %d jobs: %w", len(owned), err)
		}
		isOwned := make(map[int64]bool, len(owned))
		for _, id := range owned {
			isOwned[id] = true
		}
		for _, r := range rs {
			if isOwned[r.job.ID] {
				if err := c.finishEffects(ctx, tx, r.job, StateCompleted, r.out, "", now); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func completeParams(ids []int64, k claimKey, now time.Time) dbsqlc.JobCompleteManyParams {
	return dbsqlc.JobCompleteManyParams{Now: nullTime(now), Ids: ids, Attempt: int32(k.attempt), WorkerID: nullInt64(k.worker)}
}

// maxErrorBytes bounds one error message kept in the errors column.
const maxErrorBytes = 8 << 10

// recordFailure marks a failed attempt: retryable after a back-off, or discarded when
// the error is permanent or the attempts are spent.
func (c *Client) recordFailure(ctx context.Context, tx dbTx, job *JobRow, jobErr error, now time.Time) error {
	final := IsPermanent(jobErr) || job.Attempt >= job.MaxAttempts
	msg := truncate(jobErr.Error(), maxErrorBytes)
	p := dbsqlc.JobFailParams{
		ErrorAt:  now.Format(time.RFC3339Nano),
		Message:  msg,
		ID:       job.ID,
		Attempt:  int32(job.Attempt),
		WorkerID: nullInt64(job.ClaimedBy),
	}
	if final {
		p.NewState = dbsqlc.IactqJobsStateDiscarded
		p.FinishedAt = nullTime(now)
	} else {
		p.NewState = dbsqlc.IactqJobsStateRetryable
		p.AvailableAt = nullTime(now.Add(c.cfg.Retry.Delay(job.Attempt)))
	}
	n, err := tx.JobFail(ctx, p)
	if err != nil {
		return fmt.Errorf("record failure of job %d: %w", job.ID, err)
	}
	if n == 1 && final {
		return c.finishEffects(ctx, tx, job, StateDiscarded, nil, msg, now)
	}
	return nil
}
