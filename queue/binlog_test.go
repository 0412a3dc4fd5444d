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
	time.Sleep(500 * time.Millisecond) // registered and following
	for i := 0; i < 3; i++ {
		res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind) VALUES ('test')`)
		id, _ := res.LastInsertId()
		b.waitState(t, id, queue.StateCompleted)
	}
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
