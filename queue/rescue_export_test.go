package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// RescuePerCall is the most orphans one Rescue call rescues.
const RescuePerCall = rescuePage * rescueMaxPages

// Orphan is a running job of a dead worker as Rescue reads it.
type Orphan struct {
	ID, ClaimedBy        int64
	Attempt, MaxAttempts int32
}

// OrphansForTest reads the orphans as Rescue does (all of them, in id order).
func (c *Client) OrphansForTest(ctx context.Context) ([]Orphan, error) {
	rows, err := c.store.q.JobOrphaned(ctx, dbsqlc.JobOrphanedParams{Limit: 1 << 30})
	out := make([]Orphan, len(rows))
	for i, r := range rows {
		out[i] = Orphan{ID: r.ID, ClaimedBy: r.ClaimedBy.Int64, Attempt: r.Attempt, MaxAttempts: r.MaxAttempts}
	}
	return out, err
}

// RescueOrphansForTest rescues orphans read earlier (OrphansForTest), as Rescue does
// with a page it read, whatever happened to them since.
func (c *Client) RescueOrphansForTest(ctx context.Context, orphans []Orphan) (int, error) {
	rows := make([]dbsqlc.JobOrphanedRow, len(orphans))
	for i, o := range orphans {
		rows[i] = dbsqlc.JobOrphanedRow{ID: o.ID, ClaimedBy: nullInt64(o.ClaimedBy), Attempt: o.Attempt, MaxAttempts: o.MaxAttempts}
	}
	return c.rescueOrphans(ctx, rows, map[sql.NullInt64]*rescueTally{})
}

// RescueOneJobAtATimeForTest is Rescue as it was before the orphans of a dead worker
// were put back in batches (commit eba38bf): the first 1000 orphans, each in a
// transaction of its own, a log line each. The benchmark's baseline.
func (c *Client) RescueOneJobAtATimeForTest(ctx context.Context) (int, error) {
	var dead []int64
	err := c.store.inTx(ctx, nil, func(tx dbTx) error {
		ids, err := tx.WorkerLockStale(ctx, int64(c.cfg.RescueAfter/time.Second))
		if err != nil || len(ids) == 0 {
			return err
		}
		dead = ids
		_, err = tx.WorkerDeleteMany(ctx, ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("remove dead workers: %w", err)
	}
	for _, id := range dead {
		c.log.Warn().Int64("worker_id", id).Msg("worker stopped heart-beating; declared dead")
	}
	orphans, err := c.store.q.JobOrphaned(ctx, dbsqlc.JobOrphanedParams{Limit: 1000})
	if err != nil {
		return 0, fmt.Errorf("find jobs of dead workers: %w", err)
	}
	rescued := 0
	for _, o := range orphans {
		err := c.store.inTx(ctx, nil, func(tx dbTx) error {
			now := c.now()
			final := o.Attempt >= o.MaxAttempts
			msg := fmt.Sprintf("worker %d stopped heart-beating while running this attempt", o.ClaimedBy.Int64)
			p := dbsqlc.JobRescueParams{
				NewState:  dbsqlc.IactqJobsStateAvailable,
				ErrorAt:   now.Format(time.RFC3339Nano),
				Message:   msg,
				ID:        o.ID,
				Attempt:   o.Attempt,
				ClaimedBy: o.ClaimedBy,
			}
			if final {
				p.NewState = dbsqlc.IactqJobsStateDiscarded
				p.FinishedAt = nullTime(now)
			}
			n, err := tx.JobRescue(ctx, p)
			if err != nil || n == 0 {
				return err
			}
			rescued++
			if final {
				job, err := tx.JobGet(ctx, o.ID)
				if err != nil {
					return err
				}
				return c.finishEffects(ctx, tx, jobRowFromDB(job), StateDiscarded, nil, msg, now)
			}
			return nil
		})
		if err != nil {
			return rescued, fmt.Errorf("rescue job %d: %w", o.ID, err)
		}
		c.log.Warn().Int64("job_id", o.ID).Int64("worker_id", o.ClaimedBy.Int64).Msg("rescued job of a dead worker")
	}
	return rescued, nil
}
