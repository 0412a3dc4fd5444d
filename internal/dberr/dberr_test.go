package dberr

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TestRetryInsertOutlastsContention: deadlocks and lock-wait timeouts are retried until
// the insert succeeds; a lost connection or a permanent error
// is returned at once; and a context that ends stops the retries.
func TestRetryOutlastsContention(t *testing.T) {
	t.Parallel()
	deadlock := &mysql.MySQLError{Number: Deadlock, Message: "Deadlock found when trying to get lock"}
	lockWait := &mysql.MySQLError{Number: LockWaitTimeout, Message: "Lock wait timeout exceeded"}
	ctx := context.Background()

	// 12 lock conflicts, alternating, then success.
	tries := 0
	err := Retry(ctx, ConflictPolicy, func(context.Context) error {
		tries++
		switch {
		case tries > 12:
			return nil
		case tries%2 == 0:
			return lockWait
		default:
			return deadlock
		}
	})
	if err != nil || tries != 13 {
		t.Errorf("after 12 lock conflicts: err %v after %d tries, want success at try 13", err, tries)
	}

	// A lost connection: once (the insert may have been committed; a retry could
	// insert the job twice).
	tries = 0
	err = Retry(ctx, ConflictPolicy, func(context.Context) error { tries++; return mysql.ErrInvalidConn })
	if !errors.Is(err, mysql.ErrInvalidConn) || tries != 1 {
		t.Errorf("lost connection: err %v after %d tries, want ErrInvalidConn after 1", err, tries)
	}

	// An engine transaction retries a lost connection, ten times in all.
	tries = 0
	err = Retry(ctx, TxPolicy, func(context.Context) error { tries++; return mysql.ErrInvalidConn })
	if !errors.Is(err, mysql.ErrInvalidConn) || tries != TxPolicy.LostTries {
		t.Errorf("lost connections in a transaction: err %v after %d tries, want ErrInvalidConn after %d", err, tries, TxPolicy.LostTries)
	}

	// A permanent error: once.
	tries = 0
	dup := &mysql.MySQLError{Number: 1406, Message: "Data too long for column 'kind'"}
	if err := Retry(ctx, ConflictPolicy, func(context.Context) error { tries++; return dup }); !errors.Is(err, dup) || tries != 1 {
		t.Errorf("data too long: err %v after %d tries, want it after 1", err, tries)
	}

	// Endless deadlocks: until the context ends, with the last error.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	tries = 0
	err = Retry(ctx, ConflictPolicy, func(context.Context) error { tries++; return deadlock })
	if !errors.Is(err, deadlock) || tries < 5 || time.Since(began) > 2*time.Second {
		t.Errorf("endless deadlocks: err %v after %d tries in %s, want the deadlock once the 300 ms context ends", err, tries, time.Since(began))
	}
}

// TestTryTimeoutIsRetriedWithinFor: a try that runs out of TryTimeout is transient
// (the connection may be stuck), and For bounds all the retries together.
func TestTryTimeoutIsRetriedWithinFor(t *testing.T) {
	t.Parallel()
	p := Policy{TryTimeout: 20 * time.Millisecond, For: 300 * time.Millisecond, LostTries: -1, MaxDelay: 10 * time.Millisecond}
	var retried []time.Duration
	p.OnRetry = func(_ error, d time.Duration) { retried = append(retried, d) }
	tries := 0
	began := time.Now()
	err := Retry(context.Background(), p, func(ctx context.Context) error {
		tries++
		if tries == 3 {
			return nil
		}
		<-ctx.Done() // a statement stuck until its try's deadline
		return ctx.Err()
	})
	if err != nil || tries != 3 || len(retried) != 2 {
		t.Fatalf("stuck twice then fine: err %v after %d tries (%d retries)", err, tries, len(retried))
	}
	tries = 0
	err = Retry(context.Background(), p, func(ctx context.Context) error { tries++; <-ctx.Done(); return ctx.Err() })
	if !IsTryTimeout(err) || time.Since(began) > 3*time.Second || tries < 3 {
		t.Fatalf("always stuck: err %v after %d tries, want a try timeout once For has passed", err, tries)
	}
	// The caller's own context ending is not a try timeout, and not retried.
	ctx, cancel := context.WithCancel(context.Background())
	tries = 0
	err = Retry(ctx, p, func(ctx context.Context) error { tries++; cancel(); return ctx.Err() })
	if IsTryTimeout(err) || tries != 1 {
		t.Fatalf("cancelled caller: err %v after %d tries", err, tries)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "some library timed out" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestClassification: transient errors are known by number, by the driver's
// connection errors and by the net package's errors; nothing by its message, and not
// every type with a Timeout method.
func TestClassification(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ENOENT)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, c := range []struct {
		name       string
		err        error
		transient  bool
		connection bool
	}{
		{"deadlock", &mysql.MySQLError{Number: Deadlock}, true, false},
		{"lock wait timeout", fmt.Errorf("claim: %w", &mysql.MySQLError{Number: LockWaitTimeout}), true, false},
		{"galera node not ready", &mysql.MySQLError{Number: WsrepNotReady}, true, false},
		{"query killed", &mysql.MySQLError{Number: QueryInterrupted}, true, false},
		{"server shutting down", &mysql.MySQLError{Number: ServerShutdown}, true, true},
		{"invalid connection", fmt.Errorf("insert: %w", mysql.ErrInvalidConn), true, true},
		{"bad connection", driver.ErrBadConn, true, true},
		{"connection done", sql.ErrConnDone, true, true},
		{"socket missing", fmt.Errorf("open: %w", dial), true, true},
		{"connection reset", reset, true, true},
		{"duplicate key", &mysql.MySQLError{Number: DupEntry}, false, false},
		{"JSON refused", &mysql.MySQLError{Number: ConstraintFailed}, false, false},
		{"text mentioning EOF", errors.New("unexpected EOF in the report's CSV"), false, false},
		{"text mentioning connection refused", errors.New("SMTP: connection refused"), false, false},
		{"io.EOF", io.EOF, false, false},
		{"context deadline", context.DeadlineExceeded, false, false},
		{"a Timeout() method", timeoutErr{}, false, false},
	} {
		if got := IsTransient(c.err); got != c.transient {
			t.Errorf("%s: IsTransient = %v, want %v", c.name, got, c.transient)
		}
		if got := IsConnection(c.err); got != c.connection {
			t.Errorf("%s: IsConnection = %v, want %v", c.name, got, c.connection)
		}
	}
}
