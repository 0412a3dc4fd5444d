package queue_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// TestWorkerPausedPastRescueDoesNotStartItsClaims: a worker process paused (SIGSTOP,
// a VM freeze) past RescueAfter, with jobs claimed and not yet started, is declared
// dead and its jobs given to others. When it resumes, it must not start them: before
// a slot starts a job, a worker that has not touched its row for half of RescueAfter
// asks the database whether it is still registered. Found by the chaos crash scenario
// (a paused worker ran 11 rescued attempts after SIGCONT).
func TestWorkerPausedPastRescueDoesNotStartItsClaims(t *testing.T) {
	t.Parallel()
	const rescueAfter = 2 * time.Second
	b := setup(t, queue.Config{RescueAfter: rescueAfter})
	ctx := context.Background()
	for i := range 3 {
		if _, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: i}}); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := b.client.ClaimOnce(ctx, "default", 3)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %d jobs (%v), want 3", len(claimed), err)
	}

	// Still registered, though quiet for longer than half of RescueAfter: it asks, and runs.
	if got := b.client.StartClaimedForTest(ctx, claimed[:1], rescueAfter); !slices.Equal(got, []string{"ran"}) {
		t.Fatalf("a quiet worker that is still registered: %v, want [ran]", got)
	}
	<-b.ran

	// Declared dead meanwhile: the other jobs are rescued, and the resumed worker
	// starts neither — the second finds the registration lost (and registers again),
	// the third was claimed under the lost registration, though the new one is fresh
	// (seen in the chaos crash scenario: slots holding a claimed job each, resumed
	// together, ran them after the first had registered again).
	b.db.Exec(t, `UPDATE iactq_workers SET heartbeat_at = NOW(6) - INTERVAL 1 MINUTE`)
	if n, err := b.client.Rescue(ctx); err != nil || n != 3 {
		t.Fatalf("rescue: %d jobs rescued (%v), want all 3 claimed (the first's outcome was never written)", n, err)
	}
	if got := b.client.StartClaimedForTest(ctx, claimed[1:], rescueAfter); !slices.Equal(got, []string{"stopped", "stopped"}) {
		t.Fatalf("a worker declared dead while paused: %v, want [stopped stopped]", got)
	}
	select {
	case j := <-b.ran:
		t.Fatalf("job %d ran in the worker declared dead", j.ID)
	default:
	}
	j, err := b.client.GetJob(ctx, claimed[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State == queue.StateRunning || j.State == queue.StateCompleted {
		t.Fatalf("the rescued job is %s after the dead worker resumed", j.State)
	}
	var workers int
	if err := b.db.DB.QueryRow(`SELECT COUNT(*) FROM iactq_workers`).Scan(&workers); err != nil || workers != 1 {
		t.Fatalf("%d worker rows (%v), want 1: the resumed worker registered again", workers, err)
	}
}
