package queue

import (
	"context"
	"os"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// ClaimOnce registers a worker row (once per client) and claims up to n jobs of queue
// as the worker loop would, without cursors: the external tests' handle on the claim.
func (c *Client) ClaimOnce(ctx context.Context, queue string, n int) ([]*JobRow, error) {
	return c.claimForTest(ctx, queue, n, nil)
}

// Claimer returns a claim function with cursors of its own, as one producer has: not
// for use by several goroutines at once.
func (c *Client) Claimer() func(ctx context.Context, queue string, n int) ([]*JobRow, error) {
	var cursors claimCursors
	return func(ctx context.Context, queue string, n int) ([]*JobRow, error) {
		return c.claimForTest(ctx, queue, n, &cursors)
	}
}

func (c *Client) claimForTest(ctx context.Context, queue string, n int, cursors *claimCursors) ([]*JobRow, error) {
	if c.testWorkerID == 0 {
		id, err := c.store.q.WorkerInsert(ctx, dbsqlc.WorkerInsertParams{Host: "test", Pid: int32(os.Getpid()), Queues: queue, Kinds: c.kindList()})
		if err != nil {
			return nil, err
		}
		c.testWorkerID = id
	}
	heads, err := c.store.q.JobClaimHeads(ctx, queue)
	heads = c.runnable(heads)
	if err != nil || len(heads) == 0 {
		return nil, err
	}
	return c.claim(ctx, c.testWorkerID, queue, n, heads, cursors)
}

// ClaimHeadsForTest reads a queue's claim heads as the producer does (at READ
// UNCOMMITTED), or with uncommitted false in one statement at the sessions' READ
// COMMITTED.
func (c *Client) ClaimHeadsForTest(ctx context.Context, queue string, uncommitted bool) (int, error) {
	read := c.store.q.JobClaimHeads
	if uncommitted {
		read = c.store.claimHeadsUncommitted
	}
	heads, err := read(ctx, queue)
	return len(heads), err
}

// RecordCompletedForTest records job as completed, as the completer would after its
// execution.
func (c *Client) RecordCompletedForTest(ctx context.Context, job *JobRow) error {
	return c.store.inTx(ctx, nil, func(tx dbTx) error {
		return c.recordOutcomes(ctx, tx, []result{{job: job, out: &outcome{}}})
	})
}

// CompleteForTest records jobs as completed exactly as a worker's completer does after
// their executions: plain completions, one guarded UPDATE per claim group.
func (c *Client) CompleteForTest(jobs []*JobRow) {
	w := &worker{c: c, log: c.log, held: map[int64]bool{}}
	batch := make([]result, len(jobs))
	for i, j := range jobs {
		batch[i] = result{job: j, out: &outcome{prepare: c.prepare}}
	}
	w.flush(batch)
}

// KindHead is the oldest available job of a kind, as the claim's heads query reads it.
type KindHead struct {
	Kind   string
	Oldest time.Time
}

// PlanClaimForTest plans a claim from heads and returns the number of ranges to read.
func PlanClaimForTest(heads []KindHead, slas map[string]SLA, now time.Time) int {
	rows := make([]dbsqlc.JobClaimHeadsRow, len(heads))
	for i, h := range heads {
		rows[i] = dbsqlc.JobClaimHeadsRow{Kind: h.Kind, Oldest: h.Oldest}
	}
	n := 0
	for _, ranges := range planClaim(rows, slas, now) {
		n += len(ranges)
	}
	return n
}

// DiscardUnknownKinds runs a worker's check of jobs whose kind no live worker runs
// once, and returns how many it discarded.
func (c *Client) DiscardUnknownKinds(ctx context.Context) (int, error) {
	return c.discardUnknownKinds(ctx, c.log)
}

// StartClaimedForTest hands jobs claimed with ClaimOnce to the slots of a worker
// registered as that claimer, whose last touch of its row was touchedAgo ago (as
// after the process was paused), and tells what became of each: "ran", "stopped"
// (not started: the registration was lost) or "released" (not started: given back).
func (c *Client) StartClaimedForTest(ctx context.Context, jobs []*JobRow, touchedAgo time.Duration) []string {
	w := &worker{c: c, log: c.log, producers: map[string]*producer{}, held: map[int64]bool{},
		running: map[int64]context.CancelCauseFunc{}, results: make(chan result, len(jobs))}
	w.id.Store(c.testWorkerID)
	w.touchedAt.Store(time.Now().Add(-touchedAgo).UnixNano())
	w.jobsCtx, w.cancelJobs = context.WithCancelCause(ctx)
	defer w.cancelJobs(nil)
	var out []string
	for _, job := range jobs {
		w.runOne(job)
		switch r := <-w.results; {
		case r.stopped != nil:
			out = append(out, "stopped")
		case r.release:
			out = append(out, "released")
		default:
			out = append(out, "ran")
		}
	}
	return out
}

// AheadMax is the most jobs a producer holds claimed ahead of its slots.
const AheadMax = aheadMax

// ChoreRounds is how many rounds of the leader's chores this client's Work ran.
func (c *Client) ChoreRounds() int64 { return c.choreRounds.Load() }

// Rings is how many times this client's Work rang the doorbell as leader.
func (c *Client) Rings() int64 { return c.rings.Load() }

// InsertRings is how many inserts its watcher acted on from their row images, without
// a read of the claim heads: rung for, or taken by this process (Taken).
func (c *Client) InsertRings() int64 { return c.insertRings.Load() }

// Taken is how many inserts' new work this client's Work, as leader, took itself from
// their row images, ringing no one.
func (c *Client) Taken() int64 { return c.taken.Load() }

// Wakes is how many times this client's Work, as leader, set a process looking for
// new work: rang the doorbell, or took the work itself.
func (c *Client) Wakes() int64 { return c.rings.Load() + c.taken.Load() }

// FollowsBinlog tells whether this client's watcher follows the binary log now.
func (c *Client) FollowsBinlog() bool { return c.followsBinlog.Load() }

// RingsHeard is how many rings this client's waiter heard.
func (c *Client) RingsHeard() int64 { return c.heard.Load() }

// RingsLooked is how many rings this client's waiter heard that named its group.
func (c *Client) RingsLooked() int64 { return c.looked.Load() }

// BellSeats is how many idle processes at most wait on the doorbell.
const BellSeats = bellSeats

// SeatWaits is how many waits for a seat on the doorbell this client's waiter began.
func (c *Client) SeatWaits() int64 { return c.seatWaits.Load() }

// BellWaits is how many waits on the doorbell this client's waiter began.
func (c *Client) BellWaits() int64 { return c.bellWaits.Load() }

// TouchIdleForTest is an idle worker's heartbeat for worker id (WorkerTouchIdle): the
// rows it changed.
func (c *Client) TouchIdleForTest(ctx context.Context, id int64, lease time.Duration) (int64, error) {
	return c.store.q.WorkerTouchIdle(ctx, dbsqlc.WorkerTouchIdleParams{ID: id, LeaseMs: lease.Milliseconds()})
}

// ReleaseForTest gives job back as the completer does for a job not started (its
// attempt not spent).
func (c *Client) ReleaseForTest(ctx context.Context, job *JobRow) error {
	return c.store.inTx(ctx, nil, func(tx dbTx) error {
		return c.recordOutcomes(ctx, tx, []result{{job: job, release: true, out: &outcome{}}})
	})
}
