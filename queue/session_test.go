package queue_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// TestNewSessionCostsOneStatement: a session of OpenDB's pool runs in READ COMMITTED,
// in UTC, with iactq's wait_timeout, and opening it cost the server one statement (the
// driver's SET of the DSN's parameters, the isolation level among them), not two. An
// idle worker opens a session for nearly every statement it sends (its pool closes
// sessions idle for 15 s), so the second statement was a third of its cost. Three
// sessions in turn: the first finds the name the server knows the level by.
func TestNewSessionCostsOneStatement(t *testing.T) {
	t.Parallel()
	db := queuetest.New(t)
	pool, err := queue.OpenDB(db.WorkerDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		conn, err := pool.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var name string
		var questions int64
		if err := conn.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Questions'").Scan(&name, &questions); err != nil {
			t.Fatal(err)
		}
		// The SHOW counts itself.
		if setup := questions - 1; setup != 1 {
			t.Fatalf("session %d: opening it cost the server %d statements; want 1", i, setup)
		}
		var isolation string
		if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.transaction_isolation").Scan(&isolation); err != nil {
			// MariaDB before 11.1 knows the level as tx_isolation only.
			if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.tx_isolation").Scan(&isolation); err != nil {
				t.Fatal(err)
			}
		}
		var zone string
		var waitTimeout int
		if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.time_zone, @@SESSION.wait_timeout").Scan(&zone, &waitTimeout); err != nil {
			t.Fatal(err)
		}
		if isolation != "READ-COMMITTED" || zone != "+00:00" || waitTimeout != 20 {
			t.Fatalf("session %d: isolation %s, time_zone %s, wait_timeout %d; want READ-COMMITTED, +00:00, 20", i, isolation, zone, waitTimeout)
		}
		discard(conn)
	}
}

// discard closes conn's session rather than give it back to the pool: the pool's next
// Conn opens a new one.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
