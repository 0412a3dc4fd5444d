package queue

import (
	"context"
	"os"

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
		id, err := c.store.q.WorkerInsert(ctx, dbsqlc.WorkerInsertParams{Host: "test", Pid: int32(os.Getpid()), Queues: queue})
		if err != nil {
			return nil, err
		}
		c.testWorkerID = id
	}
	heads, err := c.store.q.JobClaimHeads(ctx, queue)
	if err != nil || len(heads) == 0 {
		return nil, err
	}
	return c.claim(ctx, c.testWorkerID, queue, n, heads, cursors)
}

// RecordCompletedForTest records job as completed, as the completer would after its
// execution.
func (c *Client) RecordCompletedForTest(ctx context.Context, job *JobRow) error {
	return c.store.inTx(ctx, nil, func(tx dbTx) error {
		return c.recordOutcomes(ctx, tx, []result{{job: job, out: &outcome{}}})
	})
}
