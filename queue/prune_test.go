package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// TestPruneFinishedJobs: finished jobs (completed, discarded, cancelled) older than the
// retention are deleted, in batches; younger ones and jobs not finished stay.
func TestPruneFinishedJobs(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{FinishedRetention: time.Hour})
	old, young := time.Now().Add(-2*time.Hour), time.Now().Add(-30*time.Minute)
	b.db.Exec(t, `INSERT INTO iactq_jobs (kind, state, finished_at)
		SELECT 'test', ELT(1 + seq % 3, 'completed', 'discarded', 'cancelled'), ? FROM seq_1_to_2500`, old)
	b.db.Exec(t, `INSERT INTO iactq_jobs (kind, state, finished_at) VALUES ('test', 'completed', ?), ('test', 'discarded', ?)`, young, young)
	// Not finished, whatever their times say.
	b.db.Exec(t, `INSERT INTO iactq_jobs (kind, state, scheduled_at) VALUES ('test', 'available', ?), ('test', 'running', ?), ('test', 'retryable', ?), ('test', 'scheduled', ?)`,
		old, old, old, old)

	n, err := b.client.PruneFinished(context.Background())
	if err != nil || n != 2500 {
		t.Fatalf("PruneFinished: %d deleted, %v; want 2500", n, err)
	}
	rows, err := b.db.DB.Query(`SELECT state, COUNT(*) FROM iactq_jobs GROUP BY state ORDER BY state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var state string
		var c int
		if err := rows.Scan(&state, &c); err != nil {
			t.Fatal(err)
		}
		got[state] = c
	}
	want := map[string]int{"available": 1, "running": 1, "retryable": 1, "scheduled": 1, "completed": 1, "discarded": 1}
	if len(got) != len(want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	for s, c := range want {
		if got[s] != c {
			t.Fatalf("left %v, want %v", got, want)
		}
	}
	if n, err := b.client.PruneFinished(context.Background()); err != nil || n != 0 {
		t.Fatalf("second PruneFinished: %d deleted, %v; want 0", n, err)
	}
}
