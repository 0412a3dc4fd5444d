package queue

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// claimRange is one (kind, SLA class) range of the claim index.
type claimRange struct {
	kind     string
	class    Class
	from, to time.Time
}

// cursorTTL bounds how long a claimer reads ranges from where its last claim ended.
// Jobs that become available behind that point (a retry keeps its first due time) are
// claimed at the latest when the cursors are dropped, this long after they were set.
const cursorTTL = time.Second

// claimCursors remember, per (kind, class) range, the last job a claimer took, so
// that its next claim starts there instead of stepping again over the index entries
// of the jobs it just claimed (the server purges them only later).
type claimCursors struct {
	last map[cursorKey]claimCursor
	set  time.Time // when the cursors were started; dropped after cursorTTL
}

type cursorKey struct {
	kind  string
	class Class
}

type claimCursor struct {
	at time.Time
	id int64
}

// after returns where a read of r starts: after the last job claimed from it.
func (c *claimCursors) after(r claimRange) (sql.NullTime, sql.NullInt64) {
	if c == nil {
		return sql.NullTime{}, sql.NullInt64{}
	}
	cur, ok := c.last[cursorKey{r.kind, r.class}]
	if !ok {
		return sql.NullTime{}, sql.NullInt64{}
	}
	return nullTime(cur.at), nullInt64(cur.id)
}

// advance records where the claim's read of a range ended, and drops every cursor
// once they are cursorTTL old. A read that found fewer jobs than it asked for reached
// the range's end: its cursor is dropped, and the next claim reads the range from its
// start, so that a job committed after others that came after it (concurrent inserts
// commit in any order) waits for one claim, not for the cursors to expire.
func (c *claimCursors) advance(e rangeEnd, now time.Time) {
	if c == nil {
		return
	}
	if c.last == nil || now.Sub(c.set) > cursorTTL {
		c.last, c.set = map[cursorKey]claimCursor{}, now
	}
	key := cursorKey{e.r.kind, e.r.class}
	if e.exhausted {
		delete(c.last, key)
		return
	}
	c.last[key] = claimCursor{at: e.last.ScheduledAt, id: e.last.ID}
}

// expire drops the cursors if they are cursorTTL old.
func (c *claimCursors) expire(now time.Time) {
	if c != nil && now.Sub(c.set) > cursorTTL {
		c.last = nil
	}
}

// planClaim turns the oldest available job per kind into the ranges to read, per class
// in claim order. A kind has jobs in a class only if its oldest job is old enough.
func planClaim(heads []dbsqlc.JobClaimHeadsRow, slas map[string]SLA, now time.Time) [][]claimRange {
	plan := make([][]claimRange, len(classOrder))
	for i, class := range classOrder {
		for _, h := range heads {
			from, to := slaFor(slas, h.Kind).classRange(class, now)
			if h.Oldest.Before(to) {
				plan[i] = append(plan[i], claimRange{kind: h.Kind, class: class, from: from, to: to})
			}
		}
	}
	return plan
}

// claim takes up to n available jobs of queue for worker workerID, in SLA-class order
// (OVERDUE, URGENT, NORMAL), oldest first within a class, and marks them running, in
// one short transaction. heads are the queue's oldest available job per kind;
// cursors, if not nil, say where the claimer's previous claims ended, and are moved.
func (c *Client) claim(ctx context.Context, workerID int64, queue string, n int, heads []dbsqlc.JobClaimHeadsRow, cursors *claimCursors) ([]*JobRow, error) {
	now := c.now()
	plan := planClaim(c.runnable(heads), c.cfg.SLAs, now)
	cursors.expire(now)
	// Sized once: a claim reads up to n rows (a thousand with short jobs), and growing
	// these by append copied them several times per claim (rows of ~300 bytes).
	claimed := make([]dbsqlc.IactqJob, 0, n)
	// The last job taken from each range, to move the cursors once the claim commits.
	var ends []rangeEnd
	var candidates []dbsqlc.IactqJob
	// READ COMMITTED (set per session by OpenDB): rows the range steps over are not
	// left locked, and no gap locks make inserts wait for a claim.
	err := c.store.inTx(ctx, nil, func(tx dbTx) error {
		claimed, ends = claimed[:0], ends[:0]
		// Locks this worker's row: a rescue of this worker waits for the claim to
		// commit (and then sees its jobs), or the claim sees the worker is gone.
		touched, err := tx.WorkerTouch(ctx, workerID)
		if err != nil {
			return fmt.Errorf("touch worker: %w", err)
		}
		if touched == 0 {
			return ErrWorkerLost
		}
		for _, ranges := range plan {
			need := n - len(claimed)
			if need == 0 {
				break
			}
			candidates = candidates[:0]
			exhausted := make([]bool, len(ranges))
			for i, r := range ranges {
				afterAt, afterID := cursors.after(r)
				rows, err := tx.JobClaimRange(ctx, dbsqlc.JobClaimRangeParams{
					Queue: queue, Kind: r.kind, FromAt: nullTime(r.from), ToAt: r.to,
					AfterAt: afterAt, AfterID: afterID, Limit: int32(need),
				})
				if err != nil {
					return fmt.Errorf("claim %s jobs: %w", r.kind, err)
				}
				exhausted[i] = len(rows) < need
				if len(ranges) == 1 {
					candidates = rows // one kind in the class: no merge, no copy
				} else {
					candidates = append(candidates, rows...)
				}
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
			taken := candidates[:min(need, len(candidates))]
			claimed = append(claimed, taken...)
			ends = appendRangeEnds(ends, ranges, taken, exhausted)
			if len(ranges) == 1 {
				candidates = nil // the query's own slice: not reused for the next class
			}
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
	for _, e := range ends {
		cursors.advance(e, now)
	}
	// One allocation for the claim's rows rather than one per job.
	rows := make([]JobRow, len(claimed))
	jobs := make([]*JobRow, len(claimed))
	for i, j := range claimed {
		rows[i] = *jobRowFromDB(j)
		row := &rows[i]
		row.State = StateRunning
		row.Attempt = min(row.Attempt, math.MaxInt32-1) + 1 // as JobMarkRunning caps it
		row.AttemptedAt = now
		row.ClaimedBy = workerID
		jobs[i] = row
	}
	return jobs, nil
}

// rangeEnd is where a claim's read of one range ended: the last job it took from it,
// or the range's end.
type rangeEnd struct {
	r         claimRange
	last      dbsqlc.IactqJob
	exhausted bool // the read found fewer jobs than it asked for
}

// appendRangeEnds adds, for each range, where its read ended: the range's end if the
// read was exhausted, else the last of the taken jobs that came from it (taken is in
// claim order, so the last of a kind is where its range's read stopped).
func appendRangeEnds(ends []rangeEnd, ranges []claimRange, taken []dbsqlc.IactqJob, exhausted []bool) []rangeEnd {
	for i, r := range ranges {
		if exhausted[i] {
			ends = append(ends, rangeEnd{r: r, exhausted: true})
			continue
		}
		for i := len(taken) - 1; i >= 0; i-- {
			if taken[i].Kind == r.kind {
				ends = append(ends, rangeEnd{r: r, last: taken[i]})
				break
			}
		}
	}
	return ends
}
