package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// sessionIdleTimeout is the server's wait_timeout for iactq's sessions.
const sessionIdleTimeout = 20 * time.Second

// ErrNotFound is returned when a job, queue or schedule does not exist.
var ErrNotFound = errors.New("not found")

// OpenDB opens a connection pool for dsn (a go-sql-driver DSN). Whatever the DSN says,
// sessions run in UTC with parsed times, so TIMESTAMP columns read and write instants.
func OpenDB(dsn string) (*sql.DB, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := sql.OpenDB(readCommittedConnector{connector})
	db.SetMaxOpenConns(50)
	db.SetMaxIdleConns(50)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(sessionIdleTimeout / 2)
	return db, nil
}

// readCommittedConnector sets READ COMMITTED once per session. The claim wants it
// (no gap locks: inserts never wait for a claim); asking for it per transaction costs a
// round trip before every BEGIN.
type readCommittedConnector struct{ driver.Connector }

func (c readCommittedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("open database: the driver cannot execute statements")
	}
	if _, err := ex.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set the session's isolation level: %w", err)
	}
	return conn, nil
}

// ParseDSN parses a go-sql-driver DSN and sets what iactq relies on: UTC sessions,
// parsed times, and timeouts. Its error never includes the password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid DSN %q: %w", RedactDSN(dsn), err)
	}
	cfg.ParseTime = true
	cfg.InterpolateParams = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	// A session idle this long is closed by the server, rolling back its open
	// transaction: a worker process paused in the middle of a claim (SIGSTOP, a frozen
	// VM) cannot hold its locks, and so its jobs, for longer. It must stay under the
	// rescue delay (30 s by default); the pool drops idle connections before this.
	if _, set := cfg.Params["wait_timeout"]; !set {
		cfg.Params["wait_timeout"] = strconv.Itoa(int(sessionIdleTimeout / time.Second))
	}
	// The driver would print its own lines to stderr; iactq logs the errors it returns.
	cfg.Logger = mysql.Logger(log.New(io.Discard, "", 0))
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 60 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	return cfg, nil
}

// RedactDSN returns dsn with its password replaced by "***", for messages.
func RedactDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return dsn
	}
	userinfo := dsn[:at]
	if colon := strings.Index(userinfo, ":"); colon >= 0 {
		return userinfo[:colon] + ":***" + dsn[at:]
	}
	return dsn
}

// store is the thin layer over the generated queries: the only code that touches them.
type store struct {
	db *sql.DB
	q  *dbsqlc.Queries
}

func newStore(db *sql.DB) *store {
	return &store{db: db, q: dbsqlc.New(db)}
}

// dbTx is the generated queries bound to one transaction, plus the transaction itself
// for the one statement sqlc cannot express.
type dbTx struct {
	*dbsqlc.Queries
	conn dbsqlc.DBTX
}

// inTx runs fn in a transaction and commits it, retrying transient errors
// (retryTransient) so that they are never surfaced as job failures: a lost
// connection too, since every engine transaction is safe to run again (claims whose
// commit answer was lost are released, outcomes are guarded by the claim).
func (s *store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx dbTx) error) error {
	return retryTransient(ctx, true, func() error { return s.inTxOnce(ctx, opts, fn) })
}

// Bounds of retryTransient.
const (
	// lockRetryFor is how long deadlocks and lock-wait timeouts are retried when the
	// context has no earlier deadline.
	lockRetryFor = 10 * time.Minute
	// lostTries bounds the tries after other transient errors (a lost connection, a
	// Galera node not ready).
	lostTries = 10
)

// retryTransient runs op (a whole transaction, or one autocommitted statement) until
// it succeeds, fails with an error that is not transient, or ctx ends. A deadlock or
// lock-wait timeout wrote nothing: it is retried until lockRetryFor has passed, so
// that callers never see contention. Other transient errors are retried lostTries
// times if retryLost: not for inserts, which a lost connection may have committed
// before the answer was lost, so that running them again would make a second job.
// Back-off: 5 ms doubling up to 1 s, with jitter.
func retryTransient(ctx context.Context, retryLost bool, op func() error) error {
	giveUp := time.Now().Add(lockRetryFor)
	lost := 0
	for try := 0; ; try++ {
		err := op()
		if err == nil || !isRetryable(err) || ctx.Err() != nil {
			return err
		}
		if isLockConflict(err) {
			if time.Now().After(giveUp) {
				return err
			}
		} else if lost++; !retryLost || lost == lostTries {
			return err
		}
		delay := min(5*time.Millisecond<<min(try, 10), time.Second)
		delay = delay/2 + time.Duration(rand.Int64N(int64(delay)))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

func (s *store) inTxOnce(ctx context.Context, opts *sql.TxOptions, fn func(tx dbTx) error) error {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(dbTx{Queries: s.q.WithTx(tx), conn: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// MySQL and MariaDB error numbers the engine reacts to.
const (
	errDupEntry        = 1062
	errLockWaitTimeout = 1205
	errDeadlock        = 1213
	errWsrepNotReady   = 1047 // Galera node not ready
	errQueryKilled     = 1317
)

func mysqlErrNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// isRetryable tells whether err is transient: the same statement or transaction may
// well succeed if run again.
func isRetryable(err error) bool {
	switch mysqlErrNumber(err) {
	case errLockWaitTimeout, errDeadlock, errWsrepNotReady, errQueryKilled:
		return true
	}
	return isConnectionError(err)
}

// isLockConflict tells whether err is a deadlock or a lock-wait timeout: the
// statement (and, for a deadlock, its transaction) was rolled back.
func isLockConflict(err error) bool {
	n := mysqlErrNumber(err)
	return n == errDeadlock || n == errLockWaitTimeout
}

func isConnectionError(err error) bool {
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var netErr interface{ Timeout() bool }
	if errors.As(err, &netErr) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "broken pipe", "connection reset", "no such file or directory", "bad connection", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func isDuplicate(err error) bool { return mysqlErrNumber(err) == errDupEntry }

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullTime(t time.Time) sql.NullTime { return sql.NullTime{Time: t, Valid: !t.IsZero()} }

func nullInt64(n int64) sql.NullInt64 { return sql.NullInt64{Int64: n, Valid: true} }
