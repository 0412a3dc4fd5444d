package queue

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// runMaintenance does the chores of every worker process, which cost no query while
// the worker is idle: stopping its jobs cancelled by an operator (only while it runs
// some), and releasing claims it does not know it holds (every 10 s while it works
// or was rung in the last minute, every 5 min when idle, never while it holds an idle
// lease). The fleet's periodic chores run in the leader alone
// (runLeaderChores).
func (w *worker) runMaintenance(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastReconcile, lastPaused time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.chore(ctx, "stop cancelled jobs", w.stopCancelled)
		busy := w.runningCount() > 0
		// A worker claiming refreshes its paused queues every 5 s (the leader every
		// second, for its watcher); an idle one when it looks for work.
		if busy && time.Since(lastPaused) >= 5*time.Second && !w.c.leading.Load() {
			lastPaused = time.Now()
			w.chore(ctx, "refresh paused queues", w.refreshPaused)
		}
		reconcileEvery := 5 * time.Minute
		if busy || time.Since(time.Unix(0, w.rungAt.Load())) < time.Minute {
			reconcileEvery = 10 * time.Second
		}
		// An idle lease says the database knew of no running job of this worker at
		// its last touch (WorkerTouchIdle takes none then), and no claim was tried
		// since (a claim, even one whose answer was lost, ends it): no claim to check.
		leasedIdle := !busy && w.idleLeased.Load() && w.idle()
		if time.Since(lastReconcile) >= reconcileEvery && !leasedIdle {
			lastReconcile = time.Now()
			w.chore(ctx, "release unknown claims", w.releaseUnknownClaims)
		}
	}
}

