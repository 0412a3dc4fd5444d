package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// errWorkerLost means this process's worker row is gone: another process declared it
// dead and gave its jobs back to the queue. It must register again before claiming.
var errWorkerLost = errors.New("worker registration lost")

// claimRange is one (kind, SLA class) range of the claim index.
type claimRange struct {
	kind     string
	from, to time.Time
}

// planClaim turns the oldest available job per kind into the ranges to read, per class
// in claim order. A kind has jobs in a class only if its oldest job is old enough.
func planClaim(heads []dbsqlc.JobClaimHeadsRow, slas map[string]SLA, now time.Time) [][]claimRange {
	plan := make([][]claimRange, len(classOrder))
	for i, class := range classOrder {
		for _, h := range heads {
			from, to := slaFor(slas, h.Kind).classRange(class, now)
			if h.Oldest.Before(to) {
				plan[i] = append(plan[i], claimRange{kind: h.Kind, from: from, to: to})
			}
		}
	}
	return plan
}

// claim takes up to n available jobs of queue for worker workerID, in SLA-class order
// (OVERDUE, URGENT, NORMAL), oldest first within a class, and marks them running, in
// one short transaction. heads are the queue's oldest available job per kind.
func (c *Client) claim(ctx context.Context, workerID int64, queue string, n int, heads []dbsqlc.JobClaimHeadsRow) ([]*JobRow, error) {
	now := c.now()
	plan := planClaim(heads, c.cfg.SLAs, now)
	var claimed []dbsqlc.IactqJob
	// READ COMMITTED (set per session by OpenDB): rows the range steps over are not
	// left locked, and no gap locks make inserts wait for a claim.
	err := c.store.inTx(ctx, nil, func(tx dbTx) error {
		claimed = claimed[:0]
		// Locks this worker's row: a rescue of this worker waits for the claim to
		// commit (and then sees its jobs), or the claim sees the worker is gone.
		touched, err := tx.WorkerTouch(ctx, workerID)
		if err != nil {
			return fmt.Errorf("touch worker: %w", err)
		}
		if touched == 0 {
			return errWorkerLost
		}
		for _, ranges := range plan {
			need := n - len(claimed)
			if need == 0 {
				break
			}
			var candidates []dbsqlc.IactqJob
			for _, r := range ranges {
				rows, err := tx.JobClaimRange(ctx, dbsqlc.JobClaimRangeParams{
					Queue: queue, Kind: r.kind, FromAt: nullTime(r.from), ToAt: r.to, Limit: int32(need),
				})
				if err != nil {
					return fmt.Errorf("claim %s jobs: %w", r.kind, err)
				}
				candidates = append(candidates, rows...)
			}
			if len(ranges) > 1 {
				// Several kinds share the class: merge by age. The rows not taken
				// stay locked only until this transaction ends.
				slices.SortFunc(candidates, func(a, b dbsqlc.IactqJob) int {
					if c := a.ScheduledAt.Compare(b.ScheduledAt); c != 0 {
						return c
					}
					return int(a.ID - b.ID)
				})
			}
			claimed = append(claimed, candidates[:min(need, len(candidates))]...)
		}
		if len(claimed) == 0 {
			return nil
		}
		ids := make([]int64, len(claimed))
		for i, j := range claimed {
			ids[i] = j.ID
		}
		return tx.JobMarkRunning(ctx, dbsqlc.JobMarkRunningParams{Now: nullTime(now), WorkerID: nullInt64(workerID), Ids: ids})
	})
	if err != nil {
		return nil, err
	}
	jobs := make([]*JobRow, len(claimed))
	for i, j := range claimed {
		row := jobRowFromDB(j)
		row.State = StateRunning
		row.Attempt = min(row.Attempt, math.MaxInt32-1) + 1 // as JobMarkRunning caps it
		row.AttemptedAt = now
		row.ClaimedBy = workerID
		jobs[i] = row
	}
	return jobs, nil
}
