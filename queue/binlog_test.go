package queue_test

import (
	"os"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// TestBinlogWakesIdleWorker: with polling effectively off (an hour), a job inserted with
// plain SQL can only be noticed through the binary log.
func TestBinlogWakesIdleWorker(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("IACTQ_TEST_BINLOG_DSN")
	if dsn == "" {
		t.Fatal("IACTQ_TEST_BINLOG_DSN is not set: run the tests with `make test`")
	}
	b := setup(t, queue.Config{BinlogDSN: dsn, PollInterval: time.Hour, IdlePollInterval: time.Hour})
	b.startWorker(t)
	b.waitFollowing(t)
	for i := 0; i < 3; i++ {
		res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
		id, _ := res.LastInsertId()
		b.waitState(t, id, queue.StateCompleted)
	}
}

// TestBinlogWakesOnUpdates: a job that becomes available by an update (a retry
// promoted by another process, here plain SQL) wakes an idle worker, also after the
// table's definition changed (a column added before state: the follower reads the
// columns again under the table's new id).
func TestBinlogWakesOnUpdates(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("IACTQ_TEST_BINLOG_DSN")
	if dsn == "" {
		t.Fatal("IACTQ_TEST_BINLOG_DSN is not set: run the tests with `make test`")
	}
	b := setup(t, queue.Config{BinlogDSN: dsn, PollInterval: time.Hour, IdlePollInterval: time.Hour})
	retryLater := func() int64 {
		res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, state, attempt, available_at) VALUES ('test', 'retryable', 1, NOW(6) + INTERVAL 1 DAY)`)
		id, _ := res.LastInsertId()
		return id
	}
	first, second := retryLater(), retryLater()
	b.startWorker(t)
	b.waitFollowing(t)

	b.db.Exec(t, `UPDATE iactq_jobs SET state = 'available', available_at = NULL WHERE id = ?`, first)
	b.waitState(t, first, queue.StateCompleted)

	admin, err := queue.OpenDB(b.db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`ALTER TABLE iactq_jobs ADD COLUMN added BIGINT NOT NULL DEFAULT 0 AFTER args`); err != nil {
		t.Fatal(err)
	}
	b.db.Exec(t, `UPDATE iactq_jobs SET state = 'available', available_at = NULL WHERE id = ?`, second)
	b.waitState(t, second, queue.StateCompleted)
}

// TestBinlogUnavailableFallsBackToPolling: a binlog DSN that cannot follow leaves the
// worker polling.
func TestBinlogUnavailableFallsBackToPolling(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{BinlogDSN: "nobody:wrong@tcp(127.0.0.1:1)/x", PollInterval: 20 * time.Millisecond})
	b.startWorker(t)
	res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
	id, _ := res.LastInsertId()
	b.waitState(t, id, queue.StateCompleted)
}

// waitFollowing waits until the worker follows the binary log: until a job inserted
// with plain SQL runs, polling being off (one is inserted every half second: those
// inserted before the follower started are seen with the next one).
func (b *bundle) waitFollowing(t *testing.T) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
		select {
		case <-b.ran:
			return
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			t.Fatal("the worker does not follow the binary log after 20 s")
		}
	}
}
