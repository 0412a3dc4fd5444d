package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// Leadership. One worker process of the fleet at a time leads: it runs the periodic
// chores (maintain.go) and watches for new work, waking the idle workers through the
// doorbell (doorbell.go). docs/wakeups.md tells the design; in short:
//
//   - The election is a row lock: the presence row of iactq_doorbell, locked without
//     waiting (NOWAIT) in a transaction the leader keeps open for as long as it leads.
//     The server releases it when the leader's session ends: at once when the process
//     dies or its connection drops, after heldIdleTimeout (the session's wait_timeout)
//     when the process is paused, since it then stops pinging.
//   - The lease row (iactq_leader) records who leads, in which term, until when; the
//     leader renews it every second, guarded by its term, and steps down when a
//     renewal finds another term (it was paused or cut off and replaced). Its chores
//     run only within a lease renewed moments ago.
//   - No process polls the lease: idle workers find out that no leader is there from
//     the doorbell (granted without a ring, and the presence row free), and stand.

const (
	// leaseTTL is how long a lease holds without renewal; the leader renews it every
	// leaseRenewEvery and runs chores only within leaseTTL/2 of its last renewal.
	leaseTTL        = 5 * time.Second
	leaseRenewEvery = time.Second
	// heldIdleTimeout is the server's wait_timeout for the sessions the leader keeps
	// open with locks (presence and bell): a leader paused (SIGSTOP, a frozen VM) or
	// cut off loses them this long after its last statement, and another is elected.
	// The leader sends a statement on each every heldPingEvery.
	heldIdleTimeout = 3 * time.Second
	heldPingEvery   = time.Second
	// bellRelockWait bounds the leader's wait to lock the bell again after a ring
	// (waiters hold it only for their statement): longer means it lost the bell.
	bellRelockWait = 2 * time.Second
)

// heldSession is a connection taken out of the pool for one loop, with session
// settings (timeouts) that no other user of the pool may inherit: close discards it.
type heldSession struct {
	conn *sql.Conn
	q    *dbsqlc.Queries
}

// holdSession takes a connection and sets its idle timeout (the server's wait_timeout;
// 0 keeps the pool's) and how long its locking reads wait (innodb_lock_wait_timeout,
// whole seconds, at least 1).
func (s *store) holdSession(ctx context.Context, idle, lockWait time.Duration) (*heldSession, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open a session: %w", err)
	}
	h := &heldSession{conn: conn, q: dbsqlc.New(conn)}
	// Session settings: sqlc generates no code for SET, so they are written here.
	set := "SET SESSION innodb_lock_wait_timeout = ?"
	args := []any{seconds(lockWait)}
	if idle > 0 {
		set += ", wait_timeout = ?"
		args = append(args, seconds(idle))
	}
	if _, err := conn.ExecContext(ctx, set, args...); err != nil {
		h.close()
		return nil, fmt.Errorf("set the session's timeouts: %w", err)
	}
	return h, nil
}

// setLockWait changes how long the session's locking reads wait.
func (h *heldSession) setLockWait(ctx context.Context, lockWait time.Duration) error {
	if _, err := h.conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = ?", seconds(lockWait)); err != nil {
		return fmt.Errorf("set the session's innodb_lock_wait_timeout: %w", err)
	}
	return nil
}

// seconds rounds d up to whole seconds, at least 1.
func seconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

// close discards the connection (rolling back any open transaction) rather than give
// it back to the pool with its settings.
func (h *heldSession) close() {
	_ = h.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = h.conn.Close()
}

// standForElection asks this process to stand for election (runLeadership).
func (w *worker) standForElection() {
	select {
	case w.stand <- struct{}{}:
	default:
	}
}

// runLeadership stands for election at start and whenever a waiter finds no leader,
// and leads while elected, until ctx ends.
func (w *worker) runLeadership(ctx context.Context) {
	for {
		if err := w.lead(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("leadership ended")
		}
		select {
		case <-ctx.Done():
			return
		case <-w.stand:
		}
	}
}

