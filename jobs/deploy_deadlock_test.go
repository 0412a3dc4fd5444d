package jobs

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue/queuetest"
)

// TestDeployTransactionsRetryDeadlocks: two deploy transactions that lock two
// environments in opposite orders deadlock; the server rolls one back (1213), and
// deployInTx runs it again from the start, so both succeed.
func TestDeployTransactionsRetryDeadlocks(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	ctx := context.Background()
	q := jobsdb.New(db.DB)
	for _, env := range []string{"staging", "production"} {
		if err := q.DeployLockEnsure(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	var tries [2]atomic.Int32
	var bothHoldOne sync.WaitGroup
	bothHoldOne.Add(2)
	lockBoth := func(i int, first, second string) error {
		return deployInTx(ctx, db.DB, func(q *jobsdb.Queries) error {
			try := tries[i].Add(1)
			if _, err := q.DeployLockForUpdate(ctx, first); err != nil {
				return err
			}
			if try == 1 { // the first time, wait until the other holds its first row
				bothHoldOne.Done()
				bothHoldOne.Wait()
			}
			_, err := q.DeployLockForUpdate(ctx, second)
			return err
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = lockBoth(0, "staging", "production") }()
	go func() { defer wg.Done(); errs[1] = lockBoth(1, "production", "staging") }()
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("deadlocked transactions not retried: %v; %v", errs[0], errs[1])
	}
	if n := tries[0].Load() + tries[1].Load(); n < 3 {
		t.Fatalf("%d tries in all: no transaction was rolled back by a deadlock, so this proved nothing", n)
	}
}
