package queue

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// MeasureClaims times rounds of real claims of up to n jobs from queue, as a worker's
// producer makes them, for benchmarks. Each round's jobs are put back at once, so
// every round sees the same backlog. It returns each round's duration.
func (c *Client) MeasureClaims(ctx context.Context, queue string, n, rounds int) ([]time.Duration, error) {
	host, _ := os.Hostname()
	workerID, err := c.store.q.WorkerInsert(ctx, dbsqlc.WorkerInsertParams{Host: host, Pid: int32(os.Getpid()), Queues: "benchmark:" + queue, Kinds: c.kindList()})
	if err != nil {
		return nil, fmt.Errorf("register benchmark worker: %w", err)
	}
	defer c.store.q.WorkerDelete(context.WithoutCancel(ctx), workerID)
	took := make([]time.Duration, 0, rounds)
	for i := 0; i < rounds; i++ {
		began := time.Now()
		heads, err := c.store.q.JobClaimHeads(ctx, queue)
		if err != nil {
			return nil, err
		}
		jobs, err := c.claim(ctx, workerID, queue, n, heads, nil)
		if err != nil {
			return nil, err
		}
		took = append(took, time.Since(began))
		if len(jobs) == 0 {
			continue
		}
		ids := make([]int64, len(jobs))
		for k, j := range jobs {
			ids[k] = j.ID
		}
		if _, err := c.store.q.JobReleaseMany(ctx, dbsqlc.JobReleaseManyParams{Ids: ids, WorkerID: nullInt64(workerID)}); err != nil {
			return nil, fmt.Errorf("put claimed jobs back: %w", err)
		}
	}
	return took, nil
}