// runLeaderChores does the fleet's periodic chores while this process leads, each
// only within a lease renewed moments ago (a leader paused and replaced does none
// when it wakes): refreshing paused queues (for the watcher), promoting due jobs,
// rescuing jobs of dead workers, discarding jobs of kinds no live worker runs,
// keeping one occurrence of each schedule pending, deleting finished jobs past their
// retention, and the SLA rollup. Each is safe to run in two processes at once, as
// happens for a moment when leadership changes hands.
func (w *worker) runLeaderChores(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	rescueEvery := max(w.c.cfg.RescueAfter/3, time.Second)
	var lastRescue, lastHeal, lastPrune, lastUnknown, lastRollup time.Time
	// The first rollup a few seconds after election, then once a minute.
	lastRollup = time.Now().Add(-rollupEvery + 5*time.Second)
	// Jobs of kinds no live worker runs are looked for every 10 s, or every second
	// when they are discarded at once.
	unknownEvery := 10 * time.Second
	if w.c.cfg.UnknownKindGrace <= 0 {
		unknownEvery = 0
	}
	for {
		if !w.leaseFresh() {
			goto wait
		}
		w.c.choreRounds.Add(1)
		w.chore(ctx, "refresh paused queues", w.refreshPaused)
		w.chore(ctx, "promote due jobs", func(ctx context.Context) error {
			n, err := w.c.Promote(ctx)
			if n > 0 {
				for _, p := range w.producers {
					p.signal()
				}
				w.nudgeWatcher()
			}
			return err
		})
		if time.Since(lastRescue) >= rescueEvery {
			lastRescue = time.Now()
			w.chore(ctx, "rescue jobs of dead workers", func(ctx context.Context) error {
				n, err := w.c.Rescue(ctx)
				if n > 0 {
					w.nudgeWatcher()
				}
				return err
			})
		}
		if time.Since(lastUnknown) >= unknownEvery {
			lastUnknown = time.Now()
			w.chore(ctx, "discard jobs of unknown kinds", func(ctx context.Context) error {
				_, err := w.c.discardUnknownKinds(ctx, w.log)
				return err
			})
		}
		if time.Since(lastHeal) >= 10*time.Second {
			lastHeal = time.Now()
			w.chore(ctx, "check schedules", w.c.HealSchedules)
		}
		if time.Since(lastPrune) >= pruneEvery {
			lastPrune = time.Now()
			w.chore(ctx, "delete finished jobs past their retention", func(ctx context.Context) error {
				_, err := w.c.PruneFinished(ctx)
				return err
			})
		}
		if time.Since(lastRollup) >= rollupEvery {
			lastRollup = time.Now()
			w.chore(ctx, "SLA rollup", func(ctx context.Context) error {
				_, err := w.c.Rollup(ctx)
				return err
			})
		}
	wait:
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// nudgeWatcher has the leader's watcher read the claim heads now: a chore made jobs
// available, which the jobs' highest id does not show.
func (w *worker) nudgeWatcher() {
	select {
	case w.watchNow <- struct{}{}:
	default:
	}
}

// rollupEvery is how often the leader brings the SLA rollup up to date.
const rollupEvery = time.Minute

func (w *worker) chore(ctx context.Context, what string, fn func(context.Context) error) {
	if err := fn(ctx); err != nil && ctx.Err() == nil {
		w.log.Warn().Err(err).Msg(what + " failed")
	}
}

func (w *worker) refreshPaused(ctx context.Context) error {
	names, err := w.c.store.q.QueuePaused(ctx)
	if err != nil {
		return err
	}
	paused := make(map[string]bool, len(names))
	for _, n := range names {
		paused[n] = true
	}
	was := *w.paused.Load()
	w.paused.Store(&paused)
	for q, p := range w.producers {
		if was[q] && !paused[q] {
			p.signal()
		}
	}
	return nil
}

// stopCancelled cancels the context of local jobs that are no longer running in the
// database (an operator cancelled them).
func (w *worker) stopCancelled(ctx context.Context) error {
	w.mu.Lock()
	ids := make([]int64, 0, len(w.running))
	for id := range w.running {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	rows, err := w.c.store.q.JobRunningOfWorker(ctx, ids)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.State == dbsqlc.IactqJobsStateCancelled {
			w.mu.Lock()
			if cancel, ok := w.running[r.ID]; ok {
				w.c.log.Info().Int64("job_id", r.ID).Msg("job cancelled by an operator; stopping it")
				cancel(ErrCancelledByOperator)
			}
			w.mu.Unlock()
		}
	}
	return nil
}

// releaseUnknownClaims puts back jobs the database says this worker runs but it does
// not: a claim whose COMMIT took effect while the connection died before its answer
// came back (the claim was then retried and these jobs never started). Jobs claimed
// in the last few seconds are left alone: they may be on their way to a goroutine.
func (w *worker) releaseUnknownClaims(ctx context.Context) error {
	workerID := w.id.Load()
	rows, err := w.c.store.q.JobRunningClaimedBy(ctx, nullInt64(workerID))
	if err != nil {
		return err
	}
	cutoff := w.c.now().Add(-10 * time.Second)
	for _, r := range rows {
		w.mu.Lock()
		known := w.held[r.ID]
		w.mu.Unlock()
		if known || !r.AttemptedAt.Valid || r.AttemptedAt.Time.After(cutoff) {
			continue
		}
		n, err := w.c.store.q.JobRelease(ctx, dbsqlc.JobReleaseParams{ID: r.ID, Attempt: r.Attempt, WorkerID: nullInt64(workerID)})
		if err != nil {
			return err
		}
		if n == 1 {
			w.log.Warn().Int64("job_id", r.ID).Msg("released a job claimed by a commit whose answer was lost")
		}
	}
	return nil
}

// Promote makes scheduled and retryable jobs whose time has come available, and
// returns how many it promoted.
func (c *Client) Promote(ctx context.Context) (int, error) {
	const batch = 1000
	total := 0
	for {
		// No transaction: when nothing is due (the usual case) this is one query, and
		// the update is guarded by state, so two promoters cannot undo each other.
		ids, err := c.store.q.JobDueIDs(ctx, dbsqlc.JobDueIDsParams{Now: nullTime(c.now()), Limit: batch})
		if err != nil {
			return total, fmt.Errorf("promote jobs: %w", err)
		}
		n := len(ids)
		if n > 0 {
			if _, err := c.store.q.JobMakeAvailable(ctx, ids); err != nil {
				return total, fmt.Errorf("promote jobs: %w", err)
			}
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// rescuePage is how many orphans Rescue reads at a time and rescueMaxPages how many
// pages one call goes through: workers claim ahead, so each SIGKILLed one leaves up
// to about a thousand running jobs, and a few of them dead at once leave many
// thousands, which one call rescues in seconds instead of a thousand per round.
// rescueChunk bounds the ids of one UPDATE.
const (
	rescuePage     = 1000
	rescueMaxPages = 10
	rescueChunk    = 500
)

// Rescue declares dead the workers whose heartbeat is older than Config.RescueAfter
// and puts their running jobs back in the queue (or discards them when their attempts
// are spent). It returns how many jobs it rescued: up to rescuePage x rescueMaxPages
// per call, the rest left for the next.
//
// The jobs of one dead worker read at one attempt go back to available in one UPDATE
// per rescueChunk ids, each row guarded as before (still running, by that worker, in
// that attempt): a job claimed again since it was read is left alone. Jobs at their
// final attempt are discarded one by one, each in its own transaction with its
// effects (the requester is told). One line per dead worker tells how many.
func (c *Client) Rescue(ctx context.Context) (int, error) {
	var dead []int64
	err := c.store.inTx(ctx, nil, func(tx dbTx) error {
		ids, err := tx.WorkerLockStale(ctx, int64(c.cfg.RescueAfter/time.Second))
		if err != nil || len(ids) == 0 {
			return err
		}
		dead = ids
		// The claim of a worker locks its row first: holding these rows, no claim
		// of theirs is in progress, and none can follow under these ids.
		_, err = tx.WorkerDeleteMany(ctx, ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("remove dead workers: %w", err)
	}
	for _, id := range dead {
		c.log.Warn().Int64("worker_id", id).Msg("worker stopped heart-beating; declared dead")
	}
	tally := map[sql.NullInt64]*rescueTally{}
	defer c.logRescued(tally)
	rescued := 0
	var after int64
	for range rescueMaxPages {
		orphans, err := c.store.q.JobOrphaned(ctx, dbsqlc.JobOrphanedParams{AfterID: after, Limit: rescuePage})
		if err != nil {
			return rescued, fmt.Errorf("find jobs of dead workers: %w", err)
		}
		n, err := c.rescueOrphans(ctx, orphans, tally)
		rescued += n
		if err != nil || len(orphans) < rescuePage {
			return rescued, err
		}
		after = orphans[len(orphans)-1].ID
	}
	return rescued, nil
}

// rescueTally counts what Rescue did with the jobs of one dead worker.
type rescueTally struct{ requeued, discarded int }

// rescueGroup is the orphans one guarded UPDATE may put back: the same claiming
// worker, read at the same attempt.
type rescueGroup struct {
	worker  sql.NullInt64
	attempt int32
}

// rescueOrphans rescues one page of orphans (read in id order) and returns how many
// it rescued.
func (c *Client) rescueOrphans(ctx context.Context, orphans []dbsqlc.JobOrphanedRow, tally map[sql.NullInt64]*rescueTally) (int, error) {
	count := func(worker sql.NullInt64) *rescueTally {
		t := tally[worker]
		if t == nil {
			t = &rescueTally{}
			tally[worker] = t
		}
		return t
	}
	var groups []rescueGroup
	ids := map[rescueGroup][]int64{}
	var final []dbsqlc.JobOrphanedRow
	for _, o := range orphans {
		if o.Attempt >= o.MaxAttempts {
			final = append(final, o)
			continue
		}
		g := rescueGroup{worker: o.ClaimedBy, attempt: o.Attempt}
		if _, ok := ids[g]; !ok {
			groups = append(groups, g)
		}
		ids[g] = append(ids[g], o.ID)
	}
	rescued := 0
	for _, g := range groups {
		msg := fmt.Sprintf("worker %d stopped heart-beating while running this attempt", g.worker.Int64)
		for rest := ids[g]; len(rest) > 0; {
			chunk := rest[:min(rescueChunk, len(rest))]
			rest = rest[len(chunk):]
			var n int64
			// One statement, autocommitted: guarded by state, a second run (a lost
			// connection retried) changes nothing.
			err := dberr.Retry(ctx, dberr.TxPolicy, func(ctx context.Context) error {
				var err error
				n, err = c.store.q.JobRescueMany(ctx, dbsqlc.JobRescueManyParams{
					ErrorAt:   c.now().Format(time.RFC3339Nano),
					Message:   msg,
					Ids:       chunk,
					Attempt:   g.attempt,
					ClaimedBy: g.worker,
				})
				return err
			})
			if err != nil {
				return rescued, fmt.Errorf("rescue jobs %d to %d of worker %d: %w", chunk[0], chunk[len(chunk)-1], g.worker.Int64, err)
			}
			rescued += int(n)
			count(g.worker).requeued += int(n)
		}
	}
	for _, o := range final {
		msg := fmt.Sprintf("worker %d stopped heart-beating while running this attempt", o.ClaimedBy.Int64)
		discarded := false
		err := c.store.inTx(ctx, nil, func(tx dbTx) error {
			discarded = false
			now := c.now()
			n, err := tx.JobRescue(ctx, dbsqlc.JobRescueParams{
				NewState:   dbsqlc.IactqJobsStateDiscarded,
				FinishedAt: nullTime(now),
				ErrorAt:    now.Format(time.RFC3339Nano),
				Message:    msg,
				ID:         o.ID,
				Attempt:    o.Attempt,
				ClaimedBy:  o.ClaimedBy,
			})
			if err != nil || n == 0 {
				return err
			}
			job, err := tx.JobGet(ctx, o.ID)
			if err != nil {
				return err
			}
			discarded = true
			return c.finishEffects(ctx, tx, jobRowFromDB(job), StateDiscarded, nil, msg, now)
		})
		if err != nil {
			return rescued, fmt.Errorf("rescue job %d: %w", o.ID, err)
		}
		if discarded {
			rescued++
			count(o.ClaimedBy).discarded++
			c.log.Warn().Int64("job_id", o.ID).Int64("worker_id", o.ClaimedBy.Int64).Int32("attempt", o.Attempt).
				Msg("discarded a job of a dead worker: it was running its last attempt")
		}
	}
	return rescued, nil
}

// logRescued writes one line per dead worker whose jobs Rescue rescued.
func (c *Client) logRescued(tally map[sql.NullInt64]*rescueTally) {
	workers := make([]sql.NullInt64, 0, len(tally))
	for w := range tally {
		workers = append(workers, w)
	}
	slices.SortFunc(workers, func(a, b sql.NullInt64) int { return cmp.Compare(a.Int64, b.Int64) })
	for _, w := range workers {
		t := tally[w]
		if t.requeued+t.discarded == 0 {
			continue
		}
		c.log.Warn().Int64("worker_id", w.Int64).Int("requeued", t.requeued).Int("discarded", t.discarded).
			Msg("rescued the running jobs of a dead worker")
	}
}

// HealSchedules inserts the next occurrence of every configured schedule that has no
// live one: at first start, or after someone deleted or cancelled it.
func (c *Client) HealSchedules(ctx context.Context) error {
	for name := range c.schedules {
		_, err := c.store.q.JobLiveOfSchedule(ctx, nullString(name))
		if err == nil {
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("schedule %s: %w", name, err)
		}
		err = c.store.inTx(ctx, nil, func(tx dbTx) error {
			return c.scheduleNext(ctx, tx, name, c.now())
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// pruneEvery is how often a worker deletes finished jobs past their retention, and
// pruneBatch how many one transaction deletes; pruneMaxBatches bounds one round, so
// that a first prune of a large backlog of history is spread over several rounds.
const (
	pruneEvery      = time.Minute
	pruneBatch      = 1000
	pruneMaxBatches = 100
)

// PruneFinished deletes completed, discarded and cancelled jobs that finished more
// than Config.FinishedRetention ago, by primary key in batches, and returns how many
// it deleted (at most pruneBatch x pruneMaxBatches per call).
func (c *Client) PruneFinished(ctx context.Context) (int, error) {
	before := nullTime(c.now().Add(-c.cfg.FinishedRetention))
	total := 0
	for range pruneMaxBatches {
		var n int
		err := c.store.inTx(ctx, nil, func(tx dbTx) error {
			ids, err := tx.JobFinishedBefore(ctx, dbsqlc.JobFinishedBeforeParams{Before: before, Limit: pruneBatch})
			if err != nil || len(ids) == 0 {
				n = 0
				return err
			}
			deleted, err := tx.JobDeleteFinished(ctx, ids)
			n = int(deleted)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("delete finished jobs: %w", err)
		}
		total += n
		if n < pruneBatch {
			break
		}
	}
	return total, nil
}
