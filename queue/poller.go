package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// runPoller looks for available jobs of all this worker's queues in one cheap query
// (a loose scan of the claim index) and wakes the producers of queues that have some.
// It looks when the waiter (doorbell.go) asks: at a ring of the leader's doorbell, at
// the safety net's timeout, and every few PollIntervals while no leader rings.
func (w *worker) runPoller(ctx context.Context) {
	failures := 0
	var lastPoll int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.pollNow:
		}
		// A ring (by the binary log above all) can come a moment before its row is
		// visible to others: after one, look again briefly before giving up.
		tries := 1
		if w.rungAt.Load() > lastPoll {
			tries = 3
		}
		lastPoll = time.Now().UnixNano()
		if !w.anyFree() {
			continue
		}
		// Only the leader refreshes the paused queues every second; another refreshes
		// them when it looks while it has some paused (the claim checks the pause
		// anyway: this only spares claims of a paused queue, and lets a resumed one go).
		if len(*w.paused.Load()) > 0 && !w.c.leading.Load() {
			if err := w.refreshPaused(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn().Err(err).Msg("refresh paused queues failed")
			}
		}
		for try := 0; try < tries; try++ {
			found, err := w.pollOnce(ctx)
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
	}
}

// pollOnce signals the producers of queues with available jobs. It reads the heads of
// every queue (the same loose scan as the leader's watch) and ignores the queues this
// worker does not serve.
func (w *worker) pollOnce(ctx context.Context) (bool, error) {
	rows, err := w.c.store.q.JobHeadsEveryQueue(ctx)
	if err != nil {
		return false, err
	}
	return w.offerHeads(rows, false), nil
}

// offerHeads gives the heads of every queue (read by the poller, carried by a ring, or
// handed over by this process's watcher from an insert's row images: handed) to the
// producers of the queues this worker serves that have work, and wakes them; it tells
// whether any has.
func (w *worker) offerHeads(rows []dbsqlc.JobHeadsEveryQueueRow, handed bool) bool {
	// Only the kinds this worker runs: a job of another kind waits for a worker that
	// runs it (see discardUnknownKinds) and wakes no producer here.
	byQueue := map[string][]dbsqlc.JobClaimHeadsRow{}
	found := false
	for _, r := range rows {
		if w.producers[r.Queue] != nil && w.c.runsKind(r.Kind) {
			byQueue[r.Queue] = append(byQueue[r.Queue], dbsqlc.JobClaimHeadsRow{Kind: r.Kind, Oldest: r.Oldest})
			found = true
		}
	}
	now := time.Now()
	for q, p := range w.producers {
		if heads := byQueue[q]; len(heads) > 0 {
			p.polled.Store(&polledHeads{rows: heads, at: now, handed: handed})
			p.signal()
		}
	}
	return found
}

// binlogFollower prepares the leader's binary-log follower: it adds to events at each
// new job, and sets followsBinlog while it follows. It follows with Config.BinlogDSN,
// or without one with the worker's own DSN (Config.DSN) when the server and the
// grants allow.
func (w *worker) binlogFollower(ctx context.Context, events *binlogEvents) (*binlogFollower, error) {
	name, err := w.c.store.q.SessionDatabase(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the queue's database name: %w", err)
	}
	schema := fmt.Sprint(name)
	if b, ok := name.([]byte); ok {
		schema = string(b)
	}
	dsn, auto := w.c.binlogSource()
	return &binlogFollower{
		dsn:    dsn,
		auto:   auto,
		note:   w.c.noteBinlog,
		poll:   w.c.cfg.PollInterval,
		schema: schema,
		log:    w.log,
		wake:   events.add,
		healthy: func(following bool) {
			w.c.followsBinlog.Store(following)
			if following {
				// What came before the stream's start position: the watcher reads
				// the heads once now (no event will show it).
				w.nudgeWatcher()
			}
		},
		columns: w.c.jobsColumns,
	}, nil
}

// takeItself has this process, the leader's, take the new work in heads itself when it
// serves the queue and kind of every one and has a free slot in each queue: its
// producers claim at once with the heads, and no bell rings (docs/wakeups.md, "The
// leader takes first"). It tells whether it did.
func (w *worker) takeItself(heads map[headKey]time.Time) bool {
	rows := make([]dbsqlc.JobHeadsEveryQueueRow, 0, len(heads))
	for k, at := range heads {
		p := w.producers[k.queue]
		if p == nil || !w.c.runsKind(k.kind) || !p.hasFree() {
			return false
		}
		rows = append(rows, dbsqlc.JobHeadsEveryQueueRow{Queue: k.queue, Kind: k.kind, Oldest: at})
	}
	return len(rows) > 0 && w.offerHeads(rows, true)
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
