package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TestRetryInsertOutlastsContention: deadlocks and lock-wait timeouts are retried until
// the insert succeeds; a lost connection or a permanent error
// is returned at once; and a context that ends stops the retries.
func TestRetryInsertOutlastsContention(t *testing.T) {
	t.Parallel()
	deadlock := &mysql.MySQLError{Number: errDeadlock, Message: "Deadlock found when trying to get lock"}
	lockWait := &mysql.MySQLError{Number: errLockWaitTimeout, Message: "Lock wait timeout exceeded"}
	ctx := context.Background()

	// 12 lock conflicts, alternating, then success.
	tries := 0
	err := retryTransient(ctx, false, func() error {
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
	err = retryTransient(ctx, false, func() error { tries++; return mysql.ErrInvalidConn })
	if !errors.Is(err, mysql.ErrInvalidConn) || tries != 1 {
		t.Errorf("lost connection: err %v after %d tries, want ErrInvalidConn after 1", err, tries)
	}

	// An engine transaction retries a lost connection, ten times in all.
	tries = 0
	err = retryTransient(ctx, true, func() error { tries++; return mysql.ErrInvalidConn })
	if !errors.Is(err, mysql.ErrInvalidConn) || tries != lostTries {
		t.Errorf("lost connections in a transaction: err %v after %d tries, want ErrInvalidConn after %d", err, tries, lostTries)
	}

	// A permanent error: once.
	tries = 0
	dup := &mysql.MySQLError{Number: 1406, Message: "Data too long for column 'kind'"}
	if err := retryTransient(ctx, false, func() error { tries++; return dup }); !errors.Is(err, dup) || tries != 1 {
		t.Errorf("data too long: err %v after %d tries, want it after 1", err, tries)
	}

	// Endless deadlocks: until the context ends, with the last error.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	tries = 0
	err = retryTransient(ctx, false, func() error { tries++; return deadlock })
	if !errors.Is(err, deadlock) || tries < 5 || time.Since(began) > 2*time.Second {
		t.Errorf("endless deadlocks: err %v after %d tries in %s, want the deadlock once the 300 ms context ends", err, tries, time.Since(began))
	}
}