// lead takes the presence row if no one holds it and leads until the lease is lost
// or ctx ends (then it resigns, so that another is elected at once). It returns nil
// when another process leads.
func (w *worker) lead(ctx context.Context) error {
	presence, err := w.c.store.holdSession(ctx, heldIdleTimeout, time.Second)
	if err != nil {
		return err
	}
	defer presence.close()
	tx, err := presence.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("stand for election: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	pq := presence.q.WithTx(tx)
	if _, err := pq.LeaderPresenceTake(ctx); err != nil {
		if dberr.IsLockBusy(err) {
			return nil // another leads
		}
		return fmt.Errorf("stand for election: %w", err)
	}
	workerID := w.id.Load()
	if _, err := w.c.store.q.LeaderElect(ctx, dbsqlc.LeaderElectParams{WorkerID: nullInt64(workerID), TtlMs: leaseTTL.Milliseconds()}); err != nil {
		return fmt.Errorf("record the election: %w", err)
	}
	row, err := w.c.store.q.LeaderGet(ctx)
	if err != nil {
		return fmt.Errorf("read the election: %w", err)
	}
	if row.WorkerID.Int64 != workerID {
		return fmt.Errorf("elected, but the lease names worker %d", row.WorkerID.Int64)
	}
	term := row.Term
	w.renewedAt.Store(time.Now().UnixNano())
	w.c.leading.Store(true)
	defer w.c.leading.Store(false)
	log := w.log.With().Int64("term", term).Logger()
	log.Info().Msg("elected leader: running the periodic chores and watching for new work")

	leadCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := w.watch(leadCtx); err != nil {
			cancel(err)
		}
	}()
	go func() { defer wg.Done(); w.runLeaderChores(leadCtx) }()
	err = w.holdLease(leadCtx, pq, workerID, term)
	if err != nil {
		cancel(err)
	}
	cancel(nil)
	wg.Wait()
	if ctx.Err() != nil {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, _ = w.c.store.q.LeaderResign(rctx, dbsqlc.LeaderResignParams{WorkerID: nullInt64(workerID), Term: term})
		rcancel()
		log.Info().Msg("resigned as leader")
		return nil
	}
	if cause := context.Cause(leadCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// holdLease keeps the presence session alive and renews the lease every
// leaseRenewEvery. It returns nil when ctx ends, and an error when leadership is lost:
// the presence session was ended by the server (this process was paused or cut off),
// another term began, or the lease could not be renewed in time.
func (w *worker) holdLease(ctx context.Context, pq *dbsqlc.Queries, workerID, term int64) error {
	t := time.NewTicker(leaseRenewEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if w.id.Load() != workerID {
			// Declared dead and registered again (a pause, a cut): the lease names a
			// row that is gone, which no one can read as the leader. Step down; a
			// waiter finds no leader and one is elected under a live id.
			return errors.New("this worker registered again under a new id")
		}
		// Locking again a row this transaction holds answers at once: the ping.
		if _, err := pq.LeaderPresenceTake(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("lost the presence row: %w", err)
		}
		n, err := w.c.store.q.LeaderRenew(ctx, dbsqlc.LeaderRenewParams{TtlMs: leaseTTL.Milliseconds(), WorkerID: nullInt64(workerID), Term: term})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if time.Since(time.Unix(0, w.renewedAt.Load())) > leaseTTL/2 {
				return fmt.Errorf("renew the lease: %w", err)
			}
		case n == 0:
			return errors.New("another process was elected leader")
		default:
			w.renewedAt.Store(time.Now().UnixNano())
		}
	}
}

// leaseFresh tells whether the lease was renewed recently enough to act as leader.
func (w *worker) leaseFresh() bool {
	return time.Since(time.Unix(0, w.renewedAt.Load())) < leaseTTL/2
}

// Leader is who leads the fleet, as recorded in the lease.
type Leader struct {
	WorkerID  int64 // 0 when no process was ever elected
	Term      int64
	ElectedAt time.Time
	ExpiresAt time.Time
	Live      bool // the lease holds now (by the server's clock)
}

// Leader reads who leads the fleet.
func (c *Client) Leader(ctx context.Context) (Leader, error) {
	row, err := c.store.q.LeaderGet(ctx)
	if err != nil {
		return Leader{}, fmt.Errorf("read the leader: %w", err)
	}
	return Leader{WorkerID: row.WorkerID.Int64, Term: row.Term, ElectedAt: row.ElectedAt.Time, ExpiresAt: row.ExpiresAt.Time, Live: row.Live == 1}, nil
}
