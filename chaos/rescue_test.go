package chaos

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// TestRescueOfWorkerPausedMidClaim covers the engine bug the crash scenario found: a
// worker paused (SIGSTOP, a VM freeze, a long GC or swap stall) inside its claim
// transaction keeps the lock on its iactq_workers row that the claim's first
// statement (WorkerTouch) took. Every other worker's Rescue then blocks on
// `DELETE FROM iactq_workers WHERE id = ?` for innodb_lock_wait_timeout (50 s) and
// fails with 1205, round after round, so the paused worker is never declared dead
// and the jobs it had already claimed never run elsewhere while it stays paused.
//
// Here the paused claim is a transaction on its own connection that ran the
// claim's first statement and stays open; the rescue must still put the dead
// worker's running job back within a few rounds.
func TestRescueOfWorkerPausedMidClaim(t *testing.T) {
	t.Parallel()
	o := shortOptions(t)
	ctx := context.Background()
	db, err := NewDatabase(ctx, o.Server)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := queue.NewClient(db.DB, jobs.NewRegistry(jobs.Deps{}), queue.Config{RescueAfter: 3 * time.Second, HeartbeatInterval: time.Second}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Insert(ctx, queue.InsertParams{Kind: "noop", Args: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	// A worker whose last heartbeat is a minute old, running the job.
	r, err := db.DB.ExecContext(ctx, `INSERT INTO iactq_workers (host, pid, queues, heartbeat_at) VALUES ('paused', 1, 'default=1', NOW(6) - INTERVAL 1 MINUTE)`)
	if err != nil {
		t.Fatal(err)
	}
	workerID, _ := r.LastInsertId()
	if _, err := db.DB.ExecContext(ctx, `UPDATE iactq_jobs SET state = 'running', attempt = 1, attempted_at = NOW(6) - INTERVAL 1 MINUTE, claimed_by = ? WHERE id = ?`, workerID, res.ID); err != nil {
		t.Fatal(err)
	}
	// Its next claim began (READ COMMITTED, WorkerTouch first) and then the
	// process was paused: the transaction stays open, its connection alive.
	paused, err := queue.OpenDB(db.WorkerDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer paused.Close()
	tx, err := paused.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `UPDATE iactq_workers SET heartbeat_at = NOW(6) WHERE id = ?`, workerID); err != nil {
		t.Fatal(err)
	}

	// The rescue skips the locked row instead of waiting for it (each round returns at
	// once), and the server ends the paused session after its wait_timeout (20 s),
	// releasing the lock: the next round declares the worker dead.
	began := time.Now()
	var lastErr error
	for time.Since(began) < 45*time.Second {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		roundBegan := time.Now()
		_, lastErr = c.Rescue(rctx)
		cancel()
		if took := time.Since(roundBegan); took > 2*time.Second {
			t.Fatalf("a rescue round took %s: it waited for the paused worker's lock", took)
		}
		var state string
		if err := db.DB.QueryRowContext(ctx, `SELECT state FROM iactq_jobs WHERE id = ?`, res.ID).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state != "running" {
			t.Logf("the paused worker's job was rescued after %s (now %s)", time.Since(began).Round(time.Millisecond), state)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("a worker paused inside its claim transaction was not declared dead within 45 s: its running job %d stays running (last rescue error: %v)", res.ID, lastErr)
}
