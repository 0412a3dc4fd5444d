// Package dberr is the one place that knows MySQL and MariaDB errors: the server's
// error numbers iactq reacts to, which errors are transient (running the same
// statement or transaction again may succeed), and the one policy that retries them.
// The engine (queue/) and the kinds (jobs/) both use it.
//
// Errors are classified exactly: by the server's error number, by the driver's
// connection errors (mysql.ErrInvalidConn, driver.ErrBadConn, sql.ErrConnDone) and by
// the net package's errors. Never by the text of a message, and never by any type that
// happens to have a Timeout method (context.DeadlineExceeded has one).
package dberr

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Server error numbers (MySQL's, and MariaDB's own where they differ).
const (
	DBAccessDenied      = 1044 // ER_DBACCESS_DENIED_ERROR
	WsrepNotReady       = 1047 // ER_UNKNOWN_COM_ERROR: a Galera node not ready (not synced, no quorum)
	ServerShutdown      = 1053 // ER_SERVER_SHUTDOWN
	BadField            = 1054 // ER_BAD_FIELD_ERROR
	DupEntry            = 1062 // ER_DUP_ENTRY
	TableAccessDenied   = 1142 // ER_TABLEACCESS_DENIED_ERROR
	NoSuchTable         = 1146 // ER_NO_SUCH_TABLE
	LockWaitTimeout     = 1205 // ER_LOCK_WAIT_TIMEOUT (also MariaDB's answer to NOWAIT)
	LockNowait          = 3572 // ER_LOCK_NOWAIT (MySQL: a NOWAIT read found the row locked)
	Deadlock            = 1213 // ER_LOCK_DEADLOCK (also Galera's certification failure)
	QueryInterrupted    = 1317 // ER_QUERY_INTERRUPTED (KILL QUERY)
	ConnectionKilled    = 1927 // ER_CONNECTION_KILLED (MariaDB)
	InvalidJSONText     = 3140 // ER_INVALID_JSON_TEXT (MySQL)
	ConstraintFailed    = 4025 // ER_CONSTRAINT_FAILED (MariaDB; its JSON columns' JSON_VALID check)
	ClientIdleTimeout   = 4031 // ER_CLIENT_INTERACTION_TIMEOUT (MariaDB: disconnected for inactivity)
	TooManyConnections  = 1040 // ER_CON_COUNT_ERROR
	UserTooManyConnects = 1203 // ER_TOO_MANY_USER_CONNECTIONS
)

// Number is the server's error number of err, 0 when err is not a server error.
func Number(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// IsLockBusy tells whether err says a locking read found its row locked by another
// session: it waited its lock wait timeout, or did not wait at all (NOWAIT).
func IsLockBusy(err error) bool {
	n := Number(err)
	return n == LockWaitTimeout || n == LockNowait
}

// IsLockConflict tells whether err is a deadlock or a lock-wait timeout: the statement
// (for a deadlock, its whole transaction) was rolled back and wrote nothing.
func IsLockConflict(err error) bool {
	n := Number(err)
	return n == Deadlock || n == LockWaitTimeout
}

// IsConnection tells whether err says the connection to the server failed or was
// lost: the driver's connection errors, the net package's (dial, read, write), and
// the server's own "you are disconnected" errors.
func IsConnection(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) {
		return true
	}
	switch Number(err) {
	case ServerShutdown, ConnectionKilled, ClientIdleTimeout, TooManyConnections, UserTooManyConnects:
		return true
	}
	return false
}

// IsTransient tells whether the same statement or transaction may well succeed if run
// again: a lock conflict, a lost connection, a Galera node not ready, a killed query.
func IsTransient(err error) bool {
	switch Number(err) {
	case LockWaitTimeout, Deadlock, WsrepNotReady, QueryInterrupted:
		return true
	}
	return IsConnection(err)
}

// IsDuplicate tells whether err is a duplicate-key error.
func IsDuplicate(err error) bool { return Number(err) == DupEntry }

// Policy bounds the retries of transient errors.
type Policy struct {
	// LockFor is how long lock conflicts are retried (from the first try).
	LockFor time.Duration
	// LostTries bounds the tries after other transient errors (a lost connection, a
	// node not ready, a try that timed out); 0 means they are not retried at all:
	// for a statement a lost connection may have committed before its answer was
	// lost, such as an insert. -1 means they are retried until For.
	LostTries int
	// For bounds the retries of every kind together (0: no bound but LockFor,
	// LostTries and ctx).
	For time.Duration
	// TryTimeout bounds each try (0: none). A try that ran out of it is transient,
	// as a lost connection is.
	TryTimeout time.Duration
	// MaxDelay caps the back-off between tries (default 1 s).
	MaxDelay time.Duration
	// OnRetry, if set, is called before each wait with the error and how long the
	// retries have lasted.
	OnRetry func(err error, failingFor time.Duration)
}

// TxPolicy is the policy of a transaction safe to run again, as every transaction of
// the engine and of the kinds' own tables is: lock conflicts retried for 10 minutes,
// so that callers never see contention; other transient errors 10 times.
var TxPolicy = Policy{LockFor: 10 * time.Minute, LostTries: 10}

// ConflictPolicy retries lock conflicts as TxPolicy does, but not a lost connection:
// for writes that a lost connection may have committed before its answer was lost,
// where running them again would make a second row (an insert, a deploy).
var ConflictPolicy = Policy{LockFor: 10 * time.Minute}

// errTryTimedOut marks a try that ran out of Policy.TryTimeout.
var errTryTimedOut = errors.New("try timed out")

// Retry runs op until it succeeds, fails with an error that is not transient, the
// policy's bounds are reached, or ctx ends; it returns op's last error. Back-off: 5 ms
// doubling up to MaxDelay, with jitter.
func Retry(ctx context.Context, p Policy, op func(ctx context.Context) error) error {
	start := time.Now()
	maxDelay := p.MaxDelay
	if maxDelay <= 0 {
		maxDelay = time.Second
	}
	lost := 0
	for try := 0; ; try++ {
		err := runTry(ctx, p.TryTimeout, op)
		if err == nil || ctx.Err() != nil {
			return err
		}
		elapsed := time.Since(start)
		switch {
		case p.For > 0 && elapsed >= p.For:
			return err
		case IsLockConflict(err):
			if elapsed >= p.LockFor {
				return err
			}
		case IsTransient(err) || errors.Is(err, errTryTimedOut):
			if lost++; p.LostTries == 0 || (p.LostTries > 0 && lost >= p.LostTries) {
				return err
			}
		default:
			return err
		}
		if p.OnRetry != nil {
			p.OnRetry(err, elapsed)
		}
		delay := min(5*time.Millisecond<<min(try, 10), maxDelay)
		delay = delay/2 + time.Duration(rand.Int64N(int64(delay)))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// runTry runs one try of op, bounded by timeout.
func runTry(ctx context.Context, timeout time.Duration, op func(ctx context.Context) error) error {
	if timeout <= 0 {
		return op(ctx)
	}
	tctx, cancel := context.WithTimeoutCause(ctx, timeout, errTryTimedOut)
	defer cancel()
	err := op(tctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), errTryTimedOut) {
		return fmt.Errorf("%w after %s: %w", errTryTimedOut, timeout, err)
	}
	return err
}

// IsTryTimeout tells whether err is a try that ran out of its Policy.TryTimeout.
func IsTryTimeout(err error) bool { return errors.Is(err, errTryTimedOut) }
