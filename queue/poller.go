package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// runPoller looks for available jobs of all this worker's queues in one cheap query
// (a loose scan of the claim index) and wakes the producers of queues that have some.
// It runs every PollInterval, or every IdlePollInterval while the binary log wakes it.
func (w *worker) runPoller(ctx context.Context) {
	queues := make([]string, 0, len(w.producers))
	for q := range w.producers {
		queues = append(queues, q)
	}
	timer := time.NewTimer(w.c.cfg.PollInterval)
	defer timer.Stop()
	failures := 0
	for {
		woken := false
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-w.pollNow:
			woken = true
		}
		interval := w.c.cfg.PollInterval
		if w.binlogOK.Load() {
			interval = w.c.cfg.IdlePollInterval
		}
		if !w.anyFree() {
			timer.Reset(interval)
			continue
		}
		// A binlog event can arrive a moment before its row is visible to others:
		// after a wake-up, look again briefly before giving up.
		tries := 1
		if woken {
			tries = 5
		}
		for try := 0; try < tries; try++ {
			found, err := w.pollOnce(ctx, queues)
			w.c.cfg.Observer.Polled(err)
			if err != nil {
				if ctx.Err() == nil && failures%20 == 0 {
					w.log.Warn().Err(err).Msg("poll for jobs failed")
				}
				failures++
				break
			}
			failures = 0
			if found {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(interval)
	}
}

// pollOnce signals the producers of queues with available jobs.
func (w *worker) pollOnce(ctx context.Context, queues []string) (bool, error) {
	rows, err := w.c.store.q.JobClaimHeadsAll(ctx, queues)
	if err != nil {
		return false, err
	}
	// Only the kinds this worker runs: a job of another kind waits for a worker that
	// runs it (see discardUnknownKinds) and wakes no producer here.
	byQueue := map[string][]dbsqlc.JobClaimHeadsRow{}
	found := false
	for _, r := range rows {
		if w.c.runsKind(r.Kind) {
			byQueue[r.Queue] = append(byQueue[r.Queue], dbsqlc.JobClaimHeadsRow{Kind: r.Kind, Oldest: r.Oldest})
			found = true
		}
	}
	now := time.Now()
	for q, p := range w.producers {
		if heads := byQueue[q]; len(heads) > 0 {
			p.polled.Store(&polledHeads{rows: heads, at: now})
			p.signal()
		}
	}
	return found, nil
}

// binlogFollower prepares the binary-log wake-ups of this worker.
func (w *worker) binlogFollower(ctx context.Context) (*binlogFollower, error) {
	name, err := w.c.store.q.SessionDatabase(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the queue's database name: %w", err)
	}
	schema := fmt.Sprint(name)
	if b, ok := name.([]byte); ok {
		schema = string(b)
	}
	return &binlogFollower{
		dsn:    w.c.cfg.BinlogDSN,
		schema: schema,
		log:    w.log,
		wake: func() {
			select {
			case w.pollNow <- struct{}{}:
			default:
			}
		},
		healthy: w.binlogOK.Store,
		columns: w.c.jobsColumns,
	}, nil
}

func (w *worker) anyFree() bool {
	for _, p := range w.producers {
		if p.hasFree() {
			return true
		}
	}
	return false
}

// jobsColumns reads the columns of iactq_jobs in their order. The query reads
// information_schema, which sqlc does not know: it is written here.
func (c *Client) jobsColumns(ctx context.Context) ([]jobsColumn, error) {
	rows, err := c.store.db.QueryContext(ctx, `SELECT column_name, column_type FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name = 'iactq_jobs' ORDER BY ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("read the columns of iactq_jobs: %w", err)
	}
	defer rows.Close()
	var cols []jobsColumn
	for rows.Next() {
		var c jobsColumn
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, fmt.Errorf("read the columns of iactq_jobs: %w", err)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}
